"""Estimators on optimizer orbits, on arrays: periods, convergence, divergence and bifurcation
diagrams.  (The adapters that read these from a trace, the sharpness summary and the one stationary
window of the attractor measures, are rows of ``measure()``: :mod:`dynsim.analysis.rows.orbits`.)

* :func:`converging`: whether a window of iterates is an approach to a fixed point.
* :func:`orbit_period`: the period of late iterates (1, 2, 4, ... along a period-doubling route).
* :func:`is_growing`, :func:`divergence_steps`: the one rule by which a bounded-looking run whose
  kept iterates run away counts as diverged.
* :func:`orbit_state`: one label for a late orbit.
* :func:`bifurcation_summary`: the largest Lyapunov exponent over a sweep of learning rates and the
  smallest lr at which it is positive by ``k`` standard errors (the onset of chaos).
"""

from __future__ import annotations

import numpy as np

from dynsim.analysis.results import Estimate


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


def orbit_period(x, *, max_period: int = 64, rtol: float = 1e-6) -> int:
    """The smallest p <= ``max_period`` with |x[t + p] - x[t]| <= rtol (1 + max |x|) over the
    whole record ``x`` (iterates, (n,) or (n, d)); 0 if none (aperiodic, longer, or converging
    too slowly to tell).  Period 1 is a fixed point; 2, 4, 8, ... mark period doubling."""
    x = np.asarray(x, dtype=float)
    x = x.reshape(x.shape[0], -1)
    if x.shape[0] < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"`x` must hold at least 2 finite iterates, got shape {x.shape}")
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


def divergence_steps(diverged_at, windows=None) -> np.ndarray:
    """The step at which each run of a sweep diverged (-1: it did not), with the one rule for
    unbounded orbits: a run that did not stop but whose kept iterates ``windows[i]`` (K, d) run
    away (:func:`is_growing`) counts as diverged, at step 0 (a positive exponent of an unbounded
    orbit is divergence, not chaos).  ``windows`` None: ``diverged_at`` as given (a copy)."""
    div = np.array(diverged_at, dtype=np.int64).reshape(-1)
    if windows is None:
        return div
    if len(windows) != div.size:
        raise ValueError(f"`windows` must hold one window per run ({div.size}), got {len(windows)}")
    for i, window in enumerate(windows):
        if div[i] < 0 and is_growing(window):
            div[i] = 0
    return div


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
        raise ValueError(f"`k` must be a number >= 0, got {k!r}")
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


__all__ = ["bifurcation_summary", "converging", "divergence_steps", "is_growing", "orbit_period",
           "orbit_state"]
