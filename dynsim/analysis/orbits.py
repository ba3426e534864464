"""Summaries of optimizer orbits: sharpness, dimensions of one run, periods, bifurcation diagrams.

* :func:`sharpness_summary`: the late-window median sharpness (block SE), with the start value
  (lambda_max at the start point) and the final one.
* :func:`stationary_window`: the one window rule of the attractor measures (meta stationary_from,
  else the last half of the run).
* :func:`run_dimensions` (= :func:`lyapunov_of` + :func:`sharpness_of`, the adapters ``measure()``
  calls too): the Lyapunov spectrum of the optimizer map and its Kaplan-Yorke dimension, and the
  sharpness dimension of Tuci et al. (REFERENCES.md item 9), all through the one routine in
  :mod:`dynsim.analysis.lyapunov`.
* :func:`orbit_period`: the period of late iterates (1, 2, 4, ... along a period-doubling route).
* :func:`bifurcation_summary`: the largest Lyapunov exponent over a sweep of learning rates and the
  smallest lr at which it is positive by ``k`` standard errors (the onset of chaos).
"""

from __future__ import annotations

import math

import numpy as np

from dynsim.analysis.lyapunov import (jacobian_sharpness_exponents, kaplan_yorke_dimension,
                                      lyapunov_spectrum, sharpness_dimension, sharpness_exponents)
from dynsim.analysis.results import Estimate
from dynsim.analysis.stability import channel_steps




def _late_block_median(x: np.ndarray, late: float, blocks: int) -> tuple[float, float, int]:
    m = max(1, int(round(late * x.size)))
    lw = x[x.size - m:]
    b = min(blocks, m)
    se = float(np.std([np.median(p) for p in np.array_split(lw, b)], ddof=1) / math.sqrt(b)) \
        if b >= 2 else math.nan
    return float(np.median(lw)), se, m


def sharpness_summary(trace, *, late: float = 0.25, blocks: int = 10) -> Estimate:
    """The late-window median of the ``sharpness`` channel (block SE), with the start and final
    values and the maximum in ``data`` (``data['start']`` is lambda_max at the start point)."""
    s = np.asarray(trace["sharpness"], dtype=float).reshape(-1)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ValueError(f"trace of {trace.system!r} has no finite sharpness")
    if isinstance(late, bool) or not isinstance(late, (int, float)) or not 0 < late <= 1:
        raise ValueError(f"late must be a fraction in (0, 1], got {late!r}")
    med, se, m = _late_block_median(s, late, blocks)
    steps = channel_steps(trace, "sharpness")
    return Estimate.normal(med, se, method="median sharpness over the late window, block SE", n=m,
                           data={"start": float(s[0]), "final": float(s[-1]),
                                 "max": float(s.max()), "window": (int(steps[-m]), int(steps[-1]))})


LATE = 0.5          # without meta['stationary_from'], the window is the last half of the run
MIN_WINDOW = 50     # steps of Jacobians in the window for a Lyapunov spectrum
MIN_ITERATES = 10   # iterates in the window for sharpness exponents


def stationary_window(trace, name: str, *, late: float | None = None) -> tuple[np.ndarray, str]:
    """(row indices of channel ``name`` in the stationary window, the rule that chose it): the one
    window rule of every attractor measure (Lyapunov spectrum, Kaplan-Yorke, sharpness dimension,
    correlation dimension), for ``measure()`` and ``dynsim eos run`` alike.

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
        raise ValueError(f"late must be a fraction in (0, 1], got {late!r}")
    s0 = math.ceil(steps[0] + (1 - f) * (steps[-1] - steps[0]))
    why = "" if late is not None else "; no stationary_from in meta"
    return np.flatnonzero(steps >= s0), f"the last {f:.0%} of the run (steps >= {s0}{why})"


SHRINK = 0.1  # the window's last quarter spans < this x its first quarter: a converging orbit


def _diameter(x) -> float:
    return float(np.linalg.norm(x.max(axis=0) - x.min(axis=0)))


def converging(points) -> str | None:
    """Why the window's iterates (n, dim) are an approach to a fixed point rather than a stationary
    attractor, or None: the last quarter spans a diameter < SHRINK = 1/10 of the first quarter's."""
    x = np.asarray(points, dtype=float)
    x = x.reshape(x.shape[0], -1)
    q = x.shape[0] // 4
    if q < 2:
        return None
    first, last = _diameter(x[:q]), _diameter(x[-q:])
    if last < SHRINK * first:
        return (f"converging: the last quarter of the window spans a diameter {last:.3g} < "
                f"{SHRINK:g} x the first quarter's {first:.3g}")
    return None


def _converging_window(trace, late) -> str | None:
    if "proj" not in trace.channels:
        return None
    idx, _ = stationary_window(trace, "proj", late=late)
    return converging(np.asarray(trace["proj"], dtype=float)[idx]) if idx.size >= 8 else None


LIMIT_RULE = ("; {why}: the attractor is the limit point, estimated by the last iterate of the "
              "window, with an SE per rank of |change of ln sigma_k over the window's last "
              "quarter| (a geometric approach has at most about that still to go)")


