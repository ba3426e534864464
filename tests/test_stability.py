"""Stability thresholds and the stability analysis (dynsim.analysis.stability).

Thresholds (keys ``eos_threshold_*`` of dynsim/data/references.json) are checked against brute
force: the lr at which the spectral radius of each map's explicit 2 x 2 companion matrix on a 1-D
quadratic crosses 1, found by bisection, without using the closed forms.  The run analysis is
checked on synthetic series whose onset, fraction at the edge, divergence step and verdict are known
by construction.
"""

import numpy as np
import pytest

from dynsim import references
from dynsim.analysis.results import Estimate
from dynsim.analysis.orbits import bifurcation_summary, orbit_period
from dynsim.analysis.rows.orbits import sharpness_summary
from dynsim.analysis.rows.stability import sharpness_ratio, stability
from dynsim.analysis.stability import (CONVENTIONS, Stability, max_stable_lr,
                                       quadratic_multipliers, quadratic_rate, stability_from_arrays,
                                       threshold)
from dynsim.analysis.tracking import time_average, tracking_gap
from dynsim.jsonutil import to_json
from dynsim.trace import make_trace


def _companion(conv, a, beta):
    """The one-step matrix on (w, v) for lr h = a, written from the update rules."""
    if conv in ("gd", "rmsprop_precond"):
        return np.array([[1.0 - a]])
    if conv == "heavy_ball":             # v' = b v + h w, w' = w - lr v'
        return np.array([[1.0 - a, -beta], [a, beta]])   # in (w, lr v) coordinates
    if conv == "nesterov":               # v' = b v + h w, w' = w - lr (h w + b v')
        return np.array([[1.0 - a * (1 + beta), -beta * beta], [a, beta]])
    return np.array([[1.0 - (1 - beta) * a, -beta], [(1 - beta) * a, beta]])   # EMA, Adam frozen


