"""measure(trace) on event and update channels: the rows that tie the analyzer to any producer."""

import numpy as np
import pytest

from dynsim import references
from dynsim.analysis import measure
from dynsim.analysis.powerlaw import fit_power_law, sample_power_law
from dynsim.analysis.tails import hill_estimator
from dynsim.plots.powerlaw import plot_hill
from dynsim.trace import make_trace

K = 3.0
ZT_BINS = references.value("zhang_tang_bins")  # Zhang & Tang's linear bins


def test_event_channels_give_exponents_on_the_stationary_part():
    r = np.random.default_rng(0)
    transient = np.full(2000, 7)  # a transient of identical avalanches that must be left out
    sizes = np.concatenate([transient, sample_power_law(8000, 1.6, 1, True, r).astype(int)])
    times = np.arange(sizes.size, dtype=float)
    tr = make_trace("test.events", {}, 1, {"events_size": sizes, "events_time": times},
                    stationary_from=2000)
    m = measure(tr)
    fit = m["size_exponent"].fit
    assert fit.n_total == 8000 and abs(fit.alpha - 1.6) < K * fit.stderr
    assert m["waiting_burstiness"].value == -1.0  # equally spaced drives: periodic
    assert set(m.headline()) >= {"size_exponent", "waiting_burstiness", "waiting_memory"}


def test_update_channels():
    r = np.random.default_rng(1)
    edges = np.geomspace(1, 1e5, 41)
    hist = np.stack([np.histogram(sample_power_law(50_000, 2.2, 1.0, False, r), edges)[0]
                     for _ in range(3)])
    tr = make_trace("test.updates", {}, 2, {"update_hist": hist[:, None, :],
                                            "update_hist_edges": edges,
                                            "update_sample": r.pareto(1.5, 20_000) + 1})
    m = measure(tr)
    assert abs(m["update_exponent"].alpha - 2.2) < K * m["update_exponent"].stderr
    hill = m["update_tail_hill"]
    assert abs(hill.value - 1.5) < K * hill.stderr, hill  # exact Pareto: Hill is unbiased at any k


def test_hill_plot_draws(tmp_path):
    h = hill_estimator(np.random.default_rng(2).pareto(2.0, 5000) + 1)
    plot_hill(h).savefig(tmp_path / "hill.png")
    assert (tmp_path / "hill.png").stat().st_size > 10_000


def test_waiting_poisson_and_update_avalanches_rows():
    r = np.random.default_rng(3)
    tr = make_trace("test.signal", {}, 5, {"events_time": np.cumsum(r.exponential(3, 3000)),
                                           "update_norm": np.abs(r.standard_t(2, 20_000))})
    m = measure(tr)
    assert m["waiting_poisson"].value > 0.01  # Poisson arrivals: the null stands
    assert 0.0 <= m["waiting_poisson"].ci[0] and m["waiting_poisson"].ci[1] <= 1.0
    # periodic drives reject the null: p = 1/201, and its interval stays inside [0, 1]
    per = measure(make_trace("test.periodic", {}, 5, {"events_time": np.arange(300) * 3.0}),
                  only=["waiting_poisson"])["waiting_poisson"]
    assert per.value < 0.01 and per.ci[0] == 0.0 and per.value - 1.96 * per.stderr < 0
    assert "exponential" in m["waiting_poisson"].data["null"]
    assert m["update_avalanche_exponent"].fit.ok


def test_a_row_that_cannot_be_measured_reports_why():
    tr = make_trace("test.bad", {}, 1, {"events_size": np.array([1, 2, 3]),
                                        "threshold": np.array([1.0]), "sharpness": np.array([2.0])})
    m = measure(tr)
    assert m["stability"].data["status"] == "failed" and "threshold_convention" in m["stability"].method
    assert not m["size_exponent"].fit.ok


