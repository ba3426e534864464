"""Rows of :func:`dynsim.analysis.measure` for random walks (``walk.*``): distances, returns,
PCA, peaks and near-orthogonality.  Each adapter turns a trace into a result of
:mod:`dynsim.analysis.walks`, :mod:`~dynsim.analysis.pca` or :mod:`~dynsim.analysis.dimension`."""

from __future__ import annotations

import math

from dynsim.analysis import dimension, pca, walks
from dynsim.analysis.results import Estimate


def _walk_theory(trace) -> tuple[float, float, str]:
    """(variance per coordinate at the last step, E|X_n|^2, source) for a walk trace."""
    p, n = trace.params, int(trace["dist_step"][-1])
    if trace.system == "walk.gaussian":
        var = n * p["step_std"] ** 2
        return var, var * p["d"], f"Gaussian steps: E|X_n|^2 = n d step_std^2 = {var * p['d']:g}"
    return n / p["d"], float(n), "unit lattice steps: E|X_n|^2 = n"


def _distance_exponent(tr, ctx):
    return walks.distance_exponent(tr["dist_step"], tr["dist_sq_mean"], tr["dist_sq_cov"],
                                   tr.params["walkers"])


def _rms_distance(tr, ctx):
    _, expected, src = _walk_theory(tr)
    return walks.rms_distance(tr["dist_step"][-1], tr["dist_sq_mean"][-1], tr["dist_sq_cov"][-1, -1],
                              tr.params["walkers"], expected, src)


def _limit_source(tr, what: str) -> str:
    if tr.system == "walk.gaussian":
        return f"{what} of X_n ~ N(0, n step_std^2 I) (exact)"
    return f"Gaussian large-n limit of the {what}"


def _coordinate_args(tr, mean_key, spread_key):
    var, _, _ = _walk_theory(tr)
    return (tr["dist_step"][-1], tr[mean_key][-1], tr[spread_key][-1], tr.params["walkers"], var,
            tr.params["d"], tr.system == "walk.gaussian")


def _mean_distance(tr, ctx):
    return walks.mean_distance(*_coordinate_args(tr, "dist_mean", "dist_sd"),
                               _limit_source(tr, "mean |X_n|"))


def _median_distance(tr, ctx):
    var, _, _ = _walk_theory(tr)
    return walks.median_distance(tr["dist_step"][-1], tr["dist_median"][-1], tr["dist_median_lo"][-1],
                                 tr["dist_median_hi"][-1], tr.params["walkers"], var,
                                 tr.params["d"], tr.system == "walk.gaussian",
                                 _limit_source(tr, "median |X_n|"))


def _linf_distance(tr, ctx):
    return walks.linf_distance(*_coordinate_args(tr, "linf_mean", "linf_sd"),
                               _limit_source(tr, "mean max_i |x_i|"))


def _coord_rms(tr, ctx):
    var, _, _ = _walk_theory(tr)
    return walks.rms_distance(tr["dist_step"][-1], tr["coord_sq_mean"][-1], tr["coord_sq_sd"][-1] ** 2,
                              tr.params["walkers"], var, "per-coordinate variance at step n", "x_1(n)^2")


def _return_fraction(tr, ctx):
    return walks.return_fraction(tr["first_return"], tr.params["steps"], tr.params["d"])


def _return_probability(tr, ctx):
    d, n = tr.params["d"], tr.params["steps"]
    if d < 3 or n < 200:
        return None
    return walks.return_probability(tr["first_return"], n, d, rng=ctx.rng)


def _mean_over_walks(vals, **kw) -> Estimate:
    se = vals.std(ddof=1) / math.sqrt(vals.size) if vals.size > 1 else math.nan
    return Estimate.normal(vals.mean(), se, n=int(vals.size),
                           data={"sd_over_walks": float(vals.std(ddof=1)) if vals.size > 1
                                 else math.nan, **kw.pop("data", {})}, **kw)


def _pca(tr, ctx) -> dict:
    """Per component k: explained-variance ratio and |corr| with cos(pi k (t + 1/2)/T), mean over walks,
    against the d >> n theory where it applies (d >= 20 n); also PC1 + PC2."""
    ex, cc, p = tr["pca_explained"], tr["pca_cos_corr"], tr.params
    k = ex.shape[1]
    regime = p["d"] >= 20 * p["steps"]
    theory = pca.walk_pca_theory(p["steps"], k)
    limit = pca.walk_pca_limit(k)
    src = ("d >> n theory: lambda_k = 1/(4 sin^2(pi k/(2(n+1))))" if regime
           else "none: the d >> n theory needs d >= 20 n")
    out = {}
    for j in range(k):
        out[f"pca_explained_{j + 1}"] = _mean_over_walks(
            ex[:, j], method=f"PC{j + 1} explained-variance ratio, mean over walks",
            reference=float(theory[j]) if regime else None, reference_source=src,
            data={"theory_at_n": float(theory[j]), "limit_6_over_pi2k2": float(limit[j])})
    if k > 1:
        out["pca_explained_12"] = _mean_over_walks(
            ex[:, :2].sum(axis=1), method="PC1+PC2 explained variance, mean over walks",
            reference=float(theory[:2].sum()) if regime else None, reference_source=src,
            data={"theory_at_n": float(theory[:2].sum()), "limit": float(limit[:2].sum())})
    for j in range(k):
        out[f"pca_cos_corr_{j + 1}"] = _mean_over_walks(
            cc[:, j], method=f"|corr(PC{j + 1} projection, cos(pi {j + 1} (t + 1/2)/T))|, mean over walks",
            reference=None, reference_source="tends to 1 in the d >> n limit (no finite-n value)")
    return out


def _peak_fraction(tr, ctx):
    p = tr.params
    if p["smooth"]:
        ref, src = None, "none: smoothed field (no exchangeability oracle)"
    else:
        ref = walks.peak_probability(p["d"], p["levels"], p["neighbours"], p["top_only"])
        src = "i.i.d. heights: exchangeability over the site and its neighbours"
    return walks.peak_fraction(tr["peak_fraction"], ref, src)


ROWS = [
    ("distance_exponent", ("dist_step", "dist_sq_mean", "dist_sq_cov"), _distance_exponent),
    ("rms_distance", ("dist_step", "dist_sq_mean", "dist_sq_cov"), _rms_distance),
    ("mean_distance", ("dist_step", "dist_mean", "dist_sd"), _mean_distance),
    ("median_distance", ("dist_step", "dist_median", "dist_median_lo", "dist_median_hi"),
     _median_distance),
    ("coord_rms", ("dist_step", "coord_sq_mean", "coord_sq_sd"), _coord_rms),
    ("linf_distance", ("dist_step", "linf_mean", "linf_sd"), _linf_distance),
    ("return_fraction", ("first_return",), _return_fraction),
    ("return_probability", ("first_return",), _return_probability),
    ("pca", ("pca_explained", "pca_cos_corr"), _pca),  # pca_explained_<k>, _12, pca_cos_corr_<k>
    ("peak_fraction", ("peak_fraction",), _peak_fraction),
    ("participation_ratio", ("pca_explained",),
     lambda tr, ctx: dimension.participation_ratio(tr["pca_explained"])),
    ("norm_spread", ("vector_norm",), lambda tr, ctx: walks.norm_spread(tr["vector_norm"],
                                                                         tr.params["d"])),
    ("cosine_spread", ("vector_cosine",), lambda tr, ctx: walks.cosine_spread(tr["vector_cosine"],
                                                                               tr.params["d"])),
]
