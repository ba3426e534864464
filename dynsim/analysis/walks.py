"""Measures of random walks, and the exact results they are checked against.

Polya (1921): the simple walk on Z^d returns to the origin with probability
p(d) = 1 - 1/u(d), u(d) = int_0^inf e^-t I_0(t/d)^d dt (the expected number of visits, Watson/Montroll).
Its values for d = 3..10 are the keys ``polya_return_d3`` .. ``polya_return_d10`` of references.json.
The integrand falls as (2 pi t / d)^(-d/2), so u diverges and p = 1 for d <= 2.

Finite n, exactly: u_k = P(X_k = 0) follows from splitting the k steps among the axes (a binomial
recursion over axes, below), and the first-return probabilities f_k from the renewal equation
u_k = sum_{j=1}^{k} f_j u_{k-j}.  F(n) = f_1 + ... + f_n is the fraction returned by step n.

Extrapolation: for d >= 3, 1 - F(n) - (1 - p) ~ a n^(-(d-2)/2) (the first-return tail falls as
n^(-d/2)), so p is the intercept of F(n) against x = n^(-(d-2)/2); its interval comes from a bootstrap
over walkers (multinomial resampling of the first-return histogram, which is the same thing).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit
from scipy import integrate, special, stats

from dynsim import references
from dynsim.analysis.results import Z95, Estimate

EXACT_MAX_STEPS = 20_000


# ---------------------------------------------------------------------------------------------
# exact results


def _check_d(d, name: str = "d", hi: int = 4096) -> int:
    if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or not 1 <= d <= hi:
        raise ValueError(f"`{name}` must be an integer in [1, {hi}], got {d!r}")
    return int(d)


@lru_cache(maxsize=64)
def polya_return_probability(d: int) -> float:
    """p(d) = 1 - 1/u(d) for d >= 3.  For d <= 2 the integrand decays as (2 pi t/d)^(-d/2), which is
    not integrable (u = infinity), so p = 1: :func:`expected_visits` shows the divergence of the
    partial sums at finite n (~ sqrt(2n/pi) in 1-D, ~ ln(n)/pi in 2-D)."""
    d = _check_d(d)
    if d <= 2:
        return 1.0
    # e^-t I0(t/d)^d = ive(0, t/d)^d; integrate over s = ln t up to t = T (algebraic tail ->
    # exponential), then add the tail from ive(0, x) ~ (2 pi x)^(-1/2) (1 + 1/(8x)), x = t/d.
    big_t = 1e7 * d
    f = lambda s: math.exp(s + d * math.log(special.ive(0, math.exp(s) / d)))  # noqa: E731
    edges = (-40.0, -5.0, 0.0, 3.0, 6.0, 10.0, 13.0, math.log(big_t))
    u = sum(integrate.quad(f, a, b, epsabs=1e-15, epsrel=1e-13, limit=200)[0]
            for a, b in zip(edges[:-1], edges[1:]))
    c = (2 * math.pi / d) ** (-d / 2)
    u += c * (big_t ** (1 - d / 2) / (d / 2 - 1) + d * d / 8 * big_t ** (-d / 2) / (d / 2))
    return 1.0 - 1.0 / u


def polya_source(d: int) -> str:
    """Where p(d) comes from: its references.json key for 3 <= d <= 10, else the integral."""
    d = _check_d(d)
    if 3 <= d <= 10:
        return references.source(f"polya_return_d{d}")
    if d <= 2:
        return references.source("polya_return_d1_d2")
    return "Polya 1921: 1 - 1/u(d), Montroll 1956 integral"


@njit(cache=True)
def _origin_probabilities(d, n):
    """u[j - 1, k] = P(X_k = 0) for the simple walk on Z^j, j = 1..d, k = 0..n (odd k: 0).

    A walk on Z^j puts a ~ Binomial(k, 1/j) of its k steps on axis j; so
    u_j(k) = sum_a Binom(a; k, 1/j) u_1(a) u_{j-1}(k - a), with u_1(a) = C(a, a/2) / 2^a."""
    lf = np.zeros(n + 1)
    for k in range(1, n + 1):
        lf[k] = lf[k - 1] + math.log(k)
    log_u1 = np.full(n + 1, -np.inf)
    for k in range(0, n + 1, 2):
        log_u1[k] = lf[k] - 2.0 * lf[k // 2] - k * math.log(2.0)
    u = np.zeros((d, n + 1))
    for k in range(0, n + 1, 2):
        u[0, k] = math.exp(log_u1[k])
    for j in range(2, d + 1):
        lp, lq = math.log(1.0 / j), math.log((j - 1.0) / j)
        for k in range(0, n + 1, 2):
            s = 0.0
            for a in range(0, k + 1, 2):
                prev = u[j - 2, k - a]
                if prev > 0.0:
                    s += math.exp(lf[k] - lf[a] - lf[k - a] + a * lp + (k - a) * lq
                                  + log_u1[a]) * prev
            u[j - 1, k] = s
    return u


@njit(cache=True)
def _first_return(u):
    """First-return probabilities f_k from the renewal equation (u[0] = 1)."""
    n = u.shape[0] - 1
    f = np.zeros(n + 1)
    for k in range(2, n + 1, 2):
        s = u[k]
        for j in range(2, k, 2):
            s -= f[j] * u[k - j]
        f[k] = s
    return f


_CURVES: dict = {}  # n -> (u, F) for dimensions 1..d_max computed so far (one recursion serves all)


def _exact(d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(u[j-1, k], F[j-1, k]) for j = 1..d': P(X_k = 0) and P(returned by k), k = 0..n."""
    have = _CURVES.get(n)
    if have is None or have[0].shape[0] < d:
        u = _origin_probabilities(d, n)
        f = np.cumsum(np.stack([_first_return(u[j]) for j in range(u.shape[0])]), axis=1)
        if len(_CURVES) > 8:
            _CURVES.clear()
        _CURVES[n] = have = (u, f)
    return have


