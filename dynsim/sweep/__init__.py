"""Sweeps: grids of runs of any registered system, on a local process pool or a Dask cluster.

- :mod:`dynsim.sweep.spec`: the sweep file (TOML), grid expansion, run ids, the SQLite index and
  the folder lock;
- :mod:`dynsim.sweep.executors`: :func:`run_sweep` and the executors (a local ``spawn`` pool whose
  workers die with the sweep, a Dask cluster, thread limits);
- :mod:`dynsim.sweep.report`: summaries of the index across seeds.

Finite-size scaling across the sizes of a sandpile sweep is a study:
:func:`dynsim.studies.fss.finite_size_scaling` with ``sweep=FOLDER``.
"""

from dynsim.sweep.spec import RunSpec, expand, load_sweep, read_index, resolved_params, run_id
from dynsim.sweep.executors import run_sweep
from dynsim.sweep.report import summarise, varying

__all__ = ["RunSpec", "expand", "load_sweep", "read_index", "resolved_params", "run_id",
           "run_sweep", "summarise", "varying"]
