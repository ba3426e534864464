"""``measure(trace) -> Measures``: every measure whose channels a trace holds, by one table.

Each row names a measure, the channels it needs and an adapter from the trace to the pure function
in its analysis module; the rows live by family in :mod:`dynsim.analysis.rows.walks`,
:mod:`~dynsim.analysis.rows.events` and :mod:`~dynsim.analysis.rows.dynamics`.  A measure whose channels are absent is absent.  Adding a measure means
adding one row.  Resampling measures draw from a generator seeded by (trace seed, row name), so
``measure`` is a pure function of the trace and adding a row changes no other row's draws.
"""

from __future__ import annotations

import math
import zlib
from types import SimpleNamespace

from dynsim.analysis.results import Estimate, Measures
from dynsim.analysis.rows import TABLE  # name, channels needed, adapter(trace, ctx)
from dynsim.rng import make_rng


def measure(trace, only: list[str] | None = None, *, boot: int = 0,
            stationary_only: bool = True) -> Measures:
    """Every measure of ``TABLE`` whose channels ``trace`` holds (or just those named in ``only``).
    A row that cannot be computed on this trace (a ValueError from its estimator) gives a result
    with NaN value, ``data['status'] = 'failed'`` and the reason, and the other rows still run.

    boot: bootstrap replicates for the power-law goodness of fit (0: fit and likelihood-ratio tests
    only, which is fast).  stationary_only: event rows use only the stationary part of a run
    (``meta["stationary_from"]`` on, see :meth:`Trace.stationary`); False uses the whole run,
    transient included."""
    known = [row[0] for row in TABLE]
    if only is not None:
        bad = sorted(set(only) - set(known))
        if bad:
            raise ValueError(f"unknown measure(s) {', '.join(bad)}; known: {', '.join(known)}")
    seed = trace.seed if isinstance(trace.seed, int) else 0
    results = {}
    for name, needs, fn in TABLE:
        if only is not None and name not in only:
            continue
        if all(c in trace.channels for c in needs):
            rng = make_rng(seed, 7919, zlib.crc32(name.encode()))[1]
            ctx = SimpleNamespace(rng=rng, boot=boot, seed=int(rng.integers(2**62)),
                                  stationary_only=bool(stationary_only))
            try:
                result = fn(trace, ctx)
            except ValueError as err:  # this row cannot be measured on this trace: say why
                result = Estimate(math.nan, math.nan, (math.nan, math.nan), f"failed: {err}", 0,
                                  data={"status": "failed", "reason": str(err)})
            if isinstance(result, dict):  # a row that yields a family of measures
                results.update(result)
            elif result is not None:
                results[name] = result
    return Measures(results, system=trace.system, seed=trace.seed)


__all__ = ["TABLE", "measure"]
