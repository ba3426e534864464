"""Power laws on a window [xmin, xmax], renormalised on the window.

Continuous: p(x) = x^-alpha / Z, Z = int_xmin^xmax x^-alpha dx = xmin^(1-a) expm1((1-a) ln(xmax/xmin))/(1-a)
(ln(xmax/xmin) at a = 1), valid for any real alpha.  Discrete: p(x) = x^-alpha / Z on the integers
of the window, Z = sum_{x=xmin}^{xmax} x^-alpha (a direct sum on short windows, otherwise
zeta(alpha, xmin) - zeta(alpha, xmax + 1), which needs alpha > 1).  alpha by maximising the
likelihood numerically, its standard error from the observed information (numerical second
derivative), xmin (when not given) by the KS distance over at most MAX_CANDIDATES candidates.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from dynsim.analysis.powerlaw.fit import (MAX_CANDIDATES, PowerLawFit, continuous_candidates,
                                          failed)
from dynsim.analysis.powerlaw.zeta import hurwitz

DIRECT_SUM_MAX = 200_000
ALPHA_RANGE = (-5.0, 20.0)


CUTOFF_RULE = "xmax = <x^2>/<x>, the cutoff scale estimated from the data"


def cutoff_scale(x) -> float:
    """The cutoff scale s_c ~ <s^2>/<s> of positive samples: for P(s) = s^-tau G(s/s_c) with
    1 < tau < 2 both moments are dominated by s ~ s_c, so the ratio is proportional to s_c (the
    moment ratio of finite-size scaling).  A window [xmin, s_c] with xmin a decade or more below
    keeps a single-size fit out of the cutoff region."""
    a = np.asarray(x, dtype=float).ravel()
    a = a[a > 0]
    if a.size == 0:
        raise ValueError("cutoff_scale needs positive samples")
    return float(np.mean(a * a) / np.mean(a))


def cutoff_scale_binned(counts, edges) -> float:
    """<s^2>/<s> of a histogram (counts pooled over leading axes), with each bin at its
    geometric centre: a window choice, not a precise moment."""
    c = np.asarray(counts, dtype=float)
    c = c.reshape(-1, c.shape[-1]).sum(axis=0)
    e = np.asarray(edges, dtype=float)
    mid = np.sqrt(e[:-1] * e[1:])
    if not c.sum() > 0:
        raise ValueError("cutoff_scale_binned needs a non-empty histogram")
    return float((c * mid * mid).sum() / (c * mid).sum())


def log_norm(alpha: float, xmin: float, xmax: float, discrete: bool) -> float:
    """ln Z of x^-alpha on the window (see the module docstring)."""
    if discrete:
        if xmax - xmin < DIRECT_SUM_MAX:
            x = np.arange(xmin, xmax + 1.0)
            lx = np.log(x)
            m = (-alpha * lx).max()
            return m + math.log(np.exp(-alpha * lx - m).sum())
        if alpha <= 1:
            raise ValueError(f"a discrete window longer than {DIRECT_SUM_MAX} needs alpha > 1")
        return math.log(hurwitz(alpha, xmin) - hurwitz(alpha, xmax + 1.0))
    r = math.log(xmax / xmin)
    b = 1.0 - alpha
    if abs(b * r) < 1e-12:
        return math.log(xmin ** b * r)
    return b * math.log(xmin) + math.log(math.expm1(b * r) / b)


def window_cdf(x, alpha: float, xmin: float, xmax: float, discrete: bool) -> np.ndarray:
    """P(X <= x) for the windowed power law (discrete: x integer)."""
    x = np.asarray(x, dtype=float)
    if discrete and xmax - xmin >= DIRECT_SUM_MAX:  # long window: Hurwitz zeta differences
        from scipy.special import zeta

        z = math.exp(log_norm(alpha, xmin, xmax, True))
        xf = np.clip(np.floor(x), xmin - 1, xmax)
        return np.where(xf < xmin, 0.0, (zeta(alpha, xmin) - zeta(alpha, xf + 1.0)) / z)
    if discrete:
        grid = np.arange(xmin, xmax + 1.0)
        pmf = np.exp(-alpha * np.log(grid) - log_norm(alpha, xmin, xmax, True))
        cdf = np.cumsum(pmf)
        idx = np.clip(np.floor(x) - xmin, -1, grid.size - 1).astype(np.int64)
        return np.where(idx < 0, 0.0, cdf[np.maximum(idx, 0)])
    b = 1.0 - alpha
    x = np.clip(x, xmin, xmax)
    if abs(b) < 1e-12:
        return np.log(x / xmin) / math.log(xmax / xmin)
    return np.expm1(b * np.log(x / xmin)) / math.expm1(b * math.log(xmax / xmin))


def _fit_alpha(tail: np.ndarray, xmin: float, xmax: float, discrete: bool):
    n, s = tail.size, np.log(tail).sum()
    lo = ALPHA_RANGE[0] if not (discrete and xmax - xmin >= DIRECT_SUM_MAX) else 1.0 + 1e-9

    def nll(a):
        return a * s + n * log_norm(a, xmin, xmax, discrete)

    res = optimize.minimize_scalar(nll, bounds=(lo, ALPHA_RANGE[1]), method="bounded",
                                   options={"xatol": 1e-10})
    a, h = res.x, 1e-4
    info = (nll(a + h) - 2 * nll(a) + nll(a - h)) / h**2
    return a, (1.0 / math.sqrt(info) if info > 0 else np.nan)


def _ks(tail_sorted: np.ndarray, alpha, xmin, xmax, discrete) -> float:
    n = tail_sorted.size
    if discrete:
        values, counts = np.unique(tail_sorted, return_counts=True)
        emp = np.cumsum(counts) / n
        model = window_cdf(values, alpha, xmin, xmax, True)
        model_left = window_cdf(values - 1, alpha, xmin, xmax, True)
        return float(max(np.abs(emp - model).max(), np.abs(emp - counts / n - model_left).max()))
    f = window_cdf(tail_sorted, alpha, xmin, xmax, False)
    i = np.arange(1, n + 1)
    return float(max((i / n - f).max(), (f - (i - 1) / n).max()))


def fit_window(arr: np.ndarray, discrete: bool, xmin, xmax: float, min_tail: int,
               span: float = 1.0) -> PowerLawFit:
    """Fit on [xmin, xmax]; xmin scanned by KS when None (called by :func:`fit_power_law`).
    ``span`` = 10**min_decades: scanned candidates leave a tail with max/xmin >= span (the largest
    point inside the window is the max)."""
    n_total = arr.size
    inside = np.sort(arr[arr <= xmax])
    if xmin is None:
        idx, rule = continuous_candidates(inside, min_tail)
        if idx.size > MAX_CANDIDATES:
            idx = idx[np.unique(np.linspace(0, idx.size - 1, MAX_CANDIDATES).astype(int))]
        if span > 1 and inside.size:
            idx = idx[inside[idx] * span <= inside[-1]]
            rule += f", tail spanning >= {math.log10(span):g} decades"
        cands = inside[idx]
    else:
        cands, rule = np.array([float(xmin)]), "fixed xmin"
    rows = []
    for xm in cands:
        tail = inside[inside >= xm]
        if tail.size < min_tail or tail.max() == tail.min():
            continue
        a, se = _fit_alpha(tail, float(xm), float(xmax), discrete)
        rows.append((_ks(tail, a, float(xm), float(xmax), discrete), float(xm), a, se, tail.size))
    if not rows:
        return failed(f"no xmin leaves {min_tail} distinct-valued points in [xmin, {xmax:g}]",
                      n_total, discrete, np.nan if xmin is None else xmin, xmax)
    ks, xm, a, se, n_tail = min(rows)
    scan = {k: np.array([r[i] for r in rows]) for i, k in ((1, "xmin"), (2, "alpha"), (0, "ks"),
                                                            (4, "n_tail"), (3, "stderr"))}
    return PowerLawFit(a, se, xm, float(xmax), int(n_tail), n_total, ks, discrete,
                       f"{'discrete' if discrete else 'continuous'} MLE on [xmin, xmax], "
                       "renormalised; observed-information SE", candidates_rule=rule, scan=scan)