def _check_exact(d, n) -> tuple[int, int]:
    d = _check_d(d)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or \
            not 1 <= n <= EXACT_MAX_STEPS:
        raise ValueError(f"`n` must be an integer in [1, {EXACT_MAX_STEPS}] for the exact curve, "
                         f"got {n!r}")
    return d, int(n)


def return_fraction_exact(d: int, n: int) -> np.ndarray:
    """F(k) for k = 0..n: the exact probability that the walk on Z^d has returned by step k.

    Cost O(d n^2 / 8) once per n (dimensions 1..d are computed together and cached); n is limited
    to EXACT_MAX_STEPS."""
    d, n = _check_exact(d, n)
    return _exact(d, n)[1][d - 1].copy()


def expected_visits(d: int, n: int) -> np.ndarray:
    """U(k) = sum_{j=0}^{k} P(X_j = 0), k = 0..n: the expected number of visits to the origin by
    step k, the finite-n partial sum of Polya's u(d).  It converges to u(d) = 1/(1 - p) for d >= 3
    and diverges for d <= 2 (~ sqrt(2k/pi) in 1-D, ~ ln(k)/pi in 2-D): the reason p = 1 there."""
    d, n = _check_exact(d, n)
    return np.cumsum(_exact(d, n)[0][d - 1])


# ---------------------------------------------------------------------------------------------
# measures on arrays


def distance_exponent(steps, sq_mean, sq_cov, walkers: int) -> Estimate:
    """Exponent b of RMS(n) = sqrt(<|X_n|^2>) ~ n^b, by least squares of log RMS on log n.

    The standard error is the sandwich w^T V w, with V the covariance of log RMS across record steps
    (delta method on the walkers' |X_n|^2 covariance): the points share their walkers, so an
    ordinary regression error would be too small."""
    n = np.asarray(steps, dtype=float)
    m2 = np.asarray(sq_mean, dtype=float)
    keep = m2 > 0
    x, y = np.log(n[keep]), 0.5 * np.log(m2[keep])
    if x.size < 2:
        raise ValueError("distance_exponent needs at least two record steps with |X_n| > 0")
    w = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    slope = float(w @ y)
    dinv = 1.0 / m2[keep]
    cov = np.asarray(sq_cov, dtype=float)[np.ix_(keep, keep)]
    var_y = 0.25 * cov * np.outer(dinv, dinv) / walkers
    se = math.sqrt(max(float(w @ var_y @ w), 0.0))
    return Estimate.normal(slope, se, method="least squares of log RMS on log n, sandwich SE",
                           n=walkers, reference=references.value("walk_distance_exponent"),
                           reference_source=references.source("walk_distance_exponent"),
                           data={"n_range": [float(n[keep][0]), float(n[keep][-1])],
                                 "points": int(x.size)})


