"""The shared analyzer: pure functions on arrays, and ``measure(trace) -> Measures``.

Never imports a simulator or torch.
"""

from dynsim.analysis.measures import measure
from dynsim.analysis.results import Estimate, Measures

__all__ = ["Estimate", "Measures", "measure"]
