"""Power laws fitted to histograms: the binned-data MLE of Virkar & Clauset (Ann. Appl. Stat. 8:89, 2014).

With edges b_0 < ... < b_k and counts h_i in [b_i, b_(i+1)), a power law above the edge b_s has bin
probabilities P_i = (b_i^(1-a) - b_(i+1)^(1-a)) / (b_s^(1-a) - b_k^(1-a)), i >= s (the histogram's range
is the window, so the fit is renormalised on [b_s, b_k]; a = 1 is the log limit).  alpha maximises
sum h_i ln P_i; its standard error comes from the observed information; b_s is the edge whose fit has
the smallest KS distance between the binned CDFs at the edges.  Histograms pooled across layers are
valid only when their edges are shared (Virkar & Clauset 2014): pass the shared edges once.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from dynsim.analysis.powerlaw.fit import PowerLawFit, failed


def _log_mass(alpha: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """ln of int_lo^hi x^-alpha dx, elementwise, stable near alpha = 1."""
    b = 1.0 - alpha
    r = np.log(hi / lo)
    if abs(b) < 1e-12:
        return np.log(r)
    return b * np.log(lo) + np.log(np.expm1(b * r) / b)


def _fit_from(counts, edges, s):
    h = counts[s:]
    lo, hi = edges[s:-1], edges[s + 1:]
    n = h.sum()
    keep = h > 0

    def nll(a):
        return -(h[keep] * (_log_mass(a, lo[keep], hi[keep])
                            - _log_mass(a, edges[s:s + 1], edges[-1:])[0])).sum()

    res = optimize.minimize_scalar(nll, bounds=(-5.0, 20.0), method="bounded",
                                   options={"xatol": 1e-10})
    a, step = res.x, 1e-4
    info = (nll(a + step) - 2 * nll(a) + nll(a - step)) / step**2
    model = np.exp(_log_mass(a, np.full(hi.size, edges[s]), hi)
                   - _log_mass(a, edges[s:s + 1], edges[-1:])[0])
    ks = float(np.abs(np.cumsum(h) / n - model).max())
    return a, (1 / math.sqrt(info) if info > 0 else np.nan), ks, int(n)


def fit_binned(counts, edges, *, bmin: float | None = None, min_tail: int = 50,
               min_decades: float = 0.0, xmax: float | None = None) -> PowerLawFit:
    """Binned-data MLE of a power law (see module docstring).  ``counts`` may be (..., bins): all
    leading axes are pooled (e.g. windows x layers of ``update_hist`` on shared edges).

    min_decades: as in :func:`fit_power_law`, candidate edges b_s leave a tail spanning at least
        this many decades (top / b_s >= 10**min_decades, top = the upper edge of the last non-empty
        bin of the window), so the scan does not settle in a finite-size cutoff.
    xmax: the window ends at the largest edge <= xmax (bins above are left out and the fit is
        renormalised on the window), e.g. at a cutoff scale; None keeps the whole histogram."""
    edges = np.asarray(edges, dtype=float)
    counts = np.asarray(counts, dtype=float)
    if edges.ndim != 1 or edges.size < 3 or np.any(np.diff(edges) <= 0) or edges[0] <= 0:
        raise ValueError(f"`edges` must be increasing positive bin edges (>= 3), got {edges[:5]}...")
    counts = counts.reshape(-1, counts.shape[-1]).sum(axis=0) if counts.ndim > 1 else counts
    if counts.size != edges.size - 1:
        raise ValueError(f"`counts` has {counts.size} bins but `edges` defines {edges.size - 1}")
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError("`counts` must be finite and non-negative")
    if isinstance(min_decades, bool) or not isinstance(min_decades, (int, float)) or \
            not 0 <= min_decades <= 20:
        raise ValueError(f"`min_decades` must be a number in [0, 20], got {min_decades!r}")
    n_total = int(counts.sum())
    window = ""
    if xmax is not None:
        if not (np.isfinite(xmax) and xmax > edges[0]):
            raise ValueError(f"`xmax` must be a finite number above the first edge {edges[0]:g}, "
                             f"got {xmax!r}")
        top = int(np.searchsorted(edges, xmax, side="right")) - 1  # last edge <= xmax
        if top < 2:
            raise ValueError(f"`xmax`={xmax:g} leaves fewer than 2 bins")
        edges, counts = edges[:top + 1], counts[:top]
        window = f"; window ends at edge {edges[-1]:g} (xmax={xmax:g})"
    tails = np.cumsum(counts[::-1])[::-1]
    filled = np.flatnonzero(counts > 0)
    top_edge = edges[filled[-1] + 1] if filled.size else edges[-1]
    span = 10.0 ** min_decades
    if bmin is None:
        cand = [s for s in range(edges.size - 2) if tails[s] >= min_tail
                and counts[s:].astype(bool).sum() >= 2 and edges[s] * span <= top_edge]
        rule = f"every bin edge with n_tail >= {min_tail} and two non-empty bins"
        if span > 1:
            rule += f", tail spanning >= {min_decades:g} decades"
        rule += window
    else:
        s = int(np.searchsorted(edges, bmin))
        if s >= edges.size - 1 or not np.isclose(edges[s], bmin):
            raise ValueError(f"`bmin` must be one of the bin edges, got {bmin}")
        cand, rule = [s], "fixed bmin" + window
    rows = [(*_fit_from(counts, edges, s), s) for s in cand if tails[s] >= min_tail]
    if not rows:
        return failed(f"no bin edge leaves {min_tail} counts in at least two bins (n={n_total})",
                      n_total, False, np.nan, float(edges[-1]), "binned MLE")
    best = min(rows, key=lambda r: r[2])
    a, se, ks, n_tail, s = best
    scan = {"xmin": np.array([edges[r[4]] for r in rows]), "alpha": np.array([r[0] for r in rows]),
            "ks": np.array([r[2] for r in rows]), "n_tail": np.array([r[3] for r in rows], float)}
    scan["stderr"] = np.array([r[1] for r in rows])
    return PowerLawFit(float(a), float(se), float(edges[s]), float(edges[-1]), n_tail, n_total,
                       ks, False, "binned MLE (Virkar & Clauset 2014), observed-information SE",
                       candidates_rule=rule, scan=scan, xmin_given=bmin is not None,
                       min_decades=float(min_decades))
