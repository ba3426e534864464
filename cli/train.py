"""``dynsim train``: a real net on real data, probes recorded as the standard trace channels."""

from __future__ import annotations

import math

import click

from dynsim.cli.base import DynsimCommand, check_outputs, emit, measures_table, output_options, quiet, save_figure

NETS_HINT = "dynsim train needs torch and mnist1d: pip install 'dynsim[nets]' (CPU torch first, see README)"


def _opts(f):
    """One option per field of TrainConfig (``--probe-every`` for ``probe_every``): its type,
    default and help come from the field's constraint."""
    import dataclasses

    from dynsim.cli.base import option
    from dynsim.models.config import TrainConfig

    for fld in reversed(dataclasses.fields(TrainConfig)):
        f = option("--" + fld.name.replace("_", "-"), fld.name, fld.metadata["constraint"])(f)
    return f


@click.command(cls=DynsimCommand)
@_opts
@output_options
def train(seed, as_json, out, force, plot, **params):
    """Train a net and record loss, sharpness against its threshold, and update statistics.

    Defaults: the edge-of-stability setup (mnist1d, MLP 40-200-200-10, tanh, MSE, full-batch GD,
    lr 0.1): sharpness rises until it reaches 2/lr and hovers there.
    """
    from dynsim import registry
    from dynsim.analysis import measure

    try:
        import torch  # noqa: F401
    except ImportError:
        raise ValueError(NETS_HINT) from None
    from dynsim.models.config import make_config

    make_config(**params)  # refuse bad settings before the bar: one line
    check_outputs(out, force, plot)
    steps = params["steps"]
    bar = None
    if not quiet():
        bar = click.progressbar(length=steps, label="training", file=click.get_text_stream("stderr"),
                                item_show_func=lambda m: m)

    def progress(step, metrics):
        if bar is not None:
            sharp = metrics["sharpness"]
            bar.current_item = (f"loss {metrics['loss']:.4g}  sharpness "
                                f"{'-' if math.isnan(sharp) else f'{sharp:.3g}'} / "
                                f"{metrics['threshold']:.3g}")
            bar.update(1)

    if bar is not None:
        bar.__enter__()
    try:
        trace = registry.run("train", seed=seed, progress=progress, **params)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    m = measure(trace)
    header = (f"train  seed={trace.seed}  status={trace.meta['status']}  "
              f"threshold convention={trace.meta['threshold_convention']}  "
              f"device={trace.meta['device']}")
    last = {k: float(trace[k][-1]) for k in ("train_loss", "test_loss", "accuracy",
                                             "test_accuracy", "sharpness", "threshold")
            if k in trace.channels}
    summary = "  ".join(f"{k}={v:.4g}" for k, v in last.items())
    emit(as_json, {"system": "train", "params": trace.params, "seed": trace.seed,
                   "status": trace.meta["status"], "final": last, "out": out,
                   "measures": m.to_dict()["measures"]},
         f"{header}\nfinal: {summary}\n{measures_table(m)}" + (f"\nrun folder: {out}" if out else ""))
    if out is not None:
        trace.save(out, force=force)
    if plot is not None:
        from dynsim.plots.train import plot_training

        save_figure(plot_training(trace), plot)