def rms_distance(n: int, sq_mean: float, sq_var: float, walkers: int, expected_sq: float,
                 source: str, what: str = "|X_n|^2") -> Estimate:
    """RMS sqrt(<q>) of a squared distance q over walkers, with a delta-method standard error."""
    rms = math.sqrt(sq_mean)
    se = math.sqrt(sq_var / walkers) / (2 * rms) if rms > 0 else 0.0
    return Estimate.normal(rms, se, method=f"sqrt of the mean of {what} over walkers", n=walkers,
                           reference=math.sqrt(expected_sq), reference_source=source,
                           data={"step": int(n)})


def _limit(value: float, exact: bool, source: str) -> dict:
    """Reference fields: the Gaussian value is exact for a Gaussian walk; for the lattice walk it is
    only the large-n limit, kept in ``data`` (not offered as a reference to test against)."""
    if exact:
        return {"reference": value, "reference_source": source}
    return {"reference": None, "reference_source": f"none exact; {source}: {value:.6g}"}


def mean_distance(n: int, mean: float, sd: float, walkers: int, var: float, d: int, exact: bool,
                  source: str) -> Estimate:
    """Mean |X_n| with its standard error, beside the mean of sqrt(var) chi_d,
    sqrt(2 var) Gamma((d+1)/2) / Gamma(d/2) (exact for a Gaussian walk, the lattice's large-n limit)."""
    ref = math.sqrt(2 * var) * math.exp(special.gammaln((d + 1) / 2) - special.gammaln(d / 2))
    return Estimate.normal(mean, sd / math.sqrt(walkers), method="sample mean over walkers",
                           n=walkers, data={"step": int(n), "gaussian_limit": ref},
                           **_limit(ref, exact, source))


def expected_max_abs_normal(d: int) -> float:
    """E max_i |Z_i| for d independent standard normals: int_0^inf 1 - (2 Phi(x) - 1)^d dx."""
    f = lambda x: -math.expm1(d * math.log1p(-2 * stats.norm.sf(x)))  # noqa: E731
    return integrate.quad(f, 0, np.inf, epsabs=1e-12, limit=200)[0]


def linf_distance(n: int, mean: float, sd: float, walkers: int, var: float, d: int, exact: bool,
                  source: str) -> Estimate:
    """Mean L-infinity distance max_i |x_i(n)| beside sqrt(var) E max_i |Z_i| (exact for a Gaussian
    walk, the lattice's large-n limit)."""
    ref = math.sqrt(var) * expected_max_abs_normal(d)
    return Estimate.normal(mean, sd / math.sqrt(walkers), method="sample mean over walkers",
                           n=walkers, data={"step": int(n), "gaussian_limit": ref},
                           **_limit(ref, exact, source))


def median_distance(n: int, median: float, lo: float, hi: float, walkers: int, var: float, d: int,
                    exact: bool, source: str) -> Estimate:
    """Median |X_n| with its distribution-free 95% interval (order statistics around rank n/2),
    beside the median of sqrt(var) chi_d (exact for a Gaussian walk, the lattice's large-n limit).

    Lattice distances take few distinct values at small n: when both order statistics are the same
    value the interval has zero width and no standard error can be given (stderr NaN)."""
    ref = math.sqrt(var * stats.chi2.median(d))
    se = (hi - lo) / (2 * Z95) if hi > lo else math.nan
    data = {"step": int(n), "gaussian_limit": ref}
    if not hi > lo:
        data["note"] = "discrete distances: the order statistics around the median coincide"
    return Estimate(float(median), float(se), (float(lo), float(hi)),
                    method="sample median, order-statistic interval", n=walkers, data=data,
                    **_limit(ref, exact, source))


