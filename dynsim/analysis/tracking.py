"""How far a continuous-time model stays from a discrete run: moving averages and gaps.

Used to compare gradient flow and the central flow (dynsim.sims.flows) with GD's time-averaged
loss and sharpness once GD is at the edge of stability (Cohen, Damian, Talwalkar, Kolter & Lee,
ICLR 2025: the central flow predicts GD's time average, not its iterates).
"""

from __future__ import annotations

import math

import numpy as np

from dynsim.analysis.results import Estimate


def edge_window(ratio, *, tol: float = 0.05, window: int = 50) -> tuple[int, int] | None:
    """The first sustained stretch at the edge of stability: the first run of consecutive steps
    [start, stop) with |ratio - 1| <= ``tol`` that lasts at least ``window`` steps (None if there
    is none).  ``ratio`` is the (time-averaged) sharpness x lr / 2, or any sharpness over its
    threshold.  A transient that only crosses the threshold (the degree-2 product, which falls
    through 1 to below the edge) is not "at the edge"; GD that settles at the edge (the minimalist
    toy) is (benchmarks/RESULTS.md has both trajectories).  Non-finite ratios end a run."""
    r = np.asarray(ratio, dtype=float).reshape(-1)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"`window` must be an integer >= 1, got {window!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"`tol` must be in (0, 1), got {tol!r}")
    with np.errstate(invalid="ignore"):
        near = np.abs(r - 1.0) <= tol
    edges = np.diff(np.concatenate([[0], near.astype(np.int8), [0]]))
    starts, stops = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    for a, b in zip(starts, stops):
        if b - a >= window:
            return int(a), int(b)
    return None


def time_average(x, window: int) -> np.ndarray:
    """Moving average over the ``window`` steps [t - window//2, t - window//2 + window), clipped
    to the record at its two ends (an even window averages whole period-2 oscillations)."""
    x = np.asarray(x, dtype=float).reshape(-1)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"`window` must be an integer >= 1, got {window!r}")
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(x.size)
    lo = np.clip(i - window // 2, 0, x.size)
    hi = np.clip(i - window // 2 + window, 0, x.size)
    return (c[hi] - c[lo]) / (hi - lo)


def tracking_gap(reference, model, *, start: int, stop: int | None = None, blocks: int = 10,
                 scale=None, log: bool = False, what: str = "loss") -> Estimate:
    """Mean gap between ``model`` and ``reference`` over steps [start, stop), with a block SE
    (the window cut into ``blocks`` contiguous blocks; a systematic drift of the gap over time
    inflates it, so read it as the spread over time, not as noise).

    ``log=True``: |log10(model / reference)| (decades; both must be positive), the natural gap for
    losses that fall by orders of magnitude.  Else |model - reference| / scale, ``scale``
    defaulting to |reference| (a relative error), or a constant such as 2/lr for a sharpness.
    Used to say how far a flow stays from GD's time-averaged loss and sharpness once GD is at the
    edge; ``data`` holds the median, the maximum and the gap series itself (``series``)."""
    ref = np.asarray(reference, dtype=float).reshape(-1)
    mod = np.asarray(model, dtype=float).reshape(-1)
    n = min(ref.size, mod.size)
    stop = n if stop is None else min(stop, n)
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < stop:
        raise ValueError(f"`start` must be an integer in [0, {stop - 1}], got {start!r}")
    if isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer)) or blocks < 2:
        raise ValueError(f"`blocks` must be an integer >= 2, got {blocks!r}")
    r, m = ref[start:stop], mod[start:stop]
    with np.errstate(divide="ignore", invalid="ignore"):
        if log:
            if np.any(r <= 0) or np.any(m <= 0):
                raise ValueError(f"{what}: log gaps need positive values in steps [{start}, {stop})")
            gap = np.abs(np.log10(m / r))
        else:
            sc = np.abs(r) if scale is None else np.broadcast_to(np.asarray(scale, dtype=float),
                                                                   r.shape)
            gap = np.abs(m - r) / sc
    if not np.all(np.isfinite(gap)):
        raise ValueError(f"{what}: the gap is not finite in steps [{start}, {stop}) "
                         "(a zero scale or a non-finite value)")
    b = min(blocks, gap.size)
    means = [p.mean() for p in np.array_split(gap, b)]
    se = float(np.std(means, ddof=1) / math.sqrt(b)) if b >= 2 else math.nan
    unit = ("|log10(model / reference)|, decades" if log else
            "|model - reference| / |reference|" if scale is None else
            "|model - reference| / scale")
    return Estimate.normal(float(gap.mean()), se, method=f"mean {unit} ({what}), block SE",
                           n=int(gap.size),
                           data={"start": int(start), "stop": int(stop), "blocks": int(b),
                                 "median": float(np.median(gap)), "max": float(gap.max()),
                                 "series": gap})


__all__ = ["edge_window", "time_average", "tracking_gap"]
