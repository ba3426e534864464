"""``dynsim analyze``: measures of a run folder, or a power-law analysis of a plain array."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from dynsim.cli.base import DynsimCommand, check_outputs, emit, measures_table, progress_bar, save_figure
from dynsim.params import Float, Int, Seed, option

EVENT_CHANNELS = ("events_size", "events_duration", "events_area", "update_sample")


def load_input(source: Path, channel: str | None):
    """(trace or None, samples or None, label) from a run folder or a .npy / .csv / .txt file."""
    from dynsim.trace import load_run

    if source.is_dir():
        trace = load_run(source)
        if channel is None:
            return trace, None, str(source)
        if channel not in trace.channels:
            raise ValueError(f"run {str(source)!r} has no channel {channel!r}; it has: "
                             f"{', '.join(sorted(trace.channels))}")
        return trace, np.asarray(trace[channel]).ravel(), f"{source}:{channel}"
    if not source.is_file():
        raise ValueError(f"{str(source)!r} is neither a run folder nor a file")
    suffix = source.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(source, allow_pickle=False)
        elif suffix in (".csv", ".txt"):
            arr = np.loadtxt(source, delimiter="," if suffix == ".csv" else None, ndmin=1)
        else:
            raise ValueError(f"{str(source)!r}: expected a run folder, .npy, .csv or .txt file")
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read samples from {str(source)!r}: {err}") from None
    if arr.ndim > 1 and min(arr.shape) != 1:
        raise ValueError(f"{str(source)!r} holds a {arr.shape} array; give one column of samples")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{str(source)!r} holds {arr.dtype} values, not numbers")
    return None, arr.ravel(), str(source)


@click.command(cls=DynsimCommand)
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--channel", default=None, help="Analyse this channel of a run in detail.")
@click.option("--discrete/--continuous", "discrete", default=None,
              help="Treat samples as integers or reals [default: from the dtype].")
@option("--xmin", "xmin", Float(0.0, None, lo_open=True), default=None, show_default=False,
        help="Fix xmin [default: chosen by the KS distance].")
@option("--xmax", "xmax", Float(0.0, None, lo_open=True), default=None, show_default=False,
        help="Fit on the window [xmin, xmax], renormalised.")
@option("--boot", "boot", Int(0, 100_000), default=200,
        help="Bootstrap replicates for the goodness-of-fit p-value (0 skips it).")
@option("--seed", "seed", Seed(), default=0, help="Seed of the bootstrap.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, not a table.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the figure (.png, .pdf or .svg).")
def analyze(source, channel, discrete, xmin, xmax, boot, seed, as_json, plot):
    """Measure a run folder, or fit a power law to samples (.npy / .csv / a run's --channel).

    Power laws: exact MLE with xmin chosen by KS (Clauset, Shalizi & Newman 2009), a bootstrap
    p-value (small p rules the power law out), likelihood-ratio tests against exponential,
    stretched exponential, lognormal and the power law with cutoff, and a verdict.
    """
    from dynsim.analysis import measure
    from dynsim.analysis.powerlaw import analyze_power_law

    check_outputs(None, False, plot)
    trace, samples, label = load_input(source, channel)
    if samples is None:  # a whole run: every measure its channels allow
        if xmin is not None or xmax is not None or discrete is not None:
            raise ValueError("--xmin, --xmax and --discrete apply to one channel: add --channel")
        with progress_bar("measuring"):
            m = measure(trace, boot=boot)
        if plot is not None:
            present = [c for c in EVENT_CHANNELS if c in trace.channels]
            if not present:
                raise ValueError(f"--plot on a whole run needs an event channel "
                                 f"({', '.join(EVENT_CHANNELS)}); use the command that made the run")
            _plot(trace[present[0]], m[_measure_name(present[0])].fit, plot, f"{label}:{present[0]}")
        emit(as_json, {"source": label, **m.to_dict()},
             f"{trace.system}  seed={trace.seed}  {label}\n{measures_table(m)}")
        return
    with progress_bar("bootstrap") as progress:
        result = analyze_power_law(samples, discrete=discrete, xmin=xmin, xmax=xmax, boot=boot,
                                   seed=seed, progress=progress)
    if plot is not None:
        _plot(samples, result.fit, plot, label)
    emit(as_json, {"source": label, "fit": result.fit, "gof": result.gof,
                   "comparisons": result.comparisons, "decades": result.decades,
                   "verdict": result.verdict, "reasons": result.reasons},
         f"{label}  ({samples.size} samples)\n{result}")


def _measure_name(channel: str) -> str:
    return {"events_size": "size_exponent", "events_duration": "duration_exponent",
            "events_area": "area_exponent"}.get(channel, channel)


def _plot(samples, fit, path, label):
    from dynsim.plots.powerlaw import plot_power_law

    save_figure(plot_power_law(samples, fit, title=label), path)
