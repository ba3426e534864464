"""Stability of optimizers: exact thresholds on a quadratic, and where a run sits against its own.

Thresholds (Cohen, Kaur, Li, Kolter & Talwalkar 2021, arXiv:2103.00065; Cohen et al. 2022,
arXiv:2207.14484).  On a quadratic with Hessian eigenvalue h each map below is linear per
eigen-direction; it is stable iff every root of its characteristic polynomial
lies inside the unit circle.  The threshold is the sharpness (in the units named) at which a root
crosses -1, written for a learning rate lr:

===============  ================================================  ==============================
convention       map (per eigenvalue h)                            threshold (instability above)
===============  ================================================  ==============================
gd               w' = (1 - lr h) w                                 2 / lr  (Cohen et al. ICLR 2021)
heavy_ball       v' = beta v + g, w' = w - lr v'                   (2 + 2 beta) / lr
nesterov         v' = beta v + g, w' = w - lr (g + beta v')        (2 + 2 beta) / ((1 + 2 beta) lr)
ema_momentum     v' = beta v + (1 - beta) g, w' = w - lr v'        (2 + 2 beta) / ((1 - beta) lr)
rmsprop_precond  GD on P^-1 H, P = diag(sqrt(nu) + eps)            2 / lr, for lambda_max(P^-1 H)
adam_precond     EMA momentum (beta1) on P^-1 H                    (2 + 2 beta1) / ((1 - beta1) lr)
                                                                   = 38/lr at beta1 = 0.9 (Cohen
                                                                   et al. 2022, arXiv 2207.14484;
                                                                   eos_threshold_adam_precond)
===============  ================================================  ==============================

Characteristic polynomials (a = lr h): heavy ball z^2 - (1 + beta - a) z + beta; Nesterov
z^2 - (1 + beta)(1 - a) z + beta (1 - a); EMA z^2 - (1 + beta - (1 - beta) a) z + beta.  At z = -1
they vanish at the thresholds above.  The adaptive rows hold with the preconditioner frozen (h is
then an eigenvalue of P^-1 H, and Adam's bias correction of m is taken as 1); with P adapting,
RMSProp and Adam never diverge on a quadratic: P grows until lambda_max(P^-1 H) sits at the
threshold (Cohen et al. 2022; measured here: rmsprop_quadratic_precond_ratio,
adam_quadratic_precond_ratio).

Where a run sits (:func:`stability_from_arrays`; from a trace,
:func:`dynsim.analysis.rows.stability.stability`).  The ratio r_t = S_t / threshold_t compares the
sharpness in the units of the threshold: ``sharpness`` for gd, heavy_ball, nesterov and ema_momentum,
``precond_sharpness`` for the *_precond conventions.  The convention is read from
``meta['threshold_convention']``, never guessed from an optimizer's name (for GD, r_t = S_t lr / 2).
Onset of the edge of stability: the first step with r_t >= 1.  Late window: the last
``late`` fraction of the recorded steps; its median ratio carries a block standard error (the
window cut into ``blocks`` contiguous blocks; SE = SD of block medians / sqrt(blocks)).  Verdict:

* ``diverged``: the run stopped (status ``diverged``), a value is not finite, or the loss ends
  more than ``growth`` times its initial value (a slow divergence that has not overflowed yet; a
  transient spike that comes back down does not count).  The divergence step is the first step
  not recorded, the first non-finite value, or the step from which the loss stayed above that
  level.
* ``converged``: every late ratio is below 1 (the run sits inside the stable region) and the
  loss is settling (over the late window it falls by half or sits at a floor 1e-12 x its start),
  or the late median ratio is below 1 - ``edge_tol``.
* ``edge``: the late median lies within ``edge_tol`` of 1 and the run is not settling: some late
  ratio reaches 1, or the loss neither falls nor rests at a floor (a period-2 orbit sitting just
  below the threshold).  Oscillating at the edge of stability.
* ``oscillating``: bounded, some late ratio >= 1, median farther from 1 (period doubling, chaos).

Summaries of optimizer orbits (periods, bifurcation diagrams) are in :mod:`dynsim.analysis.orbits`,
their trace adapters (sharpness, dimensions) in :mod:`dynsim.analysis.rows.orbits`; moving averages and flow-versus-GD gaps in
:mod:`dynsim.analysis.tracking`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dynsim.analysis.results import Estimate

CONVENTIONS = ("gd", "heavy_ball", "nesterov", "ema_momentum", "rmsprop_precond", "adam_precond")
PRECONDITIONED = ("rmsprop_precond", "adam_precond")
VERDICTS = ("converged", "edge", "oscillating", "diverged")
RATIO_METHOD = "median of sharpness / threshold over the late window, block SE"


def _iv_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value) or not value > 0:
        raise ValueError(f"`{name}` must be a finite number > 0, got {value!r}")
    return float(value)


def _iv_convention(convention: str, beta) -> float:
    if convention not in CONVENTIONS:
        raise ValueError(f"`convention` must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.number)) \
            or not 0.0 <= beta < 1.0:
        raise ValueError(f"`beta` must be a number in [0, 1), got {beta!r}")
    return float(beta)


def threshold(convention: str, lr: float, beta: float = 0.9) -> float:
    """Stability threshold on a quadratic for ``convention`` (table above), in sharpness units.

    ``beta`` is the momentum (beta1 for adam_precond; unused by gd and rmsprop_precond)."""
    beta = _iv_convention(convention, beta)
    lr = _iv_positive("lr", lr)
    if convention in ("gd", "rmsprop_precond"):
        return 2.0 / lr
    if convention == "heavy_ball":
        return (2.0 + 2.0 * beta) / lr
    if convention == "nesterov":
        return (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * lr)
    return (2.0 + 2.0 * beta) / ((1.0 - beta) * lr)      # ema_momentum, adam_precond


def max_stable_lr(convention: str, sharpness: float, beta: float = 0.9) -> float:
    """The largest lr that is stable on a quadratic of (preconditioned) sharpness ``sharpness``."""
    sharpness = _iv_positive("sharpness", sharpness)
    return threshold(convention, 1.0, beta) / sharpness


def quadratic_multipliers(convention: str, lr: float, h, beta: float = 0.9) -> np.ndarray:
    """Roots of the per-eigenvalue characteristic polynomial, shape (len(h), 1 or 2), complex.

    Their largest modulus rho gives the exact linear rate: the map converges iff rho < 1, and
    ln rho is its top Lyapunov exponent.  (Adaptive conventions: P frozen, h of P^-1 H.)"""
    beta = _iv_convention(convention, beta)
    lr = _iv_positive("lr", lr)
    a = lr * np.atleast_1d(np.asarray(h, dtype=float))
    if not np.all(np.isfinite(a)):
        raise ValueError(f"`h` must be finite, got {h!r}")
    if convention in ("gd", "rmsprop_precond"):
        return (1.0 - a)[:, None].astype(complex)
    if convention == "heavy_ball":
        b, c = -(1.0 + beta - a), np.full_like(a, beta)
    elif convention == "nesterov":
        b, c = -(1.0 + beta) * (1.0 - a), beta * (1.0 - a)
    else:
        b, c = -(1.0 + beta - (1.0 - beta) * a), np.full_like(a, beta)
    disc = np.sqrt((b * b - 4.0 * c).astype(complex))
    return np.stack([(-b + disc) / 2.0, (-b - disc) / 2.0], axis=1)


def quadratic_rate(convention: str, lr: float, h, beta: float = 0.9) -> float:
    """ln of the largest root modulus over all eigenvalues h: < 0 converges, > 0 diverges."""
    return float(np.log(np.abs(quadratic_multipliers(convention, lr, h, beta)).max()))


# ---------------------------------------------------------------------------------------------
# where a run sits


@dataclass(frozen=True)
class Stability(Estimate):
    """The late-window median of sharpness / threshold (``value``, with its block SE) plus the
    onset of the edge of stability, the fraction of late steps at or above it, the divergence step
    and the verdict.  Steps are the trace's own step numbers."""

    convention: str = ""
    channel: str = ""
    verdict: str = ""
    onset_step: int | None = None
    onset_bracket: tuple[int, int] | None = None   # (first, last) step the onset may lie in
    fraction_at_edge: float = math.nan             # late steps with ratio >= 1
    fraction_stderr: float = math.nan
    divergence_step: int | None = None
    window: tuple[int, int] = (0, 0)               # late window (first, last step)
    threshold_value: float = math.nan              # median threshold over the late window

    @property
    def label(self) -> str:
        """The table's method column: the verdict first (sharpness / threshold, late median)."""
        return "failed" if self.failed else f"{self.verdict}: sharpness / threshold, late median"

    def details(self, name: str | None = None) -> str:
        """The verdict in a sentence: the ratio, its window, the threshold, onset and time at the
        edge."""
        onset = "never" if self.onset_step is None else f"step {self.onset_step}"
        div = "" if self.divergence_step is None else f", diverged at step {self.divergence_step}"
        return (f"{name or 'stability'}: {self.verdict}: ratio {self.value:.4g} ± {self.stderr:.2g} "
                f"(late median, steps {self.window[0]}-{self.window[1]}), threshold "
                f"{self.threshold_value:.4g} ({self.convention}), onset {onset}, "
                f"{100 * self.fraction_at_edge:.0f}% of late steps at or above{div}")