def test_integer_waiting_times_of_a_bernoulli_process_use_the_discrete_null():
    # events at each step with probability p = 0.2 (a Bernoulli process), 100000 steps, integer
    # times: geometric intervals, burstiness reference (sqrt(1-p)-1)/(sqrt(1-p)+1) = -0.0557, not 0
    p = 0.2
    t = np.flatnonzero(np.random.default_rng(4).random(100_000) < p).astype(np.int64)
    tr = make_trace("test.bernoulli", {}, 7, {"events_time": t})
    m = measure(tr)
    b = m["waiting_burstiness"]
    ref = (np.sqrt(1 - p) - 1) / (np.sqrt(1 - p) + 1)
    assert abs(b.reference - ref) < 0.003 and "Bernoulli" in b.reference_source
    assert abs(b.value - b.reference) <= K * b.stderr, b
    assert abs(b.value) > K * b.stderr  # a continuous reference of 0 would be rejected
    pois = m["waiting_poisson"]
    assert "geometric" in pois.data["null"] and pois.value > 0.01, pois
    assert abs(pois.data["params"]["p"] - p) < K * np.sqrt(p * p * (1 - p) / t.size)
    assert m["waiting_exponent"].fit.discrete


def _interval_trace(counts, overflow=0):
    edges = np.arange(0.5, counts.size + 1.0)
    return make_trace("test.intervals", {}, 3, {"update_interval_hist": counts,
                                                "update_interval_hist_edges": edges,
                                                "update_interval_overflow": np.array([overflow])})


