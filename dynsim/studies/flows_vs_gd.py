"""Gradient flow and the central flow against GD: how far each continuous-time model stays from
GD's time averages while GD is at the edge of stability.

:func:`flows_vs_gd` runs GD first and refuses a diverging GD before integrating anything, then
integrates gradient flow and the central flow (J. Cohen, A. Damian, A. Talwalkar, J. Z. Kolter &
J. D. Lee, "Understanding Optimization in Deep Learning with Central Flows", ICLR 2025,
arXiv:2410.24206; :mod:`dynsim.sims.flows`) from the same start, and compares them over the first
sustained stretch of GD at the edge (:func:`dynsim.analysis.tracking.edge_window`), with bounded
relative gaps (:class:`FlowComparison`).

Not built: Edge Flow (P. Marion, arXiv:2606.18080, 2026); its equations could not be read, and a
guessed version would be worse than none.
"""

from __future__ import annotations

import dataclasses
import textwrap
from dataclasses import dataclass

import numpy as np

from dynsim.analysis.results import Estimate
from dynsim.analysis.tracking import edge_window as find_edge_window, time_average, tracking_gap
from dynsim.sims.eos.systems import run_toy
from dynsim.params import Float, Int, check_params, entry_point
from dynsim.sims.flows import CENTRAL_PARAMS, central_flow, flow_setup, gradient_flow
from dynsim.studies.base import StudyResult
from dynsim.trace import Trace

EDGE_FLOW_NOTE = ("Edge Flow (P. Marion 2026, arXiv:2606.18080): not built, its equations could "
                  "not be read")


EDGE_TOL = 0.05       # GD at the edge: |time-averaged sharpness x lr/2 - 1| <= EDGE_TOL ...
EDGE_WINDOW = 50      # ... for at least EDGE_WINDOW consecutive steps (tracking.edge_window)
FLOOR_FACTOR = 1e3    # loss floor = FLOOR_FACTOR rtol^2 L(x0) (see flows_vs_gd)
WIDTH = 100           # printed lines fit a terminal
# the central flow's parameters (one start for GD and both flows) and the comparison's own
PARAMS = {
    **CENTRAL_PARAMS,
    "system": dataclasses.replace(CENTRAL_PARAMS["system"], help="Toy loss (not quadratic: there "
                                  "the central flow is gradient flow)."),
    "lr": dataclasses.replace(CENTRAL_PARAMS["lr"], help="Learning rate of GD."),
    "steps": dataclasses.replace(CENTRAL_PARAMS["steps"], help="Steps (flow time)."),
    "average": Int(1, 10**6, default=10, help="GD time average, in steps (at most steps)."),
    "edge_tol": Float(0.0, 1.0, lo_open=True, hi_open=True, default=EDGE_TOL,
                      help="GD is at the edge while |averaged sharpness x lr/2 - 1| <= this ..."),
    "edge_window": Int(1, 10**6, default=EDGE_WINDOW,
                       help="... for at least this many consecutive steps."),
}


