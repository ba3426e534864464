"""Is it a power law?  Likelihood-ratio tests against alternatives (CSN 2009, section 5).

Every alternative is fitted by maximum likelihood to the same tail x >= xmin the power law used
(continuous densities; for discrete data the probability of [x, x + 1) under the continuous
distribution, renormalised on x >= xmin; the power law with cutoff is summed exactly on the integers).
- Non-nested alternatives (exponential, stretched exponential, lognormal): the normalised Vuong test.
  With d_i = ln p_PL(x_i) - ln p_alt(x_i), R = sum d_i and sigma the SD of d_i,
  p = erfc(|R| / (sigma sqrt(2 n))); R > 0 favours the power law, and only p < ``LR_P`` (0.1, the
  key ``csn_lr_p_threshold``) makes the sign meaningful.
- Nested alternative (power law with exponential cutoff x^-alpha e^(-lambda x), lambda >= 0): Wilks'
  test with the boundary correction, LR = 2 (l_cut - l_PL) ~ (1/2) chi2_0 + (1/2) chi2_1 under the
  power law, so p = chi2_1.sf(LR) / 2; R = l_PL - l_cut <= 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special, stats

from dynsim import references
from dynsim.analysis.powerlaw.fit import PowerLawFit
from dynsim.analysis.powerlaw.zeta import hurwitz
from dynsim.analysis.results import Printable

ALTERNATIVES = ("exponential", "stretched_exponential", "lognormal", "truncated_power_law")
LR_P = references.value("csn_lr_p_threshold")  # the sign of R counts only when p < this


@dataclass(frozen=True)
class Comparison(Printable):
    """Power law against one alternative: R (> 0 favours the power law), p, the test used."""

    alternative: str
    R: float
    normalized_R: float
    p: float
    test: str
    params: dict = field(default_factory=dict)

    @property
    def favours(self) -> str:
        if not self.p < LR_P:
            return f"neither (p >= {LR_P:g})"
        return "power law" if self.R > 0 else self.alternative

    @property
    def value(self) -> float:
        return self.R

    def headline(self) -> float:
        return self.R

    def to_dict(self) -> dict:
        return {"alternative": self.alternative, "R": self.R, "normalized_R": self.normalized_R,
                "p": self.p, "test": self.test, "params": self.params, "favours": self.favours}

    def __str__(self) -> str:
        return (f"vs {self.alternative:<22} R={self.R:+.3f}  p={self.p:.3g}  favours {self.favours}"
                f"  ({self.test})")


def _tail(x, fit: PowerLawFit) -> np.ndarray:
    t = np.asarray(x, dtype=float).ravel()
    t = t[t >= fit.xmin]
    return t if fit.xmax is None else t[t <= fit.xmax]


def power_law_loglik(t: np.ndarray, fit: PowerLawFit) -> np.ndarray:
    """Pointwise ln p(x_i) of the fitted power law."""
    a, xm = fit.alpha, fit.xmin
    if fit.xmax is not None:
        from dynsim.analysis.powerlaw.window import log_norm

        return -a * np.log(t) - log_norm(a, xm, fit.xmax, fit.discrete)
    if fit.discrete:
        return -a * np.log(t) - math.log(hurwitz(a, xm))
    return math.log((a - 1) / xm) - a * np.log(t / xm)


def _discretise(logsf, t, xmin):
    """ln P(x <= Y < x + 1 | Y >= xmin) from a continuous log-survival function."""
    a, b = logsf(t), logsf(t + 1.0)
    return a + np.log(-np.expm1(np.minimum(b - a, -1e-300))) - logsf(np.array([xmin]))[0]


def _exponential(t, w, xmin, discrete):
    if discrete:  # geometric: P(x) = (1 - q) q^(x - xmin), q = e^-lam
        m = np.average(t - xmin, weights=w)
        q = m / (1 + m)
        lam = -math.log(q) if q > 0 else np.inf
        return {"lambda": lam}, np.log1p(-q) + (t - xmin) * math.log(q) if q > 0 else np.zeros_like(t)
    lam = 1.0 / (np.average(t, weights=w) - xmin)
    return {"lambda": lam}, math.log(lam) - lam * (t - xmin)


def _stretched(t, w, xmin, discrete):
    """Weibull tail: P(Y >= y) = exp(-lam (y^beta - xmin^beta))."""
    def loglik(params):
        lam, beta = np.exp(params)
        if discrete:
            logsf = lambda y: -lam * (y**beta - xmin**beta)  # noqa: E731
            return _discretise(logsf, t, xmin)
        return math.log(beta * lam) + (beta - 1) * np.log(t) - lam * (t**beta - xmin**beta)

    def nll(params):
        v = -(w * loglik(params)).sum()
        return v if np.isfinite(v) else 1e300

    beta0 = 0.5
    lam0 = 1.0 / np.average(t**beta0 - xmin**beta0 + 1e-12, weights=w)
    res = optimize.minimize(nll, np.log([lam0, beta0]), method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-9, "maxiter": 4000})
    lam, beta = np.exp(res.x)
    return {"lambda": lam, "beta": beta}, loglik(res.x)


def _lognormal(t, w, xmin, discrete):
    lt = np.log(t)

    def loglik(params):
        mu, sigma = params[0], math.exp(params[1])
        z0 = (math.log(xmin) - mu) / sigma
        if discrete:
            logsf = lambda y: special.log_ndtr(-(np.log(y) - mu) / sigma)  # noqa: E731
            return _discretise(logsf, t, xmin)
        return (-lt - math.log(sigma) - 0.5 * math.log(2 * math.pi)
                - 0.5 * ((lt - mu) / sigma) ** 2 - special.log_ndtr(-z0))

    def nll(params):
        v = -(w * loglik(params)).sum()
        return v if np.isfinite(v) else 1e300

    m = np.average(lt, weights=w)
    sd = math.sqrt(np.average((lt - m) ** 2, weights=w))
    res = optimize.minimize(nll, [m, math.log(sd + 1e-3)], method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-9, "maxiter": 4000})
    return {"mu": res.x[0], "sigma": math.exp(res.x[1])}, loglik(res.x)


def _cutoff_log_norm(alpha, lam, xmin, discrete):
    """ln of the sum (discrete) or integral (continuous) of x^-alpha e^(-lam x) over x >= xmin.

    Discrete: the first DIRECT terms summed, the rest by Euler-Maclaurin, int_a^inf f + f(a)/2 -
    f'(a)/12 with a = xmin + DIRECT (relative error far below 1e-12 there)."""
    from scipy import integrate

    if lam <= 0:
        return math.log(hurwitz(alpha, xmin)) if discrete else \
            (1 - alpha) * math.log(xmin) - math.log(alpha - 1)
    # integrals of f(x) = x^-alpha e^(-lam x), scaled by e^(lam a) a^alpha to stay in range
    def tail_integral(a):
        g = lambda u: u ** -alpha * math.exp(-lam * a * (u - 1.0))  # noqa: E731
        return integrate.quad(g, 1.0, np.inf, limit=200, epsrel=1e-12)[0] * a  # x = a u

    if not discrete:
        return math.log(tail_integral(xmin)) - alpha * math.log(xmin) - lam * xmin
    direct = 1000
    x = xmin + np.arange(direct, dtype=float)
    terms = -alpha * np.log(x) - lam * x
    a = xmin + direct
    log_fa = -alpha * math.log(a) - lam * a
    m = max(terms.max(), log_fa)
    dlog = -alpha / a - lam  # f'(a) / f(a)
    rest = math.exp(log_fa - m) * (tail_integral(a) + 0.5 - dlog / 12.0)
    return m + math.log(np.exp(terms - m).sum() + rest)


