"""The self-stabilization setting of Damian, Nichani & Lee ("Self-Stabilization: The Implicit Bias
of Gradient Descent at the Edge of Stability", ICLR 2023, arXiv 2209.15594;
``projected_gd_constraint``):
GD at the edge of stability tracks the *constrained trajectory*, projected gradient descent onto
the stable set M = {w : S(w) <= 2/lr} (S the sharpness, the top Hessian eigenvalue):

    w'_(t+1) = w_t - lr grad L(w_t),       w_(t+1) = proj_M(w'_(t+1)).

The mechanism is the cubic term of the loss: when S exceeds 2/lr, GD's iterates oscillate along
the top eigenvector u with growing amplitude x, and the third derivative adds -lr x^2/2 grad S to
the step, which lowers S back to the edge; averaged over the oscillation, GD moves like the
projected step.  (The central flow of :mod:`dynsim.sims.flows` is the continuous-time form of the
same idea.)

The projection: where S(w') > 2/lr, Newton steps along grad S = D^3 L[u, u, .] (analytic for the
toys), v <- v - (S(v) - 2/lr) grad S(v) / |grad S(v)|^2, until S(v) <= 2/lr + ``tol``: the step to
the level set S = 2/lr along its normal, which is the Euclidean projection to first order in the
distance moved (the toys' level sets are smooth where grad S != 0).  Only the sharpness constraint
of the paper's set is imposed (their M also asks grad L . u = 0, which GD's oscillation averages
away; it holds to first order on the projected path).  A step whose projection does not converge
stops the run with status ``failed`` and the reason.
"""

from __future__ import annotations

import numpy as np

from dynsim.params import Float, Int, check_params, entry_point
from dynsim.rng import make_rng
from dynsim.sims.eos.losses import TOY_PARAMS, make_loss, top_eigen
from dynsim.sims.eos.systems import resolve_x0
from dynsim.trace import Timer, Trace, make_trace

PROJECTED_PARAMS = {
    **TOY_PARAMS,
    "tol": Float(0.0, None, lo_open=True, default=1e-9,
                 help="The projection's target: S <= 2/lr + tol."),
    "newton_iters": Int(1, 1000, default=50, help="Newton steps per projection at most."),
}


def project_to_stable(loss, v: np.ndarray, lr: float, tol: float, iters: int
                      ) -> tuple[np.ndarray, int]:
    """v moved onto {S <= 2/lr + tol} by Newton steps along grad S (module docstring); returns
    (point, Newton steps used), steps = -1 when it did not get there (grad S = 0, or no
    convergence in ``iters``)."""
    edge = 2.0 / lr
    for k in range(iters + 1):
        s, u = top_eigen(loss.hessian(v))
        if s <= edge + tol:
            return v, k
        if k == iters:
            break
        gs = loss.d3(v, u)
        norm2 = float(gs @ gs)
        if not norm2 > 0:
            break
        v = v - (s - edge) * gs / norm2
    return v, -1


@entry_point(PROJECTED_PARAMS)
def projected_gd(system: str, lr: float, steps: int, x0, spectrum, rotated: bool, degree: int,
                 tol: float, newton_iters: int, *, seed: int | None = None) -> Trace:
    """Damian et al.'s constrained trajectory on a toy (module docstring), from GD's start point.

    Channels as GD's: ``trajectory`` (the iterate), ``loss``, ``sharpness``, ``hessian_top``,
    ``threshold`` (2/lr, convention gd), ``lr``; and ``projected_newton`` (Newton steps the
    projection took at each step, 0 where the GD step stayed stable).  On a quadratic grad S = 0
    and S is constant: the trajectory is GD's while S <= 2/lr, and past 2/lr there is no stable
    point to project to (status failed)."""
    p = check_params(PROJECTED_PARAMS, dict(system=system, lr=lr, steps=steps, x0=x0,
                                            spectrum=spectrum, rotated=rotated, degree=degree,
                                            tol=tol, newton_iters=newton_iters), "eos.projected")
    seed, rng = make_rng(seed)
    loss = make_loss(p["system"], spectrum=p["spectrum"], rotated=p["rotated"],
                     degree=p["degree"], rng=rng)
    w = resolve_x0(p["system"], p["x0"], loss.dim)
    p["x0"] = [float(v) for v in w]
    timer, status, reason = Timer(), "ok", ""
    path, newton = [w], [0]
    with timer.phase("run"):
        for t in range(p["steps"]):
            w, k = project_to_stable(loss, w - p["lr"] * loss.grad(w), p["lr"], p["tol"],
                                     p["newton_iters"])
            if k < 0 or not np.all(np.isfinite(w)):
                status = "failed"
                reason = (f"step {t + 1}: no stable point reached from the GD step (grad S = 0 or "
                          f"{p['newton_iters']} Newton steps not enough)")
                break
            path.append(w)
            newton.append(k)
    with timer.phase("wrap"):
        x = np.array(path)
        eigs = np.array([np.linalg.eigvalsh(loss.hessian(v))[::-1] for v in x])
        channels = {"trajectory": x, "loss": np.array([loss.value(v) for v in x]),
                    "sharpness": eigs[:, 0].copy(), "hessian_top": eigs,
                    "threshold": np.full(x.shape[0], 2.0 / p["lr"]),
                    "lr": np.full(x.shape[0], p["lr"]),
                    "projected_newton": np.array(newton, dtype=np.int64)}
    extra = {"reason": reason} if reason else {}
    return make_trace("eos.projected", p, seed, channels, status=status, timings=timer.timings,
                      threshold_convention="gd", loss=loss.description, **extra)

