"""Correlation dimension, embedding rules, participation ratio and Rosenstein's exponent.

References: references.json (``henon_correlation_dimension``: D2 = 1.21, tested within
3 x (slope SE + local-slope spread); ``henon_lyapunov``, ``lorenz_lyapunov``); simple sets (a line, a plane, a filled cube: 1, 2, 3); and nolds 0.6.2 on the same series
with matched parameters (radii, embedding, Theiler window), within 0.05.
"""

import math
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from dynsim import references
from dynsim.analysis.dimension import (choose_delay, correlation_dimension, correlation_sum,
                                       delay_embed, false_nearest_neighbours,
                                       largest_lyapunov_rosenstein, participation_ratio)
from dynsim.analysis.lyapunov import lyapunov_spectrum
from dynsim.analysis.results import Z95
from dynsim.sims.maps import henon, logistic, lorenz

K = 3.0
HENON_D2 = references.value("henon_correlation_dimension")
HENON_LAMBDA1 = references.value("henon_lyapunov")[0]
LORENZ_LAMBDA1 = references.value("lorenz_lyapunov")[0]


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
    # and the estimate resolves the dimension: d - 1 and d + 1 lie outside K x its uncertainty
    # (agreement alone would pass anything in d +- 3 x 0.14 = 2.6-3.4 for the cube)
    assert abs(est.value - (d - 1)) > K * est.stderr and abs(est.value - (d + 1)) > K * est.stderr
    assert est.n_points == 5000 and est.n_pairs == 5000 * 4999
    assert est.r_range[1] / est.r_range[0] >= 10                  # at least a decade fitted


@pytest.mark.parametrize("d", [1, 2, 3])
def test_flat_torus_without_edges(d):
    # uniform points on the flat torus T^d embedded in R^(2d) (cos, sin per angle): no edges to
    # bend the local slopes below d, so the estimate is unbiased and must agree within K x
    # (fit SE + local-slope spread), with that uncertainty below 0.06 d
    rng = np.random.default_rng(20 + d)
    u = rng.uniform(0, 2 * np.pi, size=(5000, d))
    est = correlation_dimension(np.concatenate([np.cos(u), np.sin(u)], axis=1), seed=1,
                                reference=float(d))
    assert est.agrees(K) and est.stderr < 0.06 * d, est


def test_stderr_is_fit_se_plus_local_slope_spread():
    # consumers (tables, z, agrees, ci) read stderr: it is the honest total, the regression SE
    # alone (0.003 where the local slopes spread by 0.06 on Henon) is fit_stderr
    est = correlation_dimension(henon(5000, seed=1)["trajectory"], seed=0, reference=HENON_D2)
    a, b = est.data["window"]
    local = np.asarray(est.data["local_slopes"])[a:b]
    assert est.spread == pytest.approx(np.std(local, ddof=1))
    assert est.stderr == pytest.approx(est.fit_stderr + est.spread)
    assert est.fit_stderr < est.spread
    assert est.ci == pytest.approx((est.value - Z95 * est.stderr, est.value + Z95 * est.stderr))
    assert est.z == pytest.approx((est.value - HENON_D2) / est.stderr)
    assert est.agrees(K) == (abs(est.value - HENON_D2) <= K * (est.fit_stderr + est.spread))


def test_henon_correlation_dimension():
    x = henon(10_000, seed=1)["trajectory"]
    est = correlation_dimension(x, seed=0, reference=HENON_D2,
                                reference_source="Grassberger & Procaccia 1983")
    assert est.agrees(K), est
    assert "longest window" in est.data["rule"]
    a, b = est.data["window"]
    assert est.r_range == (est.data["radii"][a], est.data["radii"][b])
    # reference points (Theiler 1987) and a Theiler window give a consistent value
    sub = correlation_dimension(x, theiler=2, max_pairs=2 * 10**7, seed=3, reference=HENON_D2)
    assert sub.data["reference_points"] == 2 * 10**7 // 9999 and sub.agrees(K), sub
    assert sub.data["seed"] == 3


def test_correlation_dimension_matches_nolds():
    nolds = _nolds()
    series = henon(2000, seed=5)["trajectory"][:, 0]
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
    for series, dim, lag, tsep, tlen in ((henon(2000, seed=6)["trajectory"][:, 0], 2, 1, 5, 8),
                                         (lorenz(15_000, seed=6)["trajectory"][::5, 0], 3, 3, 20, 20)):
        theirs = nolds.lyap_r(series, emb_dim=dim, lag=lag, min_tsep=tsep, trajectory_len=tlen,
                              fit="poly")
        ours = largest_lyapunov_rosenstein(series, dim=dim, delay=lag, theiler=tsep,
                                           fit_range=(0, tlen))
        assert abs(ours.value - theirs) < 0.05, (ours, theirs)
        assert ours.data["theiler"] == tsep and ours.data["fit_range"] == (0, tlen)


