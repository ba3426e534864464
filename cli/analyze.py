"""``dynsim analyze``: measures of a run folder, or an analysis of a plain array (a power-law fit of
samples; the correlation dimension and Rosenstein's largest Lyapunov exponent of a point cloud or
of a delay-embedded scalar series)."""

from __future__ import annotations

import math
from pathlib import Path

import click
import numpy as np
from click.core import ParameterSource

from dynsim.cli.base import (DynsimCommand, check_outputs, emit, measures_table, progress_bar,
                             save_figure)
from dynsim.cli.base import option
from dynsim.params import Float, Int, Seed

EVENT_CHANNELS = ("events_size", "events_duration", "events_area", "update_sample")
POWER_LAW_MEASURES = {"events_size": "size_exponent", "events_duration": "duration_exponent",
                      "events_area": "area_exponent"}
MEASURES = ("powerlaw", "dimension", "lyapunov")
ROSENSTEIN_FIT = None  # None: chosen from the divergence curve (largest_lyapunov_rosenstein)


def load_input(source: Path, channel: str | None):
    """(trace or None, array or None, label) from a run folder (its ``channel``, shape kept) or a
    .npy / .csv / .txt file."""
    from dynsim.trace import load_run

    if source.is_dir():
        trace = load_run(source)
        if channel is None:
            return trace, None, str(source)
        if channel not in trace.channels:
            raise ValueError(f"run {str(source)!r} has no channel {channel!r}; it has: "
                             f"{', '.join(sorted(trace.channels))}")
        return trace, np.asarray(trace[channel]), f"{source}:{channel}"
    if channel is not None:
        raise ValueError(f"--channel applies to a run folder; {str(source)!r} is not one")
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
        raise ValueError(f"cannot read {str(source)!r}: {' '.join(str(err).split())}") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{str(source)!r} holds {arr.dtype} values, not numbers")
    if suffix in (".csv", ".txt"):
        arr = integral_as_int(arr)
    return None, arr, str(source)


def integral_as_int(arr: np.ndarray) -> np.ndarray:
    """A text file's floats as int64 when every value is finite and integral (np.loadtxt reads
    "3" as 3.0, which would otherwise be fitted as continuous)."""
    if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) \
            and np.all(arr == np.round(arr)) and np.all(np.abs(arr) < 2.0**53):
        return arr.astype(np.int64)
    return arr


def _discrete_rule(arr: np.ndarray, discrete) -> str:
    """Which kind of fit, and why (printed with the result)."""
    if discrete is not None:
        return f"{'discrete' if discrete else 'continuous'} (given: " \
               f"--{'discrete' if discrete else 'continuous'})"
    if arr.dtype.kind in "iu":
        return ("discrete (integer values; --continuous overrides)")
    return "continuous (non-integer values or a float array; --discrete overrides)"


API_FLAGS = {"`xmin`": "--xmin", "`xmax`": "--xmax", "`discrete=True`": "--discrete",
             "`x`": "the samples"}


def _flag_names(err: ValueError) -> ValueError:
    """The analyzer's error with its API names replaced by the CLI's flags."""
    msg = str(err)
    for api, flag in API_FLAGS.items():
        msg = msg.replace(api, flag)
    return ValueError(msg)


def _one_column(arr: np.ndarray) -> bool:
    return arr.ndim <= 1 or (arr.ndim == 2 and min(arr.shape) == 1)


def _names(flags) -> str:
    """'--a apply' / '--a, --b apply' with the verb agreeing."""
    return f"{', '.join(flags)} {'applies' if len(flags) == 1 else 'apply'}"


def _given(ctx, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT,
                                                 ParameterSource.DEFAULT_MAP)


