"""``dynsim walk``: random walks in high dimensions (distance, return, pca, peaks, claims)."""

from __future__ import annotations

import click

from dynsim.cli.base import (DynsimGroup, check_outputs, emit, measures_table, output_options,
                             option, progress_bar, run_system, save_figure)
from dynsim.sims.walks.landscape import PEAK_PARAMS
from dynsim.sims.walks.pca import PARAMS as PCA_PARAMS
from dynsim.sims.walks.walk import GAUSSIAN_PARAMS, PARAMS as WALK_PARAMS
from dynsim.studies.claims import PARAMS as CLAIMS_PARAMS
from dynsim.studies.returns import PARAMS as RETURN_PARAMS


def _finish(trace, measures, as_json, out, force, plot, figure):
    """Print the table (or JSON), then write the run folder and the figure."""
    from dynsim.trace import save_run

    header = f"{trace.system}  seed={trace.seed}  " + "  ".join(f"{k}={v}" for k, v in trace.params.items())
    emit(as_json, {"system": trace.system, "params": trace.params, "seed": trace.seed,
                   "out": out, "measures": measures.to_dict()["measures"]},
         header + "\n" + measures_table(measures) + (f"\nrun folder: {out}" if out else ""))
    if out is not None:
        save_run(trace, out, force=force)
    if plot is not None:
        save_figure(figure(trace, measures), plot)


@click.group(cls=DynsimGroup)
def walk():
    """Random walks in high dimensions: distances, returns (Polya), PCA, landscape peaks."""


@walk.command()
@option("--dims", "d", WALK_PARAMS["d"])
@option("--walkers", "walkers", WALK_PARAMS["walkers"])
@option("--steps", "steps", WALK_PARAMS["steps"])
@option("--records", "records", WALK_PARAMS["records"])
@click.option("--gaussian", is_flag=True, help="Gaussian steps N(0, step_std^2 I) instead of the lattice.")
@option("--step-std", "step_std", GAUSSIAN_PARAMS["step_std"],
        help="With --gaussian: step SD per coordinate.")
@output_options
def distance(d, walkers, steps, records, gaussian, step_std, seed, as_json, out, force, plot):
    """Distance from the origin after n steps: mean, median, RMS, per coordinate, L-infinity."""
    from dynsim.analysis import measure
    from dynsim.plots.walks import plot_distance

    check_outputs(out, force, plot)
    if step_std is not None and not gaussian:
        raise ValueError("--step-std applies to --gaussian walks only")
    params = dict(d=d, walkers=walkers, steps=steps, records=records, seed=seed)
    if gaussian:
        trace = run_system("walk.gaussian", "walking", step_std=step_std, **params)
    else:
        trace = run_system("walk.lattice", "walking", **params)
    _finish(trace, measure(trace), as_json, out, force, plot, plot_distance)


@walk.command("return")
@option("--dims", "dims", RETURN_PARAMS["dims"], show_default=RETURN_PARAMS["dims"].default_text())
@option("--walkers", "walkers", RETURN_PARAMS["walkers"])
@option("--steps", "steps", RETURN_PARAMS["steps"])
@output_options
def return_(dims, walkers, steps, seed, as_json, out, force, plot):
    """Polya: the fraction of walkers back at the origin by step n, and p(d) extrapolated.

    For d >= 3 the return probability is extrapolated in n^(-(d-2)/2) with a bootstrap interval
    over walkers, beside the exact p(d) = 1 - 1/u(d); for d <= 2 the integral u(d) diverges, so
    p = 1, shown beside the slowly rising simulated fraction and its exact finite-n value.
    """
    from dynsim.studies.returns import polya_returns
    from dynsim.trace import save_runs

    check_outputs(out, force, plot)
    with progress_bar(f"walking d={','.join(map(str, dims))}") as progress:
        result = polya_returns(dims, walkers, steps, seed=seed, progress=progress)
    folders = f"\nrun folders: {', '.join(f'{out}/d{d:02d}' for d in result.dims)}" if out else ""
    emit(as_json, result.to_dict(), str(result) + folders)
    if out is not None:
        save_runs({f"d{d:02d}": tr for d, tr in result.traces.items()}, out, force=force)
    if plot is not None:
        save_figure(result.figure(), plot)


@walk.command()
@option("--dims", "d", PCA_PARAMS["d"])
@option("--walks", "walks", PCA_PARAMS["walks"])
@option("--steps", "steps", PCA_PARAMS["steps"])
@option("--k", "k", PCA_PARAMS["k"])
@click.option("--gaussian", is_flag=True, help="Gaussian steps instead of the lattice walk.")
@output_options
def pca(d, walks, steps, k, gaussian, seed, as_json, out, force, plot):
    """PCA of walk trajectories: explained variance and the cosine (Lissajous) projections.

    Theory (Antognini & Sohl-Dickstein 2018) holds for steps << d: PC k explains 6/(pi^2 k^2).
    Try `--dims 4000 --steps 100 --gaussian` for that regime, the default for the 10-D walk.
    """
    from dynsim.analysis import measure
    from dynsim.plots.walks import plot_pca

    check_outputs(out, force, plot)
    trace = run_system("walk.pca", "walks", d=d, walks=walks, steps=steps, k=k,
                       lattice=not gaussian, seed=seed)
    _finish(trace, measure(trace), as_json, out, force, plot, plot_pca)


@walk.command()
@option("--dims", "d", PEAK_PARAMS["d"])
@option("--side", "side", PEAK_PARAMS["side"])
@option("--levels", "levels", PEAK_PARAMS["levels"])
@option("--neighbours", "neighbours", PEAK_PARAMS["neighbours"])
@option("--top-only", "top_only", PEAK_PARAMS["top_only"])
@option("--smooth", "smooth", PEAK_PARAMS["smooth"])
@option("--landscapes", "landscapes", PEAK_PARAMS["landscapes"])
@output_options
def peaks(d, side, levels, neighbours, top_only, smooth, landscapes, seed, as_json, out, force, plot):
    """Fraction of strict local maxima ("mountain peaks") of a random landscape on (Z/side)^d."""
    from dynsim.analysis import measure
    from dynsim.plots.walks import plot_peaks

    check_outputs(out, force, plot)
    trace = run_system("walk.peaks", "landscapes", d=d, side=side, levels=levels,
                       neighbours=neighbours, top_only=top_only, smooth=smooth,
                       landscapes=landscapes, seed=seed)
    _finish(trace, measure(trace), as_json, out, force, plot, plot_peaks)


@walk.command()
@option("--seed", "seed", CLAIMS_PARAMS["seed"], default=0, help="Random seed.")
@option("--quick", "quick", CLAIMS_PARAMS["quick"])
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, not a table.")
def claims(seed, quick, as_json):
    """Test ten claims about random walks in high dimensions, each stated with its source: what
    was measured, the verdict (true, false, depends) and when the claim holds."""
    from dynsim.studies.claims import walk_claims

    with progress_bar("claims") as progress:
        result = walk_claims(seed=seed, quick=quick, progress=progress)
    emit(as_json, result.to_dict(), str(result))


__all__ = ["walk"]
