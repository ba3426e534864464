"""Power-law fits against known exponents, exact normalisations and the `powerlaw` package."""

import math
import warnings

import numpy as np
import pytest
from scipy import integrate, special, stats

from dynsim import references
from dynsim.analysis.fss import collapse, moment_analysis
from dynsim.analysis.powerlaw import (analyze_power_law, compare, fit_power_law, gof_bootstrap,
                                      sample_power_law)
from dynsim.analysis.powerlaw.binned import fit_binned
from dynsim.analysis.powerlaw.window import log_norm, window_cdf
from dynsim.analysis.powerlaw.zeta import hurwitz, hurwitz_d2

K = 3.0
P_GOF = references.value("csn_gof_p_threshold")  # CSN: bootstrap p <= 0.1 rules a power law out
P_LR = references.value("csn_lr_p_threshold")    # CSN: a likelihood-ratio sign counts for p < 0.1


def rng(seed):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("s,q", [(1.2, 1.0), (2.5, 1.0), (2.5, 7.0), (3.7, 55.0), (1.05, 3.0)])
def test_hurwitz_zeta_and_derivatives(s, q):
    assert hurwitz(s, q) == pytest.approx(special.zeta(s, q), rel=1e-13)
    z0, z1, z2 = hurwitz_d2(s, q)
    h = 1e-5
    d1 = (special.zeta(s + h, q) - special.zeta(s - h, q)) / (2 * h)
    d2 = (special.zeta(s + h, q) - 2 * special.zeta(s, q) + special.zeta(s - h, q)) / h**2
    assert z1 == pytest.approx(d1, rel=1e-7) and z2 == pytest.approx(d2, rel=1e-4)


def test_discrete_sampler_matches_pmf():
    x = sample_power_law(200_000, 2.2, 3.0, True, rng(0))
    for v in (3, 4, 7, 20):
        p = v**-2.2 / special.zeta(2.2, 3)
        assert abs(np.mean(x == v) - p) < K * math.sqrt(p * (1 - p) / x.size)


@pytest.mark.parametrize("alpha,xmin,discrete", [(2.5, 1, True), (1.8, 5, True), (3.2, 2, True),
                                                 (2.5, 1.0, False), (1.6, 10.0, False)])
def test_recovers_known_exponent_at_fixed_xmin(alpha, xmin, discrete):
    x = sample_power_law(10_000, alpha, xmin, discrete, rng(int(alpha * 10 + xmin)))
    fit = fit_power_law(x.astype(np.int64) if discrete else x, xmin=xmin)
    assert fit.ok and fit.discrete is discrete and fit.n_tail == 10_000
    assert abs(fit.alpha - alpha) < K * fit.stderr, fit


def test_discrete_standard_error_is_the_fisher_one():
    # the SD of alpha over replicates matches the Fisher SE; the continuous (alpha-1)/sqrt(n) is too small
    alphas = [fit_power_law(sample_power_law(1000, 2.5, 1, True, rng(s)).astype(int), xmin=1).alpha
              for s in range(300)]
    fit = fit_power_law(sample_power_law(1000, 2.5, 1, True, rng(1)).astype(int), xmin=1)
    sd = np.std(alphas, ddof=1)
    # the SD of an SD from 300 replicates has relative error 1/sqrt(2 * 299) ~ 4%
    assert abs(sd / fit.stderr - 1) < K * 0.041
    assert fit.stderr > 1.1 * (fit.alpha - 1) / math.sqrt(1000)


def test_discrete_fisher_se_over_the_continuous_one_is_the_reference_ratio():
    # per point: 1/sqrt(zeta''/zeta - (zeta'/zeta)^2) against (alpha - 1), at alpha 2.5, xmin 1
    z0, z1, z2 = hurwitz_d2(2.5, 1.0)
    ratio = 1 / math.sqrt(z2 / z0 - (z1 / z0) ** 2) / (2.5 - 1)
    assert ratio - 1 == pytest.approx(references.value("discrete_powerlaw_se_ratio"), abs=1e-7)


