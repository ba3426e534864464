"""Running sweeps: the driver (:func:`run_sweep`), one run, a local spawn pool, a Dask cluster.

:func:`run_sweep` opens (or resumes) the sweep folder (:mod:`dynsim.sweep.spec`), reconciles it with
the run folders on disk and hands what is left to an executor.  A local pool uses the ``spawn``
start method with numba, BLAS and torch at one thread each; a Dask scheduler
(``dask.distributed``) receives the same tasks, and runs that want a GPU (``gpu = true``) ask for
the worker resource ``GPU``.  The run folders must be on a file system the workers share.

Local workers die with the sweep that started them: ``PR_SET_PDEATHSIG`` on Linux and a watchdog
thread on ``os.getppid()`` elsewhere, so a ``kill -9`` of the sweep leaves no orphan writing runs.
They ignore SIGINT: Ctrl-C reaches the sweep, which cancels what is queued and terminates them.
Every task limits numba, BLAS and (when already imported) torch to one thread *in the thread that
runs it*: ``numba.set_num_threads`` applies to the calling thread only, and a Dask worker runs
tasks in threads of its own.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from dynsim import registry
from dynsim.sweep.spec import load_sweep, open_folder, reconcile, record

SINGLE_THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}
PR_SET_PDEATHSIG = 1


def run_one(system: str, params: dict, seed: int, folder: str) -> tuple[str, str, float, dict]:
    """Run one configuration, measure it, then write its run folder atomically; return (status,
    error, seconds, headline measures).  Exceptions are caught and returned: one failing run stops
    nothing.  A run whose measures fail is failed and leaves no folder (so it is redone)."""
    from dynsim.analysis import measure
    from dynsim.trace import save_run

    t0 = time.perf_counter()
    try:
        trace = registry.run(system, seed=seed, **params)
        status = trace.meta["status"]
        if status not in ("ok", "diverged"):  # failed or interrupted: no folder, say why
            return status, _why(trace), time.perf_counter() - t0, {}
        headline = measure(trace).headline()  # before saving: a folder on disk is a finished run
        save_run(trace, folder, force=True)
        return status, "", time.perf_counter() - t0, headline
    except Exception as err:  # recorded in the index with its traceback's last line
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        return "failed", last, time.perf_counter() - t0, {}


def _why(trace) -> str:
    """The reason a run ended failed or interrupted, from what its producer put in meta."""
    meta = trace.meta
    for key in ("error", "reason", "message"):
        if meta.get(key):
            return f"{meta['status']}: {meta[key]}"
    solver = meta.get("solver")
    if isinstance(solver, dict) and solver.get("message"):
        return f"{meta['status']}: {solver['message']}"
    if meta.get("interrupted_step") is not None:
        return f"interrupted at step {meta['interrupted_step']}"
    return f"{meta['status']} (the run gave no reason)"


def limit_threads() -> None:
    """numba, BLAS and torch at one thread, for the calling thread (env covers later imports)."""
    os.environ.update(SINGLE_THREAD_ENV)
    numba = sys.modules.get("numba")
    if numba is not None:  # already imported with another pool size: set it for this thread
        numba.set_num_threads(1)
    torch = sys.modules.get("torch")  # never import torch for a numba-only sweep
    if torch is not None:
        torch.set_num_threads(1)


def in_task(task, *args):
    """Run ``task(*args)`` with threads limited in the task's own thread (Dask tasks)."""
    limit_threads()
    return task(*args)


def _die_with_parent(parent: int) -> None:
    """Exit when process ``parent`` dies: the kernel's parent-death signal on Linux, and a
    watchdog thread polling getppid() everywhere (a parent that died before prctl included)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog remains
            pass

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.25)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="dynsim-parent-watchdog", daemon=True).start()


def _worker_init(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle
    _die_with_parent(parent)
    limit_threads()


def _abort_pool(pool) -> None:
    """Cancel what is queued and terminate the workers now (Ctrl-C, or any error)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(5)


def run_pool(todo, args, workers, finished, task=None):
    """Run on a local spawn pool.  A worker that dies breaks the pool and every run in flight with
    it; those runs are then retried one at a time in a single-worker pool, so the run that kills
    its worker is found, recorded as failed ("worker process died"), and the others finish.
    An interruption (KeyboardInterrupt) cancels the queue and terminates the workers; the runs
    finished so far have been passed to ``finished``."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    task = task or run_one
    ctx = mp.get_context("spawn")
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update(SINGLE_THREAD_ENV)  # inherited by the spawned workers at start
    init = dict(mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),))
    pool = None
    try:
        lost = []
        pool = ProcessPoolExecutor(workers, **init)
        futures = {pool.submit(task, *args[r.id]): r for r in todo}
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except BrokenProcessPool:
                lost.append(futures[fut])
                continue
            finished(futures[fut], result)
        pool.shutdown()
        pool = None
        for run in lost:  # isolation: one run per worker at a time
            if pool is None:
                pool = ProcessPoolExecutor(1, **init)
            try:
                result = pool.submit(task, *args[run.id]).result()
            except BrokenProcessPool:
                result = ("failed", "worker process died", math.nan, {})
                pool.shutdown(wait=False)
                pool = None
            finished(run, result)
        if pool is not None:
            pool.shutdown()
            pool = None
    except BaseException:
        if pool is not None:
            _abort_pool(pool)
        raise
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def dask_client(scheduler):
    """A connected dask.distributed client (a Client object passes through)."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("`scheduler` needs dask.distributed: pip install 'dask[distributed]'"
                         ) from None
    if not isinstance(scheduler, str):
        return scheduler
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as err:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from None


