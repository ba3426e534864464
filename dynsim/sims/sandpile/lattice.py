"""Sandpiles on the d-dimensional hypercubic lattice {1..L}^d with open boundaries and bulk drive.

Bak-Tang-Wiesenfeld (Bak, Tang & Wiesenfeld, PRL 59:381, 1987): heights z_i in {0, ..., 2d - 1}
are stable; a grain is added at a uniformly random site; a site with z_i >= z_c = 2d topples,
z_i -= 2d, and each of its 2d neighbours gains one grain (grains crossing the boundary are lost).
The model is abelian (Dhar, PRL 64:1613, 1990): the final state and the number of topplings of each
site do not depend on the order of topplings, and in the stationary state the mean number of
topplings at j caused by a grain added at i is G_ij = (Delta^-1)_ij, Delta the toppling matrix (2d
on the diagonal, -1 between neighbours; Dirichlet boundary).  Hence the exact mean avalanche size
per grain with uniform bulk drive is <s> = (1/L^d) sum_ij G_ij, the mean of Delta^-1 1 (keys
``btw_mean_size_*``).  Stationary mean height in 2-D: 17/8 as L -> inf (heights 0..3; Jeng, Piroux
& Ruelle 2006 conjecture, proved since, e.g. Caracciolo & Sportiello 2012; ``btw_mean_height_2d``).
BTW 2-D has no reliable avalanche-size exponent: its statistics are multifractal and simple
finite-size scaling fails (Tebaldi, De Menech & Stella, PRL 83:3952, 1999), so any tau fitted to
it is an effective exponent (the caveat of ``btw_2d_tau``).

Manna (Manna, J. Phys. A 24:L363, 1991), in its abelian form (Dhar, Physica A 263:4, 1999): a site
with z_i >= 2 topples, z_i -= 2, and each of the two grains moves to a neighbour chosen uniformly
and independently.  Each grain then performs a random walk until it leaves the lattice, so the
mean size per grain is (2d/2) times BTW's: d <Delta^-1 1>, twice the BTW value in 2-D.  Manna 2-D
exponents: a spread of published estimates (Lubeck, PRE 61:204, 2000; Huynh, Pruessner & Chew,
J. Stat. Mech. P09024, 2011; tau = 2 - 2/D for bulk drive), the bands ``manna_2d_tau`` and
``manna_2d_D``.

Avalanche size, area and duration (generations of the parallel update) as in
:mod:`dynsim.sims.sandpile.common`; the kernels are in :mod:`dynsim.sims.sandpile.kernels`.
"""

from __future__ import annotations

import numpy as np

from dynsim.params import Int, check_params, entry_point
from dynsim.rng import make_seed
from dynsim.sims.sandpile import kernels
from dynsim.sims.sandpile.common import (DRIVE_PARAMS, Collector, Progress, check_memory, drive,
                                         sample_every, summary_meta)
from dynsim.trace import Timer, Trace, make_trace

PARAMS = {
    "L": Int(2, 2**14, default=64, help="Lattice side."),
    "d": Int(1, 3, default=2, help="Dimension."),
    **DRIVE_PARAMS,
}


def lattice_geometry(L: int, d: int) -> dict:
    """Padded lattice (side L + 2, C order): interior and padding indices and neighbour offsets.

    ``interior`` lists the L^d real sites in the C order of an (L,) * d array, so
    ``z[interior].reshape((L,) * d)`` is the height map."""
    side = L + 2
    strides = side ** np.arange(d - 1, -1, -1, dtype=np.int64)
    coords = np.indices((L,) * d, dtype=np.int64).reshape(d, -1) + 1
    interior = (coords * strides[:, None]).sum(axis=0)
    mask = np.ones(side**d, dtype=bool)
    mask[interior] = False
    offsets = tuple(int(s) * sign for s in strides for sign in (1, -1))
    return {"interior": interior, "padding": np.flatnonzero(mask).astype(np.int64),
            "offsets": offsets, "n_padded": side**d}


def _run(system: str, p: dict, seed: int | None, progress: Progress | None) -> Trace:
    seed = make_seed(seed)
    L, d, R = p["L"], p["d"], p["replicas"]
    every = sample_every(p["grains"], p["height_every"])
    check_memory(p["grains"], R, p["stream"], (L + 2) ** d, 16, every)
    geo = lattice_geometry(L, d)
    n_sites = L**d
    timer = Timer()
    with timer.phase("setup"):
        z = np.zeros((R, geo["n_padded"]), dtype=np.int32)
        cur = np.empty((R, n_sites + 8), dtype=np.int32)
        nxt = np.empty((R, n_sites + 8), dtype=np.int32)
        state = np.empty((R, 4), dtype=np.uint64)
        kernels.init_states(seed, 0, state)
    interior, padding = geo["interior"], geo["padding"]
    if system == "sandpile.btw":  # area stamps packed into the height words
        def call(g0, n, *buffers):
            kernels.btw_chunk(z, cur, nxt, geo["offsets"], interior, padding, state, g0, n,
                              *buffers)
    else:
        seen = np.zeros((R, geo["n_padded"]), dtype=np.int32)
        offsets = np.asarray(geo["offsets"], dtype=np.int64)

        def call(g0, n, *buffers):
            seen[:] = 0
            kernels.manna_chunk(z, cur, nxt, seen, offsets, interior, padding, state, g0, n,
                                *buffers)

    collector = Collector(R, p["grains"], every, p["stream"])
    with timer.phase("simulate"):
        drive(call, collector, progress)
    with timer.phase("assemble"):
        channels = collector.channels(n_sites)
        heights = z[0, interior] & kernels.HEIGHT_MASK  # BTW words carry stamps above bit 7
        channels["height_map"] = heights.reshape((L,) * d).astype(np.int8)
        meta = summary_meta(collector, channels)
    return make_trace(system, {**p, "height_every": every}, seed, channels, timings=timer.timings,
                      **meta)


@entry_point(PARAMS)
def btw_sandpile(L: int, d: int, grains: int, replicas: int, stream: bool,
                 height_every: int | None, *, seed: int | None = None,
                 progress: Progress | None = None) -> Trace:
    """Bak-Tang-Wiesenfeld sandpile on {1..L}^d, open boundaries, one grain per drive at a
    uniformly random site (module docstring for the model and the exact results).

    L: lattice side; d: dimension (1, 2 or 3); grains: grains dropped per replica, starting from
    the empty lattice; replicas: independent copies run in parallel (one random stream each);
    stream: keep log-binned histograms instead of every event; height_every: grains between
    height samples (default: grains // 1000).
    Channels: events_* (or events_*_hist), height_mean (+ _step), height_map (L,)*d int8 (the
    final heights of replica 0).  Meta: stationary_from and how it was found."""
    p = check_params(PARAMS, dict(L=L, d=d, grains=grains, replicas=replicas, stream=stream,
                                  height_every=height_every), "sandpile.btw")
    return _run("sandpile.btw", p, seed, progress)


@entry_point(PARAMS)
def manna_sandpile(L: int, d: int, grains: int, replicas: int, stream: bool,
                   height_every: int | None, *, seed: int | None = None,
                   progress: Progress | None = None) -> Trace:
    """Abelian Manna model on {1..L}^d, open boundaries, bulk drive at uniformly random sites:
    sites with z >= 2 send two grains, each to an independently chosen random neighbour (module
    docstring).  Parameters and channels as :func:`btw_sandpile`."""
    p = check_params(PARAMS, dict(L=L, d=d, grains=grains, replicas=replicas, stream=stream,
                                  height_every=height_every), "sandpile.manna")
    return _run("sandpile.manna", p, seed, progress)

