"""A bifurcation diagram of an optimizer on a toy loss: late iterates, periods and the largest
Lyapunov exponent at each learning rate of a sweep (period doubling into chaos).

:func:`bifurcation_diagram` runs ``eos.bifurcation`` (one run per lr, in parallel) and reads each
run: its period (:func:`dynsim.analysis.orbits.orbit_period`), its state (fixed point, period p,
chaotic, converging, diverging), and over the sweep the largest exponent and the onset of chaos
(the ``bifurcation`` row of ``measure()``).  A run whose kept iterates grow without bound counts as
diverged (:func:`dynsim.analysis.orbits.divergence_steps`, the one rule the measure row applies
too): a positive exponent of an unbounded orbit is divergence, not chaos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynsim.params import entry_point
from dynsim.sims.eos.bifurcation import BIFURCATION_PARAMS
from dynsim.studies.base import StudyResult

# the study's parameters are the simulator's, defaults included: one schema
PARAMS = BIFURCATION_PARAMS

SHOWN = 21  # rows of the printed table (evenly spaced over the sweep)


@dataclass(frozen=True)
class BifurcationResult(StudyResult):
    """The sweep's trace (``eos.bifurcation``) and, per lr: ``period`` (0: none found, -1: the run
    stopped), ``state`` (a label, or 'diverged at step k'), ``diverged`` (the step the run counts
    as diverged at: it stopped there, or 0 when its kept iterates grow; -1: it did not);
    ``summary``: the largest exponent over the runs that did not diverge and the onset of chaos
    (an Estimate; None when every run diverged)."""

    trace: object
    period: tuple[int, ...]
    state: tuple[str, ...]
    diverged: tuple[int, ...]
    summary: object | None

    def to_dict(self) -> dict:
        tr = self.trace
        return {"system": tr.system, "params": tr.params, "seed": tr.seed,
                "threshold_convention": tr.meta["threshold_convention"],
                "lr": tr["bifurcation_lr"], "period": list(self.period),
                "lyapunov_1": tr["bifurcation_lyapunov"][:, 0],
                "lyapunov_1_se": tr["bifurcation_lyapunov_se"][:, 0],
                "diverged_at": tr["bifurcation_diverged_at"], "summary": self.summary}

    def __str__(self) -> str:
        tr, p = self.trace, self.trace.params
        lrs, lam = tr["bifurcation_lr"], tr["bifurcation_lyapunov"][:, 0]
        se, stopped = tr["bifurcation_lyapunov_se"][:, 0], tr["bifurcation_diverged_at"]
        rows = [f"eos.bifurcation  system={p['system']}  opt={p['opt']}  seed={tr.seed}  "
                f"x0={p['x0']}  {p['steps']} steps, last {p['keep']} kept",
                f"{'lr':>10} {'period':>8} {'lambda_1':>10} {'± SE':>8}  state"]
        show = np.unique(np.linspace(0, lrs.size - 1, min(lrs.size, SHOWN)).round().astype(int))
        for i in show:
            if stopped[i] >= 0:
                rows.append(f"{lrs[i]:>10.4g} {'-':>8} {'-':>10} {'-':>8}  {self.state[i]}")
                continue
            per = "none" if self.period[i] == 0 else str(self.period[i])
            rows.append(f"{lrs[i]:>10.4g} {per:>8} {lam[i]:>10.4g} {se[i]:>8.2g}  {self.state[i]}")
        if self.summary is not None:
            s = self.summary
            onset = s.data["chaos_onset_lr"]
            rows.append(f"largest exponent {s.value:.4g} ± {s.stderr:.2g} at lr "
                        f"{s.data['lr_at_max']:.4g}; onset of chaos (lambda_1 > 3 SE): "
                        + ("none in this range" if onset is None else f"lr = {onset:.4g}"))
        return "\n".join(rows)

    def figure(self):
        from dynsim.plots.eos import plot_bifurcation

        return plot_bifurcation(self.trace, flip=minimum_flip_lr(self.trace))


def minimum_flip_lr(trace) -> tuple[float, float] | None:
    """(lr at which the minimum found at the smallest lr loses stability, its sharpness S_min):
    S_min is the late sharpness of the smallest-lr run that settled on a fixed point (period 1),
    and the lr solves threshold(lr) = S_min in the trace's convention (2/S_min for GD).  None when
    no run settled, or for the adaptive conventions (their threshold is on P^-1 H)."""
    from dynsim.analysis.orbits import orbit_period
    from dynsim.analysis.stability import PRECONDITIONED, max_stable_lr

    conv = trace.meta.get("threshold_convention")
    if conv is None or conv in PRECONDITIONED:
        return None
    proj = np.asarray(trace["bifurcation_iterates"])
    sharp = np.asarray(trace["bifurcation_sharpness"])
    div = np.asarray(trace["bifurcation_diverged_at"])
    p = trace.params
    for i in np.argsort(np.asarray(trace["bifurcation_lr"])):
        if div[i] < 0 and np.all(np.isfinite(proj[i])) and orbit_period(proj[i]) == 1:
            s_min = float(np.median(sharp[i]))
            if not s_min > 0:
                return None
            return float(max_stable_lr(conv, s_min, beta=p.get("beta", 0.9))), s_min
    return None


@entry_point(PARAMS)
def bifurcation_diagram(system: str, opt: str, lr_min: float, lr_max: float, n_lr: int,
                        steps: int, keep: int, *, x0, degree: int, spectrum, rotated: bool,
                        beta: float, beta1: float, beta2: float | None, eps: float,
                        noise_std: float | None, seed: int | None = None,
                        progress=None) -> BifurcationResult:
    """Sweep ``n_lr`` learning rates in [lr_min, lr_max] of ``opt`` on ``system`` (the toy's and
    the optimizer's other parameters as :func:`dynsim.sims.eos.bifurcation` takes them) and read
    each run (module docstring)."""
    from dynsim import registry
    from dynsim.analysis import measure
    from dynsim.analysis.orbits import divergence_steps, orbit_period, orbit_state

    trace = registry.run("eos.bifurcation", system=system, opt=opt, lr_min=lr_min, lr_max=lr_max,
                         n_lr=n_lr, steps=steps, keep=keep, x0=x0, degree=degree,
                         spectrum=spectrum, rotated=rotated, beta=beta, beta1=beta1, beta2=beta2,
                         eps=eps, noise_std=noise_std, seed=seed, progress=progress)
    windows, stopped = trace["bifurcation_iterates"], trace["bifurcation_diverged_at"]
    lam = trace["bifurcation_lyapunov"][:, 0]
    se = trace["bifurcation_lyapunov_se"][:, 0]
    period, state = [], []
    for i in range(stopped.size):
        if stopped[i] >= 0:
            period.append(-1)
            state.append(f"diverged at step {stopped[i]}")
        else:
            period.append(orbit_period(windows[i]))
            state.append(orbit_state(windows[i], lam[i], se[i], period[-1]))
    summary = measure(trace, only=["bifurcation"]).get("bifurcation")
    return BifurcationResult(trace=trace, period=tuple(int(v) for v in period),
                             state=tuple(state),
                             diverged=tuple(int(v) for v in divergence_steps(stopped, windows)),
                             summary=summary)


__all__ = ["PARAMS", "BifurcationResult", "bifurcation_diagram", "minimum_flip_lr"]