@dataclass(frozen=True)
class FlowComparison(StudyResult):
    """GD and the two flows from one start, and how far each flow stays from GD's time averages
    (over ``average`` steps) while GD is at the edge: over [start, stop), the first stretch of at
    least ``edge_window`` steps where GD's time-averaged sharpness ratio S lr / 2 stays within
    ``edge_tol`` of 1 (:func:`dynsim.analysis.tracking.edge_window`); start is None, with the
    reason in ``note``, when GD never gets there (the degree-2 product: it ends below the edge,
    ``product_degree2_final_sharpness``).

    Gaps, each a bounded relative error (not a log ratio, which a solver-resolution loss of 1e-17
    makes as large as one likes):

    * ``loss_gap_*``: mean over the window of |flow loss - GD average| / GD average (per step;
      the central flow's loss is its predicted time average L + sigma^2 S / 2).  A flow whose loss
      falls far below GD's has a gap -> 1, not more.
    * ``mean_loss_error_*``: |mean of the flow's loss - mean of GD's loss| / mean of GD's loss over
      the window (the relative error of the time-averaged loss).
    * ``sharpness_gap_*``: mean of |flow S - GD average| / (2/lr).  The central flow holds S = 2/lr,
      so its gap is at most edge_tol (+ its margin error); gradient flow's is its distance from
      the edge.
    * ``floor_*``: fraction of window steps where that flow's loss is at or below ``loss_floor``
      (the solver's resolution): its loss gap there is 1 - (floor / GD) ~ 1 whatever the solver
      tolerance.  If GD's averaged loss itself reaches the floor, no loss gap is measured."""

    gd: Trace
    gradient: Trace
    central: Trace
    average: int
    edge_tol: float
    edge_window: int
    start: int | None
    stop: int | None
    loss_floor: float
    loss_gap_central: Estimate | None
    loss_gap_gradient: Estimate | None
    sharpness_gap_central: Estimate | None
    sharpness_gap_gradient: Estimate | None
    mean_loss_error_central: float | None = None
    mean_loss_error_gradient: float | None = None
    floor_central: float | None = None
    floor_gradient: float | None = None
    note: str = ""

    def gd_average(self) -> tuple[np.ndarray, np.ndarray]:
        """GD's time-averaged loss and sharpness."""
        return (time_average(self.gd["loss"], self.average),
                time_average(self.gd["sharpness"], self.average))

    def to_dict(self) -> dict:
        """Settings, window, gaps and statuses as plain JSON; the runs and the per-step gap series
        stay in the run folders' channels."""
        def gap(e):
            return None if e is None else {**e.__dict__, "data": {k: v for k, v in e.data.items()
                                                                  if k != "series"}}

        p = self.central.params
        return {"system": p["system"], "lr": p["lr"], "steps": p["steps"], "seed": self.gd.seed,
                "x0": self.gd.params["x0"], "tau": p["tau"], "method": p["method"],
                "average": self.average, "edge_tol": self.edge_tol,
                "edge_window": self.edge_window, "start": self.start,
                "stop": None if self.stop is None else self.stop - 1,
                "loss_floor": self.loss_floor,
                "loss_gap_central": gap(self.loss_gap_central),
                "loss_gap_gradient": gap(self.loss_gap_gradient),
                "mean_loss_error_central": self.mean_loss_error_central,
                "mean_loss_error_gradient": self.mean_loss_error_gradient,
                "floor_central": self.floor_central, "floor_gradient": self.floor_gradient,
                "sharpness_gap_central": gap(self.sharpness_gap_central),
                "sharpness_gap_gradient": gap(self.sharpness_gap_gradient), "note": self.note,
                "statuses": self.statuses()}

    def statuses(self) -> dict:
        return {"gd": self.gd.meta["status"], "gradient_flow": self.gradient.meta["status"],
                "central_flow": self.central.meta["status"]}

    def __str__(self) -> str:
        p, st = self.central.params, self.statuses()
        rows = [f"flows  system={p['system']}  lr={p['lr']:g}  steps={p['steps']}  "
                f"seed={self.gd.seed}  x0={self.gd.params['x0']}  tau={p['tau']:g}  "
                f"average={self.average}",
                f"statuses: GD {st['gd']}, gradient flow {st['gradient_flow']}, "
                f"central flow {st['central_flow']}"]
        if self.start is None:
            rows.append(self.note)
        else:
            rows.append(f"GD at the edge over steps {self.start}-{self.stop - 1} (averaged "
                        f"sharpness ratio within {self.edge_tol:g} of 1 for >= {self.edge_window} "
                        "steps)")
            rows.append("gaps to GD's time averages there:")
            rows.append(f"{'':<15} {'loss gap per step':>19} {'window-mean loss':>17} "
                        f"{'sharpness gap':>16}")
            for label, lg, me, sg in (
                    ("central flow", self.loss_gap_central, self.mean_loss_error_central,
                     self.sharpness_gap_central),
                    ("gradient flow", self.loss_gap_gradient, self.mean_loss_error_gradient,
                     self.sharpness_gap_gradient)):
                lcol = "-" if lg is None else f"{lg.value:.4g} ± {lg.stderr:.2g}"
                mcol = "-" if me is None else f"{me:.4g}"
                rows.append(f"{label:<15} {lcol:>19} {mcol:>17} "
                            f"{sg.value:>9.4g} ± {sg.stderr:<6.2g}")
            rows.append("loss gaps: |flow - GD average| / GD average (per step, then of the "
                        "window means; the central flow's loss is L + sigma^2 S / 2); sharpness "
                        "gap: |flow - GD average| / (2/lr); ± = spread over time")
            if self.note:
                rows.append(f"note: {self.note}")
        rows.append(EDGE_FLOW_NOTE)
        out = []
        for row in rows:
            out += textwrap.wrap(row, WIDTH, subsequent_indent="  ") if len(row) > WIDTH else [row]
        return "\n".join(out)

    def figure(self):
        from dynsim.plots.eos import plot_flows

        return plot_flows(self)


