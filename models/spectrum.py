"""Spectra of a symmetric linear operator given by its products (a Hessian, see
:mod:`dynsim.models.hessian`): Lanczos at both ends, power iteration, Hutchinson's trace and the
stochastic-Lanczos-quadrature density.

An operator is a callable ``op(v) = H v`` with ``dim``, ``dtype``, ``device`` and a product count
``n_hvp``, like :class:`~dynsim.models.hessian.HVPOperator` or :func:`matrix_operator`.

Spectra: :func:`lanczos` (Lanczos 1950, with full reorthogonalisation as in Golub & Van Loan,
*Matrix Computations*, 4th ed., sec. 10.1-10.3) gives Ritz values theta at both ends of the
spectrum with residual norms r = ||H y - theta y||; for symmetric H some eigenvalue lies within r
of theta (Kahan-Parlett bound), and within r^2 / gap once the Ritz value is isolated.  The Hessian
probes of Ghorbani, Krishnan & Xiao (ICML 2019) and Yao et al. (PyHessian, IEEE BigData 2020) are
built the same way.  :func:`hutchinson_trace` (Hutchinson 1990): tr H = E[z^T H z] for Rademacher
z.  :func:`spectral_density`: stochastic Lanczos quadrature (Ubaru, Chen & Saad, SIAM J. Matrix
Anal. Appl. 38, 2017).  :func:`preconditioned_operator`: the preconditioned sharpness
lambda_max(P^-1/2 H P^-1/2) = lambda_max(P^-1 H) of adaptive optimizers (Cohen et al. 2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from dynsim.analysis.results import Estimate

__all__ = ["matrix_operator", "Spectrum", "lanczos", "power_iteration", "hutchinson_trace",
           "SpectralDensity", "spectral_density"]

_trapezoid = getattr(np, "trapezoid", None) or np.trapz   # numpy < 2 has only trapz


class _Operator:
    """A symmetric linear operator with the attributes Lanczos reads."""

    def __init__(self, fn, dim, dtype, device, info):
        self.fn, self.dim, self.dtype, self.device, self.info, self.n_hvp = fn, dim, dtype, device, info, 0

    def __call__(self, v):
        self.n_hvp += 1
        return self.fn(v.to(dtype=self.dtype, device=self.device))


def matrix_operator(A: torch.Tensor):
    """A dense symmetric matrix as an operator (tests, benchmarks)."""
    if A.dim() != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"`A` must be square, got shape {tuple(A.shape)}")
    return _Operator(lambda v: A @ v, A.shape[0], A.dtype, A.device, {"operator": "matrix"})




def _work_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _random(op, generator, rademacher=False):
    g = generator if generator is not None else torch.Generator()
    if rademacher:
        z = torch.randint(0, 2, (op.dim,), generator=g, device=g.device, dtype=torch.int8) * 2 - 1
    else:
        z = torch.randn(op.dim, generator=g, device=g.device, dtype=torch.float64)
    return z.to(dtype=_work_dtype(op.dtype), device=op.device)


def _lanczos_run(op, q, steps, generator, converged=None, restart=True):
    """Lanczos with full (twice repeated) Gram-Schmidt reorthogonalisation (Golub & Van Loan
    sec. 10.3.1).  After each step ``converged(alpha, beta, b)`` may stop it; at an invariant
    subspace (b ~ 0) it restarts from a random vector orthogonal to the basis (``restart``) or stops.
    Returns alpha, beta (off-diagonal of T), the last b, the basis rows Q and the history."""
    work = _work_dtype(op.dtype)
    steps = min(int(steps), op.dim)
    Q = torch.empty((min(steps, 32), op.dim), dtype=work, device=op.device)
    alpha, beta, m, b, anorm, done = [], [], 0, 0.0, 0.0, False
    q = q.to(dtype=work, device=op.device)
    q = q / torch.linalg.vector_norm(q)
    for j in range(steps):
        if m == Q.shape[0]:                       # grow the basis buffer by doubling
            Q = torch.cat([Q, torch.empty_like(Q[: min(m, steps - m)])])
        Q[m] = q
        m += 1
        w = op(q.to(op.dtype)).to(work)
        a = float(q @ w)
        for _ in range(2):
            w = w - Q[:m].T @ (Q[:m] @ w)
        alpha.append(a)
        b = float(torch.linalg.vector_norm(w))
        anorm = max(anorm, abs(a) + b + (beta[-1] if beta else 0.0))
        if converged is not None and converged(alpha, beta, b):
            done = True
            break
        if j == steps - 1:
            break
        if b <= 1e3 * torch.finfo(work).eps * max(anorm, 1e-300):   # invariant subspace
            if not restart:
                break
            w = _random(op, generator)
            for _ in range(2):
                w = w - Q[:m].T @ (Q[:m] @ w)
            q, b = w / torch.linalg.vector_norm(w), 0.0
        else:
            q = w / b
        beta.append(b)
    return alpha, beta, b, Q[:m], done


def _ritz(alpha, beta, b):
    """Eigenpairs of the tridiagonal T and the residual norms |b s_m| = ||H y - theta y||."""
    T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    theta, S = np.linalg.eigh(T)
    return theta, S, np.abs(b * S[-1, :])


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Extreme eigenvalues of an operator: Ritz values with their residual norms as error bars.

    ``top`` descending, ``bottom`` ascending (most negative first), each with ``*_residuals``
    r = ||H y - theta y|| (an eigenvalue lies within r of theta) and unit ``*_vectors`` (k x dim,
    the operator's dtype; pass ``top_vectors[0]`` as the next ``v0``).  ``which`` names the end(s)
    whose convergence was required; ``converged`` says whether they met ``tol`` before ``max_iter``;
    ``history`` holds (n_hvp, top Ritz value, its residual) after every product.
    """

    top: tuple
    top_residuals: tuple
    bottom: tuple
    bottom_residuals: tuple
    top_vectors: torch.Tensor | None
    bottom_vectors: torch.Tensor | None
    n_hvp: int
    method: str
    converged: bool
    which: str = "top"
    tol: float = 0.0
    history: tuple = ()
    info: dict = field(default_factory=dict)

    def headline(self) -> float:
        """The largest eigenvalue (the sharpness)."""
        return self.top[0]

    def estimate(self, end: str = "top", index: int = 0) -> Estimate:
        """An Estimate of one Ritz value with its residual norm as the error bar (not a standard
        error: a bound; the interval is theta +- r)."""
        if end not in ("top", "bottom"):
            raise ValueError(f"`end` must be 'top' or 'bottom', got {end!r}")
        values, res = (self.top, self.top_residuals) if end == "top" else (self.bottom, self.bottom_residuals)
        v, r = float(values[index]), float(res[index])
        return Estimate(v, r, (v - r, v + r), f"{self.method}; error bar = residual ||Hy - theta y||",
                        self.n_hvp, data={"end": end, "index": index, "converged": self.converged,
                                          "tol": self.tol, **self.info})

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("top", "top_residuals", "bottom", "bottom_residuals",
                                              "n_hvp", "method", "converged", "which", "tol", "info")}

    def __str__(self) -> str:
        top = ", ".join(f"{v:.6g}±{r:.1g}" for v, r in zip(self.top, self.top_residuals))
        bot = ", ".join(f"{v:.6g}±{r:.1g}" for v, r in zip(self.bottom, self.bottom_residuals))
        return (f"top [{top}]  bottom [{bot}]  {self.n_hvp} HVPs  "
                f"{'converged' if self.converged else 'NOT converged'}  ({self.method})")


