"""Events of a thresholded signal, burstiness, memory, the Poisson null, and Zhang & Tang's recipe.

Statistical checks use fixed seeds and K = 3 standard errors."""

import math

import numpy as np
import pytest
from scipy import stats

from dynsim.analysis.events import (burstiness, exceedances, exponential_null, find_events,
                                    interval_hist_fit_ls, memory_coefficient, pooled_intervals)

K = 3.0
HAND = np.array([0, 2, 3, 0, 0, 5, 0, 1.5, 1.5, 1.5])   # runs above 1: [1, 2], [5], [7, 9]


def _naive_events(x, theta):
    """Reference implementation: a plain loop over the samples."""
    out, run = [], None
    for i, v in enumerate(x):
        if v > theta:
            run = [i, 0.0, 0] if run is None else run
            run[1] += v - theta
            run[2] += 1
        elif run is not None:
            out.append(run)
            run = None
    if run is not None:
        out.append(run)
    return np.array(out, dtype=float).reshape(-1, 3)


# ---------------------------------------------------------------------------------------------
# find_events


def test_hand_built_signal_exactly():
    ev = find_events(HAND, threshold=1.0)
    np.testing.assert_array_equal(ev.size, [3.0, 4.0, 1.5])
    np.testing.assert_array_equal(ev.duration, [2, 1, 3])
    np.testing.assert_array_equal(ev.start, [1, 5, 7])
    np.testing.assert_array_equal(ev.waiting, [4, 2])
    np.testing.assert_array_equal(ev.truncated, [False, False, True])
    assert ev.threshold == 1.0 and ev.rule == "absolute" and ev.quantile is None
    assert ev.n_samples == 10 and ev.n_events == 3 and ev.headline() == 3.0
    assert ev.duration.dtype.kind == "i" and ev.start.dtype.kind == "i"


def test_uniform_time_scales_sizes_and_durations():
    ev = find_events(HAND, threshold=1.0, time=0.5 * np.arange(10))
    np.testing.assert_allclose(ev.size, [1.5, 2.0, 0.75])
    np.testing.assert_allclose(ev.duration, [1.0, 0.5, 1.5])
    np.testing.assert_allclose(ev.start, [0.5, 2.5, 3.5])
    np.testing.assert_allclose(ev.waiting, [2.0, 1.0])


def test_non_uniform_time():
    # dt = [1, 2, 1, 2, 1, 1, 2, 1, 1, 1 (last spacing repeated)]
    t = np.array([0, 1, 3, 4, 6, 7, 8, 10, 11, 12.0])
    ev = find_events(HAND, threshold=1.0, time=t)
    np.testing.assert_allclose(ev.size, [1 * 2 + 2 * 1, 4 * 1, 0.5 * 3])
    np.testing.assert_allclose(ev.duration, [3.0, 1.0, 3.0])   # t[3] - t[1], t[6] - t[5], 3 x dt
    np.testing.assert_allclose(ev.start, [1.0, 7.0, 10.0])
    np.testing.assert_allclose(ev.waiting, [6.0, 3.0])


def test_strict_threshold_and_no_events():
    ev = find_events(np.ones(5), threshold=1.0)
    assert ev.n_events == 0 and ev.size.size == ev.waiting.size == ev.start.size == 0
    ev = find_events(np.array([2.0, 2.0, 0.0]), threshold=1.0)
    assert ev.truncated.tolist() == [True] and ev.size.tolist() == [2.0]


def test_quantile_threshold_matches_absolute():
    x = np.random.default_rng(3).normal(size=1000)
    ev = find_events(x, quantile=0.9)
    assert ev.threshold == pytest.approx(np.quantile(x, 0.9))
    assert ev.rule == "quantile 0.9 of the signal" and ev.quantile == 0.9
    ev2 = find_events(x, threshold=ev.threshold)
    np.testing.assert_array_equal(ev.size, ev2.size)
    assert (ev.duration.sum() == np.sum(x > ev.threshold))


