"""Rows of :func:`dynsim.analysis.measure` for events and heavy tails: avalanche exponents of
sandpiles (events or streamed histograms), waiting times, and the update statistics of a training
run (update norms, per-layer histograms, reservoir samples, per-parameter waiting times).

Stationarity: event channels and streamed histograms are read through ``Trace.stationary(name)``
(the stationary part only) unless ``ctx.stationary_only`` is False (the whole run).

Avalanche exponents of a single system size (size, duration, area; events and histograms alike)
are fitted on a window [xmin, s_c] with s_c = <s^2>/<s> the cutoff scale estimated from the data
and xmin at least a decade below it (``min_decades=1``): a plain CSN scan of a finite system
settles in the cutoff, where a short steep tail fits best by KS (benchmarks/RESULTS.md has the
BTW numbers).  The window and its rule are recorded on the fit (``xmax``, ``xmax_rule``).  The
result is still a single-size, effective exponent; finite-size scaling (``analysis/fss.py``) gives
tau and D from several L.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from dynsim import references
from dynsim.analysis import events, powerlaw, tails
from dynsim.analysis.powerlaw.binned import fit_binned
from dynsim.analysis.powerlaw.window import CUTOFF_RULE, cutoff_scale, cutoff_scale_binned
from dynsim.analysis.results import Estimate

EVENT_MIN_DECADES = 1.0  # xmin candidates leave a tail of at least a decade (events and histograms)
BTW_CAVEAT = references.get("btw_2d_tau")["caveat"]
# system -> (the dimension d it applies to, the references.json key that holds the caveat)
CAVEAT_SYSTEMS = {"sandpile.btw": (2, "btw_2d_tau")}


def _caveat(tr) -> str:
    """The caveat on the avalanche exponents of ``tr``'s system (BTW in 2-D), else ""."""
    d, key = CAVEAT_SYSTEMS.get(tr.system, (None, None))
    return references.get(key)["caveat"] if key and tr.params.get("d") == d else ""


def _channel(tr, ctx, name):
    """Channel ``name``, stationary part only unless ``ctx.stationary_only`` is False."""
    if getattr(ctx, "stationary_only", True):
        return tr.stationary(name)
    return tr[name]


def _part(ctx) -> str:
    return "stationary part" if getattr(ctx, "stationary_only", True) else "whole run"


def _events_power_law(name):
    """Avalanche sizes, durations, areas: a window [xmin, s_c], s_c = <s^2>/<s>, xmin a decade or
    more below s_c (module docstring)."""
    def adapter(tr, ctx):
        x = np.asarray(_channel(tr, ctx, name))
        pos = x[x > 0]
        if pos.size == 0:
            return powerlaw.analyze_power_law(x, boot=0)
        sc = cutoff_scale(pos)
        kw = {}
        if sc > pos.min():
            kw = dict(xmax=float(np.floor(sc)) if np.issubdtype(x.dtype, np.integer) else sc,
                      xmax_rule=f"{CUTOFF_RULE} ({_part(ctx)})")
        return powerlaw.analyze_power_law(x, boot=ctx.boot, seed=ctx.seed,
                                          min_decades=EVENT_MIN_DECADES,
                                          caveat=_caveat(tr), **kw)
    return adapter


def _waiting(tr, ctx=None):
    """Waiting times between consecutive events of one process (per replica when several).
    Integer event times (drives, steps) keep an integer dtype, so the fits and the null are the
    discrete ones (geometric null, discrete MLE, the Bernoulli burstiness reference)."""
    t = np.asarray(_channel(tr, ctx, "events_time"))
    if "events_replica" in tr.channels:
        rep = np.asarray(_channel(tr, ctx, "events_replica"))
        parts = [np.diff(np.sort(t[rep == r])) for r in np.unique(rep)]
        w = np.concatenate(parts) if parts else np.zeros(0, t.dtype)
    else:
        w = np.diff(np.sort(t))
    return w[w > 0]


