"""Correlation dimension of the Henon x-series: dynsim beside nolds.corr_dim, timed in the same run.

Run by hand (not a test):  python benchmarks/bench_dimension.py [--n 10000] [--big 100000]

The series is x_t of the Henon map (a = 1.4, b = 0.3; D2 ``henon_correlation_dimension``,
Grassberger & Procaccia 1983; honest fits 1.18-1.22), delay-embedded in 2 dimensions with delay 1,
N = --n values (N - 1 delay vectors).  Timed:

* nolds 0.6.2 ``corr_dim(x, 2)`` with its defaults (radii 0.1 SD .. 0.5 SD in steps of x1.03,
  a full N x N distance matrix, a least-squares line over every radius);
* dynsim ``correlation_dimension`` on the same delay vectors with its defaults (30 log-spaced radii,
  KD-tree pair counts, the scaling region chosen from the local slopes);
* dynsim with nolds' radii and fit range, the same estimate as nolds (a like-for-like timing);
* dynsim's whole ``dynsim analyze x.csv --embed`` pipeline minus I/O: choose_delay, false nearest
  neighbours up to dimension 10, then the correlation dimension;
* N = --big (1e5): dynsim with its default cap of 1e9 pairs (M = 1e9 // (N - 1) random reference
  points counted against all N, Theiler 1987), and with --all-pairs every one of the N (N - 1).

dynsim timings are the best of --repeat after a warm-up; nolds (seconds per call) runs
--nolds-repeat times (best taken).  Both values are printed against 1.21.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np

from dynsim.analysis.dimension import correlation_dimension, delay_embed
from dynsim.analysis.embedding import choose_delay, false_nearest_neighbours
from dynsim.sims.maps import henon

REFERENCE = 1.21


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def pipeline(x, seed=0):
    """What ``dynsim analyze x.csv --embed`` computes for the dimension (no file I/O)."""
    delay = choose_delay(x).delay
    dim = false_nearest_neighbours(x, delay, max_dim=10, theiler=delay).dim
    return correlation_dimension(delay_embed(x, dim, delay), theiler=delay, seed=seed)


def row(name, seconds, value, extra="", base=None):
    speed = f"{base / seconds:6.1f}x" if base else "      "
    err = f"{value - REFERENCE:+.3f}"
    print(f"| {name:<44} | {seconds:8.3f} | {speed} | {value:.4f} | {err:>6} | {extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nolds-repeat", type=int, default=1)
    ap.add_argument("--all-pairs", action="store_true",
                    help="also time the exact correlation sum (every pair) at --big")
    args = ap.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # nolds 0.6.2 warns about pkg_resources
        import nolds

    x = henon(args.n, seed=1)["trajectory"][:, 0]
    pts = delay_embed(x, 2, 1)
    correlation_dimension(pts[:2000], seed=0)    # warm-up: imports, caches

    def nolds_corr_dim():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # "RANSAC requires sklearn, using 'poly'"
            return nolds.corr_dim(x, 2)

    t_nolds, v_nolds = best_of(nolds_corr_dim, args.nolds_repeat)
    t_dyn, est = best_of(lambda: correlation_dimension(pts, seed=0), args.repeat)
    sd = np.std(x, ddof=1)
    rvals = nolds.logarithmic_r(0.1 * sd, 0.5 * sd, 1.03)
    t_match, est_m = best_of(lambda: correlation_dimension(pts, radii=rvals,
                                                           fit_range=(rvals[0], rvals[-1])),
                             args.repeat)
    t_pipe, est_p = best_of(lambda: pipeline(x), args.repeat)

    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores; python {platform.python_version()}, "
          f"numpy {np.__version__}, nolds {getattr(nolds, '__version__', '0.6.2')}")
    print(f"Henon x-series, embedding dimension 2, delay 1; N = {args.n} values "
          f"({pts.shape[0]} vectors); reference D2 = {REFERENCE}\n")
    print(f"| {'implementation':<44} | {'s':>8} | vs nolds | D2     | -1.21  | notes")
    print(f"|{'-' * 46}|{'-' * 10}|{'-' * 10}|{'-' * 8}|{'-' * 8}|------")
    row("nolds.corr_dim(x, 2), defaults", t_nolds, float(v_nolds),
        f"{len(rvals)} radii 0.1-0.5 SD, N x N matrix, fit over all")
    row("dynsim correlation_dimension, defaults", t_dyn, est.value,
        f"± {est.fit_stderr:.2g} (fit) + {est.spread:.2g} (spread); r in [{est.r_range[0]:.2g}, "
        f"{est.r_range[1]:.2g}]", t_nolds)
    row("dynsim with nolds' radii and fit range", t_match, est_m.value,
        f"± {est_m.fit_stderr:.2g} (fit); same estimate as nolds", t_nolds)
    row("dynsim pipeline: choose delay, FNN, D2", t_pipe, est_p.value,
        "what `dynsim analyze --embed` does", t_nolds)

    xb = henon(args.big, seed=1)["trajectory"][:, 0]
    pb = delay_embed(xb, 2, 1)
    t_big, eb = best_of(lambda: correlation_dimension(pb, seed=0), max(1, args.repeat - 1))
    print(f"\nN = {args.big} values ({pb.shape[0]} vectors):")
    row("dynsim, defaults (<= 1e9 pairs)", t_big, eb.value,
        f"{eb.data['reference_points']} reference points x {pb.shape[0]}; ± {eb.fit_stderr:.2g} (fit) "
        f"± {eb.spread:.2g} (spread)")
    if args.all_pairs:
        t_all, ea = best_of(lambda: correlation_dimension(pb, seed=0, max_pairs=None), 1)
        row("dynsim, every pair (max_pairs=None)", t_all, ea.value,
            f"{ea.n_pairs:.3g} pairs; ± {ea.fit_stderr:.2g} (fit) + {ea.spread:.2g} (spread)")
    t_pb, epb = best_of(lambda: pipeline(xb), 1)
    row("dynsim pipeline: choose delay, FNN, D2", t_pb, epb.value, "one run")


if __name__ == "__main__":
    main()
