"""Continuous-time models of gradient descent: gradient flow and the central flow.

Time t is measured in steps of GD with learning rate lr, so flow time t is compared with GD step t.

Gradient flow:  dw/dt = -lr grad L(w).

Central flow (Cohen, Damian, Talwalkar, Kolter & Lee, "Understanding Optimization in Deep Learning
with Central Flows", ICLR 2025, arXiv:2410.24206), one unstable eigenvalue:

    dw/dt = -lr [grad L(w) + (sigma^2 / 2) grad S(w)],   S = lambda_max(H),
    grad S(w) = D^3 L(w)[u, u, .]   (u the top unit eigenvector; analytic for the toys),

with sigma^2 >= 0 the smallest value that keeps S <= 2/lr: the complementarity problem sigma^2 >= 0,
m = 2/lr - S >= 0, sigma^2 m = 0 (a projected gradient flow onto {S <= 2/lr}).  On the edge
(dS/dt = 0) sigma^2 = 2 <grad S, -grad L> / |grad S|^2.  As in the authors' code (which solves the
complementarity for the margin advanced by one Euler substep), the margin is enforced with a
relaxation time ``tau`` (in steps): sigma^2 solves m + tau dm/dt = 0 when that needs sigma^2 > 0,
giving

    sigma^2 = max(0, 2 (<grad S, -grad L> - m / (tau lr)) / |grad S|^2),

which is continuous in w (so scipy's adaptive Runge-Kutta integrates it), holds S within
O(tau x drift) of 2/lr once there and pulls S back to 2/lr if it starts above.  The default
tau = 0.25 is the authors' default of 4 substeps per step (``central_flow_substeps``).  The
predicted time average of GD's loss is L(w) + (sigma^2 / 2) S(w) (their prediction
f(w) + 1/2 <U^T H U, X>, with X = sigma^2 for k = 1).  On a quadratic grad S = 0: the central
flow is gradient flow (and GD past 2/lr just diverges).

Work limit: each flow is integrated step by step under an evaluation budget (100 rhs calls per
flow step by default, far above what a smooth flow needs) and a wall-time limit; a flow that
needs more (the central flow far above the edge is stiff, or non-smooth where the top eigenvalue
is degenerate) stops with status ``failed`` and the reason in ``meta['solver']``.
:func:`dynsim.studies.flows_vs_gd.flows_vs_gd` compares both flows with GD.

Not built: Edge Flow (P. Marion, arXiv:2606.18080, 2026).  Its equations could not be read here,
and a guessed version would be worse than none.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.integrate import LSODA, RK45, Radau

from dynsim.params import Choice, Float, Int, check_params, entry_point
from dynsim.rng import make_rng
from dynsim.sims.eos.losses import TOY_PARAMS, make_loss, top_eigen
from dynsim.sims.eos.systems import resolve_x0
from dynsim.trace import Timer, Trace, make_trace

METHOD = "RK45"
METHODS = ("RK45", "LSODA", "Radau")
MAX_SECONDS = 120.0     # wall-time limit of one integration
FLOW_PARAMS = {
    **TOY_PARAMS,
    "rtol": Float(1e-13, 1e-3, default=1e-8, help="Relative tolerance of the integrator."),
    "method": Choice(METHODS, default=METHOD,
                     help="scipy integrator (LSODA / Radau for stiff flows)."),
    "max_evals": Int(100, 10**9, help="Work limit per flow, in rhs calls; a flow that needs more "
                     "stops with status failed.", none_means="100 per step, at least 20000"),
}
CENTRAL_PARAMS = {**FLOW_PARAMS, "tau": Float(
    0.0, None, lo_open=True, default=0.25,
    help="Central flow: relaxation time of the margin 2/lr - S, in steps.")}
ESCAPE = 1e50
# start of the flows on the minimalist toy at lr 0.1: GD from here reaches the edge with no chaotic
# transient, unlike the default start (4.0, 0.1) of eos.minimalist (``minimalist_gd_lr01``); the
# gaps of both flows from GD from here are ``central_flow_minimalist_gaps``.
FLOW_X0 = {"minimalist": (3.3, 0.05)}


def sigma2(g: np.ndarray, grad_s: np.ndarray, sharpness: float, lr: float, tau: float) -> float:
    """The central flow's sigma^2 at one point (module docstring); 0 where grad S = 0."""
    norm2 = float(grad_s @ grad_s)
    if norm2 == 0.0:
        return 0.0
    margin = 2.0 / lr - sharpness
    return max(0.0, 2.0 * (-float(grad_s @ g) - margin / (tau * lr)) / norm2)


