"""High-dimensional geometry: peaks of random landscapes, and random vectors.

Peaks (``peak_fraction_iid_d10``, the 5-level keys ``peak_fraction_levels5_*``): on the periodic
lattice (Z/side)^d with i.i.d. continuous heights a site is a strict local maximum with probability
1/(k + 1), k its number of neighbours (exchangeability: each of the k + 1 values is equally likely
the largest).  With ``levels`` discrete heights ties make peaks rarer:
P = (1/m) sum_h ((h - 1)/m)^k, or (1/m) ((m - 1)/m)^k counting only top-level sites.  A smoothed
field has no such oracle; it is measured and reported as such.

Random vectors: x ~ N(0, I_d) has |x|/sqrt(d) -> 1 with SD ~ 1/sqrt(2d) (a thin shell), and the
cosine between two independent ones has mean 0 and SD exactly 1/sqrt(d) (near-orthogonality).
"""

from __future__ import annotations

import numpy as np

from dynsim.params import Bool, Choice, Int, check_params, entry_point
from dynsim.rng import make_seed
from dynsim.sims.walks import kernels
from dynsim.trace import Timer, Trace, make_trace

PEAK_PARAMS = {
    "d": Int(1, 64, default=10, help="Dimension d."),
    "side": Int(3, 10**6, default=4, help="Lattice side (periodic, >= 3)."),
    "levels": Int(0, 10**6, default=0, help="Discrete height levels (0: continuous heights)."),
    "neighbours": Choice(("all", "axis"), default="all",
                         help="'all' (2d neighbours) or 'axis' (one per axis: d)."),
    "top_only": Bool(default=False, help="Count only sites at the top level (needs levels > 0)."),
    "smooth": Int(0, 100, default=0,
                  help="Smoothing passes (neighbour averages; no exact reference then)."),
    "landscapes": Int(2, 10**4, default=8,
                      help="Independent landscapes (the error bar comes from their spread)."),
}
MAX_SITES = 2**26


@entry_point(PEAK_PARAMS)
def landscape_peaks(d: int, side: int, levels: int, neighbours: str, top_only: bool, smooth: int,
                    landscapes: int, *, seed: int | None = None, progress=None) -> Trace:
    """Fraction of strict local maxima of random landscapes on the periodic lattice (Z/side)^d.

    levels: 0 for continuous U(0, 1) heights, m > 0 for heights uniform on {1, ..., m}.
    neighbours: "all" (2d neighbours) or "axis" (only the +1 neighbour along each axis: d).
    top_only: count only sites at the top level (needs levels > 0).
    smooth: passes of averaging each site with its 2d neighbours (continuous heights only).
    Channel ``peak_fraction`` (landscapes,): one value per independent landscape.
    """
    p = check_params(PEAK_PARAMS, dict(d=d, side=side, levels=levels, neighbours=neighbours,
                                       top_only=top_only, smooth=smooth, landscapes=landscapes),
                     "walk.peaks")
    if p["top_only"] and p["levels"] == 0:
        raise ValueError("`top_only` needs discrete heights (`levels` > 0), got `levels=0`")
    if p["smooth"] and p["levels"]:
        raise ValueError(f"`smooth` needs continuous heights (`levels=0`), got `levels={p['levels']}`")
    if p["smooth"] and p["side"] < 5:
        raise ValueError(f"`smooth` needs `side` >= 5 (on side {p['side']} a site and its neighbours "
                         "overlap so much that the smoothed values stay exchangeable), got "
                         f"`side={p['side']}`")
    sites = p["side"] ** p["d"]
    if sites > MAX_SITES:
        raise ValueError(f"side**d = {p['side']}**{p['d']} = {sites} sites; at most {MAX_SITES} "
                         "are allowed: lower `side` or `d`")
    seed = make_seed(seed)
    field = np.empty(sites)
    spare = np.empty(sites) if p["smooth"] else None
    top = float(p["levels"]) if p["top_only"] else 0.0
    fractions = np.empty(p["landscapes"])
    timer = Timer()
    for j in range(p["landscapes"]):
        with timer.phase("simulate"):
            kernels.uniform_field_kernel(seed, j * sites, p["levels"], field)
            for _ in range(p["smooth"]):
                kernels.smooth_field_kernel(field, p["side"], p["d"], spare)
                field, spare = spare, field
            count = kernels.count_peaks_kernel(field, p["side"], p["d"],
                                               p["neighbours"] == "all", top)
        fractions[j] = count / sites
        if progress is not None:
            progress(j + 1, p["landscapes"])
    return make_trace("walk.peaks", p, seed, {"peak_fraction": fractions}, timings=timer.timings)


VECTOR_PARAMS = {"d": Int(1, 10**6, default=1000, help="Dimension d."),
                 "pairs": Int(2, 10**7, default=2000, help="Pairs of vectors.")}


@entry_point(VECTOR_PARAMS)
def random_vectors(d: int, pairs: int, *, seed: int | None = None) -> Trace:
    """Norms and cosines of ``2 * pairs`` independent N(0, I_d) vectors taken in pairs.

    Channels ``vector_norm`` (2 pairs,) = |x|/sqrt(d) and ``vector_cosine`` (pairs,)."""
    p = check_params(VECTOR_PARAMS, dict(d=d, pairs=pairs), "walk.vectors")
    if 2 * p["pairs"] * p["d"] > 2**28:
        raise ValueError(f"2 * pairs * d = {2 * p['pairs'] * p['d']} numbers; at most 2**28: "
                         "lower `pairs` or `d`")
    seed = make_seed(seed)
    timer = Timer()
    with timer.phase("simulate"):
        x = np.empty((2 * p["pairs"], p["d"]))
        kernels.gaussian_vectors_kernel(seed, 0, x)
        norms = np.linalg.norm(x, axis=1)
        cosine = np.einsum("ij,ij->i", x[0::2], x[1::2]) / (norms[0::2] * norms[1::2])
    channels = {"vector_norm": norms / np.sqrt(p["d"]), "vector_cosine": cosine}
    return make_trace("walk.vectors", p, seed, channels, timings=timer.timings)