def check_gpu_workers(client, where: str) -> None:
    """Refuse a GPU sweep on a cluster none of whose workers offers the resource ``GPU``."""
    workers = client.scheduler_info().get("workers", {})
    if not any((w.get("resources") or {}).get("GPU", 0) >= 1 for w in workers.values()):
        raise ValueError(f"gpu = true, but no worker of the Dask scheduler {where} offers the "
                         f"resource GPU ({len(workers)} workers); start GPU workers with "
                         "`dask worker ADDRESS --resources GPU=1`, or set gpu = false")


def run_dask(client, todo, args, finished, gpu: bool) -> None:
    """Submit every run to Dask (resource GPU=1 when ``gpu``); cancel the rest on any exit."""
    from distributed import as_completed as dask_completed

    from dynsim.sweep.executors import in_task as task_wrapper  # importable name for workers

    client.run(limit_threads)  # env of every worker process (BLAS pools read it at start)
    futures = {client.submit(task_wrapper, run_one, *args[r.id], pure=False,
                             resources={"GPU": 1} if gpu else None): r for r in todo}
    try:
        for fut in dask_completed(futures):
            try:
                result = fut.result()
            except Exception as err:  # the worker died or the task was lost
                result = ("failed", f"worker error: {type(err).__name__}: {err}", math.nan, {})
            finished(futures[fut], result)
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)


def run_sweep(path, out, *, workers: int | None = None, scheduler=None, progress=None,
              dry_run: bool = False, note=None) -> dict:
    """Run (or resume) the sweep in file ``path`` into folder ``out``.

    Returns counts {"runs", "skipped", "ok", "diverged", "failed"}; ``progress(ok, diverged,
    failed, left)`` is called once before the first result and after each; ``note(text)`` receives
    remarks (default: stderr).  ``scheduler`` is a Dask address or Client.  A KeyboardInterrupt
    stops the workers at once; results indexed so far stay, the runs in flight are redone on the
    next start."""
    note = note or (lambda text: print(text, file=sys.stderr))
    spec, runs = load_sweep(path)
    if dry_run:
        return {"runs": runs}
    if scheduler is not None and workers is not None:
        raise ValueError("`workers` is for the local pool; with `scheduler` the Dask cluster's "
                         "workers run the sweep (size them when starting the cluster)")
    workers = 1 if workers is None else workers  # the local pool's default: one spawn worker
    if not (isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1):
        raise ValueError(f"`workers` must be an integer >= 1, got {workers!r}")
    gpu = spec.get("gpu", False)
    client = dask_client(scheduler) if scheduler is not None else None
    try:
        if client is not None and gpu:
            check_gpu_workers(client, repr(scheduler) if isinstance(scheduler, str)
                              else "of this client")
        elif gpu:
            note("note: gpu = true asks Dask for GPU workers; on the local pool it is ignored "
                 "(a run uses a GPU where its system does so by itself)")
        out = Path(out)
        con, lock = open_folder(out, spec)
        try:
            return _execute(out, runs, con, client, workers, gpu, progress)
        finally:
            con.close()
            if lock is not None:
                lock.close()
    finally:
        if client is not None and isinstance(scheduler, str):
            client.close()


def _execute(out, runs, con, client, workers, gpu, progress) -> dict:
    todo = reconcile(out, runs, con)
    counts = {"runs": len(runs), "skipped": len(runs) - len(todo), "ok": 0, "diverged": 0,
              "failed": 0}

    def report():
        if progress is not None:
            left = len(todo) - counts["ok"] - counts["diverged"] - counts["failed"]
            progress(counts["ok"], counts["diverged"], counts["failed"], left)

    def finished(run, result):
        status, error, seconds, headline = result
        record(con, run, status, error, seconds, headline)
        counts[status if status in ("ok", "diverged") else "failed"] += 1
        report()

    if not todo:
        return counts
    report()
    args = {r.id: (r.system, r.params, r.seed, str(out / "runs" / r.id)) for r in todo}
    if client is not None:
        run_dask(client, todo, args, finished, gpu)
    else:  # a spawn pool even for one worker: a run that dies or hangs on Ctrl-C stays outside
        run_pool(todo, args, workers, finished)
    return counts


__all__ = ["check_gpu_workers", "dask_client", "in_task", "limit_threads", "run_dask",
           "run_one", "run_pool", "run_sweep"]
