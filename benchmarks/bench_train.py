"""Edge of stability on mnist1d and the cost of the Hessian probes.

Run by hand:  python benchmarks/bench_train.py [--lrs 0.1 0.2] [--steps 1500]

The default setup of `dynsim train` (``mnist1d_eos_ratio``): mnist1d (4000 train), MLP
40-200-200-10, tanh, MSE in the EoS convention, full-batch GD, seed 0.  For each lr: the default
probe schedule and --probe-every 25; reports the training and probe seconds (their ratio is the
probe overhead), the HVPs spent, and the late-window band of sharpness * lr / 2 (last half of the
run).
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
import torch

from dynsim.models.train import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lrs", type=float, nargs="+", default=[0.1, 0.2])
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    print(f"{'lr':>5} {'schedule':>14} {'probes':>6} {'HVPs':>5} {'train s':>8} {'probe s':>8} "
          f"{'overhead':>8}  late sharpness*lr/2: median [min, max]")
    for lr in args.lrs:
        for every in (None, 25):
            tr = train(lr=lr, steps=args.steps, probe_every=every, seed=0)
            t = tr.meta["timings"]
            s, st = tr["sharpness"], tr["sharpness_step"]
            late = s[st >= args.steps // 2] * lr / 2
            label = f"every {tr.params['probe_every']}" + (" (default)" if every is None else "")
            print(f"{lr:5.2f} {label:>14} {s.size:6d} {tr.meta['probe_hvps']:5d} "
                  f"{t['train']:8.1f} {t['probe']:8.1f} {t['probe'] / t['train']:8.0%}  "
                  f"{np.median(late):.3f} [{late.min():.3f}, {late.max():.3f}]  "
                  f"start {s[0] * lr / 2:.3f}")


if __name__ == "__main__":
    main()
