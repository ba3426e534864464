"""Finite-size scaling of avalanche sizes: moment analysis and data collapse.

Scaling ansatz: P(s; L) = s^-tau G(s / L^D).  Then <s^q>_L ~ L^sigma(q) with
sigma(q) = D (q + 1 - tau) for q > tau - 1 (De Menech, Stella & Tebaldi, PRE 58:R2677, 1998;
Lubeck & Usadel 1997).  sigma(q) is the slope of ln <s^q> against ln L; a straight line through
sigma(q) over a q range where it is linear gives D (slope) and tau = 1 - intercept / D.

Standard errors: a moving block bootstrap (Kunsch, Ann. Stat. 17:1217, 1989) over time blocks
within each run, seeded.  Successive avalanches of a sandpile are not independent (each starts from
the configuration the previous ones left; in the boundary-driven Oslo pile the slope profile that
sets the next avalanche's size changes slowly), so resampling single avalanches as if independent
understates the errors.  Each run (one replica at one L, its avalanches in time order) of n
avalanches is rebuilt from blocks of b = ceil(n / blocks) consecutive avalanches starting at
uniformly random positions, until it has n again; the runs of one L are resampled separately and
pooled.  With ``blocks`` = 20 a block spans 1/20 of a run, so correlations shorter than that are
kept (the sandpile tests' batch-means errors use 20 batches per replica too); ``blocks=None``
resamples single avalanches (for independent samples only).  High moments of heavy-tailed
samples are dominated by rare avalanches near the cutoff: their sample means are skewed (typically
low) and a bootstrap cannot see avalanches that never happened, so keep q modest (default 1 to 3)
and use many avalanches per size (benchmarks/RESULTS.md: how many, checked on synthetic samples
with known tau and D).  Plain fits at one L are biased by the cutoff; this is the one FSS fit the
sandpile presets and the sweeps reuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dynsim.analysis.results import Printable, short_method, table_line
from dynsim.rng import make_seed


@dataclass(frozen=True)
class FssResult(Printable):
    """The moment analysis: D (the cutoff exponent, s_c ~ L^D) as the table line, tau, sigma(q)
    and the sizes in :meth:`details`, every field in :meth:`to_dict`."""

    D: float
    D_stderr: float
    tau: float
    tau_stderr: float
    q: np.ndarray
    sigma: np.ndarray
    sigma_stderr: np.ndarray
    sizes: tuple
    q_range: tuple
    method: str = ("moment analysis: sigma(q) = D (q + 1 - tau), moving block bootstrap over time "
                   "blocks within each run")
    data: dict = field(default_factory=dict)

    @property
    def value(self) -> float:
        return self.D

    @property
    def stderr(self) -> float:
        return self.D_stderr

    @property
    def ci(self):
        return (self.D - 1.96 * self.D_stderr, self.D + 1.96 * self.D_stderr)

    reference = None

    def headline(self) -> float:
        return self.D

    def __str__(self) -> str:
        return table_line(self.D, self.D_stderr, self.ci, None, short_method(self.method))

    def details(self, name: str | None = None) -> str:
        head = f"{name}: " if name else ""
        sig = ", ".join(f"{q:g}: {s:.4g} ± {se:.2g}"
                        for q, s, se in zip(self.q, self.sigma, self.sigma_stderr))
        return "\n".join([
            f"{head}D = {self.D:.4f} ± {self.D_stderr:.4f}, tau = {self.tau:.4f} ± "
            f"{self.tau_stderr:.4f}",
            f"  sizes L = {list(self.sizes)}; sigma(q) fitted on q in [{self.q_range[0]:g}, "
            f"{self.q_range[1]:g}]",
            f"  sigma(q) ± SE: {sig}",
            f"  method: {self.method}"])


def _moments(samples, q):
    logs = [np.log(np.asarray(s, dtype=float)) for s in samples]
    return np.array([[np.log(np.mean(np.exp(qq * ls))) for qq in q] for ls in logs])  # (nL, nq)


def _fit(log_l, log_m, q, q_range):
    x = log_l - log_l.mean()
    sigma = (x @ (log_m - log_m.mean(axis=0))) / (x @ x)
    sel = (q >= q_range[0]) & (q <= q_range[1])
    slope, intercept = np.polyfit(q[sel], sigma[sel], 1)
    return sigma, slope, 1.0 - intercept / slope


def _runs(value, L) -> list[np.ndarray]:
    """The runs at one size: one array (one run) or a sequence of arrays, positive values only."""
    if isinstance(value, np.ndarray) or not isinstance(value, (list, tuple)) or \
            (len(value) and np.isscalar(value[0])):
        value = [value]
    runs = []
    for r in value:
        s = np.asarray(r, dtype=float).ravel()
        runs.append(s[s > 0])
    total = sum(s.size for s in runs)
    if total < 10:
        raise ValueError(f"size L={L} has {total} positive samples; at least 10 are needed")
    return [s for s in runs if s.size]


def q_grid(q_min: float, q_max: float) -> np.ndarray:
    """The moment orders q of a size series: steps of 0.25 covering [0.5, 4] and the fit range
    [q_min, q_max] (used alike by ``dynsim sandpile fss`` and ``dynsim sweep report --fss``)."""
    return np.arange(min(0.5, q_min), max(4.0, q_max) + 1e-9, 0.25)


def size_series(trace) -> list[np.ndarray]:
    """The stationary avalanche sizes of one sandpile run as time series, one per replica (the
    runs the block bootstrap of :func:`moment_analysis` resamples separately)."""
    s = np.asarray(trace.stationary("events_size"))
    replicas = int(trace.params.get("replicas") or 1)
    if replicas > 1 and "events_replica" in trace:
        rep = np.asarray(trace.stationary("events_replica"))
        return [s[rep == k] for k in range(replicas)]
    return [s]


def block_length(n: int, blocks: int | None) -> int:
    """Events per bootstrap block in a run of n events: ceil(n / blocks) (1 when blocks is None)."""
    return 1 if blocks is None else max(1, -(-n // blocks))


def block_resample(s: np.ndarray, b: int, rng) -> np.ndarray:
    """One moving-block bootstrap replicate of the time series ``s``: ceil(n / b) blocks of b
    consecutive values, starting at uniform positions in [0, n - b], concatenated, cut to n."""
    n = s.size
    if b <= 1:
        return s[rng.integers(0, n, n)]
    b = min(b, n)
    starts = rng.integers(0, n - b + 1, -(-n // b))
    return s[(starts[:, None] + np.arange(b)).ravel()[:n]]


def moment_analysis(samples_by_size: dict, *, q=None, q_range=(1.0, 3.0), boot: int = 200,
                    blocks: int | None = 20, seed: int | None = None) -> FssResult:
    """D and tau from avalanche sizes at several system sizes L.

    ``samples_by_size``: L -> the sizes at L in time order, as one array (one run) or a list of
    arrays (several runs, e.g. replicas, each in time order); non-positive values are dropped.
    ``blocks``: bootstrap blocks per run (module docstring; None: single avalanches)."""
    if len(samples_by_size) < 3:
        raise ValueError("moment analysis needs at least 3 system sizes, got "
                         f"{len(samples_by_size)}")
    if blocks is not None and (isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer))
                               or blocks < 1):
        raise ValueError(f"`blocks` must be an integer >= 1 or None, got {blocks!r}")
    sizes = sorted(samples_by_size)
    runs = [_runs(samples_by_size[L], L) for L in sizes]
    samples = [np.concatenate(r) for r in runs]
    q = np.linspace(0.5, 5.0, 19) if q is None else np.asarray(q, dtype=float)
    if not q_range[0] < q_range[1] or ((q >= q_range[0]) & (q <= q_range[1])).sum() < 2:
        raise ValueError(f"`q_range` must hold at least two q values, got {q_range}")
    log_l = np.log(np.asarray(sizes, dtype=float))
    sigma, D, tau = _fit(log_l, _moments(samples, q), q, q_range)
    seed = make_seed(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    lengths = [[block_length(s.size, blocks) for s in r] for r in runs]
    bs = []
    for _ in range(boot):
        res = [np.concatenate([block_resample(s, b, rng) for s, b in zip(r, bl)])
               for r, bl in zip(runs, lengths)]
        bs.append(_fit(log_l, _moments(res, q), q, q_range))
    sig_b = np.array([b[0] for b in bs])
    D_b = np.array([b[1] for b in bs])
    tau_b = np.array([b[2] for b in bs])
    return FssResult(float(D), float(D_b.std(ddof=1)), float(tau), float(tau_b.std(ddof=1)),
                     q, sigma, sig_b.std(axis=0, ddof=1), tuple(sizes), tuple(q_range),
                     data={"samples": [int(s.size) for s in samples],
                           "runs": [len(r) for r in runs], "blocks": blocks,
                           "block_length": [max(bl) for bl in lengths], "boot": boot,
                           "seed": seed})


def collapse(samples_by_size: dict, tau: float, D: float, bins: int = 30) -> dict:
    """Log-binned densities rescaled for a data collapse: x = s / L^D, y = s^tau P(s), per L
    (values as in :func:`moment_analysis`: one array or a list of runs)."""
    out = {}
    for L, value in sorted(samples_by_size.items()):
        s = np.concatenate(_runs(value, L))
        edges = np.geomspace(s.min(), s.max() * 1.0001, bins + 1)
        h, _ = np.histogram(s, edges)
        centre = np.sqrt(edges[1:] * edges[:-1])
        dens = h / (np.diff(edges) * s.size)
        keep = h > 0
        out[L] = (centre[keep] / L**D, centre[keep] ** tau * dens[keep])
    return out


__all__ = ["FssResult", "block_length", "block_resample", "collapse", "moment_analysis"]
