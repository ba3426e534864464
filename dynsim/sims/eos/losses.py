"""Toy losses for the edge of stability: value, gradient, Hessian and D^3 L[u, u, .] (Numba).

A loss is chosen by name in Python (:func:`make_loss`); Numba sees an integer code and a flat
parameter array.  Every loss is a function of the iterate w in R^d.

Quadratic (code 0)
    L(w) = 1/2 w^T H w,  H = Q diag(spectrum) Q^T.  ``rotated=False`` (the default) takes Q = I, so
    the spectrum lies along the coordinate axes; ``rotated=True`` draws Q Haar-uniformly from the
    seed (QR of a Gaussian matrix with the signs of diag R fixed, Mezzadri, Notices AMS 54:592,
    2007).  Default spectrum (15, 1) in d = 2: sharpness 15, so GD is stable for lr < 2/15.
    D^3 L = 0, so grad S = 0 and the central flow equals gradient flow.
    As a minibatch of quadratics (``n_quadratics`` = N >= d; the SGD noise model):
    L(w) = (1/N) sum_i 1/2 (a_i . w)^2, realizable least squares with N rows a_i = Q S^(1/2) z_i,
    where the z_i are Gaussian rows from the seed whitened so that (1/N) sum_i z_i z_i^T = I
    exactly; hence (1/N) sum_i a_i a_i^T = H and the full loss, its gradient and Hessian are
    those above.  SGD with a minibatch B of b rows per step uses H_B = (1/b) sum_{i in B} a_i a_i^T
    (Jacobian I - lr H_B: the Lyapunov spectrum is that of a product of random matrices, and the
    gradient noise vanishes at the minimum).  Needs a spectrum >= 0.
Product (code 1)
    L(w) = 1/2 (1 - w_1 w_2 ... w_n)^2, n = ``degree`` in [2, 8].  With p = prod w, r = 1 - p,
    q_i = prod_{j != i} w_j, P2_ij = prod_{k not in {i,j}} w_k (i != j; 0 on the diagonal) and
    P3_ijk likewise for distinct i, j, k:
        grad L = -r q,   H = q q^T - r P2,
        D^3 L[u, u, .] = 2 (u.q) P2 u + (u^T P2 u) q - r P3[u, u, .].
    At a minimum (p = 1) H = q q^T, so the sharpness is |q|^2.
    * degree 2, 1/2 (1 - x y)^2: minimum sharpness x^2 + y^2; GD does not settle at 2/lr (the
      contrast of Zhu et al.: from (5, 0.05) or (6, 0.01) at lr 0.1 it ends well below 2/lr, the
      key ``product_degree2_final_sharpness``).
    * degree 4 on the symmetric slice z = x, w = y is the "minimalist example" of Zhu, Wang, Wang,
      Zhou & Ge (ICLR 2023, arXiv 2210.03294): L(x, y, z, w) = 1/2 (1 - x y z w)^2.  GD on the 4-D
      loss started on the slice stays on it and is the 2-D map
      x <- x - lr x y^2 (x^2 y^2 - 1), y <- y - lr x^2 y (x^2 y^2 - 1) (Zhu et al. 2023).  The
      sharpness is the top eigenvalue of the 4-D Hessian: 2 (x^2 + y^2) at a minimum (the Hessian of
      the 2-D reduction 1/2 (1 - x^2 y^2)^2 is twice as large; ``zhu_minimalist_sharpness_band``,
      note).  Their Cor. 3.1: the limit sharpness lies in (2/lr - 20 lr/3, 2/lr); the lr-EoS
      minimum in (c, d) = (sqrt(x^2 - y^2), xy) is ((lr^-2 - 4)^(1/4), 1), for lr < 1/2.  The
      products are taken in cyclic index order starting after i, so a slice point (x, y, x, y)
      gives bitwise equal gradients for x and z (and y and w) and the slice is invariant in
      floating point, not only in exact arithmetic.

Damian, Nichani & Lee (ICLR 2023, arXiv 2209.15594) is here as their setting, not as a loss of its
own: their constrained trajectory (projected GD onto S <= 2/lr, :mod:`dynsim.sims.eos.projected`)
on these toys.  The toy losses of their appendix could not be read here, and a guessed loss would
be worse than none, so none is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from dynsim.params import Bool, Choice, Float, Floats, Int

QUADRATIC, PRODUCT = 0, 1
LOSSES = ("quadratic", "minimalist", "product")
MAX_DIM = 64          # quadratics: the Jacobian channel is (steps, d, d) per slot
MAX_DEGREE = 8
# a toy, its lr, length and start point: the parameters shared by the flows and projected GD
TOY_PARAMS = {
    "system": Choice(LOSSES, default="minimalist", help="Toy loss."),
    "lr": Float(0.0, None, lo_open=True, default=0.1, help="Learning rate."),
    "steps": Int(1, 10**6, default=1000, help="Steps."),
    "x0": Floats(1, MAX_DIM, help="Start point (minimalist: x,y on the slice z=x, w=y).",
                 none_means="the system's"),
    "spectrum": Floats(1, MAX_DIM, default=(15.0, 1.0), help="Quadratic: Hessian eigenvalues."),
    "rotated": Bool(default=False, help="Quadratic: rotate the eigenbasis (Haar, from the seed)."),
    "degree": Int(2, MAX_DEGREE, default=2,
                  help="Product: number of factors in 1/2 (1 - w_1...w_n)^2."),
}


@dataclass(frozen=True)
class Loss:
    """A toy loss: its name, Numba code, flat parameter array and dimension."""

    name: str
    code: int
    params: np.ndarray
    dim: int
    description: str
    components: np.ndarray | None = None    # (N, d) rows a_i of a minibatch of quadratics

    def value(self, w) -> float:
        return float(loss_value(self.code, self.params, np.ascontiguousarray(w, dtype=float)))

    def grad(self, w) -> np.ndarray:
        g = np.empty(self.dim)
        loss_grad(self.code, self.params, np.ascontiguousarray(w, dtype=float), g)
        return g

    def hessian(self, w) -> np.ndarray:
        h = np.empty((self.dim, self.dim))
        loss_hessian(self.code, self.params, np.ascontiguousarray(w, dtype=float), h)
        return h

    def d3(self, w, u) -> np.ndarray:
        """D^3 L(w)[u, u, .]: the gradient of u^T H(w) u at fixed u (grad S for the top u)."""
        out = np.empty(self.dim)
        loss_d3(self.code, self.params, np.ascontiguousarray(w, dtype=float),
                np.ascontiguousarray(u, dtype=float), out)
        return out


def haar_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed orthogonal d x d matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def quadratic_components(q: np.ndarray, spectrum: np.ndarray, n: int,
                         rng: np.random.Generator) -> np.ndarray:
    """N = ``n`` rows a_i with (1/N) sum_i a_i a_i^T = Q diag(spectrum) Q^T exactly (module
    docstring): a_i = Q diag(spectrum)^(1/2) z_i, the Gaussian z_i whitened by their own second
    moment."""
    d = spectrum.size
    if n < d:
        raise ValueError(f"`n_quadratics` must be >= d = {d} (the rows must span R^d), got {n}")
    if np.any(spectrum < 0):
        raise ValueError(f"a minibatch of quadratics needs a spectrum >= 0, got "
                         f"{[float(v) for v in spectrum]}")
    z = rng.normal(size=(n, d))
    vals, vecs = np.linalg.eigh(z.T @ z / n)
    z = z @ (vecs / np.sqrt(vals)) @ vecs.T                  # (1/n) z^T z = I
    return np.ascontiguousarray(z * np.sqrt(spectrum) @ q.T)


def make_loss(system: str, *, spectrum=None, rotated: bool = False, degree: int = 2,
              rng: np.random.Generator | None = None, n_quadratics: int | None = None) -> Loss:
    """The loss of ``system`` ('quadratic', 'minimalist' or 'product'), parameters validated by
    the caller (``spectrum`` for quadratics, and ``n_quadratics`` for a minibatch of them;
    ``degree`` for products)."""
    if system == "quadratic":
        h = np.asarray(spectrum, dtype=float)
        q = np.eye(h.size) if not rotated else haar_orthogonal(h.size, rng)
        hess = (q * h) @ q.T
        hess = 0.5 * (hess + hess.T)
        kind = "rotated (Haar Q from the seed)" if rotated else "diagonal"
        desc = f"1/2 w^T H w, H = Q diag{tuple(float(v) for v in h)} Q^T, {kind}"
        comps = None
        if n_quadratics is not None:
            comps = quadratic_components(q, h, int(n_quadratics), rng)
            desc = (f"(1/N) sum_i 1/2 (a_i . w)^2, N = {int(n_quadratics)} rows with mean "
                    f"a_i a_i^T = H: " + desc)
        return Loss("quadratic", QUADRATIC, np.ascontiguousarray(hess.ravel()), h.size, desc,
                    comps)
    if system == "minimalist":
        return Loss("minimalist", PRODUCT, np.zeros(0), 4,
                    "1/2 (1 - x y z w)^2 on the slice z = x, w = y (Zhu et al. ICLR 2023)")
    if system == "product":
        return Loss("product", PRODUCT, np.zeros(0), int(degree),
                    f"1/2 (1 - w_1 ... w_{int(degree)})^2")
    raise ValueError(f"`system` must be one of {', '.join(LOSSES)}, got {system!r}")


# ---------------------------------------------------------------------------------------------
# kernels


@njit(cache=True)
def _prod_skip(w, i, j, k):
    """prod of w[(i + m) % n], m = 1..n-1, skipping indices j and k (-1: none), in that order."""
    n = w.shape[0]
    acc = 1.0
    for m in range(1, n):
        idx = (i + m) % n
        if idx != j and idx != k:
            acc *= w[idx]
    return acc


@njit(cache=True)
def loss_value(code, lp, w):
    d = w.shape[0]
    if code == QUADRATIC:
        acc = 0.0
        for i in range(d):
            hw = 0.0
            for j in range(d):
                hw += lp[i * d + j] * w[j]
            acc += w[i] * hw
        return 0.5 * acc
    p = 1.0
    for i in range(d):
        p *= w[i]
    return 0.5 * (1.0 - p) * (1.0 - p)


@njit(cache=True)
def loss_grad(code, lp, w, g):
    """Fill g with grad L(w); return L(w)."""
    d = w.shape[0]
    if code == QUADRATIC:
        acc = 0.0
        for i in range(d):
            hw = 0.0
            for j in range(d):
                hw += lp[i * d + j] * w[j]
            g[i] = hw
            acc += w[i] * hw
        return 0.5 * acc
    p = 1.0
    for i in range(d):
        p *= w[i]
    r = 1.0 - p
    for i in range(d):
        g[i] = -r * _prod_skip(w, i, -1, -1)
    return 0.5 * r * r


@njit(cache=True)
def loss_hessian(code, lp, w, h):
    d = w.shape[0]
    if code == QUADRATIC:
        for i in range(d):
            for j in range(d):
                h[i, j] = lp[i * d + j]
        return
    p = 1.0
    for i in range(d):
        p *= w[i]
    r = 1.0 - p
    for i in range(d):
        qi = _prod_skip(w, i, -1, -1)
        h[i, i] = qi * qi
        for j in range(i + 1, d):
            v = qi * _prod_skip(w, j, -1, -1) - r * _prod_skip(w, i, j, -1)
            h[i, j] = v
            h[j, i] = v


@njit(cache=True)
def loss_d3(code, lp, w, u, out):
    """out = D^3 L(w)[u, u, .] (zero for a quadratic)."""
    d = w.shape[0]
    for k in range(d):
        out[k] = 0.0
    if code == QUADRATIC:
        return
    p = 1.0
    for i in range(d):
        p *= w[i]
    r = 1.0 - p
    uq = 0.0
    upu = 0.0
    p2u = np.zeros(d)
    for i in range(d):
        uq += u[i] * _prod_skip(w, i, -1, -1)
        for j in range(d):
            if i != j:
                v = _prod_skip(w, i, j, -1)
                p2u[i] += v * u[j]
                upu += u[i] * v * u[j]
    for k in range(d):
        acc = 2.0 * uq * p2u[k] + upu * _prod_skip(w, k, -1, -1)
        for i in range(d):
            for j in range(d):
                if i != j and i != k and j != k:
                    acc -= r * u[i] * u[j] * _prod_skip(w, i, j, k)
        out[k] = acc


def top_eigen(h: np.ndarray) -> tuple[float, np.ndarray]:
    """(largest eigenvalue, unit eigenvector) of a symmetric matrix."""
    vals, vecs = np.linalg.eigh(h)
    return float(vals[-1]), vecs[:, -1]


def minimalist_eos_minimum(lr: float) -> tuple[float, float]:
    """Zhu et al.'s lr-EoS minimum in (x, y) on the slice: x^2 - y^2 = (lr^-2 - 4)^(1/2), xy = 1.
    Its 4-D sharpness 2 (x^2 + y^2) equals 2/lr exactly (needs lr < 1/2)."""
    if not 0 < lr < 0.5:
        raise ValueError(f"`lr` must be in (0, 0.5) for the lr-EoS minimum, got {lr!r}")
    c2 = math.sqrt(lr ** -2 - 4.0)
    x2 = 0.5 * (c2 + math.sqrt(c2 * c2 + 4.0))
    return math.sqrt(x2), 1.0 / math.sqrt(x2)
