"""``dynsim sandpile``: sandpile models of self-organised criticality (run, fss)."""

from __future__ import annotations

import click

from dynsim.cli.analyze import _given
from dynsim.cli.base import (DynsimGroup, check_outputs, emit, measures_table, output_options,
                             progress_bar, save_figure)
from dynsim.cli.walk import _run
from dynsim.cli.base import option
from dynsim.params import Float, Int
from dynsim.sims.sandpile.graph import PARAMS as GRAPH_PARAMS
from dynsim.sims.sandpile.lattice import PARAMS as LATTICE_PARAMS

SYSTEMS = {"btw": "sandpile.btw", "manna": "sandpile.manna", "oslo": "sandpile.oslo",
           "graph": "sandpile.graph"}
APPLIES = {"L": ("btw", "manna", "oslo"), "d": ("btw", "manna"),
           **{name: ("graph",) for name in ("graph", "n", "k", "sink_fraction", "loss")}}
EXACT_NOTE = {"btw": "mean of Delta^-1 1 (Dhar 1990)", "manna": "d x mean of Delta^-1 1",
              "oslo": "L"}


class SizeList(click.ParamType):
    """System sizes as ``32,64,128`` (at least 3, each >= 2)."""

    name = "sizes"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            out = sorted({int(v) for v in value.split(",") if v.strip()})
        except ValueError:
            self.fail(f"must be sizes such as 32,64,128, got {value!r}", param, ctx)
        if len(out) < 3 or out[0] < 2:
            self.fail(f"must be at least 3 distinct sizes >= 2, got {value!r}", param, ctx)
        return out


def _params(ctx, model, L, d, grains, replicas, stream, height_every, graph, n, k, sink_fraction,
            loss) -> dict:
    """The API parameters of ``model`` from the flags; a flag given for another model is refused."""
    for name, models in APPLIES.items():
        if model not in models and _given(ctx, name):
            flag = "--L" if name == "L" else "--" + name.replace("_", "-")
            raise ValueError(f"{flag} applies to --model {' or '.join(models)}, not {model}")
    common = dict(grains=grains, replicas=replicas, stream=stream, height_every=height_every)
    if model != "graph":
        _check_L(model, L)
    if model == "graph":
        return dict(graph=graph, n=n, k=k, sink_fraction=sink_fraction, loss=loss, **common)
    if model == "oslo":
        return dict(L=L, **common)
    return dict(L=L, d=d, **common)


def _notes(trace) -> list[str]:
    from dynsim.sims.sandpile.reference import BTW_CAVEAT, EXPONENTS

    meta, notes = trace.meta, []
    start, grains = meta.get("stationary_from"), trace.params["grains"]
    notes.append(f"stationary from grain {start} of {grains} ({meta.get('stationary_rule')})")
    if not meta.get("stationary_reached"):
        notes.append(f"warning: not stationary: the mean height reached its plateau at grain "
                     f"{start} of {grains}, after the first half of the run, so the plateau and "
                     "every fit above are unreliable: add grains (at least twice that)")
    if trace.system == "sandpile.btw":
        notes.append(BTW_CAVEAT)
    if trace.system == "sandpile.graph":
        mf = EXPONENTS["mean_field"]
        notes.append(f"mean-field reference (random graphs with a finite second moment of the "
                     f"degree: rr, er; ba only with log corrections): size tau = "
                     f"{mf['tau'].value:g}, duration tau_t = {mf['tau_t'].value:g} "
                     f"({mf['tau'].status}; {mf['tau'].source}); compare fits below the cutoff "
                     "set by the dissipation and by n^(2/3)")
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
@option("--d", "d", LATTICE_PARAMS["d"], default=2, help="Dimension (btw, manna).")
@option("--grains", "grains", LATTICE_PARAMS["grains"])
@option("--replicas", "replicas", LATTICE_PARAMS["replicas"])
@option("--stream", "stream", LATTICE_PARAMS["stream"])
@option("--height-every", "height_every", LATTICE_PARAMS["height_every"])
@option("--graph", "graph", GRAPH_PARAMS["graph"])
@option("--n", "n", GRAPH_PARAMS["n"])
@option("--k", "k", GRAPH_PARAMS["k"], default=4, help="Degree (rr), mean degree (er, ba).")
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
    trace = _run(SYSTEMS[model], "grains", seed=seed, **params)
    from dynsim.analysis import measure

    measures = measure(trace)  # streamed runs: the binned rows, waiting_exponent_binned among them
    if not trace.meta.get("stationary_reached") and as_json:
        click.echo(f"warning: not stationary (plateau reached at grain "
                   f"{trace.meta.get('stationary_from')} of {trace.params['grains']}): add grains",
                   err=True)
    header = f"{trace.system}  seed={trace.seed}  " + "  ".join(
        f"{key}={v}" for key, v in trace.params.items())
    notes = _notes(trace)
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
@click.option("--model", type=click.Choice(("manna", "oslo", "btw")), default="manna",
              show_default=True, help="Lattice model (btw: effective exponents only).")
@click.option("--L", "L", type=SizeList(), default="32,64,128", show_default=True,
              help="System sizes, comma-separated (at least 3).")
@option("--d", "d", LATTICE_PARAMS["d"], default=2, help="Dimension (btw, manna).")
@option("--grains", "grains", LATTICE_PARAMS["grains"], default=None, show_default=False,
        help="Grains per replica and size [default: twice what the pile can hold + 200000: "
        "btw 2 (2d - 1) L^d, manna 2 L^d, oslo 2 L (L + 1)].")
