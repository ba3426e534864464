"""Figures of training runs: loss, sharpness against its threshold, accuracy, update sizes."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

# the stability threshold of each convention (dynsim.analysis.stability), as the legend writes it
THRESHOLD_FORMULA = {"gd": "2/lr", "heavy_ball": "(2+2β)/lr", "nesterov": "(2+2β)/((1+2β) lr)",
                     "rmsprop_precond": "2/lr", "adam_precond": "(2+2β1)/((1-β1) lr)",
                     "ema_momentum": "(2+2β)/((1-β) lr)"}


def plot_training(trace) -> Figure:
    """Loss (train per step, train and test at probes), sharpness (and preconditioned sharpness)
    with the stability threshold, accuracy, and the update norm per step."""
    ch = trace.channels
    fig = Figure(figsize=(13, 3.8))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    if "loss" in ch:
        ax1.plot(np.arange(ch["loss"].size), ch["loss"], lw=0.8, label="train (per step)")
    for name in ("train_loss", "test_loss"):
        if name in ch:
            ax1.plot(ch[f"{name}_step"], ch[name], "o-", ms=3, lw=1, label=name.replace("_", " "))
    ax1.set(yscale="log", xlabel="step", ylabel="loss", title="loss")
    ax1.legend(fontsize=8)
    conv = trace.meta.get("threshold_convention", "")
    name = "precond_sharpness" if "precond_sharpness" in ch else "sharpness"
    if name in ch:
        err = ch.get("sharpness_err") if name == "sharpness" else None
        ax2.errorbar(ch[f"{name}_step"], ch[name], yerr=err, fmt="o-", ms=3, lw=1,
                     label=name.replace("_", " "))
    if "threshold" in ch and ch["threshold"].size:
        thr = ch["threshold"]
        value = f"{thr[-1]:.3g}" if np.allclose(thr, thr[0]) else "varies with the lr schedule"
        ax2.plot(ch["threshold_step"], thr, "k--", lw=1,
                 label=f"threshold {THRESHOLD_FORMULA.get(conv, conv)} = {value}")
    ax2.set(xlabel="step", ylabel="top Hessian eigenvalue", title="sharpness vs threshold")
    ax2.legend(fontsize=8)
    for acc in ("accuracy", "test_accuracy"):
        if acc in ch and np.isfinite(ch[acc]).any():
            ax3.plot(ch[f"{acc}_step"], ch[acc], "o-", ms=3, label=acc.replace("_", " "))
    if "update_norm" in ch:
        twin = ax3.twinx()
        twin.plot(np.arange(ch["update_norm"].size), ch["update_norm"], color="0.6", lw=0.6)
        twin.set(yscale="log", ylabel="||update||")
    ax3.set(xlabel="step", ylabel="accuracy", title="accuracy and update norm")
    if ax3.get_legend_handles_labels()[0]:
        ax3.legend(fontsize=8)
    p = trace.params
    fig.suptitle(f"{p.get('model')} on {p.get('data')}, {p.get('opt')} lr={p.get('lr')}, "
                 f"status {trace.meta.get('status')}", fontsize=10)
    fig.tight_layout()
    return fig