def test_vectorised_events_match_a_plain_loop():
    rng = np.random.default_rng(7)
    x = np.zeros(20_000)
    noise = rng.normal(size=x.size)
    for i in range(1, x.size):                       # AR(1): runs of many lengths
        x[i] = 0.9 * x[i - 1] + noise[i]
    theta = float(np.quantile(x, 0.8))
    ev = find_events(x, threshold=theta)
    ref = _naive_events(x, theta)
    np.testing.assert_array_equal(ev.start, ref[:, 0].astype(int))
    np.testing.assert_allclose(ev.size, ref[:, 1], rtol=1e-12)
    np.testing.assert_array_equal(ev.duration, ref[:, 2].astype(int))
    np.testing.assert_array_equal(ev.waiting, np.diff(ref[:, 0]).astype(int))


@pytest.mark.parametrize("kwargs, match", [
    (dict(signal=np.ones((3, 3)), threshold=0.5), "`signal` must be a 1-D"),
    (dict(signal=[1.0], threshold=0.5), "at least 2"),
    (dict(signal=[1.0, np.nan, 2.0], threshold=0.5), "finite, got nan at index 1"),
    (dict(signal=["a", "b"], threshold=0.5), "`signal` must be"),
    (dict(signal=[1.0, 2.0]), "exactly one of threshold or quantile"),
    (dict(signal=[1.0, 2.0], threshold=1.0, quantile=0.5), "exactly one"),
    (dict(signal=[1.0, 2.0], quantile=1.0), r"`quantile` must be in \(0, 1\), got 1.0"),
    (dict(signal=[1.0, 2.0], quantile=0.0), "`quantile` must be in"),
    (dict(signal=[1.0, 2.0], threshold=np.inf), "`threshold` must be a finite number"),
    (dict(signal=[1.0, 2.0], threshold="x"), "`threshold` must be a finite number"),
    (dict(signal=[1.0, 2.0], threshold=True), "`threshold` must be a finite number"),
    (dict(signal=[1.0, 2.0, 3.0], threshold=1.0, time=[0.0, 1.0]), "`time` must have"),
    (dict(signal=[1.0, 2.0, 3.0], threshold=1.0, time=[0.0, 1.0, 1.0]), "strictly increasing"),
])
def test_find_events_rejects_bad_input(kwargs, match):
    signal = kwargs.pop("signal")
    with pytest.raises(ValueError, match=match):
        find_events(signal, **kwargs)


# ---------------------------------------------------------------------------------------------
# burstiness and memory


def test_poisson_burstiness_and_memory_are_zero():
    tau = np.random.default_rng(11).exponential(2.0, 5000)
    b = burstiness(tau)
    assert b.reference == 0.0 and abs(b.value) <= K * b.stderr
    assert b.stderr == pytest.approx(0.5 / math.sqrt(tau.size), rel=0.1)  # exponential: 0.5/sqrt(n)
    m = memory_coefficient(tau)
    assert m.reference == 0.0 and m.data["status"] == "ok" and abs(m.value) <= K * m.stderr
    assert m.stderr == pytest.approx(1 / math.sqrt(tau.size - 1))


def test_burstiness_delta_se_is_calibrated():
    # spread of B over R independent Poisson samples against the mean delta-method SE;
    # the sample SD of R values has relative SE 1/sqrt(2(R - 1)), so K of those is the tolerance
    rng, reps = np.random.default_rng(12), 400
    fits = [burstiness(rng.exponential(1.0, 1000)) for _ in range(reps)]
    sd = np.std([f.value for f in fits], ddof=1)
    se = np.mean([f.stderr for f in fits])
    assert abs(sd / se - 1) <= K / math.sqrt(2 * (reps - 1))


