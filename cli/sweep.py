"""``dynsim sweep``: grids of runs of any registered system, and their report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dynsim.cli.base import DynsimGroup, check_outputs, emit, progress_bar, quiet, save_figure
from dynsim.params import Int, option


@click.group(cls=DynsimGroup)
def sweep():
    """Run a grid of runs (local pool or Dask) and report measures across it."""


@sweep.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Sweep folder: runs/<id>/ and index.sqlite (resumed if it exists); required "
                   "unless --dry-run.")
@option("--workers", "workers", Int(1, 256), default=1,
        help="Local worker processes (spawn; one thread each).")
@click.option("--scheduler", default=None, help="Address of a Dask scheduler (tcp://host:8786).")
@click.option("--dry-run", is_flag=True, help="Print the runs it would make, run nothing.")
def run_cmd(file, out, workers, scheduler, dry_run):
    """Expand FILE (TOML: system, [fixed], [grid], seeds) and run every configuration.

    Finished runs are skipped on a rerun; failed or interrupted ones run again.  Exits with code 1
    and a one-line summary when any run failed (its error is in the index).
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
    with progress_bar("runs") as bar:
        def progress(ok, failed, left):
            if bar is not None:
                bar(ok + failed, ok + failed + left)
        counts = run_sweep(file, out, workers=workers, scheduler=scheduler, progress=progress)
    line = (f"sweep {out}: {counts['runs']} runs, {counts['skipped']} already done, "
            f"{counts['ok']} ran, {counts['failed']} failed")
    if counts["failed"]:
        click.echo(line + " (errors: dynsim sweep report --failed)", err=True)
        sys.exit(1)
    if not quiet():
        click.echo(line, err=True)


@sweep.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--x", "x", default=None, help="Parameter on the x axis [default: the grid axis "
              "with most values].")
@click.option("--fss", is_flag=True, help="Finite-size scaling of events_size over L "
              "(analysis/fss.py moment analysis) with the collapse plot.")
@click.option("--measure", "measures", multiple=True,
              help="Measure to show (repeat the option) [default: all in the table, the first 6 "
                   "in the figure].")
@click.option("--failed", "show_failed", is_flag=True, help="List failed runs and their errors.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, not a table.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the figure (.png, .pdf or .svg).")
def report(folder, x, fss, measures, show_failed, as_json, plot):
    """Measures across the grid, mean ± SE over seeds; a figure against one parameter."""
    from dynsim.sweep import read_index, summarise

    check_outputs(None, False, plot)
    rows = read_index(folder)
    if show_failed:
        bad = [r for r in rows if r["status"] == "failed"]
        emit(as_json, bad, "\n".join(f"{r['id']}  {r['params']}  seed={r['seed']}  {r['error']}"
                                     for r in bad) or "no failed runs")
        return
    groups = summarise(rows)
    if not groups:
        raise ValueError(f"sweep {str(folder)!r} has no finished runs yet")
    known = sorted({n for g in groups for n in g["measures"]})
    bad = [m for m in measures if m not in known]
    if bad:
        raise ValueError(f"--measure {bad[0]!r} is not a measure of this sweep; known: "
                         f"{', '.join(known)}")
    if measures:
        for g in groups:
            g["measures"] = {k: v for k, v in g["measures"].items() if k in measures}
    varying = [k for k in groups[0]["params"] if len({str(g["params"][k]) for g in groups}) > 1]
    x = x or (max(varying, key=lambda k: len({str(g["params"][k]) for g in groups}))
              if varying else None)
    if x is not None and x not in groups[0]["params"]:
        raise ValueError(f"--x {x!r} is not a parameter of this sweep; parameters: "
                         f"{', '.join(groups[0]['params'])}")
    payload = {"folder": folder, "x": x, "groups": groups}
    lines = []
    for g in groups:
        others = "".join(f"; {n} {status}" for status, n in g["not_ok"].items())
        lines.append("  ".join(f"{k}={g['params'][k]}" for k in varying or g["params"]) +
                     f"  ({g['seeds']} seeds ok{others})")
        for name, (mean, se, n) in g["measures"].items():
            lines.append(f"    {name:<24} {mean:12.6g} ± {se:.2g}")
    if fss:
        from dynsim.analysis.fss import collapse

        res, samples = _fss(folder, rows)
        payload["fss"] = res
        lines.append(f"finite-size scaling: {res}")
        if plot is not None:
            from dynsim.plots.powerlaw import plot_collapse

            save_figure(plot_collapse(collapse(samples, res.tau, res.D), res.tau, res.D), plot)
            plot = None
    emit(as_json, payload, "\n".join(lines))
    if plot is not None:
        from dynsim.plots.sweep import plot_sweep

        save_figure(plot_sweep(groups, x, list(measures) or None), plot)


def _fss(folder, rows):
    import numpy as np

    from dynsim.analysis.fss import moment_analysis
    from dynsim.trace import load_run

    by_l: dict = {}
    for r in rows:
        if r["status"] != "ok" or "L" not in r["params"]:
            continue
        tr = load_run(Path(folder) / "runs" / r["id"])
        if "events_size" not in tr.channels:
            raise ValueError("--fss needs runs with an events_size channel")
        s = tr.stationary("events_size")
        s = s[s > 0]
        by_l.setdefault(r["params"]["L"], []).append(np.asarray(s))
    if len(by_l) < 3:
        raise ValueError(f"--fss needs runs at >= 3 sizes L, found {sorted(by_l)}")
    samples = {L: np.concatenate(v) for L, v in by_l.items()}
    return moment_analysis(samples, seed=0), samples
