"""Goodness of fit of a power law: the semi-parametric bootstrap of CSN 2009 (section 4.1).

Each synthetic data set has n points: with probability n_tail/n a point is drawn from the fitted
power law above xmin, otherwise it is resampled from the observed points below xmin.  Every
synthetic set is refitted from scratch (xmin scanned again by the same rule), so the p-value
accounts for the choice of xmin.  p = fraction of synthetic KS distances >= the observed one:
small p (CSN: p <= ``GOF_P`` = 0.1, the key ``csn_gof_p_threshold``) rules the power law out; a
large p only fails to rule it out.  A replicate whose refit fails (too few synthetic points above
every candidate) counts as a synthetic KS >= the observed one (the model fits it no better than
the data), so p never gains from dropping replicates; how many failed is reported (``n_failed``).  p carries the Monte Carlo error
sqrt(p (1 - p) / boot): the verdict is "undecided" when p lies within 2 such errors of GOF_P.
Replicate r draws from its own generator SeedSequence([seed, r]), so the result depends on the seed
alone; the xmin scans inside run in parallel (numba prange).  The refitted alphas and xmins give
bootstrap intervals for both, which include the variance of choosing xmin.

Calibration: on true power laws discrete samples give uniform p-values (tests/test_powerlaw.py)
and continuous ones slightly conservative p-values (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynsim import references
from dynsim.analysis.powerlaw.fit import PowerLawFit, fit_power_law, sample_power_law
from dynsim.analysis.results import Printable
from dynsim.rng import make_seed

GOF_P = references.value("csn_gof_p_threshold")  # bootstrap p <= this rules the power law out


@dataclass(frozen=True)
class GofResult(Printable):
    p: float
    p_stderr: float
    n_boot: int
    ks: float
    alpha_ci: tuple[float, float]
    alpha_stderr: float
    xmin_ci: tuple[float, float]
    seed: int
    n_failed: int = 0
    direction: str = (f"p = fraction of synthetic KS >= observed KS; p <= {GOF_P:g} rules the "
                      "power law out, larger p does not prove it")

    @property
    def value(self) -> float:
        return self.p

    def headline(self) -> float:
        return self.p

    def __str__(self) -> str:
        failed = f", {self.n_failed} failed refits counted as KS >= observed" if self.n_failed \
            else ""
        return (f"p={self.p:.3f}±{self.p_stderr:.3f} ({self.n_boot} replicates{failed})  "
                f"alpha 95% [{self.alpha_ci[0]:.4f}, {self.alpha_ci[1]:.4f}]  "
                f"xmin 95% [{self.xmin_ci[0]:g}, {self.xmin_ci[1]:g}]")


def gof_bootstrap(x, fit: PowerLawFit | None = None, *, boot: int = 1000, seed: int | None = None,
                  xmin_fixed: bool | None = None, progress=None) -> GofResult:
    """Bootstrap p-value and intervals for a power-law fit of ``x`` (refit with xmin scanned, or
    with the fitted xmin kept when ``xmin_fixed``)."""
    if not (isinstance(boot, (int, np.integer)) and boot >= 1):
        raise ValueError(f"`boot` must be an integer >= 1, got {boot!r}")
    seed = make_seed(seed)
    arr = np.asarray(x)
    fit = fit_power_law(arr) if fit is None else fit
    if not fit.ok:
        raise ValueError(f"cannot test a failed fit: {fit.reason}")
    if xmin_fixed is None:  # as the fit was made: a given xmin stays given in every replicate
        xmin_fixed = fit.xmin_given
    data = arr.astype(float).ravel()
    data = data[data > 0]
    if fit.xmax is not None:
        data = data[data <= fit.xmax]
    body = np.sort(data[data < fit.xmin])
    n, p_tail = data.size, fit.n_tail / data.size
    kw = dict(discrete=fit.discrete, xmax=fit.xmax,
              xmin=fit.xmin if xmin_fixed else None)
    if not xmin_fixed:  # refit by the same candidate rule
        kw["min_decades"] = fit.min_decades
    ks, alphas, xmins = np.empty(boot), np.empty(boot), np.empty(boot)
    for r in range(boot):
        rng = np.random.default_rng(np.random.SeedSequence([seed, r]))
        n_tail = rng.binomial(n, p_tail)
        tail = _sample_tail(n_tail, fit, rng)
        synth = np.concatenate([tail, body[rng.integers(0, body.size, n - n_tail)]]) \
            if body.size else tail
        refit = fit_power_law(synth, **kw)
        ks[r], alphas[r], xmins[r] = (refit.ks, refit.alpha, refit.xmin) if refit.ok else \
            (np.inf, np.nan, np.nan)
        if progress is not None:
            progress(r + 1, boot)
    ok = np.isfinite(alphas)
    if not ok.any():
        raise ValueError("every bootstrap refit failed (too few points in the synthetic tails)")
    p = float(np.mean(ks >= fit.ks))  # a failed refit has ks = inf: counted as >= observed
    return GofResult(p, float(np.sqrt(p * (1 - p) / boot)), int(boot), fit.ks,
                     tuple(np.percentile(alphas[ok], [2.5, 97.5])), float(np.std(alphas[ok], ddof=1))
                     if ok.sum() > 1 else np.nan, tuple(np.percentile(xmins[ok], [2.5, 97.5])), seed,
                     n_failed=int(boot - ok.sum()))


def _sample_tail(n: int, fit: PowerLawFit, rng) -> np.ndarray:
    if fit.xmax is None:
        return sample_power_law(n, fit.alpha, fit.xmin, fit.discrete, rng)
    from dynsim.analysis.powerlaw.window import DIRECT_SUM_MAX, window_cdf

    if fit.discrete and fit.xmax - fit.xmin >= DIRECT_SUM_MAX:  # long window: rejection
        out = np.empty(0)
        while out.size < n:
            draw = sample_power_law(2 * (n - out.size) + 16, fit.alpha, fit.xmin, True, rng)
            out = np.concatenate([out, draw[draw <= fit.xmax]])
        return out[:n]
    if fit.discrete:  # inverse CDF on the window's integers
        grid = np.arange(fit.xmin, fit.xmax + 1.0)
        cdf = window_cdf(grid, fit.alpha, fit.xmin, fit.xmax, True)
        return grid[np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), grid.size - 1)]
    b = 1.0 - fit.alpha
    u = rng.random(n)
    if abs(b) < 1e-12:
        return fit.xmin * (fit.xmax / fit.xmin) ** u
    lo, hi = fit.xmin ** b, fit.xmax ** b
    return (lo + u * (hi - lo)) ** (1.0 / b)
