"""PCA of random-walk trajectories (Antognini & Sohl-Dickstein, NeurIPS 2018).

Each walk's trajectory X_0, ..., X_n (n + 1 points in R^d) is centred over time and decomposed; the
trace keeps, per walk, the explained-variance ratios of the first k components and how closely the
projection on PC i follows cos(pi i t / n).  The theory (the n << d limit) is in
:mod:`dynsim.analysis.pca`.
"""

from __future__ import annotations

import numpy as np

from dynsim.analysis.pca import cosine_fidelity, principal_components
from dynsim.params import Bool, Float, Int, check_params, entry_point
from dynsim.rng import make_seed
from dynsim.sims.walks import kernels
from dynsim.sims.walks.walk import Progress, default_step_std
from dynsim.trace import Timer, Trace, make_trace

PARAMS = {
    "d": Int(1, 10**6, default=10, help="Dimension d."),
    "walks": Int(1, 10**6, default=100, help="Independent walks."),
    "steps": Int(2, 10**6, default=1000, help="Steps per walk."),
    "k": Int(1, 50, help="Principal components kept.", none_means="min(5, d, steps)"),
    "lattice": Bool(default=True, help="The simple random walk on Z^d; False: Gaussian steps."),
    "step_std": Float(0.0, None, lo_open=True, help="Gaussian walks: step SD per coordinate.",
                      none_means="1/sqrt(d)"),
}
CHUNK_BYTES = 256 * 2**20


@entry_point(PARAMS)
def walk_pca(d: int, walks: int, steps: int, k: int | None, lattice: bool,
             step_std: float | None, *, seed: int | None = None,
             progress: Progress | None = None) -> Trace:
    """PCA of ``walks`` independent walks of ``steps`` steps in d dimensions.

    ``lattice=True``: the simple random walk on Z^d (``step_std`` must be None); else Gaussian
    steps N(0, step_std^2 I) with step_std = 1/sqrt(d) by default (the scale does not change
    explained-variance ratios).  k: components kept, min(5, d, steps) by default.
    Channels ``pca_explained`` and ``pca_cos_corr`` (walks, k), and ``pca_scores`` (steps + 1, k) of walk 0.
    """
    if lattice is True and step_std is not None:
        raise ValueError(f"`step_std` applies to Gaussian walks (`lattice=False`), got {step_std!r}")
    if not lattice:
        step_std = default_step_std(d, step_std)
    if k is None and isinstance(d, (int, np.integer)) and isinstance(steps, (int, np.integer)):
        k = max(1, min(5, d, steps))
    p = check_params(PARAMS, dict(d=d, walks=walks, steps=steps, k=k, lattice=lattice,
                                  step_std=None if lattice else step_std), "walk.pca")
    if p["k"] > min(p["d"], p["steps"]):
        raise ValueError(f"`k` must be <= min(d, steps) = {min(p['d'], p['steps'])}, got {p['k']}")
    seed = make_seed(seed)
    n1, dd = p["steps"] + 1, p["d"]
    per_walk = 8 * n1 * dd
    if per_walk > 4 * CHUNK_BYTES:
        raise ValueError(f"one trajectory of (steps + 1) x d = {n1} x {dd} needs "
                         f"{per_walk / 2**20:.0f} MiB (limit {4 * CHUNK_BYTES / 2**20:.0f} MiB)")
    chunk = max(1, min(p["walks"], CHUNK_BYTES // per_walk))
    explained = np.empty((p["walks"], p["k"]))
    cos_corr = np.empty((p["walks"], p["k"]))
    proj0 = None
    timer = Timer()
    for lo in range(0, p["walks"], chunk):
        hi = min(p["walks"], lo + chunk)
        with timer.phase("simulate"):
            paths = np.zeros((hi - lo, n1, dd))
            if lattice:
                kernels.lattice_paths_kernel(seed, lo, paths)
            else:
                kernels.gaussian_paths_kernel(seed, lo, p["step_std"], paths)
        with timer.phase("pca"):
            for j in range(hi - lo):
                ratios, proj = principal_components(paths[j], p["k"])
                explained[lo + j] = ratios
                cos_corr[lo + j] = cosine_fidelity(proj)
                if proj0 is None:
                    proj0 = proj
        if progress is not None:
            progress(hi, p["walks"])
    channels = {"pca_explained": explained, "pca_cos_corr": cos_corr, "pca_scores": proj0}
    return make_trace("walk.pca", p, seed, channels, timings=timer.timings)