def return_curve(first_return, m) -> np.ndarray:
    """Fraction of walkers returned by each step in ``m`` (first-return steps, 0 = not returned)."""
    r = np.sort(np.asarray(first_return)[np.asarray(first_return) > 0])
    return np.searchsorted(r, np.asarray(m), side="right") / np.asarray(first_return).size


def return_fraction(first_return, n: int, d: int | None = None) -> Estimate:
    """Fraction of walkers back at the origin by step n (binomial standard error), beside the exact
    F(n) when d is given and n <= EXACT_MAX_STEPS."""
    r = np.asarray(first_return)
    if r.ndim != 1 or r.size < 2 or r.dtype.kind not in "iu":
        raise ValueError(f"`first_return` must be a 1-D integer array of >= 2 walkers, got "
                         f"{r.dtype} of shape {r.shape}")
    if d is not None:
        d = _check_d(d)
    w = r.size
    frac = float(np.mean((r > 0) & (r <= n)))
    se = math.sqrt(max(frac * (1 - frac), 1.0 / w) / w)
    z = 1.959963984540054  # Wilson score interval: stays in [0, 1], right at frac near 0 or 1
    mid, half = (frac + z * z / (2 * w)) / (1 + z * z / w), \
        z * math.sqrt(frac * (1 - frac) / w + z * z / (4 * w * w)) / (1 + z * z / w)
    ref, src = None, ""
    if d is not None and n <= EXACT_MAX_STEPS:
        ref, src = float(return_fraction_exact(d, n)[n]), "exact finite-n (binomial + renewal)"
    return Estimate(frac, se, (max(0.0, mid - half), min(1.0, mid + half)),
                    method="fraction returned by n, binomial SE, Wilson 95% interval", n=int(w),
                    reference=ref, reference_source=src, data={"step": int(n), "d": d})


