"""Principal components of trajectories, and the random-walk theory they are checked against.

Antognini & Sohl-Dickstein (NeurIPS 2018, "PCA of high dimensional random walks with comparison to
neural network training"): for a walk X_0, ..., X_n whose dimension d >> n, the time-centred Gram
matrix concentrates on the centred Brownian kernel, whose eigenvalues for T = n + 1 points are
lambda_k = 1 / (4 sin^2(pi k / (2T))), k = 1, ..., T - 1 (checked against a direct eigendecomposition
in the tests).  Explained-variance ratios tend to 6 / (pi^2 k^2) as n -> infinity, and the projection
on PC k follows cos(pi k t / n): pairs of them draw Lissajous curves.
"""

from __future__ import annotations

import numpy as np


def principal_components(path: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Explained-variance ratios of the first ``k`` PCs of ``path`` (T points x d) and the projection
    of the time-centred path on them, (T, k).  Uses the T x T Gram matrix when T <= d, else the
    d x d covariance, so either regime costs min(T, d)^3."""
    x = np.asarray(path, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"`path` must be a (T >= 2, d) array, got shape {x.shape}")
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"`k` must be in [1, {min(x.shape)}], got {k}")
    xc = x - x.mean(axis=0)
    if xc.shape[0] <= xc.shape[1]:
        evals, evecs = np.linalg.eigh(xc @ xc.T)
        order = np.argsort(evals)[::-1]
        evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
        proj = evecs[:, :k] * np.sqrt(evals[:k])
    else:
        evals, evecs = np.linalg.eigh(xc.T @ xc)
        order = np.argsort(evals)[::-1]
        evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
        proj = xc @ evecs[:, :k]
    total = evals.sum()
    ratios = evals[:k] / total if total > 0 else np.zeros(k)
    return ratios, proj


def cosine_fidelity(proj: np.ndarray) -> np.ndarray:
    """|corr(proj[:, i], cos(pi (i + 1) (t + 1/2) / T))| for each column i of a (T, k) projection.

    For T points of a walk the centred covariance in time is diagonalised exactly by these
    discrete cosines (DCT-II), t = 0..T-1; cos(pi k t / (T - 1)) is their large-T limit."""
    proj = np.asarray(proj, dtype=float)
    t = (np.arange(proj.shape[0]) + 0.5) / proj.shape[0]
    out = np.empty(proj.shape[1])
    for i in range(proj.shape[1]):
        c = np.cos(np.pi * (i + 1) * t)
        a, b = proj[:, i] - proj[:, i].mean(), c - c.mean()
        den = np.sqrt((a @ a) * (b @ b))
        out[i] = abs(a @ b) / den if den > 0 else 0.0
    return out


def walk_pca_theory(steps: int, k: int) -> np.ndarray:
    """Explained-variance ratios of PCs 1..k of an n-step walk (T = n + 1 points) in the d >> n limit."""
    if steps < 1 or k < 1:
        raise ValueError(f"steps and k must be >= 1, got steps={steps}, k={k}")
    T = steps + 1
    j = np.arange(1, T)
    lam = 1.0 / (4.0 * np.sin(np.pi * j / (2 * T)) ** 2)
    ratios = lam / lam.sum()
    return np.pad(ratios, (0, max(0, k - ratios.size)))[:k]


def walk_pca_limit(k: int) -> np.ndarray:
    """6 / (pi^2 j^2), j = 1..k: the n -> infinity limit of :func:`walk_pca_theory`."""
    j = np.arange(1, k + 1)
    return 6.0 / (np.pi**2 * j**2)
