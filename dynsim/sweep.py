"""Sweeps: grids of runs of any registered system, on a local process pool or a Dask cluster.

A sweep file (TOML) names the system, fixed parameters and the grid::

    system = "walk.lattice"
    seeds = 3                         # seeds 0, 1, 2 (or give `seed = [...]` in [grid])
    [fixed]
    walkers = 5000
    [grid]
    d = [3, 4, 5]                     # a list
    steps = {range = [1000, 5000, 2000]}          # start, stop (inclusive), step
    # lr = {logrange = [0.01, 1.0, 5]}            # start, stop, number of log-spaced points

Every grid point x seed is one run with a stable id (a hash of the system and its parameters), whose
run folder is ``SWEEP/runs/<id>/``.  ``SWEEP/index.sqlite`` holds each run's configuration, status,
error, timing and headline measures.  SQLite because it is in the standard library, each result is
one committed transaction (a sweep killed with kill -9 loses no committed row, and half a row never
exists), and a table is what a report groups and filters; a Parquet file would need pyarrow and
rewriting the file per result.  Runs are written atomically (dynsim.trace), so a killed sweep leaves
no half-written run; on the next start the index is reconciled with the run folders (a folder
written but not yet indexed is indexed, not rerun), finished runs are skipped, failed and interrupted
ones are run again.

Workers: a local pool uses the ``spawn`` start method with numba, BLAS and torch at one thread each
(ARCHITECTURE.md); a Dask scheduler (``dask.distributed``) receives the same tasks, and runs that
want a GPU ask for the worker resource ``GPU``.  The run folders must be on a file system the
workers share.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import sqlite3
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynsim import registry
from dynsim.jsonutil import to_jsonable
from dynsim.params import check_params

INDEX = "index.sqlite"
SINGLE_THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class RunSpec:
    id: str
    system: str
    params: dict
    seed: int


# ---------------------------------------------------------------------------------------------
# the sweep file


def _load_toml(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ValueError(f"sweep file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"sweep file {str(path)!r} is not valid TOML: {err}") from None


def _axis(name: str, spec) -> list:
    """One grid axis: a list, {range = [start, stop, step]} or {logrange = [start, stop, num]}."""
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"grid axis {name!r} is an empty list")
        return spec
    if isinstance(spec, dict) and len(spec) == 1:
        kind, args = next(iter(spec.items()))
        if not (isinstance(args, list) and all(isinstance(a, (int, float)) and
                                               not isinstance(a, bool) for a in args)):
            raise ValueError(f"grid axis {name!r}: {kind} needs three numbers, got {args!r}")
        if kind == "range" and isinstance(args, list) and len(args) == 3:
            start, stop, step = args
            if not step or (stop - start) / step < 0:
                raise ValueError(f"grid axis {name!r}: range {args} has no points")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            vals = [start + i * step for i in range(n)]
            return [int(v) for v in vals] if all(isinstance(a, int) for a in args) else vals
        if kind == "logrange" and isinstance(args, list) and len(args) == 3:
            start, stop, num = args
            if not (start > 0 and stop > 0 and isinstance(num, int) and num >= 1):
                raise ValueError(f"grid axis {name!r}: logrange needs start, stop > 0 and an integer "
                                 f"count, got {args}")
            return [float(v) for v in np.geomspace(start, stop, num)]
    raise ValueError(f"grid axis {name!r} must be a list, {{range = [start, stop, step]}} or "
                     f"{{logrange = [start, stop, num]}}, got {spec!r}")


def run_id(system: str, params: dict, seed: int) -> str:
    """A stable id from the configuration (sorted JSON of system, parameters and seed)."""
    text = json.dumps({"system": system, "params": to_jsonable(params), "seed": seed},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def expand(spec: dict) -> list[RunSpec]:
    """The runs of a sweep specification (a parsed sweep file), validated against the registry."""
    unknown = sorted(set(spec) - {"system", "fixed", "grid", "seeds", "gpu"})
    if unknown:
        raise ValueError(f"sweep file: unknown key(s) {', '.join(unknown)}; allowed: system, fixed, "
                         "grid, seeds, gpu")
    if "system" not in spec:
        raise ValueError("sweep file: `system` is missing (one of " + ", ".join(registry.SYSTEMS)
                         + ")")
    system = registry.get(spec["system"])
    for key in ("fixed", "grid"):
        if not isinstance(spec.get(key, {}), dict):
            raise ValueError(f"sweep file: [{key}] must be a table of parameters, got "
                             f"{spec[key]!r}")
    fixed, grid = dict(spec.get("fixed", {})), dict(spec.get("grid", {}))
    if "seed" in grid and "seeds" in spec:
        raise ValueError("sweep file: give `seeds = N` or a `seed` grid axis, not both")
    n_seeds = spec.get("seeds", 1)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"sweep file: `seeds` must be an integer >= 1, got {n_seeds!r}")
    seeds = grid.pop("seed", None)
    seeds = list(range(n_seeds)) if seeds is None else _axis("seed", seeds)
    both = sorted(set(fixed) & set(grid))
    if both:
        raise ValueError(f"sweep file: {', '.join(both)} in both [fixed] and [grid]")
    axes = {name: _axis(name, values) for name, values in grid.items()}
    schema = system.schema
    runs = []
    for combo in itertools.product(*axes.values()):
        params = {**fixed, **dict(zip(axes, combo))}
        for seed in seeds:
            check_params(schema, {**params, "seed": seed}, caller=spec["system"])
            runs.append(RunSpec(run_id(spec["system"], params, int(seed)), spec["system"], params,
                                int(seed)))
    ids = [r.id for r in runs]
    if len(set(ids)) != len(ids):
        raise ValueError("sweep file: the grid repeats a configuration")
    return runs


def load_sweep(path) -> tuple[dict, list[RunSpec]]:
    spec = _load_toml(Path(path))
    return spec, expand(spec)


# ---------------------------------------------------------------------------------------------
# the index


def _connect(folder: Path) -> sqlite3.Connection:
    con = sqlite3.connect(folder / INDEX, timeout=60)
    con.execute("""CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY, system TEXT, params TEXT, seed INTEGER, status TEXT, error TEXT,
        seconds REAL, finished TEXT, headline TEXT)""")
    con.execute("CREATE TABLE IF NOT EXISTS sweep (key TEXT PRIMARY KEY, value TEXT)")
    return con


def _record(con, run: RunSpec, status: str, error: str = "", seconds: float = math.nan,
            headline: dict | None = None) -> None:
    with con:  # one transaction per result
        con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.id, run.system, json.dumps(to_jsonable(run.params), sort_keys=True),
                     run.seed, status, error, None if math.isnan(seconds) else seconds,
                     time.strftime("%Y-%m-%dT%H:%M:%S"), json.dumps(to_jsonable(headline or {}))))


def read_index(folder) -> list[dict]:
    """Rows of a sweep's index as dicts (params and headline decoded)."""
    folder = Path(folder)
    if not (folder / INDEX).is_file():
        raise ValueError(f"{str(folder)!r} is not a sweep folder (no {INDEX})")
    con = sqlite3.connect(folder / INDEX)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY id")]
    con.close()
    for r in rows:
        r["params"] = json.loads(r["params"])
        r["headline"] = json.loads(r["headline"] or "{}")
    return rows


