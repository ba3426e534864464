"""Trace adapters of the stability measure: the steps a channel was recorded at, the ratio of
sharpness to threshold read from a trace, and :func:`stability` (where a run sits against its own
threshold; the rule itself, on arrays, is :func:`dynsim.analysis.stability.stability_from_arrays`).
"""

from __future__ import annotations

import math

import numpy as np

from dynsim.analysis.stability import (CONVENTIONS, PRECONDITIONED, Stability,
                                       stability_from_arrays)


def channel_steps(trace, name: str) -> np.ndarray:
    """The steps channel ``name`` was recorded at: ``<name>_step`` if present, else 0, 1, ..."""
    key = f"{name}_step"
    if key in trace.channels:
        return np.asarray(trace[key], dtype=np.int64)
    return np.arange(len(trace[name]), dtype=np.int64)


def _threshold_at(trace, steps: np.ndarray, n_values: int) -> np.ndarray:
    thr = np.asarray(trace["threshold"], dtype=float).reshape(-1)
    if "threshold_step" in trace.channels:
        return np.interp(steps, np.asarray(trace["threshold_step"], dtype=float), thr)
    if thr.size == 1:
        return np.full(n_values, thr[0])
    if thr.size == n_values:
        return thr
    if steps.size and thr.size > steps.max():
        return thr[steps]
    raise ValueError(f"`threshold` has {thr.size} values and no threshold_step; the sharpness has "
                     f"{n_values} (steps up to {int(steps.max()) if steps.size else 0})")


def sharpness_ratio(trace) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(steps, sharpness / threshold, channel used, convention) read from ``trace``.

    The channel is ``precond_sharpness`` for the *_precond conventions, else ``sharpness``."""
    if "threshold" not in trace.channels:
        raise ValueError(f"trace of {trace.system!r} has no threshold channel")
    conv = trace.meta.get("threshold_convention")
    if conv not in CONVENTIONS:
        raise ValueError(f"trace of {trace.system!r}: meta threshold_convention must be one of "
                         f"{', '.join(CONVENTIONS)}, got {conv!r}")
    channel = "precond_sharpness" if conv in PRECONDITIONED else "sharpness"
    if channel not in trace.channels:
        raise ValueError(f"trace of {trace.system!r} (convention {conv}) has no {channel} channel")
    s = np.asarray(trace[channel], dtype=float).reshape(-1)
    steps = channel_steps(trace, channel)
    thr = _threshold_at(trace, steps, s.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return steps, s / thr, channel, conv


def stability(trace, *, late: float = 0.25, blocks: int = 10, edge_tol: float = 0.1,
              growth: float = 1e6) -> Stability:
    """Where a run sits against its stability threshold (the rule of :mod:`dynsim.analysis.stability`):
    a :class:`Stability`."""
    steps, ratio, channel, conv = sharpness_ratio(trace)
    thr = np.asarray(trace["threshold"], dtype=float).reshape(-1)
    loss = loss_steps = None
    if "loss" in trace.channels:
        loss = np.asarray(trace["loss"], dtype=float).reshape(-1)
        loss_steps = channel_steps(trace, "loss")
    return stability_from_arrays(steps, ratio, convention=conv, channel=channel,
                                 threshold=float(np.nanmedian(thr)) if thr.size else math.nan,
                                 loss=loss, loss_steps=loss_steps,
                                 stopped=trace.meta.get("status") == "diverged", late=late,
                                 blocks=blocks, edge_tol=edge_tol, growth=growth)


__all__ = ["channel_steps", "sharpness_ratio", "stability"]
