"""Correlation dimension, embedding rules, participation ratio and Rosenstein's exponent.

References: REFERENCES.md items 8 and 15 (Henon D2 = 1.21, tested within 3 x (slope SE + local-slope
spread)); simple sets (a line, a plane, a filled cube: 1, 2, 3); and nolds 0.6.2 on the same series
with matched parameters (radii, embedding, Theiler window), within 0.05.
"""

import math
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from dynsim.analysis.dimension import (choose_delay, correlation_dimension, correlation_sum,
                                       delay_embed, false_nearest_neighbours,
                                       largest_lyapunov_rosenstein, participation_ratio)
from dynsim.sims.maps import henon, logistic, lorenz

K = 3.0


def _nolds():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")               # nolds 0.6.2 warns about pkg_resources
        try:
            import nolds
        except Exception as err:                      # pragma: no cover - depends on the venv
            pytest.skip(f"nolds cannot be imported here: {err!r}")
    return nolds


def test_correlation_sum_matches_brute_force():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(300, 2)), axis=0)          # temporally correlated
    radii = np.geomspace(0.3, 30, 7)
    dist = squareform(pdist(x))
    i, j = np.indices(dist.shape)
    for theiler in (0, 3):
        allowed = np.abs(i - j) > theiler
        for centres in (None, np.array([0, 5, 17, 150, 299])):
            rows = np.arange(300) if centres is None else centres
            within, total = correlation_sum(x, radii, theiler=theiler, centres=centres)
            exp = [np.sum((dist[rows] <= r) & allowed[rows]) for r in radii]
            np.testing.assert_array_equal(within, exp)
            assert total == np.sum(allowed[rows])


@pytest.mark.parametrize("d", [1, 2, 3])
def test_line_plane_cube(d):
    # uniform points on a segment, a square and a cube, rotated into R^3; edge effects make local
    # slopes fall below d at large r, which the spread of local slopes reports
    rng = np.random.default_rng(10 + d)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    u = np.zeros((5000, 3))
    u[:, :d] = rng.uniform(size=(5000, d))
    est = correlation_dimension(u @ q.T, seed=1, reference=float(d))
    assert est.agrees(K), est
    assert est.n_points == 5000 and est.n_pairs == 5000 * 4999
    assert est.r_range[1] / est.r_range[0] >= 10                  # at least a decade fitted


def test_henon_correlation_dimension():
    x = henon(10_000, seed=1)["proj"]
    est = correlation_dimension(x, seed=0, reference=1.21,
                                reference_source="Grassberger & Procaccia 1983")
    assert est.agrees(K), est
    assert "longest window" in est.data["rule"]
    a, b = est.data["window"]
    assert est.r_range == (est.data["radii"][a], est.data["radii"][b])
    # reference points (Theiler 1987) and a Theiler window give a consistent value
    sub = correlation_dimension(x, theiler=2, max_pairs=2 * 10**7, seed=3, reference=1.21)
    assert sub.data["reference_points"] == 2 * 10**7 // 9999 and sub.agrees(K), sub
    assert sub.data["seed"] == 3


def test_correlation_dimension_matches_nolds():
    nolds = _nolds()
    series = henon(2000, seed=5)["proj"][:, 0]
    sd = np.std(series, ddof=1)
    rvals = nolds.logarithmic_r(0.1 * sd, 0.5 * sd, 1.03)            # nolds' own default radii
    theirs, (_, log_c, _) = nolds.corr_dim(series, 2, lag=1, rvals=rvals, fit="poly", debug_data=True)
    points = delay_embed(series, 2, 1)
    ours = correlation_dimension(points, radii=rvals, fit_range=(rvals[0], rvals[-1]))
    assert abs(ours.value - theirs) < 0.05, (ours.value, theirs)
    # the counts are identical once nolds' N self-pairs (its distance matrix has a zero diagonal,
    # and it counts dist <= r over the whole matrix) are added back
    within, _ = correlation_sum(points, rvals)
    n = points.shape[0]
    np.testing.assert_allclose(np.log((within + n) / (n * (n - 1))), log_c, rtol=0, atol=1e-12)


def test_rosenstein_matches_nolds():
    nolds = _nolds()
    # exponents per sample (nolds' tau = 1, our dt = 1); Lorenz x every 0.05 time units
    for series, dim, lag, tsep, tlen in ((henon(2000, seed=6)["proj"][:, 0], 2, 1, 5, 8),
                                         (lorenz(15_000, seed=6)["proj"][::5, 0], 3, 3, 20, 20)):
        theirs = nolds.lyap_r(series, emb_dim=dim, lag=lag, min_tsep=tsep, trajectory_len=tlen,
                              fit="poly")
        ours = largest_lyapunov_rosenstein(series, dim=dim, delay=lag, theiler=tsep,
                                           fit_range=(0, tlen))
        assert abs(ours.value - theirs) < 0.05, (ours, theirs)
        assert ours.data["theiler"] == tsep and ours.data["fit_range"] == (0, tlen)


