"""Polya return probabilities: the package's exact values, exact finite-n curves and the estimator."""

import json
import math

import numpy as np
import pytest

from dynsim import references
from dynsim.analysis import measure
from dynsim.analysis.walks import (polya_return_probability, return_curve, return_fraction_exact,
                                   return_probability)
from dynsim.sims.walks import lattice_walk

K = 3.0
# Polya 1921 / Montroll 1956 (references.json, 12 digits)
POLYA = {d: references.value(f"polya_return_d{d}") for d in range(3, 11)}


@pytest.mark.parametrize("d", sorted(POLYA))
def test_polya_integral_matches_table(d):
    assert polya_return_probability(d) == pytest.approx(POLYA[d], abs=2e-12)


def test_polya_low_dimensions_and_large_d():
    assert polya_return_probability(1) == polya_return_probability(2) == \
        references.value("polya_return_d1_d2")
    # p ~ c/d + O(d^-2), c = 1/2 (polya_return_large_d)
    p = polya_return_probability(40)
    assert abs(p - references.value("polya_return_large_d") / 40) < 2 / 40**2


def test_exact_finite_n_closed_forms():
    n = 400
    # 1-D: P(first return by 2m) = 1 - C(2m, m) / 4^m
    f1 = return_fraction_exact(1, n)
    m = np.arange(0, n // 2 + 1)
    from scipy.special import gammaln
    u1 = np.exp(gammaln(2 * m + 1) - 2 * gammaln(m + 1) - 2 * m * math.log(2))
    np.testing.assert_allclose(f1[::2], 1 - u1, atol=1e-12)
    # 2-D: u_2m = (C(2m, m)/4^m)^2, so F follows from the renewal equation with that u
    f2 = return_fraction_exact(2, 10_000)
    assert f2[10_000] == pytest.approx(references.value("return_fraction_2d_n10000"), abs=5e-4)
    assert np.all(np.diff(f2) >= -1e-14)
    np.testing.assert_array_equal(f2[1::2], f2[0:-1:2])  # returns happen at even steps only


def test_exact_curve_converges_to_polya():
    for d in (3, 5, 10):
        f = return_fraction_exact(d, 4000)
        assert -1e-11 < POLYA[d] - f[-1] < 1.0 * 4000 ** (-(d - 2) / 2) + 1e-11


@pytest.mark.parametrize("d", [3, 4, 5])
@pytest.mark.parametrize("n", [200, 1000, 10_000])
def test_extrapolation_is_unbiased_on_the_exact_curve(d, n):
    # feed the estimator a "population" whose first-return histogram is the exact one: what is
    # left is the bias of the extrapolation itself, which must be far below the sampling SE of a
    # 1e5-walker run (about 1.5e-3 at d = 3): 0.2 of it, 3e-4
    walkers = 10**7
    f = return_fraction_exact(d, n)
    probs = np.diff(f, prepend=0.0)
    counts = np.round(probs * walkers).astype(np.int64)
    steps = np.repeat(np.arange(n + 1), counts)
    ret = np.concatenate([steps, np.zeros(walkers - steps.size, dtype=np.int64)])
    est = return_probability(ret, n, d, boot=20)
    assert abs(est.value - POLYA[d]) < 3e-4


@pytest.mark.parametrize("d", range(1, 11))
def test_simulated_fraction_matches_exact_finite_n(d):
    tr = lattice_walk(d=d, walkers=20000, steps=2000, records=2, seed=40 + d)
    est = measure(tr)["return_fraction"]
    assert est.reference == pytest.approx(return_fraction_exact(d, 2000)[2000])
    assert abs(est.value - est.reference) <= K * est.stderr
    # the whole curve, at a few steps
    exact = return_fraction_exact(d, 2000)
    m = np.array([2, 10, 100, 1000])
    sim = return_curve(tr["first_return"], m)
    se = np.sqrt(np.maximum(exact[m] * (1 - exact[m]), 1e-4) / 20000)
    assert np.all(np.abs(sim - exact[m]) <= K * se + 1e-12)


def test_done_when_3d_interval_holds_exact():
    # the check: 1e5 walkers x 1e4 steps in 3-D; the interval holds p(3)
    m = measure(lattice_walk(d=3, walkers=100_000, steps=10_000, records=2, seed=0))
    est = m["return_probability"]
    assert est.ci[0] < POLYA[3] < est.ci[1]
    assert 0.001 < est.stderr < 0.005
    assert est.data["m_range"] == [100, 10_000]


def test_polya_returns_study_through_the_api():
    from matplotlib.figure import Figure

    from dynsim.studies.returns import ReturnsResult, polya_returns

    res = polya_returns(dims=[3, 1, 3], walkers=4000, steps=1000, seed=5)
    assert isinstance(res, ReturnsResult) and res.dims == (1, 3) and res.seed == 5
    # one independent seed per dimension, derived from the study's seed alone
    assert res.traces[1].seed != res.traces[3].seed
    assert res.traces[3].meta["parent_seed"] == 5
    for d in res.dims:
        f = res.measures[d]["return_fraction"]
        assert f.reference == pytest.approx(return_fraction_exact(d, 1000)[1000])
        assert abs(f.value - f.reference) <= K * f.stderr
    assert "return_probability" not in res.measures[1]   # d <= 2: p = 1, nothing to extrapolate
    p3 = res.measures[3]["return_probability"]
    assert res.exact_p[3] == pytest.approx(POLYA[3], abs=2e-12)
    assert p3.ci[0] < POLYA[3] < p3.ci[1]
    table = str(res)
    assert table.splitlines()[2].split()[0] == "1" and "diverge" in table and "0.340537" in table
    payload = json.loads(res.to_json())
    assert [r["d"] for r in payload["runs"]] == [1, 3] and payload["walkers"] == 4000
    assert payload["runs"][1]["exact_p"] == pytest.approx(POLYA[3])
    assert isinstance(res.figure(), Figure)
    again = polya_returns(dims=[3], walkers=4000, steps=1000, seed=5)
    assert again.measures[3]["return_fraction"].value == res.measures[3]["return_fraction"].value


@pytest.mark.parametrize("dims", [[], [0], [65], ["x"], [True]])
def test_polya_returns_refuses_bad_dims(dims):
    from dynsim.studies.returns import polya_returns

    with pytest.raises(ValueError, match="dims"):
        polya_returns(dims=dims, walkers=100, steps=10, seed=0)