def flow_setup(params, seed, schema, name):
    """Validate ``params`` against ``schema`` (errors name ``name``), seed, and build the toy: (the
    checked params with method, max_evals and x0 filled in, the seed, the loss, the start point)."""
    p = check_params(schema, params, name)
    p["method"] = p["method"] or METHOD
    if p["max_evals"] is None:
        p["max_evals"] = default_max_evals(p["steps"])
    seed, rng = make_rng(seed)
    loss = make_loss(p["system"], spectrum=p["spectrum"], rotated=p["rotated"], degree=p["degree"],
                     rng=rng)
    x = resolve_x0(p["system"], p["x0"] if p["x0"] is not None else FLOW_X0.get(p["system"]),
                   loss.dim)
    p["x0"] = [float(v) for v in x]
    return p, seed, loss, x


class _Solution:
    """What :func:`_integrate` returns: samples at t = 0, 1, ... and why it stopped."""

    def __init__(self, y, status, message, nfev, seconds):
        self.y, self.status, self.message = y, status, message
        self.nfev, self.seconds = nfev, seconds


def _integrate(rhs, x, steps, rtol, method=METHOD, max_evals=None, max_seconds=MAX_SECONDS):
    """Integrate dw/dt = rhs(t, w) from t = 0 to ``steps``, sampled at the integers, under a work
    limit: at most ``max_evals`` evaluations of rhs (default :func:`default_max_evals`) and
    ``max_seconds`` of wall time.  ``status``: 'ok'; 'diverged' (|w| > ESCAPE or not finite);
    'failed' (the budget ran out, or the solver gave up), with the reason in ``message``.  The
    samples reached so far are kept (columns of ``y``), so a failed run still has its start."""
    budget = default_max_evals(steps) if max_evals is None else int(max_evals)
    nfev = [0]

    def fun(t, w):
        nfev[0] += 1
        return rhs(t, w)

    cls = {"RK45": RK45, "LSODA": LSODA, "Radau": Radau}[method]
    t0 = time.perf_counter()
    solver = cls(fun, 0.0, np.asarray(x, dtype=float), float(steps), rtol=rtol, atol=rtol * 1e-3)
    samples = [np.asarray(x, dtype=float).copy()]
    status, message = "ok", "reached the end of the integration interval"
    while solver.status == "running":
        if nfev[0] >= budget:
            status = "failed"
            message = (f"evaluation budget of {budget} rhs calls exhausted at t = {solver.t:.4g} "
                       f"of {steps} (the flow is stiff here: {method} needed steps of "
                       f"{solver.step_size or 0:.2g}); try method='LSODA' or 'Radau', or a "
                       f"smaller lr")
            break
        if time.perf_counter() - t0 > max_seconds:
            status = "failed"
            message = f"wall-time limit of {max_seconds:g} s reached at t = {solver.t:.4g} of {steps}"
            break
        t_prev = solver.t
        msg = solver.step()
        if solver.status == "failed":
            status, message = "failed", f"{method} failed at t = {t_prev:.4g}: {msg}"
            break
        dense = solver.dense_output()
        k0 = len(samples)
        k1 = int(math.floor(min(solver.t, float(steps)) + 1e-12))
        for k in range(k0, k1 + 1):
            samples.append(np.asarray(dense(float(k)), dtype=float))
        w = solver.y
        if not np.all(np.isfinite(w)) or np.abs(w).max() > ESCAPE:
            status = "diverged"
            message = f"|w| left every bounded set (> {ESCAPE:g}) at t = {solver.t:.4g}"
            samples = [v for v in samples if np.all(np.isfinite(v)) and np.abs(v).max() <= ESCAPE]
            break
    y = np.array(samples[:steps + 1]).T
    return _Solution(y, status, message, nfev[0], time.perf_counter() - t0)


def default_max_evals(steps: int) -> int:
    """The default evaluation budget: 100 rhs calls per flow step, at least 20000, many times what
    a smooth flow needs (benchmarks/RESULTS.md); a flow that needs more is stiff (the central flow
    far above the edge, where sigma^2 pulls S back on the time scale tau), and is stopped with
    status 'failed' rather than left to run."""
    return max(20_000, 100 * int(steps))