def test_bursty_weibull_burstiness_matches_theory():
    # Weibull shape 1/2: E tau^m = Gamma(1 + 2m), CV = sqrt(Gamma(5)/Gamma(3)^2 - 1) = sqrt(5)
    tau = np.random.default_rng(13).weibull(0.5, 20_000)
    b = burstiness(tau)
    ref = (math.sqrt(5) - 1) / (math.sqrt(5) + 1)
    assert abs(b.value - ref) <= K * b.stderr
    assert b.ci[0] > 0.3                              # clearly bursty


def test_bootstrap_burstiness_agrees_with_delta_method():
    tau = np.random.default_rng(14).exponential(1.0, 2000)
    delta, boot = burstiness(tau), burstiness(tau, boot=300, seed=5)
    assert boot.value == delta.value and boot.data["seed"] == 5
    # the bootstrap SD of 300 replicates has relative error 1/sqrt(2 x 299) = 4%
    assert boot.stderr == pytest.approx(delta.stderr, rel=K / math.sqrt(2 * 299))
    assert burstiness(tau, boot=300, seed=5).stderr == boot.stderr   # seeded


def test_periodic_intervals_give_minus_one():
    assert burstiness(np.full(100, 3.0)).value == -1.0
    tau = 1.0 + 0.01 * np.random.default_rng(15).normal(size=2000)
    b = burstiness(tau)
    assert abs(b.value - (0.01 - 1) / (0.01 + 1)) <= K * b.stderr and b.value < -0.97
    m = memory_coefficient(np.full(100, 3.0))
    assert math.isnan(m.value) and m.data["status"] == "undefined"
    assert "zero variance" in m.data["reason"]


def test_memory_of_correlated_intervals():
    # tau = exp(z), z Gaussian AR(1) with lag-1 correlation rho and variance v:
    # corr(tau_i, tau_{i+1}) = (exp(rho v) - 1) / (exp(v) - 1)
    rng, n, rho, v = np.random.default_rng(16), 20_000, 0.5, 0.25
    z = np.empty(n)
    z[0] = rng.normal(0, math.sqrt(v))
    eps = rng.normal(0, math.sqrt(v * (1 - rho**2)), n)
    for i in range(1, n):
        z[i] = rho * z[i - 1] + eps[i]
    m = memory_coefficient(np.exp(z))
    ref = math.expm1(rho * v) / math.expm1(v)
    assert abs(m.value - ref) <= K * m.stderr and m.ci[0] > 0.4


@pytest.mark.parametrize("func", [burstiness, memory_coefficient, exponential_null])
def test_interval_statistics_reject_bad_input(func):
    for bad, match in [([1.0, -1.0, 2.0, 3.0, 4.0], ">= 0"), ([0.0] * 6, "not all be 0"),
                       ([1.0, 2.0], "at least"), ([[1.0, 2.0], [3.0, 4.0]], "1-D"),
                       ([1.0, np.inf, 2.0, 3.0, 4.0], "finite")]:
        with pytest.raises(ValueError, match=match):
            func(bad)


# ---------------------------------------------------------------------------------------------
# exponential (Poisson) null


def test_exponential_null_accepts_poisson_and_is_seeded():
    tau = np.random.default_rng(21).exponential(3.0, 500)
    t = exponential_null(tau, boot=200, seed=1)
    assert t.p_value > 0.01 and t.params["scale"] == pytest.approx(tau.mean())
    assert "small p rejects" in t.direction and t.headline() == t.p_value
    assert exponential_null(tau, boot=200, seed=1).p_value == t.p_value


def test_exponential_null_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(22)
    p = [exponential_null(rng.exponential(1.0, 200), boot=99, seed=s).p_value for s in range(40)]
    assert stats.kstest(p, "uniform").pvalue > 0.01


def test_exponential_null_rejects_bursty_and_periodic():
    rng = np.random.default_rng(23)
    assert exponential_null(rng.weibull(0.5, 500), boot=200).p_value < 0.01
    assert exponential_null(1 + 0.05 * rng.normal(size=500), boot=200).p_value < 0.01


