"""Lyapunov spectra (QR/Benettin), Kaplan-Yorke and the sharpness dimension against known values.

References: dynsim/data/references.json (henon_*, lorenz_*, logistic_r4_lyapunov) and Tuci et al.
2026 (the sharpness dimension).  Statistical checks use K = 3 of the estimator's own block-averaged standard errors at fixed seeds.
"""

import math

import numpy as np
import pytest
from scipy.special import digamma

from dynsim import references
from dynsim.analysis import measure
from dynsim.analysis.lyapunov import (SharpnessDimension, jacobian_sharpness_exponents,
                                      kaplan_yorke_dimension, lyapunov_spectrum, sharpness_dimension,
                                      sharpness_exponents)
from dynsim.analysis.rows.orbits import run_dimensions
from dynsim.analysis.results import Z95
from dynsim.sims.eos import minimalist, product, quadratic
from dynsim.trace import make_trace
from dynsim.sims.maps import henon, logistic, lorenz

K = 3.0
HENON = tuple(references.value("henon_lyapunov"))    # 2e6 iterates, QR
LORENZ = tuple(references.value("lorenz_lyapunov"))  # Sprott 2003


def _within(spec, ref):
    for v, s, r in zip(spec.exponents, spec.stderr, ref):
        assert abs(v - r) <= K * s, (spec, ref)


def test_henon_spectrum_sum_and_kaplan_yorke():
    spec = lyapunov_spectrum(henon(200_000, seed=1)["jacobian"], transient=100)
    _within(spec, HENON)
    # |det Df| = b: the sum is ln 0.3 exactly, whatever the orbit
    assert spec.total().value == pytest.approx(math.log(0.3), abs=1e-10)  # henon_lyapunov_sum
    ky = kaplan_yorke_dimension(spec.exponents, cov=spec.cov,
                                reference=1 + HENON[0] / abs(HENON[1]))
    assert ky.data["j"] == 1 and ky.agrees(K), ky
    assert ky.reference == pytest.approx(references.value("henon_kaplan_yorke"), abs=1e-3)
    assert spec.headline() == spec.exponents[0]


def test_lorenz_spectrum_sum_and_kaplan_yorke():
    dt = 0.01
    tr = lorenz(100_000, dt=dt, transient=2000, seed=2)            # T = 1000 time units
    spec = lyapunov_spectrum(tr["jacobian"], dt=dt, transient=1000)
    _within(spec, LORENZ)
    # the flow contracts volume at sigma + 1 + beta exactly; the RK4 map's det deviates by O(dt^5)
    # per step (measured ~1e-6 relative at dt = 0.01): 1e-3 per unit time is a loose bound
    assert spec.total().value == pytest.approx(references.value("lorenz_lyapunov_sum"), abs=1e-3)
    ky = kaplan_yorke_dimension(spec.exponents, cov=spec.cov,
                                reference=2 + LORENZ[0] / abs(LORENZ[2]))
    assert ky.data["j"] == 2 and ky.agrees(K), ky
    assert ky.reference == pytest.approx(references.value("lorenz_kaplan_yorke"), abs=1e-3)
    # the running estimate ends at the final one
    np.testing.assert_allclose(spec.data["convergence"][-1], spec.exponents)


def test_logistic_r4_is_ln2():
    spec = lyapunov_spectrum(logistic(100_000, r=4.0, seed=3)["jacobian"])
    lam = references.value("logistic_r4_lyapunov")
    assert abs(spec.exponents[0] - lam) <= K * spec.stderr[0], spec


def test_random_gaussian_products_match_newman():
    # products of d x d matrices with i.i.d. N(0, 1) entries: lambda_i = (ln 2 + psi((d - i + 1)/2)) / 2
    # (Newman, Commun. Math. Phys. 103:121, 1986)
    d = 3
    jac = np.random.default_rng(0).normal(size=(20_000, d, d))
    exact = [0.5 * (math.log(2) + digamma((d - i + 1) / 2)) for i in range(1, d + 1)]
    _within(lyapunov_spectrum(jac), exact)