def test_rosenstein_chooses_its_fit_range_from_the_divergence_curve():
    # Lorenz x every dt = 0.01 (delay 16, dim 3: the embedding rules' choice): the divergence
    # curve rises steeply for ~80 samples (alignment), then straight at ~0.9 per unit time until
    # saturation near k = 500; a fixed (1, 10) samples fits the alignment transient (> 1.5)
    x = lorenz(20_000, dt=0.01, seed=1)["trajectory"][:, 0]
    fixed = largest_lyapunov_rosenstein(x, dim=3, delay=16, theiler=16, dt=0.01, fit_range=(1, 10))
    auto = largest_lyapunov_rosenstein(x, dim=3, delay=16, theiler=16, dt=0.01)
    k0, k1 = auto.data["fit_range"]
    assert fixed.value > 1.5 and auto.data["fit_rule"].startswith("longest run")
    assert k0 >= 40 and 200 <= k1 <= 600 and "saturation" in auto.data["fit_rule"]
    # Rosenstein et al. (1993, Table 2) report errors of several percent for Lorenz: 10% here
    assert abs(auto.value - LORENZ_LAMBDA1) < 0.1 * LORENZ_LAMBDA1, auto
    # a map saturates within ~15 samples, and the same rule finds that too
    log = largest_lyapunov_rosenstein(logistic(3000, r=4.0, seed=3)["trajectory"][:, 0], dim=1)
    assert abs(log.value - math.log(2)) <= K * log.stderr and log.data["fit_range"][1] <= 15, log


def test_qr_and_rosenstein_agree_on_henon():
    # the same orbit, two routes to lambda_1: QR on its Jacobians and Rosenstein on its x-series
    # (embedding dimension 2, fit range chosen from the divergence curve)
    tr = henon(10_000, seed=1)
    qr = lyapunov_spectrum(tr["jacobian"], transient=100)
    ros = largest_lyapunov_rosenstein(tr["trajectory"][:, 0], dim=2, delay=1, theiler=5)
    assert abs(qr.exponents[0] - HENON_LAMBDA1) <= K * qr.stderr[0]
    assert abs(ros.value - qr.exponents[0]) <= K * math.hypot(ros.stderr, qr.stderr[0]), (ros, qr)


def test_measure_d2_uses_the_window_and_fails_converged_runs_with_a_reason():
    from dynsim.analysis import measure
    from dynsim.sims.eos import minimalist, product
    from dynsim.trace import make_trace

    # converged (the window is one point) and still converging (GD on the minimalist toy at lr 0.1:
    # D2 0.91 from r ~ 1e-7 before): failed, with the reason, not a number
    for tr, why in ((product(lr=0.1, seed=0), "converged"),
                    (minimalist(lr=0.1, steps=3000, seed=0), "converging")):
        d2 = measure(tr, only=["correlation_dimension"])["correlation_dimension"]
        assert d2.data["status"] == "failed" and d2.data["reason"].startswith(why), d2
        assert "last 50% of the run" in d2.data["reason"] and math.isnan(d2.value)
    # an estimator ValueError (a period-2 orbit: every pair outside the Theiler window coincides)
    # is a failed result too, not a silently missing row
    x = np.tile([[0.0, 1.0], [1.0, 0.0]], (1000, 1))
    d2 = measure(make_trace("eos.synthetic", {}, 0, {"trajectory": x}), only=["correlation_dimension"])
    assert d2["correlation_dimension"].data["status"] == "failed"
    # a map's trace is stationary from its first row: the window is the whole trace
    d2 = measure(henon(2000, seed=1), only=["correlation_dimension"])["correlation_dimension"]
    assert d2.n_points == 2000 and d2.data["stationary_window"] == "steps >= 0 (meta stationary_from)"


def test_rosenstein_logistic_ln2():
    # nearest neighbours start ~1/N apart and separate as 2^k until ~0.1: k < 6 stays in the linear
    # regime for N = 3000
    series = logistic(3000, r=4.0, seed=3)["trajectory"][:, 0]
    est = largest_lyapunov_rosenstein(series, dim=1, delay=1, fit_range=(0, 6))
    assert abs(est.value - math.log(2)) <= K * est.stderr, est