def test_geometric_null_for_integer_intervals():
    g = np.random.default_rng(24).geometric(0.05, 1000)
    t = exponential_null(g, boot=200)
    assert "geometric" in t.null and t.p_value > 0.01
    rng = np.random.default_rng(25)
    p = [exponential_null(rng.geometric(0.1, 200), boot=99, seed=s).p_value for s in range(30)]
    assert stats.kstest(p, "uniform").pvalue > 0.01
    with pytest.raises(ValueError, match="integers >= 1"):
        exponential_null(np.array([0.5, 2.0, 3.0]), discrete=True)


# ---------------------------------------------------------------------------------------------
# Zhang & Tang: exceedances, pooled intervals, least squares on linear bins


def test_pooled_intervals_hand_built():
    e = np.zeros((10, 3), dtype=bool)
    e[[1, 4, 9], 0] = True
    e[0, 1] = True
    e[[2, 3], 2] = True
    np.testing.assert_array_equal(pooled_intervals(e), [3, 5, 1])
    assert pooled_intervals(np.zeros((4, 2), dtype=bool)).size == 0
    with pytest.raises(ValueError, match="boolean"):
        pooled_intervals(e.astype(int))
    with pytest.raises(ValueError, match="2-D"):
        pooled_intervals(e[:, 0])


def test_bernoulli_exceedances_give_geometric_intervals():
    p = 0.02
    e = np.random.default_rng(31).random((5000, 40)) < p
    tau = pooled_intervals(e)
    se = math.sqrt(1 - p) / p / math.sqrt(tau.size)   # SD of the geometric law / sqrt(n)
    assert abs(tau.mean() - 1 / p) <= K * se
    assert exponential_null(tau, boot=100).p_value > 0.01


def test_exceedance_thresholds_global_and_per_parameter():
    rng = np.random.default_rng(32)
    scale = np.exp(rng.uniform(0, math.log(100), 200))          # update scales over 2 decades
    u = rng.normal(size=(5000, 200)) * scale
    glob, per = exceedances(u, 0.99), exceedances(u, 0.99, per="parameter")
    assert glob.mean() == pytest.approx(0.01, abs=1e-4)
    assert per.mean() == pytest.approx(0.01, abs=1e-4)
    np.testing.assert_allclose(per.mean(axis=0), 0.01, atol=2e-4)
    assert glob.mean(axis=0).max() > 0.05 and glob.mean(axis=0).min() == 0
    # per parameter: each parameter exceeds in exactly m = 50 of T = 5000 steps, a uniformly random
    # m-subset, so the gaps minus 1 are Bose-Einstein (T - m balls in r = m + 1 cells): mean
    # (T + 1)/(m + 1), variance (T - m)(r - 1)(T - m + r) / (r^2 (r + 1)); B ~ -0.0124.
    # Globally: a mixture of rates, over-dispersed (heavy-tailed) without any dynamics.
    b_per = burstiness(pooled_intervals(per))
    T, m, r = 5000, 50, 51
    cv = math.sqrt((T - m) * (r - 1) * (T - m + r) / (r**2 * (r + 1))) / ((T + 1) / (m + 1))
    assert abs(b_per.value - (cv - 1) / (cv + 1)) <= K * b_per.stderr
    assert burstiness(pooled_intervals(glob)).value > 0.2


def test_exceedances_reject_bad_input():
    with pytest.raises(ValueError, match="shape"):
        exceedances(np.ones(5))
    with pytest.raises(ValueError, match="quantile"):
        exceedances(np.ones((5, 2)), 1.5)
    with pytest.raises(ValueError, match="`per` must be"):
        exceedances(np.ones((5, 2)), per="layer")
    with pytest.raises(ValueError, match="finite"):
        exceedances(np.array([[1.0, np.nan], [1.0, 2.0]]))


