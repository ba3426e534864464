"""Edge-of-stability toys: thresholds, calibration, Jacobians, Lyapunov exponents, CLI.

References, read from dynsim/data/references.json: the thresholds and their conventions
(``eos_threshold_*``; Cohen et al. 2021, 2022), Zhu et al.'s band for the minimalist toy
(``zhu_minimalist_sharpness_band``), and the calibrations measured with this code (seed-free: GD
has no randomness): the minimalist toy from (4.0, 0.1) at lr 0.1 (``minimalist_gd_lr01``: final
sharpness 19.9538, final point (3.14256, 0.31821)) and the product 1/2 (1 - xy)^2 from (5, 0.05)
and (6, 0.01) (``product_degree2_final_sharpness``: 12.5464 and 5.0538).
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import click
import numpy as np
import pytest
from click.testing import CliRunner

from dynsim import references, registry
from dynsim.analysis.lyapunov import lyapunov_spectrum
from dynsim.analysis.orbits import bifurcation_summary, orbit_period
from dynsim.analysis.rows.stability import stability
from dynsim.analysis.stability import max_stable_lr, quadratic_multipliers, threshold
from dynsim.sims.eos import (bifurcation, make_loss, minimalist, minimalist_eos_minimum, product,
                             quadratic, run_toy)
from dynsim.sims.eos.optimizers import SLOTS, opt_spec, opt_step
from dynsim.trace import load_run

# ---------------------------------------------------------------------------------------------
# thresholds: lr 1% on each side, on a rotated quadratic of sharpness 10


ZHU_BAND = references.band("zhu_minimalist_sharpness_band")   # (2/lr - 20 lr/3, 2/lr) at lr 0.1
MINIMALIST_S = references.value("minimalist_gd_lr01")           # GD at lr 0.1 from (4.0, 0.1)

SPECTRUM = (10.0, 4.0, 1.0)
NU0 = [1.0, 4.0, 16.0]     # a non-uniform frozen preconditioner P = diag(1, 2, 4) + eps
CASES = [("gd", "gd", {}), ("sgd", "gd", {"noise_std": 1e-3}), ("momentum", "heavy_ball", {}),
         ("nesterov", "nesterov", {}), ("ema", "ema_momentum", {}),
         ("rmsprop", "rmsprop_precond", {"freeze_at": 0, "nu0": 4.0}),
         ("adam", "adam_precond", {"freeze_at": 0, "nu0": 4.0}),
         ("rmsprop", "rmsprop_precond", {"freeze_at": 0, "nu0": NU0}),
         ("adam", "adam_precond", {"freeze_at": 0, "nu0": NU0})]
IDS = ["gd", "sgd", "momentum", "nesterov", "ema", "rmsprop", "adam", "rmsprop-nonuniform-P",
       "adam-nonuniform-P"]


def _frozen_precond_sharpness(nu0):
    """lambda_max(P^-1/2 H P^-1/2), P = sqrt(nu0) + eps, for the rotated quadratic of seed 3
    (the same Haar Q: make_rng(3) is default_rng(SeedSequence([3])))."""
    loss = make_loss("quadratic", spectrum=SPECTRUM, rotated=True,
                     rng=np.random.default_rng(np.random.SeedSequence([3])))
    h = loss.hessian(np.zeros(3))
    pre = np.sqrt(np.broadcast_to(np.asarray(nu0, dtype=float), (3,))) + 1e-8
    return float(np.linalg.eigvalsh(h / np.sqrt(np.outer(pre, pre)))[-1])


@pytest.mark.parametrize("opt,conv,kw", CASES, ids=IDS)
def test_threshold_one_percent_each_side(opt, conv, kw):
    # frozen P: the map is GD (RMSProp) or EMA momentum (Adam) with lr P^-1, whose threshold is
    # on lambda_max(P^-1 H); for the scalar nu0 = 4 that is 10 / 2, for NU0 (P = diag(1, 2, 4) in
    # the coordinates, not the eigenbasis of the rotated H) it is computed from P and H.
    # SGD: additive noise N(0, 1e-6 I) does not move the threshold of the mean dynamics.
    sharp = _frozen_precond_sharpness(kw["nu0"]) if "nu0" in kw else SPECTRUM[0]
    if kw.get("nu0") is NU0:
        assert abs(sharp - 10.0 / 2.0) > 1.0            # not the uniform case in disguise
    lr_star = max_stable_lr(conv, sharp, beta=0.9)
    below = quadratic(opt=opt, lr=0.99 * lr_star, steps=3000, spectrum=SPECTRUM, rotated=True,
                      jacobian=False, seed=3, **kw)
    above = quadratic(opt=opt, lr=1.01 * lr_star, steps=3000, spectrum=SPECTRUM, rotated=True,
                      jacobian=False, seed=3, **kw)
    for tr, f in ((below, 0.99), (above, 1.01)):
        assert tr.meta["threshold_convention"] == conv
        assert tr["threshold"][0] == pytest.approx(threshold(conv, f * lr_star, 0.9), rel=1e-12)
        key = "precond_sharpness" if "nu0" in kw else "sharpness"
        assert tr[key][0] / tr["threshold"][0] == pytest.approx(f, rel=1e-9)
    sb, sa = stability(below), stability(above)
    assert sb.verdict == "converged" and below["loss"][-1] < 1e-6 * below["loss"][0], sb
    assert sa.verdict == "diverged" and sa.divergence_step is not None, sa
    assert above["loss"][-1] > 1e6 * above["loss"][0]


def test_adaptive_optimizers_sit_at_their_threshold():
    # With P adapting, no divergence; lambda_max(P^-1 H) settles at the threshold.  Measured:
    # RMSProp late median ratio 1.0000 (within 1e-8; rmsprop_quadratic_precond_ratio), Adam 0.955
    # at beta2 = 0.999 after 20000 steps (adam_quadratic_precond_ratio: 0.94-0.97; the bounds
    # below are this test's own).
    rms = stability(quadratic(opt="rmsprop", lr=0.1, steps=5000, jacobian=False, seed=0))
    assert rms.verdict == "edge" and abs(rms.value - 1.0) < 1e-3, rms
    adam = stability(quadratic(opt="adam", lr=0.1, steps=20000, jacobian=False, seed=0))
    assert adam.verdict == "edge" and 0.9 <= adam.value <= 1.02, adam
    adam_threshold = references.value("eos_threshold_adam_precond")   # per 1/lr at beta1 = 0.9
    assert adam.threshold_value == pytest.approx(adam_threshold / 0.1)


# ---------------------------------------------------------------------------------------------
# calibration of the minimalist toy and the degree-2 contrast


def test_minimalist_calibration():
    lr = 0.1
    tr = minimalist(lr=lr, x0=(4.0, 0.1), steps=3000, jacobian=False, seed=0)
    s = tr["sharpness"][-1]
    assert tr.meta["status"] == "ok"
    assert ZHU_BAND[0] < s < ZHU_BAND[1]                     # Zhu et al. Cor. 3.1
    assert s == pytest.approx(MINIMALIST_S, abs=1e-3)
    np.testing.assert_allclose(tr["trajectory"][-1, :2], [3.143, 0.318], atol=1e-3)
    # the slice z = x, w = y is invariant bit for bit
    assert np.array_equal(tr["trajectory"][:, 0], tr["trajectory"][:, 2])
    assert np.array_equal(tr["trajectory"][:, 1], tr["trajectory"][:, 3])
    assert stability(tr).verdict == "converged"
    same = minimalist(lr=lr, x0=(3.5, 0.2), steps=3000, jacobian=False, seed=0)
    assert same["sharpness"][-1] == pytest.approx(MINIMALIST_S, abs=1e-3)
    for x0 in ((5.0, 0.05), (4.5, 0.1)):                    # minimalist_gd_lr01: these diverge
        bad = minimalist(lr=lr, x0=x0, steps=3000, jacobian=False, seed=0)
        assert bad.meta["status"] == "diverged" and stability(bad).verdict == "diverged"


def test_minimalist_sharpness_is_the_4d_hessian():
    loss = make_loss("minimalist")
    for x in (0.5, 1.0, 3.0):
        w = np.array([x, 1 / x, x, 1 / x])                   # a minimum on the slice
        top = np.linalg.eigvalsh(loss.hessian(w))[-1]
        assert top == pytest.approx(2 * (x * x + 1 / x ** 2), rel=1e-12)   # not 4 (x^2 + y^2)
    x, y = minimalist_eos_minimum(0.1)
    assert x * y == pytest.approx(1.0) and 2 * (x * x + y * y) == pytest.approx(20.0)


def test_product_contrast_does_not_settle_at_the_edge():
    for x0, ref in zip(((5.0, 0.05), (6.0, 0.01)),
                       references.value("product_degree2_final_sharpness")):
        tr = product(lr=0.1, x0=x0, steps=3000, jacobian=False, seed=0)
        assert tr["sharpness"][-1] == pytest.approx(ref, abs=0.01)
        st = stability(tr)
        assert st.verdict == "converged" and st.value < 0.7, st  # far below 2/lr


# ---------------------------------------------------------------------------------------------
# derivatives and Jacobians against finite differences


@pytest.mark.parametrize("system,kw", [("quadratic", {"spectrum": (3.0, 2.0, -1.0), "rotated": True}),
                                       ("product", {"degree": 2}), ("product", {"degree": 3}),
                                       ("minimalist", {})])
def test_loss_derivatives_match_finite_differences(system, kw):
    loss = make_loss(system, rng=np.random.default_rng(1), **kw)
    rng = np.random.default_rng(2)
    e = 1e-6
    for _ in range(3):
        w, u = rng.uniform(0.3, 1.5, loss.dim), rng.normal(size=loss.dim)
        eye = np.eye(loss.dim)
        g_fd = [(loss.value(w + e * v) - loss.value(w - e * v)) / (2 * e) for v in eye]
        h_fd = np.array([(loss.grad(w + e * v) - loss.grad(w - e * v)) / (2 * e) for v in eye])
        d3_fd = [(u @ loss.hessian(w + e * v) @ u - u @ loss.hessian(w - e * v) @ u) / (2 * e)
                 for v in eye]
        np.testing.assert_allclose(loss.grad(w), g_fd, atol=1e-7)
        np.testing.assert_allclose(loss.hessian(w), h_fd.T, atol=1e-7)
        np.testing.assert_allclose(loss.d3(w, u), d3_fd, atol=1e-6)


@pytest.mark.parametrize("opt,freeze_at", [("gd", None), ("momentum", None), ("nesterov", None),
                                           ("ema", None), ("rmsprop", None), ("rmsprop", 3),
                                           ("adam", None), ("adam", 0)])
def test_optimizer_jacobians_match_finite_differences(opt, freeze_at):
    loss = make_loss("minimalist")
    code, op, _ = opt_spec(opt, beta=0.9, beta1=0.9, beta2=None, eps=1e-8, noise_std=None,
                           freeze_at=freeze_at, nu0=0.3)
    d, k = loss.dim, SLOTS[code]
    rng = np.random.default_rng(0)
    state = np.concatenate([[1.3, 0.6, 1.1, 0.7], rng.uniform(0.1, 0.5, (k - 1) * d)])
    pre0 = rng.uniform(0.5, 1.5, d)                          # the frozen P, where it applies

    def step(s, want):
        w, s1, s2 = s[:d].copy(), np.zeros(d), np.zeros(d)
        if k > 1:
            s1[:] = s[d:2 * d]
        if k > 2:
            s2[:] = s[2 * d:]
        jac = np.zeros((k * d, k * d))
        opt_step(code, op, 0.05, 5, w, s1, s2, loss.grad(w), loss.hessian(w), pre0.copy(), jac,
                 want)
        return np.concatenate([w, s1, s2][:k]), jac

    jac = step(state, True)[1]
    e = 1e-6
    fd = np.array([(step(state + e * v, False)[0] - step(state - e * v, False)[0]) / (2 * e)
                   for v in np.eye(k * d)]).T
    np.testing.assert_allclose(jac, fd, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# Lyapunov exponents of the optimizer maps on a quadratic: exact


def test_lyapunov_of_gd_on_a_quadratic_is_log_abs_one_minus_lr_h():
    lr, h = 0.15, np.array([10.0, 4.0, 1.0])
    tr = quadratic(lr=lr, spectrum=h, rotated=True, steps=400, seed=7)
    spec = lyapunov_spectrum(tr["jacobian"], transient=50, blocks=10)
    exact = np.sort(np.log(np.abs(1 - lr * h)))[::-1]        # ln 0.85, ln 0.5, ln 0.4
    np.testing.assert_allclose(np.sort(spec.exponents)[::-1], exact, atol=1e-10)
    np.testing.assert_allclose(np.sort(spec.exponents)[::-1],
                               np.sort(np.log(np.abs(quadratic_multipliers("gd", lr, h)))
                                       .ravel())[::-1], atol=1e-10)


def test_lyapunov_of_heavy_ball_is_log_root_moduli():
    # beta = 0.1, lr h = 2.0 and 0.3: real roots of distinct moduli 0.770, 0.645, 0.155, 0.130
    # (complex pairs share a modulus and QR separates them only slowly)
    lr, h, beta = 0.1, np.array([20.0, 3.0]), 0.1
    tr = quadratic(opt="momentum", lr=lr, beta=beta, spectrum=h, steps=400, seed=0)
    spec = lyapunov_spectrum(tr["jacobian"], transient=100, blocks=10)
    roots = quadratic_multipliers("heavy_ball", lr, h, beta)
    exact = np.sort(np.log(np.abs(roots)).ravel())[::-1]
    np.testing.assert_allclose(np.sort(spec.exponents)[::-1], exact, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# bifurcation diagram


# the exact onsets (keys product_balanced_flip_lr, product_balanced_period4_lr), kept as formulas:
# the tests below compare with them to 1e-10, beyond the digits the entries store
BALANCED_FLIP = 1.0                  # f(x) = x + lr x (1 - x^2): f'(1) = 1 - 2 lr = -1 at lr = 1
PERIOD4_ONSET = math.sqrt(5.0) - 1.0  # derived in test_period_four_onset_is_derived


def test_period_doubling_one_percent_each_side_of_the_flip():
    # GD on 1/2 (1 - xy)^2 from the balanced (0.5, 0.5) stays balanced: x' = x + lr x (1 - x^2).
    # The minimum x = 1 has sharpness 2, so it flips at lr = 2/2 = 1 (period 1 -> 2), and the
    # 2-cycle flips at lr = sqrt(5) - 1 (period 2 -> 4); lr 1% each side of both.
    tr = bifurcation(lr_min=0.99 * BALANCED_FLIP, lr_max=1.01 * BALANCED_FLIP, n_lr=2,
                     steps=3000, keep=200, seed=0)
    assert [orbit_period(tr["bifurcation_iterates"][i]) for i in range(2)] == [1, 2]
    assert tr["bifurcation_sharpness"][0, -1] == pytest.approx(2.0, rel=1e-9)
    # at the minimum J = I - lr q q^T, q = (1, 1): multipliers 1 - 2 lr and 1 (the valley), so
    # the exponents sum to ln|1 - 2 lr| (= ln|det J|, exact; 160 QR steps split two exponents
    # 0.02 apart only roughly)
    assert tr["bifurcation_lyapunov"][0].sum() == pytest.approx(math.log(abs(1 - 2 * 0.99)),
                                                                abs=1e-6)
    tr4 = bifurcation(lr_min=0.99 * PERIOD4_ONSET, lr_max=1.01 * PERIOD4_ONSET, n_lr=2,
                      steps=3000, keep=200, seed=0)
    assert [orbit_period(tr4["bifurcation_iterates"][i]) for i in range(2)] == [2, 4]
    assert np.all(tr4["bifurcation_lyapunov"][:, 0] < 0)


def test_period_four_onset_is_derived():
    # the 2-cycle {p, q} of f loses stability where f'(p) f'(q) = -1: solved here, it is
    # lr = sqrt(5) - 1 with q = 1/sqrt(2) (checked in closed form below)
    from scipy.optimize import fsolve

    def f(x, a):
        return x + a * x * (1 - x * x)

    def fp(x, a):
        return 1 + a * (1 - 3 * x * x)

    p, q, a = fsolve(lambda v: [f(v[0], v[2]) - v[1], f(v[1], v[2]) - v[0],
                                fp(v[0], v[2]) * fp(v[1], v[2]) + 1], [1.2, 0.7, 1.24])
    assert a == pytest.approx(PERIOD4_ONSET, abs=1e-10)
    assert min(p, q) == pytest.approx(1 / math.sqrt(2), abs=1e-10)
    qq = 1 / math.sqrt(2)
    assert f(f(qq, PERIOD4_ONSET), PERIOD4_ONSET) == pytest.approx(qq, abs=1e-12)


def test_period_doubling_into_chaos_past_the_threshold():
    # The same map over lr 0.9-1.5 (61 lr, step 0.01).  GD has no randomness, so these are exact
    # outputs of this map, not statistics.  Derived: period 1 below lr 1, period 2 up to
    # sqrt(5) - 1 = 1.236 (tests above).  Beyond, the cascade follows Feigenbaum's
    # delta = 4.669 (feigenbaum_delta): from the first two onsets (1, 1.2361) it predicts period 8
    # from ~1.2867, 16 from ~1.2975 and the accumulation point ~1.3005, so period 4 at 1.26, 8 at
    # 1.29, 16 at 1.30 and chaos (lambda_1 > 3 SE) from 1.31 are what the cascade implies; the
    # period-3 window at 1.46 and the chaotic band 1.31-1.45 are measured with this code.
    tr = bifurcation(lr_min=0.9, lr_max=1.5, n_lr=61, steps=3000, keep=200, seed=0)
    lr, lam, se = (tr[k] for k in ("bifurcation_lr", "bifurcation_lyapunov",
                                   "bifurcation_lyapunov_se"))
    period = {round(v, 2): orbit_period(tr["bifurcation_iterates"][i]) for i, v in enumerate(lr)}
    assert all(period[round(v, 2)] == 1 for v in lr if v < BALANCED_FLIP - 1e-9)
    assert all(period[round(v, 2)] == 2 for v in lr if BALANCED_FLIP < v < PERIOD4_ONSET)
    assert [period[v] for v in (1.26, 1.29, 1.3, 1.46)] == [4, 8, 16, 3]
    chaos = [i for i, v in enumerate(lr) if 1.315 <= v <= 1.445]
    assert all(period[round(lr[i], 2)] == 0 and lam[i, 0] - 3 * se[i, 0] > 0 for i in chaos)
    assert np.all(lam[lr < 1.305, 0] < 1e-3)
    assert np.all(tr["bifurcation_diverged_at"] == -1)
    summary = bifurcation_summary(lr, lam[:, 0], se[:, 0], tr["bifurcation_diverged_at"])
    assert summary.data["chaos_onset_lr"] == pytest.approx(1.31)
    assert tr["bifurcation_threshold"][0] == pytest.approx(2 / 0.9)


def test_bifurcation_study_through_the_api():
    from matplotlib.figure import Figure

    from dynsim.studies.bifurcation import BifurcationResult, bifurcation_diagram

    res = bifurcation_diagram(system="product", lr_min=0.9, lr_max=1.5, n_lr=13, steps=1500,
                              keep=100, seed=0)
    assert isinstance(res, BifurcationResult)
    lr = res.trace["bifurcation_lr"]
    # period 1 below lr 1 (2/lr meets the balanced minimum's sharpness 2), period 2 to 1.236
    assert [res.period[i] for i in range(lr.size) if lr[i] < 0.99] == [1, 1]
    assert all(res.period[i] == 2 for i in range(lr.size) if 1.01 < lr[i] < 1.23)
    assert res.state[0] == "fixed point" and res.state[3] == "period 2"
    assert "chaotic (lambda_1 > 0)" in res.state and res.diverged == (-1,) * 13
    assert res.summary.data["chaos_onset_lr"] == pytest.approx(1.35)
    table = str(res)
    assert "onset of chaos (lambda_1 > 3 SE): lr = 1.35" in table and "period 2" in table
    payload = json.loads(res.to_json())
    assert payload["period"] == list(res.period) and payload["summary"]["value"] > 0
    assert isinstance(res.figure(), Figure)


def test_a_growing_orbit_counts_as_diverged_in_the_row_and_the_study():
    # one rule (orbits.divergence_steps): a run that did not stop but whose kept iterates run
    # away is diverged, so its large exponent is neither the maximum nor the onset of chaos
    from dynsim.analysis import measure
    from dynsim.analysis.orbits import divergence_steps
    from dynsim.trace import make_trace

    bounded = np.tile([[0.3], [0.7]], (10, 1))
    growing = np.geomspace(1.0, 1e5, 20)[:, None]
    windows = np.stack([bounded, bounded, growing])
    assert divergence_steps([-1, 7, -1], windows).tolist() == [-1, 7, 0]
    assert divergence_steps([-1, 7, -1]).tolist() == [-1, 7, -1]
    with pytest.raises(ValueError, match="one window per run"):
        divergence_steps([-1, -1], windows)
    tr = make_trace("eos.bifurcation", {}, 0, {
        "bifurcation_lr": np.array([1.0, 1.1, 1.2]), "bifurcation_iterates": windows,
        "bifurcation_lyapunov": np.array([[0.2], [0.5], [3.0]]),
        "bifurcation_lyapunov_se": np.full((3, 1), 0.01),
        "bifurcation_diverged_at": np.array([-1, 7, -1])})
    s = measure(tr)["bifurcation"]
    assert s.value == pytest.approx(0.2) and s.data["n_diverged"] == 2
    assert s.data["chaos_onset_lr"] == pytest.approx(1.0)


def test_single_run_is_stream_zero_of_the_sweep():
    one = quadratic(opt="sgd", lr=0.12, steps=300, noise_std=0.3, jacobian=False, seed=11)
    sweep = bifurcation(system="quadratic", opt="sgd", lr_min=0.12, lr_max=0.2, n_lr=3,
                        steps=300, keep=50, noise_std=0.3, seed=11)
    np.testing.assert_array_equal(sweep["bifurcation_iterates"][0], one["trajectory"][-50:])
    other = quadratic(opt="sgd", lr=0.12, steps=300, noise_std=0.3, jacobian=False, seed=12)
    assert not np.array_equal(other["trajectory"], one["trajectory"])


# ---------------------------------------------------------------------------------------------
# SGD on a minibatch of quadratics: random Jacobians I - lr H_B


def test_minibatch_quadratics_average_to_h_and_full_batch_is_gd():
    from dynsim.sims.eos.losses import quadratic_components

    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    a = quadratic_components(q, np.array(SPECTRUM), 7, rng)
    np.testing.assert_allclose(a.T @ a / 7, (q * SPECTRUM) @ q.T, atol=1e-12)
    full = quadratic(opt="sgd", lr=0.15, minibatch=16, n_quadratics=16, spectrum=SPECTRUM,
                     rotated=True, steps=300, seed=4)
    gd = quadratic(opt="gd", lr=0.15, spectrum=SPECTRUM, rotated=True, steps=300, seed=4)
    np.testing.assert_allclose(full["trajectory"], gd["trajectory"], rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(full["jacobian"], gd["jacobian"], atol=1e-12)
    assert full.params["noise_std"] == 0.0 and full.params["minibatch"] == 16


def test_minibatch_sgd_jacobian_is_i_minus_lr_h_batch():
    lr, b, n = 0.1, 2, 16
    tr = quadratic(opt="sgd", lr=lr, minibatch=b, n_quadratics=n, spectrum=SPECTRUM,
                   rotated=True, steps=400, seed=4)
    w, jac = tr["trajectory"], tr["jacobian"]
    hb = (np.eye(3) - jac) / lr
    # the step is the linear map J_t (no additive noise): w_{t+1} = J_t w_t
    np.testing.assert_allclose(np.einsum("tij,tj->ti", jac[:-1], w[:-1]), w[1:], atol=1e-12)
    # H_B is the mean of b rank-one rows: rank <= b, PSD, and it changes from step to step
    eig = np.linalg.eigvalsh(hb)
    assert np.all(eig[:, 0] > -1e-9) and np.all(np.abs(eig[:, : 3 - b]) < 1e-9)
    assert not np.allclose(hb[0], hb[1])
    # unbiased: the mean of H_B over steps is H (each entry within 4 SE)
    h = make_loss("quadratic", spectrum=SPECTRUM, rotated=True,
                  rng=np.random.default_rng(np.random.SeedSequence([4]))).hessian(np.zeros(3))
    se = hb.std(axis=0, ddof=1) / math.sqrt(hb.shape[0])
    assert np.all(np.abs(hb.mean(axis=0) - h) <= 4 * se + 1e-12)
    # the full-batch channels stay those of the full loss
    assert tr["sharpness"][0] == pytest.approx(10.0) and tr["threshold"][0] == pytest.approx(20)
    again = quadratic(opt="sgd", lr=lr, minibatch=b, n_quadratics=n, spectrum=SPECTRUM,
                      rotated=True, steps=400, seed=4)
    other = quadratic(opt="sgd", lr=lr, minibatch=b, n_quadratics=n, spectrum=SPECTRUM,
                      rotated=True, steps=400, seed=5)
    assert np.array_equal(again["trajectory"], w) and not np.array_equal(other["trajectory"], w)


def test_random_products_destabilise_sgd_below_the_gd_threshold():
    # lr 0.15 < 2/10: GD converges (rate ln 0.85 = -0.16 along h = 1, ln 0.5 along h = 10), but
    # SGD with one of 16 rank-one quadratics per step multiplies I - lr a_i a_i^T, whose
    # eigenvalue 1 - lr |a_i|^2 is often far below -1: the top Lyapunov exponent of the random
    # product is positive (measured 0.065 +- 0.008) and equals the growth rate of |w| (a linear
    # random map: both are lim (1/T) ln |J_T ... J_1 w_0| for generic w_0).
    gd = quadratic(opt="gd", lr=0.15, spectrum=SPECTRUM, rotated=True, steps=2000, seed=4)
    assert stability(gd).verdict == "converged"
    tr = quadratic(opt="sgd", lr=0.15, minibatch=1, n_quadratics=16, spectrum=SPECTRUM,
                   rotated=True, steps=2000, seed=4)
    spec = lyapunov_spectrum(tr["jacobian"], transient=100, blocks=10)
    top = int(np.argmax(spec.exponents))
    lam, se = spec.exponents[top], spec.stderr[top]
    assert lam - 3 * se > 0, spec
    w = tr["trajectory"]
    growth = math.log(np.linalg.norm(w[-1]) / np.linalg.norm(w[100])) / (len(w) - 1 - 100)
    assert abs(growth - lam) < 3 * se + 1e-3
    assert tr.meta["status"] == "diverged" and stability(tr).verdict == "diverged"


@pytest.mark.parametrize("kw", [{"opt": "gd", "minibatch": 2}, {"opt": "sgd", "minibatch": 40},
                                {"opt": "sgd", "minibatch": 1, "n_quadratics": 1},
                                {"opt": "sgd", "minibatch": 1, "spectrum": (1.0, -1.0)},
                                {"opt": "sgd", "n_quadratics": 8}])
def test_minibatch_bad_inputs(kw):
    with pytest.raises(ValueError):
        quadratic(steps=10, seed=0, **kw)
    with pytest.raises(ValueError):
        run_toy("minimalist", opt="sgd", minibatch=2, steps=10, seed=0)


def test_many_starts_in_parallel_match_single_runs():
    from dynsim.sims.eos import starts

    x0s = [(4.0, 0.1), (3.5, 0.2), (5.0, 0.05)]   # minimalist_gd_lr01: two converge, one diverges
    tr = starts(system="minimalist", x0s=x0s, lr=0.1, steps=3000, keep=5, seed=0)
    assert tr["starts_x0"].shape == (3, 4) and tr["starts_iterates"].shape == (3, 5, 4)
    for i, x0 in enumerate(x0s):
        one = minimalist(lr=0.1, x0=x0, steps=3000, jacobian=False, seed=0)
        if one.meta["status"] == "ok":
            np.testing.assert_array_equal(tr["starts_iterates"][i], one["trajectory"][-5:])
            assert tr["starts_diverged_at"][i] == -1
        else:
            assert tr["starts_diverged_at"][i] == len(one["loss"])
            assert np.all(np.isnan(tr["starts_loss"][i]))
    assert tr["starts_sharpness"][0, -1] == pytest.approx(MINIMALIST_S, abs=1e-3)
    # noise: start 0 is the single run (stream 0), start 1 has its own stream
    noisy = starts(system="quadratic", x0s=[(1.0, 1.0), (1.0, 1.0)], opt="sgd", lr=0.05,
                   steps=200, keep=201, noise_std=0.1, seed=9)
    one = quadratic(opt="sgd", lr=0.05, steps=200, noise_std=0.1, jacobian=False, seed=9)
    np.testing.assert_array_equal(noisy["starts_iterates"][0], one["trajectory"])
    assert not np.array_equal(noisy["starts_iterates"][0], noisy["starts_iterates"][1])
    with pytest.raises(ValueError):
        starts(x0s=[(1.0, 2.0), (1.0, 2.0, 3.0)], seed=0)


DETERMINISM = textwrap.dedent("""
    import hashlib, numpy as np
    from dynsim.sims.eos import bifurcation, minimalist, quadratic, starts
    h = hashlib.sha256()
    tr = bifurcation(system="minimalist", opt="sgd", lr_min=0.05, lr_max=0.15, n_lr=24,
                     steps=400, keep=40, noise_std=0.01, seed=5)
    for k in sorted(tr.channels):
        h.update(np.ascontiguousarray(tr[k]).tobytes())
    h.update(minimalist(opt="adam", lr=0.01, steps=300, noise_std=0.05, seed=5)["trajectory"].tobytes())
    h.update(starts(system="quadratic", x0s=[(1.0, 2.0)] * 8, opt="sgd", lr=0.1, steps=100,
                    keep=20, noise_std=0.2, seed=5)["starts_iterates"].tobytes())
    h.update(quadratic(opt="sgd", lr=0.1, minibatch=3, n_quadratics=40, spectrum=(5, 3, 2, 1),
                       rotated=True, steps=300, seed=5)["trajectory"].tobytes())
    print(h.hexdigest())