def _iv_stability(steps, ratio, late, blocks, edge_tol, growth):
    steps = np.asarray(steps, dtype=np.int64).reshape(-1)
    ratio = np.asarray(ratio, dtype=float).reshape(-1)
    if steps.size != ratio.size or ratio.size < 1:
        raise ValueError(f"steps and ratio must be non-empty and of one length, got {steps.size} "
                         f"and {ratio.size}")
    if steps.size > 1 and np.any(np.diff(steps) <= 0):
        raise ValueError("`steps` must increase strictly")
    if isinstance(late, bool) or not isinstance(late, (int, float)) or not 0 < late <= 1:
        raise ValueError(f"`late` must be a fraction in (0, 1], got {late!r}")
    if isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer)) or blocks < 2:
        raise ValueError(f"`blocks` must be an integer >= 2, got {blocks!r}")
    _iv_positive("edge_tol", edge_tol)
    if _iv_positive("growth", growth) <= 1:
        raise ValueError(f"`growth` must be > 1, got {growth!r}")
    return steps, ratio


def _loss_divergence(loss, loss_steps, growth) -> int | None:
    """First non-finite loss, else the step from which the loss stays above growth x its initial
    value up to the end of the record (None if neither happens)."""
    if loss is None or loss.size == 0:
        return None
    bad = ~np.isfinite(loss)
    if bad.any():
        return int(loss_steps[np.argmax(bad)])
    above = loss > growth * max(abs(loss[0]), np.finfo(float).tiny)
    if not above[-1]:
        return None
    below = np.nonzero(~above)[0]
    return int(loss_steps[below[-1] + 1 if below.size else 0])