def _start(op, v0, generator):
    if v0 is None:
        if generator is None:
            generator = torch.Generator()
            seed = generator.seed()               # draw a seed from OS entropy, then record it
            return _random(op, generator), f"random (seed {seed})", generator
        return _random(op, generator), "random (generator)", generator
    v0 = torch.as_tensor(v0)
    v0 = v0.sum(0) if v0.dim() == 2 else v0          # several previous vectors: start from their sum
    if v0.shape != (op.dim,) or not float(torch.linalg.vector_norm(v0.double())) > 0:
        raise ValueError(f"`v0` must be a nonzero vector of {op.dim} entries (or k x {op.dim}), "
                         f"got shape {tuple(v0.shape)}")
    return v0, "v0 (warm)", generator


def lanczos(op, k: int = 1, *, which: str = "top", max_iter: int = 100, tol: float = 1e-4,
            v0=None, generator=None) -> Spectrum:
    """The k largest and/or smallest eigenvalues of a symmetric operator by Lanczos (1950).

    Builds the Krylov basis Q_m of span{q, Hq, ..., H^(m-1) q} with full reorthogonalisation
    (Golub & Van Loan, sec. 10.3), T_m = Q_m^T H Q_m, and Ritz pairs (theta_i, y_i = Q_m s_i) from
    T_m s_i = theta_i s_i.  From H Q_m = Q_m T_m + b_m q_{m+1} e_m^T, the residual is
    r_i = ||H y_i - theta_i y_i|| = |b_m s_{m,i}| (no extra product).  Stops, after the product
    that achieves it, when the wanted pairs (``which``: "top", "bottom" or "both"; k at each end)
    all have r_i <= tol * max|theta|; ``tol=0`` runs ``max_iter`` products.  Start: ``v0`` (a warm
    start, e.g. the previous ``top_vectors[0]``; a k x dim block starts from its sum), else a
    Gaussian vector from ``generator`` (a torch.Generator; None draws a seed, recorded in
    ``info['start']``).  At an invariant subspace it restarts from a random vector orthogonal to
    the basis.  Memory: max_iter x dim numbers.  Vectors are kept in float64 for a float64
    operator, else float32 (a guard for half-precision models).
    """
    if isinstance(op, torch.Tensor):
        op = matrix_operator(op)
    if which not in ("top", "bottom", "both"):
        raise ValueError(f"`which` must be 'top', 'bottom' or 'both', got {which!r}")
    if isinstance(k, bool) or not 1 <= int(k) <= op.dim:
        raise ValueError(f"`k` must be an integer in [1, {op.dim}], got {k!r}")
    if isinstance(max_iter, bool) or int(max_iter) < 1:
        raise ValueError(f"`max_iter` must be an integer >= 1, got {max_iter!r}")
    if not tol >= 0:
        raise ValueError(f"`tol` must be >= 0, got {tol!r}")
    q, start, generator = _start(op, v0, generator)
    history = []

    def converged(alpha, beta, b):
        theta, _, res = _ritz(alpha, beta, b)
        history.append((len(alpha), float(theta[-1]), float(res[-1])))
        m, scale = len(theta), np.abs(theta).max()
        want = {"top": list(range(m - k, m)), "bottom": list(range(k)),
                "both": list(range(k)) + list(range(m - k, m))}[which]
        return m >= k and bool(np.all(res[[i for i in want if 0 <= i < m]] <= tol * scale))

    n0 = getattr(op, "n_hvp", None)
    alpha, beta, b, Q, done = _lanczos_run(op, q, max_iter, generator, converged)
    theta, S, res = _ritz(alpha, beta, b)
    m, kk = len(theta), min(k, len(theta))
    top_i, bot_i = list(range(m - 1, m - 1 - kk, -1)), list(range(kk))
    vec = lambda idx: (torch.as_tensor(S[:, idx].T, dtype=Q.dtype, device=Q.device) @ Q).to(op.dtype)
    return Spectrum(tuple(float(theta[i]) for i in top_i), tuple(float(res[i]) for i in top_i),
                    tuple(float(theta[i]) for i in bot_i), tuple(float(res[i]) for i in bot_i),
                    vec(top_i), vec(bot_i), len(alpha) if n0 is None else op.n_hvp - n0,
                    "lanczos (full reorthogonalisation)", done or m == op.dim, which, float(tol),
                    tuple(history), {**getattr(op, "info", {}), "k": int(k), "iterations": m,
                                     "max_iter": int(max_iter), "start": start})


