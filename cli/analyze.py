"""``dynsim analyze``: measures of a run folder, or an analysis of a plain array (a power-law fit of
samples; the correlation dimension and Rosenstein's largest Lyapunov exponent of a point cloud or
of a delay-embedded scalar series: :mod:`dynsim.studies.attractor`)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from dynsim.cli.base import (DynsimCommand, given, check_outputs, emit, measures_table, progress_bar,
                             save_figure)
from dynsim.cli.base import option
from dynsim.params import Float, Int, Seed

EVENT_CHANNELS = ("events_size", "events_duration", "events_area", "update_sample")
POWER_LAW_MEASURES = {"events_size": "size_exponent", "events_duration": "duration_exponent",
                      "events_area": "area_exponent"}
MEASURES = ("powerlaw", "dimension", "lyapunov")


def _discrete_rule(arr: np.ndarray, discrete) -> str:
    """Which kind of fit, and why (printed with the result)."""
    if discrete is not None:
        return f"{'discrete' if discrete else 'continuous'} (given: " \
               f"--{'discrete' if discrete else 'continuous'})"
    if arr.dtype.kind in "iu":
        return "discrete (integer values; --continuous overrides)"
    return "continuous (non-integer values or a float array; --discrete overrides)"


def _names(flags) -> str:
    """'--a apply' / '--a, --b apply' with the verb agreeing."""
    return f"{', '.join(flags)} {'applies' if len(flags) == 1 else 'apply'}"


HELP = """Measure a run folder, or analyse a plain array (.npy / .csv / .txt, or
a run's --channel).

\b
RUN FOLDER: every measure its channels allow, each with its uncertainty;
  power-law rows (xmin, n_tail, alpha ± SE, bootstrap p and its direction,
  likelihood-ratio tests, verdict), Lyapunov exponents (QR on `jacobian`),
  Kaplan-Yorke and the correlation dimension (of `trajectory`) get a details
  block under the table.
\b
ARRAY: --measure (repeatable) sets what is measured; by default the shape:
  one column, (N,) or (N, 1)   -> powerlaw: exact MLE, xmin by KS (Clauset,
                                  Shalizi & Newman 2009), bootstrap p-value,
                                  likelihood-ratio tests, a verdict; integer
                                  dtype (or a .csv / .txt of whole numbers)
                                  -> discrete, else continuous (said in the
                                  output; --discrete/--continuous override)
  one column with --embed      -> dimension and lyapunov of the
                                  delay-embedded series
  a point cloud, N x dim >= 2  -> dimension (rows are points; for lyapunov
                                  they must be successive states)
  a run's event channels (events_*, update_sample) -> powerlaw, raveled
\b
  dimension: Grassberger-Procaccia correlation dimension D2 (KD-tree pair
    counts, a Theiler window, the scaling region chosen from the local
    slopes), printed as D2 ± (fit SE + SD of the local slopes), the
    uncertainty its CI and every consumer use, with the two parts beside it.
  lyapunov: Rosenstein's largest exponent (mean log divergence of nearest
    neighbours, slope over samples K0 <= k < K1 of --lyap-fit, or over the
    straight part of the divergence curve chosen by a stated rule, SE from
    blocks of pairs).
\b
  --embed: delay vectors [x_i, x_(i+delay), ...]. The delay is the first
    minimum of the mutual information above its noise floor, else the first
    lag where the autocorrelation falls below 1/e; the dimension is the first
    with < 1% false nearest neighbours (up to --max-dim). --delay / --dim fix
    them (and imply --embed). The Theiler window defaults to the delay (to 0
    for a point cloud).
\b
Examples:
  dynsim analyze runs/henon                   # lyapunov_1, kaplan_yorke, D2
  dynsim analyze runs/henon --plot henon.png  # C(r), slopes, convergence
  dynsim analyze cloud.npy                    # N x dim: correlation dimension
  dynsim analyze x.csv --embed --plot x.png   # series: D2 and Rosenstein
  dynsim analyze x.csv --delay 3 --dim 4 --measure lyapunov --lyap-fit 1 20
  dynsim analyze sizes.npy --boot 500         # power law of samples
