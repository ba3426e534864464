"""Power-law fits by maximum likelihood (Clauset, Shalizi & Newman, SIAM Rev. 51:661, 2009).

Continuous: p(x) = (alpha - 1)/xmin (x/xmin)^-alpha for x >= xmin; alpha = 1 + n / sum ln(x/xmin),
standard error (alpha - 1)/sqrt(n) (Fisher information).
Discrete: p(x) = x^-alpha / zeta(alpha, xmin) on the integers x >= xmin; the exact MLE solves
zeta'(alpha, xmin)/zeta(alpha, xmin) = -(1/n) sum ln x, and the standard error is
1/sqrt(n [zeta''/zeta - (zeta'/zeta)^2]) (CSN 2009; the continuous (alpha - 1)/sqrt(n) is too
small for discrete data: the key ``discrete_powerlaw_se_ratio``).  The closed form
alpha ~ 1 + n / sum ln(x/(xmin - 1/2)) is used only when asked (``method="approx"``), with a warning
below ``APPROX_XMIN`` (the key ``csn_discrete_approx_xmin``), where it is off by more than 1%.
xmin: the candidate minimising the KS distance of the tail from its fit (CSN section 3.3).
Windowed fits on [xmin, xmax] renormalise the density on the window (see :mod:`.window`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from dynsim import references
from dynsim.analysis.powerlaw import scan
from dynsim.analysis.results import Printable, short_method, table_line

MIN_TAIL_DISCRETE = 10
MIN_TAIL_CONTINUOUS = 50
MAX_CANDIDATES = 200
Z95 = 1.959963984540054
APPROX_XMIN = references.value("csn_discrete_approx_xmin")  # the closed form is within ~1% above


@dataclass(frozen=True)
class PowerLawFit(Printable):
    """p(x) ~ x^-alpha on [xmin, xmax], fitted by maximum likelihood.

    ``status`` is "ok" or "failed" (then ``reason`` says why and alpha is NaN).  ``scan`` holds the
    xmin candidates with their alpha and KS distance (the xmin-stability plot)."""

    alpha: float
    stderr: float
    xmin: float
    xmax: float | None
    n_tail: int
    n_total: int
    ks: float
    discrete: bool
    method: str
    status: str = "ok"
    reason: str = ""
    candidates_rule: str = ""
    scan: dict = field(default_factory=dict, repr=False)
    xmin_given: bool = False  # xmin fixed by the caller, not scanned (the bootstrap keeps it so)
    min_decades: float = 0.0  # the scan's tail-span rule (the bootstrap refits by the same rule)
    n_nonpositive: int = 0  # samples <= 0 left out before the fit (not counted in n_total)
    caveat: str = ""  # what the exponent means for this system (e.g. "effective" for BTW)
    xmax_rule: str = ""  # where xmax came from ("given", or the cutoff scale estimated from the data)

    @property
    def value(self) -> float:
        return self.alpha

    @property
    def ci(self) -> tuple[float, float]:
        return (self.alpha - Z95 * self.stderr, self.alpha + Z95 * self.stderr)

    reference = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def headline(self) -> float:
        return self.alpha

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("alpha", "stderr", "xmin", "xmax", "n_tail", "n_total",
                                             "ks", "discrete", "method", "status", "reason",
                                             "candidates_rule", "xmin_given", "min_decades",
                                             "n_nonpositive", "caveat", "xmax_rule")}
        out["ci"] = self.ci
        out["n_candidates"] = int(len(self.scan.get("xmin", ())))
        return out

    @property
    def binned(self) -> bool:
        return self.method.startswith("binned")

    @property
    def label(self) -> str:
        """The method in a few words ("discrete MLE", "binned MLE", ...), "no fit" when failed."""
        return short_method(self.method) if self.ok else "no fit"

    def candidates(self) -> dict:
        """The xmin scan: the rule that chose the candidates, and per candidate its xmin, alpha,
        KS distance, tail size and SE (the xmin-stability plot)."""
        return {"rule": self.candidates_rule,
                **{k: self.scan[k] for k in ("xmin", "alpha", "ks", "n_tail", "stderr")
                   if k in self.scan}}

    def footnotes(self) -> tuple[str, ...]:
        if not self.ok:
            return (f"no fit: {self.reason}",)
        notes = [f"{self.n_nonpositive} values <= 0 left out"] if self.n_nonpositive else []
        if self.binned:
            notes.append("no bootstrap or likelihood-ratio tests on binned data")
        if self.caveat:
            notes.append(self.caveat)
        return tuple(notes)

    def range_text(self, decades: float | None = None) -> str:
        """'xmin = 3 (rule), window [xmin, inf]; n_tail = 1,200 of 3,000; ...; KS = 0.0123'."""
        lo = "bmin" if self.binned else "xmin"
        hi = "inf" if self.xmax is None else f"{self.xmax:g}"
        rule = "given" if self.xmin_given and not self.binned else self.candidates_rule
        ks = "KS (binned CDF)" if self.binned else "KS"
        span = "" if decades is None else f"tail spans {decades:.2f} decades; "
        return (f"{lo} = {self.xmin:g} ({rule}), window [{lo}, {hi}]"
                + (f" ({self.xmax_rule})" if self.xmax_rule else "")
                + f"; n_tail = {self.n_tail:,} of {self.n_total:,}; {span}{ks} = {self.ks:.4f}"
                + (f"; {self.n_nonpositive} values <= 0 left out" if self.n_nonpositive else ""))

    def details(self, name: str | None = None) -> str:
        """alpha with its SE and method, the fitted range and how xmin was chosen, the tail size,
        the KS distance, and the caveat."""
        name = name or "power_law"
        if not self.ok:
            return f"{name}: no fit ({self.reason})"
        lines = [f"{name}: alpha = {self.alpha:.4f} ± {self.stderr:.2g} ({self.method})",
                 f"  {self.range_text()}"]
        if self.binned:
            lines.append("  no bootstrap or likelihood-ratio tests on binned data")
        if self.caveat:
            lines.append(f"  note: {self.caveat}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return table_line(self.alpha, self.stderr, self.ci, None, self.label)


def failed(reason: str, n_total: int, discrete: bool, xmin=np.nan, xmax=None, method="mle"):
    return PowerLawFit(np.nan, np.nan, float(xmin), xmax, 0, n_total, np.nan, discrete, method,
                       status="failed", reason=reason)


def _iv(x, discrete, xmin, xmax, method):
    """Validate and normalise the inputs of :func:`fit_power_law`."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        arr = arr.ravel()
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"`x` must be numeric, got dtype {arr.dtype}")
    if discrete is None:
        discrete = arr.dtype.kind in "iu"
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`x` must be finite; it has {int(np.sum(~np.isfinite(arr)))} NaN/inf values")
    n_nonpositive = int(np.sum(arr <= 0))
    arr = arr[arr > 0]
    if discrete and np.any(arr != np.round(arr)):
        raise ValueError("`discrete=True` needs integer values in `x`")
    if method not in ("mle", "approx"):
        raise ValueError(f"`method` must be 'mle' or 'approx', got {method!r}")
    for name, v in (("xmin", xmin), ("xmax", xmax)):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise ValueError(f"`{name}` must be a finite number > 0, got {v!r}")
    if xmin is not None and xmax is not None and xmax <= xmin:
        raise ValueError(f"`xmax` must be > `xmin`, got xmin={xmin}, xmax={xmax}")
    if discrete and xmin is not None and xmin != round(xmin):
        raise ValueError(f"`xmin` must be an integer for discrete data, got {xmin}")
    return arr, bool(discrete), n_nonpositive