def test_rosenstein_logistic_ln2():
    # nearest neighbours start ~1/N apart and separate as 2^k until ~0.1: k < 6 stays in the linear
    # regime for N = 3000
    series = logistic(3000, r=4.0, seed=3)["proj"][:, 0]
    est = largest_lyapunov_rosenstein(series, dim=1, delay=1, fit_range=(0, 6))
    assert abs(est.value - math.log(2)) <= K * est.stderr, est


def test_delay_embed():
    e = delay_embed(np.arange(10.0), 3, 2)
    assert e.shape == (6, 3)
    np.testing.assert_array_equal(e[0], [0, 2, 4])
    np.testing.assert_array_equal(e[-1], [5, 7, 9])


def test_choose_delay_rules():
    # Henon: I(tau) decays to its noise floor with no minimum; the autocorrelation is -0.3 at lag 1
    c = choose_delay(henon(5000, seed=3)["proj"][:, 0])
    assert c.delay == 1 and c.rule.startswith("first lag with autocorrelation below 1/e")
    # Lorenz x every dt = 0.01: a genuine first minimum of I(tau), above the floor
    c = choose_delay(lorenz(20_000, seed=1)["proj"][:, 0])
    mi = c.mutual_information
    assert c.rule == "first minimum of the mutual information"
    assert mi[c.delay] < mi[c.delay - 1] and mi[c.delay] <= mi[c.delay + 1: 2 * c.delay + 1].min()
    assert mi[c.delay] > c.mi_floor
    # AR(1), x_t = 0.9 x_(t-1) + noise: I(tau) has no minimum; the autocorrelation 0.9^tau falls
    # below 1/e at tau = 10; the sample ACF (SE ~0.04 at N = 5000, slope ~0.035 per lag there)
    # moves that crossing by about a lag: allow 3
    rng = np.random.default_rng(0)
    ar = np.zeros(5000)
    for t in range(1, 5000):
        ar[t] = 0.9 * ar[t - 1] + rng.normal()
    c = choose_delay(ar)
    assert c.rule.startswith("first lag with autocorrelation below 1/e")
    assert c.autocorrelation[c.delay] < 1 / math.e <= c.autocorrelation[c.delay - 1]
    assert abs(c.delay - 10) <= 3


def test_false_nearest_neighbours():
    # Henon's x-series embeds in 2 dimensions, Lorenz's in 3 (Kennel, Brown & Abarbanel 1992)
    fnn = false_nearest_neighbours(henon(5000, seed=2)["proj"][:, 0], delay=1, max_dim=5)
    assert fnn.dim == 2 and fnn.fnn_fraction[0] > 0.5
    x = lorenz(20_000, seed=2)["proj"][::5, 0]
    fnn = false_nearest_neighbours(x, delay=choose_delay(x).delay, max_dim=5, theiler=10)
    assert fnn.dim == 3 and fnn.rule.startswith("first dimension")


def test_participation_ratio():
    assert participation_ratio([1.0, 1.0, 1.0, 1.0]).value == pytest.approx(4.0)
    assert participation_ratio([0.7, 0.0, 0.0]).value == pytest.approx(1.0)
    rows = np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]])
    pr = participation_ratio(rows)
    each = rows.sum(axis=1) ** 2 / (rows**2).sum(axis=1)
    assert pr.value == pytest.approx(each.mean()) and pr.n == 2
    assert pr.stderr == pytest.approx(each.std(ddof=1) / math.sqrt(2))


@pytest.mark.parametrize("call, match", [
    (lambda: correlation_dimension(np.ones((5, 2))), "points must be"),
    (lambda: correlation_dimension(np.full((50, 2), np.nan)), "finite"),
    (lambda: correlation_dimension(np.ones((50, 2))), "identical"),
    (lambda: correlation_dimension(np.random.rand(50, 2), theiler=-1), "theiler must be"),
    (lambda: correlation_dimension(np.random.rand(50, 2), n_radii=2), "n_radii must be"),
    (lambda: correlation_dimension(np.random.rand(50, 2), radii=[0.1, 0.05, 0.2]), "radii must be"),
    (lambda: correlation_dimension(np.random.rand(50, 2), fit_range=(0.5, 0.51)), "fit_range"),
    (lambda: correlation_dimension(np.random.rand(50, 2), tol=2.0), "tol must be"),
    (lambda: delay_embed(np.arange(5.0), 3, 3), "too short"),
    (lambda: delay_embed(np.arange(5.0), 0, 1), "dim must be"),
    (lambda: choose_delay(np.ones(100)), "constant"),
    (lambda: false_nearest_neighbours(np.random.rand(100), delay=0), "delay must be"),
    (lambda: largest_lyapunov_rosenstein(np.random.rand(100), delay=1), "dim is required"),
    (lambda: largest_lyapunov_rosenstein(np.random.rand(100), dim=2, fit_range=(3, 4)), "fit_range"),
    (lambda: participation_ratio([-1.0, 2.0]), "explained_variance"),
    (lambda: participation_ratio([0.0, 0.0]), "zeros"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