def test_interval_exponent_rows():
    # per-parameter intervals from a discrete power law tau^-1.8 on 1..3000 (unit bins, as the
    # trainer records them, histogram preset to 5000 steps): the binned MLE recovers 1.8 within
    # K SE; Zhang & Tang's least squares uses 50 linear bins over the observed range (up to the
    # longest interval, 3000 steps: width 60), not the preset 5000 (width 100)
    r = np.random.default_rng(5)
    tau = sample_power_law(1_000_000, 1.8, 1, True, r).astype(np.int64)
    tau = tau[tau <= 3000]
    counts = np.bincount(tau - 1, minlength=5000)[:5000]
    longest = int(tau.max())
    m = measure(_interval_trace(counts, overflow=17))
    mle = m["interval_exponent"]
    assert abs(mle.alpha - 1.8) < K * mle.stderr, mle
    assert "17 intervals" in mle.xmax_rule
    ls = m["interval_exponent_ls"]
    width = -(-longest // ZT_BINS)
    assert ls.data["bin_width"] == width and ls.data["n_bins"] <= ZT_BINS
    assert ls.data["range"][1] >= longest and ls.data["range"][1] - width < longest
    assert ls.data["overflow"] == 17 and "17 intervals" in ls.method
    assert np.isfinite(ls.value) and ls.stderr > 0


def test_zt_rebin_uses_the_observed_range():
    from dynsim.analysis.events import zt_rebin

    counts = np.zeros(5000)
    counts[[0, 9, 99, 1199]] = [5, 3, 2, 1]  # longest observed interval: 1200
    merged, edges, width = zt_rebin(counts, np.arange(0.5, 5001.0))
    assert width == -(-1200 // ZT_BINS) == 24 and merged.size == ZT_BINS and merged.sum() == 11
    assert edges[0] == 0.5 and edges[-1] == 1200.5 and merged[-1] == 1


@pytest.fixture(scope="module")
def manna_pair():
    from dynsim import registry

    kw = dict(L=32, grains=200_000, seed=1)
    return (registry.run("sandpile.manna", **kw),
            registry.run("sandpile.manna", stream=True, **kw))


def test_binned_and_event_fits_of_one_sandpile_agree(manna_pair):
    # the same seed, events kept or streamed into log bins: the binned MLE on the same window rule
    # (xmin a decade or more below the cutoff scale <s^2>/<s>) agrees with the event fit within
    # K x the larger SE (same avalanches, so the two errors are strongly correlated)
    ev, st = (measure(tr) for tr in manna_pair)
    for kind in ("size", "duration", "area"):
        a, b = ev[f"{kind}_exponent"], st[f"{kind}_exponent_binned"]
        assert a.fit.ok and b.ok
        assert abs(a.value - b.value) <= K * max(a.stderr, b.stderr), (kind, a.fit, b)
        assert b.xmin * 10 <= b.xmax and "decades" in b.candidates_rule
    w = st["waiting_exponent_binned"]
    assert w.ok and w.n_total == int(manna_pair[1].stationary("events_waiting_hist").sum())


def test_single_size_fits_stay_a_decade_below_the_cutoff(manna_pair):
    from dynsim import registry

    tr = registry.run("sandpile.btw", L=64, grains=200_000, seed=1)
    m = measure(tr)
    for name, ch in (("size_exponent", "events_size"), ("area_exponent", "events_area"),
                     ("duration_exponent", "events_duration")):
        r = m[name]
        x = tr.stationary(ch)
        assert r.fit.ok and r.fit.xmax is not None and r.fit.xmax <= x.max()
        sc = np.mean(x.astype(float) ** 2) / x.mean()
        assert r.fit.xmax == pytest.approx(np.floor(sc)) and "<x^2>/<x>" in r.fit.xmax_rule
        assert r.fit.xmin * 10 <= r.fit.xmax and np.all(r.fit.scan["xmin"] * 10 <= r.fit.xmax)
        # the caveat travels with the result itself (method, notes, JSON)
        assert "effective" in r.method and r.fit.caveat == references.get("btw_2d_tau")["caveat"]
        assert any("effective" in n for n in r.notes)
        assert "effective" in m.to_json()
    # a plain CSN scan with only the decade rule lands in the cutoff: steeper than the window fit
    plain = fit_power_law(tr.stationary("events_size"), min_decades=1.0)
    assert plain.alpha > m["size_exponent"].value + 10 * plain.stderr
    manna = measure(manna_pair[0])
    assert not manna["size_exponent"].fit.caveat and "effective" not in manna["size_exponent"].method


def test_stationary_only_flag(manna_pair):
    from types import SimpleNamespace

    from dynsim.analysis.rows.events import ROWS

    rows = {name: fn for name, _, fn in ROWS}
    tr = manna_pair[0]
    n_all, n_st = tr["events_size"].size, tr.stationary("events_size").size
    assert n_st < n_all
    ctx = SimpleNamespace(boot=0, seed=1, rng=None)
    assert rows["size_exponent"](tr, ctx).fit.n_total == n_st  # default: the stationary part
    whole = rows["size_exponent"](tr, SimpleNamespace(boot=0, seed=1, stationary_only=False))
    assert whole.fit.n_total == n_all and "whole run" in whole.fit.xmax_rule
    st = manna_pair[1]
    b_all = rows["size_exponent_binned"](st, SimpleNamespace(boot=0, seed=1,
                                                               stationary_only=False))
    assert b_all.n_total == int(st["events_size_hist"].sum()) > \
        rows["size_exponent_binned"](st, ctx).n_total


def test_per_layer_update_exponents():
    # two layers with different exponents (2.2 and 3.0) on shared edges, 3 windows: one row each,
    # named by meta update_hist_layers, each within K SE; the pooled row mixes them
    r = np.random.default_rng(8)
    edges = np.geomspace(1, 1e5, 41)
    hist = np.stack([np.stack([np.histogram(sample_power_law(30_000, a, 1.0, False, r), edges)[0]
                               for a in (2.2, 3.0)]) for _ in range(3)])
    tr = make_trace("test.layers", {}, 2, {"update_hist": hist, "update_hist_edges": edges},
                    update_hist_layers=["fc1.weight", "fc2.weight"])
    m = measure(tr)
    for name, a in (("fc1.weight", 2.2), ("fc2.weight", 3.0)):
        fit = m[f"update_exponent[{name}]"]
        assert fit.n_total == 90_000 and abs(fit.alpha - a) < K * fit.stderr, fit
    assert m["update_exponent"].n_total == 180_000