# ---------------------------------------------------------------------------------------------
# running


def run_one(system: str, params: dict, seed: int, folder: str) -> tuple[str, str, float, dict]:
    """Run one configuration, write its run folder atomically, return (status, error, seconds,
    headline measures).  Exceptions are caught and returned: one failing run stops nothing."""
    from dynsim.analysis import measure
    from dynsim.trace import save_run

    t0 = time.perf_counter()
    try:
        trace = registry.run(system, seed=seed, **params)
        save_run(trace, folder, force=True)
        headline = measure(trace).headline()
        return trace.meta["status"], "", time.perf_counter() - t0, headline
    except Exception as err:  # recorded in the index with its traceback's last line
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        return "failed", last, time.perf_counter() - t0, {}


def _single_thread_init():
    os.environ.update(SINGLE_THREAD_ENV)
    if "numba" in sys.modules:  # already imported (a Dask worker): set its pool at runtime
        sys.modules["numba"].set_num_threads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _reconcile(folder: Path, runs: list[RunSpec], con) -> list[RunSpec]:
    """Runs still to do: those without a finished run folder.  A run folder written by a sweep
    that was killed before indexing it is indexed now, from the folder (not rerun)."""
    from dynsim.analysis import measure
    from dynsim.trace import load_run

    done = {r["id"]: r["status"] for r in read_index(folder)}
    todo = []
    for run in runs:
        path = folder / "runs" / run.id
        if (path / "meta.json").is_file():
            if done.get(run.id) in ("ok", "diverged"):
                continue
            try:
                trace = load_run(path)
            except ValueError:
                todo.append(run)
                continue
            if trace.meta["status"] in ("ok", "diverged"):
                _record(con, run, trace.meta["status"], "", sum(trace.meta["timings"].values()),
                        measure(trace).headline())
                continue
        todo.append(run)
    return todo


