"""Reference maps (Henon, logistic, Lorenz by RK4): orbits, exact Jacobians, seeds, bad input."""

import math

import numpy as np
import pytest

from dynsim.params import check_params
from dynsim.sims.maps import henon, logistic, lorenz


def test_henon_orbit_and_jacobian():
    tr = henon(500, a=1.4, b=0.3, transient=100, seed=4)
    x, jac = tr["trajectory"], tr["jacobian"]
    assert tr.system == "map.henon" and tr.meta["status"] == "ok"
    assert x.shape == (500, 2) and jac.shape == (500, 2, 2)
    # proj[t + 1] = f(proj[t]) and jacobian[t] = Df(proj[t]) exactly
    np.testing.assert_allclose(x[1:, 0], 1 - 1.4 * x[:-1, 0] ** 2 + x[:-1, 1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(x[1:, 1], 0.3 * x[:-1, 0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(jac[:, 0, 0], -2 * 1.4 * x[:, 0])
    np.testing.assert_array_equal(jac[:, 1, 0], np.full(500, 0.3))
    np.testing.assert_allclose(np.abs(np.linalg.det(jac)), 0.3, rtol=1e-15)


def test_logistic_orbit_and_jacobian():
    tr = logistic(300, r=3.9, x0=[0.2], transient=0, seed=0)
    x, jac = tr["trajectory"][:, 0], tr["jacobian"][:, 0, 0]
    assert x[0] == 0.2 and np.all((x >= 0) & (x <= 1))
    np.testing.assert_allclose(x[1:], 3.9 * x[:-1] * (1 - x[:-1]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(jac, 3.9 * (1 - 2 * x), rtol=0, atol=1e-15)


def _rk4_step(x, dt, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    return lorenz(2, sigma=sigma, rho=rho, beta=beta, dt=dt, x0=list(x), transient=0, seed=0)["trajectory"][1]


def test_lorenz_rk4_step_and_its_jacobian():
    dt = 0.01
    tr = lorenz(200, dt=dt, transient=500, seed=7)
    x, jac = tr["trajectory"], tr["jacobian"]
    assert x.shape == (200, 3) and jac.shape == (200, 3, 3)

    def f(s):
        return np.array([10 * (s[1] - s[0]), s[0] * (28 - s[2]) - s[1], s[0] * s[1] - 8 / 3 * s[2]])

    for t in (0, 57, 198):  # an independent RK4 step reproduces the next state
        s = x[t]
        k1 = f(s)
        k2 = f(s + dt / 2 * k1)
        k3 = f(s + dt / 2 * k2)
        k4 = f(s + dt * k3)
        np.testing.assert_allclose(x[t + 1], s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4), rtol=1e-13)
        # the stored Jacobian is the derivative of the step map: central differences agree to
        # O(h^2) = 1e-12 relative (the step map is a polynomial of degree 16 in x)
        h = 1e-5
        fd = np.array([(_rk4_step(s + h * e, dt) - _rk4_step(s - h * e, dt)) / (2 * h)
                       for e in np.eye(3)]).T
        np.testing.assert_allclose(jac[t], fd, rtol=0, atol=1e-8)
    # volume contraction of the RK4 map: det = exp(-(sigma + 1 + beta) dt) up to O(dt^5)
    det = np.linalg.det(jac)
    np.testing.assert_allclose(det, math.exp(-(10 + 1 + 8 / 3) * dt), rtol=1e-5)


def test_same_seed_same_trace_and_meta():
    a, b = henon(100, seed=123), henon(100, seed=123)
    np.testing.assert_array_equal(a["trajectory"], b["trajectory"])
    assert a.meta["params"] == b.meta["params"] and a.seed == 123
    c = lorenz(50, seed=None)
    assert isinstance(c.seed, int) and len(c.params["x0"]) == 3
    assert c.params["dt"] == 0.01 and c.params["transient"] == 5000
    for fn in (henon, logistic, lorenz):
        p = dict(fn(5, seed=1).params)
        assert check_params(fn.PARAMS, p) == p     # every argument recorded under its API name


def test_divergent_orbit_keeps_finite_part():
    tr = henon(1000, a=3.0, b=0.3, x0=[0.5, 0.5], transient=0, seed=0)
    assert tr.meta["status"] == "diverged"
    assert 0 < tr["trajectory"].shape[0] < 1000 and np.all(np.isfinite(tr["trajectory"]))
    assert tr["jacobian"].shape[0] == tr["trajectory"].shape[0]


@pytest.mark.parametrize("call, match", [
    (lambda: henon(0), "`n` must be"),
    (lambda: henon(10, a=float("nan")), "`a` must be"),
    (lambda: henon(10, x0=[1.0]), "`x0` must be"),
    (lambda: henon(10, x0=[1.0, float("inf")]), "`x0` must be"),
    (lambda: henon(10, transient=-1), "`transient` must be"),
    (lambda: logistic(10, r=4.5), "`r` must be"),
    (lambda: logistic(10, x0=[1.5]), "`x0` must be"),
    (lambda: lorenz(10, dt=0.0), "`dt` must be"),
    (lambda: lorenz(10, dt=0.5), "`dt` must be"),
    (lambda: lorenz(10, sigma=-1.0), "`sigma` must be"),
    (lambda: lorenz(10, x0="a,b,c"), "`x0` must be"),
    (lambda: henon(10, seed=-1), "`seed` must be"),
    (lambda: henon(10**8), "GiB"),
])
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_maps_are_stationary_from_their_first_row():
    # the transient is discarded before recording, so the analyzer's window is the whole trace
    for tr in (henon(300, seed=1), logistic(300, seed=1), lorenz(300, transient=100, seed=1)):
        assert tr.meta["stationary_from"] == 0