def power_iteration(op, iters: int = 20, *, v0=None, generator=None, tol: float = 0.0) -> Spectrum:
    """Plain power iteration q <- Hq / ||Hq|| (the baseline): the Rayleigh quotient theta = q^T H q
    and residual ||Hq - theta q|| after each product; stops early if residual <= tol * |theta|.
    It converges to the eigenvalue of largest |lambda| at rate |lambda_2 / lambda_1| per product."""
    if isinstance(op, torch.Tensor):
        op = matrix_operator(op)
    if isinstance(iters, bool) or int(iters) < 1:
        raise ValueError(f"`iters` must be an integer >= 1, got {iters!r}")
    q, start, _ = _start(op, v0, generator)
    q = q.to(dtype=_work_dtype(op.dtype), device=op.device)
    q = q / torch.linalg.vector_norm(q)
    history, done = [], False
    for i in range(int(iters)):
        w = op(q.to(op.dtype)).to(q.dtype)
        theta = float(q @ w)
        r = float(torch.linalg.vector_norm(w - theta * q))
        history.append((i + 1, theta, r))
        if r <= tol * abs(theta):
            done = True
            break
        if i < int(iters) - 1:
            q = w / torch.linalg.vector_norm(w)
    return Spectrum((theta,), (r,), (), (), q[None].to(op.dtype), None, len(history),
                    "power iteration", done, "top", float(tol), tuple(history),
                    {**getattr(op, "info", {}), "iterations": len(history), "start": start})


# ----------------------------------------------------------------------------------------------
# Trace and density


def _need_generator(generator):
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"`generator` must be a torch.Generator, got {type(generator).__name__}")


