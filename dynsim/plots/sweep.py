"""Figures of sweeps: each measure against one grid parameter, mean ± SE over seeds (the
groups of :func:`dynsim.sweep.report.summarise`, each measure a ``SeedStats``)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

PREFERRED = ("stability", "sharpness")  # the edge-of-stability readouts, first when present
REFERENCE = {"stability": 1.0}  # sharpness / threshold = 1 is the edge (eos_threshold_gd: 2/lr)


def default_measures(names, max_measures: int = 6) -> list[str]:
    """Measures for the figure: those named like stability / sharpness first, then the others
    by name, ``max_measures`` at most."""
    names = sorted(set(names))
    first = [n for p in PREFERRED for n in names if n.startswith(p)]
    first = list(dict.fromkeys(first))
    return (first + [n for n in names if n not in first])[:max_measures]


def _reference(name: str):
    for key, value in REFERENCE.items():
        if name.startswith(key):
            return value
    return None


def plot_sweep(groups: list[dict], x: str | None, measures: list[str] | None = None,
               max_measures: int = 6) -> Figure:
    """One panel per measure (``measures``, or :func:`default_measures`); one line per setting of
    the other parameters; error bars are standard errors over seeds, drawn only where there are
    two seeds or more (a single seed has no error bar, not a zero-width one).  A dotted line marks
    the reference value of a measure that has one (1 for stability, 2/lr for the sharpness
    against lr)."""
    names = list(measures) if measures else default_measures(
        {n for g in groups for n in g["measures"]}, max_measures)
    cols = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig = Figure(figsize=(4.6 * cols, 3.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    keys = sorted({k for g in groups for k in g["params"]})
    varying = [k for k in keys if k != x and len({str(g["params"].get(k)) for g in groups}) > 1]
    others = lambda g: tuple((k, str(g["params"].get(k))) for k in varying)  # noqa: E731
    lines: dict = {}
    for g in groups:
        lines.setdefault(others(g), []).append(g)
    for ax, name in zip(axes, names):
        for i, (label, members) in enumerate(lines.items()):
            pts = sorted(((m["params"].get(x, 0), m["measures"][name].mean,
                           m["measures"][name].se) for m in members if name in m["measures"]),
                         key=lambda t: str(t[0]) if isinstance(t[0], list) else t[0])
            if not pts:
                continue
            xv, ys, ses = zip(*pts)
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xv)
            xs = np.array(xv, dtype=float) if numeric else np.arange(len(xv))
            ys, ses = np.array(ys, dtype=float), np.array(ses, dtype=float)
            if not numeric:  # list-valued parameters (a start point): label the positions
                ax.set_xticks(xs, [str(v) for v in xv], rotation=30, fontsize=7)
            color = f"C{i % 10}"
            ax.plot(xs, ys, "o-", ms=4, color=color,
                    label=", ".join(f"{k}={v}" for k, v in label)[:40] or None)
            has = np.isfinite(ses)
            if has.any():
                ax.errorbar(xs[has], ys[has], yerr=ses[has], fmt="none", capsize=3, color=color)
        ref = _reference(name)
        if ref is not None:
            ax.axhline(ref, color="0.4", ls=":", lw=1)
        gd_only = all(g["params"].get("opt", "gd") in ("gd", "sgd") for g in groups)
        if name.startswith("sharpness") and x == "lr" and gd_only:  # GD's threshold 2/lr
            lrs = sorted({float(lr) for g in groups for lr in [g["params"].get("lr")]
                          if isinstance(lr, (int, float)) and lr > 0})
            if lrs:
                grid = np.linspace(lrs[0], lrs[-1], 50)
                ax.plot(grid, 2 / grid, color="0.4", ls=":", lw=1, label="2/lr")
                ax.legend(fontsize=7)
        ax.set(xlabel=x or "", title=name)
        if len(lines) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
