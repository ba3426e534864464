"""Summaries of optimizer orbits: sharpness, dimensions of one run, periods, bifurcation diagrams.

* :func:`sharpness_summary`: the late-window median sharpness (block SE), with the start value
  (lambda_max at the start point) and the final one.
* :func:`run_dimensions`: the Lyapunov spectrum of the optimizer map and its Kaplan-Yorke dimension,
  and for GD / SGD the sharpness dimension of Tuci et al. (REFERENCES.md item 9), all through the
  one routine in :mod:`dynsim.analysis.lyapunov`.
* :func:`orbit_period`: the period of late iterates (1, 2, 4, ... along a period-doubling route).
* :func:`bifurcation_summary`: the largest Lyapunov exponent over a sweep of learning rates and the
  smallest lr at which it is positive by ``k`` standard errors (the onset of chaos).
"""

from __future__ import annotations

import math

import numpy as np

from dynsim.analysis.lyapunov import (kaplan_yorke_dimension, lyapunov_spectrum, sharpness_dimension,
                                      sharpness_exponents)
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


def run_dimensions(trace, *, late: float = 0.5, blocks: int = 10) -> dict:
    """Lyapunov spectrum of the optimizer map (QR on the ``jacobian`` channel over the last
    ``late`` fraction of the run, its first tenth aligning the frame), its Kaplan-Yorke dimension,
    and for GD / SGD (convention gd, Jacobian I - lr H) the sharpness dimension of Tuci et al. from
    all Hessian eigenvalues (``hessian_top``) over the same window: a dict of name -> result,
    empty where the channels are too short (fewer than 50 steps in the window).

    The two differ in kind: Lyapunov exponents are time averages of the log stretching along the
    orbit; sharpness exponents are the supremum over the late iterates of ln sigma_k(I - lr H)
    (REFERENCES.md item 9), so SD >= the Kaplan-Yorke dimension of the same GD run is expected
    whenever the spectrum varies along the orbit."""
    out = {}
    if "jacobian" in trace.channels:
        jac = np.asarray(trace["jacobian"], dtype=float)
        m = int(round(late * jac.shape[0]))
        if m >= 50:
            spec = lyapunov_spectrum(jac[-m:], transient=m // 10, blocks=blocks)
            out["lyapunov"] = spec
            if spec.d > 1:
                out["kaplan_yorke"] = kaplan_yorke_dimension(spec.exponents, cov=spec.cov)
    if trace.meta.get("threshold_convention") == "gd" and "hessian_top" in trace.channels \
            and "lr" in trace.channels:
        h = np.asarray(trace["hessian_top"], dtype=float)
        lr = np.asarray(trace["lr"], dtype=float).reshape(-1)
        m = int(round(late * h.shape[0]))
        d = trace["proj"].shape[1] if "proj" in trace.channels else h.shape[1]
        if m >= 50 and np.all(lr[-m:] == lr[-1]):
            exps = sharpness_exponents(h[-m:], float(lr[-1]), d=max(d, h.shape[1]))
            out["sharpness_exponents"] = exps
            out["sharpness_dimension"] = sharpness_dimension(exps)
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


__all__ = ["bifurcation_summary", "is_growing", "orbit_period", "orbit_state", "run_dimensions",
           "sharpness_summary"]
