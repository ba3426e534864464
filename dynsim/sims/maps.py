"""Reference systems for validating the analyzer: the Henon and logistic maps and the Lorenz flow.

Each system is a small jitted kernel under a validated public function that returns a
:class:`dynsim.trace.Trace` with two channels:

* ``trajectory`` (n, dim): the trajectory after the transient, ``trajectory[t] = x_t`` (so
  ``meta['stationary_from']`` is 0: the analyzer's window is the whole trace);
* ``jacobian`` (n, dim, dim): the one-step Jacobians ``jacobian[t] = Df(x_t)``, so that a tangent
  vector v at x_t is carried to ``jacobian[t] @ v`` at x_{t+1}.  Their product, reorthonormalised
  by QR, gives the Lyapunov spectrum (:func:`dynsim.analysis.lyapunov.lyapunov_spectrum`).

Systems (reference values: the keys ``henon_*``, ``lorenz_*`` and ``logistic_r4_lyapunov`` of
``dynsim/data/references.json``)

* Henon map (Henon, Commun. Math. Phys. 50:69, 1976): x' = 1 - a x^2 + y, y' = b x;
  Df = [[-2 a x, 1], [b, 0]], |det Df| = |b|, so lambda_1 + lambda_2 = ln|b| exactly.
  At (a, b) = (1.4, 0.3): ``henon_lyapunov``, ``henon_kaplan_yorke``,
  ``henon_correlation_dimension``.
* Logistic map (May, Nature 261:459, 1976): x' = r x (1 - x), Df = r (1 - 2x).  At r = 4,
  lambda = ln 2 exactly (conjugate to the tent map).
* Lorenz flow (Lorenz, J. Atmos. Sci. 20:130, 1963): x' = sigma (y - x), y' = x (rho - z) - y,
  z' = x y - beta z, sampled by the classical fixed-step RK4 map with step ``dt``.  ``jacobian`` is
  the exact derivative of that RK4 step map (the chain rule through the four stages), so exponents
  per unit time are the map's exponents divided by dt.  The sum of the exponents is
  -(sigma + 1 + beta) exactly (the flow's divergence is constant; the RK4 map reproduces it to
  O(((sigma + 1 + beta) dt)^5)).  At (10, 28, 8/3): ``lorenz_lyapunov``, ``lorenz_lyapunov_sum``,
  ``lorenz_kaplan_yorke``.

The maps are deterministic: ``seed`` only draws the initial condition when ``x0`` is None (and is
recorded, like every argument, in ``meta``).  An orbit that leaves every bounded set (|x| > 1e50,
or not finite) stops there: the trace keeps the finite part and has status ``diverged``.
"""

from __future__ import annotations


import numpy as np
from numba import njit

from dynsim.params import Float, Floats, Int, check_params, entry_point
from dynsim.rng import make_rng
from dynsim.trace import Timer, Trace, make_trace

ESCAPE = 1e50  # |x| beyond this counts as divergence


def _common(n: int, transient: int) -> dict:
    return {"n": Int(1, 10**8, default=n, help="Recorded steps (after the transient)."),
            "transient": Int(0, 10**8, default=transient, help="Steps discarded first.")}


HENON_PARAMS = {**_common(10_000, 1000), "a": Float(default=1.4, help="Parameter a."),
                "b": Float(default=0.3, help="Parameter b."),
                "x0": Floats(2, 2, help="Start (x, y).", none_means="uniform on [-0.1, 0.1]^2")}
LOGISTIC_PARAMS = {**_common(10_000, 1000), "r": Float(0.0, 4.0, default=4.0, help="Parameter r."),
                   "x0": Floats(1, 1, lo=0.0, hi=1.0, help="Start x.",
                                none_means="uniform on [0.05, 0.95]")}
LORENZ_PARAMS = {**_common(100_000, 5000),
                 "sigma": Float(0.0, None, lo_open=True, default=10.0, help="Parameter sigma."),
                 "rho": Float(0.0, None, lo_open=True, default=28.0, help="Parameter rho."),
                 "beta": Float(0.0, None, lo_open=True, default=8.0 / 3.0, help="Parameter beta."),
                 "dt": Float(0.0, 0.1, lo_open=True, default=0.01, help="RK4 step."),
                 "x0": Floats(3, 3, help="Start (x, y, z).", none_means="(1, 1, 20) + N(0, I)")}
MAX_BYTES = 2 * 2**30  # proj + jacobian held in memory


# ---------------------------------------------------------------------------------------------
# kernels: pure loops, preallocated outputs, return the number of rows written


