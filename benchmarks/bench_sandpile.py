"""Topplings per second of BTW 2-D in its stationary state: dynsim's kernel with the size, area and
duration bookkeeping on, beside two plain numba kernels and a straightforward NumPy implementation.

Run by hand (not a test):  python benchmarks/bench_sandpile.py [--L 256] [--grains 20000]
The larger validation of the test suite's checks (about 3 minutes on 2 cores):
                            python benchmarks/bench_sandpile.py --validate

All four start from the same stationary configuration (the final heights of a dynsim run of
``--transient`` grains from the empty lattice) and drop grains at uniformly random sites (the numba
kernels draw the same sites, so they do the same topplings; NumPy draws its own, fewer grains;
topplings per grain is printed beside each rate).  Implementations:
  - dynsim: ``kernels.btw_chunk``, one replica: the parallel update generation by generation with
    branch-free frontier pushes, recording size, area (per-site stamps packed into the height
    words), duration (generations), the drive time, and the mean height every 1000 grains;
  - frontier, no bookkeeping: the same relaxation with the size counter only;
  - stack, no bookkeeping: the usual plain kernel: a stack of unstable
    sites, a site popped with z >= 4 topples floor(z / 4) times at once, a neighbour is pushed when
    it crosses the threshold (a branch per neighbour);
  - NumPy: the parallel update vectorised over each generation's frontier (np.add.at for the grains,
    np.unique for the next frontier); run on fewer grains (``--numpy-grains``).
Each timing is the best of ``--repeat`` runs (the numba kernels taking turns) after a warm-up
(NumPy: best of 2); numba runs on one thread.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numba
import numpy as np
from numba import njit

from dynsim.rng import stream_state
from dynsim.sims.sandpile import btw_sandpile, kernels
from dynsim.sims.sandpile.common import Collector
from dynsim.sims.sandpile.kernels import uniform_below
from dynsim.sims.sandpile.lattice import lattice_geometry


@njit(cache=True)
def stack_kernel(z, stack, offsets, sites, seed, n):
    """Plain stack-based BTW relaxation, several topplings of a site at once; returns topplings."""
    s0, s1, s2, s3 = stream_state(seed, 0)
    zc = len(offsets)
    total = 0
    for _ in range(n):
        u, s0, s1, s2, s3 = uniform_below(sites.shape[0], s0, s1, s2, s3)
        i = sites[u]
        z[i] += 1
        if z[i] >= zc:
            sp = 1
            stack[0] = i
            while sp > 0:
                sp -= 1
                i = stack[sp]
                m = z[i] // zc
                z[i] -= m * zc
                total += m
                for o in offsets:
                    j = i + o
                    v = z[j] + m
                    z[j] = v
                    if v >= zc and v - m < zc:
                        stack[sp] = j
                        sp += 1
    return total


@njit(cache=True)
def frontier_kernel(z, cur, nxt, offsets, sites, seed, n):
    """The dynsim relaxation (parallel update, branch-free pushes) without area, duration or
    events: only the toppling count."""
    s0, s1, s2, s3 = stream_state(seed, 0)
    zc = len(offsets)
    total = 0
    for _ in range(n):
        u, s0, s1, s2, s3 = uniform_below(sites.shape[0], s0, s1, s2, s3)
        i = sites[u]
        z[i] += 1
        if z[i] >= zc:
            c, x = cur, nxt
            c[0] = i
            nc = 1
            while nc > 0:
                nn = 0
                for k in range(nc):
                    i = c[k]
                    z[i] -= zc
                    total += 1
                    for o in offsets:
                        j = i + o
                        v = z[j] + 1
                        z[j] = v
                        x[nn] = j
                        nn += v == zc
                    if z[i] >= zc:
                        x[nn] = i
                        nn += 1
                c, x = x, c
                nc = nn
    return total


def numpy_btw(z, offsets, sites, seed, n) -> int:
    """Parallel update with NumPy, vectorised over the frontier of each generation."""
    rng = np.random.default_rng(seed)
    total = 0
    offs = np.asarray(offsets)
    for i in sites[rng.integers(0, sites.size, n)]:
        z[i] += 1
        front = np.array([i]) if z[i] >= 4 else np.zeros(0, dtype=np.int64)
        while front.size:
            total += front.size
            z[front] -= 4
            targets = (front[:, None] + offs[None, :]).ravel()
            np.add.at(z, targets, 1)
            cand = np.unique(np.concatenate([front, targets]))
            front = cand[z[cand] >= 4]
    return total


def dynsim_kernel(z, geo, seed, n) -> int:
    """dynsim's bookkeeping kernel on one replica; returns the topplings recorded."""
    Z = z[None, :].copy()
    cur = np.empty((1, geo["interior"].size + 8), np.int32)
    nxt = np.empty_like(cur)
    state = np.empty((1, 4), np.uint64)
    kernels.init_states(seed, 0, state)
    col = Collector(1, n, 1000, False)
    bufs = col.buffers(0, n)
    kernels.btw_chunk(Z, cur, nxt, geo["offsets"], geo["interior"], geo["padding"], state, 0, n,
                      *bufs)
    size, n_ev = bufs[3], bufs[7]
    return int(size[0, :n_ev[0]].sum())


