"""Figures of sweeps: each measure against one grid parameter, mean ± SE over seeds."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure


def plot_sweep(groups: list[dict], x: str | None, measures: list[str] | None = None,
               max_measures: int = 6) -> Figure:
    """One panel per measure (``measures``, or the first ``max_measures`` by name); one line per
    setting of the other parameters; error bars are standard errors over seeds."""
    names = list(measures) if measures else sorted({n for g in groups
                                                    for n in g["measures"]})[:max_measures]
    cols = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig = Figure(figsize=(4.6 * cols, 3.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    varying = [k for k in groups[0]["params"]
               if k != x and len({str(g["params"].get(k)) for g in groups}) > 1]
    others = lambda g: tuple((k, str(g["params"][k])) for k in varying)  # noqa: E731
    lines: dict = {}
    for g in groups:
        lines.setdefault(others(g), []).append(g)
    for ax, name in zip(axes, names):
        for label, members in lines.items():
            pts = sorted(((m["params"].get(x, 0), *m["measures"][name][:2]) for m in members
                          if name in m["measures"]), key=lambda t: str(t[0]) if
                         isinstance(t[0], list) else t[0])
            if not pts:
                continue
            xv, ys, ses = zip(*pts)
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xv)
            xs = np.array(xv, dtype=float) if numeric else np.arange(len(xv))
            ys, ses = np.array(ys, dtype=float), np.array(ses, dtype=float)
            if not numeric:  # list-valued parameters (a start point): label the positions
                ax.set_xticks(xs, [str(v) for v in xv], rotation=30, fontsize=7)
            ax.errorbar(xs, ys, yerr=np.nan_to_num(ses), fmt="o-", ms=4, capsize=3,
                        label=", ".join(f"{k}={v}" for k, v in label)[:40] or None)
        ax.set(xlabel=x or "", title=name)
        if len(lines) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