def fit_power_law(x, *, discrete: bool | None = None, xmin: float | None = None,
                  xmax: float | None = None, method: str = "mle",
                  min_tail: int | None = None, min_decades: float = 0.0) -> PowerLawFit:
    """Fit a power law to the samples ``x`` (non-positive values are ignored).

    discrete: inferred from an integer dtype when None (and recorded in the result).
    xmin: fixed, or (None) chosen by minimising the KS distance over candidates: every distinct
        value with at least ``min_tail`` points above it for discrete data (default 10), or for
        continuous data with more than MAX_CANDIDATES such values, MAX_CANDIDATES candidates spaced
        geometrically in tail size between n and ``min_tail`` (default 50) -- quantile-spaced.
    xmax: upper end of a window; the density is renormalised on [xmin, xmax].
    method: "mle" (exact) or "approx" (discrete closed form; warns for xmin < APPROX_XMIN).
    min_decades: xmin candidates must leave a tail spanning at least this many decades (max/xmin
        >= 10**min_decades).  0 is CSN's scan; 1 keeps the scan out of a finite-size cutoff, where
        a short steep tail can fit well (avalanches of a finite system).
    """
    arr, discrete, n_nonpositive = _iv(x, discrete, xmin, xmax, method)
    if min_tail is None:
        min_tail = MIN_TAIL_DISCRETE if discrete else MIN_TAIL_CONTINUOUS
    if not (isinstance(min_tail, (int, np.integer)) and min_tail >= 2):
        raise ValueError(f"`min_tail` must be an integer >= 2, got {min_tail!r}")
    if isinstance(min_decades, bool) or not isinstance(min_decades, (int, float)) or \
            not 0 <= min_decades <= 20:
        raise ValueError(f"`min_decades` must be a number in [0, 20], got {min_decades!r}")
    span = 10.0 ** min_decades
    n_total = arr.size
    given = dict(xmin_given=xmin is not None, min_decades=float(min_decades),
                 n_nonpositive=n_nonpositive)
    if n_total < min_tail:
        return replace(failed(f"{n_total} positive samples; at least {min_tail} needed in the tail",
                              n_total, discrete, np.nan if xmin is None else xmin, xmax), **given)
    if xmax is not None:  # the same record of the rule as below: the bootstrap refits by it
        from dynsim.analysis.powerlaw.window import fit_window

        return replace(fit_window(arr, discrete, xmin, xmax, min_tail, span), **given)
    arr = np.sort(arr)
    if discrete:
        fit = _fit_discrete(arr, xmin, method, min_tail, n_total, span)
    elif method == "approx":
        raise ValueError("`method='approx'` applies to discrete data only")
    else:
        fit = _fit_continuous(arr, xmin, min_tail, n_total, span)
    return replace(fit, **given)


