"""measure(trace) on event and update channels: the rows that tie the analyzer to any producer."""

import numpy as np

from dynsim.analysis import measure
from dynsim.analysis.powerlaw import sample_power_law
from dynsim.analysis.tails import hill_estimator
from dynsim.plots.powerlaw import plot_hill
from dynsim.trace import make_trace

K = 3.0


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
    assert abs(hill.value - 1.5) < K * hill.stderr + 0.05  # Hill's window rule may add a small bias


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
    assert m["update_avalanche_exponent"].fit.ok


def test_a_row_that_cannot_be_measured_reports_why():
    tr = make_trace("test.bad", {}, 1, {"events_size": np.array([1, 2, 3]),
                                        "threshold": np.array([1.0]), "sharpness": np.array([2.0])})
    m = measure(tr)
    assert m["stability"].data["status"] == "failed" and "threshold_convention" in m["stability"].method
    assert not m["size_exponent"].fit.ok
