"""Figures of the edge-of-stability family.  Each function returns a matplotlib Figure (no pyplot).

* :func:`plot_run`: sharpness (or the preconditioned sharpness) against the threshold (2/lr for GD),
  the loss, and the trajectory of one run.
* :func:`plot_bifurcation`: late iterates against lr, with the largest Lyapunov exponent under it.
* :func:`plot_flows`: gradient flow and the central flow overlaid on GD (loss, sharpness, path).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from dynsim.analysis.stability import PRECONDITIONED


def _positive(x):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, np.nan)


CLIP = 100.0   # a diverged run's sharpness and trajectory panels stop where |w| passes this x start


def pre_divergence(trace, stability=None) -> int:
    """How many leading steps of a run to draw in the sharpness and trajectory panels: all of
    them unless it diverged; then the steps before the divergence step (if known) while
    max |w_i| <= CLIP x max(1, max |w0_i|), so the axes show the run, not 1e49."""
    w = np.asarray(trace["trajectory"], dtype=float)
    n = w.shape[0]
    diverged = trace.meta.get("status") == "diverged" or \
        (stability is not None and stability.verdict == "diverged")
    if not diverged:
        return n
    if stability is not None and stability.divergence_step is not None:
        n = min(n, max(1, int(stability.divergence_step)))
    size = np.abs(w[:n]).max(axis=1)
    limit = CLIP * max(1.0, float(np.abs(w[0]).max()))
    bad = np.nonzero(~np.isfinite(size) | (size > limit))[0]
    return max(1, int(bad[0]) if bad.size else n)


def plot_run(trace, stability=None) -> Figure:
    """Sharpness against its threshold, loss (log scale) and trajectory of one optimizer run.
    A diverged run's sharpness and trajectory panels are clipped to its pre-divergence part
    (:func:`pre_divergence`); the loss panel shows all of it."""
    fig = Figure(figsize=(13, 4))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    conv = trace.meta.get("threshold_convention", "?")
    steps = np.arange(len(trace["loss"]))
    n_all = steps.size
    k = pre_divergence(trace, stability)
    ks = steps[:k]
    if conv in PRECONDITIONED and "precond_sharpness" in trace.channels:
        ax1.plot(ks, trace["precond_sharpness"][:k], "C1", lw=1, label="lambda_max(P^-1 H)")
        ax1.plot(ks, trace["sharpness"][:k], "C0", lw=0.8, alpha=0.5,
                 label="sharpness lambda_max(H)")
    else:
        ax1.plot(ks, trace["sharpness"][:k], "C0", lw=1, label="sharpness lambda_max(H)")
    label = "2/lr" if conv == "gd" else f"threshold ({conv})"
    ax1.plot(ks, trace["threshold"][:k], "k--", lw=1, label=label)
    title = f"{trace.system}, {trace.params.get('opt')}, lr = {trace.params.get('lr'):g}"
    if stability is not None:
        title += f"\n{stability.verdict}, late ratio {stability.value:.3g}"
    ax1.set(xlabel="step", ylabel="sharpness", title=title)
    ax1.legend(fontsize=7)
    ax2.plot(steps, _positive(trace["loss"]), "C2", lw=1)
    ax2.set(xlabel="step", ylabel="loss", yscale="log", title="loss")
    w = np.asarray(trace["trajectory"])[:k]
    traj = "trajectory" if k == n_all else \
        f"trajectory to step {k - 1} of {n_all - 1} (then diverges)"
    if w.shape[1] >= 2:
        sc = ax3.scatter(w[:, 0], w[:, 1], c=ks, s=3, cmap="viridis")
        ax3.plot(w[:, 0], w[:, 1], "k-", lw=0.2, alpha=0.4)
        ax3.plot(w[0, 0], w[0, 1], "r*", ms=10, label="start")
        fig.colorbar(sc, ax=ax3, label="step")
        ax3.set(xlabel="w_1 (x)", ylabel="w_2 (y)", title=traj)
        ax3.legend(fontsize=7)
    else:
        ax3.plot(ks, w[:, 0], "C3.", ms=2)
        ax3.set(xlabel="step", ylabel="w", title=traj)
    fig.tight_layout()
    return fig


def plot_bifurcation(trace, observable: str = "trajectory", flip=None) -> Figure:
    """Late iterates (first coordinate, ``sharpness`` or ``loss``) against lr, and the largest
    Lyapunov exponent of the optimizer map (with its block SE) under it; ``flip`` = (lr, S_min),
    where the minimum found at the smallest lr loses stability
    (:func:`dynsim.studies.bifurcation.minimum_flip_lr`), is drawn as a dashed line."""
    lrs = np.asarray(trace["bifurcation_lr"])
    if observable == "trajectory":
        y, ylabel = np.asarray(trace["bifurcation_iterates"])[:, :, 0], "late iterates w_1"
    elif observable in ("sharpness", "loss"):
        y, ylabel = np.asarray(trace[f"bifurcation_{observable}"]), f"late {observable}"
    else:
        raise ValueError(f"observable must be 'trajectory', 'sharpness' or 'loss', got {observable!r}")
    fig = Figure(figsize=(8, 6.5))
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax1.plot(np.repeat(lrs, y.shape[1]), y.ravel(), "k,", alpha=0.6)
    div = np.asarray(trace["bifurcation_diverged_at"]) >= 0
    if div.any():
        ax1.plot(lrs[div], np.full(div.sum(), np.nanmin(y) if np.isfinite(y).any() else 0.0),
                 "rx", ms=3, label="diverged")
        ax1.legend(fontsize=7)
    p = trace.params
    if flip is not None:
        lr_f, s_min = flip
        for ax in (ax1, ax2):
            ax.axvline(lr_f, color="C3", ls="--", lw=0.8,
                       label=(f"lr = 2/S_min = {lr_f:.4g}" if trace.meta.get(
                           "threshold_convention") == "gd" else f"lr = {lr_f:.4g}") +
                       f": the minimum (S_min = {s_min:.4g}) loses stability"
                       if ax is ax1 else None)
        ax1.legend(fontsize=7)
    ax1.set(ylabel=ylabel, title=f"{p.get('system')} ({p.get('opt')}), x0 = {p.get('x0')}, "
                                 f"last {p.get('keep')} of {p.get('steps')} steps")
    lam = np.asarray(trace["bifurcation_lyapunov"])[:, 0]
    se = np.asarray(trace["bifurcation_lyapunov_se"])[:, 0]
    ax2.fill_between(lrs, lam - 1.96 * se, lam + 1.96 * se, color="C0", alpha=0.3)
    ax2.plot(lrs, lam, "C0-", lw=1)
    ax2.axhline(0.0, color="k", lw=0.8)
    ax2.set(xlabel="lr", ylabel="largest Lyapunov exponent")
    fig.tight_layout()
    return fig


def plot_flows(comparison) -> Figure:
    """Gradient flow and the central flow overlaid on GD (a :class:`FlowComparison`)."""
    gd, gf, cf = comparison.gd, comparison.gradient, comparison.central
    la, sa = comparison.gd_average()
    lr = gd.params["lr"]
    fig = Figure(figsize=(13, 4))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    t_gd, t_gf, t_cf = (np.arange(len(tr["loss"])) for tr in (gd, gf, cf))
    ax1.plot(t_gd, _positive(gd["loss"]), color="0.7", lw=0.6, label="GD")
    ax1.plot(t_gd, _positive(la), "k-", lw=1.2, label=f"GD, {comparison.average}-step average")
    ax1.plot(t_gf, _positive(gf["loss"]), "C0--", lw=1.2, label="gradient flow")
    ax1.plot(t_cf, _positive(cf["central_loss"]), "C3-", lw=1.2,
             label="central flow: L + sigma^2 S / 2")
    ax1.plot(t_cf, _positive(cf["loss"]), "C3:", lw=1, label="central flow: L")
    if comparison.start is not None:
        for ax in (ax1, ax2):
            ax.axvspan(comparison.start, comparison.stop - 1, color="0.9", zorder=0,
                       label="GD at the edge")
    floor = getattr(comparison, "loss_floor", None)
    if floor:
        # below the floor a flow's loss is the solver's resolution (gradient flow: ~1e-17 at rtol
        # 1e-8), not the model: draw the floor and do not let that noise set the axis
        ax1.axhline(floor, color="C0", ls=":", lw=0.8, label=f"solver floor {floor:.1g}")
        ax1.set_ylim(bottom=floor / 10)
    ax1.set(xlabel="step (flow time in steps)", ylabel="loss", yscale="log", title=str(gd.system))
    ax1.legend(fontsize=7)
    ax2.plot(t_gd, gd["sharpness"], color="0.7", lw=0.6, label="GD")
    ax2.plot(t_gd, sa, "k-", lw=1.2, label="GD, average")
    ax2.plot(t_gf, gf["sharpness"], "C0--", lw=1.2, label="gradient flow")
    ax2.plot(t_cf, cf["sharpness"], "C3-", lw=1.2, label="central flow")
    ax2.axhline(2.0 / lr, color="k", ls="--", lw=0.8, label="2/lr")
    title = "sharpness"
    if comparison.mean_loss_error_central is not None:
        title = (f"window-mean loss error: central {comparison.mean_loss_error_central:.2g}, "
                 f"gradient {comparison.mean_loss_error_gradient:.2g}")
    elif comparison.start is None:
        title = "GD never at the edge: no gaps"
    ax2.set(xlabel="step", ylabel="sharpness", title=title)
    ax2.legend(fontsize=7)
    for tr, style, name in ((gd, "k.", "GD"), (gf, "C0-", "gradient flow"),
                            (cf, "C3-", "central flow")):
        w = np.asarray(tr["trajectory"])
        if w.shape[1] >= 2:
            ax3.plot(w[:, 0], w[:, 1], style, ms=2, lw=1.2, label=name)
    ax3.set(xlabel="w_1 (x)", ylabel="w_2 (y)", title="trajectories")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["plot_bifurcation", "plot_flows", "plot_run", "pre_divergence"]
