"""The rows of :func:`dynsim.analysis.measure`: the adapters from a trace to the pure estimators,
by family (:mod:`~dynsim.analysis.rows.walks`, :mod:`~dynsim.analysis.rows.events`,
:mod:`~dynsim.analysis.rows.dynamics`), and the trace-reading helpers they share
(:mod:`~dynsim.analysis.rows.orbits`: the stationary window, sharpness, Lyapunov and sharpness
dimensions of a run; :mod:`~dynsim.analysis.rows.stability`: the sharpness ratio and where a run
sits against its threshold).

``TABLE``: (name, channels needed, adapter(trace, ctx) -> result, {name: result} or None), with
ctx holding rng, boot, seed and stationary_only.  Adding a measure means adding one row.
"""

from dynsim.analysis.rows import dynamics, events, walks

TABLE = walks.ROWS + events.ROWS + dynamics.ROWS

__all__ = ["TABLE"]