def _power_law_hist(gamma, edges, xmin, n):
    """Expected bin counts of n samples of p(tau) = (gamma - 1) xmin^(gamma - 1) tau^-gamma,
    tau >= xmin."""
    ccdf = np.where(edges >= xmin, (np.maximum(edges, xmin) / xmin) ** (1 - gamma), 1.0)
    return n * -np.diff(ccdf)


def test_ls_recipe_recovers_exponent_of_an_exact_histogram():
    edges = np.linspace(1000, 6000, 51)            # 50 linear bins, centres 10-60 widths out
    counts = _power_law_hist(2.5, edges, 1000, 1e6)
    fit = interval_hist_fit_ls(counts, edges)
    assert fit.value == pytest.approx(2.5, abs=2e-3)      # bin-averaging bias ~ w^2/c^2 only
    assert fit.data["bins"] == [1, 29] and fit.n == 29
    assert "not an MLE" in fit.method and "Zhang & Tang" in fit.method


def test_ls_recipe_with_poisson_counts_within_three_se():
    edges = np.linspace(1000, 6000, 51)
    expected = _power_law_hist(2.5, edges, 1000, 1e6)
    for seed in range(3):
        counts = np.random.default_rng(seed).poisson(expected)
        fit = interval_hist_fit_ls(counts, edges)
        assert abs(fit.value - 2.5) <= K * fit.stderr


def test_ls_recipe_drops_bins_after_removing_empty_ones():
    edges = np.linspace(1000, 6000, 51)
    counts = np.round(_power_law_hist(2.0, edges, 1000, 1e6))
    counts[::2] = 0                                 # every other bin empty: 25 non-empty
    fit = interval_hist_fit_ls(counts, edges, drop_first=2, drop_last=3)
    assert fit.data["bins"] == [5, 43] and fit.n == 20
    assert fit.value == pytest.approx(2.0, abs=0.02)
    with pytest.raises(ValueError, match="only 2 bins left"):
        interval_hist_fit_ls(counts, edges, drop_first=3, drop_last=20)
    with pytest.raises(ValueError, match="len\\(counts\\) \\+ 1"):
        interval_hist_fit_ls(counts, edges[:-1])
    with pytest.raises(ValueError, match="strictly increasing"):
        interval_hist_fit_ls(counts, edges[::-1])
    with pytest.raises(ValueError, match="`counts` must be >= 0"):
        interval_hist_fit_ls(-counts, edges)
    with pytest.raises(ValueError, match="`drop_first` must be an integer"):
        interval_hist_fit_ls(counts, edges, drop_first=1.5)


def test_events_and_null_test_print_themselves():
    import json

    from dynsim.analysis.results import format_table

    ev = find_events([0.0, 2.0, 3.0, 0.0, 0.0, 5.0, 0.0], threshold=1.0)
    line = str(ev)
    assert line.split()[0] == "2" and "events above 1" in line and "±" in line
    assert "2 events above 1" in ev.details() and "0 touch an end" in ev.details()
    assert "mean size 3.5, mean duration 1.5" in ev.details() and ev.details("events").startswith("events: ")
    d = json.loads(ev.to_json())
    assert d["n_events"] == 2 and d["size"] == [3.0, 4.0] and d["threshold"] == 1.0
    t = exponential_null(np.random.default_rng(21).exponential(3.0, 300), boot=50, seed=1)
    assert f"{t.p_value:.6g}" in str(t) and "KS distance" in str(t)
    assert 0.0 <= t.ci[0] <= t.p_value <= t.ci[1] <= 1.0
    assert "scale = " in t.details() and "50 replicates" in t.details()
    assert json.loads(t.to_json())["p_value"] == t.p_value and "\n" not in str(t)
    table = format_table({"waiting_null": t, "events": ev})
    assert table.count("\n") == 2 and "waiting_null" in table