def best_of(fns: dict, repeat: int) -> dict:
    """name -> (wall seconds, CPU seconds, work) of the run with the best wall time; the
    implementations take turns, so that a burst of load from other users hits them alike."""
    runs = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            work = fn()
            runs[name].append((time.perf_counter() - t0, time.process_time() - c0, work))
    return {name: min(r) for name, r in runs.items()}


def _mean_per_grain(tr, blocks=20):
    """Topplings per grain over the stationary part, batch-means SE (as in the tests)."""
    t0, grains = tr.meta["stationary_from"], tr.params["grains"]
    edges = np.linspace(t0, grains, blocks + 1)
    rep = tr["events_replica"] if "events_replica" in tr else np.zeros(tr["events_time"].size, int)
    means = []
    for r in range(tr.params["replicas"]):
        sel = (rep == r) & (tr["events_time"] >= t0)
        means.extend(np.histogram(tr["events_time"][sel], edges,
                                  weights=tr["events_size"][sel].astype(float))[0] / np.diff(edges))
    means = np.asarray(means)
    return means.mean(), means.std(ddof=1) / np.sqrt(means.size)


def _stationary_sizes(tr):
    s = tr["events_size"][tr["events_time"] >= tr.meta["stationary_from"]]
    return s[s > 0]


def _stationary_runs(tr):
    """Stationary sizes per replica, in time order (the runs of the block bootstrap)."""
    s, rep = tr.stationary("events_size"), tr.stationary("events_replica")
    return [s[rep == r] for r in range(tr.params["replicas"])]


