"""Walker-steps per second of the d = 10 lattice walk, dynsim's kernel beside vectorised NumPy.

Run by hand (not a test):  python benchmarks/bench_walks.py [--walkers 100000] [--steps 1000]

Both implementations do the same work per step: draw one of the 2d moves per walker, update the
position and |X|^2, check for a return to the origin.  dynsim's kernel also records summaries at
~40 log-spaced steps.  Figures are per core: the numba kernel runs with 1 thread (and, for
reference, with all threads); NumPy is single-threaded here.  Each timing is the best of --repeat
runs after a warm-up, so JIT compilation is not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numba
import numpy as np

from dynsim.sims.walks import kernels
from dynsim.sims.walks.walk import record_steps


def numpy_walk(walkers: int, steps: int, d: int, seed: int) -> np.ndarray:
    """The same lattice walk, vectorised over walkers with NumPy (one step at a time)."""
    rng = np.random.default_rng(seed)
    pos = np.zeros((walkers, d), dtype=np.int64)
    r2 = np.zeros(walkers, dtype=np.int64)
    ret = np.zeros(walkers, dtype=np.int64)
    rows = np.arange(walkers)
    for t in range(1, steps + 1):
        m = rng.integers(0, 2 * d, size=walkers)
        axis, sign = m >> 1, 2 * (m & 1) - 1
        p = pos[rows, axis]
        r2 += 2 * sign * p + 1
        pos[rows, axis] = p + sign
        ret[(r2 == 0) & (ret == 0)] = t
    return ret


def dynsim_walk(walkers: int, steps: int, d: int, seed: int) -> np.ndarray:
    rec = record_steps(steps, 40)
    out = [np.empty((walkers, rec.size)) for _ in range(3)]
    ret = np.zeros(walkers, dtype=np.int64)
    kernels.lattice_distance_kernel(seed, 0, rec, np.zeros((walkers, d), dtype=np.int64), *out, ret)
    return ret


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walkers", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--dims", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    W, n, d = args.walkers, args.steps, args.dims
    work = W * n

    dynsim_walk(100, 10, d, 0)  # compile
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    t_one = best_of(lambda: dynsim_walk(W, n, d, 1), args.repeat)
    numba.set_num_threads(threads)
    t_all = best_of(lambda: dynsim_walk(W, n, d, 1), args.repeat)
    t_np = best_of(lambda: numpy_walk(W, n, d, 1), max(1, args.repeat - 2))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"numpy {np.__version__}, numba {numba.__version__}")
    print(f"lattice walk d={d}: {W} walkers x {n} steps = {work:.2e} walker-steps")
    print(f"{'implementation':<28} {'seconds':>9} {'walker-steps/s':>16} {'vs numpy':>9}")
    for name, t in [("numpy, vectorised (1 core)", t_np), ("dynsim numba, 1 thread", t_one),
                    (f"dynsim numba, {threads} threads", t_all)]:
        print(f"{name:<28} {t:>9.3f} {work / t:>16.3e} {t_np / t:>8.1f}x")


if __name__ == "__main__":
    main()