def _hist_fit(tr, ctx, kind, window: bool):
    counts = np.asarray(_channel(tr, ctx, f"events_{kind}_hist"))
    edges = np.asarray(tr[f"events_{kind}_hist_edges"], dtype=float)
    counts = counts.reshape(-1, counts.shape[-1]).sum(axis=0)
    kw = {}
    if window and counts.sum() > 0:
        sc = cutoff_scale_binned(counts, edges)
        if sc > edges[2]:
            kw["xmax"] = sc
    fit = fit_binned(counts, edges, min_decades=EVENT_MIN_DECADES, **kw)
    rule = (f"{CUTOFF_RULE} (bins at their geometric centres; {_part(ctx)})" if kw else
            f"the histogram's range ({_part(ctx)})")
    return replace(fit, xmax_rule=rule, caveat=_caveat(tr) if window else "")


def _events_hist(kind):
    """Binned-data MLE of a streamed avalanche histogram, on the same window rule as the events."""
    def adapter(tr, ctx):
        return _hist_fit(tr, ctx, kind, window=True)
    return adapter


def _waiting_hist(tr, ctx):
    """Binned-data MLE of the streamed waiting-time histogram (no cutoff window: a waiting time
    has no finite-size cutoff), with the tail-span rule of the event rows."""
    return _hist_fit(tr, ctx, "waiting", window=False)


def _waiting_burstiness(tr, ctx):
    w = _waiting(tr, ctx)
    return events.burstiness(w) if w.size >= 3 else None


def _waiting_memory(tr, ctx):
    w = _waiting(tr, ctx)
    return events.memory_coefficient(w) if w.size >= 5 else None


def _waiting_poisson(tr, ctx):
    """The memoryless null for the waiting times: bootstrap p of the KS distance to a fitted
    exponential, or to a geometric law for integer times (a Bernoulli process); small p: large
    events cluster or repel, they do not arrive at random."""
    w = _waiting(tr, ctx)
    if w.size < 20:
        return None
    test = events.exponential_null(w, boot=200, seed=ctx.seed)
    return Estimate(test.p_value, test.p_stderr, test.ci,
                    method=f"{test.method}; {test.direction}", n=test.n,
                    data={"ks": test.statistic, "null": test.null, "params": test.params})


def _update_avalanches(tr, ctx):
    """Avalanches of the per-step update norm above its 90% quantile: their sizes' power law."""
    ev = events.find_events(tr["update_norm"], quantile=0.9)
    if ev.n_events < 50:
        return None
    return powerlaw.analyze_power_law(ev.size[~ev.truncated], boot=ctx.boot, seed=ctx.seed,
                                      min_decades=1.0)


def _waiting_exponent(tr, ctx):
    w = _waiting(tr, ctx)
    return powerlaw.analyze_power_law(w, boot=ctx.boot, seed=ctx.seed,
                                      min_decades=EVENT_MIN_DECADES) if w.size >= 50 else None


def _overflow(tr) -> int:
    if "update_interval_overflow" not in tr.channels:
        return 0
    return int(np.asarray(tr["update_interval_overflow"]).sum())


def _interval_exponent(tr, ctx):
    """Binned MLE (Virkar & Clauset) of the per-parameter interval histogram; the histogram's range
    is the window, so intervals beyond it (``update_interval_overflow``) are outside the fit and
    counted in its rule."""
    counts = np.asarray(tr["update_interval_hist"])
    edges = np.asarray(tr["update_interval_hist_edges"], dtype=float)
    fit = fit_binned(counts.reshape(-1, counts.shape[-1]), edges)
    over = _overflow(tr)
    return replace(fit, xmax_rule=f"the histogram's range; {over} intervals > {edges[-1]:g} "
                                  "(update_interval_overflow) outside the window")