def test_xmin_scan_finds_the_tail_above_a_lognormal_body():
    # tolerance: K x the bootstrap SE of alpha (xmin rescanned in every replicate), which includes
    # the variance of choosing xmin that the Fisher SE at the chosen xmin leaves out
    r = rng(7)
    body = np.exp(r.normal(1.0, 0.8, 30_000))
    body = body[body < 30][:15_000]
    tail = sample_power_law(5_000, 2.3, 30.0, False, r)
    x = np.concatenate([body, tail])
    fit = fit_power_law(x)
    g = gof_bootstrap(x, fit, boot=60, seed=1)
    se = max(fit.stderr, g.alpha_stderr)
    assert 20 <= fit.xmin <= 45 and abs(fit.alpha - 2.3) < K * se, (fit, g)
    assert "quantile-spaced" in fit.candidates_rule and len(fit.scan["xmin"]) <= 200
    disc = np.concatenate([np.round(body).astype(int) + 1, sample_power_law(5_000, 2.3, 40, True, r)
                           .astype(int)])
    fitd = fit_power_law(disc)
    gd = gof_bootstrap(disc, fitd, boot=60, seed=2)
    sed = max(fitd.stderr, gd.alpha_stderr)
    assert fitd.discrete and 30 <= fitd.xmin <= 55 and abs(fitd.alpha - 2.3) < K * sed, (fitd, gd)


def test_failures_are_results_not_exceptions():
    fit = fit_power_law(np.array([1, 2, 3]))
    assert fit.status == "failed" and "tail" in fit.reason and math.isnan(fit.alpha)
    fit = fit_power_law(np.full(100, 4), xmin=4)
    assert fit.status == "failed" and "equal xmin" in fit.reason
    fit = fit_power_law(np.arange(1, 100), xmin=1000)
    assert fit.status == "failed" and "xmin=1000" in fit.reason
    for bad, msg in [(dict(x=[1.0, np.nan]), "finite"), (dict(x=[1.5, 2], discrete=True), "integer"),
                     (dict(x=[1, 2], xmin=-1), "xmin"), (dict(x=[1, 2], xmin=3, xmax=2), "xmax")]:
        with pytest.raises(ValueError, match=msg):
            fit_power_law(**bad)


def test_approximation_only_on_request_with_warning():
    x = sample_power_law(20_000, 2.5, 1, True, rng(3)).astype(int)
    exact = fit_power_law(x, xmin=1)
    with pytest.warns(UserWarning, match="off by more than 1%"):
        approx = fit_power_law(x, xmin=1, method="approx")
    assert "approximation" in approx.method and "Hurwitz" in exact.method
    assert abs(approx.alpha - exact.alpha) > 0.01  # the approximation is visibly off at xmin = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        far = fit_power_law(x, xmin=10, method="approx")
    assert abs(far.alpha - fit_power_law(x, xmin=10).alpha) < 0.02 * far.alpha


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.7, 3.0])
def test_window_normalisation_against_numerical_integration(alpha):
    z = math.exp(log_norm(alpha, 2.0, 300.0, False))
    assert z == pytest.approx(integrate.quad(lambda x: x**-alpha, 2, 300)[0], rel=1e-10)
    zd = math.exp(log_norm(alpha, 2.0, 300.0, True))
    assert zd == pytest.approx(sum(x**-alpha for x in range(2, 301)), rel=1e-12)
    cdf = window_cdf(np.array([2.0, 50.0, 300.0]), alpha, 2.0, 300.0, False)
    assert cdf[0] == 0 and cdf[2] == pytest.approx(1) and \
        cdf[1] == pytest.approx(integrate.quad(lambda x: x**-alpha, 2, 50)[0] / z, rel=1e-10)


