"""``measure(trace) -> Measures``: every measure whose channels a trace holds, by one table.

Each row names a measure, the channels it needs and an adapter from the trace to the pure function
in its analysis module.  A measure whose channels are absent is absent.  Adding a measure means
adding one row.  Resampling measures draw from a generator seeded by (trace seed, row index), so
``measure`` is a pure function of the trace.
"""

from __future__ import annotations

import math
from types import SimpleNamespace


import numpy as np

from dynsim.analysis import (dimension, events, lyapunov, orbits, pca, powerlaw, stability, tails,
                             walks)
from dynsim.analysis.powerlaw.binned import fit_binned
from dynsim.analysis.results import Estimate, Measures
from dynsim.rng import make_rng


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
    """Per component k: explained-variance ratio and |corr| with cos(pi k t/n), mean over walks,
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
            cc[:, j], method=f"|corr(PC{j + 1} projection, cos(pi {j + 1} t/n))|, mean over walks",
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


def _stationary_events(tr, name):
    """Event channel restricted to the stationary part (events_time >= meta stationary_from)."""
    x = tr[name]
    start = tr.meta.get("stationary_from")
    if start is not None and "events_time" in tr.channels:
        x = x[tr["events_time"] >= start]
    return x


def _events_power_law(name):
    """Avalanche sizes, durations, areas: xmin leaves at least a decade of tail, so the scan does
    not settle in the finite-size cutoff (a short steep tail there can fit best by KS)."""
    def adapter(tr, ctx):
        x = _stationary_events(tr, name)
        return powerlaw.analyze_power_law(x, boot=ctx.boot, seed=ctx.seed, min_decades=1.0)
    return adapter


def _waiting(tr):
    """Waiting times between consecutive events of one process (per replica when several)."""
    t = _stationary_events(tr, "events_time").astype(float)
    if "events_replica" in tr.channels:
        rep = _stationary_events(tr, "events_replica")
        w = np.concatenate([np.diff(np.sort(t[rep == r])) for r in np.unique(rep)])
    else:
        w = np.diff(np.sort(t))
    return w[w > 0]


def _events_hist(kind):
    """Binned-data MLE of a streamed avalanche histogram, stationary chunks only."""
    def adapter(tr, ctx):
        counts = np.asarray(tr[f"events_{kind}_hist"])
        start = tr.meta.get("stationary_from")
        if start is not None:
            counts = counts[np.asarray(tr["events_hist_step"]) >= start]
        return fit_binned(counts.sum(axis=0), tr[f"events_{kind}_hist_edges"])
    return adapter


def _waiting_burstiness(tr, ctx):
    w = _waiting(tr)
    return events.burstiness(w) if w.size >= 3 else None


def _waiting_memory(tr, ctx):
    w = _waiting(tr)
    return events.memory_coefficient(w) if w.size >= 5 else None


def _waiting_poisson(tr, ctx):
    """The Poisson null for the waiting times: bootstrap p of the KS distance to a fitted
    exponential (small p: large events cluster or repel, they do not arrive at random)."""
    w = _waiting(tr)
    if w.size < 20:
        return None
    test = events.exponential_null(w, boot=200, seed=ctx.seed)
    return Estimate.normal(test.p_value, test.p_stderr, method=f"{test.method}; {test.direction}",
                           n=test.n, data={"ks": test.statistic, "null": test.null,
                                           "params": test.params})


def _update_avalanches(tr, ctx):
    """Avalanches of the per-step update norm above its 90% quantile: their sizes' power law."""
    ev = events.find_events(tr["update_norm"], quantile=0.9)
    if ev.n_events < 50:
        return None
    return powerlaw.analyze_power_law(ev.size[~ev.truncated], boot=ctx.boot, seed=ctx.seed,
                                      min_decades=1.0)


def _waiting_exponent(tr, ctx):
    w = _waiting(tr)
    return powerlaw.analyze_power_law(w, boot=ctx.boot, seed=ctx.seed) if w.size >= 50 else None


def _interval_exponent(tr, ctx):
    counts = np.asarray(tr["update_interval_hist"])
    return fit_binned(counts.reshape(-1, counts.shape[-1]), tr["update_interval_hist_edges"])


ZT_BINS = 50  # Zhang & Tang's histograms: 50 equal linear bins over the recorded range


def _interval_hist_ls(tr, ctx):
    """Zhang & Tang's recipe on their binning: the unit-width histogram is merged into ZT_BINS
    equal linear bins before the least-squares line (REFERENCES.md item 10)."""
    counts = np.asarray(tr["update_interval_hist"])
    counts = counts.reshape(-1, counts.shape[-1]).sum(0)
    edges = np.asarray(tr["update_interval_hist_edges"], dtype=float)
    groups = np.array_split(np.arange(counts.size), ZT_BINS)
    merged = np.array([counts[g].sum() for g in groups])
    merged_edges = np.r_[[edges[g[0]] for g in groups], edges[-1]]
    return events.interval_hist_fit_ls(merged, merged_edges)


