"""Numba kernels of the xmin scan: for each candidate xmin, the MLE of alpha and the KS distance.

Data are sorted once; the tail sums sum ln x come from suffix sums, so a candidate costs one
Newton solve (discrete) or one division (continuous) plus one pass over the tail for the KS
distance D = sup_{x >= xmin} |F_data(x) - F_model(x)| (both one-sided limits at every jump, i.e. the
true supremum of CSN 2009, eq. 3.9).  Candidates run in parallel (prange); each writes its own slot.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from dynsim.analysis.powerlaw.zeta import hurwitz, hurwitz_d2

ALPHA_MAX = 50.0


@njit(cache=True)
def discrete_alpha(mean_log, xmin, alpha0):
    """Exact discrete MLE: solve zeta'(a, xmin)/zeta(a, xmin) = -mean_log by safeguarded Newton.

    Returns (alpha, fisher) with fisher = zeta''/zeta - (zeta'/zeta)^2 per observation, or
    (nan, nan) when the likelihood has no maximum (all points at xmin)."""
    if mean_log <= math.log(xmin) + 1e-14:
        return np.nan, np.nan
    a = min(max(alpha0, 1.0 + 1e-6), ALPHA_MAX)
    lo, hi = 1.0 + 1e-12, ALPHA_MAX
    for _ in range(100):
        z0, z1, z2 = hurwitz_d2(a, xmin)
        g = -mean_log - z1 / z0          # score per observation, decreasing in a
        info = z2 / z0 - (z1 / z0) ** 2  # > 0
        if g > 0:
            lo = a
        else:
            hi = a
        step = g / info
        new = a + step
        if not (lo < new < hi):
            new = 0.5 * (lo + hi)
        if abs(new - a) < 1e-13 * a:
            a = new
            break
        a = new
    z0, z1, z2 = hurwitz_d2(a, xmin)
    return a, z2 / z0 - (z1 / z0) ** 2


@njit(cache=True, inline="always")
def _tail_sum_gap(alpha, lo, hi):
    """sum_{x=lo}^{hi-1} x^-alpha for a short gap."""
    s = 0.0
    x = lo
    while x < hi:
        s += x ** -alpha
        x += 1.0
    return s


@njit(cache=True)
def discrete_ks(values, counts, k, n_tail, alpha):
    """KS distance of the discrete power law (alpha, xmin = values[k]) from the tail data.

    T(x) = zeta(alpha, x) / zeta(alpha, xmin) = P(X >= x) is carried along the sorted distinct
    values, by subtracting terms across short gaps and by a fresh zeta evaluation across long ones."""
    zmin = hurwitz(alpha, values[k])
    cum = 0.0
    d = 0.0
    t_next = 1.0  # T at values[k]
    prev_plus = values[k]  # the point where t_next holds
    for j in range(k, values.shape[0]):
        v = values[j]
        gap = v - prev_plus
        if gap > 0:
            if gap <= 32:
                t_next -= _tail_sum_gap(alpha, prev_plus, v) / zmin
            else:
                t_next = hurwitz(alpha, v) / zmin
        t_at = t_next                       # P(X >= v)
        t_after = t_at - v ** -alpha / zmin  # P(X >= v + 1)
        left = cum / n_tail                  # data CDF just below v
        cum += counts[j]
        right = cum / n_tail                 # data CDF at v
        d = max(d, abs(left - (1.0 - t_at)), abs(right - (1.0 - t_after)))
        t_next = t_after
        prev_plus = v + 1.0
    return d


@njit(cache=True, parallel=True)
def discrete_scan(values, counts, suffix_n, suffix_log, cand, alpha_out, ks_out, fisher_out):
    """For each candidate index k of the distinct sorted ``values``: MLE alpha, Fisher info, KS."""
    for i in prange(cand.shape[0]):
        k = cand[i]
        n_tail = suffix_n[k]
        mean_log = suffix_log[k] / n_tail
        xmin = values[k]
        a0 = 1.0 + 1.0 / max(mean_log - math.log(xmin - 0.5), 1e-12)
        a, info = discrete_alpha(mean_log, xmin, a0)
        alpha_out[i] = a
        fisher_out[i] = info
        ks_out[i] = discrete_ks(values, counts, k, n_tail, a) if a == a else np.inf


@njit(cache=True, parallel=True)
def continuous_scan(x, suffix_log, cand, alpha_out, ks_out):
    """For each candidate start index k of the sorted sample ``x``: MLE alpha and KS distance."""
    n = x.shape[0]
    for i in prange(cand.shape[0]):
        k = cand[i]
        n_tail = n - k
        xmin = x[k]
        denom = suffix_log[k] - n_tail * math.log(xmin)
        if denom <= 0.0:
            alpha_out[i] = np.nan
            ks_out[i] = np.inf
            continue
        a = 1.0 + n_tail / denom
        d = 0.0
        for j in range(k, n):
            f = 1.0 - (x[j] / xmin) ** (1.0 - a)
            d = max(d, (j - k + 1) / n_tail - f, f - (j - k) / n_tail)
        alpha_out[i] = a
        ks_out[i] = d


@njit(cache=True, parallel=True)
def discrete_sample(u, alpha, xmin, out):
    """Exact inversion for the discrete power law: out[i] = max{x >= xmin : P(X >= x) >= u[i]}.

    Start from the continuous approximation, bracket the answer by doubling steps, then bisect on
    the integers: O(log x) zeta evaluations even where the approximation is off by thousands."""
    zmin = hurwitz(alpha, xmin)
    for i in prange(u.shape[0]):
        ui = u[i]
        x0 = math.floor((xmin - 0.5) * ui ** (-1.0 / (alpha - 1.0)) + 0.5)
        x0 = min(max(x0, xmin), 1e15)
        lo, step = x0, 1.0
        while lo > xmin and hurwitz(alpha, lo) / zmin < ui:  # P(X >= lo) must reach ui
            lo = max(xmin, lo - step)
            step *= 2.0
        hi, step = lo, 1.0
        while hurwitz(alpha, hi + 1.0) / zmin >= ui:  # P(X >= hi + 1) must fall below ui
            lo = hi + 1.0
            hi = hi + step
            step *= 2.0
        while hi > lo:  # invariant: answer in [lo, hi]
            mid = math.floor(0.5 * (lo + hi + 1.0))
            if hurwitz(alpha, mid) / zmin >= ui:
                lo = mid
            else:
                hi = mid - 1.0
        out[i] = lo