def test_long_discrete_window_cdf_without_a_full_grid():
    # windows longer than DIRECT_SUM_MAX use Hurwitz zeta differences (a full integer grid of a
    # window at <s^2>/<s> ~ 1e9 took 14 GB); check them against direct sums
    from dynsim.analysis.powerlaw.window import DIRECT_SUM_MAX

    xmax = float(DIRECT_SUM_MAX + 1000)
    k = np.arange(1.0, xmax + 1)
    pmf = k**-1.7 / np.sum(k**-1.7)
    got = window_cdf(np.array([0.0, 1.0, 10.0, 12345.0, xmax]), 1.7, 1.0, xmax, True)
    want = [0.0, pmf[0], pmf[:10].sum(), pmf[:12345].sum(), 1.0]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_window_fit_recovers_exponent_that_a_plain_fit_misses():
    x = sample_power_law(100_000, 2.0, 1.0, False, rng(1))
    xw = x[x <= 100]
    win = fit_power_law(xw, xmin=1.0, xmax=100.0)
    plain = fit_power_law(xw, xmin=1.0)
    assert abs(win.alpha - 2.0) < K * win.stderr and abs(plain.alpha - 2.0) > 10 * plain.stderr
    xd = sample_power_law(100_000, 1.7, 1.0, True, rng(2)).astype(int)
    wind = fit_power_law(xd[xd <= 40], xmin=1, xmax=40)
    assert abs(wind.alpha - 1.7) < K * wind.stderr


def test_binned_mle_recovers_exponent():
    x = sample_power_law(100_000, 2.3, 1.0, False, rng(4))
    edges = np.geomspace(0.5, 1e5, 50)
    counts, _ = np.histogram(x, edges)
    fit = fit_binned(counts, edges)
    assert abs(fit.alpha - 2.3) < K * fit.stderr and "Virkar" in fit.method
    # pooled over layers on shared edges: the same exponent from (windows x layers x bins)
    stacked = np.stack([np.histogram(sample_power_law(20_000, 2.3, 1.0, False, rng(s)), edges)[0]
                        for s in range(6)]).reshape(2, 3, -1)
    pooled = fit_binned(stacked, edges)
    assert pooled.n_total == 120_000 and abs(pooled.alpha - 2.3) < K * pooled.stderr
    with pytest.raises(ValueError, match="bins"):
        fit_binned(counts[:-1], edges)


def test_bootstrap_p_values_are_uniform_for_true_power_laws():
    # 200 discrete power-law samples (alpha 2.5, xmin 1, n = 500), xmin rescanned in every replicate
    ps = []
    for s in range(200):
        x = sample_power_law(500, 2.5, 1.0, True, rng(1000 + s)).astype(np.int64)
        ps.append(gof_bootstrap(x, boot=60, seed=s).p)
    # p from 60 replicates lives on a grid: spread each value uniformly over its grid cell
    jitter = (np.array(ps) * 60 + rng(9).random(200)) / 61
    assert stats.kstest(jitter, "uniform").pvalue > 0.01


def test_continuous_bootstrap_p_values_are_not_anti_conservative():
    # 200 continuous power-law samples (alpha 2.5, xmin 1, n = 400), xmin rescanned: gof.py says
    # continuous p-values are conservative; what must hold is that a true power law is not ruled
    # out more often than the nominal 10% (P_GOF): P(p <= P_GOF) <= P_GOF + K SE of a binomial
    # fraction
    ps = np.array([gof_bootstrap(sample_power_law(400, 2.5, 1.0, False, rng(3000 + s)), boot=40,
                                 seed=s).p for s in range(200)])
    assert np.mean(ps <= P_GOF) <= P_GOF + K * math.sqrt(P_GOF * (1 - P_GOF) / 200), np.sort(ps)[:30]