def test_delay_embed():
    e = delay_embed(np.arange(10.0), 3, 2)
    assert e.shape == (6, 3)
    np.testing.assert_array_equal(e[0], [0, 2, 4])
    np.testing.assert_array_equal(e[-1], [5, 7, 9])


def test_choose_delay_rules():
    # Henon: I(tau) decays to its noise floor with no minimum; the autocorrelation is -0.3 at lag 1
    c = choose_delay(henon(5000, seed=3)["trajectory"][:, 0])
    assert c.delay == 1 and c.rule.startswith("first lag with autocorrelation below 1/e")
    # Lorenz x every dt = 0.01: a genuine first minimum of I(tau), above the floor
    c = choose_delay(lorenz(20_000, seed=1)["trajectory"][:, 0])
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
    fnn = false_nearest_neighbours(henon(5000, seed=2)["trajectory"][:, 0], delay=1, max_dim=5)
    assert fnn.dim == 2 and fnn.fnn_fraction[0] > 0.5
    x = lorenz(20_000, seed=2)["trajectory"][::5, 0]
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
    (lambda: correlation_dimension(np.ones((5, 2))), "`points` must be"),
    (lambda: correlation_dimension(np.full((50, 2), np.nan)), "finite"),
    (lambda: correlation_dimension(np.ones((50, 2))), "identical"),
    (lambda: correlation_dimension(np.random.rand(50, 2), theiler=-1), "`theiler` must be"),
    (lambda: correlation_dimension(np.random.rand(50, 2), n_radii=2), "`n_radii` must be"),
    (lambda: correlation_dimension(np.random.rand(50, 2), radii=[0.1, 0.05, 0.2]), "`radii` must be"),
    (lambda: correlation_dimension(np.random.rand(50, 2), fit_range=(0.5, 0.51)), "fit_range"),
    (lambda: correlation_dimension(np.random.rand(50, 2), tol=2.0), "`tol` must be"),
    (lambda: delay_embed(np.arange(5.0), 3, 3), "too short"),
    (lambda: delay_embed(np.arange(5.0), 0, 1), "`dim` must be"),
    (lambda: choose_delay(np.ones(100)), "constant"),
    (lambda: false_nearest_neighbours(np.random.rand(100), delay=0), "`delay` must be"),
    (lambda: largest_lyapunov_rosenstein(np.random.rand(100), delay=1), "`dim` is required"),
    (lambda: largest_lyapunov_rosenstein(np.random.rand(100), dim=2, fit_range=(3, 4)), "fit_range"),
    (lambda: participation_ratio([-1.0, 2.0]), "explained_variance"),
    (lambda: participation_ratio([0.0, 0.0]), "zeros"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_dimension_and_rosenstein_print_themselves():
    # the table line shows the value, its error and the method; details show what the old
    # `dynsim analyze` printed: both parts of the uncertainty, the scaling region, the rule, z
    x = henon(5000, seed=1)["trajectory"]
    est = correlation_dimension(x, seed=0, reference=HENON_D2, reference_source="GP 1983")
    line = str(est)
    assert "\n" not in line and f"{est.value:.6g} ± {est.stderr:.2g}" in line
    assert line.endswith("Grassberger-Procaccia D2")
    block = est.details("correlation_dimension")
    assert block.startswith(f"correlation_dimension: {est.value:.4f} ± {est.stderr:.2g} (= "
                            f"{est.fit_stderr:.2g} fit SE + {est.spread:.2g} SD of local slopes")
    for needle in ("  scaling region r in [", "decades, radii ", "pairs of 5,000 points",
                   "  window rule: longest window", f"  reference {HENON_D2:.6g} (GP 1983): z = "):
        assert needle in block, (needle, block)
    assert sorted(est.to_dict()) == sorted(["value", "stderr", "ci", "method", "n", "reference",
                                            "reference_source", "data", "spread", "r_range",
                                            "n_pairs", "n_points", "theiler", "fit_stderr"])
    ros = largest_lyapunov_rosenstein(x[:, 0], dim=2, delay=1, fit_range=(1, 8))
    assert str(ros).endswith("Rosenstein 1993") and f"{ros.value:.6g} ± {ros.stderr:.2g}" in str(ros)
    block = ros.details("lyapunov_rosenstein")
    assert block.startswith(f"lyapunov_rosenstein: {ros.value:.4f} ± {ros.stderr:.2g} per sample")
    for needle in ("embedding dim 2, delay 1; slope of the mean log divergence over k in [1, 8)",
                   "fit range rule: fixed fit_range [1, 8)",
                   "local slopes of the divergence in the fit range"):
        assert needle in block, (needle, block)