def test_constant_and_singular_products():
    jac = np.tile(np.array([[2.0, 5.0], [0.0, 0.5]]), (400, 1, 1))   # non-normal, eigenvalues 2, 1/2
    spec = lyapunov_spectrum(jac, transient=50, blocks=10)
    np.testing.assert_allclose(spec.exponents, [math.log(2), math.log(0.5)], atol=1e-10)
    jac[100] = np.diag([2.0, 0.0])                                     # one singular step
    spec = lyapunov_spectrum(jac, transient=0, blocks=10)
    assert spec.exponents[1] == -math.inf and np.isfinite(spec.exponents[0])


def test_dt_scales_exponents():
    jac = np.random.default_rng(1).normal(size=(2000, 2, 2))
    a, b = lyapunov_spectrum(jac), lyapunov_spectrum(jac, dt=0.5)
    np.testing.assert_allclose(np.array(b.exponents), 2 * np.array(a.exponents))
    np.testing.assert_allclose(np.array(b.stderr), 2 * np.array(a.stderr))


@pytest.mark.parametrize("exponents, expected, j", [
    ([0.5, -1.0], 1.5, 1),
    ([-2.0, 1.0, 0.5], 2.75, 2),          # sorted first: (1, 0.5, -2)
    ([-0.1, -1.0], 0.0, 0),               # lambda_1 < 0
    ([0.1, 0.2], 2.0, 2),                 # S_d >= 0: D = d
    ([0.3, 0.0, -0.3], 3.0, 3),           # S_3 = 0 counts as >= 0
])
def test_kaplan_yorke_hand_values(exponents, expected, j):
    ky = kaplan_yorke_dimension(exponents)
    assert ky.value == pytest.approx(expected) and ky.data["j"] == j


def test_kaplan_yorke_error_propagation_matches_finite_differences():
    lam, se = np.array([0.9, 0.01, -14.5]), np.array([0.02, 0.01, 0.03])
    ky = kaplan_yorke_dimension(lam, se)
    h = 1e-6
    grad = [(kaplan_yorke_dimension(lam + h * e).value
             - kaplan_yorke_dimension(lam - h * e).value) / (2 * h) for e in np.eye(3)]
    assert ky.stderr == pytest.approx(math.sqrt(np.sum((np.array(grad) * se) ** 2)), rel=1e-6)
    cov = np.diag(se**2)
    assert kaplan_yorke_dimension(lam, cov=cov).stderr == pytest.approx(ky.stderr)


def test_sharpness_exponents_and_dimension_by_hand():
    # lr = 0.1; iterate 1: h = (25, 5, 0.1, -3) -> |1 - lr h| = (1.5, 0.5, 0.99, 1.3)
    #           iterate 2: h = (21, 6, 0.2, -1) -> (1.1, 0.4, 0.98, 1.1)
    # per rank, sup over iterates: ln(1.5, 1.3, 0.99, 0.5) (a negative h ranks second)
    h = np.array([[25.0, 5.0, 0.1, -3.0], [21.0, 6.0, 0.2, -1.0]])
    ex = sharpness_exponents(h, 0.1)
    np.testing.assert_allclose(ex.exponents, np.log([1.5, 1.3, 0.99, 0.5]))
    # partial sums: 0.405, 0.668, 0.658, -0.035 -> j* = 3, SD = 3 + 0.658 / ln 2
    sd = sharpness_dimension(ex)
    expected = 3 + math.log(1.5 * 1.3 * 0.99) / math.log(2)
    assert isinstance(sd, SharpnessDimension) and sd.bound is None
    assert sd.value == pytest.approx(expected) and sd.data["j"] == 3


def test_sharpness_dimension_zero_full_and_lower_bound():
    assert sharpness_dimension([-0.1, -0.5]).value == 0.0            # lambda_1 < 0
    full = sharpness_dimension([0.3, 0.1, -0.1])                      # S_3 = 0.3 >= 0, j* = d
    assert full.value == 3.0 and full.bound is None
    # the same three exponents as the top 3 of a 10-dimensional system: j* >= 3 is all we know
    low = sharpness_dimension([0.3, 0.1, -0.1], d=10)
    assert low.bound == "lower" and low.value == 3.0
    assert low.ci == (3.0, 6.0)          # unseen exponents <= -0.1: S falls to 0 by 3 + 0.3/0.1
    assert str(low).endswith("lower bound") and ": >= 3 (lower bound" in low.details()
    low = sharpness_dimension([0.3, 0.1, 0.05], d=10)
    assert low.bound == "lower" and low.ci == (3.0, 10.0)
    # once a partial sum goes negative inside the supply, the value is determined
    ok = sharpness_dimension([0.3, -0.1, -0.5], d=10)
    assert ok.bound is None and ok.value == pytest.approx(2 + 0.2 / 0.5)