def _interval_hist_ls(tr, ctx):
    """Zhang & Tang's recipe on their binning (Zhang & Tang 2025; the key ``zhang_tang_bins``): the
    unit-width histogram merged into ``events.ZT_BINS`` equal linear bins over the recorded range (up
    to the longest observed interval), then the least-squares line.  Intervals beyond the histogram
    (``update_interval_overflow``) cannot be binned: they are counted in ``data``, and the range then
    ends at the histogram's end, not at the longest interval."""
    counts = np.asarray(tr["update_interval_hist"])
    counts = counts.reshape(-1, counts.shape[-1]).sum(0)
    edges = np.asarray(tr["update_interval_hist_edges"], dtype=float)
    merged, merged_edges, width = events.zt_rebin(counts, edges)
    est = events.interval_hist_fit_ls(merged, merged_edges)
    over = _overflow(tr)
    data = dict(est.data, bin_width=width, n_bins=int(merged.size),
                range=[float(merged_edges[0]), float(merged_edges[-1])],
                range_rule="the recorded range: up to the longest observed interval",
                overflow=over, overflow_rule=(f"{over} intervals longer than the histogram "
                                              f"({edges[-1]:g}) are not in any bin"))
    return replace(est, data=data,
                   method=est.method + f"; {merged.size} bins of width {width:g}"
                   + (f"; {over} intervals beyond the histogram not binned" if over else ""))


def _update_hill(tr, ctx):
    x = np.abs(np.asarray(tr["update_sample"], dtype=float)).ravel()
    x = x[x > 0]
    return tails.hill_estimator(x).estimate() if x.size >= 20 else None


def _update_hist(tr, ctx):
    return fit_binned(tr["update_hist"], tr["update_hist_edges"])


def _update_hist_layers(tr, ctx):
    """One binned-MLE fit per layer (pooled over windows) of ``update_hist`` (windows x layers x
    bins, shared edges): rows ``update_exponent[<layer>]``, layers named by
    ``meta['update_hist_layers']`` (else by index).  Only with two or more layers."""
    h = np.asarray(tr["update_hist"])
    if h.ndim != 3 or h.shape[1] < 2:
        return None
    names = list(tr.meta.get("update_hist_layers") or [])
    if len(names) != h.shape[1]:
        names = [str(i) for i in range(h.shape[1])]
    edges = tr["update_hist_edges"]
    return {f"update_exponent[{name}]": fit_binned(h[:, i, :], edges)
            for i, name in enumerate(names) if h[:, i, :].sum() > 0}


_HIST = ("events_hist_step",)
ROWS = [
    ("size_exponent", ("events_size",), _events_power_law("events_size")),
    ("duration_exponent", ("events_duration",), _events_power_law("events_duration")),
    ("area_exponent", ("events_area",), _events_power_law("events_area")),
    ("size_exponent_binned", ("events_size_hist", "events_size_hist_edges", *_HIST),
     _events_hist("size")),
    ("duration_exponent_binned", ("events_duration_hist", "events_duration_hist_edges", *_HIST),
     _events_hist("duration")),
    ("area_exponent_binned", ("events_area_hist", "events_area_hist_edges", *_HIST),
     _events_hist("area")),
    ("waiting_exponent_binned", ("events_waiting_hist", "events_waiting_hist_edges", *_HIST),
     _waiting_hist),
    ("waiting_burstiness", ("events_time",), _waiting_burstiness),
    ("waiting_memory", ("events_time",), _waiting_memory),
    ("waiting_exponent", ("events_time",), _waiting_exponent),
    ("waiting_poisson", ("events_time",), _waiting_poisson),
    ("update_avalanche_exponent", ("update_norm",), _update_avalanches),
    ("update_exponent", ("update_hist", "update_hist_edges"), _update_hist),
    ("update_exponent_layers", ("update_hist", "update_hist_edges"), _update_hist_layers),
    ("update_tail_hill", ("update_sample",), _update_hill),
    ("interval_exponent", ("update_interval_hist", "update_interval_hist_edges"),
     _interval_exponent),  # binned MLE (Virkar & Clauset)
    ("interval_exponent_ls", ("update_interval_hist", "update_interval_hist_edges"),
     _interval_hist_ls),  # Zhang & Tang's least squares, to compare like with like
]

__all__ = ["BTW_CAVEAT", "ROWS"]