def _cutoff(t, w, xmin, discrete, alpha0):
    lt, n = np.log(t), w.sum()

    def nll(params):
        try:
            alpha, lam = params[0], math.exp(params[1])
        except OverflowError:
            return 1e300
        if alpha <= 1 and lam <= 0:
            return 1e300
        try:
            v = alpha * (w * lt).sum() + lam * (w * t).sum() + n * _cutoff_log_norm(alpha, lam, xmin,
                                                                                 discrete)
        except (ValueError, OverflowError, ZeroDivisionError):
            return 1e300
        return v if np.isfinite(v) else 1e300

    best = None
    mean = np.average(t, weights=w)
    for lam0 in (1e-3 / mean, 0.1 / mean, 1.0 / mean):
        res = optimize.minimize(nll, [alpha0, math.log(lam0)], method="Nelder-Mead",
                                options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 3000})
        if best is None or res.fun < best.fun:
            best = res
    alpha, lam = best.x[0], math.exp(best.x[1])
    loglik = -alpha * lt - lam * t - _cutoff_log_norm(alpha, lam, xmin, discrete)
    return {"alpha": alpha, "lambda": lam}, loglik


def compare(x, fit: PowerLawFit, alternatives=ALTERNATIVES) -> dict[str, Comparison]:
    """Likelihood-ratio tests of the fitted power law against each alternative (see module doc)."""
    if not fit.ok:
        raise ValueError(f"cannot compare a failed fit: {fit.reason}")
    bad = sorted(set(alternatives) - set(ALTERNATIVES))
    if bad:
        raise ValueError(f"unknown alternative(s) {', '.join(bad)}; known: {', '.join(ALTERNATIVES)}")
    if fit.xmax is not None:
        raise ValueError("likelihood-ratio tests need a fit without xmax (the alternatives are "
                         "not renormalised on a window)")
    # likelihoods are evaluated once per distinct value (weights = counts), then expanded
    t, inv, w = np.unique(_tail(x, fit), return_inverse=True, return_counts=True)
    w = w.astype(float)
    lpl = power_law_loglik(t, fit)[inv]
    n = inv.size
    out = {}
    for name in alternatives:
        if name == "truncated_power_law":
            params, lalt = _cutoff(t, w, fit.xmin, fit.discrete, fit.alpha)
            lr = 2 * (lalt[inv].sum() - lpl.sum())
            lr = max(lr, 0.0)
            p = 0.5 * stats.chi2.sf(lr, 1) if lr > 0 else 1.0
            out[name] = Comparison(name, float(-lr / 2), float(-lr / 2 / math.sqrt(n)), float(p),
                                   "nested LR (Wilks, boundary-corrected)", params)
            continue
        fitter = {"exponential": _exponential, "stretched_exponential": _stretched,
                  "lognormal": _lognormal}[name]
        params, lalt = fitter(t, w, fit.xmin, fit.discrete)
        d = lpl - lalt[inv]
        r, sd = float(d.sum()), float(d.std())
        z = r / (sd * math.sqrt(n)) if sd > 0 else 0.0
        out[name] = Comparison(name, r, z, float(special.erfc(abs(z) / math.sqrt(2))),
                               "normalised Vuong", {k: float(v) for k, v in params.items()})
    return out
