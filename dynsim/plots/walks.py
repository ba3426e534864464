"""Figures of the random-walk family.  Each function returns a matplotlib Figure (no pyplot)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from dynsim.analysis import pca as pca_theory
from dynsim.analysis import walks as theory


def plot_distance(trace, measures) -> Figure:
    """Distances from the origin against n (log-log) beside the theory, and RMS / theory."""
    n = trace["dist_step"].astype(float)
    d = trace.params["d"]
    gaussian = trace.system == "walk.gaussian"
    sigma2 = trace.params.get("step_std", 1.0) ** 2 if gaussian else 1.0 / d
    expected = np.sqrt(n * d * sigma2)
    fig = Figure(figsize=(11, 4.2))
    ax, ax2 = fig.subplots(1, 2)
    q = trace["dist_quantiles"]
    ax.fill_between(n, q[:, 0], q[:, 4], color="C0", alpha=0.15, label="|X_n|: 5-95% of walkers")
    ax.plot(n, np.sqrt(trace["dist_sq_mean"]), "C0o", ms=3, label="RMS |X_n|")
    ax.plot(n, trace["dist_median"], "C1s", ms=3, label="median |X_n|")
    ax.plot(n, trace["linf_mean"], "C2^", ms=3, label="mean max_i |x_i|")
    ax.plot(n, np.sqrt(trace["coord_sq_mean"]), "C3v", ms=3, label="RMS of one coordinate")
    ax.plot(n, expected, "k-", lw=1, label=f"sqrt(E|X_n|^2) = {'sqrt(n d) s' if gaussian else 'sqrt(n)'}")
    ax.plot(n, np.sqrt(n * d), "k--", lw=1, label="sqrt(n d) (the claim)")
    ax.plot(n, np.sqrt(n * sigma2), "k:", lw=1, label="per coordinate sqrt(n/d)" if not gaussian
            else "per coordinate sqrt(n) s")
    ax.set(xscale="log", yscale="log", xlabel="step n", ylabel="distance from the origin",
           title=f"{'Gaussian' if gaussian else 'lattice'} walk, d = {d}, "
                 f"{trace.params['walkers']} walkers")
    ax.legend(fontsize=7, loc="upper left")
    m2 = trace["dist_sq_mean"]
    se = np.sqrt(np.diag(trace["dist_sq_cov"]) / trace.params["walkers"])
    ratio = np.sqrt(m2) / expected
    band = 1.96 * se / (2 * np.sqrt(m2)) / expected
    ax2.fill_between(n, ratio - band, ratio + band, color="C0", alpha=0.3, label="95% interval")
    ax2.plot(n, ratio, "C0o-", ms=3, label="RMS |X_n| / sqrt(E|X_n|^2)")
    ax2.axhline(1.0, color="k", lw=1)
    ax2.set(xscale="log", xlabel="step n", ylabel="ratio")
    if "distance_exponent" in measures:
        b = measures["distance_exponent"]
        ax2.set_title(f"RMS ~ n^b: b = {b.value:.4f} ± {b.stderr:.4f} (theory 0.5)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_returns(traces: dict, measures: dict) -> Figure:
    """Fraction returned by n against the exact finite-n curve, and the extrapolated Polya p(d)."""
    fig = Figure(figsize=(11, 4.2))
    ax, ax2 = fig.subplots(1, 2)
    for i, (d, tr) in enumerate(sorted(traces.items())):
        n = tr.params["steps"]
        m = np.unique(np.round(np.geomspace(2, n, 60)).astype(int))
        color = f"C{i % 10}"
        ax.plot(m, theory.return_curve(tr["first_return"], m), "o", ms=2.5, color=color,
                label=f"d={d}")
        if n <= theory.EXACT_MAX_STEPS:
            exact = theory.return_fraction_exact(d, n)
            ax.plot(np.arange(2, n + 1, 2), exact[2::2], "-", lw=0.8, color=color)
        ax.axhline(theory.polya_return_probability(d), color=color, ls=":", lw=0.8)
        est = measures[d].get("return_probability")
        frac = measures[d]["return_fraction"]
        if est is not None:
            ax2.errorbar(d, est.value, yerr=[[est.value - est.ci[0]], [est.ci[1] - est.value]],
                         fmt="o", color=color, capsize=3)
        else:
            ax2.errorbar(d, frac.value, yerr=1.96 * frac.stderr, fmt="s", color=color, capsize=3,
                         mfc="none")
        ax2.plot(d, theory.polya_return_probability(d), "k_", ms=14, mew=2)
    ax.set(xscale="log", xlabel="step n", ylabel="fraction of walkers returned by n",
           title="simulated (dots), exact finite n (lines), Polya limit (dotted)")
    ax.legend(fontsize=7, ncol=2)
    ax2.set(xlabel="dimension d", ylabel="return probability",
            title="extrapolated p(d) with 95% CI (o), exact p(d) (—);\n"
                  "d <= 2: fraction by n (□), limit 1")
    ax2.set_ylim(0, 1.05)
    fig.tight_layout()
    return fig


def plot_pca(trace, measures) -> Figure:
    """Explained variance per component against theory, the Lissajous curve, and the cosines."""
    ex = trace["pca_explained"]
    p = trace.params
    k = ex.shape[1]
    fig = Figure(figsize=(13, 4))
    ax, ax2, ax3 = fig.subplots(1, 3)
    ks = np.arange(1, k + 1)
    ax.bar(ks, ex.mean(axis=0), yerr=ex.std(axis=0), color="C0", alpha=0.7, capsize=3,
           label=f"measured: mean ± SD over {ex.shape[0]} walks")
    ax.plot(ks, pca_theory.walk_pca_theory(p["steps"], k), "kD", ms=5,
            label="d >> n theory at this n")
    ax.plot(ks, pca_theory.walk_pca_limit(k), "r_", ms=16, mew=2, label="6 / (pi^2 k^2)")
    ax.set(xlabel="principal component k", ylabel="explained variance ratio",
           title=f"{'lattice' if p['lattice'] else 'Gaussian'} walk: d = {p['d']}, n = {p['steps']}")
    ax.legend(fontsize=7)
    proj = trace["pca_scores"]
    if proj.shape[1] >= 2:
        ax2.plot(proj[:, 0], proj[:, 1], lw=0.7)
        ax2.set(xlabel="PC1", ylabel="PC2", title="walk 0 projected on PC1-PC2")
    t = np.arange(proj.shape[0]) / (proj.shape[0] - 1)
    for i in range(min(3, proj.shape[1])):
        y = proj[:, i] / (np.abs(proj[:, i]).max() or 1.0)
        c = np.cos(np.pi * (i + 1) * t)
        sign = np.sign(np.dot(y - y.mean(), c)) or 1.0
        ax3.plot(t, sign * y + 2.2 * i, color=f"C{i}", lw=0.8, label=f"PC{i + 1}")
        ax3.plot(t, c + 2.2 * i, "k--", lw=0.6)
    ax3.set(xlabel="t / n", yticks=[], title="projections (colour) vs cos(pi k t / n) (dashed)")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_peaks(trace, measures) -> Figure:
    """Peak fraction of each landscape, its mean with 95% CI, and the i.i.d. reference."""
    f = trace["peak_fraction"]
    est = measures["peak_fraction"]
    p = trace.params
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(np.arange(1, f.size + 1), f, "o", ms=4, label="one landscape each")
    ax.axhspan(est.ci[0], est.ci[1], color="C0", alpha=0.2, label="mean, 95% CI")
    ax.axhline(est.value, color="C0")
    if est.reference is not None:
        ax.axhline(est.reference, color="k", ls="--", label=f"exact {est.reference:.4g}")
    ax.set(xlabel="landscape", ylabel="fraction of strict local maxima",
           title=f"d={p['d']}, side={p['side']}, levels={p['levels'] or 'continuous'}, "
                 f"neighbours={p['neighbours']}{', top only' if p['top_only'] else ''}"
                 f"{', smoothed x' + str(p['smooth']) if p['smooth'] else ''}")
    ax.title.set_fontsize(8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
