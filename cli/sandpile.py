"""``dynsim sandpile``: sandpile models of self-organised criticality (run, fss)."""

from __future__ import annotations

import click

from dynsim.cli.base import (DynsimGroup, check_outputs, emit, given, measures_table, option,
                             output_options, progress_bar, run_system, save_figure)
from dynsim.params import Int
from dynsim.sims.sandpile.graph import PARAMS as GRAPH_PARAMS
from dynsim.sims.sandpile.lattice import PARAMS as LATTICE_PARAMS
from dynsim.studies.fss import PARAMS as FSS

SYSTEMS = {"btw": "sandpile.btw", "manna": "sandpile.manna", "oslo": "sandpile.oslo",
           "graph": "sandpile.graph"}
APPLIES = {"L": ("btw", "manna", "oslo"), "d": ("btw", "manna"),
           **{name: ("graph",) for name in ("graph", "n", "k", "sink_fraction", "loss")}}


def _params(ctx, model, L, d, grains, replicas, stream, height_every, graph, n, k, sink_fraction,
            loss) -> dict:
    """The API parameters of ``model`` from the flags; a flag given for another model is refused."""
    for name, models in APPLIES.items():
        if model not in models and given(ctx, name):  # `name` is written as its flag
            raise ValueError(f"`{name}` applies to `model` {' or '.join(models)}, not {model}")
    common = dict(grains=grains, replicas=replicas, stream=stream, height_every=height_every)
    if model != "graph":
        _check_L(model, L)
    if model == "graph":
        return dict(graph=graph, n=n, k=k, sink_fraction=sink_fraction, loss=loss, **common)
    if model == "oslo":
        return dict(L=L, **common)
    return dict(L=L, d=d, **common)


def _notes(trace, measures) -> list[str]:
    """The notes under the table: stationarity, the BTW 2-D caveat when no row of the table
    already carries it, the mean-field reference (graphs) or the finite-size-scaling hint."""
    from dynsim.analysis.results import footnotes_of
    from dynsim.sims.sandpile.reference import BTW_CAVEAT, EXPONENTS

    meta, notes = trace.meta, []
    start, grains = meta.get("stationary_from"), trace.params["grains"]
    notes.append(f"stationary from grain {start} of {grains} ({meta.get('stationary_rule')})")
    if not meta.get("stationary_reached"):
        notes.append(f"warning: not stationary: the mean height reached its plateau at grain "
                     f"{start} of {grains}, after the first half of the run, so the plateau and "
                     "every fit above are unreliable: add grains (at least twice that)")
    carried = any(BTW_CAVEAT in footnotes_of(r) for r in measures.values())
    if trace.system == "sandpile.btw" and trace.params.get("d") == 2 and not carried:
        notes.append(BTW_CAVEAT)
    if trace.system == "sandpile.graph":
        tau, tau_t = EXPONENTS["mean_field"]["tau"], EXPONENTS["mean_field"]["tau_t"]
        notes.append(f"mean-field reference (random graphs with a finite second moment of the "
                     f"degree: rr, er; ba only with log corrections): size tau = {tau.value:g}, "
                     f"duration tau_t = {tau_t.value:g} ({tau.status}; {tau.key}, {tau_t.key}); "
                     "compare fits below the cutoff set by the dissipation and by n^(2/3)")
    else:
        notes.append("single-size fits are biased by the finite-size cutoff: `dynsim sandpile "
                     "fss` gives D and tau from several L")
    return notes


def _check_L(model, L):
    """--L within the API's range for the model (btw, manna: 2^14; oslo: 2^24), named as --L."""
    from dynsim.sims.sandpile.oslo import PARAMS as OSLO_PARAMS

    rng = OSLO_PARAMS["L"] if model == "oslo" else LATTICE_PARAMS["L"]
    if L is not None and not rng.lo <= L <= rng.hi:
        raise ValueError(f"--L must be {rng.allowed()} for --model {model}, got {L}")


@click.group(cls=DynsimGroup)
def sandpile():
    """Sandpiles (self-organised criticality): BTW, Manna, Oslo ricepile, networkx graphs."""


@sandpile.command()
@click.option("--model", type=click.Choice(tuple(SYSTEMS)), default="btw", show_default=True,
              help="btw, manna (d-dim lattice, bulk drive), oslo (1-D, boundary drive) or graph.")
