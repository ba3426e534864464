"""``dynsim sweep``: grids of runs of any registered system, and their report."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import click

from dynsim.cli.base import DynsimGroup, check_outputs, emit, quiet, save_figure
from dynsim.cli.base import option
from dynsim.params import Int
from dynsim.studies.fss import PARAMS as FSS


@click.group(cls=DynsimGroup)
def sweep():
    """Run a grid of runs (local pool or Dask) and report measures across it."""


def _counts_text(c: dict) -> str:
    return (f"{c['ok']} ok" + (f", {c['diverged']} diverged" if c["diverged"] else "") +
            f", {c['failed']} failed")


@contextmanager
def _sweep_bar():
    """Yield ``progress(ok, diverged, failed, left)`` drawing a bar with runs done / failed / left
    on a terminal (None-drawing when quiet or not a TTY); the last counts stay in ``.last``."""
    state = {"bar": None, "done": 0, "last": None}
    draw = not quiet() and sys.stderr.isatty()

    def progress(ok, diverged, failed, left):
        state["last"] = {"ok": ok, "diverged": diverged, "failed": failed, "left": left}
        if not draw:
            return
        done = ok + diverged + failed
        if state["bar"] is None:
            state["bar"] = click.progressbar(
                length=done + left, label="runs", file=sys.stderr, show_pos=True,
                item_show_func=lambda c: c and
                f"{_counts_text(c)}, {c['left']} left")
            state["bar"].__enter__()
        state["bar"].update(done - state["done"], state["last"])
        state["done"] = done

    progress.state = state
    try:
        yield progress
    finally:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)


@sweep.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Sweep folder: runs/<id>/ and index.sqlite (resumed if it exists); required "
                   "unless --dry-run.")
@option("--workers", "workers", Int(1, 256), default=None, show_default=False,
        help="Local worker processes (spawn; one thread each) [default: 1]; not with --scheduler.")
@click.option("--scheduler", default=None, help="Address of a Dask scheduler (tcp://host:8786).")
@click.option("--dry-run", is_flag=True, help="Print the runs it would make, run nothing.")
def run_cmd(file, out, workers, scheduler, dry_run):
    """Expand FILE (TOML: system, [fixed], [grid], seeds, gpu) and run every configuration.

    Finished runs are skipped on a rerun; failed or interrupted ones run again.  Exits with code 1
    and a one-line summary when any run failed (its error is in the index), 130 on Ctrl-C.
    """
    from dynsim.sweep import run_sweep

    if dry_run:
        runs = run_sweep(file, None, dry_run=True)["runs"]
        for r in runs:
            click.echo(f"{r.id}  {r.system}  seed={r.seed}  " +
                       "  ".join(f"{k}={v}" for k, v in r.params.items()))
        click.echo(f"{len(runs)} runs", err=True)
        return
    if out is None:
        raise ValueError("--out is required (the sweep folder), unless --dry-run")
    with _sweep_bar() as progress:
        try:
            counts = run_sweep(file, out, workers=workers, scheduler=scheduler,
                               progress=progress, note=lambda t: click.echo(t, err=True))
        except KeyboardInterrupt:
            last = progress.state["last"]
            done = f" after {_counts_text(last)}" if last else ""
            click.echo(f"\nsweep {out}: interrupted{done}; finished runs are indexed, rerun the "
                       "same command to resume", err=True)
            sys.exit(130)
    line = (f"sweep {out}: {counts['runs']} runs, {counts['skipped']} already done, "
            f"{_counts_text(counts)}")
    if counts["failed"]:
        click.echo(f"{line} (errors: dynsim sweep report {out} --failed)", err=True)
        sys.exit(1)
    if not quiet():
        click.echo(line, err=True)


@sweep.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--x", "x", default=None, help="Parameter on the x axis [default: the grid axis "
              "with most values].")
@click.option("--fss", is_flag=True, help="Finite-size scaling of the avalanche sizes over L (the "
              "study of `dynsim sandpile fss`) with the collapse plot; only L and the seed may "
              "vary.")
@option("--boot", "boot", FSS["boot"], help=f"--fss: {FSS['boot'].help}")
@option("--q-min", "q_min", FSS["q_min"], help=f"--fss: {FSS['q_min'].help}")
@option("--q-max", "q_max", FSS["q_max"], help=f"--fss: {FSS['q_max'].help}")
@click.option("--measure", "measures", multiple=True,
              help="Measure to show (repeat the option) [default: all in the table; in the "
                   "figure stability and sharpness first, then others, 6 at most].")
@click.option("--failed", "show_failed", is_flag=True, help="List failed runs and their errors.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, not a table.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the figure (.png, .pdf or .svg).")
def report(folder, x, fss, boot, q_min, q_max, measures, show_failed, as_json, plot):
    """Measures across the grid, mean ± SE over ok seeds (others counted); a figure against one
    parameter."""
    from dynsim.sweep import read_index
    from dynsim.sweep.report import failed_runs, sweep_report

    check_outputs(None, False, plot)
    if show_failed:
        bad = failed_runs(read_index(folder))
        emit(as_json, bad, "\n".join(f"{r['id']}  {r['params']}  seed={r['seed']}  {r['error']}"
                                     for r in bad) or "no failed runs")
        return
    rep = sweep_report(folder, x=x, measures=measures)
    payload, text, figure = rep.to_dict(), str(rep), rep.figure
    if fss:
        from dynsim.studies.fss import finite_size_scaling

        study = finite_size_scaling(boot=boot, q_min=q_min, q_max=q_max, seed=0, sweep=folder)
        payload["fss"], text, figure = study, f"{text}\n{study}", study.figure
    emit(as_json, payload, text)
    if plot is not None:
        save_figure(figure(), plot)