def test_sharpness_exponents_sgd_averages_over_minibatches():
    rng = np.random.default_rng(5)
    h = rng.normal([30.0, 12.5, -4.0], 0.2, size=(6, 50, 3))          # minibatches x iterates x k
    ex = sharpness_exponents(h, 0.1, d=3)
    sup = np.sort(np.log(np.abs(1 - 0.1 * h)), axis=2)[:, :, ::-1].max(axis=1)
    np.testing.assert_allclose(ex.exponents, sup.mean(axis=0))
    np.testing.assert_allclose(ex.stderr, sup.std(axis=0, ddof=1) / math.sqrt(6))
    sd = sharpness_dimension(ex)
    # the SE is the first-order propagation of the minibatch SEs (checked by finite differences),
    # and the interval is value +- 1.96 SE (no partial sum is near 0 here, so it is not widened)
    lam, se = np.array(ex.exponents), np.array(ex.stderr)
    step = 1e-6
    grad = [(sharpness_dimension(lam + step * e).value - sharpness_dimension(lam - step * e).value)
            / (2 * step) for e in np.eye(3)]
    assert sd.bound is None and sd.data["j_range"] == (sd.data["j"], sd.data["j"])
    assert sd.stderr == pytest.approx(math.sqrt(np.sum((np.array(grad) * se) ** 2)), rel=1e-5)
    assert sd.stderr > 0 and sd.ci == pytest.approx((sd.value - Z95 * sd.stderr,
                                                     sd.value + Z95 * sd.stderr))
    assert sd.data["n_minibatches"] == 6 and sd.data["n_iterates"] == 50
    assert "per fresh minibatch" in sd.data["sup_rule"]


