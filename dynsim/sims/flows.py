"""Continuous-time models of gradient descent: gradient flow and the central flow.

Time t is measured in steps of GD with learning rate lr, so flow time t is compared with GD step t.

Gradient flow:  dw/dt = -lr grad L(w).

Central flow (Cohen, Damian, Talwalkar, Kolter & Lee, "Understanding Optimization in Deep Learning
with Central Flows", ICLR 2025, arXiv 2410.24206; REFERENCES.md item 1), one unstable eigenvalue:

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
O(tau x drift) of 2/lr once there and pulls S back to 2/lr if it starts above.  tau = 0.25 matches
the authors' default of 4 substeps per step.  The predicted time average of GD's loss is
L(w) + (sigma^2 / 2) S(w) (their prediction f(w) + 1/2 <U^T H U, X>, with X = sigma^2 for k = 1).
On a quadratic grad S = 0: the central flow is gradient flow (and GD past 2/lr just diverges).

Not built: Edge Flow (P. Marion, arXiv 2606.18080, 2026).  Its equations could not be read here
(REFERENCES.md item 2 lists them as unverified), and a guessed version would be worse than none.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from dataclasses import dataclass

from dynsim.analysis.results import Estimate
from dynsim.analysis.tracking import time_average, tracking_gap
from dynsim.params import Bool, Choice, Float, Floats, Int, check_params
from dynsim.rng import make_rng
from dynsim.sims.eos.losses import LOSSES, MAX_DEGREE, MAX_DIM, make_loss, top_eigen
from dynsim.sims.eos.systems import resolve_x0, run_toy
from dynsim.trace import Timer, Trace, make_trace

FLOW_PARAMS = {
    "system": Choice(LOSSES),
    "lr": Float(0.0, None, lo_open=True),
    "steps": Int(1, 10**6),
    "x0": Floats(1, MAX_DIM),
    "spectrum": Floats(1, MAX_DIM),
    "rotated": Bool(),
    "degree": Int(2, MAX_DEGREE),
    "rtol": Float(1e-13, 1e-3),
}
CENTRAL_PARAMS = {**FLOW_PARAMS, "tau": Float(0.0, None, lo_open=True)}
METHOD = "RK45"
ESCAPE = 1e50
# start of the flows: GD from (3.3, 0.05) on the minimalist toy at lr 0.1 reaches the edge in a few
# steps and oscillates there (period 2 about a centre) with no chaotic transient, unlike the
# calibration start (4.0, 0.1) of REFERENCES.md item 14.
FLOW_X0 = {"minimalist": (3.3, 0.05)}


def sigma2(g: np.ndarray, grad_s: np.ndarray, sharpness: float, lr: float, tau: float) -> float:
    """The central flow's sigma^2 at one point (module docstring); 0 where grad S = 0."""
    norm2 = float(grad_s @ grad_s)
    if norm2 == 0.0:
        return 0.0
    margin = 2.0 / lr - sharpness
    return max(0.0, 2.0 * (-float(grad_s @ g) - margin / (tau * lr)) / norm2)


def _setup(system, lr, steps, x0, spectrum, rotated, degree, rtol, seed, extra, schema, name):
    p = check_params(schema, dict(system=system, lr=lr, steps=steps, x0=x0, spectrum=spectrum,
                                  rotated=rotated, degree=degree, rtol=rtol, **extra), name)
    seed, rng = make_rng(seed)
    loss = make_loss(p["system"], spectrum=p["spectrum"], rotated=p["rotated"], degree=p["degree"],
                     rng=rng)
    x = resolve_x0(p["system"], p["x0"] if p["x0"] is not None else FLOW_X0.get(p["system"]),
                   loss.dim)
    p["x0"] = [float(v) for v in x]
    return p, seed, loss, x


def _integrate(rhs, x, steps, rtol):
    def escape(t, w):
        return ESCAPE - np.abs(w).max()
    escape.terminal = True
    return solve_ivp(rhs, (0.0, float(steps)), x, method=METHOD, t_eval=np.arange(steps + 1.0),
                     rtol=rtol, atol=rtol * 1e-3, events=escape)


