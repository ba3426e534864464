"""Power-law fitting speed: dynsim's exact MLE with the xmin scan beside the `powerlaw` package.

Run by hand (not a test):  python benchmarks/bench_powerlaw.py [--n 1000000] [--big 10000000]
                                                               [--boot 1000 --boot-n 100000]

Data: discrete power law, alpha = 2.5, xmin = 1 (exact sampler), seed 0.
- dynsim: fit_power_law(x) -- exact discrete MLE (Hurwitz zeta) at every distinct value with
  n_tail >= 10, KS scan, Fisher SE.
- powerlaw: powerlaw.Fit(x, discrete=True) with its defaults (xmin scanned over unique values),
  timed in the same run; then .power_law.alpha.
- dynsim on --big samples, and the bootstrap goodness of fit (--boot replicates of --boot-n samples,
  xmin rescanned in every replicate).
Each timing is one run after a warm-up of the JIT on a small sample (compile time not counted).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numba
import numpy as np

from dynsim.analysis.powerlaw import fit_power_law, gof_bootstrap, sample_power_law


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--boot-n", type=int, default=100_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = sample_power_law(args.n, 2.5, 1.0, True, rng).astype(np.int64)
    fit_power_law(x[:1000])  # compile
    gof_bootstrap(x[:1000], boot=2, seed=0)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numba threads "
          f"{numba.get_num_threads()}; numpy {np.__version__}, numba {numba.__version__}")
    t_ours, ours = timed(lambda: fit_power_law(x))
    print(f"dynsim   n={args.n:.0e}: {t_ours:7.3f} s  alpha={ours.alpha:.4f}±{ours.stderr:.4f} "
          f"xmin={ours.xmin:g} KS={ours.ks:.5f} ({ours.candidates_rule})")
    try:
        import powerlaw

        t_pl, fit = timed(lambda: powerlaw.Fit(x, discrete=True, verbose=0))
        print(f"powerlaw {powerlaw.__version__} n={args.n:.0e}: {t_pl:7.3f} s  "
              f"alpha={fit.power_law.alpha:.4f} xmin={fit.xmin:g} KS={fit.power_law.D:.5f}  "
              f"-> dynsim is {t_pl / t_ours:.0f}x faster")
    except ImportError:
        print("powerlaw not installed: pip install powerlaw")
    xb = sample_power_law(args.big, 2.5, 1.0, True, rng).astype(np.int64)
    t_big, big = timed(lambda: fit_power_law(xb))
    print(f"dynsim   n={args.big:.0e}: {t_big:7.3f} s  alpha={big.alpha:.4f}±{big.stderr:.4f} "
          f"xmin={big.xmin:g}")
    xs = x[: args.boot_n]
    t_boot, g = timed(lambda: gof_bootstrap(xs, boot=args.boot, seed=1))
    print(f"bootstrap {args.boot} x n={args.boot_n:.0e}: {t_boot:7.3f} s  p={g.p:.3f}  "
          f"alpha 95% [{g.alpha_ci[0]:.4f}, {g.alpha_ci[1]:.4f}]")


if __name__ == "__main__":
    main()
