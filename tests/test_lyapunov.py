"""Lyapunov spectra (QR/Benettin), Kaplan-Yorke and the sharpness dimension against known values.

References: REFERENCES.md items 8 (Henon, Lorenz, logistic) and 9 (sharpness dimension).  Statistical
checks use K = 3 of the estimator's own block-averaged standard errors at fixed seeds.
"""

import math

import numpy as np
import pytest
from scipy.special import digamma

from dynsim.analysis.lyapunov import (SharpnessDimension, kaplan_yorke_dimension, lyapunov_spectrum,
                                      sharpness_dimension, sharpness_exponents)
from dynsim.sims.maps import henon, logistic, lorenz

K = 3.0
HENON = (0.4193, -1.6233)              # item 8 (2e6 iterates, QR)
LORENZ = (0.906, 0.0, -14.572)         # item 8 (Sprott)


def _within(spec, ref):
    for v, s, r in zip(spec.exponents, spec.stderr, ref):
        assert abs(v - r) <= K * s, (spec, ref)


def test_henon_spectrum_sum_and_kaplan_yorke():
    spec = lyapunov_spectrum(henon(200_000, seed=1)["jacobian"], transient=100)
    _within(spec, HENON)
    # |det Df| = b: the sum is ln 0.3 exactly, whatever the orbit
    assert spec.total().value == pytest.approx(math.log(0.3), abs=1e-10)
    ky = kaplan_yorke_dimension(spec.exponents, cov=spec.cov,
                                reference=1 + HENON[0] / abs(HENON[1]))
    assert ky.data["j"] == 1 and ky.agrees(K), ky
    assert ky.reference == pytest.approx(1.258, abs=1e-3)
    assert spec.headline() == spec.exponents[0]


def test_lorenz_spectrum_sum_and_kaplan_yorke():
    dt = 0.01
    tr = lorenz(100_000, dt=dt, transient=2000, seed=2)            # T = 1000 time units
    spec = lyapunov_spectrum(tr["jacobian"], dt=dt, transient=1000)
    _within(spec, LORENZ)
    # the flow contracts volume at sigma + 1 + beta exactly; the RK4 map's det deviates by O(dt^5)
    # per step (measured ~1e-6 relative at dt = 0.01): 1e-3 per unit time is a loose bound
    assert spec.total().value == pytest.approx(-(10 + 1 + 8 / 3), abs=1e-3)
    ky = kaplan_yorke_dimension(spec.exponents, cov=spec.cov, reference=2 + 0.906 / 14.572)
    assert ky.data["j"] == 2 and ky.agrees(K), ky
    assert ky.reference == pytest.approx(2.062, abs=1e-3)
    # the running estimate ends at the final one
    np.testing.assert_allclose(spec.data["convergence"][-1], spec.exponents)


def test_logistic_r4_is_ln2():
    spec = lyapunov_spectrum(logistic(100_000, r=4.0, seed=3)["jacobian"])
    assert abs(spec.exponents[0] - math.log(2)) <= K * spec.stderr[0], spec


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
    assert str(low).startswith(">= 3")
    low = sharpness_dimension([0.3, 0.1, 0.05], d=10)
    assert low.bound == "lower" and low.ci == (3.0, 10.0)
    # once a partial sum goes negative inside the supply, the value is determined
    ok = sharpness_dimension([0.3, -0.1, -0.5], d=10)
    assert ok.bound is None and ok.value == pytest.approx(2 + 0.2 / 0.5)


def test_sharpness_exponents_sgd_averages_over_minibatches():
    rng = np.random.default_rng(5)
    h = rng.normal([30.0, 10.0, -4.0], 1.0, size=(6, 50, 3))          # minibatches x iterates x k
    ex = sharpness_exponents(h, 0.1, d=3)
    sup = np.sort(np.log(np.abs(1 - 0.1 * h)), axis=2)[:, :, ::-1].max(axis=1)
    np.testing.assert_allclose(ex.exponents, sup.mean(axis=0))
    np.testing.assert_allclose(ex.stderr, sup.std(axis=0, ddof=1) / math.sqrt(6))
    sd = sharpness_dimension(ex)
    assert sd.bound is None and sd.stderr > 0 and sd.ci[0] < sd.value < sd.ci[1]


@pytest.mark.parametrize("call, match", [
    (lambda: lyapunov_spectrum(np.zeros((10, 2, 3))), "jacobians must be"),
    (lambda: lyapunov_spectrum(np.full((10, 2, 2), np.nan)), "finite"),
    (lambda: lyapunov_spectrum(np.ones((10, 2, 2)), blocks=1), "blocks must be"),
    (lambda: lyapunov_spectrum(np.ones((10, 2, 2)), blocks=11), "blocks must be"),
    (lambda: lyapunov_spectrum(np.ones((10, 2, 2)), transient=10), "transient must be"),
    (lambda: lyapunov_spectrum(np.ones((10, 2, 2)), dt=0.0), "dt must be"),
    (lambda: kaplan_yorke_dimension([]), "exponents must be"),
    (lambda: kaplan_yorke_dimension([0.1, np.nan]), "exponents must"),
    (lambda: kaplan_yorke_dimension([0.1, -1.0], [0.1]), "stderr must be"),
    (lambda: sharpness_exponents(np.ones((3, 2)), lr=0.0), "lr must be"),
    (lambda: sharpness_exponents(np.ones(3), lr=0.1), "must be"),
    (lambda: sharpness_exponents(np.ones((3, 2)), lr=0.1, d=1), "d must be"),
    (lambda: sharpness_dimension([0.1, -0.2], d=1), "d must be"),
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


def test_partial_hessian_supply_gives_a_lower_bound():
    # top 1.5 and bottom -0.2 supplied, lr 1, d = 100: the 98 unseen eigenvalues near 0 have
    # |1 - lr h| ~ 1 and rank above the top one, so the true SD (99.12 with a bulk at 0.001) is far
    # above what the two ends alone give (1.26): the result must be a bound holding the truth
    from dynsim.analysis.lyapunov import sharpness_dimension, sharpness_exponents

    ends = np.array([[1.5, -0.2]] * 5)
    sd = sharpness_dimension(sharpness_exponents(ends, 1.0, d=100))
    full = np.concatenate([ends, np.full((5, 98), 0.001)], axis=1)
    truth = sharpness_dimension(sharpness_exponents(full, 1.0)).value
    assert sd.bound == "lower" and sd.ci[0] <= truth <= sd.ci[1]
    assert truth == pytest.approx(99.12, abs=0.01)
