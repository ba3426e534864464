"""Figures of power-law fits: the data with the fitted tail, and the xmin scan (is the fit stable?)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from dynsim.analysis.powerlaw.fit import PowerLawFit


def _tail_ccdf(fit: PowerLawFit, x: np.ndarray) -> np.ndarray:
    """P(X >= x | X >= xmin) of the fitted law (windows: renormalised)."""
    if fit.xmax is not None:
        from dynsim.analysis.powerlaw.window import window_cdf

        return 1.0 - window_cdf(x - (1 if fit.discrete else 0), fit.alpha, fit.xmin, fit.xmax,
                                fit.discrete)
    if fit.discrete:
        from scipy.special import zeta

        return zeta(fit.alpha, x) / zeta(fit.alpha, fit.xmin)
    return (x / fit.xmin) ** (1.0 - fit.alpha)


def alpha_band(fit: PowerLawFit) -> np.ndarray:
    """The SE of alpha at each xmin candidate: the fit's own per-candidate SE (the discrete Fisher
    SE 1/sqrt(n [zeta''/zeta - (zeta'/zeta)^2]) for discrete fits, Clauset, Shalizi & Newman 2009;
    the key ``discrete_powerlaw_se_ratio``), and the continuous (alpha - 1)/sqrt(n) only for a scan
    that does not carry one."""
    scan = fit.scan
    if "stderr" in scan:
        return np.asarray(scan["stderr"], dtype=float)
    return (np.asarray(scan["alpha"]) - 1) / np.sqrt(np.asarray(scan["n_tail"], dtype=float))


def plot_power_law(x, fit: PowerLawFit, title: str = "") -> Figure:
    """Three panels: rank plot (CCDF of all data) with the fitted tail, log-binned density with the
    fitted density, and alpha and KS against the xmin candidates."""
    data = np.asarray(x, dtype=float).ravel()
    data = np.sort(data[data > 0])
    n = data.size
    fig = Figure(figsize=(14, 4.2))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    if fit.discrete:  # one point per distinct value: P(X >= v)
        values, first = np.unique(data, return_index=True)
        ax1.loglog(values, 1.0 - first / n, ".", ms=3, color="0.4", label=f"data (n={n})")
    else:
        ax1.loglog(data, 1.0 - np.arange(n) / n, ".", ms=2, color="0.4", label=f"data (n={n})")
    if fit.ok:
        grid = np.unique(np.geomspace(fit.xmin, fit.xmax or data.max(), 200))
        if fit.discrete:
            grid = np.unique(np.round(grid))
        frac = fit.n_tail / n
        beyond = 0.0 if fit.xmax is None else float(np.sum(data > fit.xmax)) / n
        ax1.loglog(grid, frac * _tail_ccdf(fit, grid) + beyond, "r-", lw=1.5,
                   label=f"fit alpha={fit.alpha:.3f}±{fit.stderr:.3f}")
        ax1.axvline(fit.xmin, color="r", ls=":", lw=1, label=f"xmin={fit.xmin:g}")
    ax1.set(xlabel="x", ylabel="P(X >= x)", title=title or "rank plot (CCDF of all data)")
    ax1.legend(fontsize=8)

    edges = np.geomspace(data[0], data[-1] * 1.0001, 40)
    if fit.discrete:  # bins of whole integers: [lo, hi) with lo, hi integers
        edges = np.unique(np.floor(np.geomspace(data[0], data[-1] + 1, 40)))
        width = np.diff(edges)
        centre = np.sqrt(edges[:-1] * (edges[1:] - 1))
    else:
        width = np.diff(edges)
        centre = np.sqrt(edges[1:] * edges[:-1])
    h, _ = np.histogram(data, edges)
    dens = h / (width * n)
    ax2.loglog(centre[h > 0], dens[h > 0], "o", ms=4, color="0.3", label="log-binned density")
    if fit.ok:
        grid = np.geomspace(fit.xmin, fit.xmax or data.max(), 100)
        frac = fit.n_tail / n
        if fit.discrete:
            grid = np.unique(np.round(grid))
            pmf = _tail_ccdf(fit, grid) - _tail_ccdf(fit, grid + 1)
            ax2.loglog(grid, frac * pmf, "r-", lw=1.5, label="fitted tail")
        else:
            pdf = (fit.alpha - 1) / fit.xmin * (grid / fit.xmin) ** -fit.alpha
            if fit.xmax is not None:
                pdf = pdf / (1 - (fit.xmax / fit.xmin) ** (1 - fit.alpha))
            ax2.loglog(grid, frac * pdf, "r-", lw=1.5, label="fitted tail")
    ax2.set(xlabel="x", ylabel="p(x)", title="log-binned density")
    ax2.legend(fontsize=8)

    scan = fit.scan
    if scan and len(scan.get("xmin", ())) > 1:
        xm, a, ks = scan["xmin"], scan["alpha"], scan["ks"]
        se = alpha_band(fit)
        ax3.fill_between(xm, a - se, a + se, color="C0", alpha=0.2)
        ax3.plot(xm, a, "C0-", lw=1, label="alpha(xmin) ± SE")
        ax3.set_xscale("log")
        ax3.set(xlabel="xmin candidate", ylabel="alpha", title=fit.candidates_rule[:60])
        ax3.title.set_fontsize(8)
        twin = ax3.twinx()
        twin.plot(xm, ks, "C1-", lw=1, label="KS distance")
        twin.set_ylabel("KS distance", color="C1")
        ax3.axvline(fit.xmin, color="r", ls=":", lw=1)
        ax3.legend(fontsize=8, loc="upper left")
    else:
        ax3.text(0.5, 0.5, "xmin fixed: no scan", ha="center", va="center", transform=ax3.transAxes)
    fig.tight_layout()
    return fig


def plot_collapse(collapsed: dict, tau: float, D: float) -> Figure:
    """Data collapse s^tau P(s) against s / L^D, one curve per L (from :func:`fss.collapse`)."""
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    for L, (x, y) in collapsed.items():
        ax.loglog(x, y, "o-", ms=3, lw=0.8, label=f"L={L}")
    ax.set(xlabel="s / L^D", ylabel="s^tau P(s)", title=f"collapse with tau={tau:.3f}, D={D:.3f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_hill(hill) -> Figure:
    """The Hill plot: alpha(k) with its ~1 SE band against the number k of upper order statistics,
    the chosen k marked (is the tail index stable?)."""
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    k, a, se = np.asarray(hill.k), np.asarray(hill.alpha_k), np.asarray(hill.stderr_k)
    ax.fill_between(k, a - se, a + se, color="C0", alpha=0.2)
    ax.plot(k, a, "C0-", lw=1, label="Hill alpha(k) ± SE")
    ax.axvline(hill.k_chosen, color="r", ls=":", label=f"k={hill.k_chosen}: alpha={hill.value:.3f}"
               f"±{hill.stderr:.3f}")
    ax.set(xscale="log", xlabel="k (upper order statistics)", ylabel="tail index alpha",
           title="Hill plot")
    lo, hi = np.nanpercentile(a[k >= 10], [5, 95]) if np.any(k >= 10) else (a.min(), a.max())
    ax.set_ylim(lo - 0.5 * (hi - lo) - 0.1, hi + 0.5 * (hi - lo) + 0.1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