def _dask_client(scheduler):
    """A connected dask.distributed client (a Client object passes through)."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'dask[distributed]'"
                         ) from None
    if not isinstance(scheduler, str):
        return scheduler
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as err:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from None


def _run_pool(todo, args, workers, finished, task=None):
    """Run on a local spawn pool.  A worker that dies breaks the pool and every run in flight with
    it; those runs are then retried one at a time in a single-worker pool, so the run that kills
    its worker is found, recorded as failed ("worker process died"), and the others finish."""
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    task = task or run_one
    ctx = mp.get_context("spawn")
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update(SINGLE_THREAD_ENV)  # inherited by the spawned workers at start
    try:
        lost = []
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_single_thread_init) as pool:
            futures = {pool.submit(task, *args[r.id]): r for r in todo}
            for fut in as_completed(futures):
                try:
                    finished(futures[fut], fut.result())
                except BrokenProcessPool:
                    lost.append(futures[fut])
        pool = None
        for run in lost:  # isolation: one run per worker at a time
            if pool is None:
                pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_single_thread_init)
            try:
                finished(run, pool.submit(task, *args[run.id]).result())
            except BrokenProcessPool:
                finished(run, ("failed", "worker process died", math.nan, {}))
                pool.shutdown(wait=False)
                pool = None
        if pool is not None:
            pool.shutdown()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_sweep(path, out, *, workers: int = 1, scheduler: str | None = None, progress=None,
              dry_run: bool = False) -> dict:
    """Run (or resume) the sweep in file ``path`` into folder ``out``.  Returns counts
    {"runs", "skipped", "ok", "failed"}; ``progress(done, failed, left)`` is called per result."""
    spec, runs = load_sweep(path)
    if dry_run:
        return {"runs": runs}
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    client = _dask_client(scheduler) if scheduler is not None else None
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    con = _connect(out)
    stored = con.execute("SELECT value FROM sweep WHERE key = 'spec'").fetchone()
    if stored is not None and json.loads(stored[0]) != json.loads(json.dumps(spec)):
        con.close()
        raise ValueError(f"sweep folder {str(out)!r} holds a different sweep file; resume it with "
                         "the same file or use another --out")
    with con:
        con.execute("INSERT OR REPLACE INTO sweep VALUES ('spec', ?)", (json.dumps(spec),))
    todo = _reconcile(out, runs, con)
    counts = {"runs": len(runs), "skipped": len(runs) - len(todo), "ok": 0, "failed": 0}
    if not todo:
        return counts
    gpu = bool(spec.get("gpu", False))

    def finished(run, result):
        status, error, seconds, headline = result
        _record(con, run, status, error, seconds, headline)
        counts["failed" if status == "failed" else "ok"] += 1
        if progress is not None:
            progress(counts["ok"], counts["failed"], len(todo) - counts["ok"] - counts["failed"])

    args = {r.id: (r.system, r.params, r.seed, str(out / "runs" / r.id)) for r in todo}
    if client is not None:
        from distributed import as_completed as dask_completed

        try:
            client.run(_single_thread_init)  # numba, BLAS and torch at one thread per worker
            futures = {client.submit(run_one, *args[r.id], pure=False,
                                     resources={"GPU": 1} if gpu else None): r for r in todo}
            for fut in dask_completed(futures):
                try:
                    result = fut.result()
                except Exception as err:  # the worker died or the task was lost
                    result = ("failed", f"worker error: {type(err).__name__}: {err}", math.nan, {})
                finished(futures[fut], result)
        finally:
            if isinstance(scheduler, str):
                client.close()
    elif workers == 1:
        for run in todo:
            finished(run, run_one(*args[run.id]))
    else:
        _run_pool(todo, args, workers, finished)
    con.close()
    return counts


# ---------------------------------------------------------------------------------------------
# report


def summarise(rows: list[dict]) -> list[dict]:
    """Group runs with status ok by their parameters (seeds pooled): mean, SE over seeds per
    measure; runs with another status (diverged, failed) are counted in ``not_ok``."""
    groups: dict[str, list[dict]] = {}
    other: dict[str, dict] = {}
    for r in rows:
        key = json.dumps(r["params"], sort_keys=True)
        if r["status"] == "ok":
            groups.setdefault(key, []).append(r)
        else:  # diverged, failed, interrupted runs are counted, never averaged in
            other.setdefault(key, {}).setdefault(r["status"], 0)
            other[key][r["status"]] += 1
    def order(key):
        return tuple((str(type(v)), v if isinstance(v, (int, float)) else str(v))
                     for _, v in sorted(json.loads(key).items()))

    out = []
    for key in sorted(groups, key=order):
        members = groups[key]
        names = sorted({n for m in members for n in m["headline"]})
        stats = {}
        for name in names:
            vals = np.array([m["headline"][name] for m in members
                             if m["headline"].get(name) is not None], dtype=float)
            vals = vals[np.isfinite(vals)]
            if vals.size:
                se = vals.std(ddof=1) / math.sqrt(vals.size) if vals.size > 1 else math.nan
                stats[name] = (float(vals.mean()), float(se), int(vals.size))
        out.append({"params": json.loads(key), "seeds": len(members), "measures": stats,
                    "not_ok": other.get(key, {})})
    return out