@option("--L", "L", Int(2, 2**24), default=64,
        help="Lattice side (btw, manna: up to 2^14; oslo: up to 2^24).")
@option("--dims", "d", LATTICE_PARAMS["d"], help="Dimension d (btw, manna).")
@option("--grains", "grains", LATTICE_PARAMS["grains"])
@option("--replicas", "replicas", LATTICE_PARAMS["replicas"])
@option("--stream", "stream", LATTICE_PARAMS["stream"])
@option("--height-every", "height_every", LATTICE_PARAMS["height_every"])
@option("--graph", "graph", GRAPH_PARAMS["graph"])
@option("--n", "n", GRAPH_PARAMS["n"])
@option("--degree", "k", GRAPH_PARAMS["k"], help="Degree k (rr), mean degree (er, ba).")
@option("--sink-fraction", "sink_fraction", GRAPH_PARAMS["sink_fraction"])
@option("--loss", "loss", GRAPH_PARAMS["loss"])
@output_options
@click.pass_context
def run(ctx, model, L, d, grains, replicas, stream, height_every, graph, n, k, sink_fraction, loss,
        seed, as_json, out, force, plot):
    """Drive a sandpile grain by grain; print the avalanche exponents (size, area, duration,
    waiting time) measured by the analyzer on the stationary part."""
    from dynsim.plots.sandpile import plot_sandpile
    from dynsim.trace import save_run

    check_outputs(out, force, plot)
    params = _params(ctx, model, L, d, grains, replicas, stream, height_every, graph, n, k,
                     sink_fraction, loss)
    from dynsim.analysis import measure

    trace = run_system(SYSTEMS[model], "grains", seed=seed, **params)

    measures = measure(trace)  # streamed runs: the binned rows, waiting_exponent_binned among them
    if not trace.meta.get("stationary_reached") and as_json:
        click.echo(f"warning: not stationary (plateau reached at grain "
                   f"{trace.meta.get('stationary_from')} of {trace.params['grains']}): add grains",
                   err=True)
    header = f"{trace.system}  seed={trace.seed}  " + "  ".join(
        f"{key}={v}" for key, v in trace.params.items())
    notes = _notes(trace, measures)
    emit(as_json, {"system": trace.system, "params": trace.params, "seed": trace.seed,
                   "out": out, "stationary_from": trace.meta.get("stationary_from"),
                   "stationary_reached": trace.meta.get("stationary_reached"), "notes": notes,
                   "measures": measures.to_dict()["measures"]},
         "\n".join([header, measures_table(measures), *notes] +
                   ([f"run folder: {out}"] if out else [])))
    if out is not None:
        save_run(trace, out, force=force)
    if plot is not None:
        save_figure(plot_sandpile(trace, measures), plot)


@sandpile.command()
@option("--model", "model", FSS["model"])
@option("--L", "L", FSS["L"])
@option("--dims", "d", FSS["d"])
@option("--grains", "grains", FSS["grains"])
@option("--replicas", "replicas", FSS["replicas"])
@option("--boot", "boot", FSS["boot"])
@option("--q-min", "q_min", FSS["q_min"])
@option("--q-max", "q_max", FSS["q_max"])
@output_options
def fss(model, L, d, grains, replicas, boot, q_min, q_max, seed, as_json, out, force, plot):
    """Finite-size scaling over several L: D and tau from the moments <s^q> ~ L^(D(q + 1 - tau))
    (dynsim.studies.fss), with the collapse plot."""
    from dynsim.studies.fss import finite_size_scaling
    from dynsim.trace import save_runs

    check_outputs(out, force, plot)
    with progress_bar("sizes") as progress:
        res = finite_size_scaling(model, L, d=d, grains=grains, replicas=replicas, boot=boot,
                                  q_min=q_min, q_max=q_max, seed=seed, progress=progress)
    emit(as_json, res, str(res) + (f"\nrun folders: {out}/L{res.runs[0].L} ..." if out else ""))
    if out is not None:
        save_runs({f"L{r.L}": tr for r, tr in zip(res.runs, res.traces)}, out, force=force)
    if plot is not None:
        save_figure(res.figure(), plot)


__all__ = ["sandpile"]