@option("--replicas", "replicas", LATTICE_PARAMS["replicas"], default=2,
        help="Independent replicas per size, run in parallel.")
@option("--boot", "boot", Int(2, 10**4), default=100, help="Bootstrap replicates for the errors.")
@option("--q-min", "q_min", Float(0.0, 10.0), default=1.0,
        help="Smallest moment order q of the fitted range.")
@option("--q-max", "q_max", Float(0.0, 10.0), default=3.0,
        help="Largest moment order q of the fitted range.")
@output_options
@click.pass_context
def fss(ctx, model, L, d, grains, replicas, boot, q_min, q_max, seed, as_json, out, force, plot):
    """Finite-size scaling over several L: D and tau from the moments <s^q> ~ L^(D(q + 1 - tau))
    (analysis/fss.py), with the collapse plot."""
    from dynsim import registry
    from dynsim.analysis.fss import collapse, moment_analysis, q_grid, size_series
    from dynsim.plots.sandpile import plot_fss
    from dynsim.rng import child_seed, make_seed
    from dynsim.sims.sandpile.common import default_grains
    from dynsim.sims.sandpile.reference import BTW_CAVEAT, EXPONENTS, agrees, exact_mean_size
    from dynsim.trace import save_runs

    check_outputs(out, force, plot)
    if model == "oslo" and _given(ctx, "d"):
        raise ValueError("--d does not apply to --model oslo")
    if not q_min + 0.25 <= q_max:
        raise ValueError(f"--q-max must exceed --q-min by at least 0.25, got {q_min:g} and "
                         f"{q_max:g}")
    for size in L:
        _check_L(model, size)
    seed = make_seed(seed)
    traces, samples, rows = {}, {}, []
    with progress_bar(f"sizes {','.join(map(str, L))}") as progress:
        for j, size in enumerate(L):
            dd = 1 if model == "oslo" else d
            params = dict(L=size, grains=grains or default_grains(model, size, dd),
                          replicas=replicas)
            if model != "oslo":
                params["d"] = d
            traces[size] = tr = registry.run(SYSTEMS[model], seed=child_seed(seed, size), **params)
            if not tr.meta.get("stationary_reached"):
                start = tr.meta.get("stationary_from")
                need = max(2 * (start or 0), default_grains(model, size, dd) - 200_000)
                when = ("never reached stationarity" if start is None else
                        f"reached stationarity at grain {start}")
                raise ValueError(
                    f"add grains: run at L={size} {when} of {params['grains']} grains (stationary "
                    f"means within the first half); give --grains "
                    f"of at least {need} (the default for L={size} is "
                    f"{default_grains(model, size, dd)})")
            samples[size] = size_series(tr)
            rows.append((size, tr))
            if progress is not None:
                progress(j + 1, len(L))
    res = moment_analysis(samples, q=q_grid(q_min, q_max), q_range=(q_min, q_max), boot=boot,
                          seed=child_seed(seed, 0))
    lines = [f"{SYSTEMS[model]}  fss  seed={seed}  replicas={replicas}" +
             ("" if model == "oslo" else f"  d={d}"),
             f"{'L':>6} {'grains':>10} {'stationary from':>16} {'avalanches':>11} "
             f"{'<s>/grain':>11} {'exact':>11}"]
    payload = {"system": SYSTEMS[model], "seed": seed, "d": None if model == "oslo" else d,
               "runs": [], "fss": res}
    for size, tr in rows:
        g, start = tr.params["grains"], tr.meta["stationary_from"] or 0
        n_av = sum(s.size for s in samples[size])
        total = sum(float(s.sum()) for s in samples[size])
        mean = total / (replicas * (g - start)) if g > start else float("nan")
        exact = exact_mean_size(model, size, 1 if model == "oslo" else d)
        lines.append(f"{size:>6} {g:>10} {start:>16} {n_av:>11} {mean:>11.5g} {exact:>11.5g}")
        payload["runs"].append({"L": size, "seed": tr.seed, "grains": g, "stationary_from": start,
                                "avalanches": n_av, "mean_size": mean, "exact_mean_size": exact})
    refs = EXPONENTS.get(model) if (model == "oslo" or d == 2) else None
    for name, val, se in (("D", res.D, res.D_stderr), ("tau", res.tau, res.tau_stderr)):
        ref = refs.get(name) if refs else None
        verdict = "" if ref is None else f"  reference {ref}: " + (
            "agrees within 3 SE" if agrees(val, se, ref) else "differs by more than 3 SE")
        lines.append(f"{name:<4} = {val:.4f} ± {se:.4f}{verdict}")
    lines.append(f"<s>/grain: stationary topplings per grain added; exact: {EXACT_NOTE[model]}")
    lines.append(f"moment analysis, q in [{q_min:g}, {q_max:g}], {boot} moving-block bootstrap "
                 f"replicates ({res.data['blocks']} time blocks per replica); corrections to "
                 "scaling bias small L: drop the smallest sizes to check")
    if model == "btw":
        lines.append(BTW_CAVEAT)
    if out is not None:
        lines.append(f"run folders: {out}/L{L[0]} ...")
    emit(as_json, payload, "\n".join(lines))
    if out is not None:
        save_runs({f"L{size}": tr for size, tr in traces.items()}, out, force=force)
    if plot is not None:
        save_figure(plot_fss(res, collapse(samples, res.tau, res.D)), plot)


__all__ = ["sandpile"]
