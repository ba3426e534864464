"""Rows of :func:`dynsim.analysis.measure` for dynamics: stability against the threshold,
sharpness, bifurcation sweeps, Lyapunov spectra and Kaplan-Yorke dimensions (``jacobian``), the
sharpness dimension (``jacobian``, or ``hessian_top`` with ``lr``), and correlation dimensions of
trajectories (``trajectory``).  Every attractor measure uses one window, rows.orbits.stationary_window."""

from __future__ import annotations

import math

import numpy as np

from dynsim import references
from dynsim.analysis import dimension, orbits
from dynsim.analysis.rows import orbits as trace_orbits
from dynsim.analysis.rows.stability import stability
from dynsim.analysis.results import Estimate


# classical parameters with published values: keys of dynsim/data/references.json for the
# exponents, the Kaplan-Yorke dimension and the correlation dimension D2 (None: no reference)
_MAP_REFERENCES = {
    ("map.henon", (("a", 1.4), ("b", 0.3))): ("henon_lyapunov", "henon_kaplan_yorke",
                                             "henon_correlation_dimension"),
    ("map.lorenz", (("beta", 8 / 3), ("rho", 28.0), ("sigma", 10.0))): (
        "lorenz_lyapunov", "lorenz_kaplan_yorke", None),
    ("map.logistic", (("r", 4.0),)): ("logistic_r4_lyapunov", None, None),
}


def _map_reference(tr):
    """(exponents, KY, D2) reference keys for a map run at its classical parameters, else Nones."""
    p = tr.params
    for (system, pairs), keys in _MAP_REFERENCES.items():
        if tr.system == system and all(abs(p.get(k, math.nan) - v) < 1e-12 for k, v in pairs):
            return keys
    return None, None, None


def _ref(key):
    """(value, source) of a reference key; (None, "") for None."""
    if key is None:
        return None, ""
    return references.value(key), references.source(key)


def _lyapunov(tr, ctx) -> dict | None:
    """Lyapunov exponents (QR/Benettin on the ``jacobian`` channel) and the Kaplan-Yorke dimension,
    over the stationary window (rows.orbits.lyapunov_of)."""
    lam_key, ky_key, _ = _map_reference(tr)
    (lams, lam_src), (ky, ky_src) = _ref(lam_key), _ref(ky_key)
    if lams is not None and not isinstance(lams, list):  # a 1-D map: one exponent
        lams = [lams]
    res = trace_orbits.lyapunov_of(tr, reference=lams, ky_reference=ky, reference_source=lam_src,
                                   ky_reference_source=ky_src)
    if not res:
        return None
    spec = res["lyapunov"]
    out = {f"lyapunov_{i + 1}": spec.estimate(i) for i in range(spec.d)}
    if "kaplan_yorke" in res:
        out["kaplan_yorke"] = res["kaplan_yorke"]
    return out


def _sharpness_dimension(tr, ctx):
    """Sharpness dimension (Tuci et al.; rows.orbits.sharpness_of)."""
    return trace_orbits.sharpness_of(tr).get("sharpness_dimension")


CONVERGED_TOL = 1e-6  # window diameter <= this x (1 + max |x|): a converged run, no attractor


def _correlation_dimension(tr, ctx):
    """D2 of ``trajectory`` over the stationary window (the rule of rows.orbits.stationary_window).  A run
    whose window has converged (diameter <= CONVERGED_TOL x (1 + max |x|)) or is still converging
    (orbits.converging: the last quarter spans < 1/10 of the first quarter's diameter) fails with that
    reason, as does any other ValueError of the estimator (measure() reports it); fewer than 500
    points in the window: absent."""
    proj = np.asarray(tr["trajectory"], dtype=float)
    if proj.ndim != 2:
        return None
    idx, rule = trace_orbits.stationary_window(tr, "trajectory")
    x = proj[idx]
    if x.shape[0] < 500:
        return None
    scale = 1.0 + float(np.abs(x).max())
    diameter = float(np.linalg.norm(x.max(axis=0) - x.min(axis=0)))
    if diameter <= CONVERGED_TOL * scale:
        raise ValueError(f"converged: the {x.shape[0]} points of the window ({rule}) span a "
                         f"diameter {diameter:.3g} <= {CONVERGED_TOL:g} x (1 + max |x|): no "
                         f"attractor to measure")
    why = orbits.converging(x)
    if why is not None:
        raise ValueError(f"{why} ({rule}): the points are an approach to a fixed point, not a "
                         f"stationary attractor")
    try:  # Theiler window: the decorrelation time of the first coordinate
        theiler = dimension.choose_delay(x[:, 0]).delay
    except ValueError:
        theiler = x.shape[0] // 10
    d2, d2_src = _ref(_map_reference(tr)[2])
    est = dimension.correlation_dimension(x, theiler=min(theiler, x.shape[0] // 2 - 1),
                                          seed=ctx.seed, reference=d2, reference_source=d2_src)
    est.data["stationary_window"] = rule
    return est


def _stability(tr, ctx):
    return stability(tr)


def _bifurcation(tr, ctx):
    """The largest exponent over the sweep and the onset of chaos; a run whose kept iterates grow
    counts as diverged (orbits.divergence_steps, the one rule)."""
    windows = tr["bifurcation_iterates"] if "bifurcation_iterates" in tr.channels else None
    div = orbits.divergence_steps(tr["bifurcation_diverged_at"], windows)
    try:
        return orbits.bifurcation_summary(tr["bifurcation_lr"], tr["bifurcation_lyapunov"][:, 0],
                                          tr["bifurcation_lyapunov_se"][:, 0], div)
    except ValueError:  # every run diverged
        return None


def _starts(tr, ctx) -> dict:
    """Many starts of one optimizer (eos.starts): the fraction that diverged (binomial SE), and
    over the others the last sharpness against the threshold, sharpness / threshold (mean and SE
    over starts; 1 is the edge of stability)."""
    div = np.asarray(tr["starts_diverged_at"]) >= 0
    r = div.size
    frac = float(div.mean())
    out = {"starts_diverged": Estimate.normal(
        frac, math.sqrt(max(frac * (1 - frac), 1.0 / r) / r), n=int(r),
        method="fraction of start points that diverged, binomial SE",
        data={"diverged": int(div.sum()), "starts": int(r)})}
    ratio = (np.asarray(tr["starts_sharpness"])[~div, -1]
             / np.asarray(tr["starts_threshold"])[~div])
    if ratio.size:
        se = ratio.std(ddof=1) / math.sqrt(ratio.size) if ratio.size > 1 else math.nan
        out["starts_sharpness_ratio"] = Estimate.normal(
            float(ratio.mean()), se, n=int(ratio.size),
            method="last sharpness / threshold of the starts that did not diverge, mean over starts",
            data={"min": float(ratio.min()), "max": float(ratio.max()),
                  "convention": tr.meta.get("threshold_convention")})
    return out


ROWS = [
    ("stability", ("threshold",), _stability),
    ("sharpness", ("sharpness",), lambda tr, ctx: trace_orbits.sharpness_summary(tr)),
    ("bifurcation", ("bifurcation_lr", "bifurcation_lyapunov", "bifurcation_lyapunov_se",
                     "bifurcation_diverged_at"), _bifurcation),
    ("starts", ("starts_diverged_at", "starts_sharpness", "starts_threshold"), _starts),
    ("lyapunov", ("jacobian",), _lyapunov),  # lyapunov_<i>, kaplan_yorke
    ("sharpness_dimension", ("lr",), _sharpness_dimension),
    ("correlation_dimension", ("trajectory",), _correlation_dimension),
]
