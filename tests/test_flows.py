"""Gradient flow and the central flow (Cohen, Damian, Talwalkar, Kolter & Lee, ICLR 2025,
arXiv:2410.24206) against exact facts; their comparison with GD is tests/test_flows_vs_gd.py.
"""

import math
import time

import numpy as np
import pytest
from scipy.linalg import expm

from dynsim.sims.eos import make_loss
from dynsim.analysis.tracking import edge_window
from dynsim.sims.flows import central_flow, gradient_flow, sigma2


def test_gradient_flow_on_a_quadratic_is_exact():
    lr, h = 0.1, (10.0, 4.0, 1.0)
    tr = gradient_flow(system="quadratic", lr=lr, steps=50, spectrum=h, rotated=True, seed=2,
                       rtol=1e-10)
    hess = make_loss("quadratic", spectrum=h, rotated=True,
                     rng=np.random.default_rng(np.random.SeedSequence([2]))).hessian(np.zeros(3))
    w0 = np.ones(3)
    for t in (1, 10, 50):
        np.testing.assert_allclose(tr["trajectory"][t], expm(-lr * t * hess) @ w0, rtol=1e-7, atol=1e-12)


def test_central_flow_is_gradient_flow_on_a_quadratic():
    # grad S = 0 on a quadratic: sigma^2 = 0, even above the edge (S = 15 > 2/lr = 10 here)
    for lr in (0.1, 0.2):
        cf = central_flow(system="quadratic", lr=lr, steps=40, seed=0)
        gf = gradient_flow(system="quadratic", lr=lr, steps=40, seed=0)
        assert np.all(cf["central_sigma2"] == 0.0)
        np.testing.assert_allclose(cf["trajectory"], gf["trajectory"], rtol=1e-12)
        np.testing.assert_allclose(cf["central_loss"], cf["loss"])


def test_gradient_flow_conserves_balancedness():
    # for a product loss gradient flow keeps w_i^2 - w_j^2: from (3.3, 0.05) it ends at xy = 1
    # with x^2 - y^2 = c, sharpness 2 sqrt(c^2 + 4) = 22.139 (above 2/lr = 20)
    tr = gradient_flow(system="minimalist", lr=0.1, steps=300, x0=(3.3, 0.05), seed=0)
    c = 3.3 ** 2 - 0.05 ** 2
    np.testing.assert_allclose(tr["trajectory"][:, 0] ** 2 - tr["trajectory"][:, 1] ** 2, c, rtol=1e-6)
    assert tr["sharpness"][-1] == pytest.approx(2 * math.sqrt(c * c + 4), rel=1e-6)


@pytest.mark.parametrize("system,kw", [("minimalist", {}), ("product", {"degree": 3})])
def test_grad_sharpness_is_d3_along_the_top_eigenvector(system, kw):
    loss = make_loss(system, **kw)
    rng = np.random.default_rng(0)
    e = 1e-6
    for _ in range(3):
        w = rng.uniform(0.4, 1.6, loss.dim)
        vals, vecs = np.linalg.eigh(loss.hessian(w))
        assert vals[-1] - vals[-2] > 1e-3          # a simple top eigenvalue
        fd = [(np.linalg.eigvalsh(loss.hessian(w + e * v))[-1]
               - np.linalg.eigvalsh(loss.hessian(w - e * v))[-1]) / (2 * e) for v in np.eye(loss.dim)]
        np.testing.assert_allclose(loss.d3(w, vecs[:, -1]), fd, atol=1e-6)


def test_sigma2_is_the_complementarity_solution():
    g, gs = np.array([1.0, -2.0]), np.array([0.5, 1.0])
    assert sigma2(g, np.zeros(2), 30.0, 0.1, 0.25) == 0.0          # no grad S: no correction
    # on the edge (S = 2/lr) sigma^2 = 2 <grad S, -grad L> / |grad S|^2 keeps dS/dt = 0
    s2 = sigma2(g, gs, 20.0, 0.1, 0.25)
    assert s2 == pytest.approx(2 * (-(gs @ g)) / (gs @ gs))
    assert gs @ (g + 0.5 * s2 * gs) == pytest.approx(0.0, abs=1e-12)
    assert sigma2(-g, gs, 20.0, 0.1, 0.25) == 0.0                   # flow leaves the edge
    assert sigma2(g, gs, 10.0, 0.1, 0.25) == 0.0                    # far below the edge


def test_edge_window_needs_a_sustained_stretch():
    r = np.concatenate([np.linspace(1.3, 0.6, 20), np.full(100, 0.63)])    # a crossing only
    assert edge_window(r, tol=0.05, window=50) is None
    r2 = np.concatenate([np.full(10, 0.5), np.full(30, 1.0), np.full(5, 0.5), np.full(60, 1.02),
                         np.full(5, 0.7)])
    assert edge_window(r2, tol=0.05, window=50) == (45, 105)
    assert edge_window(r2, tol=0.05, window=20) == (10, 40)
    assert edge_window(np.array([1.0, np.nan, 1.0]), tol=0.1, window=2) is None
    with pytest.raises(ValueError):
        edge_window(r, tol=0.0)


def test_stiff_central_flow_stops_with_a_reason():
    # lr 2: 2/lr = 1 lies below the sharpness of every minimum; the flow is stiff / non-smooth
    # and RK45 takes steps of 1e-8.  The work limit stops it with status failed and a reason.
    t0 = time.perf_counter()
    tr = central_flow(system="minimalist", lr=2.0, steps=3, seed=0)
    assert time.perf_counter() - t0 < 30.0
    assert tr.meta["status"] == "failed"
    sol = tr.meta["solver"]
    assert sol["nfev"] >= sol["max_evals"] == 20000 and "budget" in sol["message"]
    assert len(tr["loss"]) >= 1 and np.all(np.isfinite(tr["trajectory"]))
    small = gradient_flow(system="minimalist", lr=0.1, steps=50, max_evals=100, seed=0)
    assert small.meta["status"] == "failed" and len(small["loss"]) < 51


@pytest.mark.parametrize("fn,kw", [(central_flow, {"tau": 0.0}), (gradient_flow, {"lr": -0.1}),
                                   (gradient_flow, {"rtol": 0.5}), (central_flow, {"steps": 0}),
                                   (gradient_flow, {"system": "rosenbrock"}),
                                   (gradient_flow, {"x0": [1.0]}),
                                   (gradient_flow, {"method": "euler"}),
                                   (central_flow, {"max_evals": 1})])
def test_bad_inputs_raise_value_error(fn, kw):
    with pytest.raises(ValueError):
        fn(**kw, seed=0)
