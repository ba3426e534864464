"""Hessian probes on the default mnist1d-sized MLP: HVP cost and HVPs to a 1e-3 top eigenvalue.

Run by hand (not a test):  python benchmarks/bench_hessian.py [--threads 1] [--repeat 20]

Setup (the default net of ``mnist1d_eos_ratio``): MLP 40-200-200-10, tanh, PyTorch default init
(seed 0), float32; MSE in the edge-of-stability convention (0.5 * squared error summed over the 10
outputs, mean over samples; ``mse_hessian_factor``) against one-hot targets of random labels;
4000 random N(0, 1) inputs of dimension 40 (no data code needed; the Hessian has mnist1d's sizes,
not its values).

Measured:
1. seconds of one full-batch gradient, one HVP by each method of ``hvp_operator`` and, as the
   floor, one HVP by raw autograd double backward on the model (no functional_call, no copies);
   each the median of --repeat calls after a warm-up, the calls interleaved;
2. HVPs until the top Ritz value is within 1e-3 (relative) of lambda_max, for Lanczos and plain
   power iteration from the same --starts seeded starts (first product at which the error is
   below 1e-3, read off the histories), and the products each needs before its own residual
   stopping rule (residual <= 1e-3 |theta|) fires, with the error it then has;
3. warm start: after --gd-steps steps of full-batch GD at lr 0.1, Lanczos to tol 1e-3 from the
   previous top eigenvector vs from a random vector.
lambda_max is the reference Lanczos run to tol 1e-6 (float32 products).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from dynsim.models import hessian as hs


def mse(out, y):
    return 0.5 * ((out - y) ** 2).sum(1).mean()


def setup(seed: int = 0, n: int = 4000):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(40, 200), torch.nn.Tanh(), torch.nn.Linear(200, 200),
                                torch.nn.Tanh(), torch.nn.Linear(200, 10))
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, 40, generator=g)
    y = torch.nn.functional.one_hot(torch.randint(0, 10, (n,), generator=g), 10).float()
    return model, x, y


def median_times(fns: dict, repeat: int) -> dict:
    """Median seconds of each callable, calls interleaved round-robin so that the load of a shared
    machine falls on all alike; one warm-up call each."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def first_within(history, lmax, rel=1e-3):
    return next((n for n, theta, _ in history if abs(theta / lmax - 1) <= rel), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--power-iters", type=int, default=200)
    ap.add_argument("--gd-steps", type=int, default=25)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, x, y = setup()
    params = list(model.parameters())
    dim = sum(p.numel() for p in params)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"MLP 40-200-200-10 tanh, {dim} parameters, {len(x)} examples, float32, EoS MSE")

    # 1. cost of one product vs one gradient
    def grad():
        return torch.autograd.grad(mse(model(x), y), params)

    vs = [torch.randn_like(p) for p in params]

    def raw_hvp():
        g = torch.autograd.grad(mse(model(x), y), params, create_graph=True)
        return torch.autograd.grad(g, params, vs)

    ops = {m: hs.hvp_operator(model, mse, x, y, method=m) for m in hs.METHODS}
    v = torch.randn(dim)
    fns = {"gradient (autograd)": grad, "HVP raw double backward": raw_hvp}
    fns.update({f"HVP hvp_operator {m}": (lambda o=o: o(v)) for m, o in ops.items()})
    times = median_times(fns, args.repeat)
    t_grad = times["gradient (autograd)"]
    print(f"\n{'one call (median of ' + str(args.repeat) + ')':<40} {'ms':>8} {'x gradient':>11}")
    for name, t in times.items():
        print(f"{name:<40} {1e3 * t:>8.2f} {t / t_grad:>10.2f}x")

    # 2. HVPs to 1e-3 relative on the top eigenvalue
    op = ops["double_backward"]
    ref = hs.lanczos(op, k=1, tol=1e-6, max_iter=150, generator=torch.Generator().manual_seed(99))
    lmax = ref.top[0]
    print(f"\nlambda_max = {lmax:.6f} (reference Lanczos: residual {ref.top_residuals[0]:.1e}, "
          f"{ref.n_hvp} HVPs, converged {ref.converged})")
    print(f"{'start':>5} {'Lanczos: HVPs to 1e-3':>22} {'stop rule: HVPs, rel err':>26} "
          f"{'power: HVPs to 1e-3':>20} {'stop rule: HVPs, rel err':>26}")
    for seed in range(args.starts):
        lz = hs.lanczos(op, k=1, tol=0.0, max_iter=40, generator=torch.Generator().manual_seed(seed))
        lz_stop = hs.lanczos(op, k=1, tol=1e-3, max_iter=60, generator=torch.Generator().manual_seed(seed))
        pw = hs.power_iteration(op, args.power_iters, tol=0.0, generator=torch.Generator().manual_seed(seed))
        pw_stop = next(((n, th) for n, th, r in pw.history if r <= 1e-3 * abs(th)), (None, float("nan")))
        print(f"{seed:>5} {first_within(lz.history, lmax)!s:>22} "
              f"{lz_stop.n_hvp:>14}, {abs(lz_stop.top[0] / lmax - 1):>9.1e} "
              f"{first_within(pw.history, lmax)!s:>20} {pw_stop[0]!s:>14}, {abs(pw_stop[1] / lmax - 1):>9.1e}")

    # 3. warm start after GD steps
    v_prev = ref.top_vectors[0]
    for _ in range(args.gd_steps):
        g = grad()
        with torch.no_grad():
            for p, gp in zip(params, g):
                p.sub_(0.1 * gp)
    op2 = hs.hvp_operator(model, mse, x, y)
    ref2 = hs.lanczos(op2, k=1, tol=1e-6, max_iter=150, generator=torch.Generator().manual_seed(99))
    warm = hs.lanczos(op2, k=1, tol=1e-3, v0=v_prev)
    colds = [hs.lanczos(op2, k=1, tol=1e-3, generator=torch.Generator().manual_seed(s))
             for s in range(args.starts)]
    print(f"\nafter {args.gd_steps} GD steps at lr 0.1: lambda_max = {ref2.top[0]:.6f}")
    print(f"Lanczos to tol 1e-3: warm start {warm.n_hvp} HVPs (rel err "
          f"{abs(warm.top[0] / ref2.top[0] - 1):.1e}); cold starts "
          f"{[c.n_hvp for c in colds]} HVPs (max rel err "
          f"{max(abs(c.top[0] / ref2.top[0] - 1) for c in colds):.1e})")


if __name__ == "__main__":
    main()