def _wrap(name, p, seed, loss, sol, timer, central_tau=None):
    w = sol.y.T
    rows = w.shape[0]
    eigs = np.array([np.linalg.eigvalsh(loss.hessian(v))[::-1] for v in w]).reshape(rows, loss.dim)
    channels = {"proj": w, "loss": np.array([loss.value(v) for v in w]),
                "sharpness": eigs[:, 0].copy(), "hessian_top": eigs,
                "threshold": np.full(rows, 2.0 / p["lr"]), "lr": np.full(rows, p["lr"])}
    if central_tau is not None:
        s2 = np.empty(rows)
        for i, v in enumerate(w):
            s, u = top_eigen(loss.hessian(v))
            s2[i] = sigma2(loss.grad(v), loss.d3(v, u), s, p["lr"], central_tau)
        channels["central_sigma2"] = s2
        channels["central_loss"] = channels["loss"] + 0.5 * s2 * channels["sharpness"]
    ok = sol.status == 0 and rows == p["steps"] + 1
    status = "ok" if ok else ("diverged" if sol.status == 1 else "failed")
    solver = {"method": METHOD, "rtol": p["rtol"], "nfev": int(sol.nfev),
              "message": str(sol.message)}
    return make_trace(name, p, seed, channels, status=status, timings=timer.timings,
                      threshold_convention="gd", loss=loss.description, solver=solver)


def gradient_flow(system: str = "minimalist", lr: float = 0.1, steps: int = 1000, x0=None,
                  spectrum=(15.0, 1.0), rotated: bool = False, degree: int = 2,
                  rtol: float = 1e-8, *, seed: int | None = None) -> Trace:
    """Gradient flow dw/dt = -lr grad L (t in GD steps) on a toy of :mod:`dynsim.sims.eos`,
    sampled at t = 0..steps (scipy ``solve_ivp``, RK45).  Channels as GD's (``proj``, ``loss``,
    ``sharpness``, ``hessian_top``, ``threshold`` = 2/lr, ``lr``); ``x0`` as for the toys, except
    that the minimalist toy starts at (3.3, 0.05) by default (``FLOW_X0``)."""
    p, seed, loss, x = _setup(system, lr, steps, x0, spectrum, rotated, degree, rtol, seed, {},
                              FLOW_PARAMS, "flow.gradient")
    lr_ = p["lr"]
    timer = Timer()
    with timer.phase("integrate"):
        sol = _integrate(lambda t, w: -lr_ * loss.grad(w), x, p["steps"], p["rtol"])
    with timer.phase("wrap"):
        return _wrap("flow.gradient", p, seed, loss, sol, timer)


def central_flow(system: str = "minimalist", lr: float = 0.1, steps: int = 1000, x0=None,
                 spectrum=(15.0, 1.0), rotated: bool = False, degree: int = 2, tau: float = 0.25,
                 rtol: float = 1e-8, *, seed: int | None = None) -> Trace:
    """The central flow (module docstring) on a toy, sampled at t = 0..steps.  Besides GD's
    channels: ``central_sigma2`` (sigma^2(t)) and ``central_loss`` (L + sigma^2 S / 2, the
    predicted time-averaged loss of GD)."""
    p, seed, loss, x = _setup(system, lr, steps, x0, spectrum, rotated, degree, rtol, seed,
                              {"tau": tau}, CENTRAL_PARAMS, "flow.central")
    lr_, tau_ = p["lr"], p["tau"]

    def rhs(t, w):
        g = loss.grad(w)
        s, u = top_eigen(loss.hessian(w))
        gs = loss.d3(w, u)
        return -lr_ * (g + 0.5 * sigma2(g, gs, s, lr_, tau_) * gs)

    timer = Timer()
    with timer.phase("integrate"):
        sol = _integrate(rhs, x, p["steps"], p["rtol"])
    with timer.phase("wrap"):
        return _wrap("flow.central", p, seed, loss, sol, timer, central_tau=tau_)


gradient_flow.PARAMS = FLOW_PARAMS
central_flow.PARAMS = CENTRAL_PARAMS