@pytest.mark.parametrize("conv", CONVENTIONS)
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_thresholds_match_brute_force(conv, beta):
    def radius(a):
        return np.abs(np.linalg.eigvals(_companion(conv, a, beta))).max()

    lo, hi = 1e-6, 1e3
    assert radius(lo) <= 1.0 < radius(hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if radius(mid) <= 1.0 else (lo, mid)
    lr, sharp = 0.05, 7.0
    assert lo / sharp == pytest.approx(max_stable_lr(conv, sharp, beta), rel=1e-9)
    assert threshold(conv, lr, beta) == pytest.approx(lo / lr, rel=1e-9)
    # the closed-form roots are the companion matrix's eigenvalues
    for a in (0.3, 1.7, lo * 0.99, lo * 1.01):
        ev = np.sort_complex(np.linalg.eigvals(_companion(conv, a, beta)))
        roots = np.sort_complex(quadratic_multipliers(conv, 1.0, [a], beta)[0])
        np.testing.assert_allclose(ev, roots, atol=1e-12)
    assert quadratic_rate(conv, 1.0, [0.99 * lo], beta) < 0 < quadratic_rate(conv, 1.0, [1.01 * lo],
                                                                              beta)


def test_named_thresholds():
    # the entries hold each threshold in units of 1/lr, at beta (beta1) = 0.9 where it has one
    lr = 0.1
    for conv, beta in (("gd", ()), ("heavy_ball", (0.9,)), ("nesterov", (0.9,)),
                       ("ema_momentum", (0.9,)), ("adam_precond", (0.9,)), ("rmsprop_precond", ())):
        ref = references.value(f"eos_threshold_{conv}") / lr
        assert threshold(conv, lr, *beta) == pytest.approx(ref), conv


def _trace(sharp, thr, conv="gd", loss=None, status="ok", **extra):
    ch = {"sharpness": np.asarray(sharp, float), "threshold": np.asarray(thr, float), **extra}
    if loss is not None:
        ch["loss"] = np.asarray(loss, float)
    return make_trace("test.synthetic", {}, 0, ch, status=status, threshold_convention=conv)


def test_converged_edge_oscillating_and_diverged_by_construction():
    n = 400
    t = np.arange(n)
    # constant ratio 0.5, loss falling: converged, never at the edge
    st = stability(_trace(np.full(n, 10.0), np.full(n, 20.0), loss=np.exp(-t / 50)))
    assert (st.verdict, st.onset_step, st.fraction_at_edge) == ("converged", None, 0.0)
    assert st.value == 0.5 and st.stderr == 0.0 and st.n == 100 and st.window == (300, 399)
    # ramp to the edge at step 200, then alternate 0.99 / 1.01: edge, onset 200, half at/above
    ratio = np.where(t < 200, 0.5 + 0.5 * t / 200, np.where(t % 2 == 0, 1.01, 0.99))
    st = stability(_trace(20 * ratio, np.full(n, 20.0), loss=1 + 0.1 * (t % 2)))
    assert st.verdict == "edge" and st.onset_step == 200 and st.onset_bracket == (200, 200)
    assert st.fraction_at_edge == pytest.approx(0.5) and st.value == pytest.approx(1.0)
    # a bounded period-2 orbit far beyond the edge: oscillating
    st = stability(_trace(np.where(t % 2 == 0, 60.0, 20.0), 20.0, loss=1 + 0.1 * (t % 2)))
    assert st.verdict == "oscillating" and st.value == pytest.approx(2.0)
    # a loss that grows without bound (not yet overflowed): diverged where it stays above 1e6 x
    loss = np.exp(t / 10.0)
    st = stability(_trace(np.full(n, 30.0), np.full(n, 20.0), loss=loss))
    assert st.verdict == "diverged"
    assert st.divergence_step == int(np.argmax(loss > 1e6 * loss[0]))
    # a transient spike that comes back down is not divergence
    spike = np.exp(-t / 20.0)
    spike[10:20] = 1e9
    assert stability(_trace(np.full(n, 10.0), np.full(n, 20.0), loss=spike)).verdict == "converged"
    # a run cut short (status diverged) diverged at the first step not recorded
    st = stability(_trace(np.full(50, 30.0), np.full(50, 20.0), loss=np.ones(50), status="diverged"))
    assert st.verdict == "diverged" and st.divergence_step == 50
    # non-finite sharpness: diverged there
    sh = np.full(n, 10.0)
    sh[123:] = np.nan
    st = stability(_trace(sh, np.full(n, 20.0)))
    assert st.divergence_step == 123 and st.verdict == "diverged"


def test_just_below_the_edge_converging_vs_stuck():
    n, t = 400, np.arange(400)
    ratio = np.full(n, 0.998)
    # converging at the edge from below (Zhu et al.'s minimalist toy): loss falls -> converged
    assert stability(_trace(20 * ratio, 20.0, loss=np.exp(-t / 30))).verdict == "converged"
    # a period-2 orbit sitting just below the threshold, loss not falling -> edge
    assert stability(_trace(20 * ratio, 20.0, loss=np.full(n, 0.0137))).verdict == "edge"


def test_preconditioned_conventions_read_precond_sharpness():
    n = 100
    tr = _trace(np.full(n, 1000.0), np.full(n, 20.0), conv="rmsprop_precond",
                precond_sharpness=np.full(n, 10.0))
    steps, ratio, channel, conv = sharpness_ratio(tr)
    assert channel == "precond_sharpness" and conv == "rmsprop_precond"
    np.testing.assert_allclose(ratio, 0.5)
    no_pre = _trace(np.full(n, 10.0), np.full(n, 20.0), conv="adam_precond")
    with pytest.raises(ValueError, match="precond_sharpness"):
        stability(no_pre)
    with pytest.raises(ValueError, match="threshold_convention"):
        stability(make_trace("x", {}, 0, {"sharpness": np.ones(3), "threshold": np.ones(3)}))
    with pytest.raises(ValueError, match="threshold_convention"):
        stability(_trace(np.ones(3), np.ones(3), conv="sgd"))    # a name, not a convention


def test_sparse_sharpness_against_a_per_step_threshold():
    # a trainer probes every 25 steps; the threshold is per step (an lr schedule)
    steps = np.arange(0, 1000, 25)
    thr = np.where(np.arange(1000) < 500, 20.0, 40.0)
    sharp = np.where(steps < 400, 10.0, 21.0)
    tr = _trace(sharp, thr, sharpness_step=steps, loss=np.ones(1000))
    st = stability(tr)
    assert st.onset_step == 400 and st.onset_bracket == (376, 400)
    s, ratio, _, _ = sharpness_ratio(tr)
    np.testing.assert_allclose(ratio[steps >= 500], 21 / 40)
    assert st.verdict == "converged"
    tr2 = _trace(sharp, np.full(3, 20.0), sharpness_step=steps)
    with pytest.raises(ValueError, match="threshold"):
        stability(tr2)


def test_result_is_a_frozen_estimate_and_serialises():
    st = stability_from_arrays(np.arange(50), np.full(50, 0.5), convention="gd")
    assert isinstance(st, Stability) and isinstance(st, Estimate) and st.headline() == 0.5
    with pytest.raises(Exception):
        st.verdict = "edge"
    assert '"verdict": "converged"' in to_json(st) and "converged" in str(st)
    assert "late median, steps" in st.details() and "\n" not in str(st)


def test_time_average_tracking_gap_orbit_period_sharpness_summary():
    x = np.where(np.arange(100) % 2 == 0, 1.0, -1.0) + 3.0
    np.testing.assert_allclose(time_average(x, 2)[1:-1], 3.0)        # whole period-2 pairs
    np.testing.assert_allclose(time_average(np.arange(10.0), 1), np.arange(10.0))
    g = tracking_gap(np.full(100, 2.0), np.full(100, 3.0), start=10)
    assert g.value == pytest.approx(0.5) and g.n == 90 and g.stderr == 0.0
    assert tracking_gap(np.full(20, 1e-3), np.full(20, 1e-5), start=0, log=True).value == \
        pytest.approx(2.0)
    assert tracking_gap(np.full(20, 20.0), np.full(20, 21.0), start=0, scale=20.0).value == \
        pytest.approx(0.05)
    assert orbit_period(np.ones(10)) == 1
    assert orbit_period(np.tile([1.0, 2.0, 3.0], 20)) == 3
    assert orbit_period(np.random.default_rng(0).normal(size=200)) == 0
    tr = _trace(np.linspace(5, 20, 101), 20.0)
    s = sharpness_summary(tr)
    assert s.data["start"] == 5.0 and s.data["final"] == 20.0 and s.n == 25


def test_bifurcation_summary():
    lr = np.linspace(1.0, 2.0, 6)
    lam = np.array([-0.5, -0.1, 0.05, 0.3, 0.2, np.nan])
    se = np.array([0.0, 0.0, 0.03, 0.02, 0.01, np.nan])
    div = np.array([-1, -1, -1, -1, -1, 7])
    b = bifurcation_summary(lr, lam, se, div)
    assert b.value == pytest.approx(0.3) and b.stderr == pytest.approx(0.02)
    assert b.data["lr_at_max"] == pytest.approx(1.6) and b.data["chaos_onset_lr"] == pytest.approx(1.6)
    assert b.data["n_chaotic"] == 2 and b.data["n_diverged"] == 1 and b.n == 5
    assert bifurcation_summary(lr, lam, se, div, k=1.0).data["chaos_onset_lr"] == pytest.approx(1.4)
    assert bifurcation_summary(lr[:2], lam[:2], se[:2]).data["chaos_onset_lr"] is None


@pytest.mark.parametrize("call", [
    lambda: threshold("adagrad", 0.1), lambda: threshold("gd", 0.0),
    lambda: threshold("gd", float("nan")), lambda: threshold("heavy_ball", 0.1, beta=1.0),
    lambda: max_stable_lr("gd", -1.0), lambda: quadratic_multipliers("gd", 0.1, [np.inf]),
    lambda: stability_from_arrays([0, 1], [1.0], convention="gd"),
    lambda: stability_from_arrays([1, 0], [1.0, 1.0], convention="gd"),
    lambda: stability_from_arrays([0, 1], [1.0, 1.0], convention="gd", late=0.0),
    lambda: stability_from_arrays([0, 1], [1.0, 1.0], convention="gd", blocks=1),
    lambda: stability_from_arrays([0, 1], [1.0, 1.0], convention="gd", growth=1.0),
    lambda: time_average([1.0, 2.0], 0), lambda: tracking_gap([1.0, 2.0], [1.0, 2.0], start=5),
    lambda: tracking_gap([1.0, -2.0], [1.0, 2.0], start=0, log=True),
    lambda: orbit_period([1.0]),
    lambda: bifurcation_summary([1.0, 2.0], [0.1], [0.1]),
    lambda: bifurcation_summary([1.0], [0.1], [0.1], [3]),
])
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_stationary_window_rule():
    from dynsim.analysis.rows.orbits import stationary_window
    from dynsim.trace import make_trace

    # per-step channel, no stationary_from: the last half of the steps, stated
    tr = make_trace("eos.synthetic", {}, 0, {"jacobian": np.zeros((101, 1, 1))})
    idx, rule = stationary_window(tr, "jacobian")
    np.testing.assert_array_equal(idx, np.arange(50, 101))
    assert rule == "the last 50% of the run (steps >= 50; no stationary_from in meta)"
    # meta stationary_from wins; a sparse channel is windowed by its steps, not its rows
    tr = make_trace("train", {}, 0, {"hessian_top": np.zeros((11, 1)),
                                     "hessian_top_step": np.arange(0, 110, 10)}, stationary_from=35)
    idx, rule = stationary_window(tr, "hessian_top")
    np.testing.assert_array_equal(idx, np.arange(4, 11))
    assert rule == "steps >= 35 (meta stationary_from)"
    tr.meta.pop("stationary_from")
    idx, _ = stationary_window(tr, "hessian_top")
    np.testing.assert_array_equal(idx, np.arange(5, 11))              # steps >= 50
    with pytest.raises(ValueError, match="`late` must be"):
        stationary_window(tr, "hessian_top", late=0.0)