@njit(cache=True)
def _henon_kernel(a, b, x, y, transient, proj, jac):
    n = proj.shape[0]
    for t in range(transient + n):
        if t >= transient:
            k = t - transient
            proj[k, 0] = x
            proj[k, 1] = y
            jac[k, 0, 0] = -2.0 * a * x
            jac[k, 0, 1] = 1.0
            jac[k, 1, 0] = b
            jac[k, 1, 1] = 0.0
        x, y = 1.0 - a * x * x + y, b * x
        if not (abs(x) < ESCAPE and abs(y) < ESCAPE):
            return max(0, t + 1 - transient)
    return n


@njit(cache=True)
def _logistic_kernel(r, x, transient, proj, jac):
    n = proj.shape[0]
    for t in range(transient + n):
        if t >= transient:
            proj[t - transient, 0] = x
            jac[t - transient, 0, 0] = r * (1.0 - 2.0 * x)
        x = r * x * (1.0 - x)
    return n


@njit(cache=True, inline="always")
def _lorenz_rhs(s, sigma, rho, beta, out):
    out[0] = sigma * (s[1] - s[0])
    out[1] = s[0] * (rho - s[2]) - s[1]
    out[2] = s[0] * s[1] - beta * s[2]


@njit(cache=True, inline="always")
def _lorenz_jac(s, sigma, rho, beta, out):
    out[0, 0], out[0, 1], out[0, 2] = -sigma, sigma, 0.0
    out[1, 0], out[1, 1], out[1, 2] = rho - s[2], -1.0, -s[0]
    out[2, 0], out[2, 1], out[2, 2] = s[1], s[0], -beta


@njit(cache=True, inline="always")
def _stage_jac(jf, h, kprev, out):
    """out = jf @ (I + h kprev): the derivative of a stage f(x + h k_prev(x))."""
    for i in range(3):
        for j in range(3):
            acc = jf[i, j]
            for m in range(3):
                acc += h * jf[i, m] * kprev[m, j]
            out[i, j] = acc


@njit(cache=True)
def _lorenz_kernel(sigma, rho, beta, dt, state, transient, proj, jac):
    """Classical RK4 with the exact Jacobian of the step map:
    K1 = J(x), K2 = J(x + h/2 k1)(I + h/2 K1), K3 = J(x + h/2 k2)(I + h/2 K2),
    K4 = J(x + h k3)(I + h K3), D(step) = I + h/6 (K1 + 2 K2 + 2 K3 + K4)."""
    n = proj.shape[0]
    s = state.copy()
    tmp = np.empty(3)
    k1, k2, k3, k4 = np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    jf = np.empty((3, 3))
    j1, j2, j3, j4 = np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3))
    h = dt
    for t in range(transient + n):
        keep = t >= transient
        _lorenz_rhs(s, sigma, rho, beta, k1)
        for i in range(3):
            tmp[i] = s[i] + 0.5 * h * k1[i]
        _lorenz_rhs(tmp, sigma, rho, beta, k2)
        if keep:
            _lorenz_jac(s, sigma, rho, beta, j1)
            _lorenz_jac(tmp, sigma, rho, beta, jf)
            _stage_jac(jf, 0.5 * h, j1, j2)
        for i in range(3):
            tmp[i] = s[i] + 0.5 * h * k2[i]
        _lorenz_rhs(tmp, sigma, rho, beta, k3)
        if keep:
            _lorenz_jac(tmp, sigma, rho, beta, jf)
            _stage_jac(jf, 0.5 * h, j2, j3)
        for i in range(3):
            tmp[i] = s[i] + h * k3[i]
        _lorenz_rhs(tmp, sigma, rho, beta, k4)
        if keep:
            _lorenz_jac(tmp, sigma, rho, beta, jf)
            _stage_jac(jf, h, j3, j4)
            k = t - transient
            for i in range(3):
                proj[k, i] = s[i]
                for j in range(3):
                    jac[k, i, j] = (1.0 if i == j else 0.0) + h / 6.0 * (
                        j1[i, j] + 2.0 * j2[i, j] + 2.0 * j3[i, j] + j4[i, j])
        ok = True
        for i in range(3):
            s[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])
            ok = ok and abs(s[i]) < ESCAPE
        if not ok:
            return max(0, t + 1 - transient)
    return n


# ---------------------------------------------------------------------------------------------
# public functions: validate, seed, run, wrap