@dataclass(frozen=True)
class FlowComparison:
    """GD and the two flows from one start, and how far each flow stays from GD's time averages
    (over ``average`` steps) once GD is at the edge: from ``start``, the first step at which GD's
    time-averaged sharpness reaches ``edge_level`` x 2/lr (None, and no gaps, if it never does).
    Loss gaps are |log10(flow / GD average)| in decades (the central flow's loss is its predicted
    time average L + sigma^2 S / 2); sharpness gaps are |flow - GD average| in units of 2/lr."""

    gd: Trace
    gradient: Trace
    central: Trace
    average: int
    edge_level: float
    start: int | None
    loss_gap_central: Estimate | None
    loss_gap_gradient: Estimate | None
    sharpness_gap_central: Estimate | None
    sharpness_gap_gradient: Estimate | None

    def gd_average(self) -> tuple[np.ndarray, np.ndarray]:
        """GD's time-averaged loss and sharpness."""
        return (time_average(self.gd["loss"], self.average),
                time_average(self.gd["sharpness"], self.average))

    def __str__(self) -> str:
        if self.start is None:
            return (f"GD never reached {self.edge_level:g} x 2/lr (time-averaged sharpness): "
                    f"no gaps measured")
        return (f"from step {self.start} (GD at the edge): loss gap central "
                f"{self.loss_gap_central.value:.3g}, gradient {self.loss_gap_gradient.value:.3g} "
                f"(decades); sharpness gap central {self.sharpness_gap_central.value:.3g}, "
                f"gradient {self.sharpness_gap_gradient.value:.3g} (x 2/lr)")


def flows_vs_gd(system: str = "minimalist", lr: float = 0.1, steps: int = 1000, x0=None,
                spectrum=(15.0, 1.0), rotated: bool = False, degree: int = 2, tau: float = 0.25,
                rtol: float = 1e-8, average: int = 10, edge_level: float = 0.9, *,
                seed: int | None = None) -> FlowComparison:
    """Run GD, gradient flow and the central flow from one start and measure how far each flow's
    loss (the central flow's predicted time-averaged loss L + sigma^2 S / 2) and sharpness stay from
    GD's time averages once GD is at the edge (see :class:`FlowComparison`)."""
    if isinstance(average, bool) or not isinstance(average, (int, np.integer)) or average < 1:
        raise ValueError(f"average must be an integer >= 1, got {average!r}")
    if isinstance(edge_level, bool) or not isinstance(edge_level, (int, float)) \
            or not 0 < edge_level <= 1:
        raise ValueError(f"edge_level must be in (0, 1], got {edge_level!r}")
    kw = dict(system=system, lr=lr, steps=steps, x0=x0, spectrum=spectrum, rotated=rotated,
              degree=degree, rtol=rtol, seed=seed)
    central = central_flow(tau=tau, **kw)
    seed = central.seed
    kw.update(seed=seed, x0=central.params["x0"])
    gradient = gradient_flow(**kw)
    gd = run_toy(system, opt="gd", lr=lr, steps=steps, x0=central.params["x0"], jacobian=False,
                 spectrum=spectrum, rotated=rotated, degree=degree, seed=seed)
    la = time_average(gd["loss"], average)
    sa = time_average(gd["sharpness"], average)
    if gd.meta["status"] == "diverged" or not np.all(np.isfinite(gd["loss"])):
        raise ValueError(f"GD diverges on {system!r} at lr={lr:g}: nothing for the flows to track; "
                         "lower lr")
    reached = np.nonzero(sa * lr / 2.0 >= edge_level)[0]
    n = min(la.size, central["loss"].size, gradient["loss"].size)
    start = int(reached[0]) if reached.size and reached[0] < n - 2 else None
    gaps = [None] * 4
    if start is not None:
        thr = 2.0 / lr
        floor = np.finfo(float).tiny     # a loss can reach exactly 0 (GD's too): count it as tiny
        la_pos = np.maximum(la[:n], floor)
        gaps = [tracking_gap(la_pos, np.maximum(central["central_loss"][:n], floor), start=start,
                             log=True, what="loss"),
                tracking_gap(la_pos, np.maximum(gradient["loss"][:n], floor), start=start,
                             log=True, what="loss"),
                tracking_gap(sa[:n], central["sharpness"][:n], start=start, scale=thr,
                             what="sharpness"),
                tracking_gap(sa[:n], gradient["sharpness"][:n], start=start, scale=thr,
                             what="sharpness")]
    return FlowComparison(gd, gradient, central, int(average), float(edge_level), start, *gaps)


__all__ = ["FlowComparison", "central_flow", "flows_vs_gd", "gradient_flow", "sigma2"]
