"""Figures of attractor measures: the correlation sum and its local slopes, the convergence of
Lyapunov exponents, and Rosenstein's divergence curve.  Each function draws from result objects
(:class:`~dynsim.analysis.dimension.DimensionEstimate`,
:class:`~dynsim.analysis.lyapunov.LyapunovSpectrum`, the Rosenstein
:class:`~dynsim.analysis.results.Estimate`) and returns a matplotlib Figure (no pyplot state).

What the panels show

* Correlation sum C(r) on log-log axes, the least-squares line ln C = D2 ln r + c drawn over the
  fitted window, and the window shaded.  Beside it the local slopes d ln C / d ln r (finite
  differences between neighbouring radii, at their geometric mean radius) with D2, the band
  D2 +- (slope SE + SD of the local slopes), and the reference value where there is one: a
  scaling region is a plateau of the local slopes.
* Lyapunov convergence: the running estimate lambda_i(n) = (1 / (n dt)) sum_(t < n) ln R_t[i, i]
  against the number n of steps averaged after the transient (log axis), one panel per exponent,
  with the final value and a funnel lambda_i +- 1.96 SE sqrt(N / n): the 95% band an average over
  n steps would have if the block-averaged SE of the N-step average scaled as 1 / sqrt(n) (true
  once n is much longer than the correlation time).  A running estimate that leaves the funnel
  late has not converged.
* Rosenstein: the mean log divergence y(k) = <ln |Y_(i+k) - Y_(j+k)|> of nearest-neighbour pairs
  against k, with the fitted line of slope lambda dt over the fit range.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from dynsim.analysis.results import Z95

MAX_EXPONENT_PANELS = 4  # beyond this many exponents, one shared panel


def _shade_window(ax, r_lo, r_hi, label=None):
    ax.axvspan(r_lo, r_hi, color="C2", alpha=0.12, lw=0, label=label)


def draw_correlation_sum(ax_c, ax_s, est, title: str = "") -> None:
    """Draw C(r) (into ``ax_c``) and the local slopes (into ``ax_s``) of a DimensionEstimate."""
    d = est.data
    r, c = np.asarray(d["radii"]), np.asarray(d["corr_sum"])
    a, b = d["window"]
    r_lo, r_hi = est.r_range
    _shade_window(ax_c, r_lo, r_hi, label=f"scaling region [{r_lo:.3g}, {r_hi:.3g}]")
    inside = np.zeros(r.size, dtype=bool)
    inside[a: b + 1] = True
    ax_c.loglog(r[~inside], c[~inside], "o", ms=3.5, mfc="none", color="0.45",
                label="C(r), outside the fit")
    ax_c.loglog(r[inside], c[inside], "o", ms=3.5, color="C0", label="C(r), fitted")
    # the least-squares line through the fitted points, slope D2
    lr, lc = np.log(r[inside]), np.log(c[inside])
    icpt = float(np.mean(lc - est.value * lr))
    grid = np.geomspace(r_lo, r_hi, 50)
    ax_c.loglog(grid, np.exp(icpt) * grid ** est.value, "C3-", lw=1.4,
                label=f"slope D2 = {est.value:.4g} ± {est.stderr:.2g} (fit SE + spread)")
    ax_c.set(xlabel="radius r", ylabel="C(r) (fraction of pairs within r)")
    ax_c.set_title(title or f"correlation sum: {est.n_points:,} points, Theiler window "
                            f"{est.theiler}", fontsize=9)
    ax_c.legend(fontsize=7.5, loc="upper left")

    rs, s = np.asarray(d["local_slope_radii"]), np.asarray(d["local_slopes"])
    _shade_window(ax_s, r_lo, r_hi, label="scaling region")
    ax_s.semilogx(rs, s, "o-", ms=3, lw=0.8, color="C0", label="local slope d ln C / d ln r")
    band = est.stderr  # fit SE + local-slope spread (DimensionEstimate.stderr)
    ax_s.fill_between([r_lo, r_hi], est.value - band, est.value + band, color="C3", alpha=0.2,
                      lw=0, label=f"D2 ± (SE + spread) = ± {band:.2g}")
    ax_s.hlines(est.value, r_lo, r_hi, color="C3", lw=1.4)
    if est.reference is not None:
        ax_s.axhline(est.reference, color="k", ls="--", lw=1,
                     label=f"reference {est.reference:g}"
                           + (f" ({est.reference_source})" if est.reference_source else ""))
    # keep the plateau readable: saturated and sparse ends can swing far
    lo, hi = np.nanpercentile(s, [2, 98]) if s.size > 4 else (np.nanmin(s), np.nanmax(s))
    lo, hi = min(lo, est.value - 3 * band), max(hi, est.value + 3 * band)
    if est.reference is not None:
        lo, hi = min(lo, est.reference), max(hi, est.reference)
    pad = 0.08 * (hi - lo if hi > lo else 1.0)
    ax_s.set_ylim(max(lo - pad, -0.2), hi + pad)
    ax_s.set(xlabel="radius r", ylabel="local slope",
             title=f"local slopes: D2 = {est.value:.4g} ± {est.fit_stderr:.2g} (fit) "
                   f"+ {est.spread:.2g} (spread)")
    ax_s.title.set_fontsize(9)
    ax_s.legend(fontsize=7.5, loc="best")


def draw_lyapunov_convergence(axes, spec, time_unit: str = "step") -> None:
    """Running estimates of each exponent of a LyapunovSpectrum, one axis per exponent (or all in
    ``axes[0]`` when there are fewer axes than exponents)."""
    steps = np.asarray(spec.data["convergence_step"], dtype=float)
    run = np.asarray(spec.data["convergence"], dtype=float)
    n_avg = steps - spec.transient                       # steps averaged at each checkpoint
    x = n_avg * spec.dt if time_unit == "time" else n_avg
    after = f" after a {spec.transient}-step transient" if spec.transient else ""
    shared = len(axes) < spec.d
    for i in range(spec.d):
        ax = axes[0] if shared else axes[i]
        color = f"C{i % 10}"
        lam, se = spec.exponents[i], spec.stderr[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            half = Z95 * se * np.sqrt(spec.n_steps / n_avg)
        ax.fill_between(x, lam - half, lam + half, color=color, alpha=0.15, lw=0,
                        label="95% funnel ± 1.96 SE sqrt(N/n)" if (i == 0 or not shared) else None)
        ax.plot(x, run[:, i], "-", color=color, lw=1.3,
                label=f"lambda_{i + 1} = {lam:.4g} ± {se:.2g}")
        ax.axhline(lam, color=color, lw=0.8, ls=":")
        if spec.reference is not None:
            ax.axhline(spec.reference[i], color="k", ls="--", lw=1,
                       label=f"reference {spec.reference[i]:g}" if (i == 0 or not shared) else None)
        ax.set_xscale("log")
        if not shared:
            # zoom on the last two decades of n: the first few steps swing far
            tail = run[n_avg >= max(spec.n_steps / 100, 10), i]
            tail = tail if tail.size else run[-1:, i]
            ref = [] if spec.reference is None else [spec.reference[i]]
            lo = min(np.min(tail), lam - 4 * Z95 * se, *ref)
            hi = max(np.max(tail), lam + 4 * Z95 * se, *ref)
            pad = 0.15 * (hi - lo if hi > lo else max(abs(lam), 1e-3))
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_title(f"lambda_{i + 1}: running estimate", fontsize=9)
        ax.set_xlabel(("time averaged, n dt" if time_unit == "time" else "steps averaged, n")
                      + after, fontsize=9)
        ax.set_ylabel("exponent" + (" per unit time" if spec.dt != 1 else " per step"))
        ax.legend(fontsize=7.5, loc="best")
    if shared:
        axes[0].set_title(f"Lyapunov exponents: running estimates ({spec.n_steps} steps, "
                          f"{spec.blocks} blocks)", fontsize=9)


def draw_rosenstein(ax, est) -> None:
    """Mean log divergence against k with the fitted line (a Rosenstein Estimate)."""
    d = est.data
    y = np.asarray(d["divergence"], dtype=float)
    k = np.arange(y.size)
    k0, k1 = d["fit_range"]
    dt = d.get("dt", 1.0)
    ok = np.isfinite(y)
    ax.axvspan(k0, k1 - 1, color="C2", alpha=0.12, lw=0, label=f"fit range k in [{k0}, {k1})")
    ax.plot(k[ok], y[ok], "o-", ms=3.5, lw=0.8, color="C0",
            label="<ln |Y(i+k) - Y(j+k)|> over neighbour pairs")
    kk = np.arange(k0, k1)
    fit_ok = np.isfinite(y[kk])
    if fit_ok.sum() >= 2:
        icpt = float(np.mean(y[kk][fit_ok] - est.value * dt * kk[fit_ok]))
        ax.plot(kk, icpt + est.value * dt * kk, "C3-", lw=1.4,
                label=f"slope: lambda_1 = {est.value:.4g} ± {est.stderr:.2g}"
                      + (f" (dt = {dt:g})" if dt != 1 else ""))
    if est.reference is not None:
        ax.set_title(f"Rosenstein divergence (reference lambda_1 = {est.reference:g})", fontsize=9)
    else:
        ax.set_title("Rosenstein divergence of nearest neighbours", fontsize=9)
    ax.set(xlabel="k (samples after the pair is formed)", ylabel="mean log distance")
    ax.legend(fontsize=7.5, loc="best")


def plot_attractor(dimension=None, spectrum=None, rosenstein=None, title: str = "",
                   time_unit: str = "step") -> Figure:
    """One figure with the panels the given results allow: correlation sum and local slopes
    (``dimension``: a DimensionEstimate), Lyapunov convergence (``spectrum``: a LyapunovSpectrum),
    Rosenstein's divergence (``rosenstein``: its Estimate).  ``time_unit``: "step" or "time"
    (x axis of the convergence panels in units of dt)."""
    if dimension is None and spectrum is None and rosenstein is None:
        raise ValueError("nothing to plot: no correlation dimension, Lyapunov spectrum or "
                         "Rosenstein estimate")
    rows = []
    if dimension is not None or rosenstein is not None:
        rows.append("top")
    if spectrum is not None:
        rows.append("lyap")
    n_top = (2 if dimension is not None else 0) + (1 if rosenstein is not None else 0)
    n_lyap = 0
    if spectrum is not None:
        n_lyap = spectrum.d if spectrum.d <= MAX_EXPONENT_PANELS else 1
    width = 5.2 * max(n_top, n_lyap, 2)
    fig = Figure(figsize=(width, 4.3 * len(rows)), layout="constrained")
    subs = fig.subfigures(len(rows), 1) if len(rows) > 1 else [fig]
    for row, sub in zip(rows, subs):
        if row == "top":
            axes = list(np.atleast_1d(sub.subplots(1, n_top)))
            if dimension is not None:
                draw_correlation_sum(axes[0], axes[1], dimension)
                axes = axes[2:]
            if rosenstein is not None:
                draw_rosenstein(axes[0], rosenstein)
        else:
            axes = list(np.atleast_1d(sub.subplots(1, n_lyap)))
            draw_lyapunov_convergence(axes, spectrum, time_unit=time_unit)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