def _buffers(n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    need = 8 * n * (dim + dim * dim)
    if need > MAX_BYTES:
        raise ValueError(f"n = {n} steps of a {dim}-d system need {need / 2**30:.1f} GiB for proj and "
                         f"jacobian (limit {MAX_BYTES / 2**30:.0f} GiB); lower `n`")
    return np.empty((n, dim)), np.empty((n, dim, dim))


def _wrap(system: str, p: dict, seed: int, proj, jac, rows: int, timer: Timer) -> Trace:
    status = "ok" if rows == proj.shape[0] else "diverged"
    channels = {"trajectory": proj[:rows], "jacobian": jac[:rows]}
    # the transient is discarded before recording: the whole trace lies on the attractor
    return make_trace(system, p, seed, channels, status=status, timings=timer.timings,
                      stationary_from=0)


@entry_point(HENON_PARAMS)
def henon(n: int, a: float, b: float, x0, transient: int, *, seed: int | None = None) -> Trace:
    """Henon map x' = 1 - a x^2 + y, y' = b x: ``n`` iterates after ``transient`` discarded ones.

    ``x0`` (x, y) defaults to a point drawn uniformly from [-0.1, 0.1]^2 (in the basin of the
    attractor at the classical parameters).  Channels ``trajectory`` (n, 2) and ``jacobian`` (n, 2, 2).
    """
    p = check_params(HENON_PARAMS, dict(n=n, a=a, b=b, x0=x0, transient=transient), "map.henon")
    seed, rng = make_rng(seed)
    if p["x0"] is None:
        p["x0"] = [float(v) for v in rng.uniform(-0.1, 0.1, size=2)]
    proj, jac = _buffers(p["n"], 2)
    timer = Timer()
    with timer.phase("simulate"):
        rows = _henon_kernel(p["a"], p["b"], p["x0"][0], p["x0"][1], p["transient"], proj, jac)
    return _wrap("map.henon", p, seed, proj, jac, rows, timer)


@entry_point(LOGISTIC_PARAMS)
def logistic(n: int, r: float, x0, transient: int, *, seed: int | None = None) -> Trace:
    """Logistic map x' = r x (1 - x), r in [0, 4] (which keeps [0, 1] invariant).

    ``x0`` defaults to a point drawn uniformly from [0.05, 0.95].  Channels ``trajectory`` (n, 1) and
    ``jacobian`` (n, 1, 1) = r (1 - 2 x_t).  In double precision an orbit at r = 4 can land on the
    fixed point 0 (through x = 0.5 -> 1 -> 0) and stay; it then reports lambda = ln 4, so check
    ``trajectory`` when a run matters.
    """
    p = check_params(LOGISTIC_PARAMS, dict(n=n, r=r, x0=x0, transient=transient), "map.logistic")
    seed, rng = make_rng(seed)
    if p["x0"] is None:
        p["x0"] = [float(rng.uniform(0.05, 0.95))]
    proj, jac = _buffers(p["n"], 1)
    timer = Timer()
    with timer.phase("simulate"):
        rows = _logistic_kernel(p["r"], p["x0"][0], p["transient"], proj, jac)
    return _wrap("map.logistic", p, seed, proj, jac, rows, timer)


@entry_point(LORENZ_PARAMS)
def lorenz(n: int, sigma: float, rho: float, beta: float, dt: float, x0, transient: int, *,
           seed: int | None = None) -> Trace:
    """Lorenz flow sampled by fixed-step RK4 (step ``dt``): ``n`` steps after ``transient`` ones.

    ``x0`` defaults to (1, 1, 20) plus N(0, 1) noise in each coordinate.  Channels ``trajectory`` (n, 3),
    the state every dt, and ``jacobian`` (n, 3, 3), the exact Jacobian of the RK4 step map; divide
    the map's exponents by ``dt`` (``lyapunov_spectrum(..., dt=dt)``) for exponents per unit time.
    """
    p = check_params(LORENZ_PARAMS, dict(n=n, sigma=sigma, rho=rho, beta=beta, dt=dt, x0=x0,
                                         transient=transient), "map.lorenz")
    seed, rng = make_rng(seed)
    if p["x0"] is None:
        p["x0"] = [float(v) for v in np.array([1.0, 1.0, 20.0]) + rng.normal(size=3)]
    proj, jac = _buffers(p["n"], 3)
    timer = Timer()
    with timer.phase("simulate"):
        rows = _lorenz_kernel(p["sigma"], p["rho"], p["beta"], p["dt"], np.array(p["x0"]),
                              p["transient"], proj, jac)
    return _wrap("map.lorenz", p, seed, proj, jac, rows, timer)