def _update_hill(tr, ctx):
    x = np.abs(np.asarray(tr["update_sample"], dtype=float)).ravel()
    x = x[x > 0]
    return tails.hill_estimator(x).estimate() if x.size >= 20 else None


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


def _update_hist(tr, ctx):
    return fit_binned(tr["update_hist"], tr["update_hist_edges"])


# name, channels needed, adapter(trace, ctx) -> result, {name: result} or None; ctx: rng, boot, seed
TABLE = [
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
    ("size_exponent", ("events_size",), _events_power_law("events_size")),
    ("duration_exponent", ("events_duration",), _events_power_law("events_duration")),
    ("area_exponent", ("events_area",), _events_power_law("events_area")),
    ("size_exponent_binned", ("events_size_hist", "events_size_hist_edges", "events_hist_step"),
     _events_hist("size")),
    ("duration_exponent_binned", ("events_duration_hist", "events_duration_hist_edges",
                                  "events_hist_step"), _events_hist("duration")),
    ("area_exponent_binned", ("events_area_hist", "events_area_hist_edges", "events_hist_step"),
     _events_hist("area")),
    ("waiting_burstiness", ("events_time",), _waiting_burstiness),
    ("waiting_memory", ("events_time",), _waiting_memory),
    ("waiting_exponent", ("events_time",), _waiting_exponent),
    ("waiting_poisson", ("events_time",), _waiting_poisson),
    ("update_avalanche_exponent", ("update_norm",), _update_avalanches),
    ("update_exponent", ("update_hist", "update_hist_edges"), _update_hist),
    ("update_tail_hill", ("update_sample",), _update_hill),
    ("interval_exponent", ("update_interval_hist", "update_interval_hist_edges"),
     _interval_exponent),  # binned MLE (Virkar & Clauset)
    ("interval_exponent_ls", ("update_interval_hist", "update_interval_hist_edges"),
     _interval_hist_ls),  # Zhang & Tang's least squares, to compare like with like
    ("stability", ("threshold",), _stability),
    ("sharpness", ("sharpness",), lambda tr, ctx: orbits.sharpness_summary(tr)),
    ("bifurcation", ("bifurcation_lr", "bifurcation_lyapunov", "bifurcation_lyapunov_se",
                     "bifurcation_diverged_at"), _bifurcation),
    ("lyapunov", ("jacobian",), _lyapunov),  # lyapunov_<i>, kaplan_yorke
    ("correlation_dimension", ("proj",), _correlation_dimension),
    ("participation_ratio", ("pca_explained",),
     lambda tr, ctx: dimension.participation_ratio(tr["pca_explained"])),
    ("norm_spread", ("vector_norm",), lambda tr, ctx: walks.norm_spread(tr["vector_norm"],
                                                                         tr.params["d"])),
    ("cosine_spread", ("vector_cosine",), lambda tr, ctx: walks.cosine_spread(tr["vector_cosine"],
                                                                               tr.params["d"])),
]


def measure(trace, only: list[str] | None = None, *, boot: int = 0) -> Measures:
    """Every measure of ``TABLE`` whose channels ``trace`` holds (or just those named in ``only``).
    A row that cannot be computed on this trace (a ValueError from its estimator) gives a result
    with NaN value, ``data['status'] = 'failed'`` and the reason, and the other rows still run.

    boot: bootstrap replicates for the power-law goodness of fit (0: fit and likelihood-ratio tests
    only, which is fast)."""
    known = [row[0] for row in TABLE]
    if only is not None:
        bad = sorted(set(only) - set(known))
        if bad:
            raise ValueError(f"unknown measure(s) {', '.join(bad)}; known: {', '.join(known)}")
    seed = trace.seed if isinstance(trace.seed, int) else 0
    results = {}
    for i, (name, needs, fn) in enumerate(TABLE):
        if only is not None and name not in only:
            continue
        if all(c in trace.channels for c in needs):
            rng = make_rng(seed, 7919, i)[1]
            ctx = SimpleNamespace(rng=rng, boot=boot, seed=int(rng.integers(2**62)))
            try:
                result = fn(trace, ctx)
            except ValueError as err:  # this row cannot be measured on this trace: say why
                result = Estimate(math.nan, math.nan, (math.nan, math.nan), f"failed: {err}", 0,
                                  data={"status": "failed", "reason": str(err)})
            if isinstance(result, dict):  # a row that yields a family of measures
                results.update(result)
            elif result is not None:
                results[name] = result
    return Measures(results, system=trace.system, seed=trace.seed)


__all__ = ["TABLE", "measure"]