def _loss_settling(loss, loss_steps, first: int, last: int) -> bool:
    """True without a loss record, or when the loss over steps [first, last] falls (its last
    fifth averages less than half its first fifth) or sits at a floor (<= 1e-12 x its start)."""
    if loss is None or loss.size == 0:
        return True
    lw = loss[(loss_steps >= first) & (loss_steps <= last)]
    if lw.size < 5:
        return True
    k = lw.size // 5
    return bool(lw[-k:].mean() < 0.5 * lw[:k].mean() or
                np.abs(lw[-k:]).max() <= 1e-12 * max(abs(loss[0]), np.finfo(float).tiny))


def stability_from_arrays(steps, ratio, *, convention: str, channel: str = "sharpness",
                          threshold: float = math.nan, loss=None, loss_steps=None,
                          stopped: bool = False, late: float = 0.25, blocks: int = 10,
                          edge_tol: float = 0.1, growth: float = 1e6) -> Stability:
    """:func:`stability` on arrays: ``ratio`` (sharpness / threshold) at ``steps``; ``loss`` at
    ``loss_steps`` (default 0, 1, ...) for the divergence rule; ``stopped`` if the run was cut
    short by divergence."""
    steps, ratio = _iv_stability(steps, ratio, late, blocks, edge_tol, growth)
    if loss is not None:
        loss = np.asarray(loss, dtype=float).reshape(-1)
        loss_steps = np.arange(loss.size) if loss_steps is None else \
            np.asarray(loss_steps, dtype=np.int64).reshape(-1)
    div = _loss_divergence(loss, loss_steps, growth)
    bad = ~np.isfinite(ratio)
    if bad.any():
        first_bad = int(steps[np.argmax(bad)])
        div = first_bad if div is None else min(div, first_bad)
    if stopped and div is None:
        last = int(steps[-1]) if loss_steps is None or not len(loss_steps) else \
            max(int(steps[-1]), int(loss_steps[-1]))
        div = last + 1
    keep = np.isfinite(ratio) & ((steps < div) if div is not None else True)
    s_ok, r_ok = steps[keep], ratio[keep]
    at = np.nonzero(r_ok >= 1.0)[0]
    onset = int(s_ok[at[0]]) if at.size else None
    bracket = None
    if at.size:
        prev = int(s_ok[at[0] - 1]) + 1 if at[0] > 0 else int(s_ok[0])
        bracket = (prev, onset)
    n = r_ok.size
    if n == 0:
        return Stability(math.nan, math.nan, (math.nan, math.nan), RATIO_METHOD, 0,
                         convention=convention, channel=channel, verdict="diverged",
                         divergence_step=div, threshold_value=threshold,
                         data={"note": "no finite ratio before divergence"})
    m = max(1, int(round(late * n)))
    lw, lwin = r_ok[n - m:], s_ok[n - m:]
    med = float(np.median(lw))
    frac = float(np.mean(lw >= 1.0))
    b = min(blocks, m)
    if b >= 2:
        parts = np.array_split(lw, b)
        se = float(np.std([np.median(p) for p in parts], ddof=1) / math.sqrt(b))
        fse = float(np.std([np.mean(p >= 1.0) for p in parts], ddof=1) / math.sqrt(b))
    else:
        se = fse = math.nan
    settling = _loss_settling(loss, loss_steps, int(lwin[0]), int(lwin[-1]))
    if div is not None:
        verdict = "diverged"
    elif frac == 0.0 and (settling or med < 1.0 - edge_tol):
        verdict = "converged"
    elif abs(med - 1.0) <= edge_tol:
        verdict = "edge"
    else:
        verdict = "oscillating"
    return Stability.normal(
        med, se, method=RATIO_METHOD, n=int(m),
        data={"blocks": int(b), "late": float(late), "edge_tol": float(edge_tol),
              "growth": float(growth), "fraction_all": float(np.mean(r_ok >= 1.0)),
              "ratio_max_late": float(lw.max()), "ratio_min_late": float(lw.min())},
        convention=convention, channel=channel, verdict=verdict, onset_step=onset,
        onset_bracket=bracket, fraction_at_edge=frac, fraction_stderr=fse, divergence_step=div,
        window=(int(lwin[0]), int(lwin[-1])), threshold_value=float(threshold))


__all__ = ["CONVENTIONS", "PRECONDITIONED", "Stability", "VERDICTS", "max_stable_lr",
           "quadratic_multipliers", "quadratic_rate", "stability_from_arrays", "threshold"]
