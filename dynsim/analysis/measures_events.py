"""Rows of :func:`dynsim.analysis.measure` for events and heavy tails: avalanche exponents of
sandpiles (events or streamed histograms, stationary part only), waiting times, and the update
statistics of a training run (update norms, per-layer histograms, reservoir samples,
per-parameter waiting times)."""

from __future__ import annotations

import numpy as np

from dynsim.analysis import events, powerlaw, tails
from dynsim.analysis.powerlaw.binned import fit_binned
from dynsim.analysis.results import Estimate


def _events_power_law(name):
    """Avalanche sizes, durations, areas: xmin leaves at least a decade of tail, so the scan does
    not settle in the finite-size cutoff (a short steep tail there can fit best by KS)."""
    def adapter(tr, ctx):
        x = tr.stationary(name)
        return powerlaw.analyze_power_law(x, boot=ctx.boot, seed=ctx.seed, min_decades=1.0)
    return adapter


def _waiting(tr):
    """Waiting times between consecutive events of one process (per replica when several)."""
    t = tr.stationary("events_time").astype(float)
    if "events_replica" in tr.channels:
        rep = tr.stationary("events_replica")
        w = np.concatenate([np.diff(np.sort(t[rep == r])) for r in np.unique(rep)])
    else:
        w = np.diff(np.sort(t))
    return w[w > 0]


def _events_hist(kind):
    """Binned-data MLE of a streamed avalanche histogram, stationary chunks only."""
    def adapter(tr, ctx):
        counts = np.asarray(tr.stationary(f"events_{kind}_hist"))
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



def _update_hist(tr, ctx):
    return fit_binned(tr["update_hist"], tr["update_hist_edges"])


ROWS = [
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
]
