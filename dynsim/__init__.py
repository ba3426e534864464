"""dynsim: a simulation engine for the dynamics of learning.

Numba-jitted toy systems (random walks, edge-of-stability losses, sandpiles) and PyTorch training
runs all emit a :class:`~dynsim.trace.Trace`; one analyzer (:func:`dynsim.analysis.measure`) turns
any trace into the same :class:`~dynsim.analysis.Measures`.

The package imports neither torch nor the simulators at import time.
"""

__version__ = "0.1.0"

from dynsim.trace import Trace, load_run, make_trace, save_run  # noqa: E402

__all__ = ["Trace", "load_run", "make_trace", "save_run", "__version__"]