"""


@click.command(cls=DynsimCommand, help=HELP)
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--channel", default=None, help="Analyse this channel of a run as an array.")
@click.option("--measure", "measures", type=click.Choice(MEASURES), multiple=True,
              help="What to measure on an array (repeat for several) [default: from its shape "
                   "and --embed, see above].")
@click.option("--embed", is_flag=True,
              help="Treat a one-column array as a scalar series and delay-embed it.")
@option("--delay", "delay", Int(1, None), default=None, show_default=False,
        help="Embedding delay in samples [default: chosen by the stated rule].")
@option("--dim", "dim", Int(1, 50), default=None, show_default=False,
        help="Embedding dimension [default: false nearest neighbours].")
@option("--max-dim", "max_dim", Int(1, 50), default=None, show_default=False,
        help="Largest dimension false nearest neighbours tries [default: 10].")
@option("--theiler", "theiler", Int(0, None), default=None, show_default=False,
        help="Theiler window: pairs closer in time are not counted [default: the delay; 0 for "
             "a point cloud].")
@option("--lyap-fit", "fit_range", Int(0, None), nargs=2, default=None, show_default=False,
        metavar="K0 K1",
        help="Rosenstein: fit the divergence over samples K0 <= k < K1 [default: chosen from "
             "the divergence curve].")
@option("--dt", "dt", Float(0.0, None, lo_open=True), default=None, show_default=False,
        help="Rosenstein: time between samples, for an exponent per unit time [default: 1].")
@click.option("--discrete/--continuous", "discrete", default=None,
              help="Power law: treat samples as integers or reals [default: from the dtype].")
@option("--xmin", "xmin", Float(0.0, None, lo_open=True), default=None, show_default=False,
        help="Power law: fix xmin [default: chosen by the KS distance].")
@option("--xmax", "xmax", Float(0.0, None, lo_open=True), default=None, show_default=False,
        help="Power law: fit on the window [xmin, xmax], renormalised.")
@option("--boot", "boot", Int(0, 100_000), default=200,
        help="Power law: bootstrap replicates for the goodness-of-fit p-value (0 skips it).")
@option("--seed", "seed", Seed(), default=0,
        help="Seed of the bootstrap, and of the reference points of a correlation sum with more "
             "than 1e9 pairs.")
@click.option("--whole-run", is_flag=True,
              help="A run's event measures over the whole run, transient included [default: "
                   "the stationary part only, from meta stationary_from].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, not a table.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the figure (.png, .pdf or .svg): the power-law fit; or C(r) with its "
                   "local slopes and scaling region, Lyapunov convergence / Rosenstein divergence.")
@click.pass_context
def analyze(ctx, source, channel, measures, embed, delay, dim, max_dim, theiler, fit_range, dt,
            discrete, xmin, xmax, boot, seed, whole_run, as_json, plot):
    from dynsim.inputs import load_input, one_column

    check_outputs(None, False, plot)
    attractor_opts = {"--embed": embed, "--delay": delay is not None, "--dim": dim is not None,
                      "--max-dim": max_dim is not None, "--theiler": theiler is not None,
                      "--lyap-fit": fit_range is not None, "--dt": dt is not None}
    powerlaw_opts = {"--xmin": xmin is not None, "--xmax": xmax is not None,
                     "--discrete/--continuous": discrete is not None, "--boot": given(ctx, "boot")}
    if len(set(measures)) != len(measures):
        raise ValueError(f"--measure repeats a value: {', '.join(measures)}")
    if "powerlaw" in measures and len(measures) > 1:
        raise ValueError("--measure powerlaw cannot be combined with dimension or lyapunov")
    trace, arr, label = load_input(source, channel)

    if arr is None:  # a whole run: every measure its channels allow
        flags = [k for k, v in {**attractor_opts, "--measure": bool(measures)}.items() if v]
        flags += [k for k in ("--xmin", "--xmax", "--discrete/--continuous") if powerlaw_opts[k]]
        if flags:
            raise ValueError(f"{_names(flags)} to an array: add --channel (a whole run "
                             f"gets every measure its channels allow)")
        _analyze_run(trace, label, boot, as_json, plot, stationary_only=not whole_run)
        return
    if whole_run:
        raise ValueError("--whole-run applies to a whole run folder, not to one array (use "
                         "--channel with a run, or drop --whole-run)")

    embed = embed or delay is not None or dim is not None
    explicit = bool(measures)
    if not measures:
        if embed:
            measures = ("dimension", "lyapunov")
        elif one_column(arr) or arr.ndim > 2 or (trace is not None and channel in EVENT_CHANNELS):
            measures = ("powerlaw",)
        else:
            measures = ("dimension",)
    if measures == ("powerlaw",):
        bad = [k for k, v in attractor_opts.items() if v]
        if bad:
            hint = "" if explicit else (": this input defaults to the power-law fit; add "
                                        "--embed (a series) or --measure dimension")
            raise ValueError(f"{_names(bad)} to --measure dimension or lyapunov, not to "
                             f"the power-law fit{hint}")
        if trace is None and not one_column(arr):
            raise ValueError(f"{label!r} holds a {arr.shape} array; the power-law fit takes one "
                             f"column of samples")
        _analyze_samples(np.ravel(arr), label, discrete, xmin, xmax, boot, seed, as_json, plot)
        return
    bad = [k for k, v in powerlaw_opts.items() if v]
    if bad:
        raise ValueError(f"{_names(bad)} to --measure powerlaw, not to "
                         f"{' and '.join(measures)}")
    from dynsim.studies.attractor import attractor

    result = attractor(arr, measures=measures, embed=embed, delay=delay, dim=dim, max_dim=max_dim,
                       theiler=theiler, fit_range=fit_range, dt=dt, seed=seed, source=label)
    if plot is not None:
        save_figure(result.figure(), plot)
    emit(as_json, result.to_dict(), str(result))


def _analyze_run(trace, label, boot, as_json, plot, stationary_only=True):
    from dynsim.analysis import measure

    with progress_bar("measuring"):
        m = measure(trace, boot=boot, stationary_only=stationary_only)
    if plot is not None:
        save_figure(_run_figure(trace, m, label, stationary_only), plot)
    details = m.details()
    emit(as_json, {"source": label, **m.to_dict()},
         f"{trace.system}  seed={trace.seed}  {label}\n{measures_table(m)}"
         + (f"\n\n{details}" if details else ""))


def _run_figure(trace, m, label, stationary_only=True):
    """The power-law figure of the first event channel with a fit (over the data it was fitted
    to: the stationary part unless --whole-run); a streamed sandpile's figure; else the attractor
    figure (correlation sum, Lyapunov convergence)."""
    for ch in EVENT_CHANNELS:
        name = POWER_LAW_MEASURES.get(ch)
        if ch in trace.channels and name in m and hasattr(m[name], "fit"):
            from dynsim.plots.powerlaw import plot_power_law

            data = trace.stationary(ch) if stationary_only else trace[ch]
            return plot_power_law(data, m[name].fit, title=f"{label}:{ch}")
    if "events_size_hist" in trace.channels and trace.system.startswith("sandpile."):
        from dynsim.plots.sandpile import plot_sandpile

        return plot_sandpile(trace, m)
    from dynsim.analysis.dimension import DimensionEstimate

    dim_est = m.get("correlation_dimension")
    dim_est = dim_est if isinstance(dim_est, DimensionEstimate) else None
    spectrum = m.spectrum()
    if dim_est is None and spectrum is None:
        hint = ("; plot update_sample with --channel update_sample --plot"
                if "update_sample" in trace.channels else "")
        raise ValueError("--plot on a whole run needs a power-law fit of an event channel "
                         "(events_size, events_duration, events_area), a correlation dimension "
                         f"(trajectory) or Lyapunov exponents (jacobian); this run has none of them"
                         f"{hint}")
    from dynsim.plots.dimension import plot_attractor

    time_unit = "time" if spectrum is not None and spectrum.dt != 1.0 else "step"
    return plot_attractor(dimension=dim_est, spectrum=spectrum, time_unit=time_unit,
                          title=f"{trace.system}  seed={trace.seed}  {label}")


def _analyze_samples(samples, label, discrete, xmin, xmax, boot, seed, as_json, plot):
    from dynsim.analysis.powerlaw import analyze_power_law

    kind = _discrete_rule(samples, discrete)
    with progress_bar("bootstrap") as progress:
        result = analyze_power_law(samples, discrete=discrete, xmin=xmin, xmax=xmax, boot=boot,
                                   seed=seed, progress=progress)
    if plot is not None:
        from dynsim.plots.powerlaw import plot_power_law

        save_figure(plot_power_law(samples, result.fit, title=label), plot)
    f = result.fit
    dropped = f"; {f.n_nonpositive} values <= 0 left out" if f.n_nonpositive else ""
    emit(as_json, {"source": label, "measure": "powerlaw", "samples": kind,
                   "candidates": f.candidates(), **result.to_dict()},
         f"{label}  ({samples.size} samples{dropped})\nsamples  : {kind}\n"
         f"{measures_table({'power_law': result})}\n\n{result.details('power_law')}")