def test_bootstrap_is_seeded_and_gives_intervals():
    x = sample_power_law(2000, 2.5, 1, True, rng(5)).astype(int)
    a = gof_bootstrap(x, boot=40, seed=3)
    b = gof_bootstrap(x, boot=40, seed=3)
    assert a == b and "small" not in a.direction and "rules the power law out" in a.direction
    assert a.alpha_ci[0] < 2.5 < a.alpha_ci[1]


def test_exponential_and_lognormal_are_not_called_power_laws():
    # min_decades=1 keeps every candidate tail at least a decade long, so the decade rule cannot
    # decide: the bootstrap and the likelihood-ratio tests must.  exponential: scale 10, shifted by
    # 1, n = 5000; lognormal: mu = 2, sigma = 0.7, n = 5000
    r = rng(11)
    exp = analyze_power_law(r.exponential(10.0, 5000) + 1.0, boot=50, seed=1, min_decades=1.0)
    logn = analyze_power_law(np.exp(r.normal(2.0, 0.7, 5000)), boot=50, seed=1, min_decades=1.0)
    for res, alt in ((exp, "exponential"), (logn, "lognormal")):
        assert res.verdict == "not a power law", res
        assert res.decades >= 1.0 and not any("decades" in why for why in res.reasons), res
        assert any(why.startswith("bootstrap p") for why in res.reasons), res
        assert res.gof.p <= P_GOF and abs(res.gof.p - P_GOF) >= 2 * res.gof.p_stderr
        assert res.comparisons[alt].favours == alt, res
        assert any(why.startswith("better fitted by") and alt in why for why in res.reasons)
    pl = analyze_power_law(sample_power_law(5000, 2.5, 1.0, False, r), boot=50, seed=1)
    assert pl.verdict == "plausible power law", pl
    comps = pl.comparisons
    assert comps["exponential"].favours == "power law"
    cut = analyze_power_law(r.exponential(1000, 20000).astype(int) + 1, boot=0).comparisons
    assert cut["truncated_power_law"].p < P_LR and cut["exponential"].favours == "exponential"


def test_verdict_is_undecided_within_the_monte_carlo_error_of_p():
    from dynsim.analysis.powerlaw.gof import GofResult
    from dynsim.analysis.powerlaw import verdict as vmod

    x = sample_power_law(3000, 2.5, 1, True, rng(61)).astype(int)
    real = vmod.gof_bootstrap

    def fake(*a, **kw):  # p = 0.08 from 50 replicates: SE 0.038, so 0.1 is within 2 SE
        g = real(*a, **{**kw, "boot": 5})
        return GofResult(0.08, math.sqrt(0.08 * 0.92 / 50), 50, g.ks, g.alpha_ci, g.alpha_stderr,
                         g.xmin_ci, g.seed)

    vmod.gof_bootstrap = fake
    try:
        res = analyze_power_law(x, boot=50, seed=1)
    finally:
        vmod.gof_bootstrap = real
    assert res.verdict == "undecided" and "within 2 Monte Carlo SE" in res.reasons[0], res


def test_failed_bootstrap_refits_count_against_the_fit():
    # n_tail = 12 of 12 with min_tail 10: many synthetic sets leave fewer than 10 distinct-valued
    # tail points, the refit fails; those replicates count as KS >= observed and are reported
    x = np.array([1, 1, 1, 2, 1, 3, 1, 1, 2, 5, 1, 9], dtype=np.int64)
    fit = fit_power_law(x, xmin=1)
    g = gof_bootstrap(x, fit, boot=200, seed=4)
    assert g.n_boot == 200 and g.n_failed > 0
    assert g.p >= g.n_failed / 200  # every failed refit is in p's numerator
    assert f"{g.n_failed} failed refits" in str(g)


def test_nonpositive_values_are_counted():
    x = np.r_[np.zeros(7, int), -np.ones(3, int), sample_power_law(500, 2.5, 1, True, rng(62))
              .astype(int)]
    fit = fit_power_law(x)
    assert fit.n_nonpositive == 10 and fit.n_total == 500
    assert "10 values <= 0 left out" in fit.footnotes() and "10 values <= 0" in fit.details()


