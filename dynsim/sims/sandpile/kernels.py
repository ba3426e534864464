"""Numba kernels of the sandpile family: shared helpers and the lattice models (BTW, Manna).

Every kernel advances ``R`` independent replicas (``prange`` over replicas) through a chunk of
grains ``g0 .. g0 + n - 1``.  Replica ``r`` draws from its own xoshiro256** stream, seeded once by
``stream_state(seed, r)`` and carried from chunk to chunk in ``state[r]``, so the avalanches depend
on the seed alone: not on the number of threads, nor on how the run is cut into chunks.  All
reductions over replicas happen afterwards, serially, in numpy.

Relaxation is the parallel update, generation by generation (two frontiers): in generation t every
site that was unstable at the end of generation t - 1 topples exactly once.  The duration of an
avalanche is the number of generations, so it is exact by construction; a site that is still
unstable after toppling (or that several neighbours push over threshold) is queued once for the
next generation.  In the BTW model z < 2 z_c holds between generations (a stable configuration
plus one grain keeps it: a site gains at most z_c grains per generation, one per neighbour), so no
site ever needs more than one toppling per generation; within a generation z < 3 z_c.  Size (topplings) is a counter; area (distinct sites) is a
per-site stamp (the grain index within the chunk) compared once per toppling, packed into the
height word for BTW and kept in a ``seen`` array for the other models.  Pushes onto the next
frontier are branch-free (the candidate is always written and the frontier length advanced by the
comparison), which is what makes the kernels fast: the comparisons are unpredictable, and a
mispredicted branch costs more than the whole toppling.  Frontier arrays therefore hold
sites + 8 entries (room for the dead writes).

Grains that leave an open boundary fall into padding cells (sinks) that hold ``PAD`` (far below
any threshold), so the kernels never test for the boundary.  A padding cell (or a graph's sink)
gains at most two grains per toppling: one in BTW, Oslo and on graphs, where a toppling sends one
grain along each edge, but two in Manna, whose two grains may both go to the same neighbour.  It is
reset to PAD at the start of each chunk and, checked between avalanches, whenever its replica has
made RESET_TOPPLINGS = 2^28 topplings, so it stays below PAD + 2 (2^28 + s) = 2 s - 2^29, s the
topplings of the avalanche in progress: below every threshold (>= 1) while no single avalanche
makes 2^28 topplings.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from dynsim.rng import below, hi32, lo32, stream_state, xoshiro_next

PAD = -(2**30)
RESET_TOPPLINGS = 2**28  # module docstring: the padding bound
HEIGHT_MASK = np.int32(0xFF)                 # BTW words: height in bits 0-7 ...
THRESH_MASK = np.int32(-(2**31) + 0xFF)      # ... and bit 31 (set only in padding words)
ALL = np.int32(-1)
_TWO32 = np.uint64(2**32)
# channels of the streamed histograms, in the order of ``hist``'s second axis
HIST_NAMES = ("size", "area", "duration", "waiting")


@njit(cache=True)
def init_states(seed, first, state):
    """state[r] = stream_state(seed, first + r): one independent stream per replica."""
    for r in range(state.shape[0]):
        s0, s1, s2, s3 = stream_state(seed, first + r)
        state[r, 0] = s0
        state[r, 1] = s1
        state[r, 2] = s2
        state[r, 3] = s3


@njit(cache=True, inline="always")
def uniform_below(n, s0, s1, s2, s3):
    """Uniform integer in {0, ..., n - 1} for 1 <= n < 2**32, without bias (Lemire, "Fast random
    integer generation in an interval", ACM TOMACS 29, 2019: multiply-shift with rejection)."""
    nn = np.uint64(n)
    x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
    m = hi32(x) * nn
    low = lo32(m)
    if low < nn:
        t = (_TWO32 - nn) % nn
        while low < t:
            x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            m = hi32(x) * nn
            low = lo32(m)
    return np.int64(hi32(m)), s0, s1, s2, s3


@njit(cache=True, inline="always")
def hist_bin(edges, v):
    """Index i with edges[i] <= v < edges[i + 1] (edges: increasing int64 from 1)."""
    return np.searchsorted(edges, v, side="right") - 1


@njit(cache=True, inline="always")
def record(r, g, size, area, dur, stream, edges, ev_size, ev_area, ev_dur, ev_time, n_ev, hist,
           last):
    """Store one avalanche of replica r, started by grain g: as an event, or into the histograms
    (size, area, duration, and the waiting time g - last[r] since the replica's previous one)."""
    if stream:
        hist[r, 0, hist_bin(edges, size)] += 1
        hist[r, 1, hist_bin(edges, area)] += 1
        hist[r, 2, hist_bin(edges, dur)] += 1
        if last[r] >= 0:
            hist[r, 3, hist_bin(edges, g - last[r])] += 1
    else:
        k = n_ev[r]
        ev_size[r, k] = size
        ev_area[r, k] = area
        ev_dur[r, k] = dur
        ev_time[r, k] = g
        n_ev[r] = k + 1
    last[r] = g


@njit(cache=True, inline="always")
def height_sum(zr, sites, mask):
    """Sum of zr[sites] & mask (mask -1: the whole word; HEIGHT_MASK: BTW's packed heights)."""
    total = 0
    for k in range(sites.shape[0]):
        total += zr[sites[k]] & mask
    return total


@njit(cache=True, inline="always")
def reset_padding(zr, padding):
    for k in range(padding.shape[0]):
        zr[padding[k]] = PAD


@njit(cache=True, inline="always")
def btw_relax(zr, cur, nxt, stamp, offsets, zc, site):
    """Relax a BTW lattice from one unstable site by the parallel update.

    Toppling: z_i -= z_c = 2d, each of the 2d neighbours +1 (BTW 1987).  Each int32 word of ``zr``
    packs a real site's height (bits 0-7; z < 3 z_c <= 18 always) and the stamp of the last grain
    whose avalanche toppled it (bits 8-30): a toppling reads and writes one word, not two arrays,
    which halves the cost of the area bookkeeping.  ``stamp`` is already shifted (grain << 8).
    Padding words are negative (bit 31), so ``(v & THRESH_MASK) == z_c`` never holds for them.
    Returns (size, area, duration) = (topplings, distinct sites, generations)."""
    size = 0
    area = 0
    dur = 0
    cur[0] = site
    nc = 1
    while nc > 0:
        dur += 1
        nn = 0
        for k in range(nc):
            i = cur[k]
            w = zr[i] - zc
            h = w & HEIGHT_MASK
            area += (w - h) != stamp
            zr[i] = h | stamp
            size += 1
            for o in offsets:
                j = i + o
                v = zr[j] + 1
                zr[j] = v
                nxt[nn] = j                       # written always, kept only if j just became
                nn += (v & THRESH_MASK) == zc     # unstable: no branch to mispredict
            if h >= zc:
                nxt[nn] = i
                nn += 1
        cur, nxt = nxt, cur
        nc = nn
    return size, area, dur


@njit(cache=True, parallel=True)
def btw_chunk(z, cur, nxt, offsets, sites, padding, state, g0, n, hevery, stream, edges,
              ev_size, ev_area, ev_dur, ev_time, n_ev, hist, last, hsum):
    """Drop grains g0 .. g0 + n - 1 on uniformly random sites of each replica and relax (BTW).

    z: (R, padded sites) int32 words (height | stamp << 8, see :func:`btw_relax`); cur, nxt:
    (R, sites + 8) int32 frontiers; offsets: tuple of the 2d neighbour offsets; sites: the interior
    (padded) indices; padding: the others.  hsum[r, k]: total height after the k-th sampled grain
    of the chunk (grains g with (g + 1) % hevery == 0).  Stamps are cleared at the chunk start."""
    zc = len(offsets)
    for r in prange(z.shape[0]):
        s0, s1, s2, s3 = state[r, 0], state[r, 1], state[r, 2], state[r, 3]
        zr, cr, nr = z[r], cur[r], nxt[r]
        reset_padding(zr, padding)
        for k in range(sites.shape[0]):
            zr[sites[k]] &= HEIGHT_MASK
        since = 0
        ks = 0
        for t in range(n):
            g = g0 + t
            u, s0, s1, s2, s3 = uniform_below(sites.shape[0], s0, s1, s2, s3)
            i = sites[u]
            w = zr[i] + 1
            zr[i] = w
            if (w & HEIGHT_MASK) >= zc:
                size, area, dur = btw_relax(zr, cr, nr, (t + 1) << 8, offsets, zc, i)
                record(r, g, size, area, dur, stream, edges, ev_size, ev_area, ev_dur, ev_time,
                       n_ev, hist, last)
                since += size
                if since >= RESET_TOPPLINGS:
                    reset_padding(zr, padding)
                    since = 0
            if (g + 1) % hevery == 0:
                hsum[r, ks] = height_sum(zr, sites, HEIGHT_MASK)
                ks += 1
        state[r, 0], state[r, 1], state[r, 2], state[r, 3] = s0, s1, s2, s3


@njit(cache=True, inline="always")
def manna_relax(zr, cur, nxt, seen, stamp, offsets, site, s0, s1, s2, s3):
    """Relax the abelian Manna model from one unstable site by the parallel update.

    Toppling (z_i >= 2): z_i -= 2, each of the two grains goes to a neighbour drawn uniformly
    from the 2d (independently; one 64-bit draw gives both).  Returns (size, area, duration,
    state)."""
    twod = len(offsets)
    size = 0
    area = 0
    dur = 0
    cur[0] = site
    nc = 1
    while nc > 0:
        dur += 1
        nn = 0
        for k in range(nc):
            i = cur[k]
            zr[i] -= 2
            size += 1
            area += seen[i] != stamp
            seen[i] = stamp
            x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
            j = i + offsets[below(hi32(x), twod)]
            v = zr[j] + 1
            zr[j] = v
            nxt[nn] = j
            nn += v == 2
            j = i + offsets[below(lo32(x), twod)]
            v = zr[j] + 1
            zr[j] = v
            nxt[nn] = j
            nn += v == 2
            if zr[i] >= 2:
                nxt[nn] = i
                nn += 1
        cur, nxt = nxt, cur
        nc = nn
    return size, area, dur, s0, s1, s2, s3


@njit(cache=True, parallel=True)
def manna_chunk(z, cur, nxt, seen, offsets, sites, padding, state, g0, n, hevery, stream, edges,
                ev_size, ev_area, ev_dur, ev_time, n_ev, hist, last, hsum):
    """As :func:`btw_chunk`, for the abelian Manna model (threshold 2).  ``offsets`` is an array
    here (indexed by the random neighbour)."""
    for r in prange(z.shape[0]):
        s0, s1, s2, s3 = state[r, 0], state[r, 1], state[r, 2], state[r, 3]
        zr, cr, nr, sr = z[r], cur[r], nxt[r], seen[r]
        reset_padding(zr, padding)
        since = 0
        ks = 0
        for t in range(n):
            g = g0 + t
            u, s0, s1, s2, s3 = uniform_below(sites.shape[0], s0, s1, s2, s3)
            i = sites[u]
            zr[i] += 1
            if zr[i] >= 2:
                size, area, dur, s0, s1, s2, s3 = manna_relax(zr, cr, nr, sr, t + 1, offsets, i,
                                                              s0, s1, s2, s3)
                record(r, g, size, area, dur, stream, edges, ev_size, ev_area, ev_dur, ev_time,
                       n_ev, hist, last)
                since += size
                if since >= RESET_TOPPLINGS:
                    reset_padding(zr, padding)
                    since = 0
            if (g + 1) % hevery == 0:
                hsum[r, ks] = height_sum(zr, sites, ALL)
                ks += 1
        state[r, 0], state[r, 1], state[r, 2], state[r, 3] = s0, s1, s2, s3
