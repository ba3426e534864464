"""Trace adapters of the orbit measures: the sharpness summary, the one stationary window of every
attractor measure, and the Lyapunov spectrum and sharpness dimension of one optimizer run.

* :func:`sharpness_summary`: the late-window median sharpness (block SE), with the start value
  (lambda_max at the start point) and the final one.
* :func:`stationary_window`: the one window rule of the attractor measures (meta stationary_from,
  else the last half of the run).
* :func:`run_dimensions` (= :func:`lyapunov_of` + :func:`sharpness_of`, the adapters the rows of
  ``measure()`` call): the Lyapunov spectrum of the optimizer map and its Kaplan-Yorke dimension,
  and the sharpness dimension (Tuci, Korkmaz, Simsekli & Birdal 2026, "Generalization at the Edge
  of Stability", arXiv:2604.19740), all through the one routine in :mod:`dynsim.analysis.lyapunov`.

The estimators on arrays (periods, convergence, divergence, bifurcation summaries) are in
:mod:`dynsim.analysis.orbits`.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np

from dynsim.analysis.lyapunov import (jacobian_sharpness_exponents, kaplan_yorke_dimension,
                                      lyapunov_spectrum, sharpness_dimension, sharpness_exponents)
from dynsim.analysis.orbits import converging
from dynsim.analysis.results import Estimate
from dynsim.analysis.rows.stability import channel_steps


def _late_block_median(x: np.ndarray, late: float, blocks: int) -> tuple[float, float, int]:
    m = max(1, int(round(late * x.size)))
    lw = x[x.size - m:]
    b = min(blocks, m)
    se = float(np.std([np.median(p) for p in np.array_split(lw, b)], ddof=1) / math.sqrt(b)) \
        if b >= 2 else math.nan
    return float(np.median(lw)), se, m


@dataclass(frozen=True)
class SharpnessSummary(Estimate):
    """The late-window median sharpness (``value``, block SE), with the first, last and largest
    finite sharpness of the run as attributes (they are also in ``data`` for the JSON)."""

    @property
    def start(self) -> float:
        return self.data["start"]

    @property
    def final(self) -> float:
        return self.data["final"]

    @property
    def maximum(self) -> float:
        return self.data["max"]


def sharpness_summary(trace, *, late: float = 0.25, blocks: int = 10) -> SharpnessSummary:
    """The late-window median of the ``sharpness`` channel (block SE), with the start and final
    values and the maximum in ``data`` (``data['start']`` is lambda_max at the start point)."""
    s = np.asarray(trace["sharpness"], dtype=float).reshape(-1)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ValueError(f"trace of {trace.system!r} has no finite sharpness")
    if isinstance(late, bool) or not isinstance(late, (int, float)) or not 0 < late <= 1:
        raise ValueError(f"`late` must be a fraction in (0, 1], got {late!r}")
    med, se, m = _late_block_median(s, late, blocks)
    steps = channel_steps(trace, "sharpness")
    return SharpnessSummary.normal(med, se, method="late median sharpness, block SE", n=m,
                           data={"start": float(s[0]), "final": float(s[-1]),
                                 "max": float(s.max()), "window": (int(steps[-m]), int(steps[-1]))})


LATE = 0.5          # without meta['stationary_from'], the window is the last half of the run
MIN_WINDOW = 50     # steps of Jacobians in the window for a Lyapunov spectrum
MIN_ITERATES = 10   # iterates in the window for sharpness exponents


def stationary_window(trace, name: str, *, late: float | None = None) -> tuple[np.ndarray, str]:
    """(row indices of channel ``name`` in the stationary window, the rule that chose it): the one
    window rule of every attractor measure (Lyapunov spectrum, Kaplan-Yorke, sharpness dimension,
    correlation dimension) of ``measure()``.

    The rows whose step (``<name>_step``, else the row index) is >= ``meta['stationary_from']``
    when the producer records it; else (or when ``late`` is given) the last ``late`` = LATE = 1/2
    of the run's steps, so that the approach to the attractor (progressive sharpening, the
    converging transient) is left out."""
    steps = channel_steps(trace, name)
    if steps.size == 0:
        return np.arange(0), f"channel {name!r} is empty"
    start = trace.meta.get("stationary_from")
    if start is not None and late is None:
        return (np.flatnonzero(steps >= start),
                f"steps >= {int(start)} (meta stationary_from)")
    f = LATE if late is None else late
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
        raise ValueError(f"`late` must be a fraction in (0, 1], got {late!r}")
    s0 = math.ceil(steps[0] + (1 - f) * (steps[-1] - steps[0]))
    why = "" if late is not None else "; no stationary_from in meta"
    return np.flatnonzero(steps >= s0), f"the last {f:.0%} of the run (steps >= {s0}{why})"


def _converging_window(trace, late) -> str | None:
    if "trajectory" not in trace.channels:
        return None
    idx, _ = stationary_window(trace, "trajectory", late=late)
    return converging(np.asarray(trace["trajectory"], dtype=float)[idx]) if idx.size >= 8 else None


LIMIT_RULE = ("; {why}: the attractor is the limit point, estimated by the last iterate of the "
              "window, with an SE per rank of |change of ln sigma_k over the window's last "
              "quarter| (a geometric approach has at most about that still to go)")


def lyapunov_of(trace, *, late: float | None = None, blocks: int = 20, reference=None,
                ky_reference: float | None = None, reference_source: str = "",
                ky_reference_source: str = "") -> dict:
    """{"lyapunov": LyapunovSpectrum, "kaplan_yorke": Estimate (d > 1)} from the ``jacobian``
    channel over :func:`stationary_window` (its first tenth, at most 1000 steps, aligning the QR
    frame; exponents per unit time with the trace's ``dt`` parameter), or {} when the window holds
    fewer than MIN_WINDOW steps.  The window rule is in ``data['stationary_window']`` of both."""
    jac = np.asarray(trace["jacobian"], dtype=float)
    idx, rule = stationary_window(trace, "jacobian", late=late)
    m = idx.size
    if m < MIN_WINDOW:
        return {}
    spec = lyapunov_spectrum(jac[idx], dt=float(trace.params.get("dt", 1.0)),
                             transient=min(1000, m // 10), blocks=min(blocks, m - m // 10),
                             reference=reference, reference_source=reference_source)
    spec.data["stationary_window"] = rule
    out = {"lyapunov": spec}
    if spec.d > 1:
        ky = kaplan_yorke_dimension(spec.exponents, cov=spec.cov, reference=ky_reference,
                                    reference_source=ky_reference_source if ky_reference else "")
        ky.data["stationary_window"] = rule
        out["kaplan_yorke"] = ky
    return out


def _at_steps(trace, name: str, steps: np.ndarray) -> np.ndarray:
    """Rows of channel ``name`` at the given steps (exact matches; ValueError if one is missing)."""
    have = channel_steps(trace, name)
    pos = np.searchsorted(have, steps)
    ok = (pos < have.size) & (have[np.minimum(pos, have.size - 1)] == steps)
    if not ok.all():
        raise ValueError(f"channel {name!r} was not recorded at steps {steps[~ok][:5].tolist()} "
                         f"where hessian_top was")
    return np.asarray(trace[name], dtype=float)[pos]


def sharpness_of(trace, *, late: float | None = None) -> dict:
    """{"sharpness_exponents", "sharpness_dimension"} of Tuci et al. (2026) over
    :func:`stationary_window`; {} where the channels don't allow it.

    * With a ``jacobian`` channel (every eos optimizer): the singular values of the one-step update
      Jacobian (Tuci et al.'s definition; |1 - lr h| for GD), complete.
    * Else for GD / SGD (``threshold_convention`` gd) from ``hessian_top`` (with ``hessian_bottom``
      and ``hessian_density`` + ``hessian_density_grid`` where recorded at the same steps) and one
      ``lr`` over the window; d = ``meta['n_params']`` (the parameter count; for an ``eos.*`` toy
      without it, the width of ``hessian_top``, which holds the whole spectrum there).  Ends only:
      a bound; ends + density: an estimate.
    One SGD path (``params['opt'] == 'sgd'``) with Jacobians: every step is a fresh draw of omega,
    so the exponents are means over steps (``data['sup_rule']``); for a net under SGD the probes'
    Hessian is of a fixed batch, and the exponents are labelled the full-batch proxy.  A window whose ``trajectory`` is still converging
    (:func:`converging`) holds the approach, not the attractor: the attractor is then its limit
    point, estimated by the window's last iterate (LIMIT_RULE, stated in ``data``).  ValueError when the channels exist but can't be used
    (lr changes inside the window, no parameter count)."""
    stochastic = trace.params.get("opt") == "sgd"
    lr_ch = np.asarray(trace["lr"], dtype=float).reshape(-1) if "lr" in trace.channels else None
    if "jacobian" in trace.channels:
        idx, rule = stationary_window(trace, "jacobian", late=late)
        if idx.size < MIN_ITERATES:
            return {}
        lr = float(lr_ch[idx[-1]]) if lr_ch is not None and lr_ch.size > idx[-1] else math.nan
        jac = np.asarray(trace["jacobian"], dtype=float)

        def from_rows(rows, why_rule):
            return jacobian_sharpness_exponents(jac[rows], lr=lr, stochastic=stochastic,
                                                window=why_rule)
        return _sharpness_pair(trace, idx, rule, late, from_rows, averaged=stochastic)
    if trace.meta.get("threshold_convention") != "gd" or "hessian_top" not in trace.channels \
            or lr_ch is None:
        return {}
    idx, rule = stationary_window(trace, "hessian_top", late=late)
    if idx.size < MIN_ITERATES:
        return {}
    steps = channel_steps(trace, "hessian_top")[idx]
    lr = lr_ch[np.minimum(steps, lr_ch.size - 1)]
    if not np.all(lr == lr[-1]):
        raise ValueError(f"lr changes inside the window ({lr.min():g}..{lr.max():g}): the "
                         f"sharpness exponents need one lr")
    h = np.asarray(trace["hessian_top"], dtype=float)[idx].reshape(idx.size, -1)
    channels = {"top": "hessian_top"}
    if "hessian_bottom" in trace.channels:
        h = np.concatenate([h, _at_steps(trace, "hessian_bottom", steps).reshape(idx.size, -1)],
                           axis=1)
        channels["bottom"] = "hessian_bottom"
    if stochastic:
        channels["note"] = ("SGD: the probes' Hessian is of a fixed probe batch, not of fresh "
                            "minibatches, so this is the full-batch proxy of the SGD exponents")
    d = trace.meta.get("n_params")
    if d is None and trace.system.startswith("eos."):
        d = h.shape[1]
    if d is None:
        raise ValueError("no parameter count (meta n_params): the sharpness dimension of a "
                         "partial Hessian supply needs d")
    kw = {}
    if d > h.shape[1] and "hessian_density" in trace.channels \
            and "hessian_density_grid" in trace.channels:
        kw["density"] = _at_steps(trace, "hessian_density", steps)
        grid = np.asarray(trace["hessian_density_grid"], dtype=float)
        kw["density_grid"] = grid if grid.ndim == 1 else _at_steps(trace, "hessian_density_grid",
                                                                    steps)
        channels["bulk"] = "hessian_density (+ hessian_density_grid): quantiles x (d - k)"

    def from_rows(rows, why_rule):
        sub = {k: (v[rows] if k == "density" or (k == "density_grid" and v.ndim > 1) else v)
               for k, v in kw.items()}
        # a net's probe Hessian is of its fixed probe batch, not of fresh minibatches: under SGD
        # these are the full-batch proxy's exponents (channels["note"] says so)
        return sharpness_exponents(h[rows], float(lr[-1]), d=int(d), channels=channels,
                                   window=why_rule, **sub)
    return _sharpness_pair(trace, np.arange(idx.size), rule, late, from_rows)


def _sharpness_pair(trace, rows, rule, late, from_rows, averaged=False) -> dict:
    """Sharpness exponents and dimension over ``rows`` (the window); a converging window (see
    :func:`converging`, on ``trajectory``) is replaced by its limit point (LIMIT_RULE), except where the
    exponents are means over fresh noise draws (``averaged``, one SGD path): one row there would
    be one random draw, and the mean over the window is already the limit's."""
    why = None if averaged else _converging_window(trace, late)
    if why is None:
        exps = from_rows(rows, rule)
        return {"sharpness_exponents": exps, "sharpness_dimension": sharpness_dimension(exps)}
    exps = from_rows(rows[-1:], rule + LIMIT_RULE.format(why=why))
    before = from_rows(rows[-(rows.size // 4) - 1:][:1], rule)
    drift = np.abs(np.array(exps.exponents) - np.array(before.exponents))
    return {"sharpness_exponents": exps,
            "sharpness_dimension": sharpness_dimension(exps, stderr=drift)}


def run_dimensions(trace, *, late: float | None = None, blocks: int = 20) -> dict:
    """The attractor measures of one optimizer run, as ``measure()`` reports them (one adapter,
    one window rule: :func:`stationary_window`): the Lyapunov spectrum of the optimizer map and its
    Kaplan-Yorke dimension (:func:`lyapunov_of`), and the sharpness exponents and dimension of
    Tuci et al. (:func:`sharpness_of`): a dict of name -> result, without the entries whose
    channels are absent, too short, or unusable (a changing lr).

    The two differ in kind: Lyapunov exponents are time averages of the log stretching along the
    orbit; sharpness exponents are the supremum over the window's iterates of ln sigma_k of the
    update Jacobian (Tuci et al. 2026), so SD >= the Kaplan-Yorke dimension of the same run is
    expected whenever the spectrum varies along the orbit."""
    out = {}
    if "jacobian" in trace.channels:
        out.update(lyapunov_of(trace, late=late, blocks=blocks))
    try:
        out.update(sharpness_of(trace, late=late))
    except ValueError:
        pass
    return out


__all__ = ["lyapunov_of", "run_dimensions", "sharpness_of", "sharpness_summary",
           "stationary_window"]