def test_likelihood_ratio_on_discrete_data_uses_discrete_alternatives():
    # geometric data (exponential scale 20, floored, n = 5000) over the whole range: the discrete
    # exponential (geometric) alternative must win clearly
    x = (rng(12).exponential(20.0, 5000)).astype(int) + 1
    fit = fit_power_law(x, xmin=1)
    c = compare(x, fit)
    assert c["exponential"].R < 0 and c["exponential"].p < 1e-3
    assert c["exponential"].params["lambda"] == pytest.approx(-math.log(1 - 1 / 20.5), rel=0.05)
    with pytest.raises(ValueError, match="unknown alternative"):
        compare(x, fit, ("pareto",))


def test_agreement_with_powerlaw_package():
    powerlaw = pytest.importorskip("powerlaw")
    x = sample_power_law(20_000, 2.4, 1, True, rng(21)).astype(int)
    body = (rng(22).exponential(3, 5000)).astype(int) + 1
    for data in (x, np.concatenate([body, sample_power_law(8000, 2.4, 8, True, rng(23)).astype(int)])):
        ours = fit_power_law(data, xmin=2)
        theirs = powerlaw.Fit(data, discrete=True, xmin=2, estimate_discrete=False, verbose=0)
        assert abs(ours.alpha - theirs.power_law.alpha) < 1e-3, powerlaw.__version__
        ours = fit_power_law(data)
        theirs = powerlaw.Fit(data, discrete=True, estimate_discrete=False, verbose=0)
        if ours.xmin != theirs.xmin:
            assert abs(ours.ks - theirs.power_law.D) < 1e-3
        else:
            assert abs(ours.alpha - theirs.power_law.alpha) < 0.01


def test_finite_size_scaling_recovers_d_and_tau():
    # P(s; L) = s^-1.5 exp(-s / L^2) on s >= 1: tau = 1.5, D = 2.  Moments of heavy-tailed samples
    # need many avalanches: 2e5 per size, L = 16..128, q in [1, 3] (the default window)
    r = rng(31)

    def sizes(L, n, tau=1.5, D=2.0):
        s = sample_power_law(int(1.5 * n), tau, 1.0, False, r)
        return s[r.random(s.size) < np.exp(-s / L**D)][:n]

    data = {L: sizes(L, 200_000) for L in (16, 32, 64, 128)}
    res = moment_analysis(data, seed=1, boot=30)
    assert abs(res.D - 2.0) < K * res.D_stderr and abs(res.tau - 1.5) < K * res.tau_stderr, res
    cl = collapse(data, res.tau, res.D)
    assert set(cl) == set(data)
    with pytest.raises(ValueError, match="at least 3"):
        moment_analysis({8: data[16], 16: data[32]})


def test_min_decades_keeps_the_scan_out_of_a_cutoff():
    # a power law with an exponential cutoff (tau 1.5, cutoff 1e3): CSN's scan may settle in the
    # cutoff; with min_decades=1 every candidate leaves a decade of tail
    r = rng(41)
    s = sample_power_law(200_000, 1.5, 1, True, r)
    s = s[r.random(s.size) < np.exp(-s / 1e3)].astype(np.int64)
    fit = fit_power_law(s, min_decades=1.0)
    assert fit.xmin * 10 <= s.max() and "decades" in fit.candidates_rule
    assert np.all(fit.scan["xmin"] * 10 <= s.max())
    with pytest.raises(ValueError, match="min_decades"):
        fit_power_law(s, min_decades=-1)


def test_too_few_samples_is_a_failed_fit():
    for x in (np.array([], dtype=int), np.array([3, 4]), np.array([0.5])):
        fit = fit_power_law(x)
        assert fit.status == "failed" and "needed" in fit.reason


