"""Tail indices of heavy-tailed samples: P(X > x) ~ x^-alpha.

Hill (1975), "A simple general approach to inference about the tail of a distribution", Ann. Stat.
3:1163.  With the order statistics X_(1) >= X_(2) >= ... of the positive samples,
    1/alpha_hat(k) = (1/k) sum_{i=1}^{k} ln X_(i) - ln X_(k+1),
the maximum-likelihood estimate for a Pareto tail above X_(k+1); asymptotically alpha_hat(k) is
normal with SE alpha/sqrt(k).  The Hill plot (alpha_hat against k) trades variance (small k) against
bias from the body of the distribution (large k); a k is chosen where the plot is stable.

Mohammadi, Mohammadpour & Ogata (Metrika 78:549, 2015, Cor. 2.4), as used for SGD gradient noise by
Simsekli, Sagun & Gurbuzbalaban (ICML 2019, arXiv 1901.06053): for i.i.d. symmetric
alpha-stable X_1..X_K, K = K1 K2, the block sums Y_i of K1 consecutive samples have the law of
K1^(1/alpha) X, so
    1/alpha_hat = [(1/K2) sum_i ln|Y_i| - (1/K) sum_j ln|X_j|] / ln K1,
with Euclidean norms for vector samples (i.i.d. stable coordinates keep the same identity).  The
estimate lives in (0, 2] (``ALPHA_MAX``, read from the key ``alpha_stable_max``); a value above 2
means no heavy tail was detected (finite variance: block sums grow like sqrt(K1) or slower), and it
is reported as it is, never clipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dynsim import references
from dynsim.analysis.results import Z95, Estimate, Printable

K_MAX_DEFAULT = 100_000      # Hill plot length when k_max is not given
STABLE_K_MIN = 10            # the smallest k at which a stable window may start
ALPHA_MAX = references.value("alpha_stable_max")  # upper end of the stable range (0, 2]
MMO2015 = ("Mohammadi, Mohammadpour & Ogata, Metrika 78:549 (2015), Cor. 2.4; Simsekli, Sagun & "
           "Gurbuzbalaban, ICML 2019")


def _iv_samples(name: str, x) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be an array of finite numbers, got {x!r:.80}") from None
    if a.ndim == 0:
        raise ValueError(f"`{name}` must be an array with samples along axis 0, got a scalar")
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"`{name}` must be finite, got {a[tuple(bad[0])]} at index {tuple(bad[0])}")
    return a


def _iv_int(name: str, v, lo: int, hi: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ValueError(f"`{name}` must be an integer in [{lo}, {hi}], got {v!r}")
    return int(v)


# ---------------------------------------------------------------------------------------------
# Hill


@dataclass(frozen=True, eq=False)
class HillEstimate(Printable):
    """The Hill plot (``k``, ``alpha_k``, ``stderr_k`` for k = 1..k_max) and the estimate at the
    chosen ``k_chosen``: ``value`` +- ``stderr`` (alpha/sqrt(k)), the tail threshold ``xmin`` =
    X_(k+1) (the fit uses the k samples above it) and the ``rule`` that chose k."""

    k: np.ndarray
    alpha_k: np.ndarray
    stderr_k: np.ndarray
    k_chosen: int
    value: float
    stderr: float
    ci: tuple[float, float]
    xmin: float
    rule: str
    n: int                   # samples offered
    n_positive: int
    method: str = "Hill (1975) estimator of the tail index, SE alpha/sqrt(k)"

    def headline(self) -> float:
        return self.value

    def estimate(self) -> Estimate:
        """The chosen value as an :class:`Estimate` (for ``Measures``)."""
        return Estimate(self.value, self.stderr, self.ci, method=f"{self.method}; {self.rule}",
                        n=self.k_chosen, data={"k": self.k_chosen, "xmin": self.xmin,
                                               "n": self.n, "n_positive": self.n_positive})

    def __str__(self) -> str:
        return (f"alpha={self.value:.4g} ± {self.stderr:.2g}  k={self.k_chosen} "
                f"(x > {self.xmin:.4g})  n={self.n}  ({self.rule})")


def hill_plot(x_desc: np.ndarray, k_max: int) -> np.ndarray:
    """alpha_hat(k) for k = 1..k_max from positive samples sorted in decreasing order (at least
    k_max + 1 of them); inf where X_(1) = ... = X_(k+1) (ties leave 1/alpha = 0)."""
    logs = np.log(x_desc[: k_max + 1])
    k = np.arange(1, k_max + 1)
    h = np.cumsum(logs[:-1]) / k - logs[1:]
    with np.errstate(divide="ignore"):
        return 1.0 / np.maximum(h, 0.0)


def stable_window_k(alpha_k: np.ndarray, k_min: int = STABLE_K_MIN) -> tuple[int, int] | None:
    """The most stable octave of the Hill plot: over windows W = [k0, 2 k0], k0 = k_min 2^(j/4),
    the one with the smallest relative spread sd(alpha_hat over W) / mean(alpha_hat over W).
    Within an octave the spread is noise (about alpha/sqrt(k0), falling with k0) plus the drift of
    the bias (growing with k0 once the body of the distribution enters), so the minimum balances
    the two.  Returns (k0, k chosen = round(k0 sqrt 2), the octave's geometric centre), or None when
    the plot is shorter than one octave from k_min."""
    a = np.asarray(alpha_k, dtype=float)
    j_max = math.floor(4 * math.log2(a.size / (2 * k_min))) if a.size >= 2 * k_min else -1
    starts = np.unique(np.round(k_min * 2.0 ** (np.arange(j_max + 1) / 4)).astype(np.int64))
    starts = starts[2 * starts <= a.size]
    if starts.size == 0:
        return None
    spread = np.array([np.std(a[k0 - 1: 2 * k0]) / np.mean(a[k0 - 1: 2 * k0]) for k0 in starts])
    spread[~np.isfinite(spread)] = np.inf
    k0 = int(starts[np.argmin(spread)])
    return k0, int(round(k0 * math.sqrt(2)))


def hill_estimator(x, *, k: int | None = None, k_max: int | None = None) -> HillEstimate:
    """Hill estimates of the upper-tail index alpha of ``x`` (1-D; pass |x| for both tails) for
    every k = 1..k_max, and one chosen k.

    ``k_max`` defaults to min(n_positive - 1, K_MAX_DEFAULT).  The chosen k is ``k`` when given;
    otherwise the centre of the most stable octave of the Hill plot (:func:`stable_window_k`), or
    floor(sqrt(n_positive)) when the plot is too short; ``rule`` says which.  The SE alpha/sqrt(k)
    is the noise only: where the body of the distribution bends the plot (Student t, alpha-stable
    with alpha near 2) the estimate carries a bias that no choice of k removes at moderate n."""
    a = _iv_samples("x", x)
    if a.ndim != 1:
        raise ValueError(f"`x` must be 1-D, got shape {a.shape}")
    pos = a[a > 0]
    n_pos = int(pos.size)
    if n_pos < 3:
        raise ValueError(f"`x` needs at least 3 positive samples, got {n_pos}")
    if k_max is None:
        k_max = min(n_pos - 1, K_MAX_DEFAULT)
    k_max = _iv_int("k_max", k_max, 2, n_pos - 1)
    top = pos if k_max + 1 >= n_pos else np.partition(pos, n_pos - k_max - 1)[n_pos - k_max - 1:]
    x_desc = np.sort(top)[::-1]
    alpha_k = hill_plot(x_desc, k_max)
    ks = np.arange(1, k_max + 1)
    if k is not None:
        k_chosen, rule = _iv_int("k", k, 1, k_max), "k given by the caller"
    else:
        found = stable_window_k(alpha_k)
        if found is not None:
            k_chosen = found[1]
            rule = (f"centre of the most stable octave [{found[0]}, {2 * found[0]}] of the Hill "
                    f"plot (least relative spread)")
        else:
            k_chosen = max(1, min(k_max, math.isqrt(n_pos)))
            rule = f"k = floor(sqrt(n)): Hill plot shorter than one octave from k = {STABLE_K_MIN}"
    value = float(alpha_k[k_chosen - 1])
    se = value / math.sqrt(k_chosen)
    return HillEstimate(k=ks, alpha_k=alpha_k, stderr_k=alpha_k / np.sqrt(ks), k_chosen=k_chosen,
                        value=value, stderr=se, ci=(value - Z95 * se, value + Z95 * se),
                        xmin=float(x_desc[k_chosen]), rule=rule, n=int(a.size), n_positive=n_pos)


# ---------------------------------------------------------------------------------------------
# alpha-stable block sums


def default_K1(K: int) -> tuple[int, str]:
    """The block length: the largest divisor of K not above sqrt(K) (Simsekli et al.'s choice, which
    uses every sample); if that divisor is below sqrt(K)/2 (K prime or nearly so, where it would be
    tiny and ln K1 would blow up the error), floor(sqrt(K)) and the last K mod K1 samples are
    dropped."""
    r = math.isqrt(K)
    cand = np.arange(1, r + 1)
    d = int(cand[K % cand == 0].max())
    if d >= max(2, r // 2):
        return d, "largest divisor of K up to sqrt(K)"
    return r, "floor(sqrt(K)) (K has no divisor in [sqrt(K)/2, sqrt(K)]); trailing samples dropped"


def stable_tail_index(X, *, K1: int | None = None) -> Estimate:
    """Tail index alpha of symmetric alpha-stable samples by block sums (module docstring).

    ``X``: (K, ...) array, samples along axis 0; each sample's Euclidean norm over the other axes is
    used (scalars: |x|).  ``K1`` defaults to :func:`default_K1`; with a ``K1`` that does not divide
    K the trailing K mod K1 samples are dropped (recorded).  Zero norms are refused (their log is
    -inf).  Standard error: 1/alpha_hat is the mean over the K2 blocks of
    d_i = [ln|Y_i| - (1/K1) sum_{j in block i} ln|X_j|] / ln K1, and the d_i are i.i.d., so
    SE(1/alpha) = sd(d)/sqrt(K2) exactly (no resampling); SE(alpha) = SE(1/alpha) alpha^2 (delta
    method), and the 95% interval is the inverse of 1/alpha_hat +- 1.96 SE.  ``data`` holds K1, K2,
    the 1/alpha estimate, ``heavy_tail`` (True only if the whole interval lies below 2) and a
    ``verdict``; a value above 2 is kept as it is and read as "no heavy tail detected"."""
    a = _iv_samples("X", X)
    K = int(a.shape[0])
    if K < 4:
        raise ValueError(f"`X` needs at least 4 samples along axis 0, got {K}")
    if K1 is None:
        K1, k1_rule = default_K1(K)
    else:
        K1, k1_rule = _iv_int("K1", K1, 2, K // 2), "given by the caller"
    K2 = K // K1
    used = K1 * K2
    flat = a[:used].reshape(used, -1)
    norm_x = np.linalg.norm(flat, axis=1)
    norm_y = np.linalg.norm(flat.reshape(K2, K1, -1).sum(axis=1), axis=1)
    for name, v in (("samples", norm_x), ("block sums", norm_y)):
        zeros = int(np.count_nonzero(v == 0))
        if zeros:
            raise ValueError(f"`X` has {zeros} {name} of norm 0; the estimator takes their log")
    d = (np.log(norm_y) - np.log(norm_x).reshape(K2, K1).mean(axis=1)) / math.log(K1)
    inv = float(d.mean())
    inv_se = float(d.std(ddof=1) / math.sqrt(K2))
    lo_inv, hi_inv = inv - Z95 * inv_se, inv + Z95 * inv_se
    if inv > 0:
        alpha, se = 1.0 / inv, inv_se / inv**2
        ci = (1.0 / hi_inv, 1.0 / lo_inv if lo_inv > 0 else math.inf)
    else:
        alpha, se, ci = math.inf, math.inf, (1.0 / hi_inv if hi_inv > 0 else math.inf, math.inf)
    heavy = bool(ci[1] < ALPHA_MAX)
    if alpha > ALPHA_MAX:
        verdict = (f"no heavy tail detected: alpha > {ALPHA_MAX:g} is outside the stable range "
                   f"(0, {ALPHA_MAX:g}]")
    elif heavy:
        verdict = f"heavy tail: alpha < {ALPHA_MAX:g} beyond the 95% interval"
    else:
        verdict = f"no heavy tail detected: consistent with alpha = {ALPHA_MAX:g} (Gaussian)"
    return Estimate(alpha, se, ci, n=used,
                    method="block-sum estimator of the alpha-stable index (MMO 2015), SE from the "
                           "spread over blocks, delta method", reference_source=MMO2015,
                    data={"K": K, "K1": K1, "K2": K2, "dropped": K - used, "K1_rule": k1_rule,
                          "inv_alpha": inv, "inv_alpha_stderr": inv_se, "heavy_tail": heavy,
                          "verdict": verdict, "dim": int(flat.shape[1])})
