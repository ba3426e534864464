"""Rows of :func:`dynsim.analysis.measure` for dynamics: stability against the threshold,
sharpness, bifurcation sweeps, Lyapunov spectra and Kaplan-Yorke dimensions (``jacobian``), and
correlation dimensions of trajectories (``proj``)."""

from __future__ import annotations

import math

import numpy as np

from dynsim.analysis import dimension, lyapunov, orbits, stability


# classical parameters with published values (REFERENCES.md item 8): (exponents, KY, D2)
_MAP_REFERENCES = {
    ("map.henon", (("a", 1.4), ("b", 0.3))): ((0.4193, -1.6233), 1.2583, 1.21),
    ("map.lorenz", (("beta", 8 / 3), ("rho", 28.0), ("sigma", 10.0))): ((0.906, 0.0, -14.572),
                                                                        2.0622, None),
    ("map.logistic", (("r", 4.0),)): ((math.log(2),), None, None),
}


def _map_reference(tr):
    p = tr.params
    for (system, pairs), ref in _MAP_REFERENCES.items():
        if tr.system == system and all(abs(p.get(k, math.nan) - v) < 1e-12 for k, v in pairs):
            return ref
    return None, None, None


def _lyapunov(tr, ctx) -> dict | None:
    """Lyapunov exponents (QR/Benettin on the ``jacobian`` channel) and the Kaplan-Yorke dimension."""
    jac = tr["jacobian"]
    if jac.shape[0] < 200:
        return None
    lams, ky, _ = _map_reference(tr)
    spec = lyapunov.lyapunov_spectrum(jac, dt=tr.params.get("dt", 1.0),
                                      transient=min(1000, jac.shape[0] // 10), blocks=20,
                                      reference=lams, reference_source="REFERENCES.md item 8"
                                      if lams else "")
    out = {f"lyapunov_{i + 1}": spec.estimate(i) for i in range(spec.d)}
    if spec.d > 1:
        out["kaplan_yorke"] = lyapunov.kaplan_yorke_dimension(
            spec.exponents, cov=np.asarray(spec.cov), reference=ky,
            reference_source="REFERENCES.md item 8" if ky else "")
    return out


def _correlation_dimension(tr, ctx):
    x = np.asarray(tr["proj"], dtype=float)
    if x.ndim != 2 or x.shape[0] < 500:
        return None
    try:  # Theiler window: the decorrelation time of the first coordinate
        theiler = dimension.choose_delay(x[:, 0]).delay
    except ValueError:
        theiler = x.shape[0] // 10
    _, _, d2 = _map_reference(tr)
    try:
        return dimension.correlation_dimension(x, theiler=min(theiler, x.shape[0] // 2 - 1),
                                               seed=ctx.seed, reference=d2,
                                               reference_source="REFERENCES.md item 8" if d2 else "")
    except ValueError:  # no unsaturated scaling region in these points: the measure is absent
        return None


def _stability(tr, ctx):
    return stability.stability(tr)


def _bifurcation(tr, ctx):
    div = np.asarray(tr["bifurcation_diverged_at"]).copy()
    if "bifurcation_proj" in tr.channels:  # unbounded growth is divergence, not chaos
        for i, window in enumerate(tr["bifurcation_proj"]):
            if div[i] < 0 and orbits.is_growing(window):
                div[i] = 0
    try:
        return orbits.bifurcation_summary(tr["bifurcation_lr"], tr["bifurcation_lyapunov"][:, 0],
                                          tr["bifurcation_lyapunov_se"][:, 0], div)
    except ValueError:  # every run diverged
        return None


ROWS = [
    ("stability", ("threshold",), _stability),
    ("sharpness", ("sharpness",), lambda tr, ctx: orbits.sharpness_summary(tr)),
    ("bifurcation", ("bifurcation_lr", "bifurcation_lyapunov", "bifurcation_lyapunov_se",
                     "bifurcation_diverged_at"), _bifurcation),
    ("lyapunov", ("jacobian",), _lyapunov),  # lyapunov_<i>, kaplan_yorke
    ("correlation_dimension", ("proj",), _correlation_dimension),
]