def lyapunov_of(trace, *, late: float | None = None, blocks: int = 20, reference=None,
                ky_reference: float | None = None, reference_source: str = "") -> dict:
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
                                    reference_source=reference_source if ky_reference else "")
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
    """{"sharpness_exponents", "sharpness_dimension"} of Tuci et al. (REFERENCES.md item 9) over
    :func:`stationary_window`; {} where the channels don't allow it.

    * With a ``jacobian`` channel (every eos optimizer): the singular values of the one-step update
      Jacobian (item 9's definition; |1 - lr h| for GD), complete.
    * Else for GD / SGD (``threshold_convention`` gd) from ``hessian_top`` (with ``hessian_bottom``
      and ``hessian_density`` + ``hessian_density_grid`` where recorded at the same steps) and one
      ``lr`` over the window; d = ``meta['n_params']`` (the parameter count; for an ``eos.*`` toy
      without it, the width of ``hessian_top``, which holds the whole spectrum there).  Ends only:
      a bound; ends + density: an estimate.
    One SGD path (``params['opt'] == 'sgd'``) with Jacobians: every step is a fresh draw of omega,
    so the exponents are means over steps (``data['sup_rule']``); for a net under SGD the probes'
    Hessian is of a fixed batch, and the exponents are labelled the full-batch proxy.  A window whose ``proj`` is still converging
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
    :func:`converging`, on ``proj``) is replaced by its limit point (LIMIT_RULE), except where the
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
    update Jacobian (REFERENCES.md item 9), so SD >= the Kaplan-Yorke dimension of the same run is
    expected whenever the spectrum varies along the orbit."""
    out = {}
    if "jacobian" in trace.channels:
        out.update(lyapunov_of(trace, late=late, blocks=blocks))
    try:
        out.update(sharpness_of(trace, late=late))
    except ValueError:
        pass
    return out


def orbit_period(x, *, max_period: int = 64, rtol: float = 1e-6) -> int:
    """The smallest p <= ``max_period`` with |x[t + p] - x[t]| <= rtol (1 + max |x|) over the
    whole record ``x`` (iterates, (n,) or (n, d)); 0 if none (aperiodic, longer, or converging
    too slowly to tell).  Period 1 is a fixed point; 2, 4, 8, ... mark period doubling."""
    x = np.asarray(x, dtype=float)
    x = x.reshape(x.shape[0], -1)
    if x.shape[0] < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"x must hold at least 2 finite iterates, got shape {x.shape}")
    tol = rtol * (1.0 + float(np.abs(x).max()))
    for p in range(1, min(max_period, x.shape[0] - 1) + 1):
        if np.abs(x[p:] - x[:-p]).max() <= tol:
            return p
    return 0


GROWTH = 1e3  # kept iterates whose norm grows by this factor are diverging, not chaotic


def is_growing(window) -> bool:
    """Whether the kept iterates (K, d) run away: |x_last| > GROWTH * |x_first| (a positive
    exponent of an unbounded orbit is divergence, not chaos)."""
    w = np.asarray(window, dtype=float)
    if not np.all(np.isfinite(w)):
        return True
    first, last = np.linalg.norm(w[0]), np.linalg.norm(w[-1])
    return bool(last > GROWTH * max(first, 1e-300))


def orbit_state(window, lyapunov_1: float, se: float, period: int, k: float = 3.0) -> str:
    """One label for a late orbit: diverging, chaotic (lambda_1 > k SE on a bounded orbit), fixed
    point, period p, converging (lambda_1 < -k SE, no period found yet) or unresolved."""
    if is_growing(window):
        return "diverging (unbounded growth)"
    if lyapunov_1 - k * se > 0:
        return "chaotic (lambda_1 > 0)"
    if period == 1:
        return "fixed point"
    if period > 1:
        return f"period {period}"
    if lyapunov_1 + k * se < 0:
        return "converging (lambda_1 < 0, no period yet)"
    return "unresolved (lambda_1 ~ 0)"


def bifurcation_summary(lr, lyapunov_1, lyapunov_1_se, diverged_at=None, *,
                        k: float = 3.0) -> Estimate:
    """The largest Lyapunov exponent over a sweep of learning rates (``value``, with the SE of that
    entry) and, in ``data``, the lr where it is reached, the onset of chaos (the smallest lr whose
    exponent exceeds ``k`` SEs; None if none does), and how many runs were chaotic or diverged.
    Runs that diverged (``diverged_at`` >= 0) or have no exponent (NaN) are left out."""
    lr = np.asarray(lr, dtype=float).reshape(-1)
    lam = np.asarray(lyapunov_1, dtype=float).reshape(-1)
    se = np.asarray(lyapunov_1_se, dtype=float).reshape(-1)
    div = np.full(lr.size, -1) if diverged_at is None else np.asarray(diverged_at).reshape(-1)
    if not lr.size == lam.size == se.size == div.size or lr.size == 0:
        raise ValueError(f"lr, lyapunov_1, lyapunov_1_se and diverged_at must be non-empty and of "
                         f"one length, got {lr.size}, {lam.size}, {se.size}, {div.size}")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not k >= 0:
        raise ValueError(f"k must be a number >= 0, got {k!r}")
    ok = (div < 0) & np.isfinite(lam)
    if not ok.any():
        raise ValueError("every run diverged or has no Lyapunov exponent")
    chaotic = ok & (lam - k * np.nan_to_num(se, nan=np.inf) > 0)
    i = int(np.flatnonzero(ok)[np.argmax(lam[ok])])
    order = np.argsort(lr[chaotic])
    onset = float(lr[chaotic][order[0]]) if chaotic.any() else None
    return Estimate.normal(float(lam[i]), float(se[i]),
                           method="largest Lyapunov exponent, maximum over the lr sweep",
                           n=int(ok.sum()),
                           data={"lr_at_max": float(lr[i]), "chaos_onset_lr": onset, "k": float(k),
                                 "n_chaotic": int(chaotic.sum()),
                                 "n_diverged": int((div >= 0).sum()), "n_lr": int(lr.size)})


__all__ = ["bifurcation_summary", "converging", "is_growing", "lyapunov_of", "orbit_period", "orbit_state",
           "run_dimensions", "sharpness_of", "sharpness_summary", "stationary_window"]