def test_windowed_fit_with_a_given_xmin_keeps_it_in_the_bootstrap():
    # `dynsim analyze sizes.npy --xmin 2 --xmax 100` on a true power law gave p = 0: the windowed
    # branch returned without recording the given xmin, so every replicate rescanned xmin
    x = sample_power_law(20_000, 2.0, 1, True, rng(71)).astype(np.int64)
    x = x[x <= 100]
    fit = fit_power_law(x, xmin=2, xmax=100)
    assert fit.xmin_given and fit.xmax == 100 and fit.min_decades == 0.0
    g = gof_bootstrap(x, fit, boot=100, seed=3)
    assert g.xmin_ci == (2.0, 2.0)  # every replicate at the given xmin
    assert g.p > 0.01, g
    res = analyze_power_law(x, xmin=2, xmax=100, boot=100, seed=3)
    assert res.verdict == "plausible power law" and res.fit.xmax_rule == "given", res
    # a scanned window keeps the tail-span rule in the fit, and the bootstrap refits by it
    scanned = fit_power_law(x, xmax=100, min_decades=1.0)
    assert scanned.min_decades == 1.0 and not scanned.xmin_given
    assert np.all(scanned.scan["xmin"] * 10 <= x.max())


def test_binned_fit_has_the_tail_span_rule_and_a_window():
    # power law tau 1.5 with an exponential cutoff at 1e5, on 20 log bins per decade: a plain scan
    # tries edges in the cutoff (where sandpile histograms fit best: Manna L=32 gave tau 8.0);
    # with min_decades=1 every candidate leaves a decade, and a window well below the cutoff
    # recovers the exponent of the power-law part
    r = rng(81)
    s = sample_power_law(400_000, 1.5, 1, True, r)
    s = s[r.random(s.size) < np.exp(-s / 1e5)]
    edges = np.unique(np.floor(np.geomspace(1, 1e6, 121))) - 0.5
    counts, _ = np.histogram(s, edges)
    plain = fit_binned(counts, edges)
    ruled = fit_binned(counts, edges, min_decades=1.0, xmax=1e3)
    top = edges[np.flatnonzero(counts)[-1] + 1]
    assert np.any(plain.scan["xmin"] * 10 > top)  # candidates in the cutoff, without the rule
    assert np.all(ruled.scan["xmin"] * 10 <= ruled.xmax) and ruled.xmax <= 1e3
    assert "decades" in ruled.candidates_rule and "window ends" in ruled.candidates_rule
    assert abs(ruled.alpha - 1.5) < K * ruled.stderr, ruled


def test_xmin_scan_band_uses_the_discrete_fisher_se():
    from dynsim.plots.powerlaw import alpha_band

    x = sample_power_law(5000, 2.5, 1, True, rng(91)).astype(int)
    fit = fit_power_law(x)
    band = alpha_band(fit)
    i = int(np.argmin(np.abs(fit.scan["xmin"] - fit.xmin)))
    assert band[i] == pytest.approx(fit.stderr, rel=1e-12)
    assert band[0] > 1.1 * (fit.scan["alpha"][0] - 1) / math.sqrt(fit.scan["n_tail"][0])


def test_a_given_xmin_is_used_as_given_and_kept_by_the_bootstrap():
    x = sample_power_law(2000, 2.5, 6, True, rng(51)).astype(int)
    below = fit_power_law(x, xmin=5)  # no data at 5: the law must start at 5 anyway
    assert below.xmin == 5 and below.xmin_given and below.ks > 0.1
    assert fit_power_law(x, xmin=6).ks < 0.03
    xc = sample_power_law(2000, 2.5, 10.0, False, rng(52))
    cont = fit_power_law(xc, xmin=5.0)
    assert cont.ks > 0.3  # KS at the given xmin, not at the data's first value
    # p-values with a given xmin: the observed KS and every replicate's at the same fixed xmin
    ps = []
    for s in range(40):
        y = sample_power_law(1000, 2.5, 1, True, rng(700 + s)).astype(int)
        ps.append(gof_bootstrap(y, fit_power_law(y, xmin=1), boot=40, seed=s).p)
    low = np.mean(np.array(ps) <= P_GOF)
    assert low < P_GOF + K * math.sqrt(P_GOF * (1 - P_GOF) / 40)  # about 10% expected under the null


