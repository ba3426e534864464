"""Reading what ``dynsim analyze`` is given: a run folder (or one of its channels) or a plain array
of numbers (.npy, .csv, .txt)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def load_input(source, channel: str | None = None):
    """(trace or None, array or None, label) from a run folder (its ``channel``, shape kept, or the
    whole run when ``channel`` is None) or a .npy / .csv / .txt file (a text file of whole numbers
    is read as int64, see :func:`integral_as_int`)."""
    from dynsim.trace import load_run

    source = Path(source)
    if source.is_dir():
        trace = load_run(source)
        if channel is None:
            return trace, None, str(source)
        if channel not in trace.channels:
            raise ValueError(f"run {str(source)!r} has no channel {channel!r}; it has: "
                             f"{', '.join(sorted(trace.channels))}")
        return trace, np.asarray(trace[channel]), f"{source}:{channel}"
    if channel is not None:
        raise ValueError(f"`channel` applies to a run folder; {str(source)!r} is not one")
    if not source.is_file():
        raise ValueError(f"{str(source)!r} is neither a run folder nor a file")
    suffix = source.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(source, allow_pickle=False)
        elif suffix in (".csv", ".txt"):
            with warnings.catch_warnings():  # an empty file: the one-line error below says so
                warnings.simplefilter("ignore", UserWarning)
                arr = np.loadtxt(source, delimiter="," if suffix == ".csv" else None, ndmin=1)
        else:
            raise ValueError(f"{str(source)!r}: expected a run folder, .npy, .csv or .txt file")
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {str(source)!r}: {' '.join(str(err).split())}") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{str(source)!r} holds {arr.dtype} values, not numbers")
    if arr.size == 0:
        raise ValueError(f"the samples are empty: {str(source)!r} holds no value")
    if suffix in (".csv", ".txt"):
        arr = integral_as_int(arr)
    return None, arr, str(source)


def one_column(arr: np.ndarray) -> bool:
    """Whether ``arr`` is one column of numbers (1-D, or 2-D with one row or one column)."""
    return arr.ndim <= 1 or (arr.ndim == 2 and min(arr.shape) == 1)


def integral_as_int(arr: np.ndarray) -> np.ndarray:
    """A text file's floats as int64 when every value is finite and integral (np.loadtxt reads
    "3" as 3.0, which would otherwise be fitted as continuous)."""
    if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) \
            and np.all(arr == np.round(arr)) and np.all(np.abs(arr) < 2.0**53):
        return arr.astype(np.int64)
    return arr
