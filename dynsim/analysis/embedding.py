"""Delay embedding of a scalar series, with the delay and the dimension chosen by stated rules.

* Delay vectors (Takens, Lecture Notes in Math. 898:366, 1981): row i = [x_i, x_(i+delay), ...,
  x_(i+(dim-1) delay)].
* Delay: the first minimum of the average mutual information (Fraser & Swinney, Phys. Rev. A
  33:1134, 1986) that is still above the estimator's noise floor, else the first lag where the
  autocorrelation falls below 1/e.
* Dimension: false nearest neighbours (Kennel, Brown & Abarbanel, Phys. Rev. A 45:3403, 1992).

Also the nearest-neighbour search outside a Theiler window shared by :mod:`dynsim.analysis.dimension`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from dynsim.analysis.results import Printable


@dataclass(frozen=True)
class DelayChoice(Printable):
    """An embedding delay and the rule that chose it, with the curves it was read from."""

    delay: int
    rule: str
    mutual_information: np.ndarray = field(repr=False, compare=False)  # nats, lags 0..max_delay
    autocorrelation: np.ndarray = field(repr=False, compare=False)
    bins: int = 0
    mi_floor: float = math.nan  # noise floor of the MI estimate (shuffled copies), nats

    def headline(self) -> float:
        return float(self.delay)

    def __str__(self) -> str:
        return f"delay {self.delay}: {self.rule}"


@dataclass(frozen=True)
class DimensionChoice(Printable):
    """An embedding dimension chosen by false nearest neighbours, with the fractions per dimension."""

    dim: int
    rule: str
    fnn_fraction: np.ndarray = field(repr=False, compare=False)  # dims 1..max_dim
    delay: int = 1
    rtol: float = 15.0
    atol: float = 2.0
    threshold: float = 0.01
    theiler: int = 0

    def headline(self) -> float:
        return float(self.dim)

    def __str__(self) -> str:
        frac = ", ".join(f"{v:.3g}" for v in self.fnn_fraction)
        return (f"dim {self.dim}: {self.rule} (false-neighbour fractions, dim "
                f"1..{len(self.fnn_fraction)}: {frac})")


# ---------------------------------------------------------------------------------------------
# validation


def _iv_points(points, name="points", min_n=10) -> np.ndarray:
    x = np.asarray(points, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < min_n or x.shape[1] < 1:
        raise ValueError(f"`{name}` must be an (N >= {min_n}, dim) array, got shape {np.shape(points)}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must be finite (found NaN or inf)")
    return x


def _iv_series(series, min_n=10) -> np.ndarray:
    x = np.asarray(series, dtype=float)
    if x.ndim != 1 or x.size < min_n:
        raise ValueError(f"`series` must be 1-D with >= {min_n} values, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("`series` must be finite (found NaN or inf)")
    return x


def _iv_int(name, value, lo, hi=None) -> int:
    bad = isinstance(value, bool) or not isinstance(value, (int, np.integer))
    if bad or value < lo or (hi is not None and value > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"`{name}` must be an integer {rng}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# neighbours


def _nearest_outside(tree, x, theiler, query=None, chunk=2**21):
    """Distance and index of the nearest neighbour j of x[i], |i - j| > theiler, for i in ``query``
    (default all): k-nearest queries with k doubled until a neighbour outside the window shows up
    (at most 2 theiler + 2 are ever needed), in chunks of bounded memory."""
    n = x.shape[0]
    query = np.arange(n) if query is None else np.asarray(query)
    dist, idx = np.full(query.size, np.inf), np.full(query.size, -1)
    todo, k = np.arange(query.size), min(n, 8)
    while todo.size:
        step = max(1, chunk // k)
        for lo in range(0, todo.size, step):
            part = todo[lo: lo + step]
            d, j = tree.query(x[query[part]], k=k)
            d, j = d.reshape(part.size, k), j.reshape(part.size, k)
            ok = np.abs(j - query[part][:, None]) > theiler
            first = np.argmax(ok, axis=1)
            has = ok[np.arange(part.size), first]
            dist[part[has]], idx[part[has]] = d[has, first[has]], j[has, first[has]]
        todo = todo[idx[todo] < 0]
        if k == n:
            break
        need = min(n, 2 * theiler + 2)  # enough to reach past the window
        k = min(2 * k, need) if k < need else n
    return dist, idx


# ---------------------------------------------------------------------------------------------
# embedding


def delay_embed(series, dim: int, delay: int) -> np.ndarray:
    """Delay vectors (N - (dim - 1) delay, dim), row i = [x_i, x_(i+delay), ..., x_(i+(dim-1)delay)]."""
    x = _iv_series(series, min_n=1)
    dim, delay = _iv_int("dim", dim, 1), _iv_int("delay", delay, 1)
    rows = x.size - (dim - 1) * delay
    if rows < 1:
        raise ValueError(f"a series of {x.size} values is too short for dim={dim}, delay={delay}")
    return np.lib.stride_tricks.sliding_window_view(x, (dim - 1) * delay + 1)[:, ::delay].copy()


def _digitise(x, bins) -> np.ndarray:
    lo, hi = x.min(), x.max()
    return np.minimum(((x - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)


def _mi(a, b, bins) -> float:
    """Mutual information (nats) of two bin-index arrays, plug-in histogram estimate."""
    joint = np.bincount(a * bins + b, minlength=bins * bins).reshape(bins, bins) / a.size
    pa, pb = joint.sum(axis=1), joint.sum(axis=0)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / np.outer(pa, pb)[nz])))


def _autocorrelation(x, max_delay) -> np.ndarray:
    y = x - x.mean()
    f = np.fft.rfft(y, 2 * y.size)
    acf = np.fft.irfft(f * np.conj(f))[: max_delay + 1]
    return acf / acf[0]


SHUFFLES = 8


def choose_delay(series, *, max_delay: int | None = None, bins: int | None = None) -> DelayChoice:
    """Embedding delay by a stated rule; ``rule`` says which one fired.

    1. The first minimum tau of the mutual information I(tau) between x_t and x_(t+tau) (Fraser &
       Swinney 1986), made robust to the estimator's noise: I(tau) < I(tau - 1), I(tau) <= I over
       the next tau lags (tau + 1 .. 2 tau), and I(tau) above the noise floor, the mean + 3 SD of I
       between x and 8 shuffled copies of x (fixed permutations, so the choice is a pure function of
       the series).  Histogram with ``bins`` equal bins (default sqrt(N / 5) clipped to [8, 64]),
       lags up to ``max_delay`` (default min(N // 10, 500)).  Maps (Henon, logistic) have an I(tau)
       that decays to the floor without a minimum: the bare "first local minimum" there is noise.
    2. Else the first lag at which the autocorrelation falls below 1/e (which comes no later than
       its first zero, and is less noisy for a slowly decaying autocorrelation).
    """
    x = _iv_series(series, min_n=20)
    if np.ptp(x) == 0:
        raise ValueError("`series` is constant: no delay can be chosen")
    max_delay = _iv_int("max_delay", min(x.size // 10, 500) if max_delay is None else max_delay,
                        2, x.size // 2)
    bins = _iv_int("bins", int(np.clip(math.sqrt(x.size / 5), 8, 64)) if bins is None else bins, 2)
    idx = _digitise(x, bins)
    mi = np.array([_mi(idx[: x.size - tau], idx[tau:], bins) for tau in range(max_delay + 1)])
    gen = np.random.default_rng(0)
    shuffled = [_mi(idx, gen.permutation(idx), bins) for _ in range(SHUFFLES)]
    floor = float(np.mean(shuffled) + 3 * np.std(shuffled, ddof=1))
    acf = _autocorrelation(x, max_delay)
    for tau in range(1, max_delay // 2 + 1):
        if mi[tau] < mi[tau - 1] and mi[tau] <= mi[tau + 1: 2 * tau + 1].min() and mi[tau] > floor:
            return DelayChoice(tau, "first minimum of the mutual information", mi, acf, bins, floor)
    hit = np.nonzero(acf[1:] < 1 / math.e)[0]
    if hit.size:
        return DelayChoice(int(hit[0]) + 1, "first lag with autocorrelation below 1/e (the mutual "
                           "information has no minimum above its noise floor)", mi, acf, bins, floor)
    raise ValueError(f"no rule fired up to max_delay={max_delay}: the mutual information has no "
                     f"minimum and the autocorrelation stays above 1/e; pass a larger max_delay")


def false_nearest_neighbours(series, delay: int, max_dim: int = 10, *, rtol: float = 15.0,
                             atol: float = 2.0, threshold: float = 0.01, theiler: int = 0
                             ) -> DimensionChoice:
    """Embedding dimension by false nearest neighbours (Kennel, Brown & Abarbanel 1992).

    For m = 1..max_dim, each point's nearest neighbour in m dimensions (|i - j| > theiler) is false
    if the (m+1)-th coordinate separates them by more than ``rtol`` times their distance R_m, or if
    R_(m+1) > ``atol`` x SD(series).  dim = the first m whose fraction of false neighbours is below
    ``threshold``; if none, the m with the smallest fraction (``rule`` says which)."""
    x = _iv_series(series, min_n=20)
    delay, max_dim = _iv_int("delay", delay, 1), _iv_int("max_dim", max_dim, 1, 50)
    theiler = _iv_int("theiler", theiler, 0)
    for name, v, hi in (("rtol", rtol, math.inf), ("atol", atol, math.inf),
                        ("threshold", threshold, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < hi:
            raise ValueError(f"`{name}` must be a number in (0, {hi:g}), got {v!r}")
    if x.size - max_dim * delay < 2 * theiler + 3:
        raise ValueError(f"series of {x.size} values too short for max_dim={max_dim}, delay={delay}")
    sd = float(np.std(x))
    if sd == 0:
        raise ValueError("`series` is constant: no embedding dimension can be chosen")
    frac = np.empty(max_dim)
    for m in range(1, max_dim + 1):
        emb = delay_embed(x, m + 1, delay)
        y = emb[:, :m]
        r, j = _nearest_outside(cKDTree(y), y, theiler)
        ok = (j >= 0) & (r > 0)
        i = np.nonzero(ok)[0]
        extra = np.abs(emb[i, m] - emb[j[i], m])
        false = (extra > rtol * r[i]) | (np.sqrt(r[i] ** 2 + extra**2) > atol * sd)
        frac[m - 1] = false.mean() if i.size else 1.0
    below = np.nonzero(frac < threshold)[0]
    if below.size:
        return DimensionChoice(int(below[0]) + 1, f"first dimension with false-neighbour fraction "
                               f"< {threshold:g}", frac, delay, rtol, atol, threshold, theiler)
    return DimensionChoice(int(np.argmin(frac)) + 1, f"no dimension reached fraction < {threshold:g}; "
                           f"took the smallest fraction", frac, delay, rtol, atol, threshold, theiler)


