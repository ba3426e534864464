"""The shared analyzer: pure functions on arrays, and ``measure(trace) -> Measures``.

Never imports a simulator or torch.
"""

from dynsim.analysis.events import (burstiness, exponential_null, find_events, interval_hist_fit_ls,
                                    memory_coefficient)
from dynsim.analysis.measures import measure
from dynsim.analysis.powerlaw import analyze_power_law, compare, fit_power_law, gof_bootstrap
from dynsim.analysis.results import Estimate, Measures
from dynsim.analysis.tails import hill_estimator, stable_tail_index

__all__ = ["Estimate", "Measures", "analyze_power_law", "burstiness", "compare", "exponential_null",
           "find_events", "fit_power_law", "gof_bootstrap", "hill_estimator", "interval_hist_fit_ls",
           "measure", "memory_coefficient", "stable_tail_index"]