def validate() -> None:
    """Bigger versions of the test suite's checks; prints measured values beside references."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from dynsim.analysis.fss import moment_analysis
    from dynsim.analysis.powerlaw import fit_power_law
    from dynsim.sims.sandpile import graph_sandpile, manna_sandpile, oslo_ricepile
    from dynsim.sims.sandpile.reference import EXPONENTS

    def dhar(L):
        T = sp.diags([np.full(L - 1, -1.0), np.full(L, 2.0), np.full(L - 1, -1.0)], [-1, 0, 1])
        A = sp.csc_matrix(sp.kron(T, sp.identity(L)) + sp.kron(sp.identity(L), T))
        return spla.spsolve(A, np.ones(L * L)).mean()

    t_all = time.perf_counter()
    for L, grains in ((128, 600_000), (256, 1_300_000)):
        t = time.perf_counter()
        tr = btw_sandpile(L=L, grains=grains, replicas=2, seed=100 + L, height_every=L * L // 8)
        assert tr.meta["stationary_reached"]
        m, se = _mean_per_grain(tr)
        t0 = tr.meta["stationary_from"]
        h = tr["height_mean"][tr["height_mean_step"] >= 2 * t0]
        hb = np.array([b.mean() for b in np.array_split(h, 20)])
        print(f"BTW 2-D L={L}, 2 x {grains} grains (stationary from {t0}): <s> = {m:.2f} ± "
              f"{se:.2f}, exact {dhar(L):.2f}; mean height {h.mean():.5f} ± "
              f"{hb.std(ddof=1) / np.sqrt(hb.size):.5f}  [{time.perf_counter() - t:.0f} s]")
    for model, fn, sizes, fill, exact in (
            ("oslo", oslo_ricepile, (64, 128, 256, 512, 1024), 2.0, lambda L: L),
            ("manna", manna_sandpile, (64, 128, 256, 512), 1.5, lambda L: 2 * dhar(L))):
        t = time.perf_counter()
        samples, mean = {}, {}
        for L in sizes:  # the pile fills in about 0.87 L^2 (Oslo) or 0.7 L^2 (Manna) grains
            tr = fn(L=L, grains=int(fill * L * L) + 200_000, replicas=2, seed=200 + L)
            assert tr.meta["stationary_reached"], (model, L)
            samples[L], mean[L] = _stationary_runs(tr), _mean_per_grain(tr)
        ref = EXPONENTS[model]
        for sub, blocks in ((sizes, 20), (sizes, None), (sizes[1:], 20)):
            res = moment_analysis({L: samples[L] for L in sub}, q=np.linspace(1, 3, 9),
                                  q_range=(1.0, 3.0), boot=100, blocks=blocks, seed=1)
            zD = ref["D"].distance(res.D) / res.D_stderr
            zt = ref["tau"].distance(res.tau) / res.tau_stderr
            how = "single avalanches" if blocks is None else f"{blocks} time blocks per replica"
            print(f"{model} FSS {res}  bootstrap over {how}  (|D - ref| = {zD:.1f} SE, "
                  f"|tau - ref| = {zt:.1f} SE)")
        print(f"{model} <s> per grain: " + ", ".join(
            f"L={L}: {m:.1f} ± {se:.1f} (exact {exact(L):.1f})" for L, (m, se) in mean.items()) +
              f"  [{time.perf_counter() - t:.0f} s]")
    t = time.perf_counter()
    tr = graph_sandpile(graph="rr", n=200_000, k=3, grains=800_000, sink_fraction=0.001,
                        replicas=2, seed=300)
    s = _stationary_sizes(tr)
    T = tr["events_duration"][tr["events_time"] >= tr.meta["stationary_from"]]
    fits = [(w, fit_power_law(s, xmin=w[0], xmax=w[1])) for w in ((100, 1000), (100, 3000),
                                                                  (300, 3000))]
    fT = fit_power_law(T, xmin=10, xmax=100)
    print(f"mean field (RR k=3, n=2e5, 0.1% sinks, stationary: {tr.meta['stationary_reached']}): " +
          "; ".join(f"tau{list(w)} = {f.alpha:.4f} ± {f.stderr:.4f}" for w, f in fits) +
          f"; tau_t[10, 100] = {fT.alpha:.3f} ± {fT.stderr:.3f} (refs 3/2, 2)"
          f"  [{time.perf_counter() - t:.0f} s]")
    t = time.perf_counter()
    tr = graph_sandpile(graph="er", n=200_000, k=4, grains=1_200_000, sink_fraction=0.001,
                        replicas=2, seed=301)
    s = _stationary_sizes(tr).astype(float)
    T = tr["events_duration"][tr["events_time"] >= tr.meta["stationary_from"]]
    fits = [(w, fit_power_law(s, xmin=w[0], xmax=w[1])) for w in ((100, 1000), (100, 3000),
                                                                  (300, 3000))]
    g = [_size_given_duration(s, T, lo, hi) for lo, hi in ((5, 45), (5, 58), (10, 58))]
    print(f"mean field (ER k=4, n=2e5, 0.1% sinks, stationary: {tr.meta['stationary_reached']}): " +
          "; ".join(f"tau{list(w)} = {f.alpha:.4f} ± {f.stderr:.4f}" for w, f in fits) + "; " +
          "; ".join(f"gamma[{lo}, {hi}] = {v:.3f} ± {e:.3f} (chi2 {c:.0f}/{dof})"
                    for lo, hi, v, e, c, dof in g) +
          f" (refs 3/2, 2)  [{time.perf_counter() - t:.0f} s]")
    print(f"validation total {time.perf_counter() - t_all:.0f} s")


def _size_given_duration(s, T, lo, hi):
    """gamma of <s | T> = a T^gamma (1 + b / T) on T in [lo, hi] (as in the test suite)."""
    from scipy.optimize import curve_fit

    Ts = np.arange(lo, hi + 1)
    groups = [s[T == t] for t in Ts]
    m = np.array([x.mean() for x in groups])
    se = np.array([x.std(ddof=1) / np.sqrt(x.size) for x in groups]) / m

    def model(t, log_a, gamma, b):
        return log_a + gamma * np.log(t) + np.log1p(b / t)

    p, cov = curve_fit(model, Ts, np.log(m), p0=(0.0, 2.0, 0.0), sigma=se, absolute_sigma=True)
    chi2 = float(np.sum(((model(Ts, *p) - np.log(m)) / se) ** 2))
    return lo, hi, p[1], float(np.sqrt(cov[1, 1])), chi2, Ts.size - 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=256)
    ap.add_argument("--transient", type=int, default=300_000)
    ap.add_argument("--grains", type=int, default=20_000)
    ap.add_argument("--numpy-grains", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--validate", action="store_true", help="Run the larger validation instead.")
    args = ap.parse_args()
    if args.validate:
        validate()
        return
    L, n = args.L, args.grains
    geo = lattice_geometry(L, 2)

    t0 = time.perf_counter()
    start = btw_sandpile(L=L, grains=args.transient, seed=1)
    t_api = time.perf_counter() - t0
    z0 = np.full(geo["n_padded"], kernels.PAD, np.int32)
    z0[geo["interior"]] = start["height_map"].ravel()

    numba.set_num_threads(1)
    stack = np.empty(64 * L * L, np.int32)
    cur, nxt = np.empty(L * L + 8, np.int32), np.empty(L * L + 8, np.int32)
    runs = {
        "dynsim, bookkeeping on": lambda: dynsim_kernel(z0, geo, 2, n),
        "frontier, no bookkeeping": lambda: frontier_kernel(z0.copy(), cur, nxt, geo["offsets"],
                                                            geo["interior"], 2, n),
        "stack, no bookkeeping": lambda: stack_kernel(z0.copy(), stack, geo["offsets"],
                                                      geo["interior"], 2, n),
    }
    for fn in runs.values():  # compile (cached after the first run) and warm the caches
        fn()
    results = best_of(runs, args.repeat)
    results.update(best_of({"numpy, vectorised frontier": lambda: numpy_btw(
        z0.copy(), geo["offsets"], geo["interior"], 2, args.numpy_grains)}, 2))

    stationary = start.meta["stationary_from"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"numpy {np.__version__}, numba {numba.__version__}")
    print(f"BTW 2-D L={L}: start from the heights after {args.transient} grains (stationary from "
          f"grain {stationary}; that run took {t_api:.1f} s end to end); {n} grains timed "
          f"({args.numpy_grains} for NumPy); numba on 1 thread")
    ref = results["dynsim, bookkeeping on"]
    print(f"{'implementation':<28} {'wall s':>7} {'CPU s':>7} {'topplings':>10} {'per grain':>9} "
          f"{'topplings/s':>12} {'vs dynsim':>9}")
    for name, (t, cpu, work) in results.items():
        grains = args.numpy_grains if name.startswith("numpy") else n
        rate = work / t
        print(f"{name:<28} {t:>7.3f} {cpu:>7.3f} {work:>10d} {work / grains:>9.1f} {rate:>12.3e} "
              f"{rate / (ref[2] / ref[0]):>8.2f}x")


if __name__ == "__main__":
    main()