def hutchinson_trace(op, n_samples: int = 100, *, generator) -> Estimate:
    """tr H by Hutchinson's estimator (Hutchinson 1990): the mean of z^T H z over ``n_samples``
    Rademacher vectors z (E[z z^T] = I, variance 2(||H||_F^2 - sum_i H_ii^2) per sample);
    stderr = sample SD / sqrt(n).  One product per sample."""
    if isinstance(op, torch.Tensor):
        op = matrix_operator(op)
    _need_generator(generator)
    if isinstance(n_samples, bool) or int(n_samples) < 2:
        raise ValueError(f"`n_samples` must be an integer >= 2, got {n_samples!r}")
    samples = np.empty(int(n_samples))
    for i in range(int(n_samples)):
        z = _random(op, generator, rademacher=True)
        samples[i] = float(z @ op(z.to(op.dtype)).to(z.dtype))
    sd = float(samples.std(ddof=1))
    return Estimate.normal(float(samples.mean()), sd / math.sqrt(len(samples)),
                           method="hutchinson (Rademacher probes)", n=len(samples),
                           data={"samples_sd": sd, "n_hvp": len(samples), "dim": op.dim,
                                 **getattr(op, "info", {})})


@dataclass(frozen=True, eq=False)
class SpectralDensity:
    """phi(t) = (1/n_v) sum_v sum_l w_vl g_sigma(t - theta_vl) on ``grid`` (unpacks as grid,
    density).  ``nodes``/``weights``: the quadrature (weights already divided by n_v);
    ``mass_on_grid``: the integral over the grid before renormalising to 1."""

    grid: np.ndarray
    density: np.ndarray
    sigma: float
    nodes: np.ndarray
    weights: np.ndarray
    n_vectors: int
    iters: int
    n_hvp: int
    mass_on_grid: float
    method: str = "stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017), Gaussian broadening"
    info: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.grid, self.density))


def spectral_density(op, *, n_vectors: int = 10, iters: int = 80, grid=None, sigma=None,
                     generator) -> SpectralDensity:
    """Spectral density of H by stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017; as used by
    Ghorbani et al. 2019 and PyHessian).

    For each of ``n_vectors`` normalised Rademacher vectors v, ``iters`` Lanczos steps give
    T = S diag(theta) S^T, and v^T g(H) v ~ sum_l S_1l^2 g(theta_l) (Gauss quadrature).  The
    density is the average of sum_l S_1l^2 N(t; theta_l, sigma^2).  ``sigma`` defaults to 1% of the
    span of the nodes; ``grid`` defaults to 512 points over the nodes +- (5% of the span + 3 sigma).
    The result is renormalised so that its trapezoid integral over the grid is 1.
    """
    if isinstance(op, torch.Tensor):
        op = matrix_operator(op)
    _need_generator(generator)
    if isinstance(n_vectors, bool) or int(n_vectors) < 1 or isinstance(iters, bool) or int(iters) < 1:
        raise ValueError(f"n_vectors and iters must be integers >= 1, got {n_vectors!r}, {iters!r}")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"`sigma` must be > 0 or None, got {sigma!r}")
    nodes, weights, n0 = [], [], op.n_hvp if hasattr(op, "n_hvp") else 0
    for _ in range(int(n_vectors)):
        alpha, beta, b, _, _ = _lanczos_run(op, _random(op, generator, rademacher=True), iters,
                                            generator, restart=False)
        theta, S, _ = _ritz(alpha, beta, b)
        nodes.append(theta)
        weights.append(S[0, :] ** 2 / int(n_vectors))
    nodes, weights = np.concatenate(nodes), np.concatenate(weights)
    span = float(nodes.max() - nodes.min()) or max(abs(float(nodes.max())), 1.0) * 1e-3
    sigma = 0.01 * span if sigma is None else float(sigma)
    if grid is None:
        pad = 0.05 * span + 3 * sigma
        grid = np.linspace(nodes.min() - pad, nodes.max() + pad, 512)
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError("`grid` must be an increasing 1-D array of at least 2 points")
    dens = (weights * np.exp(-0.5 * ((grid[:, None] - nodes) / sigma) ** 2)).sum(1)
    dens /= sigma * math.sqrt(2 * math.pi)
    mass = float(_trapezoid(dens, grid))
    return SpectralDensity(grid, dens / mass if mass > 0 else dens, sigma, nodes, weights,
                           int(n_vectors), int(iters), (op.n_hvp - n0) if hasattr(op, "n_hvp") else -1,
                           mass, info=dict(getattr(op, "info", {})))
