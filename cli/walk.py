"""``dynsim walk``: random walks in high dimensions (distance, return, pca, peaks, claims)."""

from __future__ import annotations

import click

from dynsim.cli.base import (DynsimGroup, check_outputs, emit, measures_table, output_options,
                             progress_bar, save_figure)
from dynsim.cli.base import option
from dynsim.params import Int
from dynsim.sims.walks.landscape import PEAK_PARAMS
from dynsim.sims.walks.pca import PARAMS as PCA_PARAMS
from dynsim.sims.walks.walk import GAUSSIAN_PARAMS, PARAMS as WALK_PARAMS


class DimsList(click.ParamType):
    """Dimensions as ``3``, ``1-10`` or ``1,2,5``."""

    name = "dims"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        out = []
        try:
            for part in value.split(","):
                lo, dash, hi = part.strip().partition("-")
                if dash and not hi.strip():
                    raise ValueError(part)  # "3-": a range without its upper end
                out.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
        except ValueError:
            self.fail(f"must be a dimension list such as 3, 1-10 or 1,2,5, got {value!r}", param, ctx)
        bad = [d for d in out if not 1 <= d <= 64]
        if not out or bad:
            self.fail(f"must be dimensions in [1, 64], got {value!r}", param, ctx)
        return sorted(set(out))


def _run(name: str, label: str, **params):
    """Run a registered system with a progress bar (the CLI finds systems in the registry)."""
    from dynsim import registry

    with progress_bar(label) as progress:
        return registry.run(name, progress=progress, **params)


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
        trace = _run("walk.gaussian", "walking", step_std=step_std, **params)
    else:
        trace = _run("walk.lattice", "walking", **params)
    _finish(trace, measure(trace), as_json, out, force, plot, plot_distance)


@walk.command("return")
@click.option("--dims", "dims", type=DimsList(), default="1-10", show_default=True,
              help="Dimensions: 3, 1-10 or 1,2,5 (each in [1, 64]).")
@option("--walkers", "walkers", WALK_PARAMS["walkers"], help="Walkers per dimension.")
@option("--steps", "steps", WALK_PARAMS["steps"], default=10000, help="Steps per walker.")
@output_options
def return_(dims, walkers, steps, seed, as_json, out, force, plot):
    """Polya: the fraction of walkers back at the origin by step n, and p(d) extrapolated.

    For d >= 3 the return probability is extrapolated in n^(-(d-2)/2) with a bootstrap interval
    over walkers, beside the exact p(d) = 1 - 1/u(d); for d <= 2 the integral u(d) diverges, so
    p = 1, shown beside the slowly rising simulated fraction and its exact finite-n value.
    """
    from dynsim import registry
    from dynsim.analysis import measure
    from dynsim.analysis.walks import EXACT_MAX_STEPS, expected_visits, polya_return_probability
    from dynsim.plots.walks import plot_returns
    from dynsim.rng import child_seed, make_seed
    from dynsim.trace import save_runs

    check_outputs(out, force, plot)
    seed = make_seed(seed)
    traces, measures = {}, {}
    with progress_bar(f"walking d={','.join(map(str, dims))}") as progress:
        done = [0]

        def per_d(k, total):
            if progress is not None:
                progress(done[0] * walkers + k, walkers * len(dims))

        for d in dims:  # one seed per dimension, derived from (seed, d): dimensions are independent
            traces[d] = registry.run("walk.lattice", d=d, walkers=walkers, steps=steps, records=2,
                                     seed=child_seed(seed, d), progress=per_d)
            traces[d].meta["parent_seed"] = seed  # the --seed that reproduces the whole command
            measures[d] = measure(traces[d], only=["return_fraction", "return_probability"])
            done[0] += 1
    rows = [f"walk.lattice  walkers={walkers}  steps={steps}  seed={seed}",
            f"{'d':>3} {'returned by n':>15} {'exact F(n)':>11} {'p extrapolated [95% CI]':>32} "
            f"{'exact p(d)':>11}"]
    payload = {"system": "walk.lattice", "seed": seed, "walkers": walkers, "steps": steps, "runs": []}
    for d in dims:
        f = measures[d]["return_fraction"]
        p = measures[d].get("return_probability")
        exact = polya_return_probability(d)
        fexact = "-" if f.reference is None else f"{f.reference:.4f}"
        if p is not None:
            pcol = f"{p.value:.4f} [{p.ci[0]:.4f}, {p.ci[1]:.4f}]"
        elif d <= 2 and steps <= EXACT_MAX_STEPS:
            u = expected_visits(d, steps)
            pcol = f"1: visits U(n)={u[-1]:.3g} diverge"
        else:
            pcol = "1: integral diverges" if d <= 2 else "- (needs steps >= 200)"
        rows.append(f"{d:>3} {f.value:>8.4f}±{f.stderr:.4f} {fexact:>11} {pcol:>32} {exact:>11.6f}")
        payload["runs"].append({"d": d, "seed": traces[d].seed, "exact_p": exact,
                                "measures": measures[d].to_dict()["measures"]})
    if out is not None:
        rows.append(f"run folders: {', '.join(f'{out}/d{d:02d}' for d in dims)}")
    if any(d <= 2 for d in dims):
        rows.append("d <= 2: U(n) = sum_k<=n P(X_k = 0), the expected visits to the origin, grows "
                    "without bound (~ sqrt(n) in 1-D, ~ ln(n)/pi in 2-D), so p = 1")
    emit(as_json, payload, "\n".join(rows))
    if out is not None:
        save_runs({f"d{d:02d}": tr for d, tr in traces.items()}, out, force=force)
    if plot is not None:
        save_figure(plot_returns(traces, measures), plot)


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
    trace = _run("walk.pca", "walks", d=d, walks=walks, steps=steps, k=k, lattice=not gaussian,
                 seed=seed)
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
    trace = _run("walk.peaks", "landscapes", d=d, side=side, levels=levels, neighbours=neighbours,
                 top_only=top_only, smooth=smooth, landscapes=landscapes, seed=seed)
    _finish(trace, measure(trace), as_json, out, force, plot, plot_peaks)


@walk.command()
@option("--seed", "seed", Int(0, 2**63 - 1), default=0, help="Random seed.")
@click.option("--quick", is_flag=True, help="Fewer walkers: a demo in seconds, wider error bars.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, not a table.")
def claims(seed, quick, as_json):
    """Test each claim of MISSION.md section 3: measured value, reference, verdict."""
    from dynsim.claims import format_claims, walk_claims

    with progress_bar("claims") as progress:
        result = walk_claims(seed=seed, quick=quick, progress=progress)
    emit(as_json, {"seed": seed, "quick": quick, "claims": result}, format_claims(result))


__all__ = ["walk"]
