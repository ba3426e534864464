"""The Oslo ricepile (Christensen, Corral, Frette, Feder & Jossang, PRL 77:107, 1996).

A 1-D pile of columns h_1 .. h_L with a wall at the left and an open edge at the right
(h_(L+1) = 0); the state is the slopes z_i = h_i - h_(i+1).  Drive at the boundary: a grain is
added to column 1 (z_1 += 1).  Site i is unstable when z_i > z_i^th; it topples by moving one grain
from column i to column i + 1: z_i -= 2, z_(i-1) += 1 (i > 1), z_(i+1) += 1 (i < L); at i = L the
grain leaves the pile and z_L -= 1.  After each toppling the site draws a new threshold z_i^th,
1 or 2 with probability 1/2 each (thresholds start random too).  Relaxation is the parallel
update, as for the other sandpiles (:mod:`dynsim.sims.sandpile.kernels`).

Exact: every grain leaves at the right edge after exactly L topplings (one per column it crosses),
so in the stationary state the mean avalanche size per added grain is <s> = L
(``oslo_mean_size_per_L``).  Exponents (Grassberger, Dhar & Mohanty, PRE 94:042314, 2016, arXiv
1606.02553): D, tau = 2 - 1/D (boundary drive: D (2 - tau) = 1) and z, the keys ``oslo_D``,
``oslo_tau``, ``oslo_z``.  ``height_mean`` is the mean slope (1/L) sum z_i = h_1 / L, which tends
to a constant (Christensen et al. 1996; measured: benchmarks/RESULTS.md); ``height_map`` holds the
final slopes z_i of replica 0 (the profile is their reversed cumulative sum).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from dynsim.params import Int, check_params, entry_point
from dynsim.rng import make_seed, xoshiro_next
from dynsim.sims.sandpile import kernels
from dynsim.sims.sandpile.common import (DRIVE_PARAMS, Collector, Progress, check_memory, drive,
                                         sample_every, summary_meta)
from dynsim.sims.sandpile.kernels import height_sum, record
from dynsim.trace import Timer, Trace, make_trace

PARAMS = {"L": Int(2, 2**24, default=64, help="Number of sites."), **DRIVE_PARAMS}
_ONE = np.uint64(1)


@njit(cache=True)
def init_thresholds(th, state):
    """Random initial thresholds in {1, 2} for sites 1..L of every replica (its own stream)."""
    for r in range(th.shape[0]):
        s0, s1, s2, s3 = state[r, 0], state[r, 1], state[r, 2], state[r, 3]
        for i in range(1, th.shape[1]):
            x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            th[r, i] = 1 + np.int32(x >> np.uint64(63))
        state[r, 0], state[r, 1], state[r, 2], state[r, 3] = s0, s1, s2, s3


@njit(cache=True, inline="always")
def oslo_relax(zr, th, cur, nxt, seen, stamp, L, bits, nbits, s0, s1, s2, s3):
    """Parallel-update relaxation from site 1 (padded index 1; index 0 is a sink).  The random
    thresholds come one bit at a time from ``bits``.  Returns (size, area, duration, bits, nbits,
    state)."""
    size = 0
    area = 0
    dur = 0
    cur[0] = 1
    nc = 1
    while nc > 0:
        dur += 1
        nn = 0
        for k in range(nc):
            i = cur[k]
            size += 1
            area += seen[i] != stamp
            seen[i] = stamp
            if i < L:
                zr[i] -= 2
                v = zr[i + 1] + 1
                zr[i + 1] = v
                nxt[nn] = i + 1
                nn += v == th[i + 1] + 1
            else:
                zr[i] -= 1
            v = zr[i - 1] + 1
            zr[i - 1] = v
            nxt[nn] = i - 1
            nn += v == th[i - 1] + 1
            if nbits == 0:
                bits, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                nbits = 64
            th[i] = 1 + np.int32(bits & _ONE)
            bits = bits >> _ONE
            nbits -= 1
            if zr[i] > th[i]:
                nxt[nn] = i
                nn += 1
        cur, nxt = nxt, cur
        nc = nn
    return size, area, dur, bits, nbits, s0, s1, s2, s3


@njit(cache=True, parallel=True)
def oslo_chunk(z, th, cur, nxt, seen, sites, state, g0, n, hevery, stream, edges,
               ev_size, ev_area, ev_dur, ev_time, n_ev, hist, last, hsum):
    """Add grains g0 .. g0 + n - 1 at site 1 of each replica and relax.  z, th: (R, L + 1) int32
    (index 0 is the sink left of site 1); seen: stamps zeroed by the caller each chunk."""
    L = z.shape[1] - 1
    for r in prange(z.shape[0]):
        s0, s1, s2, s3 = state[r, 0], state[r, 1], state[r, 2], state[r, 3]
        zr, tr, cr, nr, sr = z[r], th[r], cur[r], nxt[r], seen[r]
        zr[0] = kernels.PAD
        since = 0
        bits = np.uint64(0)
        nbits = 0
        ks = 0
        for t in range(n):
            g = g0 + t
            zr[1] += 1
            if zr[1] > tr[1]:
                size, area, dur, bits, nbits, s0, s1, s2, s3 = oslo_relax(
                    zr, tr, cr, nr, sr, t + 1, L, bits, nbits, s0, s1, s2, s3)
                record(r, g, size, area, dur, stream, edges, ev_size, ev_area, ev_dur, ev_time,
                       n_ev, hist, last)
                since += size
                if since >= kernels.RESET_TOPPLINGS:
                    zr[0] = kernels.PAD
                    since = 0
            if (g + 1) % hevery == 0:
                hsum[r, ks] = height_sum(zr, sites, kernels.ALL)
                ks += 1
        state[r, 0], state[r, 1], state[r, 2], state[r, 3] = s0, s1, s2, s3


@entry_point(PARAMS)
def oslo_ricepile(L: int, grains: int, replicas: int, stream: bool, height_every: int | None, *,
                  seed: int | None = None, progress: Progress | None = None) -> Trace:
    """Oslo ricepile of L sites, driven at the wall (module docstring), starting empty.

    Parameters, channels and meta as :func:`dynsim.sims.sandpile.btw_sandpile`; ``height_mean`` is
    the mean slope h_1 / L and ``height_map`` the final slopes (L,) int8 of replica 0."""
    p = check_params(PARAMS, dict(L=L, grains=grains, replicas=replicas, stream=stream,
                                  height_every=height_every), "sandpile.oslo")
    seed = make_seed(seed)
    L, R = p["L"], p["replicas"]
    every = sample_every(p["grains"], p["height_every"])
    check_memory(p["grains"], R, p["stream"], L + 1, 20, every)
    timer = Timer()
    with timer.phase("setup"):
        z = np.zeros((R, L + 1), dtype=np.int32)
        th = np.zeros((R, L + 1), dtype=np.int32)
        cur = np.empty((R, L + 8), dtype=np.int32)
        nxt = np.empty((R, L + 8), dtype=np.int32)
        seen = np.zeros((R, L + 1), dtype=np.int32)
        state = np.empty((R, 4), dtype=np.uint64)
        kernels.init_states(seed, 0, state)
        init_thresholds(th, state)
    sites = np.arange(1, L + 1, dtype=np.int64)

    def call(g0, n, *buffers):
        seen[:] = 0
        oslo_chunk(z, th, cur, nxt, seen, sites, state, g0, n, *buffers)

    collector = Collector(R, p["grains"], every, p["stream"])
    with timer.phase("simulate"):
        drive(call, collector, progress)
    with timer.phase("assemble"):
        channels = collector.channels(L)
        channels["height_map"] = z[0, 1:].astype(np.int8)
        meta = summary_meta(collector, channels)
    return make_trace("sandpile.oslo", {**p, "height_every": every}, seed, channels,
                      timings=timer.timings, **meta)

