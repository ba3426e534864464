"""Bifurcation diagrams: late iterates of one toy against lr, with the Lyapunov spectrum.

All learning rates run in parallel (one Numba ``prange`` over lr, each run with its own noise
stream), from one start point.  The last ``keep`` states of each run are kept, with the one-step
Jacobians of the optimizer map there; :func:`dynsim.analysis.lyapunov.lyapunov_spectrum` (QR /
Benettin, block standard errors) turns them into the Lyapunov spectrum per lr (the first
``keep // 5`` kept steps align the frame).  A run that leaves every bounded set is marked in
``bifurcation_diverged_at`` and its rows are NaN.

Default: 1/2 (1 - x y)^2 from the balanced point (0.5, 0.5), lr in [0.8, 2.0].  GD keeps x = y,
so the map is x' = x - lr x (x^2 - 1); the balanced minimum has sharpness 2, so it is stable for
lr < 1 (``product_balanced_flip_lr``), then period 2, period 4 from lr = sqrt(5) - 1
(``product_balanced_period4_lr``), the period-doubling cascade into chaos (positive exponent;
Feigenbaum's ``feigenbaum_delta``) and escape at larger lr.  Where chaos starts and where the
orbits escape are measured with this code (benchmarks/RESULTS.md); no published oracle is claimed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from dynsim.analysis.lyapunov import lyapunov_spectrum
from dynsim.params import Float, Int, check_params, entry_point
from dynsim.rng import make_rng
from dynsim.sims.eos.losses import TOY_PARAMS, make_loss
from dynsim.sims.eos.optimizers import SLOTS, opt_spec, opt_threshold
from dynsim.sims.eos.systems import OPT_PARAMS, resolve_x0, simulate
from dynsim.trace import Timer, Trace, make_trace

BIFURCATION_PARAMS = {
    "system": dataclasses.replace(TOY_PARAMS["system"], default="product"),
    "opt": dataclasses.replace(OPT_PARAMS["opt"], help="Optimizer."),
    "lr_min": Float(0.0, None, lo_open=True, default=0.8, help="Smallest lr."),
    "lr_max": Float(0.0, None, lo_open=True, default=2.0, help="Largest lr."),
    "n_lr": Int(2, 100_000, default=200, help="Learning rates (run in parallel)."),
    "steps": Int(20, 10**7, default=3000, help="Steps per run."),
    "keep": Int(20, 10**6, default=200, help="Late steps kept per run."),
    "x0": dataclasses.replace(TOY_PARAMS["x0"], none_means="the balanced point (0.5, ..., 0.5) "
                              "for products, (0.7, 0.7) minimalist, (1, ..., 1) quadratic"),
    **{k: TOY_PARAMS[k] for k in ("degree", "spectrum", "rotated")},
    **{k: OPT_PARAMS[k] for k in ("beta", "beta1", "beta2", "eps", "noise_std")},
}
BALANCED_X0 = {"product": 0.5, "minimalist": 0.7}
CHUNKS = 10   # progress reports


@entry_point(BIFURCATION_PARAMS)
def bifurcation(system: str, lr_min: float, lr_max: float, n_lr: int, steps: int, keep: int, x0,
                opt: str, degree: int, spectrum, rotated: bool, beta: float, beta1: float,
                beta2: float | None, eps: float, noise_std: float | None, *,
                seed: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> Trace:
    """Late iterates and Lyapunov spectra of ``opt`` on ``system`` at ``n_lr`` learning rates
    evenly spaced in [lr_min, lr_max], each run for ``steps`` steps from ``x0``.

    ``x0`` defaults to the balanced point (0.5, ..., 0.5) for products, (0.7, 0.7) on the slice
    for the minimalist toy and (1, ..., 1) for quadratics.  Channels (R = n_lr, K = keep):
    ``bifurcation_lr`` (R,), ``bifurcation_iterates`` (R, K, d), ``bifurcation_loss`` and
    ``bifurcation_sharpness`` (R, K), ``bifurcation_threshold`` (R,) in the convention of
    ``meta['threshold_convention']``, ``bifurcation_lyapunov`` and ``bifurcation_lyapunov_se``
    (R, k d), decreasing, and ``bifurcation_diverged_at`` (R,) (the step a run left every bounded
    set, -1 if it did not)."""
    p = check_params(BIFURCATION_PARAMS, dict(
        system=system, opt=opt, lr_min=lr_min, lr_max=lr_max, n_lr=n_lr, steps=steps, keep=keep,
        x0=x0, degree=degree, spectrum=spectrum, rotated=rotated, beta=beta, beta1=beta1,
        beta2=beta2, eps=eps, noise_std=noise_std), "eos.bifurcation")
    if not p["lr_min"] < p["lr_max"]:
        raise ValueError(f"`lr_min` must be < `lr_max`, got {p['lr_min']:g} and {p['lr_max']:g}")
    if p["keep"] > p["steps"] + 1:
        raise ValueError(f"`keep` must be <= `steps` + 1 = {p['steps'] + 1}, got {p['keep']}")
    seed, rng = make_rng(seed)
    loss = make_loss(p["system"], spectrum=p["spectrum"], rotated=p["rotated"],
                     degree=p["degree"], rng=rng)
    if p["x0"] is None and p["system"] in BALANCED_X0:
        x = np.full(loss.dim, BALANCED_X0[p["system"]])
    else:
        x = resolve_x0(p["system"], p["x0"], loss.dim)
    code, op, used = opt_spec(p["opt"], beta=p["beta"], beta1=p["beta1"], beta2=p["beta2"],
                              eps=p["eps"], noise_std=p["noise_std"], freeze_at=None, nu0=0.0,
                              dim=loss.dim)
    p.update(used, x0=[float(v) for v in x])
    del p["freeze_at"], p["nu0"]
    lrs = np.linspace(p["lr_min"], p["lr_max"], p["n_lr"])
    rec_from = p["steps"] + 1 - p["keep"]
    slots = SLOTS[code] * loss.dim
    K, R = p["keep"], p["n_lr"]
    ch = {"bifurcation_lr": lrs, "bifurcation_iterates": np.full((R, K, loss.dim), np.nan),
          "bifurcation_loss": np.full((R, K), np.nan),
          "bifurcation_sharpness": np.full((R, K), np.nan),
          "bifurcation_lyapunov": np.full((R, slots), np.nan),
          "bifurcation_lyapunov_se": np.full((R, slots), np.nan),
          "bifurcation_diverged_at": np.full(R, -1, dtype=np.int64)}
    timer = Timer()
    for lo, hi in _chunks(R):
        with timer.phase("simulate"):
            out = simulate(loss, code, op, lrs[lo:hi], np.tile(x, (hi - lo, 1)), seed,
                           p["steps"], rec_from, True, stream0=lo)
        with timer.phase("lyapunov"):
            for k in range(hi - lo):
                r = lo + k
                if out["done"][k] < p["steps"] + 1:
                    ch["bifurcation_diverged_at"][r] = out["done"][k]
                    continue
                ch["bifurcation_iterates"][r] = out["trajectory"][k]
                ch["bifurcation_loss"][r] = out["loss"][k]
                ch["bifurcation_sharpness"][r] = out["hessian_top"][k, :, 0]
                spec = lyapunov_spectrum(out["jacobian"][k], transient=K // 5, blocks=10)
                ch["bifurcation_lyapunov"][r] = spec.exponents
                ch["bifurcation_lyapunov_se"][r] = spec.stderr
        if progress is not None:
            progress(hi, R)
    thr = [opt_threshold(p["opt"], lr, used) for lr in lrs]
    ch["bifurcation_threshold"] = np.array([t for t, _ in thr])
    return make_trace("eos.bifurcation", p, seed, ch, timings=timer.timings,
                      threshold_convention=thr[0][1], loss=loss.description)


def _chunks(n: int) -> list[tuple[int, int]]:
    size = max(1, math.ceil(n / CHUNKS))
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]