""")


def test_same_seed_same_trace_with_1_and_2_threads():
    out = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        proc = subprocess.run([sys.executable, "-c", DETERMINISM], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        out.append(proc.stdout.strip())
    assert out[0] == out[1] and len(out[0]) == 64


# ---------------------------------------------------------------------------------------------
# figures


def test_figures_clip_a_diverged_run_and_mark_the_flip():
    from dynsim.plots.eos import plot_bifurcation, plot_run, pre_divergence
    from dynsim.studies.bifurcation import minimum_flip_lr

    bad = minimalist(lr=0.1, x0=(5.0, 0.05), steps=300, seed=0)   # minimalist_gd_lr01: diverges
    st = stability(bad)
    k = pre_divergence(bad, st)
    assert 1 <= k < len(bad["loss"]) and np.abs(bad["trajectory"][:k]).max() <= 100 * 5.0
    fig = plot_run(bad, st)
    traj = fig.axes[2]
    assert max(abs(v) for v in traj.get_xlim() + traj.get_ylim()) < 1e3   # was a 1e49 axis
    ok = minimalist(lr=0.1, steps=300, jacobian=False, seed=0)
    assert pre_divergence(ok, stability(ok)) == len(ok["loss"])
    tr = bifurcation(lr_min=0.8, lr_max=1.4, n_lr=13, steps=500, keep=50, seed=0)
    lr_f, s_min = minimum_flip_lr(tr)
    assert s_min == pytest.approx(2.0, rel=1e-6) and lr_f == pytest.approx(1.0, rel=1e-6)
    fig = plot_bifurcation(tr, flip=(lr_f, s_min))
    xs = [line.get_xdata()[0] for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]
    assert xs and xs[0] == pytest.approx(1.0, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize("fn,kw", [
    (quadratic, {"lr": 0.0}), (quadratic, {"lr": float("nan")}), (quadratic, {"steps": 0}),
    (quadratic, {"opt": "lbfgs"}), (quadratic, {"spectrum": []}),
    (quadratic, {"spectrum": [1.0, float("inf")]}), (quadratic, {"x0": [1.0, 2.0, 3.0]}),
    (quadratic, {"beta": 1.0}), (quadratic, {"freeze_at": 0}),
    (quadratic, {"opt": "sgd", "noise_std": 0.0}), (quadratic, {"eps": -1.0}),
    (minimalist, {"x0": [1.0, 2.0, 3.0]}), (product, {"degree": 1}), (product, {"degree": 9}),
    (product, {"x0": [1.0, 2.0, 3.0]}), (bifurcation, {"lr_min": 2.0, "lr_max": 1.0}),
    (bifurcation, {"steps": 100, "keep": 200}), (bifurcation, {"system": "rosenbrock"}),
    (bifurcation, {"n_lr": 1}),
])
def test_bad_inputs_raise_value_error(fn, kw):
    with pytest.raises(ValueError):
        fn(**kw, seed=0)


# ---------------------------------------------------------------------------------------------
# CLI (a group of its own until cli/main.py registers `eos`)


def _cli():
    from dynsim.cli.base import DynsimGroup
    from dynsim.cli.eos import eos

    @click.group(cls=DynsimGroup)
    def root():
        pass

    root.add_command(eos)
    return root


def _invoke(*args):
    return CliRunner().invoke(_cli(), list(args), prog_name="dynsim")


def test_cli_run_json_saves_and_plots(tmp_path):
    r = _invoke("eos", "run", "--system", "minimalist", "--lr", "0.1", "--steps", "3000",
                "--seed", "0", "--json", "--out", str(tmp_path / "run"), "--plot",
                str(tmp_path / "run.png"))
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    # lambda_max of the 4-D Hessian at the start (4, 0.1, 4, 0.1), computed, not pinned
    start = np.linalg.eigvalsh(make_loss("minimalist").hessian(np.array([4.0, 0.1, 4.0, 0.1])))
    assert payload["sharpness_start"] == pytest.approx(start[-1], rel=1e-12)
    assert payload["threshold"] == 20.0 and payload["threshold_convention"] == "gd"
    assert payload["status"] == "ok" and payload["verdict"] == "converged"
    assert payload["sharpness_final"] == pytest.approx(MINIMALIST_S, abs=1e-3)
    # the measures are measure()'s, the rows analyze shows for the same run folder
    m = payload["measures"]
    assert m["stability"]["verdict"] == "converged"
    assert sorted(m) == ["kaplan_yorke", "lyapunov_1", "lyapunov_2", "lyapunov_3", "lyapunov_4",
                         "sharpness", "sharpness_dimension", "stability"]
    assert m["sharpness"]["data"]["final"] == payload["sharpness_final"]
    saved = load_run(tmp_path / "run")
    assert saved.system == "eos.minimalist"
    # one spine: eos run reports what measure() gives for the run it saved
    from dynsim.analysis import measure
    from dynsim.cli.eos import RUN_MEASURES
    from dynsim.jsonutil import to_json

    again = json.loads(to_json(measure(saved, only=RUN_MEASURES).to_dict()["measures"]))
    assert again == m
    assert (tmp_path / "run.png").stat().st_size > 0
    table = _invoke("eos", "run", "--system", "quadratic", "--opt", "rmsprop", "--steps", "2000",
                    "--seed", "0")
    assert table.exit_code == 0 and "rmsprop_precond" in table.output and "edge" in table.output


def test_cli_run_minibatch_adaptive_default_and_no_nan():
    r = _invoke("eos", "run", "--system", "quadratic", "--opt", "sgd", "--minibatch", "2",
                "--n-quadratics", "8", "--lr", "0.05", "--steps", "500", "--seed", "0", "--json")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["params"]["minibatch"] == 2 and payload["params"]["noise_std"] == 0.0
    table = _invoke("eos", "run", "--system", "minimalist", "--lr", "0.1", "--seed", "0")
    assert table.exit_code == 0 and "nan" not in table.output, table.output
    # adaptive optimizers default to 20000 steps (Adam at 1000 printed "converged, ratio 0.045")
    adam = _invoke("eos", "run", "--system", "quadratic", "--opt", "adam", "--no-jacobian",
                   "--seed", "0", "--json")
    pa = json.loads(adam.stdout)
    assert pa["params"]["steps"] == 20000 and pa["verdict"] == "edge"
    short = _invoke("eos", "run", "--system", "quadratic", "--opt", "adam", "--steps", "1000",
                    "--no-jacobian", "--seed", "0")
    assert "not yet equilibrated" in short.output
    frozen = _invoke("eos", "run", "--system", "quadratic", "--opt", "rmsprop", "--freeze-at", "0",
                     "--nu0", "1,4", "--steps", "50", "--seed", "0", "--json")
    assert frozen.exit_code == 0 and json.loads(frozen.stdout)["params"]["nu0"] == [1.0, 4.0]
    bad = _invoke("eos", "run", "--system", "minimalist", "--minibatch", "2")
    assert bad.exit_code == 2 and "--minibatch" in bad.output


def test_cli_bifurcation_and_flows(tmp_path):
    r = _invoke("eos", "bifurcation", "--system", "product", "--lr-min", "0.9", "--lr-max", "1.5",
                "--n-lr", "13", "--steps", "1000", "--keep", "100", "--seed", "0", "--plot",
                str(tmp_path / "bif.png"))
    assert r.exit_code == 0, r.output
    assert "chaotic" in r.output and "period 2" in r.output
    assert (tmp_path / "bif.png").stat().st_size > 0
    f = _invoke("eos", "flows", "--system", "minimalist", "--steps", "300", "--seed", "0",
                "--json", "--out", str(tmp_path / "flows"))
    assert f.exit_code == 0, f.output
    payload = json.loads(f.stdout)
    assert payload["loss_gap_central"]["value"] < payload["loss_gap_gradient"]["value"]
    assert payload["mean_loss_error_central"] < 0.05 < 0.9 < payload["mean_loss_error_gradient"]
    assert load_run(tmp_path / "flows" / "central_flow").system == "flow.central"
    contrast = _invoke("eos", "flows", "--system", "product", "--steps", "300", "--seed", "0")
    assert contrast.exit_code == 0 and "never at the edge" in contrast.output, contrast.output
    assert "decades" not in contrast.output


@pytest.mark.parametrize("lr", ["0.5", "1"])
def test_cli_flows_refuses_a_diverging_gd_at_once(lr):
    # used to integrate the (stiff) central flow for minutes before looking at GD
    import time

    t0 = time.perf_counter()
    r = _invoke("eos", "flows", "--system", "minimalist", "--lr", lr, "--seed", "0")
    assert time.perf_counter() - t0 < 10.0
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "GD diverges" in lines[0], r.output


@pytest.mark.parametrize("args,flag", [
    (["eos", "run", "--lr", "0"], "--lr"), (["eos", "run", "--opt", "lbfgs"], "--opt"),
    (["eos", "run", "--system", "minimalist", "--spectrum", "1,2"], "--spectrum"),
    (["eos", "run", "--system", "quadratic", "--x0", "1,2,3"], "--x0 must have"),
    (["eos", "bifurcation", "--lr-min", "2", "--lr-max", "1"], "--lr-min must be < --lr-max"),
    (["eos", "flows", "--tau", "0"], "--tau"),
])
def test_cli_bad_input_one_line_exit_2(args, flag):
    r = _invoke(*args)
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and flag in lines[0], r.output


def test_starts_measures_count_divergence_and_the_edge():
    # minimalist_gd_lr01: from (4, 0.1) and (3.5, 0.2) GD at lr 0.1 converges to 4-D
    # sharpness 19.954 (ratio 0.9977 to 2/lr); from (5, 0.05) it diverges
    from dynsim.analysis import measure

    m = measure(registry.run("eos.starts", seed=1))
    assert m["starts_diverged"].value == pytest.approx(1 / 3)
    assert m["starts_diverged"].data == {"diverged": 1, "starts": 3}
    assert m["starts_sharpness_ratio"].value == pytest.approx(MINIMALIST_S * 0.1 / 2, abs=1e-4)


def test_gd_at_the_edge_tracks_the_constrained_trajectory():
    # Damian, Nichani & Lee (ICLR 2023; projected_gd_constraint): GD at the edge follows projected
    # GD onto {S <= 2/lr}.  Minimalist toy, lr 0.1, from the start (4.0, 0.1) of minimalist_gd_lr01
    from dynsim.sims.eos.projected import projected_gd
    from dynsim.sims.flows import gradient_flow

    lr, steps = 0.1, 2000
    pg = projected_gd(lr=lr, steps=steps, seed=0)
    gd = minimalist(lr=lr, steps=steps, seed=0)
    gf = gradient_flow(lr=lr, steps=steps, x0=(4.0, 0.1), seed=0)
    assert pg.meta["status"] == "ok" and pg["sharpness"].max() <= 2 / lr + 1e-8  # the constraint
    assert pg["projected_newton"][1] > 0  # the start (S = 32) is projected at once
    # its end point is an edge minimum: sharpness 2/lr, inside Zhu et al.'s band (19.33, 20]
    assert ZHU_BAND[0] < pg["sharpness"][-1] <= ZHU_BAND[1] + 1e-8
    # once GD is at the edge (steps >= 1000: sharpness ratio >= 0.97), the average of its period-2
    # oscillation sits on the constrained trajectory, at least 10x closer than gradient flow
    # (which conserves the sharpness above 2/lr and ends at another minimum); measured: 5e-3
    # against 1.2
    g = gd["trajectory"][:, :4]
    centre = (g[1:] + g[:-1]) / 2
    late = np.arange(1000, steps)
    assert np.all(gd["sharpness"][late] * lr / 2 > 0.97)
    to_pg = np.linalg.norm(centre[late] - pg["trajectory"][late], axis=1)
    to_gf = np.linalg.norm(centre[late] - gf["trajectory"][late], axis=1)
    assert np.all(10 * to_pg < to_gf)


def test_projected_gd_on_a_quadratic_past_the_threshold_fails_with_a_reason():
    # on a quadratic grad S = 0: there is no stable point to project to once S > 2/lr
    from dynsim.sims.eos.projected import projected_gd

    tr = projected_gd(system="quadratic", lr=0.2, steps=10, seed=0)  # S = 15 > 2/lr = 10
    assert tr.meta["status"] == "failed" and "no stable point" in tr.meta["reason"]
    ok = projected_gd(system="quadratic", lr=0.1, steps=10, seed=0)  # 15 < 20: plain GD
    assert ok.meta["status"] == "ok" and not ok["projected_newton"].any()
    with pytest.raises(ValueError, match="lr"):
        projected_gd(lr=0.0)


def test_adaptive_optimizers_default_to_more_steps_in_the_api_as_in_the_cli():
    # one default, written once: steps left unset are 3000 for GD on the minimalist toy and
    # ADAPTIVE_STEPS for rmsprop / adam, for the API, the CLI and the sweep's run ids alike
    from dynsim.sims.eos.systems import ADAPTIVE_STEPS
    from dynsim.sweep.spec import resolved_params

    assert resolved_params("eos.minimalist", {"lr": 0.1})["steps"] == 3000
    assert resolved_params("eos.quadratic", {"opt": "adam", "lr": 0.01})["steps"] == ADAPTIVE_STEPS
    tr = quadratic(opt="rmsprop", lr=0.01, jacobian=False, seed=0)
    assert tr.params["steps"] == ADAPTIVE_STEPS and len(tr["loss"]) == ADAPTIVE_STEPS + 1