@pytest.mark.parametrize("call, match", [
    (lambda: lyapunov_spectrum(np.zeros((10, 2, 3))), "`jacobians` must be"),
    (lambda: lyapunov_spectrum(np.full((10, 2, 2), np.nan)), "finite"),
    (lambda: lyapunov_spectrum(np.ones((10, 2, 2)), blocks=1), "`blocks` must be"),
    (lambda: lyapunov_spectrum(np.ones((10, 2, 2)), blocks=11), "`blocks` must be"),
    (lambda: lyapunov_spectrum(np.ones((10, 2, 2)), transient=10), "`transient` must be"),
    (lambda: lyapunov_spectrum(np.ones((10, 2, 2)), dt=0.0), "`dt` must be"),
    (lambda: kaplan_yorke_dimension([]), "`exponents` must be"),
    (lambda: kaplan_yorke_dimension([0.1, np.nan]), "`exponents` must"),
    (lambda: kaplan_yorke_dimension([0.1, -1.0], [0.1]), "`stderr` must be"),
    (lambda: sharpness_exponents(np.ones((3, 2)), lr=0.0), "`lr` must be"),
    (lambda: sharpness_exponents(np.ones(3), lr=0.1), "must be"),
    (lambda: sharpness_exponents(np.ones((3, 2)), lr=0.1, d=1), "`d` must be"),
    (lambda: sharpness_dimension([0.1, -0.2], d=1), "`d` must be"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_exponents_come_out_in_decreasing_order_for_axis_aligned_jacobians():
    # diag(0.5, 2) keeps the axes invariant: an identity start frame would report (-ln 2, ln 2)
    from dynsim.analysis.lyapunov import lyapunov_spectrum

    spec = lyapunov_spectrum(np.tile(np.diag([0.5, 2.0]), (400, 1, 1)), transient=50, blocks=10)
    assert spec.exponents[0] > spec.exponents[1]
    assert abs(spec.exponents[0] - np.log(2)) < 1e-9 and abs(spec.exponents[1] + np.log(2)) < 1e-9


def test_partial_hessian_supply_gives_the_interval_from_the_supplied_to_d():
    # top 1.5 and bottom -0.2 supplied, lr 1, d = 100: ln|1 - h| = (ln 0.5, ln 1.2), so the two
    # alone give SD = 1 + ln 1.2 / ln 2 = 1.263; the 98 unseen eigenvalues near 0 have |1 - lr h|
    # ~ 1 and rank above the top one (true SD 99.12 with a bulk at 0.001): the interval is exactly
    # [1.263, d]
    ends = np.array([[1.5, -0.2]] * 5)
    sd = sharpness_dimension(sharpness_exponents(ends, 1.0, d=100))
    full = np.concatenate([ends, np.full((5, 98), 0.001)], axis=1)
    truth = sharpness_dimension(sharpness_exponents(full, 1.0)).value
    assert sd.bound == "lower" and sd.data["supply"] == "partial"
    assert sd.ci == pytest.approx((1 + math.log(1.2) / math.log(2), 100.0))
    assert sd.ci[0] <= truth <= sd.ci[1] and truth == pytest.approx(99.12, abs=0.01)


def test_partial_supply_with_nonnegative_partial_sums_is_bounded_by_d_not_by_k():
    # the reviewer's counterexample: top 2.2, bottom 0.1, lr 1, d = 100.  ln|1 - h| = (ln 1.2,
    # ln 0.9): both partial sums >= 0.  "k + S_k / |lambda_k|" = 2.73 assumes the unseen exponents
    # are <= ln 0.9, false for ends: a bulk at h = 2.0 has |1 - h| = 1 and the true SD is 100
    ends = np.array([[2.2, 0.1]] * 5)
    sd = sharpness_dimension(sharpness_exponents(ends, 1.0, d=100))
    truth = sharpness_dimension(sharpness_exponents(
        np.concatenate([ends, np.full((5, 98), 2.0)], axis=1), 1.0)).value
    assert truth == 100.0
    assert sd.bound == "lower" and sd.value == 2.0 and sd.ci == (2.0, 100.0)
    assert sd.ci[0] <= truth <= sd.ci[1]
    assert "SD in [2, 100]" in sd.details()


def test_bulk_from_a_spectral_density_gives_an_estimate():
    rng = np.random.default_rng(3)
    lr, d, t = 1.0, 60, 8
    ends = np.column_stack([rng.uniform(2.0, 2.4, t), rng.uniform(-0.3, -0.1, t)])
    bulk = np.sort(rng.uniform(-0.1, 2.0, size=(t, d - 2)), axis=1)
    truth = sharpness_dimension(sharpness_exponents(np.concatenate([ends, bulk], axis=1), lr))
    # a density with one atom per bulk eigenvalue: its (i + 1/2)/(d - 2) quantiles are exactly
    # those eigenvalues, so the estimate equals the truth
    ex = sharpness_exponents(ends, lr, d=d, density=np.ones((t, d - 2)), density_grid=bulk,
                             channels={"top": "hessian_top", "bottom": "hessian_bottom",
                                       "bulk": "hessian_density"})
    sd = sharpness_dimension(ex)
    assert len(ex.exponents) == d and sd.bound is None and sd.data["supply"] == "ends+bulk"
    assert sd.value == pytest.approx(truth.value, rel=1e-12) and "estimate" in sd.method
    assert set(sd.data["eigenvalues"]) == {"top", "bottom", "bulk"}
    assert sd.data["n_iterates"] == t and sd.data["n_minibatches"] == 1
    # a density at h = 2.0 (|1 - lr h| = 1) fills the reviewer's counterexample: SD = d
    grid = np.linspace(0.0, 2.2, 23)
    w = (np.abs(grid - 2.0) < 1e-9).astype(float)
    ex = sharpness_exponents(np.array([[2.2, 0.1]] * 5), lr, d=100, density=w, density_grid=grid)
    assert sharpness_dimension(ex).value == 100.0


def test_exponents_sorted_with_their_errors_on_a_converging_optimizer():
    # GD on the minimalist toy converges onto a manifold of minima: several exponents are ~0 and
    # QR over the whole run leaves them out of order (lambda_2 > lambda_1 before the sort)
    jac = minimalist(lr=0.1, steps=3000, seed=0)["jacobian"]
    spec = lyapunov_spectrum(jac, transient=300, blocks=20)
    lam = np.array(spec.exponents)
    assert np.all(np.diff(lam) <= 0), lam
    assert spec.headline() == lam.max()
    # the SEs, covariance and running estimates moved with their exponents
    np.testing.assert_allclose(np.array(spec.stderr), np.sqrt(np.diag(np.array(spec.cov))))
    np.testing.assert_allclose(spec.data["convergence"][-1], lam, rtol=1e-10, atol=1e-15)
    logdet = np.log(np.abs(np.linalg.det(jac[300:]))).mean()
    assert lam.sum() == pytest.approx(logdet, rel=1e-8)


def test_kaplan_yorke_interval_covers_both_j_when_a_partial_sum_is_near_zero():
    # lambda_1 = 0.001 +- 0.001 (1 SE from 0): j is 0 or 1, D is 0 or 1.002
    ky = kaplan_yorke_dimension([0.001, -0.5], [0.001, 0.01])
    assert ky.value == pytest.approx(1.002) and ky.data["j_range"] == (0, 1)
    assert ky.ci[0] == 0.0 and ky.ci[1] >= 1.002 and "j may be any of 0..1" in ky.data["ci_rule"]
    assert ky.stderr == pytest.approx((ky.ci[1] - ky.ci[0]) / (2 * Z95))
    assert ky.data["first_order_stderr"] < 0.01
    # j = 0 with lambda_1 = -0.001 +- 0.001 is no longer "0 +- 0"
    ky = kaplan_yorke_dimension([-0.001, -0.5], [0.001, 0.01])
    assert ky.value == 0.0 and ky.ci == (0.0, pytest.approx(1.0)) and ky.stderr > 0.2
    # a neutral direction to round-off (1e-16 with an SE of 2e-19): j is not resolved either
    ky = kaplan_yorke_dimension([1.1e-16, -1.37], [2.5e-19, 0.0])
    assert ky.ci == (0.0, 1.0) and ky.data["j_range"] == (0, 1)
    # far from 0 nothing changes: Henon-like exponents keep the first-order interval
    ky = kaplan_yorke_dimension([0.419, -1.623], [0.002, 0.002])
    assert ky.data["j_range"] == (1, 1) and "ci_rule" not in ky.data
    assert ky.ci == pytest.approx((ky.value - Z95 * ky.stderr, ky.value + Z95 * ky.stderr))


def test_product_toy_kaplan_yorke_is_not_one_plus_minus_1e19():
    ky = measure(product(lr=0.1, seed=0), only=["lyapunov"])["kaplan_yorke"]
    assert ky.ci[0] <= 0.0 and ky.ci[1] >= 1.0 and ky.stderr > 0.1, ky


def test_measure_and_eos_run_share_one_adapter_and_window():
    # measure() used the whole run minus 10% (KY 1.0046) and run_dimensions the late half (KY 0)
    tr = minimalist(lr=0.1, steps=3000, seed=0)
    m, dims = measure(tr), run_dimensions(tr)
    assert m["kaplan_yorke"].value == dims["kaplan_yorke"].value
    assert m["kaplan_yorke"].ci == dims["kaplan_yorke"].ci
    assert m["lyapunov_1"].value == dims["lyapunov"].exponents[0]
    assert m["sharpness_dimension"].value == dims["sharpness_dimension"].value
    rule = "the last 50% of the run (steps >= 1500; no stationary_from in meta)"
    assert m["lyapunov_1"].data["stationary_window"] == rule
    assert m["kaplan_yorke"].data["stationary_window"] == rule
    assert m["sharpness_dimension"].data["stationary_window"].startswith(rule)
    assert dims["lyapunov"].n_steps == 1501 - 150


def test_converging_window_takes_the_sup_at_the_limit_point():
    # GD on the minimalist toy at lr 0.1 is still converging in its late half (a decaying period-2
    # oscillation whose odd steps have sharpness 20.003 > 2/lr at step 1501): the sup over those
    # iterates said SD = 4.  The attractor is the limit point, a minimum with 3 neutral directions
    # (|1 - lr h| = 1) and one at |1 - lr 19.95| < 1, whose SD is 3; the last iterate is not yet
    # there, and the result's interval says how far that leaves it
    sd = run_dimensions(minimalist(lr=0.1, steps=3000, seed=0))["sharpness_dimension"]
    assert "the attractor is the limit point" in sd.data["stationary_window"]
    assert sd.data["n_iterates"] == 1 and sd.ci[0] <= 3.0 <= sd.ci[1] < 4.0, sd


def _synthetic(jac, **meta):
    n = jac.shape[0]
    return make_trace("eos.synthetic", {"opt": "gd", "steps": n - 1}, 0,
                      {"jacobian": jac, "lr": np.full(n, 0.1), "threshold": np.full(n, 20.0)},
                      threshold_convention="gd", **meta)


def test_sharpness_sup_over_the_stationary_window_not_the_approach():
    # an approach with a stretching step (sigma 1.5) before the attractor (sigma 0.9, 0.5): the
    # sup over the whole run says SD = 1 + ln 1.5 / ln 2; over the late window SD = 0
    jac = np.concatenate([np.tile(np.diag([1.5, 0.5]), (300, 1, 1)),
                          np.tile(np.diag([0.9, 0.5]), (700, 1, 1))])
    late = measure(_synthetic(jac))["sharpness_dimension"]
    assert late.value == 0.0 and np.allclose(late.data["exponents"], np.log([0.9, 0.5]))
    assert late.data["stationary_window"].startswith("the last 50% of the run")
    whole = measure(_synthetic(jac, stationary_from=0))["sharpness_dimension"]
    assert whole.value == pytest.approx(1 + math.log(1.5) / math.log(2))
    assert whole.data["stationary_window"] == "steps >= 0 (meta stationary_from)"
    # one SGD path: each step is a fresh draw of omega, and the result says so (mean over steps)
    tr = _synthetic(jac)
    tr.meta["params"]["opt"] = "sgd"
    sgd = measure(tr)["sharpness_dimension"]
    assert "mean over steps" in sgd.data["sup_rule"]
    np.testing.assert_allclose(sgd.data["exponents"], np.log([0.9, 0.5]))


def test_sharpness_dimension_for_every_optimizer_from_the_jacobian():
    # GD: the singular values of I - lr H are |1 - lr h|, so both routes agree
    tr = quadratic(lr=0.1, steps=400, spectrum=(15.0, 1.0), rotated=True, seed=2)
    by_svd = jacobian_sharpness_exponents(tr["jacobian"][200:])
    by_h = sharpness_exponents(tr["hessian_top"][200:], 0.1)
    np.testing.assert_allclose(by_svd.exponents, by_h.exponents, atol=1e-12)
    for opt in ("momentum", "nesterov", "rmsprop", "adam"):
        sd = measure(minimalist(opt=opt, lr=0.01, steps=400, seed=0))["sharpness_dimension"]
        assert math.isfinite(sd.value) and sd.data["supply"] == "complete", (opt, sd)
        assert sd.data["eigenvalues"] == {"singular_values": "svd of the 'jacobian' channel"}


def test_trained_net_sharpness_dimension_from_hessian_ends_is_a_bound_on_n_params():
    # the trainer's channels: hessian_top / hessian_bottom every 10 steps, lr per step,
    # meta n_params (models/train.py); no jacobian
    steps = np.arange(0, 1001, 10)
    p = steps.size
    ch = {"hessian_top": np.full((p, 1), 19.0), "hessian_top_step": steps,
          "hessian_bottom": np.full((p, 1), -0.5), "hessian_bottom_step": steps,
          "lr": np.full(1000, 0.1), "loss": np.ones(1000)}
    tr = make_trace("train", {"opt": "gd"}, 0, ch, threshold_convention="gd", n_params=5000,
                    proj_width=3)
    sd = measure(tr)["sharpness_dimension"]
    # ln|1 - 1.9| = ln 0.9 < 0, ln 1.05 > 0: the two give 1 + ln 1.05 / ln(1/0.9)
    assert sd.bound == "lower" and sd.ci == pytest.approx((1 + math.log(1.05) / -math.log(0.9), 5000))
    assert sd.data["eigenvalues"] == {"top": "hessian_top", "bottom": "hessian_bottom"}
    assert sd.data["n_iterates"] == 51 and sd.data["d"] == 5000
    # with a spectral density recorded at the same probes, an estimate of all 5000
    grid = np.linspace(-0.5, 19.0, 40)
    ch.update(hessian_density=np.tile(np.exp(-grid**2), (p, 1)), hessian_density_step=steps,
              hessian_density_grid=grid)
    tr = make_trace("train", {"opt": "gd"}, 0, ch, threshold_convention="gd", n_params=5000)
    sd = measure(tr)["sharpness_dimension"]
    assert sd.bound is None and sd.data["supply"] == "ends+bulk" and "bulk" in sd.data["eigenvalues"]
    assert sd.data["d"] == 5000


def test_sgd_sharpness_exponents_average_over_draws_and_do_not_drift_with_run_length():
    # SGD on a minibatch of quadratics: J_t = I - lr H_B(t) does not depend on w, so
    # E_omega sup_w ln sigma_k = the mean over draws of ln sigma_k(J); a max over one path would
    # drift up with its length (the review measured lambda_3 -0.174 at 400 steps, -0.038 at 4000)
    from dynsim import registry

    ex = {}
    for steps in (400, 4000):
        tr = registry.run("eos.quadratic", opt="sgd", minibatch=2, n_quadratics=8,
                          spectrum=(5, 3, 2, 1), steps=steps, lr=0.15, seed=1)
        ex[steps] = run_dimensions(tr)["sharpness_exponents"]
        assert "mean over steps" in ex[steps].data["sup_rule"]
    # the mean over the window's draws, directly
    from dynsim.analysis.rows.orbits import stationary_window

    jac = np.asarray(tr["jacobian"])[stationary_window(tr, "jacobian")[0]]
    direct = np.log(np.linalg.svd(jac, compute_uv=False)).mean(axis=0)
    np.testing.assert_allclose(ex[4000].exponents, direct, atol=1e-12)
    for k in range(4):  # the two run lengths agree within 3 SE of their difference
        a, b = ex[400], ex[4000]
        assert abs(a.exponents[k] - b.exponents[k]) <= 3 * math.hypot(a.stderr[k], b.stderr[k])


def test_one_sgd_path_is_read_the_same_from_hessians_and_from_jacobians():
    # one stochastic path: one draw of omega per iterate on both routes (means over iterates)
    h = np.random.default_rng(0).uniform(0.0, 20.0, (50, 2))
    by_h = sharpness_exponents(h, 0.1, stochastic=True)
    by_j = jacobian_sharpness_exponents(np.array([np.eye(2) - 0.1 * np.diag(r) for r in h]),
                                        lr=0.1, stochastic=True)
    np.testing.assert_allclose(by_h.exponents, by_j.exponents, atol=1e-12)
    np.testing.assert_allclose(by_h.exponents,
                               np.sort(np.log(np.abs(1 - 0.1 * h)), axis=1)[:, ::-1].mean(0))


def test_measures_keep_the_spectrum_and_print_it():
    # measure() keeps the LyapunovSpectrum behind the lyapunov_<i> rows (no caller recomputes it);
    # its details block says what the old `dynsim analyze` printed; the JSON rows stay estimates
    from dynsim import registry

    m = measure(registry.run("map.henon", n=5000, seed=1))
    spec = m.spectrum()
    assert spec is not None and m["lyapunov_1"].spectrum is spec and m["lyapunov_2"].index == 1
    assert spec.exponents[:2] == (m["lyapunov_1"].value, m["lyapunov_2"].value)
    assert "spectrum" not in m.to_dict()["measures"]["lyapunov_1"]
    line = str(m["lyapunov_1"])
    assert f"{m['lyapunov_1'].value:.6g} ± {m['lyapunov_1'].stderr:.2g}" in line
    assert line.endswith("QR (Benettin)")
    text = m.details()
    assert text.count("lyapunov_1..2 (per step): QR (Benettin) over ") == 1
    assert f"sum of exponents {sum(spec.exponents):.6g}" in text
    # the reference and its references.json key, cited 'key: first author year'
    assert (f"  lyapunov_1: reference {HENON[0]:.6g} ({references.source('henon_lyapunov')}): "
            in text and "agrees within 3" in text)
    assert references.source("henon_kaplan_yorke") in text
    assert "kaplan_yorke: " in text and "correlation_dimension: " in text
    assert m.headline()["lyapunov_1"] == spec.exponents[0]
    table = str(m)
    assert table.splitlines()[0].split()[:2] == ["measure", "value"] and "lyapunov_2" in table
