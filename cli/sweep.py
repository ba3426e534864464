"""``dynsim sweep``: grids of runs of any registered system, and their report."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import click

from dynsim.cli.base import DynsimGroup, check_outputs, emit, quiet, save_figure
from dynsim.cli.base import option
from dynsim.params import Float, Int


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
@click.option("--fss", is_flag=True, help="Finite-size scaling of events_size over L (the moment "
              "analysis of `dynsim sandpile fss`, analysis/fss.py) with the collapse plot; only L "
              "and the seed may vary.")
@option("--boot", "boot", Int(2, 10**4), default=100, help="--fss: bootstrap replicates.")
@option("--q-min", "q_min", Float(0.0, 10.0), default=1.0, help="--fss: smallest fitted q.")
@option("--q-max", "q_max", Float(0.0, 10.0), default=3.0, help="--fss: largest fitted q.")
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
    from dynsim.sweep_report import summarise, sweep_fss, varying

    check_outputs(None, False, plot)
    rows = read_index(folder)
    if show_failed:
        bad = [r for r in rows if r["status"] not in ("ok", "diverged")]  # failed, interrupted
        emit(as_json, bad, "\n".join(f"{r['id']}  {r['params']}  seed={r['seed']}  {r['error']}"
                                     for r in bad) or "no failed runs")
        return
    groups = summarise(rows)
    if not groups:
        raise ValueError(f"sweep {str(folder)!r} has no runs indexed yet")
    known = sorted({n for g in groups for n in g["measures"]})
    if not known:
        status = {}
        for r in rows:
            status[r["status"]] = status.get(r["status"], 0) + 1
        raise ValueError(f"sweep {str(folder)!r} has no ok run with measures (" +
                         ", ".join(f"{n} {s}" for s, n in sorted(status.items())) +
                         f"); errors: dynsim sweep report {folder} --failed")
    bad = [m for m in measures if m not in known]
    if bad:
        raise ValueError(f"--measure {bad[0]!r} is not a measure of this sweep; known: "
                         f"{', '.join(known)}")
    if measures:
        for g in groups:
            g["measures"] = {k: v for k, v in g["measures"].items() if k in measures}
    vary = varying(groups)
    params = sorted({k for g in groups for k in g["params"]})
    x = x or (max(vary, key=lambda k: len({str(g["params"].get(k)) for g in groups}))
              if vary else None)
    if x is not None and x not in params:
        raise ValueError(f"--x {x!r} is not a parameter of this sweep; parameters: "
                         f"{', '.join(params)}")
    payload = {"folder": folder, "x": x, "groups": groups}
    lines = []
    for g in groups:
        others = "".join(f"; {n} {status}" for status, n in sorted(g["not_ok"].items()))
        lines.append("  ".join(f"{k}={g['params'].get(k)}" for k in vary or params) +
                     f"  ({g['seeds']} seeds ok{others})")
        for name, (mean, se, n) in g["measures"].items():
            lines.append(f"    {name:<24} {mean:12.6g} ± {se:.2g}")
    if fss:
        from dynsim.analysis.fss import collapse
        from dynsim.plots.sandpile import plot_fss

        res, samples = sweep_fss(folder, rows, q_min=q_min, q_max=q_max, boot=boot)
        payload["fss"] = res
        lines.append(f"finite-size scaling over L = {', '.join(map(str, sorted(samples)))}: {res}")
        lines.append(f"moment analysis, q in [{q_min:g}, {q_max:g}], {boot} bootstrap replicates")
        if plot is not None:
            emit(as_json, payload, "\n".join(lines))
            save_figure(plot_fss(res, collapse(samples, res.tau, res.D)), plot)
            return
    emit(as_json, payload, "\n".join(lines))
    if plot is not None:
        from dynsim.plots.sweep import plot_sweep

        save_figure(plot_sweep(groups, x, list(measures) or None), plot)
