"""Lattice and Gaussian random walks: distance from the origin and first returns.

Normalisation (``walk_mean_square_distance``): a lattice step has length 1, so E|X_n|^2 = n in
every d and the per-coordinate RMS is sqrt(n/d).  Gaussian steps N(0, step_std^2 I) give
E|X_n|^2 = n d step_std^2; the default step_std = 1/sqrt(d) matches the lattice walk
(E|X_n|^2 = n).  Only step_std = 1 gives the often quoted "sqrt(n d)".

The trace keeps summaries at ``records`` log-spaced steps (not the walkers' states) plus each
lattice walker's first-return step; see the channel table in :mod:`dynsim.trace`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from dynsim.analysis.results import Z95
from dynsim.params import Float, Int, check_params, entry_point
from dynsim.rng import make_seed
from dynsim.sims.walks import kernels
from dynsim.trace import Timer, Trace, make_trace

Progress = Callable[[int, int], None]
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_BYTES = 4 * 2**30  # per-walker records held in memory before they are summarised

PARAMS = {
    "d": Int(1, 4096, default=10, help="Dimension d."),
    "walkers": Int(2, 10**8, default=20_000, help="Independent walkers."),
    "steps": Int(1, 10**9, default=1000, help="Steps per walker."),
    "records": Int(2, 1000, default=40, help="Log-spaced record steps."),
}


def default_step_std(d, step_std):
    """step_std, or 1/sqrt(d) when None (so that E|X_n|^2 = n); invalid d is left to validation."""
    if step_std is not None:
        return step_std
    return 1.0 / math.sqrt(d) if isinstance(d, (int, np.integer)) and d >= 1 else 1.0


def record_steps(steps: int, records: int) -> np.ndarray:
    """About ``records`` log-spaced steps in [1, steps], unique, always ending at ``steps``."""
    rec = np.unique(np.round(np.geomspace(1, steps, records)).astype(np.int64))
    return rec if rec[-1] == steps else np.append(rec, steps)


CHUNK_BYTES = 64 * 2**20  # positions of one chunk of walkers


def _chunks(n: int, d: int, parts: int = 20):
    """Walker ranges: about ``parts`` chunks (progress), at least 2048 walkers each (threads busy),
    at most CHUNK_BYTES of positions."""
    size = max(2048, -(-n // parts))
    size = max(1, min(size, CHUNK_BYTES // (8 * d)))
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


def _check_memory(walkers: int, n_rec: int) -> None:
    """Peak memory: 3 per-walker record arrays plus about 4 same-sized temporaries while
    summarising (distances, their sort, quantile and covariance work)."""
    need = 7 * 8 * walkers * n_rec
    if need > MAX_BYTES:
        raise ValueError(f"walkers x records = {walkers} x {n_rec} needs about {need / 2**30:.1f} GiB "
                         f"(limit {MAX_BYTES / 2**30:.0f} GiB); lower `walkers` or `records`")


def _summarise(r2: np.ndarray, c2: np.ndarray, linf: np.ndarray) -> dict:
    """Per-record-step summaries over walkers (rows), computed serially in numpy."""
    n = r2.shape[0]
    dist = np.sqrt(r2)
    srt = np.sort(dist, axis=0)
    half = Z95 * math.sqrt(n) / 2  # order statistics bracketing the median at 95%
    lo, hi = max(0, math.floor(n / 2 - half) - 1), min(n - 1, math.ceil(n / 2 + half))
    return {
        "dist_mean": dist.mean(axis=0),
        "dist_sd": dist.std(axis=0, ddof=1),
        "dist_median": np.median(srt, axis=0),
        "dist_median_lo": srt[lo],
        "dist_median_hi": srt[hi],
        "dist_quantiles": np.quantile(srt, QUANTILES, axis=0).T,
        "dist_sq_mean": r2.mean(axis=0),
        "dist_sq_cov": np.atleast_2d(np.cov(r2, rowvar=False)),
        "coord_sq_mean": c2.mean(axis=0),
        "coord_sq_sd": c2.std(axis=0, ddof=1),
        "linf_mean": linf.mean(axis=0),
        "linf_sd": linf.std(axis=0, ddof=1),
        "linf_median": np.median(linf, axis=0),
    }


def _run_walkers(kernel, walkers, rec, extra_args, progress, with_returns, pos_dtype, d):
    n_rec = rec.shape[0]
    r2, c2, linf = (np.empty((walkers, n_rec)) for _ in range(3))
    ret = np.zeros(walkers, dtype=np.int64) if with_returns else None
    done = 0
    for lo, hi in _chunks(walkers, d):
        pos = np.zeros((hi - lo, d), dtype=pos_dtype)
        outs = (r2[lo:hi], c2[lo:hi], linf[lo:hi]) + ((ret[lo:hi],) if with_returns else ())
        kernel(*extra_args(lo), rec, pos, *outs)
        done += hi - lo
        if progress is not None:
            progress(done, walkers)
    return r2, c2, linf, ret


def _walk(system: str, p: dict, seed, progress) -> Trace:
    """Seed, run the lattice or Gaussian kernel in chunks, summarise, wrap (validated ``p``)."""
    seed = make_seed(seed)
    rec = record_steps(p["steps"], p["records"])
    _check_memory(p["walkers"], rec.shape[0])
    lattice = system == "walk.lattice"
    timer = Timer()
    with timer.phase("simulate"):
        if lattice:
            kernel, args = kernels.lattice_distance_kernel, (lambda lo: (seed, lo))
        else:
            kernel, args = kernels.gaussian_distance_kernel, (lambda lo: (seed, lo, p["step_std"]))
        r2, c2, linf, ret = _run_walkers(kernel, p["walkers"], rec, args, progress, lattice,
                                         np.int64 if lattice else np.float64, p["d"])
    with timer.phase("summarise"):
        channels = {"dist_step": rec, **_summarise(r2, c2, linf)}
        if lattice:
            channels["first_return"] = ret
    return make_trace(system, p, seed, channels, timings=timer.timings)


@entry_point(PARAMS)
def lattice_walk(d: int, walkers: int, steps: int, records: int, *, seed: int | None = None,
                 progress: Progress | None = None) -> Trace:
    """Simple random walk on Z^d, ``walkers`` independent copies of ``steps`` steps.

    Each step picks one of the d axes uniformly, then a direction +-1: 2d equally likely moves.
    Channels: the ``dist_*``, ``coord_*``, ``linf_*`` summaries at the steps ``dist_step`` and
    ``first_return`` (first return to the origin, 0 if none by ``steps``).
    """
    p = check_params(PARAMS, dict(d=d, walkers=walkers, steps=steps, records=records), "walk.lattice")
    return _walk("walk.lattice", p, seed, progress)


GAUSSIAN_PARAMS = {**PARAMS, "step_std": Float(0.0, None, lo_open=True,
                                                help="Step SD per coordinate.",
                                                none_means="1/sqrt(d), so E|X_n|^2 = n")}


@entry_point(GAUSSIAN_PARAMS)
def gaussian_walk(d: int, walkers: int, steps: int, records: int, step_std: float | None, *,
                  seed: int | None = None, progress: Progress | None = None) -> Trace:
    """Gaussian walk in R^d with steps N(0, step_std^2 I); step_std defaults to 1/sqrt(d), so that
    E|X_n|^2 = n as for the lattice walk.  Same distance channels as :func:`lattice_walk`."""
    step_std = default_step_std(d, step_std)
    p = check_params(GAUSSIAN_PARAMS, dict(d=d, walkers=walkers, steps=steps, records=records,
                                           step_std=step_std), "walk.gaussian")
    return _walk("walk.gaussian", p, seed, progress)