def test_a_fit_nothing_tested_is_untested_not_plausible():
    # a window (no likelihood-ratio tests) and boot=0 (no bootstrap): an exponent, not a verdict
    x = sample_power_law(20000, 2.5, 1, True, np.random.default_rng(3)).astype(np.int64)
    res = analyze_power_law(x, xmin=2, xmax=200, boot=0)
    assert res.fit.ok and res.verdict == "untested" and not res.comparisons
    assert analyze_power_law(x, boot=0).verdict != "untested"  # the LR tests ran: a verdict


def test_power_law_results_print_themselves():
    # a table line: value, error, the method in a few words and the verdict; details: what the old
    # `dynsim analyze` block printed (range, tail, bootstrap, each LR test, verdict, notes)
    x = sample_power_law(2000, 2.5, 1, True, rng(70)).astype(np.int64)
    res = analyze_power_law(x, boot=20, seed=1)
    line = str(res)
    assert "\n" not in line and f"{res.value:.6g}" in line and f"± {res.stderr:.2g}" in line
    assert line.endswith(f"discrete MLE: {res.verdict}")
    block = res.details("size_exponent")
    assert block.startswith(f"size_exponent: alpha = {res.fit.alpha:.4f} ± {res.fit.stderr:.2g} "
                            f"(discrete MLE (Hurwitz zeta), Fisher SE)")
    for needle in ("  xmin = ", "n_tail = ", "tail spans ", "KS = ", "  bootstrap: p = ",
                   "fraction of synthetic KS", "  LR vs exponential: R = ",
                   "  LR vs truncated_power_law: R = ", "  verdict: "):
        assert needle in block, (needle, block)
    assert res.to_dict()["fit"]["alpha"] == res.fit.alpha and json_ok(res.to_json())
    # the fit alone: its own line and block; a caveat and the window note are footnotes, once
    win = analyze_power_law(x, xmax=100, boot=0, caveat="an effective exponent")
    assert "an effective exponent" in win.footnotes() and "no bootstrap goodness of fit (boot=0)" \
        in win.footnotes()
    from dynsim.analysis.results import format_table

    table = format_table({"a": win, "b": win})
    assert table.count("an effective exponent") == 1 and table.count("[1]") == 3, table
    assert "note: an effective exponent" in win.details("a")
    assert str(win.fit).endswith("discrete MLE on [xmin, xmax]")
    assert win.fit.details().startswith("power_law: alpha = ") and "window [xmin, 100]" in \
        win.fit.details()


def test_binned_fit_prints_itself():
    x = sample_power_law(50_000, 2.3, 1.0, False, rng(71))
    edges = np.geomspace(0.5, 1e5, 50)
    fit = fit_binned(np.histogram(x, edges)[0], edges)
    assert str(fit).endswith("binned MLE") and f"{fit.alpha:.6g}" in str(fit)
    block = fit.details("update_exponent")
    assert block.startswith(f"update_exponent: alpha = {fit.alpha:.4f} ± {fit.stderr:.2g} "
                            f"(binned MLE (Virkar & Clauset 2014)")
    assert "  bmin = " in block and "KS (binned CDF) = " in block
    assert "no bootstrap or likelihood-ratio tests on binned data" in fit.footnotes()
    failed = fit_binned(np.r_[5, np.zeros(48)], edges)
    assert str(failed).endswith("no fit") and failed.details("u").startswith("u: no fit (")


def json_ok(text: str) -> bool:
    import json

    return isinstance(json.loads(text), dict)