def _wrap(name, p, seed, loss, sol, timer, central_tau=None):
    w = sol.y.T
    rows = w.shape[0]
    eigs = np.array([np.linalg.eigvalsh(loss.hessian(v))[::-1] for v in w]).reshape(rows, loss.dim)
    channels = {"trajectory": w, "loss": np.array([loss.value(v) for v in w]),
                "sharpness": eigs[:, 0].copy(), "hessian_top": eigs,
                "threshold": np.full(rows, 2.0 / p["lr"]), "lr": np.full(rows, p["lr"])}
    if central_tau is not None:
        s2 = np.empty(rows)
        for i, v in enumerate(w):
            s, u = top_eigen(loss.hessian(v))
            s2[i] = sigma2(loss.grad(v), loss.d3(v, u), s, p["lr"], central_tau)
        channels["central_sigma2"] = s2
        channels["central_loss"] = channels["loss"] + 0.5 * s2 * channels["sharpness"]
    status = sol.status if sol.status != "ok" or rows == p["steps"] + 1 else "failed"
    solver = {"method": p["method"], "rtol": p["rtol"], "nfev": int(sol.nfev),
              "max_evals": p["max_evals"], "message": str(sol.message),
              "seconds": float(sol.seconds)}
    return make_trace(name, p, seed, channels, status=status, timings=timer.timings,
                      threshold_convention="gd", loss=loss.description, solver=solver)


@entry_point(FLOW_PARAMS)
def gradient_flow(system: str, lr: float, steps: int, x0, spectrum, rotated: bool, degree: int,
                  rtol: float, method: str, max_evals: int | None, *,
                  seed: int | None = None) -> Trace:
    """Gradient flow dw/dt = -lr grad L (t in GD steps) on a toy of :mod:`dynsim.sims.eos`,
    sampled at t = 0..steps (scipy's ``method``: RK45 by default, LSODA or Radau for stiff flows),
    under a work limit (``max_evals`` rhs calls, default :func:`default_max_evals`, and
    ``MAX_SECONDS`` of wall time): a run that exhausts it stops with status ``failed`` and the
    reason in ``meta['solver']['message']``, keeping the samples it reached.  Channels as GD's (``trajectory``, ``loss``,
    ``sharpness``, ``hessian_top``, ``threshold`` = 2/lr, ``lr``); ``x0`` as for the toys, except
    that the minimalist toy starts at (3.3, 0.05) by default (``FLOW_X0``)."""
    p, seed, loss, x = flow_setup(dict(system=system, lr=lr, steps=steps, x0=x0, spectrum=spectrum,
                                   rotated=rotated, degree=degree, rtol=rtol, method=method,
                                   max_evals=max_evals), seed, FLOW_PARAMS, "flow.gradient")
    lr_ = p["lr"]
    timer = Timer()
    with timer.phase("integrate"):
        sol = _integrate(lambda t, w: -lr_ * loss.grad(w), x, p["steps"], p["rtol"], p["method"],
                         p["max_evals"])
    with timer.phase("wrap"):
        return _wrap("flow.gradient", p, seed, loss, sol, timer)


@entry_point(CENTRAL_PARAMS)
def central_flow(system: str, lr: float, steps: int, x0, spectrum, rotated: bool, degree: int,
                 tau: float, rtol: float, method: str, max_evals: int | None, *,
                 seed: int | None = None) -> Trace:
    """The central flow (module docstring) on a toy, sampled at t = 0..steps, under the work
    limit of :func:`gradient_flow` (far above the edge the flow is stiff: S is pulled back to
    2/lr on the time scale ``tau``, and RK45 stops with status ``failed``).  Besides GD's
    channels: ``central_sigma2`` (sigma^2(t)) and ``central_loss`` (L + sigma^2 S / 2, the
    predicted time-averaged loss of GD)."""
    p, seed, loss, x = flow_setup(dict(system=system, lr=lr, steps=steps, x0=x0, spectrum=spectrum,
                                   rotated=rotated, degree=degree, rtol=rtol, method=method,
                                   max_evals=max_evals, tau=tau), seed, CENTRAL_PARAMS,
                              "flow.central")
    lr_, tau_ = p["lr"], p["tau"]

    def rhs(t, w):
        g = loss.grad(w)
        s, u = top_eigen(loss.hessian(w))
        gs = loss.d3(w, u)
        return -lr_ * (g + 0.5 * sigma2(g, gs, s, lr_, tau_) * gs)

    timer = Timer()
    with timer.phase("integrate"):
        sol = _integrate(rhs, x, p["steps"], p["rtol"], p["method"], p["max_evals"])
    with timer.phase("wrap"):
        return _wrap("flow.central", p, seed, loss, sol, timer, central_tau=tau_)




__all__ = ["central_flow", "default_max_evals", "flow_setup", "gradient_flow", "sigma2"]