@entry_point(PARAMS)
def flows_vs_gd(system: str, lr: float, steps: int, x0, spectrum, rotated: bool, degree: int,
                tau: float, rtol: float, average: int, edge_tol: float, edge_window: int,
                method: str, max_evals: int | None, *, seed: int | None = None) -> FlowComparison:
    """Run GD, then gradient flow and the central flow from the same start, and measure how far
    each flow's loss and sharpness stay from GD's time averages while GD is at the edge (see
    :class:`FlowComparison`).

    GD runs first: if it diverges there is nothing for the flows to track, and a ValueError is
    raised at once (before any integration).  The flows run under the work limit of
    :func:`central_flow`; a flow that stops early ('failed' or 'diverged') is compared over the
    steps it reached, and ``note`` says so.  ``loss_floor`` = FLOOR_FACTOR x rtol^2 x L(x0): a
    solver at relative tolerance rtol resolves the residual of the loss to ~rtol, hence the loss
    to ~rtol^2 of its start (gradient flow on the minimalist toy reaches this floor:
    benchmarks/RESULTS.md).  ``tau`` = 0.25 is the authors' 4 substeps (``central_flow_substeps``)."""
    own = check_params(PARAMS, dict(average=average, edge_tol=edge_tol, edge_window=edge_window),
                       "flows_vs_gd")
    average, edge_tol, edge_window = own["average"], own["edge_tol"], own["edge_window"]
    p, seed, loss, x = flow_setup(dict(system=system, lr=lr, steps=steps, x0=x0,
                                       spectrum=spectrum, rotated=rotated, degree=degree,
                                       rtol=rtol, method=method, max_evals=max_evals, tau=tau),
                                  seed, CENTRAL_PARAMS, "flows_vs_gd")
    lr, steps, x0 = p["lr"], p["steps"], p["x0"]
    if average > steps:
        raise ValueError(f"`average` must be <= `steps` = {steps} (GD's time average is over "
                         f"that many steps), got {average}")
    gd = run_toy(p["system"], opt="gd", lr=lr, steps=steps, x0=x0, jacobian=False,
                 spectrum=spectrum, rotated=rotated, degree=degree, seed=seed)
    if gd.meta["status"] == "diverged" or not np.all(np.isfinite(gd["loss"])):
        raise ValueError(f"GD diverges on {system!r} at lr={lr:g} from x0={x0} (step "
                         f"{len(gd['loss'])} of {steps}): nothing for the flows to track; "
                         "lower lr")
    kw = dict(system=p["system"], lr=lr, steps=steps, x0=x0, spectrum=spectrum, rotated=rotated,
              degree=degree, rtol=p["rtol"], method=p["method"], max_evals=p["max_evals"],
              seed=seed)
    central = central_flow(tau=p["tau"], **kw)
    gradient = gradient_flow(**kw)
    la = time_average(gd["loss"], average)
    sa = time_average(gd["sharpness"], average)
    floor = max(FLOOR_FACTOR * p["rtol"] ** 2 * loss.value(x), np.finfo(float).tiny)
    notes = [f"{name} stopped at step {len(tr['loss']) - 1} ({tr.meta['status']}: "
             f"{tr.meta['solver']['message']})"
             for name, tr in (("central flow", central), ("gradient flow", gradient))
             if tr.meta["status"] != "ok"]
    n = min(la.size, central["loss"].size, gradient["loss"].size)
    win = find_edge_window(sa[:n] * lr / 2.0, tol=edge_tol, window=edge_window)
    base = dict(gd=gd, gradient=gradient, central=central, average=int(average),
                edge_tol=float(edge_tol), edge_window=int(edge_window), loss_floor=float(floor))
    if win is None:
        notes.insert(0, f"GD is never at the edge: its {average}-step averaged sharpness ratio "
                        f"S lr/2 never stays within {edge_tol:g} of 1 for {edge_window} steps "
                        f"(it ends at {sa[n - 1] * lr / 2:.3g}); no gaps measured")
        return FlowComparison(**base, start=None, stop=None, loss_gap_central=None,
                              loss_gap_gradient=None, sharpness_gap_central=None,
                              sharpness_gap_gradient=None, note="; ".join(notes))
    start, stop = win
    ref = la[start:stop]
    s_gaps = [tracking_gap(sa, tr["sharpness"], start=start, stop=stop, scale=2.0 / lr,
                           what="sharpness") for tr in (central, gradient)]
    if np.any(ref <= floor):
        notes.append(f"GD's averaged loss reaches the floor {floor:.2g} in the window: no loss "
                     "gaps measured")
        return FlowComparison(**base, start=start, stop=stop, loss_gap_central=None,
                              loss_gap_gradient=None, sharpness_gap_central=s_gaps[0],
                              sharpness_gap_gradient=s_gaps[1], note="; ".join(notes))
    models = (central["central_loss"], gradient["loss"])
    l_gaps = [tracking_gap(la, m, start=start, stop=stop, what="loss") for m in models]
    mean_err = [float(abs(m[start:stop].mean() - ref.mean()) / ref.mean()) for m in models]
    floors = [float(np.mean(m[start:stop] <= floor)) for m in models]
    for name, f in zip(("central flow", "gradient flow"), floors):
        if f > 0:
            notes.append(f"{name}'s loss is at the solver floor ({floor:.2g}) at {100 * f:.0f}% "
                         "of the window: its loss gap there is ~1 at any rtol (it predicts ~0 "
                         "loss)")
    return FlowComparison(**base, start=start, stop=stop, loss_gap_central=l_gaps[0],
                          loss_gap_gradient=l_gaps[1], sharpness_gap_central=s_gaps[0],
                          sharpness_gap_gradient=s_gaps[1], mean_loss_error_central=mean_err[0],
                          mean_loss_error_gradient=mean_err[1], floor_central=floors[0],
                          floor_gradient=floors[1], note="; ".join(notes))


__all__ = ["EDGE_TOL", "EDGE_WINDOW", "FLOOR_FACTOR", "PARAMS", "FlowComparison", "flows_vs_gd"]
