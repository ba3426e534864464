"""Sweep files, run ids, the index and the lock: what a sweep is and where its results live.

A sweep file (TOML) names the system, fixed parameters and the grid::

    system = "walk.lattice"
    seeds = 3                         # seeds 0, 1, 2 (or give `seed = [...]` in [grid])
    [fixed]
    walkers = 5000
    [grid]
    d = [3, 4, 5]                     # a list
    steps = {range = [1000, 5000, 2000]}          # start, stop (inclusive), step
    # lr = {logrange = [0.01, 1.0, 5]}            # start, stop, number of log-spaced points

Every grid point x seed is one run with a stable id: a hash of the system, the seed and the
parameters bound with the entry point's defaults (so writing a default out changes nothing), whose
run folder is ``SWEEP/runs/<id>/``.  ``SWEEP/index.sqlite`` holds each run's configuration, status,
error, timing and headline measures.  SQLite because it is in the standard library, each result is
one committed transaction (a sweep killed with kill -9 loses no committed row, and half a row never
exists), and a table is what a report groups and filters; a Parquet file would need pyarrow and
rewriting the file per result.  A run is measured before its folder is written, and folders are
written atomically (dynsim.trace), so a folder on disk is a finished run and a killed sweep leaves
no half-written one; on the next start the index is reconciled with the run folders (a folder
written but not yet indexed is indexed, not rerun), finished runs are skipped, failed and
interrupted ones are run again.  ``SWEEP/.lock`` (flock) keeps a second sweep out of a folder in
use; a resume may add seeds or grid values, not change the system or the [fixed] block.

Running a sweep (:func:`dynsim.sweep.run_sweep`) and its workers: :mod:`dynsim.sweep.executors`;
summaries across seeds: :mod:`dynsim.sweep.report`.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import math
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from dynsim import registry
from dynsim.jsonutil import to_jsonable
from dynsim.params import check_params

INDEX = "index.sqlite"
LOCK = ".lock"


@dataclass(frozen=True)
class RunSpec:
    """One run: ``params`` as the sweep file gives them, ``resolved`` with the defaults added
    (hashed into ``id`` and stored in the index)."""
    id: str
    system: str
    params: dict
    seed: int
    resolved: dict | None = None


# ---------------------------------------------------------------------------------------------
# the sweep file


MAX_AXIS_POINTS = 100_000  # points one grid axis may have

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
                                               not isinstance(a, bool) and math.isfinite(a)
                                               for a in args)):
            raise ValueError(f"grid axis {name!r}: {kind} needs three finite numbers, got "
                             f"{args!r}")
        if kind == "range" and isinstance(args, list) and len(args) == 3:
            start, stop, step = args
            if not step or (stop - start) / step < 0:
                raise ValueError(f"grid axis {name!r}: range {args} has no points")
            n = (stop - start) / step + 1e-9
            if not n < MAX_AXIS_POINTS:
                raise ValueError(f"grid axis {name!r}: range {args} has more than "
                                 f"{MAX_AXIS_POINTS} points")
            n = int(math.floor(n)) + 1
            if all(isinstance(a, int) for a in args):
                return [start + i * step for i in range(n)]
            # in decimal: {range = [0.05, 0.2, 0.05]} gives 0.15, not 0.15000000000000002
            d0, dstep = Decimal(repr(float(start))), Decimal(repr(float(step)))
            return [float(d0 + i * dstep) for i in range(n)]
        if kind == "logrange" and isinstance(args, list) and len(args) == 3:
            start, stop, num = args
            if not (start > 0 and stop > 0 and isinstance(num, int)
                    and 1 <= num <= MAX_AXIS_POINTS):
                raise ValueError(f"grid axis {name!r}: logrange needs start, stop > 0 and an integer "
                                 f"count in [1, {MAX_AXIS_POINTS}], got {args}")
            return [float(f"{v:.12g}") for v in np.geomspace(start, stop, num)]
    raise ValueError(f"grid axis {name!r} must be a list, {{range = [start, stop, step]}} or "
                     f"{{logrange = [start, stop, num]}}, got {spec!r}")


def run_id(system: str, params: dict, seed: int) -> str:
    """A stable id from the configuration: sorted JSON of system, seed and the parameters bound
    with the entry point's defaults (:func:`resolved_params`), so ``{lr = 0.1}`` and ``{lr = 0.1,
    steps = 3000}`` (the default) are one run."""
    text = json.dumps({"system": system, "params": to_jsonable(resolved_params(system, params)),
                       "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def resolved_params(system: str, params: dict) -> dict:
    """``params`` (validated) completed with the entry point's defaults for every other parameter
    of its schema, and those that depend on other parameters (an entry point's
    ``resolve_defaults``, e.g. the steps of an eos toy by optimizer): what the run is, whichever
    of them the sweep file wrote."""
    entry = registry.get(system)
    schema = entry.schema
    checked = check_params(schema, dict(params), caller=system)
    defaults = {name: p.default for name, p in inspect.signature(entry.load()).parameters.items()
                if name in schema and name != "seed" and p.default is not inspect.Parameter.empty}
    resolved = {**defaults, **checked}
    resolve = getattr(entry.load(), "resolve_defaults", None)  # defaults that depend on others
    return to_jsonable(resolve(resolved) if resolve is not None else resolved)


def expand(spec: dict) -> list[RunSpec]:
    """The runs of a sweep specification (a parsed sweep file), validated against the registry."""
    unknown = sorted(set(spec) - {"system", "fixed", "grid", "seeds", "gpu"})
    if not isinstance(spec.get("gpu", False), bool):
        raise ValueError(f"sweep file: `gpu` must be true or false, got {spec['gpu']!r}")
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
                                int(seed), resolved_params(spec["system"], params)))
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


def record(con, run: RunSpec, status: str, error: str = "", seconds: float = math.nan,
            headline: dict | None = None) -> None:
    with con:  # one transaction per result
        con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.id, run.system, json.dumps(to_jsonable(run.resolved or run.params),
                                                    sort_keys=True),
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


def _lock(out: Path):
    """Hold ``SWEEP/.lock`` (flock) for the life of the sweep: two sweeps never run one folder.
    The kernel drops the lock when the process dies, kill -9 included."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return None
    fh = open(out / LOCK, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        pid = fh.read().strip() or "?"
        fh.close()
        raise ValueError(f"sweep folder {str(out)!r} is in use by another sweep (pid {pid}); wait "
                         "for it to end or stop it, then resume") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def reconcile(folder: Path, runs: list[RunSpec], con) -> list[RunSpec]:
    """Runs still to do: those without a finished run folder.  A run folder written by a sweep
    that was killed before indexing it is indexed now, from the folder (not rerun); one whose
    measures cannot be computed is run again."""
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
                if trace.meta["status"] in ("ok", "diverged"):
                    headline = measure(trace).headline()
                    record(con, run, trace.meta["status"], "",
                            sum(trace.meta["timings"].values()), headline)
                    continue
            except Exception:  # an unreadable folder or failing measures: run it again
                pass
        todo.append(run)
    return todo


def open_folder(out: Path, spec: dict):
    """Create or resume sweep folder ``out``: lock it, check the file against the stored one (a
    different system or [fixed] block is refused; more seeds or grid values are welcome)."""
    (out / "runs").mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    con = _connect(out)
    stored = con.execute("SELECT value FROM sweep WHERE key = 'spec'").fetchone()
    if stored is not None:
        old = json.loads(stored[0])
        for key, what in (("system", "system"), ("fixed", "[fixed] block")):
            if json.dumps(old.get(key), sort_keys=True) != json.dumps(
                    json.loads(json.dumps(spec.get(key))), sort_keys=True):
                con.close()
                if lock is not None:
                    lock.close()
                raise ValueError(f"sweep folder {str(out)!r} holds a sweep with another {what} "
                                 f"({json.dumps(old.get(key))}); resume it with the same {what} or "
                                 "use another --out (adding seeds or grid values is fine)")
    with con:
        con.execute("INSERT OR REPLACE INTO sweep VALUES ('spec', ?)", (json.dumps(spec),))
    return con, lock


__all__ = ["RunSpec", "expand", "load_sweep", "open_folder", "read_index", "reconcile",
           "record", "resolved_params", "run_id"]
