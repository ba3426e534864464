"""Events (avalanches) of a thresholded signal, and statistics of the waiting times between events.

Events.  Given samples x_0, ..., x_{N-1} at times t_0 < ... < t_{N-1} (t_i = i by default) and a
threshold theta, an event is a maximal run i = a..b of consecutive samples with x_i > theta.
With the sample spacing dt_i = t_{i+1} - t_i (the last spacing repeated for i = N - 1):
size = sum_{i=a}^{b} (x_i - theta) dt_i (the area above threshold, a rectangle rule),
duration = sum_{i=a}^{b} dt_i (the number of samples b - a + 1 when no time is given),
start = t_a, and the waiting times are the differences of consecutive starts.  This is the usual
avalanche definition for a sandpile activity signal or a training signal (update norm, loss change).

Waiting-time statistics, Goh & Barabasi, "Burstiness and memory in complex systems", EPL 81, 48002
(2008): burstiness B = (sigma - mu) / (sigma + mu) of the intervals (B = 0 for a Poisson process,
-1 for a periodic one, -> 1 for extremely bursty ones) and the memory coefficient M = corr(tau_i,
tau_{i+1}).  The Poisson null itself is tested by the Kolmogorov-Smirnov distance to a fitted
exponential, calibrated by a parametric bootstrap that refits the scale (Lilliefors 1969).

Zhang & Tang (PNAS 122, e2523012122, 2025, DOI 10.1073/pnas.2523012122) measure waiting times per
parameter (intervals between one parameter's consecutive large updates, pooled over parameters) and
fit the exponent by least squares on a log-log plot of a linear-bin histogram:
:func:`exceedances`, :func:`pooled_intervals` and :func:`interval_hist_fit_ls` reproduce that recipe
so their numbers can be compared like with like (it is not a maximum-likelihood fit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from dynsim import references
from dynsim.analysis.results import Z95, Estimate, Printable, short_method, table_line
from dynsim.rng import make_rng

GB2008 = "Goh & Barabasi, EPL 81, 48002 (2008)"


# ---------------------------------------------------------------------------------------------
# input validation


def _iv_1d(name: str, x, min_n: int = 2) -> np.ndarray:
    """``x`` as a 1-D float array of at least ``min_n`` finite values, or ValueError naming it."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a 1-D array of finite numbers, got {x!r:.80}") from None
    if a.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array, got shape {a.shape}")
    if a.size < min_n:
        raise ValueError(f"`{name}` needs at least {min_n} samples, got {a.size}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"`{name}` must be finite, got {a[bad[0]]} at index {bad[0]}")
    return a


def _iv_scalar(name: str, v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a finite number, got {v!r}") from None
    if isinstance(v, (bool, np.bool_)) or not math.isfinite(f):
        raise ValueError(f"`{name}` must be a finite number, got {v!r}")
    return f


def _iv_quantile(q) -> float:
    q = _iv_scalar("quantile", q)
    if not 0.0 < q < 1.0:
        raise ValueError(f"`quantile` must be in (0, 1), got {q}")
    return q


def _iv_intervals(x, min_n: int) -> np.ndarray:
    tau = _iv_1d("intervals", x, min_n)
    if (tau < 0).any():
        raise ValueError(f"`intervals` must be >= 0, got {tau.min()}")
    if not tau.mean() > 0:
        raise ValueError("`intervals` must not all be 0")
    return tau


# ---------------------------------------------------------------------------------------------
# events of a signal


@dataclass(frozen=True, eq=False)
class Events(Printable):
    """Events of a signal above a threshold (module docstring for the definitions).

    ``size``, ``duration``, ``start`` and ``truncated`` have one entry per event, ``waiting`` one
    fewer.  Without ``time`` the unit is the sample: ``duration``, ``start`` and ``waiting`` are
    integers.  ``truncated`` marks runs touching the first or the last sample, whose size and
    duration are lower bounds (drop them for unbiased size statistics)."""

    size: np.ndarray
    duration: np.ndarray
    start: np.ndarray
    waiting: np.ndarray
    truncated: np.ndarray
    threshold: float
    rule: str                # "absolute" or "quantile q of the signal"
    quantile: float | None
    n_samples: int

    @property
    def n_events(self) -> int:
        return int(self.size.size)

    def headline(self) -> float:
        """The number of events."""
        return float(self.n_events)

    def __str__(self) -> str:
        """The table line: the number of events (no SE), the threshold as the method."""
        return table_line(float(self.n_events), math.nan, (math.nan, math.nan), None,
                          f"events above {self.threshold:.4g}")

    def details(self, name: str | None = None) -> str:
        head = f"{name}: " if name else ""
        lines = [f"{head}{self.n_events} events above {self.threshold:.6g} ({self.rule}) in "
                 f"{self.n_samples} samples; {int(np.sum(self.truncated))} touch an end "
                 f"(truncated)"]
        if self.n_events:
            lines.append(f"  mean size {self.size.mean():.4g}, mean duration "
                         f"{self.duration.mean():.4g}" + (f", mean waiting time "
                                                          f"{self.waiting.mean():.4g}"
                                                          if self.waiting.size else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"n_events": self.n_events, **super().to_dict()}


def _run_sums(w: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Sum of ``w`` over each run starting at ``first`` (w is zero between runs)."""
    if first.size == 0:
        return np.zeros(0)
    return np.add.reduceat(w, first)


def find_events(signal, *, threshold: float | None = None, quantile: float | None = None,
                time=None) -> Events:
    """Events of ``signal``: maximal runs of samples strictly above the threshold.

    Give exactly one of ``threshold`` (absolute) or ``quantile`` in (0, 1) (theta is that quantile
    of the signal, numpy's linear interpolation).  ``time`` (optional, strictly increasing, same
    length) gives the sample times; without it the sample index is the time and dt = 1.  Sizes,
    durations and starts follow the module docstring; the computation is vectorised (run edges from
    the differences of the above-threshold mask, run sums by ``np.add.reduceat``)."""
    x = _iv_1d("signal", signal)
    if (threshold is None) == (quantile is None):
        raise ValueError("give exactly one of threshold or quantile, got "
                         f"threshold={threshold!r}, quantile={quantile!r}")
    if threshold is not None:
        theta, rule, q = _iv_scalar("threshold", threshold), "absolute", None
    else:
        q = _iv_quantile(quantile)
        theta, rule = float(np.quantile(x, q)), f"quantile {q:g} of the signal"
    dt = t = None
    if time is not None:
        t = _iv_1d("time", time)
        if t.shape != x.shape:
            raise ValueError(f"`time` must have the signal's shape {x.shape}, got {t.shape}")
        step = np.diff(t)
        bad = np.flatnonzero(step <= 0)
        if bad.size:
            raise ValueError(f"`time` must be strictly increasing, got time[{bad[0] + 1}] = "
                             f"{t[bad[0] + 1]} after {t[bad[0]]}")
        dt = np.append(step, step[-1])

    above = x > theta
    edge = np.diff(above.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    first = np.flatnonzero(edge == 1)            # first sample of each run
    stop = np.flatnonzero(edge == -1)            # one past its last sample
    excess = np.where(above, x - theta, 0.0)
    if dt is None:
        size, duration, start = _run_sums(excess, first), stop - first, first
    else:
        size = _run_sums(excess * dt, first)
        duration, start = _run_sums(np.where(above, dt, 0.0), first), t[first]
    return Events(size=size, duration=duration, start=start, waiting=np.diff(start),
                  truncated=(first == 0) | (stop == x.size), threshold=theta, rule=rule,
                  quantile=q, n_samples=int(x.size))


# ---------------------------------------------------------------------------------------------
# burstiness and memory (Goh & Barabasi 2008)


def _burstiness_value(tau: np.ndarray) -> float:
    mu, sigma = tau.mean(), tau.std(ddof=1)
    return float((sigma - mu) / (sigma + mu))


def bernoulli_burstiness(p: float) -> float:
    """Burstiness of a Bernoulli process (an event in each step with probability ``p``): geometric
    intervals on {1, 2, ...} have mean 1/p and SD sqrt(1 - p)/p, so r = sigma/mu = sqrt(1 - p) and
    B = (sqrt(1 - p) - 1)/(sqrt(1 - p) + 1) (-> 0, the Poisson value, as p -> 0; -1 at p = 1)."""
    r = math.sqrt(1.0 - p)
    return (r - 1.0) / (r + 1.0)


def burstiness(intervals, *, boot: int = 0, seed: int | None = 0,
               discrete: bool | None = None) -> Estimate:
    """Burstiness B = (sigma - mu) / (sigma + mu) of the intervals (Goh & Barabasi 2008).

    Reference: in continuous time B = 0 for a Poisson process (exponential intervals); in discrete
    time (``discrete``, inferred from an integer dtype: intervals counted in steps) the memoryless
    null is a Bernoulli process, whose geometric intervals give B = (sqrt(1 - p) - 1)/(sqrt(1 - p)
    + 1) with p = 1/mean the event probability per step (:func:`bernoulli_burstiness`; the
    reference then carries the estimate of p, a small error next to SE(B)).  B = -1 for a periodic
    process.  Standard error by the delta method: B = (r - 1)/(r + 1) with r = sigma/mu,
    dB/dr = 2/(1 + r)^2, and n Var(r) = sigma^4/mu^4 + (mu_4 - sigma^4)/(4 sigma^2 mu^2) -
    mu_3/mu^3 from the sample central moments mu_3, mu_4 (n Var(r) = 1 for exponential intervals:
    SE = 0.5/sqrt(n)).  It needs a finite fourth moment; for heavy-tailed intervals ask for
    ``boot`` > 0 bootstrap resamples (percentile interval, seeded), which is honest only as far as
    the bootstrap is.  No finite-n correction (Kim & Jo 2016) is applied: the bias is O(1/n), well
    inside the error."""
    raw = np.asarray(intervals)
    tau = _iv_intervals(intervals, 3)
    if discrete is None:
        discrete = bool(np.issubdtype(raw.dtype, np.integer))
    if discrete and ((tau < 1).any() or (tau != np.round(tau)).any()):
        raise ValueError("discrete intervals must be integers >= 1, got "
                         f"{tau[(tau < 1) | (tau != np.round(tau))][0]}")
    boot = int(boot)
    if boot < 0:
        raise ValueError(f"`boot` must be >= 0, got {boot}")
    n, mu = tau.size, float(tau.mean())
    b = _burstiness_value(tau)
    c = tau - mu
    m2, m3, m4 = float(np.mean(c**2)), float(np.mean(c**3)), float(np.mean(c**4))
    r = math.sqrt(m2) / mu
    if m2 > 0:
        var_r = (m2**2 / mu**4 + (m4 - m2**2) / (4 * m2 * mu**2) - m3 / mu**3) / n
        se = 2.0 / (1.0 + r) ** 2 * math.sqrt(max(var_r, 0.0))
    else:
        se = 0.0
    ci = (max(-1.0, b - Z95 * se), min(1.0, b + Z95 * se))
    method = "(sigma - mu)/(sigma + mu), delta-method SE"
    data = {"mean": mu, "sd": float(tau.std(ddof=1)), "cv": r, "discrete": bool(discrete)}
    if boot:
        seed, rng = make_rng(seed)
        reps = np.array([_burstiness_value(tau[rng.integers(0, n, n)]) for _ in range(boot)])
        se = float(reps.std(ddof=1))
        ci = tuple(float(v) for v in np.percentile(reps, [2.5, 97.5]))
        method = f"(sigma - mu)/(sigma + mu), bootstrap SE and percentile interval ({boot})"
        data.update(boot=boot, seed=seed)
    if discrete:
        p = 1.0 / mu
        ref = bernoulli_burstiness(p)
        data["p_per_step"] = p
        src = (f"Bernoulli process (geometric intervals in steps), p = 1/mean = {p:.4g}: "
               f"(sqrt(1-p)-1)/(sqrt(1-p)+1); periodic: -1 ({GB2008})")
    else:
        ref, src = 0.0, f"Poisson (exponential intervals): 0; periodic: -1 ({GB2008})"
    return Estimate(b, float(se), ci, method=method, n=n, reference=ref, reference_source=src,
                    data=data)


def memory_coefficient(intervals) -> Estimate:
    """Memory coefficient M = corr(tau_i, tau_{i+1}) of consecutive intervals (Goh & Barabasi 2008):
    M = sum_i (tau_i - m_1)(tau_{i+1} - m_2) / ((n - 2) s_1 s_2) over the n - 1 pairs, with m_1, s_1
    (m_2, s_2) the mean and SD of the first (last) n - 1 intervals: Pearson's r of the pairs.

    Reference 0 (independent intervals, e.g. a renewal process).  The standard error is the one
    under that null, 1/sqrt(n - 1), whatever the interval distribution (finite variance); the 95%
    interval is Fisher's, tanh(atanh M +- 1.96/sqrt(n - 4)).  Constant intervals leave M undefined:
    the result then has value NaN and ``data['status'] = 'undefined'`` with the reason."""
    tau = _iv_intervals(intervals, 5)
    a, b = tau[:-1], tau[1:]
    pairs = a.size
    s1, s2 = a.std(ddof=1), b.std(ddof=1)
    kw = dict(method="Pearson correlation of consecutive intervals, null SE 1/sqrt(pairs), "
                     "Fisher interval", n=int(tau.size), reference=0.0,
              reference_source=f"independent intervals (renewal process): 0 ({GB2008})")
    if not (s1 > 0 and s2 > 0):
        return Estimate(math.nan, math.nan, (math.nan, math.nan), **kw,
                        data={"status": "undefined", "pairs": int(pairs),
                              "reason": "intervals have zero variance, so M is undefined"})
    m = float(np.sum((a - a.mean()) * (b - b.mean())) / ((pairs - 1) * s1 * s2))
    z, half = math.atanh(min(max(m, -1 + 1e-15), 1 - 1e-15)), Z95 / math.sqrt(pairs - 3)
    return Estimate(m, 1.0 / math.sqrt(pairs), (math.tanh(z - half), math.tanh(z + half)), **kw,
                    data={"status": "ok", "pairs": int(pairs)})


# ---------------------------------------------------------------------------------------------
# the Poisson (exponential) null


@dataclass(frozen=True, eq=False)
class NullTest(Printable):
    """A goodness-of-fit test: the statistic, its bootstrap p-value and the direction of p."""

    statistic: float         # KS distance of the data from the fitted null
    p_value: float
    p_stderr: float          # Monte-Carlo error of p, sqrt(p (1 - p) / boot)
    null: str
    params: dict             # the fitted null's parameters
    direction: str
    method: str
    n: int
    boot: int
    seed: int

    def headline(self) -> float:
        return self.p_value

    @property
    def ci(self) -> tuple[float, float]:
        """95% interval of the Monte-Carlo p, clipped to [0, 1]."""
        return (max(0.0, self.p_value - Z95 * self.p_stderr),
                min(1.0, self.p_value + Z95 * self.p_stderr))

    def __str__(self) -> str:
        """The table line: the p-value, its Monte-Carlo SE and interval, the test as the method."""
        return table_line(self.p_value, self.p_stderr, self.ci, None, short_method(self.method))

    def details(self, name: str | None = None) -> str:
        head = f"{name}: " if name else ""
        params = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                           for k, v in self.params.items())
        return "\n".join([
            f"{head}KS distance {self.statistic:.4g} from the fitted {self.null} null ({params}); "
            f"p = {self.p_value:.3g} ± {self.p_stderr:.2g} ({self.boot} replicates, seed "
            f"{self.seed}, n = {self.n})",
            f"  {self.direction}",
            f"  method: {self.method}"])


def _ks_exponential(x_sorted: np.ndarray) -> float:
    """sup |F_n - F| against Exp(scale = mean), at the jumps of the empirical CDF."""
    n = x_sorted.size
    f = -np.expm1(-x_sorted / x_sorted.mean())
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def _ks_geometric(x_sorted: np.ndarray) -> float:
    """sup |F_n - F| against the geometric law on {1, 2, ...} with p = 1/mean.  Both CDFs are step
    functions on the integers, and F_n is constant between data values while F grows, so the
    supremum is attained at a data value v or at v - 1."""
    p = 1.0 / x_sorted.mean()
    v = np.unique(x_sorted)
    k = np.concatenate([v, v - 1.0])
    fn = np.searchsorted(x_sorted, k, side="right") / x_sorted.size
    f = -np.expm1(k * math.log1p(-p)) if p < 1 else (k >= 1).astype(float)
    return float(np.max(np.abs(fn - f)))


def exponential_null(intervals, *, discrete: bool | None = None, boot: int = 200,
                     seed: int | None = 0) -> NullTest:
    """Test the Poisson null: are the intervals exponential (continuous time) or geometric on
    {1, 2, ...} (discrete time, a Bernoulli process; ``discrete`` inferred from an integer dtype)?

    Statistic: the KS distance D between the intervals and the null fitted by maximum likelihood
    (scale = mean; geometric p = 1/mean).  Because the parameter is fitted, D is calibrated by a
    parametric bootstrap (Lilliefors 1969): ``boot`` samples of the same size from the fitted null,
    each refitted; p = (1 + #{D_b >= D}) / (boot + 1).  Small p rejects the Poisson null; a large p
    means the intervals are consistent with it, not that they are proven exponential.  The
    geometric null is exact for per-step exceedances (:func:`pooled_intervals` of independent
    steps); the starts of runs (:func:`find_events`) are at least 2 samples apart, so for them it
    holds only when events are rare (mean waiting time >> 1 sample)."""
    raw = np.asarray(intervals)
    tau = _iv_intervals(intervals, 3)
    if discrete is None:
        discrete = bool(np.issubdtype(raw.dtype, np.integer))
    boot = int(boot)
    if boot < 1:
        raise ValueError(f"`boot` must be >= 1, got {boot}")
    if discrete:
        if (tau < 1).any() or (tau != np.round(tau)).any():
            raise ValueError("discrete intervals must be integers >= 1, got "
                             f"{tau[(tau < 1) | (tau != np.round(tau))][0]}")
        ks, p_fit = _ks_geometric, 1.0 / tau.mean()
        null, params = "geometric on {1, 2, ...}, p = 1/mean (Bernoulli process)", {"p": p_fit}
        draw = lambda rng: rng.geometric(p_fit, tau.size).astype(float)  # noqa: E731
    else:
        ks, scale = _ks_exponential, float(tau.mean())
        null, params = "exponential, scale = mean (Poisson process)", {"scale": scale}
        draw = lambda rng: rng.exponential(scale, tau.size)  # noqa: E731
    d_obs = ks(np.sort(tau))
    seed, rng = make_rng(seed)
    d_boot = np.array([ks(np.sort(draw(rng))) for _ in range(boot)])
    p = float((1 + np.sum(d_boot >= d_obs)) / (boot + 1))
    return NullTest(statistic=d_obs, p_value=p, p_stderr=math.sqrt(p * (1 - p) / boot), null=null,
                    params=params, direction="small p rejects the Poisson null",
                    method=f"KS distance to the ML-fitted null, parametric bootstrap with refit "
                           f"(Lilliefors), {boot} replicates",
                    n=int(tau.size), boot=boot, seed=seed)


# ---------------------------------------------------------------------------------------------
# Zhang & Tang's per-parameter waiting times (their recipe: the keys zhang_tang_* of references.json)

ZT_QUANTILE = references.value("zhang_tang_quantiles")[0]  # their "top 1%": q = 0.99
ZT_BINS = references.value("zhang_tang_bins")  # their stored histograms: 50 equal linear bins


def exceedances(updates, quantile: float = ZT_QUANTILE, *, per: str = "global") -> np.ndarray:
    """Boolean (steps x parameters) mask of |update| > threshold.

    ``per="global"`` (default): one threshold, the ``quantile`` of |update| over all steps and
    parameters, i.e. the "top 1%" (q = 0.99) or "top 0.5%" (q = 0.995) of the pooled update
    distribution that Zhang & Tang histogram; it is also the threshold a streaming trainer can hold
    cheaply (one number).  ``per="parameter"``: each parameter's own quantile over its steps, so
    every parameter exceeds in about (1 - q) of the steps.  The two differ when parameters have
    different update scales: under a global threshold the pooled intervals mix geometric laws of
    different rates, and such a mixture is over-dispersed (heavy-tailed) even without any dynamics;
    the per-parameter threshold removes that heterogeneity and is the check to run beside it."""
    try:
        u = np.abs(np.asarray(updates, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"`updates` must be a numeric (steps, parameters) array, got {updates!r:.80}"
                         ) from None
    if u.ndim != 2 or u.shape[0] < 2 or u.shape[1] < 1:
        raise ValueError("`updates` must be a (steps >= 2, parameters >= 1) array, "
                         f"got shape {u.shape}")
    if not np.isfinite(u).all():
        raise ValueError("`updates` must be finite, got NaN or inf")
    q = _iv_quantile(quantile)
    if per == "global":
        return u > np.quantile(u, q)
    if per == "parameter":
        return u > np.quantile(u, q, axis=0)
    raise ValueError(f"`per` must be 'global' or 'parameter', got {per!r}")


def pooled_intervals(exceed) -> np.ndarray:
    """Waiting times (in steps) between consecutive exceedances of the same parameter, pooled over
    parameters, from a boolean (steps x parameters) mask; ordered by parameter, then by step.
    The censored stretches before a parameter's first and after its last exceedance are left out."""
    e = np.asarray(exceed)
    if e.dtype != bool or e.ndim != 2:
        raise ValueError(f"`exceed` must be a 2-D boolean (steps, parameters) array, got "
                         f"dtype {e.dtype} and shape {e.shape}")
    param, step = np.nonzero(e.T)                # sorted by parameter, then by step
    same = param[1:] == param[:-1]
    return (step[1:] - step[:-1])[same].astype(np.int64)


def zt_rebin(counts, edges, bins: int = ZT_BINS):
    """Merge a unit-width interval histogram (the trainer's ``update_interval_hist``, edges
    0.5, 1.5, ...) into ``bins`` equal linear bins over the recorded range, as Zhang & Tang store
    theirs (``ZT_BINS``, the key ``zhang_tang_bins``, whose note gives their bin width).

    The recorded range is [edges[0], the upper edge of the last non-empty bin] (the longest
    observed interval), not the histogram's preset length.  Each new bin is w = ceil(range / bins)
    unit bins wide so that its edges stay on the histogram's, so up to ``bins`` bins cover the range
    (the last one padded with empty unit bins when the range is not a multiple of w).  Returns
    (merged counts, merged edges, w in the histogram's units)."""
    c = _iv_1d("counts", counts, 1)
    e = _iv_1d("edges", edges, 2)
    if e.size != c.size + 1:
        raise ValueError(f"`edges` must have len(counts) + 1 = {c.size + 1} entries, got {e.size}")
    if not np.allclose(np.diff(e), np.diff(e)[0]):
        raise ValueError("zt_rebin needs equal-width (linear) bins")
    filled = np.flatnonzero(c > 0)
    if filled.size == 0:
        raise ValueError("the interval histogram is empty")
    used = int(filled[-1]) + 1                      # unit bins up to the longest observed interval
    w = -(-used // int(bins))                       # ceil
    n_new = -(-used // w)
    padded = np.zeros(n_new * w)
    padded[:used] = c[:used]
    merged = padded.reshape(n_new, w).sum(axis=1)
    unit = float(e[1] - e[0])
    merged_edges = e[0] + unit * w * np.arange(n_new + 1)
    return merged, merged_edges, w * unit


def interval_hist_fit_ls(counts, edges, *, drop_first: int = 1, drop_last: int = 20) -> Estimate:
    """Zhang & Tang's waiting-time exponent: gamma in p(tau) ~ tau^-gamma as minus the slope of an
    ordinary least-squares line of log(count density) against log(bin centre).

    Recipe (their notebook ``plot_interval.ipynb``): keep the non-empty bins, then drop the first
    ``drop_first`` and the last ``drop_last`` of those (1 and 20 there), and fit the rest.  The
    density count / (total x width) has the slope of their per-bin probability on equal-width bins.
    SE from the regression, sqrt(s^2 / S_xx) with s^2 = RSS/(m - 2), and a Student-t interval; it
    assumes equal scatter of the log counts, which Poisson noise breaks (sparse bins scatter more),
    so read it as indicative.  Linear bins near the origin are wide compared with tau, which biases
    the density at the centre upwards by about w^2 gamma (gamma + 1) / (24 c^2) for width w and
    centre c.  Not a maximum-likelihood fit: compare its numbers with theirs, not with an MLE."""
    c = _iv_1d("counts", counts, 1)
    e = _iv_1d("edges", edges, 2)
    if e.size != c.size + 1:
        raise ValueError(f"`edges` must have len(counts) + 1 = {c.size + 1} entries, got {e.size}")
    if (c < 0).any():
        raise ValueError(f"`counts` must be >= 0, got {c.min()}")
    if (np.diff(e) <= 0).any():
        raise ValueError("`edges` must be strictly increasing")
    for name, v in (("drop_first", drop_first), ("drop_last", drop_last)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"`{name}` must be an integer >= 0, got {v!r}")
    width = np.diff(e)
    centre = e[:-1] + width / 2
    keep = np.flatnonzero(c > 0)
    fit = keep[drop_first: keep.size - drop_last]
    if fit.size < 3:
        raise ValueError(f"only {fit.size} bins left to fit ({keep.size} non-empty, dropping the "
                         f"first {drop_first} and the last {drop_last}); need >= 3")
    if (centre[fit] <= 0).any():
        raise ValueError(f"bin centres must be > 0 for a log-log fit, got {centre[fit].min()}")
    x = np.log(centre[fit])
    y = np.log(c[fit] / (c.sum() * width[fit]))
    m = fit.size
    xc = x - x.mean()
    sxx = float(xc @ xc)
    slope = float(xc @ (y - y.mean()) / sxx)
    intercept = float(y.mean() - slope * x.mean())
    resid = y - intercept - slope * x
    se = math.sqrt(float(resid @ resid) / (m - 2) / sxx)
    half = float(stats.t.ppf(0.975, m - 2)) * se
    return Estimate(-slope, se, (-slope - half, -slope + half),
                    method="least squares on log-log linear bins (Zhang & Tang 2025), not an MLE",
                    n=int(m), data={"bins": [int(fit[0]), int(fit[-1])],
                                    "centre_range": [float(centre[fit[0]]), float(centre[fit[-1]])],
                                    "points": int(m), "n_intervals": int(c.sum()),
                                    "n_in_fit": int(c[fit].sum()), "drop_first": int(drop_first),
                                    "drop_last": int(drop_last), "intercept": intercept})