HELP = """Measure a run folder, or analyse a plain array (.npy / .csv / .txt, or
a run's --channel).

\b
RUN FOLDER: every measure its channels allow, each with its uncertainty;
  power-law rows (xmin, n_tail, alpha ± SE, bootstrap p and its direction,
  likelihood-ratio tests, verdict), Lyapunov exponents (QR on `jacobian`),
  Kaplan-Yorke and the correlation dimension (of `proj`) get a details
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
@option("--lyap-fit", "lyap_fit", Int(0, None), nargs=2, default=None, show_default=False,
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
def analyze(ctx, source, channel, measures, embed, delay, dim, max_dim, theiler, lyap_fit, dt,
            discrete, xmin, xmax, boot, seed, whole_run, as_json, plot):
    check_outputs(None, False, plot)
    attractor_opts = {"--embed": embed, "--delay": delay is not None, "--dim": dim is not None,
                      "--max-dim": max_dim is not None, "--theiler": theiler is not None,
                      "--lyap-fit": lyap_fit is not None, "--dt": dt is not None}
    powerlaw_opts = {"--xmin": xmin is not None, "--xmax": xmax is not None,
                     "--discrete/--continuous": discrete is not None, "--boot": _given(ctx, "boot")}
    if len(set(measures)) != len(measures):
        raise ValueError(f"--measure repeats a value: {', '.join(measures)}")
    if "powerlaw" in measures and len(measures) > 1:
        raise ValueError("--measure powerlaw cannot be combined with dimension or lyapunov")
    trace, arr, label = load_input(source, channel)

    if arr is None:  # a whole run: every measure its channels allow
        given = [k for k, v in {**attractor_opts, "--measure": bool(measures)}.items() if v]
        if given or xmin is not None or xmax is not None or discrete is not None:
            extra = given + [k for k in ("--xmin", "--xmax", "--discrete/--continuous")
                             if powerlaw_opts[k]]
            raise ValueError(f"{_names(extra)} to an array: add --channel (a whole run "
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
        elif _one_column(arr) or arr.ndim > 2 or (trace is not None and channel in EVENT_CHANNELS):
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
        if trace is None and not _one_column(arr):
            raise ValueError(f"{label!r} holds a {arr.shape} array; the power-law fit takes one "
                             f"column of samples")
        _analyze_samples(np.ravel(arr), label, discrete, xmin, xmax, boot, seed, as_json, plot)
        return

    bad = [k for k, v in powerlaw_opts.items() if v]
    if bad:
        raise ValueError(f"{_names(bad)} to --measure powerlaw, not to "
                         f"{' and '.join(measures)}")
    if "lyapunov" not in measures:
        bad = [k for k in ("--lyap-fit", "--dt") if attractor_opts[k]]
        if bad:
            raise ValueError(f"{_names(bad)} to --measure lyapunov")
    if max_dim is not None and dim is not None:
        raise ValueError("--max-dim bounds the search by false nearest neighbours; it does not "
                         "apply with --dim given")
    if max_dim is not None and not embed:
        raise ValueError("--max-dim applies to a delay embedding: add --embed")
    if arr.ndim > 2:
        raise ValueError(f"{label!r} holds a {arr.shape} array; give a point cloud (N x dim, "
                         f"points as rows) or one column (a series, with --embed)")
    if embed and not _one_column(arr):
        raise ValueError(f"--embed takes a scalar series (one column); {label!r} is a "
                         f"{arr.shape[0]} x {arr.shape[1]} point cloud: drop --embed")
    if not embed and arr.ndim == 2 and 1 < arr.shape[0] < arr.shape[1]:
        raise ValueError(f"{label!r} holds a {arr.shape} array: fewer points (rows) than "
                         f"coordinates (columns); points are rows, so transpose it")
    _analyze_attractor(arr, label, measures, embed, delay, dim, max_dim, theiler, lyap_fit, dt,
                       seed, as_json, plot)


# ---------------------------------------------------------------------------------------------
# run folders


def _analyze_run(trace, label, boot, as_json, plot, stationary_only=True):
    from dynsim.analysis import measure

    with progress_bar("measuring"):
        m = measure(trace, boot=boot, stationary_only=stationary_only)
    spectrum = _spectrum_of(trace, m)
    if plot is not None:
        _plot_run(trace, m, spectrum, plot, label, stationary_only)
    details = _details(m, spectrum)
    emit(as_json, {"source": label, **m.to_dict()},
         f"{trace.system}  seed={trace.seed}  {label}\n{measures_table(m)}"
         + (f"\n\n{details}" if details else ""))


def _spectrum_of(trace, m):
    """The LyapunovSpectrum behind the ``lyapunov_<i>`` rows (recomputed with the transient, blocks
    and dt they record: measure() keeps only the split estimates, not the running averages)."""
    if "lyapunov_1" not in m or "jacobian" not in trace.channels:
        return None
    from dynsim.analysis.lyapunov import lyapunov_spectrum

    first = m["lyapunov_1"]
    d = first.data
    n_exp = sum(1 for name in m if name.startswith("lyapunov_") and name[9:].isdigit())
    refs = [m[f"lyapunov_{i + 1}"].reference for i in range(n_exp)]
    spec = lyapunov_spectrum(trace["jacobian"], dt=d.get("dt", 1.0),
                             transient=d.get("transient", 0), blocks=d.get("blocks", 20),
                             reference=None if any(r is None for r in refs) else refs,
                             reference_source=first.reference_source)
    return spec if math.isclose(spec.exponents[0], first.value, rel_tol=1e-9, abs_tol=1e-12) \
        else None


def _plot_run(trace, m, spectrum, path, label, stationary_only=True):
    """The power-law figure of the first event channel with a fit (over the data it was fitted
    to: the stationary part unless --whole-run); a streamed sandpile's figure; else the attractor
    figure."""
    for ch in EVENT_CHANNELS:
        name = POWER_LAW_MEASURES.get(ch)
        if ch in trace.channels and name in m and hasattr(m[name], "fit"):
            from dynsim.plots.powerlaw import plot_power_law

            data = trace.stationary(ch) if stationary_only else trace[ch]
            save_figure(plot_power_law(data, m[name].fit, title=f"{label}:{ch}"), path)
            return
    if "events_size_hist" in trace.channels and trace.system.startswith("sandpile."):
        from dynsim.plots.sandpile import plot_sandpile

        save_figure(plot_sandpile(trace, m), path)
        return
    from dynsim.analysis.dimension import DimensionEstimate

    dim_est = m.get("correlation_dimension")
    if not isinstance(dim_est, DimensionEstimate):
        dim_est = None
    if dim_est is None and spectrum is None:
        hint = ("; plot update_sample with --channel update_sample --plot"
                if "update_sample" in trace.channels else "")
        raise ValueError("--plot on a whole run needs a power-law fit of an event channel "
                         "(events_size, events_duration, events_area), a correlation dimension "
                         f"(proj) or Lyapunov exponents (jacobian); this run has none of them"
                         f"{hint}")
    from dynsim.plots.dimension import plot_attractor

    time_unit = "time" if spectrum is not None and spectrum.dt != 1.0 else "step"
    save_figure(plot_attractor(dimension=dim_est, spectrum=spectrum,
                               title=f"{trace.system}  seed={trace.seed}  {label}",
                               time_unit=time_unit), path)


# ---------------------------------------------------------------------------------------------
# details printed under the table


def _z_text(r) -> str:
    if r.reference is None:
        return ""
    z = r.z
    unit = "(SE + spread)" if hasattr(r, "spread") else "SE"
    src = f" ({r.reference_source})" if r.reference_source else ""
    if not math.isfinite(z):
        return f"reference {r.reference:.6g}{src}"
    verdict = "agrees" if abs(z) <= 3 else "DISAGREES"
    return f"reference {r.reference:.6g}{src}: z = {z:+.2f} {unit}, {verdict} within 3"


def _dimension_details(name, r) -> list[str]:
    d = r.data
    a, b = d["window"]
    decades = math.log10(r.r_range[1] / r.r_range[0]) if r.r_range[0] > 0 else math.nan
    lines = [f"{name}: {r.value:.4f} ± {r.stderr:.2g} (= {r.fit_stderr:.2g} fit SE + "
             f"{r.spread:.2g} SD of local slopes; the 95% CI uses the sum)",
             f"  scaling region r in [{r.r_range[0]:.3g}, {r.r_range[1]:.3g}] ({decades:.2f} "
             f"decades, radii {a + 1}-{b + 1} of {len(d['radii'])}); {r.n_pairs:,} pairs of "
             f"{r.n_points:,} points" + (f" ({d['reference_points']:,} reference points)"
                                         if d.get("reference_points", r.n_points) < r.n_points
                                         else "") + f"; Theiler window {r.theiler}",
             f"  window rule: {d['rule']}"]
    z = _z_text(r)
    if z:
        lines.append(f"  {z}")
    return lines


def _rosenstein_details(name, r) -> list[str]:
    d = r.data
    k0, k1 = d["fit_range"]
    per = " per unit time" if d.get("dt", 1.0) != 1.0 else " per sample"
    emb = "" if d.get("dim") is None else f"embedding dim {d['dim']}, delay {d['delay']}; "
    lines = [f"{name}: {r.value:.4f} ± {r.stderr:.2g}{per} (SE from {d['blocks']} blocks of "
             f"reference points)",
             f"  {emb}slope of the mean log divergence over k in [{k0}, {k1}), dt = "
             f"{d.get('dt', 1.0):g}; {r.n:,} neighbour pairs ({d['dropped_pairs']} dropped), "
             f"Theiler window {d['theiler']}"]
    if d.get("fit_rule"):
        lines.append(f"  fit range rule: {d['fit_rule']}")
    y = np.asarray(d["divergence"], dtype=float)[k0:k1]
    with np.errstate(invalid="ignore"):
        local = np.diff(y) / d.get("dt", 1.0)
    local = local[np.isfinite(local)]
    if local.size >= 2:
        lines.append(f"  local slopes of the divergence in the fit range: {local.min():.4g} .. "
                     f"{local.max():.4g} (SD {local.std(ddof=1):.2g}; the SE above does not "
                     f"include this): a straight curve (--plot) is the check; refit with "
                     f"--lyap-fit")
    z = _z_text(r)
    if z:
        lines.append(f"  {z}")
    return lines


def _power_law_details(name, r) -> list[str]:
    """A PowerLawAnalysis row: the fit, the bootstrap p with its direction, each likelihood-ratio
    test, the verdict and its reasons, the notes."""
    f = r.fit
    if not f.ok:
        return [f"{name}: no fit ({f.reason})"]
    hi = "inf" if f.xmax is None else f"{f.xmax:g}"
    lines = [f"{name}: alpha = {f.alpha:.4f} ± {f.stderr:.2g} ({f.method})",
             f"  xmin = {f.xmin:g} ({'given' if f.xmin_given else f.candidates_rule}), "
             f"window [xmin, {hi}]" + (f" ({f.xmax_rule})" if f.xmax_rule else "")
             + f"; n_tail = {f.n_tail:,} of {f.n_total:,}; tail spans {r.decades:.2f} decades; "
               f"KS = {f.ks:.4f}" + (f"; {f.n_nonpositive} values <= 0 left out"
                                     if f.n_nonpositive else "")]
    if r.gof is not None:
        g = r.gof
        lines.append(f"  bootstrap: p = {g.p:.3f} ± {g.p_stderr:.3f} ({g.n_boot} replicates"
                     + (f", {g.n_failed} failed refits counted as KS >= observed" if g.n_failed
                        else "") + f"); {g.direction}")
    for c in r.comparisons.values():
        lines.append(f"  LR vs {c.alternative}: R = {c.R:+.3f}, p = {c.p:.3g}, favours {c.favours} "
                     f"({c.test})")
    lines.append(f"  verdict: {r.verdict}" + (f" ({'; '.join(r.reasons)})" if r.reasons else ""))
    lines += [f"  note: {n}" for n in r.notes]
    return lines


def _binned_details(name, f) -> list[str]:
    """A PowerLawFit row (binned MLE): what was fitted, and that no tests were run."""
    if not f.ok:
        return [f"{name}: no fit ({f.reason})"]
    lines = [f"{name}: alpha = {f.alpha:.4f} ± {f.stderr:.2g} ({f.method})",
             f"  bmin = {f.xmin:g} ({f.candidates_rule}), window [bmin, {f.xmax:g}]"
             + (f" ({f.xmax_rule})" if f.xmax_rule else "")
             + f"; n_tail = {f.n_tail:,} of {f.n_total:,}; KS (binned CDF) = {f.ks:.4f}",
             "  no bootstrap or likelihood-ratio tests on binned data"]
    if f.caveat:
        lines.append(f"  note: {f.caveat}")
    return lines


def _details(results, spectrum=None) -> str:
    """Lines under the table for the attractor measures: what its one SE column can't say."""
    from dynsim.analysis.dimension import DimensionEstimate
    from dynsim.analysis.powerlaw import PowerLawAnalysis, PowerLawFit

    lines = []
    for name, r in results.items():
        if isinstance(r, PowerLawAnalysis):
            lines += _power_law_details(name, r)
        elif isinstance(r, PowerLawFit):
            lines += _binned_details(name, r)
        elif isinstance(r, DimensionEstimate):
            lines += _dimension_details(name, r)
        elif str(getattr(r, "method", "")).startswith("Rosenstein"):
            lines += _rosenstein_details(name, r)
    lyap = [n for n in results if n.startswith("lyapunov_") and n[9:].isdigit()]
    if lyap:
        d = results[lyap[0]].data
        per = "per unit time" if d.get("dt", 1.0) != 1.0 else "per step"
        names = "lyapunov_1" if len(lyap) == 1 else f"lyapunov_1..{len(lyap)}"
        lines.append(f"{names} ({per}): QR (Benettin) over "
                     f"{results[lyap[0]].n:,} steps after a {d.get('transient', 0)}-step "
                     f"transient; SE from {d.get('blocks')} blocks")
        if spectrum is not None and spectrum.d > 1:
            tot = spectrum.total()
            lines.append(f"  sum of exponents {tot.value:.6g} ± {tot.stderr:.2g} (the mean of "
                         f"ln|det J|{' / dt' if spectrum.dt != 1.0 else ''}: volume contraction)")
        for n in lyap + (["kaplan_yorke"] if "kaplan_yorke" in results else []):
            z = _z_text(results[n])
            if z:
                lines.append(f"  {n}: {z}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# arrays: power law, dimension, Rosenstein


def _analyze_samples(samples, label, discrete, xmin, xmax, boot, seed, as_json, plot):
    from dynsim.analysis.powerlaw import analyze_power_law

    kind = _discrete_rule(samples, discrete)
    with progress_bar("bootstrap") as progress:
        try:
            result = analyze_power_law(samples, discrete=discrete, xmin=xmin, xmax=xmax,
                                       boot=boot, seed=seed, progress=progress)
        except ValueError as err:
            raise _flag_names(err) from None
    if plot is not None:
        from dynsim.plots.powerlaw import plot_power_law

        save_figure(plot_power_law(samples, result.fit, title=label), plot)
    scan = result.fit.scan
    candidates = {k: scan[k] for k in ("xmin", "alpha", "ks", "n_tail", "stderr") if k in scan}
    f = result.fit
    dropped = f"; {f.n_nonpositive} values <= 0 left out" if f.n_nonpositive else ""
    emit(as_json, {"source": label, "measure": "powerlaw", "samples": kind, "fit": result.fit,
                   "candidates": {"rule": f.candidates_rule, **candidates}, "gof": result.gof,
                   "comparisons": result.comparisons, "decades": result.decades,
                   "verdict": result.verdict, "reasons": result.reasons, "notes": result.notes},
         f"{label}  ({samples.size} samples{dropped})\nsamples  : {kind}\n{result}")


def _embedding(series, delay, dim, max_dim, theiler):
    """Delay and dimension, given or chosen by the rules of dynsim.analysis.embedding."""
    from dynsim.analysis.embedding import choose_delay, false_nearest_neighbours

    info = {}
    if delay is None:
        choice = choose_delay(series)
        delay = choice.delay
        info["delay_choice"] = choice
        info["delay_rule"] = choice.rule
    else:
        info["delay_rule"] = "given (--delay)"
    if theiler is None:
        theiler = delay
        info["theiler_rule"] = "the embedding delay (default)"
    else:
        info["theiler_rule"] = "given (--theiler)"
    if dim is None:
        fnn = false_nearest_neighbours(series, delay, max_dim=10 if max_dim is None else max_dim,
                                       theiler=theiler)
        dim = fnn.dim
        info["dim_choice"] = fnn
        info["dim_rule"] = fnn.rule
    else:
        info["dim_rule"] = "given (--dim)"
    info.update(delay=delay, dim=dim, theiler=theiler)
    return info


def _check_theiler(theiler, n, what):
    if theiler is not None and n >= 4 and theiler > n // 2 - 1:
        raise ValueError(f"--theiler {theiler} is too large for {n} {what} (at most {n // 2 - 1})")


def _analyze_attractor(arr, label, measures, embed, delay, dim, max_dim, theiler, lyap_fit, dt,
                       seed, as_json, plot):
    from dynsim.analysis.dimension import (correlation_dimension, delay_embed,
                                           largest_lyapunov_rosenstein)

    arr = np.asarray(arr, dtype=float)
    if embed:
        series = arr.ravel()
        if series.size < 20 or not np.all(np.isfinite(series)):
            raise ValueError(f"{label!r}: a series to embed needs >= 20 finite values, got "
                             f"{series.size}" + ("" if np.all(np.isfinite(series)) else
                                                 " with NaN or inf among them"))
        _check_theiler(theiler, series.size, "values")
        emb = _embedding(series, delay, dim, max_dim, theiler)
        points = delay_embed(series, emb["dim"], emb["delay"])
        kind = (f"a series of {series.size} values, delay-embedded\n"
                f"  delay {emb['delay']}: {emb['delay_rule']}\n"
                f"  dim {emb['dim']}: {emb['dim_rule']}")
        if "dim_choice" in emb:
            frac = emb["dim_choice"].fnn_fraction
            fr = ", ".join(f"{v:.3g}" for v in frac)
            kind += f" (false-neighbour fractions, dim 1..{len(frac)}: {fr})"
        kind += (f"\n  -> {points.shape[0]} points in {points.shape[1]} dimensions; Theiler "
                 f"window {emb['theiler']}: {emb['theiler_rule']}")
        theiler = emb["theiler"]
    else:
        points = arr[:, None] if arr.ndim == 1 else (arr.T if arr.shape[0] == 1 else arr)
        theiler = 0 if theiler is None else theiler
        emb = None
        kind = (f"{points.shape[0]} points in {points.shape[1]} dimension"
                f"{'s' if points.shape[1] > 1 else ''} (rows as points); Theiler window {theiler}")
    _check_theiler(theiler, points.shape[0], "points")
    results = {}
    if "dimension" in measures:
        results["correlation_dimension"] = correlation_dimension(points, theiler=theiler,
                                                                 seed=seed)
    if "lyapunov" in measures:
        fit = ROSENSTEIN_FIT if lyap_fit is None else tuple(lyap_fit)
        kw = dict(theiler=theiler, fit_range=fit, dt=1.0 if dt is None else dt)
        if embed:
            results["lyapunov_rosenstein"] = largest_lyapunov_rosenstein(
                series, dim=emb["dim"], delay=emb["delay"], **kw)
        else:
            results["lyapunov_rosenstein"] = largest_lyapunov_rosenstein(points, **kw)
    if plot is not None:
        from dynsim.plots.dimension import plot_attractor

        save_figure(plot_attractor(dimension=results.get("correlation_dimension"),
                                   rosenstein=results.get("lyapunov_rosenstein"),
                                   title=label), plot)
    payload = {"source": label, "measure": list(measures), "shape": list(arr.shape),
               "points": list(points.shape), "theiler": theiler, "embedding": None,
               "measures": results}
    if emb is not None:
        payload["embedding"] = dict(emb)
    emit(as_json, payload, f"{label}: {kind}\n{measures_table(results)}\n\n{_details(results)}")