def return_probability(first_return, n: int, d: int, *, n_lo: int | None = None, points: int = 30,
                       boot: int = 1000, rng: np.random.Generator | None = None) -> Estimate:
    """Polya return probability for d >= 3, extrapolated from the fraction returned by n.

    Fits F(m) = p - a m^(-(d-2)/2) by least squares on ``points`` log-spaced even m in
    [n_lo, n] (n_lo = max(50, n/100) by default, at most n/4: below m of about 50 the correction
    beyond the leading m^(-(d-2)/2) term still biases the intercept; benchmarks/RESULTS.md has the
    check on the exact curves); the interval is the 2.5-97.5% bootstrap percentile range over
    walkers and the standard error the bootstrap SD.  The reference is
    :func:`polya_return_probability`, cited by its references.json key for d <= 10."""
    d = _check_d(d)
    if d < 3:
        raise ValueError(f"extrapolation needs d >= 3 (p = 1 for d <= 2), got d={d}")
    if boot < 2 or points < 3:
        raise ValueError(f"`boot` must be >= 2 and points >= 3, got boot={boot}, points={points}")
    r = np.asarray(first_return)
    n_lo = min(max(50, n // 100), max(2, n // 4)) if n_lo is None else n_lo
    if n_lo >= n:
        raise ValueError(f"`n_lo` must be < n, got n_lo={n_lo}, n={n}")
    m = np.unique((np.geomspace(n_lo, n, points) // 2 * 2).astype(np.int64))
    m = m[m >= 2]
    x = m.astype(float) ** (-(d - 2) / 2)
    design = np.column_stack([np.ones_like(x), -x])
    solve = np.linalg.pinv(design)  # (2, K): intercept and slope weights

    # counts of walkers by bin: returned in (0, m0], (m0, m1], ..., (m_{K-2}, m_{K-1}], not by m_{K-1}
    rr = np.where(r > 0, r, np.iinfo(np.int64).max)
    idx = np.searchsorted(m, rr, side="left")
    counts = np.bincount(idx, minlength=m.size + 1)[: m.size + 1]
    counts[m.size] = r.size - counts[: m.size].sum()
    curve = np.cumsum(counts[: m.size]) / r.size
    p_hat = float(solve[0] @ curve)

    rng = np.random.default_rng(0) if rng is None else rng
    reps = rng.multinomial(r.size, counts / r.size, size=boot)
    boot_p = (np.cumsum(reps[:, : m.size], axis=1) / r.size) @ solve[0]
    lo, hi = np.percentile(boot_p, [2.5, 97.5])
    return Estimate(p_hat, float(boot_p.std(ddof=1)), (float(lo), float(hi)),
                    method=f"intercept of F(m) vs m^-{(d - 2) / 2:g}, bootstrap over walkers ({boot})",
                    n=int(r.size), reference=polya_return_probability(d),
                    reference_source=polya_source(d),
                    data={"d": d, "m_range": [int(m[0]), int(m[-1])], "points": int(m.size),
                          "fraction_by_n": float(curve[-1])})


# ---------------------------------------------------------------------------------------------
# landscapes and random vectors


def peak_probability(d: int, levels: int = 0, neighbours: str = "all", top_only: bool = False) -> float:
    """P(strict local maximum) for i.i.d. heights with k = 2d ("all") or d ("axis") neighbours:
    1/(k + 1) for continuous heights; (1/m) sum_h ((h - 1)/m)^k for m levels, or (1/m)((m - 1)/m)^k
    counting only top-level sites."""
    d = _check_d(d)
    if isinstance(levels, (bool, np.bool_)) or not isinstance(levels, (int, np.integer)) or levels < 0:
        raise ValueError(f"`levels` must be an integer >= 0 (0: continuous), got {levels!r}")
    if neighbours not in ("all", "axis"):
        raise ValueError(f"`neighbours` must be 'all' or 'axis', got {neighbours!r}")
    k = 2 * d if neighbours == "all" else d
    if levels == 0:
        if top_only:
            raise ValueError("`top_only` needs levels > 0")
        return 1.0 / (k + 1)
    m = levels
    if top_only:
        return (1.0 / m) * ((m - 1) / m) ** k
    return float(np.sum(((np.arange(1, m + 1) - 1) / m) ** k) / m)


def peak_fraction(fractions, reference: float | None, source: str) -> Estimate:
    """Mean fraction of strict local maxima over independent landscapes; SE from their spread and a
    Student-t 95% interval (few landscapes: the SE is itself uncertain)."""
    f = np.asarray(fractions, dtype=float)
    se = f.std(ddof=1) / math.sqrt(f.size)
    half = stats.t.ppf(0.975, f.size - 1) * se
    return Estimate(float(f.mean()), float(se), (float(f.mean() - half), float(f.mean() + half)),
                    method="mean over independent landscapes, Student-t interval", n=int(f.size),
                    reference=reference, reference_source=source, data={"dof": int(f.size - 1)})


def norm_spread(norms, d: int) -> Estimate:
    """SD of |x|/sqrt(d) for x ~ N(0, I_d): the thickness of the shell (about 1/sqrt(2d))."""
    v = np.asarray(norms, dtype=float)
    sd = v.std(ddof=1)
    mean_chi = math.exp(0.5 * math.log(2) + special.gammaln((d + 1) / 2) - special.gammaln(d / 2))
    ref = math.sqrt(max(d - mean_chi**2, 0.0) / d)
    return Estimate.normal(sd, sd / math.sqrt(2 * (v.size - 1)), method="sample SD of |x|/sqrt(d)",
                           n=int(v.size), reference=ref, reference_source="SD of chi_d / sqrt(d)",
                           data={"d": d, "mean": float(v.mean())})


def cosine_spread(cosines, d: int) -> Estimate:
    """RMS cosine between independent N(0, I_d) vectors: exactly 1/sqrt(d) (E cos^2 = 1/d)."""
    c2 = np.asarray(cosines, dtype=float) ** 2
    rms = math.sqrt(c2.mean())
    se = c2.std(ddof=1) / math.sqrt(c2.size) / (2 * rms)
    return Estimate.normal(rms, se, method="RMS of the cosine of independent pairs", n=int(c2.size),
                           reference=1 / math.sqrt(d), reference_source="E cos^2 = 1/d",
                           data={"d": d, "max_abs": float(np.sqrt(c2.max()))})