def _fit_discrete(arr, xmin, method, min_tail, n_total, span=1.0) -> PowerLawFit:
    values, counts = np.unique(arr, return_counts=True)
    if xmin is not None and float(xmin) not in values:  # a given xmin below the next data value
        at = int(np.searchsorted(values, xmin))
        values, counts = np.insert(values, at, float(xmin)), np.insert(counts, at, 0)
    suffix_n = np.cumsum(counts[::-1])[::-1].astype(float)
    suffix_log = np.cumsum((counts * np.log(values))[::-1])[::-1]
    if xmin is None:
        cand = np.flatnonzero((suffix_n >= min_tail) & (values * span <= values[-1]))
        rule = f"every distinct value with n_tail >= {min_tail} ({cand.size} candidates)"
        if span > 1:
            rule += f", tail spanning >= {np.log10(span):g} decades"
    else:
        k = int(np.searchsorted(values, xmin))
        if k >= values.size or suffix_n[k] < min_tail:
            n_tail = 0 if k >= values.size else int(suffix_n[k])
            return failed(f"{n_tail} points at or above xmin={xmin:g}; at least {min_tail} needed",
                          n_total, True, xmin)
        cand = np.array([k])
        rule = "fixed xmin"
    if cand.size == 0:
        return failed(f"no xmin leaves {min_tail} points in the tail (n={n_total})", n_total, True)
    alpha, ks, fisher = (np.empty(cand.size) for _ in range(3))
    scan.discrete_scan(values, counts.astype(float), suffix_n, suffix_log, cand, alpha, ks, fisher)
    if not np.any(np.isfinite(alpha)):
        return failed("the likelihood has no maximum: all tail points equal xmin", n_total, True,
                      values[cand[0]])
    best = int(np.argmin(np.where(np.isfinite(alpha), ks, np.inf)))
    k = cand[best]
    xm, n_tail = float(values[k]) if xmin is None else float(xmin), int(suffix_n[k])
    a, info = alpha[best], fisher[best]
    method_name = "discrete MLE (Hurwitz zeta), Fisher SE"
    if method == "approx":
        if xm < APPROX_XMIN:
            warnings.warn(f"the closed-form discrete approximation is off by more than 1% for "
                          f"xmin < {APPROX_XMIN:g} (xmin={xm:g}); use method='mle'", stacklevel=3)
        a = 1.0 + n_tail / (suffix_log[k] - n_tail * math.log(xm - 0.5))
        info = scan.discrete_alpha(suffix_log[k] / n_tail, xm, a)[1]
        ks_a = scan.discrete_ks(values, counts.astype(float), k, float(n_tail), a)
        ks = ks.copy()
        ks[best] = ks_a
        method_name = "discrete closed-form approximation (CSN eq. 3.7), Fisher SE"
    return PowerLawFit(float(a), float(1.0 / math.sqrt(n_tail * info)), xm, None, n_tail, n_total,
                       float(ks[best]), True, method_name, candidates_rule=rule,
                       scan={"xmin": values[cand], "alpha": alpha, "ks": ks,
                             "n_tail": suffix_n[cand],
                             "stderr": 1.0 / np.sqrt(suffix_n[cand] * fisher)})


