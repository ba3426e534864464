"""The Trace: the one data type every simulator and trainer emits, and its run folder.

A :class:`Trace` is ``meta`` (a JSON-able dict) plus ``channels`` (name -> numpy array).  A run folder
holds ``meta.json`` and ``channels.npz`` and is readable with plain ``json`` and ``numpy.load``.

Meta keys
---------
``schema`` (int), ``system`` (registry name), ``params`` (every argument under the API's names),
``seed``, ``status`` (``ok``, ``diverged``, ``interrupted``, ``failed``), ``versions`` (dynsim, numpy,
numba, torch), ``timings`` (seconds by phase), ``created`` (ISO time), and where they apply
``threshold_convention`` and ``stationary_from``.

Channels
--------
A per-step channel has the step as its first axis; a channel ``X`` sampled at sparse steps comes with
``X_step``; a group of channels sampled together shares one: the ``dist_*``, ``coord_*`` and
``linf_*`` summaries of a walk all use ``dist_step``.  A channel a system can't produce is absent, never NaN-filled.  The table below is the
authoritative list: add a row when you add a channel.

========================  ===================  =========================================================
name                      shape                meaning (producer)
========================  ===================  =========================================================
dist_step                 (R,) int             steps n of the ``dist_*`` summaries (walk.lattice/gaussian)
dist_mean, dist_sd        (R,)                 mean and SD over walkers of the distance |X_n|
dist_median               (R,)                 median of |X_n|
dist_median_lo/_hi        (R,)                 95% order-statistic interval of that median
dist_quantiles            (R, 5)               |X_n| quantiles at 0.05, 0.25, 0.5, 0.75, 0.95
dist_sq_mean              (R,)                 mean of |X_n|^2 over walkers
dist_sq_cov               (R, R)               covariance over walkers of |X_n|^2 between record steps
coord_sq_mean, _sd        (R,)                 mean and SD of x_1(n)^2 (one coordinate)
linf_mean, linf_median    (R,)                 mean and median of max_i |x_i(n)|
linf_sd                   (R,)                 its SD over walkers
first_return              (walkers,) int       first step back at the origin, 0 if none (walk.lattice)
pca_explained             (walks, k)           explained-variance ratios of PCs 1..k per walk (walk.pca)
pca_cos_corr              (walks, k)           |corr| of the PC i projection with cos(pi i t / n)
pca_scores                (steps + 1, k)       walk 0 projected on its first k PCs (walk.pca)
trajectory                (n, dim)             the iterates x_t / w_t themselves (map.*, eos.*, flow.*)
param_proj                (steps, k)           parameters on k fixed random unit directions (train)
jacobian                  (n, d, d)            one-step Jacobians Df(trajectory[t]) (map.*); of the whole
                                               optimizer state (eos.*)
peak_fraction             (landscapes,)        fraction of strict local maxima (walk.peaks)
vector_norm               (vectors,)           |x| / sqrt(d) of Gaussian vectors (walk.vectors)
vector_cosine             (pairs,)             cosines between independent pairs of them
loss                      (T,)                 loss at each iterate (eos.*, flow.*) / of each step (train)
lr                        (T,)                 learning rate per step
sharpness                 (T,) / sparse        top Hessian eigenvalue; sparse in train (+ sharpness_step)
sharpness_err             sparse               Lanczos residual of that eigenvalue, its error bar (train)
precond_sharpness         (T,) / sparse        lambda_max(P^-1 H) of Adam / RMSProp
threshold                 (T,) / sparse        stability threshold in the units of the sharpness it is
                                               compared with; convention in meta threshold_convention
hessian_top               (T, k) / sparse      top Hessian eigenvalues (eos.*: all, descending; train:
                                               the top_k largest at probes, descending)
hessian_top_err           sparse (., k)        their Lanczos residuals ||Hy - theta y|| (train)
hessian_bottom            sparse (., k)        smallest Hessian eigenvalues (train, on request: bottom_k,
                                               ascending)
hessian_bottom_err        sparse (., k)        their Lanczos residuals (train)
hessian_density           sparse (., G)        Hessian spectral density by stochastic Lanczos
                                               quadrature, integral 1 (train, on request)
hessian_density_grid      sparse (., G)        the eigenvalue grid of each density row
grad_noise_norm           sparse (., S)        ||g_B - g||, S minibatch gradients against the full
                                               one (train with minibatches, on request)
hessian_trace, _err       sparse               Hutchinson trace and its SE (train, on request)
train_loss, test_loss     sparse               full-set losses at probes (train)
accuracy, test_accuracy   sparse               accuracies at probes (train)
layer_norm_<p>            sparse               ||W|| of parameter tensor p (train)
grad_norm_<p>             sparse               ||grad W|| of parameter tensor p, fresh at the probe
                                               step, of the probe loss (train)
update_norm               (steps,)             ||Delta w|| per optimizer step (train)
update_hist               (windows, layers, B) counts of |Delta w| per window and parameter tensor on
                                               the global log edges ``update_hist_edges`` (B + 1);
                                               ``update_hist_layers`` indexes meta update_hist_layers
update_sample             (windows, R)         a uniform sample of raw |Delta w| per window (train)
update_interval_hist      (bins,)              per-parameter waiting times between large updates,
                                               pooled, on ``update_interval_hist_edges`` (train);
                                               ``update_interval_overflow`` (1,): longer waits
central_sigma2            (T,)                 sigma^2(t) of the central flow (flow.central)
central_loss              (T,)                 its predicted time-averaged loss L + sigma^2 S / 2
bifurcation_lr            (R,)                 learning rates of the sweep (eos.bifurcation)
bifurcation_iterates      (R, K, d)            last K iterates per lr (NaN rows: diverged)
bifurcation_loss, _sharp. (R, K)               their loss and sharpness (bifurcation_sharpness)
bifurcation_threshold     (R,)                 threshold per lr
bifurcation_lyapunov      (R, kd)              Lyapunov spectrum over the kept steps (+ _se: block SEs)
bifurcation_diverged_at   (R,) int             step a run diverged, -1 if none
projected_newton          (T,) int             Newton steps of the projection onto S <= 2/lr per step
                                               (eos.projected; 0 where the GD step stayed stable)
starts_x0                 (R, d)               start points of eos.starts (R starts, one prange)
starts_iterates           (R, K, d)            last K iterates of each start (NaN rows: diverged)
starts_loss, _sharpness   (R, K)               their loss and sharpness (starts_sharpness)
starts_threshold          (R,)                 stability threshold of each start's optimizer
starts_diverged_at        (R,) int             step a start diverged, -1 if none
events_size               (E,) int             topplings of each avalanche (sandpile.*; size-0 drives
                                               are not events)
events_area               (E,) int             distinct sites (nodes) that toppled in it
events_duration           (E,) int             generations of the parallel update
events_time               (E,) int             grain (drive) that started it, within its replica
events_replica            (E,) int             replica of each avalanche (when replicas > 1)
events_<x>_hist           (S, B) int           stream mode, instead of events: counts of x = size,
                                               area, duration, waiting per chunk of grains, pooled
                                               over replicas, on ``events_<x>_hist_edges`` (B + 1)
events_hist_step          (S,) int             first grain of each chunk (row) of events_*_hist
height_mean               (samples,)           mean height per site (+ height_mean_step: grains added)
height_map                (L,)*d / (n,) int    final heights of replica 0 (Oslo: slopes; graph: grains)
========================  ===================  =========================================================
"sparse" channels X (taken at probes) come with ``X_step``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from dynsim.jsonutil import to_jsonable

SCHEMA = 1
STATUSES = ("ok", "diverged", "interrupted", "failed")
REQUIRED_META = ("schema", "system", "params", "seed", "status", "versions", "timings", "created")
META_FILE, CHANNELS_FILE = "meta.json", "channels.npz"


@dataclass
class Trace:
    """What a run produced: ``meta`` (JSON-able) and ``channels`` (name -> numpy array)."""

    meta: dict
    channels: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.channels[name]
        except KeyError:
            raise KeyError(f"trace of {self.system!r} has no channel {name!r}; "
                           f"it has: {', '.join(sorted(self.channels)) or 'none'}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.channels

    @property
    def system(self) -> str:
        return self.meta.get("system", "?")

    @property
    def params(self) -> dict:
        return self.meta.get("params", {})

    @property
    def seed(self) -> int:
        return self.meta.get("seed")

    def save(self, path, *, force: bool = False) -> Path:
        return save_run(self, path, force=force)

    def stationary(self, name: str) -> np.ndarray:
        """Channel ``name`` restricted to the stationary part, from ``meta["stationary_from"]`` on.

        An event channel (``events_size``, ``events_time``, ...) keeps the events whose
        ``events_time`` is at or after it; a streamed histogram ``events_<x>_hist`` keeps the chunks
        (rows) that start there (``events_hist_step``).  Without ``stationary_from`` (or without
        those step channels) the whole channel is returned.  The one stationarity filter of the
        project: the analyzer, the CLI and the figures all read events through it.
        """
        x = self[name]
        start = self.meta.get("stationary_from")
        if start is None:
            return x
        if name.startswith("events_") and name.endswith("_hist") and "events_hist_step" in self:
            return x[np.asarray(self["events_hist_step"]) >= start]
        if name.startswith("events_") and "events_time" in self \
                and len(x) == len(self["events_time"]):
            return x[np.asarray(self["events_time"]) >= start]
        return x

    def __repr__(self) -> str:
        chans = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.channels.items())
        return f"Trace({self.system!r}, seed={self.seed}, status={self.meta.get('status')!r}, [{chans}])"


def versions() -> dict:
    """Versions of dynsim and the numeric stack, read without importing torch."""
    out = {}
    for name in ("dynsim", "numpy", "numba", "torch"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def make_trace(system: str, params: dict, seed: int | None, channels: dict, *,
               status: str = "ok", timings: dict | None = None, **extra_meta) -> Trace:
    """Build a Trace with the common meta keys filled in (schema, versions, created, ...)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    meta = {
        "schema": SCHEMA,
        "system": system,
        "params": to_jsonable(params),
        "seed": seed,
        "status": status,
        "versions": versions(),
        "timings": {k: float(v) for k, v in (timings or {}).items()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **to_jsonable(extra_meta),
    }
    chans = {name: np.asarray(value) for name, value in channels.items()}
    for name, value in chans.items():
        if value.dtype == object:
            raise ValueError(f"channel {name!r} must be a numeric array, got dtype object")
    return Trace(meta, chans)


# ---------------------------------------------------------------------------------------------
# run folders


def _is_run_or_runs(path: Path) -> bool:
    """A run folder, a folder of run folders (:func:`save_runs`), or an empty folder."""
    if (path / META_FILE).is_file():
        return True
    entries = list(path.iterdir())
    return all(p.is_dir() and (p / META_FILE).is_file() for p in entries)


def check_output(path, force: bool = False) -> Path:
    """Refuse an existing output unless ``force``; call it before long work, not only at the end.

    ``force`` replaces only what dynsim wrote: a run folder, a folder of runs, or an empty folder
    (never another folder, whose files would be lost).  The parent must be writable: a probe
    folder is created and removed next to the target."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"output {str(path)!r} exists and is not a folder")
        if not force:
            raise ValueError(f"output {str(path)!r} exists; pass --force (force=True) to replace it")
        if path.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
            raise ValueError(f"output {str(path)!r} is the current folder or one above it")
        if not _is_run_or_runs(path):
            raise ValueError(f"output {str(path)!r} holds files that are not dynsim runs; "
                             "--force replaces only run folders: choose another --out")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".{path.name}.probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        raise ValueError(f"cannot write output {str(path)!r}: {err.strerror or err}") from None
    return path


def write_atomic(path, write, *, force: bool = False) -> Path:
    """Create folder ``path`` atomically: ``write(tmp)`` fills a sibling temporary folder, which is
    then renamed into place (``os.replace``).  A process killed midway leaves no folder at ``path``."""
    path = check_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write(tmp)
        if path.exists():  # force: move the old run aside, put the new one in place, then delete
            old = path.parent / f".{path.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _clean_stale(path: Path) -> None:
    """Remove temporary, replaced and probe siblings left by writers that were killed (pid gone):
    ``.NAME.tmp-PID-*``, ``.NAME.old-PID-*`` and the writability probe ``.NAME.probe-PID-*``."""
    for kind in (".tmp-", ".old-", ".probe-"):
        for stale in path.parent.glob(f".{path.name}{kind}*"):
            _remove_if_orphan(stale, kind)


def _remove_if_orphan(stale: Path, kind: str) -> None:
    """Remove ``stale`` when the process named by the pid after ``kind`` in its name is gone."""
    try:
        pid = int(stale.name.rsplit(kind, 1)[1].split("-")[0])
        os.kill(pid, 0)
    except ProcessLookupError:
        shutil.rmtree(stale, ignore_errors=True)
    except (ValueError, PermissionError, OSError):
        pass


def _write_trace(trace: Trace, folder: Path) -> None:
    with open(folder / CHANNELS_FILE, "wb") as fh:
        np.savez(fh, **trace.channels)
        fh.flush()
        os.fsync(fh.fileno())
    with open(folder / META_FILE, "w") as fh:
        json.dump(to_jsonable(trace.meta), fh, indent=1, allow_nan=False)
        fh.flush()
        os.fsync(fh.fileno())


def save_run(trace: Trace, path, *, force: bool = False) -> Path:
    """Write ``trace`` as a run folder (``meta.json`` + ``channels.npz``), atomically."""
    return write_atomic(path, lambda tmp: _write_trace(trace, tmp), force=force)


def save_runs(traces: dict[str, Trace], path, *, force: bool = False) -> Path:
    """Write several traces as run folders ``path/<name>/``, all or nothing."""
    def write(tmp):
        for name, trace in traces.items():
            (tmp / name).mkdir()
            _write_trace(trace, tmp / name)
    return write_atomic(path, write, force=force)


def load_run(path) -> Trace:
    """Read a run folder, checking that it is one and that its schema is this version's."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a run folder (no such folder)")
    meta_file, chan_file = path / META_FILE, path / CHANNELS_FILE
    if not meta_file.is_file():
        subruns = sorted(p.name for p in path.iterdir() if (p / META_FILE).is_file())
        hint = f"; it holds runs {', '.join(subruns)}" if subruns else ""
        raise ValueError(f"{str(path)!r} is not a run folder (no {META_FILE}){hint}")
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(meta_file)!r} is not valid JSON: {err}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{str(meta_file)!r} must hold a JSON object")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"{str(meta_file)!r} lacks meta key(s) {', '.join(missing)}")
    if meta["schema"] != SCHEMA:
        raise ValueError(f"run {str(path)!r} has schema {meta['schema']!r}; this dynsim "
                         f"({versions()['dynsim']}) reads schema {SCHEMA}")
    if meta["status"] not in STATUSES:
        raise ValueError(f"run {str(path)!r} has unknown status {meta['status']!r}")
    if not chan_file.is_file():
        raise ValueError(f"run {str(path)!r} lacks {CHANNELS_FILE}")
    try:
        with np.load(chan_file, allow_pickle=False) as npz:
            channels = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise ValueError(f"{str(chan_file)!r} is not a readable .npz archive of channels "
                         f"({type(err).__name__}: {err})") from None
    return Trace(meta, channels)


def load_runs(path) -> dict[str, Trace]:
    """Read a run folder, or a folder of run folders (as written by :func:`save_runs`)."""
    path = Path(path)
    if (path / META_FILE).is_file():
        return {path.name: load_run(path)}
    if not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a run folder (no such folder)")
    runs = {p.name: load_run(p) for p in sorted(path.iterdir()) if (p / META_FILE).is_file()}
    if not runs:
        raise ValueError(f"{str(path)!r} is not a run folder and holds none (no {META_FILE})")
    return runs


class Timer:
    """Collects wall-clock seconds by phase for ``meta['timings']``."""

    def __init__(self):
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
