"""``dynsim train``: a real net on real data, probes recorded as the standard trace channels."""

from __future__ import annotations

import math

import click

from dynsim.cli.base import DynsimCommand, check_outputs, emit, measures_table, output_options, quiet, save_figure

NETS_HINT = "dynsim train needs torch and mnist1d: pip install 'dynsim[nets]' (CPU torch first, see README)"


# flag, API name, default, help: the constraints come from the trainer's schema (dynsim.models.config)
OPTIONS = [
    ("--model", "model", "mlp", "Network."),
    ("--data", "data", "mnist1d", "Data set (mnist / cifar10 are read from --data-dir)."),
    ("--opt", "opt", "gd", "Optimizer."),
    ("--lr", "lr", 0.1, "Learning rate."),
    ("--steps", "steps", 1500, "Optimizer steps."),
    ("--batch-size", "batch_size", None, "Minibatch size [default: full batch]."),
    ("--momentum", "momentum", 0.9, "Momentum / Adam beta1."),
    ("--beta2", "beta2", 0.999, "Adam beta2 / RMSProp alpha."),
    ("--eps", "eps", 1e-8, "Adam / RMSProp epsilon."),
    ("--weight-decay", "weight_decay", 0.0, "L2 weight decay."),
    ("--schedule", "schedule", "constant", "Learning-rate schedule."),
    ("--loss", "loss", "mse", "mse: 0.5 sum over outputs, mean over samples (the EoS convention); "
                              "ce: cross-entropy."),
    ("--width", "width", 200, "Hidden width."),
    ("--depth", "depth", 2, "Hidden layers."),
    ("--activation", "activation", "tanh", "Activation."),
    ("--dropout", "dropout", 0.0, "Dropout probability (off in the Hessian probes)."),
    ("--probe-every", "probe_every", None, "Steps between Hessian probes [default: 6 probes "
                                           "per run, at least 25 steps apart]."),
    ("--lanczos-iter", "lanczos_iter", 20, "Lanczos iterations per probe."),
    ("--probe-batch", "probe_batch", None, "Examples in the Hessian probe batch [default: the "
                                           "whole training set]."),
    ("--top-k", "top_k", 1, "Largest Hessian eigenvalues per probe (hessian_top)."),
    ("--bottom-k", "bottom_k", None, "Smallest eigenvalues per probe, with --hessian-bottom "
                                     "[default: 1]."),
    ("--density", "density", "off", "Hessian spectral density by stochastic Lanczos quadrature: "
                                    "at the last probe (end) or at every probe; 800 HVPs each."),
    ("--grad-noise-samples", "grad_noise_samples", 32, "Minibatches per probe for --grad-noise."),
    ("--bn-mode", "bn_mode", None, "Batch norm in the Hessian probes: eval (running statistics), "
                                   "train (probe batch), ghost (ghost batches of --chunk-size); "
                                   "required with --batch-norm, recorded in the run."),
    ("--chunk-size", "chunk_size", None, "Examples per chunk of the full-batch gradient and the "
                                         "HVPs (memory), or the ghost batch size."),
    ("--window", "window", 100, "Steps per window of the update statistics."),
    ("--proj-k", "proj_k", 2, "Random directions the parameters are projected on (proj)."),
    ("--device", "device", "auto", "Device."),
    ("--subset", "subset", None, "Use the first N training examples."),
    ("--data-dir", "data_dir", None, "Folder with the MNIST / CIFAR-10 files."),
]


def _opts(f):
    from dynsim.models.config import PARAMS
    from dynsim.cli.base import option

    for flag, name, default, help_ in reversed(OPTIONS):
        f = option(flag, name, PARAMS[name], default=default, show_default=default is not None,
                   help=help_)(f)
    f = click.option("--batch-norm", "batch_norm", is_flag=True, help="Batch norm layers.")(f)
    f = click.option("--hessian-bottom", is_flag=True, help="Also the smallest eigenvalues.")(f)
    f = click.option("--grad-noise", is_flag=True, help="Norms of minibatch minus full gradient "
                     "at each probe (minibatch optimizers).")(f)
    return click.option("--hessian-trace", is_flag=True, help="Hutchinson trace at each probe.")(f)


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
    from dynsim.models.train import check_args

    check_args({k: v for k, v in params.items() if v is not None})  # before the bar: one line
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