def continuous_candidates(arr_sorted: np.ndarray, min_tail: int) -> tuple[np.ndarray, str]:
    """Start indices of xmin candidates in a sorted sample (first index of each distinct value)."""
    n = arr_sorted.size
    distinct = np.flatnonzero(np.r_[True, arr_sorted[1:] != arr_sorted[:-1]])
    distinct = distinct[n - distinct >= min_tail]
    if distinct.size <= MAX_CANDIDATES:
        return distinct, f"every distinct value with n_tail >= {min_tail} ({distinct.size} candidates)"
    tails = np.unique(np.round(np.geomspace(n, min_tail, MAX_CANDIDATES)).astype(np.int64))
    idx = np.searchsorted(arr_sorted, arr_sorted[n - tails], side="left")
    idx = np.unique(idx[n - idx >= min_tail])
    return idx, (f"{idx.size} quantile-spaced candidates, tail sizes geometric from n={n} "
                 f"to {min_tail}")


def _fit_continuous(arr, xmin, min_tail, n_total, span=1.0) -> PowerLawFit:
    suffix_log = np.cumsum(np.log(arr)[::-1])[::-1]
    if xmin is None:
        cand, rule = continuous_candidates(arr, min_tail)
        if span > 1:
            cand = cand[arr[cand] * span <= arr[-1]]
            rule += f", tail spanning >= {np.log10(span):g} decades"
    else:
        k = int(np.searchsorted(arr, xmin, side="left"))
        if arr.size - k < min_tail:
            return failed(f"{arr.size - k} points at or above xmin={xmin:g}; at least {min_tail} "
                          "needed", n_total, False, xmin)
        cand, rule = np.array([k]), "fixed xmin"
    if cand.size == 0:
        return failed(f"no xmin leaves {min_tail} points in the tail (n={n_total})", n_total, False)
    alpha, ks = np.empty(cand.size), np.empty(cand.size)
    scan.continuous_scan(arr, suffix_log, cand, alpha, ks)
    if not np.any(np.isfinite(alpha)):
        return failed("all tail points equal xmin", n_total, False, arr[cand[0]])
    best = int(np.argmin(ks))
    k = cand[best]
    n_tail = arr.size - k
    xm = float(arr[k]) if xmin is None else float(xmin)
    if xmin is not None:  # alpha and KS at the given xmin (it may lie below the next data point)
        tail = arr[k:]
        a = 1.0 + n_tail / (suffix_log[k] - n_tail * math.log(xm))
        f = 1.0 - (tail / xm) ** (1.0 - a)
        i = np.arange(1, n_tail + 1)
        alpha[best], ks[best] = a, max(np.max(i / n_tail - f), np.max(f - (i - 1) / n_tail))
    a = float(alpha[best])
    return PowerLawFit(a, (a - 1.0) / math.sqrt(n_tail), xm, None, int(n_tail), n_total,
                       float(ks[best]), False, "continuous MLE, Fisher SE", candidates_rule=rule,
                       scan={"xmin": arr[cand], "alpha": alpha, "ks": ks,
                             "n_tail": (arr.size - cand).astype(float),
                             "stderr": (alpha - 1.0) / np.sqrt(arr.size - cand)})


def sample_power_law(n: int, alpha: float, xmin: float, discrete: bool,
                     rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from the fitted power law above xmin (exact inversion, discrete or continuous)."""
    u = 1.0 - rng.random(n)  # (0, 1]
    if not discrete:
        return xmin * u ** (-1.0 / (alpha - 1.0))
    out = np.empty(n)
    scan.discrete_sample(u, float(alpha), float(xmin), out)
    return out
