"""Sandpile figures: avalanche CCDFs with their fitted tails, the height over time with the start of
the stationary part, the height map, and the finite-size-scaling collapse."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from dynsim.plots.powerlaw import _tail_ccdf, plot_collapse

KINDS = ("size", "area", "duration")
# P(x) ~ x^-exponent: the size exponent tau (tau_s), the area exponent tau_a, the duration
# exponent tau_t (mean field: the keys mean_field_tau, mean_field_tau_t of references.json)
EXPONENT_NAMES = {"size": "tau_s", "area": "tau_a", "duration": "tau_t"}


def _fit_of(result):
    """The PowerLawFit inside a measure result (an analysis, or a fit itself), or None."""
    if result is None:
        return None
    fit = getattr(result, "fit", result)
    return fit if getattr(fit, "ok", False) else None


def _ccdf_panel(ax, trace, kind, fit):
    """P(X >= x) of the stationary events (or of the histogram, at its bin edges), and the fitted
    tail scaled to the fraction of data above its xmin (a window: to the fraction inside it, on top
    of the fraction beyond it)."""
    if f"events_{kind}" in trace.channels:
        x = trace.stationary(f"events_{kind}")
        x = np.sort(x[x > 0])
        if x.size == 0:
            ax.text(0.5, 0.5, "no events", ha="center", transform=ax.transAxes)
            return
        values, first = np.unique(x, return_index=True)
        ax.loglog(values, 1.0 - first / x.size, ".", ms=3, color="0.4", label=f"data (n={x.size})")
        top = float(x[-1])

        def above(v):
            return 1.0 - np.searchsorted(x, v) / x.size
    else:
        # a streamed histogram, pooled over the chunks from meta["stationary_from"] on
        counts = np.asarray(trace.stationary(f"events_{kind}_hist")).sum(axis=0)
        edges = np.asarray(trace[f"events_{kind}_hist_edges"], dtype=float)
        n = counts.sum()
        if n == 0:
            ax.text(0.5, 0.5, "no events", ha="center", transform=ax.transAxes)
            return
        tail = np.cumsum(counts[::-1])[::-1] / n
        keep = counts > 0
        ax.loglog(edges[:-1][keep] + 0.5, tail[keep], "o", ms=3, color="0.4",
                  label=f"histogram (n={int(n)})")
        top = float(edges[-1])

        def above(v):
            return tail[min(np.searchsorted(edges, v), tail.size - 1)]
    if fit is not None:
        grid = np.unique(np.geomspace(fit.xmin, fit.xmax if fit.xmax is not None else top, 200))
        if fit.discrete:
            grid = np.unique(np.round(grid))
        # P(X >= x) = (fraction beyond the window) + (fraction in it) P_fit(X >= x | window)
        beyond = 0.0 if fit.xmax is None else above(fit.xmax + (1 if fit.discrete else 0))
        ax.loglog(grid, beyond + (above(fit.xmin) - beyond) * _tail_ccdf(fit, grid), "r-", lw=1.5,
                  label=f"{EXPONENT_NAMES.get(kind, 'exponent')}={fit.alpha:.3f}±{fit.stderr:.3f}")
        ax.axvline(fit.xmin, color="r", ls=":", lw=1)
    ax.set(xlabel=kind, ylabel=f"P({kind} >= x)", title=f"avalanche {kind}")
    ax.legend(fontsize=8)


def _height_map_panel(ax, trace):
    h = np.asarray(trace["height_map"])
    system = trace.system
    if system == "sandpile.oslo":
        profile = np.cumsum(h[::-1])[::-1]
        ax.plot(np.arange(1, h.size + 1), profile, "k-", lw=1)
        ax.set(xlabel="column i", ylabel="h_i", title="pile profile (final)")
    elif system not in ("sandpile.btw", "sandpile.manna"):  # a graph (or any other)
        values, counts = np.unique(h, return_counts=True)
        ax.bar(values, counts / h.size, color="0.4")
        ax.set(xlabel="grains per node", ylabel="fraction of nodes", title="heights (final)")
    elif h.ndim == 1:
        ax.step(np.arange(1, h.size + 1), h, "k-", where="mid", lw=1)
        ax.set(xlabel="site", ylabel="z", title="heights (final)")
    else:
        img = h if h.ndim == 2 else h[h.shape[0] // 2]
        im = ax.imshow(img, cmap="viridis", interpolation="nearest", vmin=0, vmax=max(1, h.max()))
        ax.figure.colorbar(im, ax=ax, fraction=0.046)
        ax.set(title="height map (final)" + ("" if h.ndim == 2 else ", middle slice"))
        ax.set_xticks([])
        ax.set_yticks([])


def plot_sandpile(trace, measures=None) -> Figure:
    """Five panels: CCDFs of size, area and duration (stationary part) with the fitted tails of
    ``measures`` (keys ``size_exponent``, ``size_exponent_binned`` or ``size``, ... each a
    PowerLawAnalysis or a PowerLawFit), the mean height against grains with ``stationary_from``,
    and the height map (2-D image, middle slice in 3-D, profile for Oslo, histogram for graphs)."""
    measures = measures or {}
    fig = Figure(figsize=(16, 7.5))
    axes = fig.subplots(2, 3)
    for ax, kind in zip(axes[0], KINDS):
        res = next((measures[k] for k in (f"{kind}_exponent", f"{kind}_exponent_binned", kind)
                    if k in measures), None)
        _ccdf_panel(ax, trace, kind, _fit_of(res))
    ax = axes[1, 0]
    ax.plot(trace["height_mean_step"], trace["height_mean"], "k-", lw=0.8)
    start = trace.meta.get("stationary_from")
    if start is not None:
        ax.axvline(start, color="r", ls="--", lw=1, label=f"stationary from {start}")
        ax.legend(fontsize=8)
    ax.set(xlabel="grains added", ylabel="mean height", title="mean height")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    _height_map_panel(axes[1, 1], trace)
    axes[1, 2].axis("off")
    p = trace.params
    axes[1, 2].text(0.0, 0.9, "\n".join(f"{k} = {v}" for k, v in p.items()), va="top",
                    family="monospace", fontsize=9, transform=axes[1, 2].transAxes)
    fig.suptitle(f"{trace.system}  seed={trace.seed}")
    fig.tight_layout()
    return fig


def plot_fss(result, collapsed: dict) -> Figure:
    """The collapse s^tau P(s) against s / L^D (:func:`plot_collapse`) with an inset of sigma(q)
    and the straight line D (q + 1 - tau) fitted to it."""
    fig = plot_collapse(collapsed, result.tau, result.D)
    ax = fig.add_axes([0.4, 0.2, 0.26, 0.26])
    q = np.asarray(result.q)
    ax.errorbar(q, result.sigma, yerr=result.sigma_stderr, fmt="o", ms=2, color="0.3")
    ax.plot(q, result.D * (q + 1 - result.tau), "r-", lw=1)
    ax.axvspan(*result.q_range, color="C0", alpha=0.1)
    ax.set_xlabel("q", fontsize=7)
    ax.set_ylabel("sigma(q)", fontsize=7)
    ax.tick_params(labelsize=6)
    return fig


__all__ = ["plot_fss", "plot_sandpile"]
