"""Attractor dimensions: Grassberger-Procaccia, participation ratio, Rosenstein's largest exponent.

* Correlation dimension (Grassberger & Procaccia, Phys. Rev. Lett. 50:346, 1983; Physica D 9:189,
  1983): C(r) = fraction of pairs of points closer than r, C(r) ~ r^D2 in the scaling region.
  Pairs closer in time than a Theiler window are excluded (Theiler, Phys. Rev. A 34:2427, 1986).
  Counting uses KD-trees (scipy.spatial.cKDTree.count_neighbors), never an N x N matrix; above
  ``max_pairs`` pairs, C(r) is estimated from M random reference points against all N points
  (Theiler 1987, Phys. Rev. A 36:4456).
* Scalar series are delay-embedded by :mod:`dynsim.analysis.embedding` (``delay_embed``,
  ``choose_delay``, ``false_nearest_neighbours``; re-exported here).
* Largest Lyapunov exponent from a series (Rosenstein, Collins & De Luca, Physica D 65:117, 1993).
* Participation ratio of a spectrum, (sum lambda)^2 / sum lambda^2 (e.g. Gao et al., bioRxiv 2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from dynsim.analysis.embedding import (DelayChoice, DimensionChoice, _iv_int, _iv_points,
                                      _nearest_outside, choose_delay, delay_embed,
                                      false_nearest_neighbours)
from dynsim.analysis.results import Z95, Estimate, z_text
from dynsim.rng import make_rng

__all__ = ["DelayChoice", "DimensionChoice", "DimensionEstimate", "RosensteinEstimate",
           "choose_delay", "correlation_dimension", "correlation_sum", "delay_embed", "false_nearest_neighbours",
           "largest_lyapunov_rosenstein", "participation_ratio"]

GP = "Grassberger-Procaccia correlation sum, least squares in the scaling region"


@dataclass(frozen=True)
class DimensionEstimate(Estimate):
    """A correlation dimension whose ``stderr`` is the honest uncertainty every consumer reads
    (tables, ``z``, :meth:`agrees`, ``ci``): the regression SE of the slope (``fit_stderr``, an
    underestimate: C(r) at different r share pairs) plus ``spread``, the SD of the local slopes
    d ln C / d ln r in the fitted window (lacunarity, curvature).  A published D2 is compared within
    3 x (slope SE + local-slope spread) = 3 x ``stderr`` (the note of the references.json key
    ``henon_correlation_dimension``).  ``data`` holds the curve (radii, corr_sum, local slopes) and
    the rule that chose the window."""

    spread: float = math.nan
    r_range: tuple[float, float] = (math.nan, math.nan)
    n_pairs: int = 0
    n_points: int = 0
    theiler: int = 0
    fit_stderr: float = math.nan

    @property
    def uncertainty(self) -> float:
        """The same as ``stderr`` (fit SE + local-slope spread); kept for older callers."""
        return self.stderr

    label = "Grassberger-Procaccia D2"

    def z_text(self) -> str:
        return z_text(self.value, self.stderr, self.reference, self.reference_source,
                      unit="(SE + spread)")

    def details(self, name: str | None = None) -> str:
        """D2 with the two parts of its uncertainty, the scaling region (radii, decades, pairs,
        points, Theiler window), the rule that chose it and the z-score against a reference."""
        if self.failed:
            return ""
        d = self.data
        a, b = d["window"]
        lo, hi = self.r_range
        decades = math.log10(hi / lo) if lo > 0 else math.nan
        ref_pts = d.get("reference_points", self.n_points)
        lines = [f"{name or 'correlation_dimension'}: {self.value:.4f} ± {self.stderr:.2g} (= "
                 f"{self.fit_stderr:.2g} fit SE + {self.spread:.2g} SD of local slopes; the 95% CI "
                 f"uses the sum)",
                 f"  scaling region r in [{lo:.3g}, {hi:.3g}] ({decades:.2f} decades, radii "
                 f"{a + 1}-{b + 1} of {len(d['radii'])}); {self.n_pairs:,} pairs of "
                 f"{self.n_points:,} points"
                 + (f" ({ref_pts:,} reference points)" if ref_pts < self.n_points else "")
                 + f"; Theiler window {self.theiler}",
                 f"  window rule: {d['rule']}"]
        if d.get("stationary_window"):
            lines.append(f"  points: {d['stationary_window']}")
        z = self.z_text()
        if z:
            lines.append(f"  {z}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RosensteinEstimate(Estimate):
    """Rosenstein's largest Lyapunov exponent.  ``stderr`` is statistical only (blocks of reference
    points); ``data`` holds the divergence curve, the fit range and the rule that chose it, the
    embedding (``dim``, ``delay``; None for states used as they are), ``dt`` and the Theiler window."""

    label = "Rosenstein 1993"

    def local_slopes(self) -> np.ndarray:
        """Step-to-step slopes of the divergence curve over the fit range (per unit time)."""
        k0, k1 = self.data["fit_range"]
        y = np.asarray(self.data["divergence"], dtype=float)[k0:k1]
        with np.errstate(invalid="ignore"):
            local = np.diff(y) / self.data.get("dt", 1.0)
        return local[np.isfinite(local)]

    def details(self, name: str | None = None) -> str:
        """The exponent and its SE, the embedding and fit range, the pairs used, the rule that chose
        the range, the spread of the local slopes (the curvature the SE leaves out), the z-score."""
        if self.failed:
            return ""
        d = self.data
        k0, k1 = d["fit_range"]
        dt = d.get("dt", 1.0)
        per = " per unit time" if dt != 1.0 else " per sample"
        emb = "" if d.get("dim") is None else f"embedding dim {d['dim']}, delay {d['delay']}; "
        lines = [f"{name or 'lyapunov_rosenstein'}: {self.value:.4f} ± {self.stderr:.2g}{per} (SE "
                 f"from {d['blocks']} blocks of reference points)",
                 f"  {emb}slope of the mean log divergence over k in [{k0}, {k1}), dt = {dt:g}; "
                 f"{self.n:,} neighbour pairs ({d['dropped_pairs']} dropped), Theiler window "
                 f"{d['theiler']}"]
        if d.get("fit_rule"):
            lines.append(f"  fit range rule: {d['fit_rule']}")
        local = self.local_slopes()
        if local.size >= 2:
            lines.append(f"  local slopes of the divergence in the fit range: {local.min():.4g} .. "
                         f"{local.max():.4g} (SD {local.std(ddof=1):.2g}; the SE above does not "
                         f"include this): a straight curve (the figure) is the check; refit with "
                         f"another fit_range")
        z = self.z_text()
        if z:
            lines.append(f"  {z}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# correlation dimension


def _near_in_time(x, centres, theiler, radii) -> np.ndarray:
    """Ordered pairs (c, j), c in centres, 1 <= |c - j| <= theiler, closer than each radius: O(M w)."""
    n, counts = x.shape[0], np.zeros(radii.size, dtype=np.int64)
    for k in range(1, theiler + 1):
        for sign in (1, -1):
            c = centres[(centres + sign * k >= 0) & (centres + sign * k < n)]
            dist = np.sort(np.linalg.norm(x[c] - x[c + sign * k], axis=1))
            counts += np.searchsorted(dist, radii, side="right")
    return counts


def correlation_sum(points, radii, *, theiler: int = 0, centres=None) -> tuple[np.ndarray, np.ndarray]:
    """(pairs within each radius, pairs examined), ordered pairs (c, j), c in ``centres`` (default
    all points), j != c, |c - j| > theiler; C(r) = first / second."""
    x = _iv_points(points, min_n=2)
    radii = np.asarray(radii, dtype=float)
    n = x.shape[0]
    centres = np.arange(n) if centres is None else np.asarray(centres, dtype=np.int64)
    tree = cKDTree(x)
    sub = tree if centres.size == n else cKDTree(x[centres])
    within = sub.count_neighbors(tree, radii).astype(np.int64) - centres.size
    within -= _near_in_time(x, centres, theiler, radii)
    excluded = np.minimum(centres, theiler) + np.minimum(n - 1 - centres, theiler)
    return within, int(np.sum(n - 1 - excluded))


def _default_radii(x, theiler, n_radii, rng) -> np.ndarray:
    """From the 10th percentile of nearest-neighbour distances (outside the Theiler window, over up
    to 1000 random points) to the diagonal of the bounding box, log-spaced."""
    sample = rng.choice(x.shape[0], size=min(1000, x.shape[0]), replace=False)
    d, _ = _nearest_outside(cKDTree(x), x, theiler, sample)
    d = d[np.isfinite(d) & (d > 0)]
    r_max = float(np.linalg.norm(x.max(axis=0) - x.min(axis=0)))
    if d.size == 0 or r_max <= 0:
        raise ValueError("points are all identical (or pairs outside the Theiler window coincide)")
    return np.geomspace(min(float(np.quantile(d, 0.1)), r_max / 10), r_max, n_radii)


MAX_FRACTION = 0.5  # radii where C(r) exceeds this fraction of all pairs are saturated, not scaling


def _scaling_window(log_r, log_c, counts, min_pairs, tol, min_decades):
    """Choose radii a..b (inclusive) for the fit; returns (a, b, rule).  Radii need >= min_pairs
    pairs and C(r) <= MAX_FRACTION (beyond, C saturates towards 1 and its slope towards 0)."""
    slopes = np.diff(log_c) / np.diff(log_r)
    valid = (counts >= min_pairs) & (log_c <= math.log(MAX_FRACTION))
    n = log_r.size
    best, rule = None, ""
    for a in range(n - 1):
        for b in range(a + 1, n):
            if not valid[a: b + 1].all():
                break
            if (log_r[b] - log_r[a]) / math.log(10) < min_decades:
                continue
            s = slopes[a:b]
            med = np.median(s)
            if med > 0 and np.max(np.abs(s - med)) <= tol * med:
                key = (log_r[b] - log_r[a], -np.std(s))
                if best is None or key > best[0]:
                    best = (key, a, b)
    if best is not None:
        rule = (f"longest window of >= {min_decades:g} decades where every local slope is within "
                f"{tol:.0%} of their median (pairs >= {min_pairs} at each radius)")
        return best[1], best[2], rule
    for a in range(n - 1):  # fallback: the flattest window of the minimal span
        for b in range(a + 1, n):
            if not valid[a: b + 1].all():
                break
            if (log_r[b] - log_r[a]) / math.log(10) >= min_decades or b == n - 1:
                s = slopes[a:b]
                key = -np.std(s) / max(abs(np.median(s)), 1e-12)
                if best is None or key > best[0]:
                    best = (key, a, b)
                break
    if best is None:
        raise ValueError(f"no radius has >= {min_pairs} pairs below saturation (C <= "
                         f"{MAX_FRACTION:g}); offer more points or lower min_pairs")
    rule = (f"fallback: no window of >= {min_decades:g} decades had local slopes within {tol:.0%} of "
            f"their median; took the window of that span with the smallest relative SD of slopes")
    return best[1], best[2], rule


def correlation_dimension(points, *, theiler: int = 0, n_radii: int = 30, radii=None,
                          fit_range=None, max_pairs: int | None = 10**9, min_pairs: int = 100,
                          tol: float = 0.1, min_decades: float = 1.0, seed: int | None = None,
                          reference: float | None = None, reference_source: str = ""
                          ) -> DimensionEstimate:
    """Correlation dimension D2 of a point cloud or trajectory (N, dim) by Grassberger-Procaccia.

    C(r) = (ordered pairs (i, j), i != j, |i - j| > ``theiler``, with |x_i - x_j| <= r) / (pairs
    examined), Euclidean distance, at ``n_radii`` log-spaced radii from the 10th percentile of
    nearest-neighbour distances to the bounding-box diagonal (or the given ``radii``).  When
    N (N - 1) exceeds ``max_pairs``, M = max_pairs // (N - 1) reference points drawn with ``seed``
    are counted against all N points.

    Scaling region (unless ``fit_range`` = (r_lo, r_hi) fixes it): among windows of consecutive
    radii, each with >= ``min_pairs`` pairs and C(r) <= MAX_FRACTION (unsaturated), spanning >= ``min_decades`` decades, the longest whose
    local slopes d ln C / d ln r all lie within ``tol`` (relative) of their median; else (stated in
    ``data["rule"]``) the flattest window of that span.  D2 = least-squares slope of ln C on ln r in
    the window; ``fit_stderr`` its regression SE (an underestimate: C(r) at different r share
    pairs), ``spread`` the SD of the local slopes in the window, ``stderr`` = their sum (the
    uncertainty tables and :meth:`agrees` read) and ``ci`` = D2 +- 1.96 ``stderr``.
    """
    x = _iv_points(points)
    n = x.shape[0]
    theiler = _iv_int("theiler", theiler, 0, n // 2 - 1)
    n_radii = _iv_int("n_radii", n_radii, 4, 10**4)
    min_pairs = _iv_int("min_pairs", min_pairs, 1)
    if max_pairs is not None:
        max_pairs = _iv_int("max_pairs", max_pairs, n - 1)
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"`tol` must be a number in (0, 1), got {tol!r}")
    if not (isinstance(min_decades, (int, float)) and 0 <= min_decades <= 10):
        raise ValueError(f"`min_decades` must be a number in [0, 10], got {min_decades!r}")
    seed, rng = make_rng(seed)
    if radii is None:
        radii = _default_radii(x, theiler, n_radii, rng)
    else:
        radii = np.asarray(radii, dtype=float)
        if radii.ndim != 1 or radii.size < 3 or not np.all(radii > 0) or np.any(np.diff(radii) <= 0):
            raise ValueError(f"`radii` must be >= 3 increasing positive numbers, got {radii!r}")
    m = n if max_pairs is None or n * (n - 1) <= max_pairs else max(1, max_pairs // (n - 1))
    centres = np.arange(n) if m == n else np.sort(rng.choice(n, size=m, replace=False))
    counts, total = correlation_sum(x, radii, theiler=theiler, centres=centres)
    keep = counts > 0
    if keep.sum() < 3:
        raise ValueError(f"fewer than 3 radii hold any pair (radii {radii[0]:.3g}..{radii[-1]:.3g})")
    r, cnt = radii[keep], counts[keep]
    log_r, log_c = np.log(r), np.log(cnt / total)
    if fit_range is None:
        a, b, rule = _scaling_window(log_r, log_c, cnt // (2 if m == n else 1), min_pairs, tol,
                                     min_decades)
    else:
        lo, hi = fit_range
        sel = np.nonzero((r >= lo) & (r <= hi))[0]
        if sel.size < 3:
            raise ValueError(f"fit_range {fit_range!r} holds {sel.size} radii with pairs; need >= 3")
        a, b, rule = int(sel[0]), int(sel[-1]), f"fixed fit_range [{lo:g}, {hi:g}]"
    coef, cov = np.polyfit(log_r[a: b + 1], log_c[a: b + 1], 1, cov=True) if b - a >= 3 else \
        (np.polyfit(log_r[a: b + 1], log_c[a: b + 1], 1), np.full((2, 2), np.nan))
    slope, se = float(coef[0]), float(math.sqrt(max(cov[0, 0], 0.0)))
    local = np.diff(log_c) / np.diff(log_r)
    spread = float(np.std(local[a:b], ddof=1)) if b - a >= 2 else 0.0
    total_se = (se if math.isfinite(se) else 0.0) + spread
    half = Z95 * total_se
    return DimensionEstimate(
        slope, total_se, (slope - half, slope + half), GP, int(total), reference, reference_source,
        data={"radii": r, "corr_sum": cnt / total, "pair_counts": cnt, "local_slopes": local,
              "local_slope_radii": np.sqrt(r[1:] * r[:-1]), "window": (a, b), "rule": rule,
              "reference_points": int(m), "seed": seed if m < n else None, "tol": tol,
              "min_decades": min_decades, "min_pairs": min_pairs},
        spread=spread, r_range=(float(r[a]), float(r[b])), n_pairs=int(total), n_points=n,
        theiler=theiler, fit_stderr=se)


# ---------------------------------------------------------------------------------------------
# participation ratio, Rosenstein


def participation_ratio(explained_variance) -> Estimate:
    """PR = (sum lambda)^2 / sum lambda^2 of a spectrum (1-D), or its mean over rows of a 2-D array
    (e.g. one spectrum per walk) with SE = SD / sqrt(rows).  Computed from the eigenvalues given:
    a truncated spectrum (the top k only) gives the PR of that truncation, between 1 and k."""
    ev = np.asarray(explained_variance, dtype=float)
    if ev.ndim not in (1, 2) or ev.shape[-1] < 1 or not np.all(np.isfinite(ev)) or np.any(ev < 0):
        raise ValueError(f"`explained_variance` must be a 1-D or 2-D array of finite values >= 0, "
                         f"got shape {ev.shape}")
    rows = np.atleast_2d(ev)
    sq = (rows**2).sum(axis=1)
    if np.any(sq == 0):
        raise ValueError("`explained_variance` has a row of zeros")
    pr = rows.sum(axis=1) ** 2 / sq
    se = float(pr.std(ddof=1) / math.sqrt(pr.size)) if pr.size > 1 else math.nan
    return Estimate.normal(float(pr.mean()), se, method="participation ratio (sum l)^2 / sum l^2",
                           n=int(pr.size), data={"k": int(rows.shape[1])})


ROSENSTEIN_TOL = 0.25   # local slopes of the divergence within this fraction of their median
SATURATION = 0.9        # the divergence curve is saturated past this fraction of its total rise
NODES = 30              # the rising part is read at about this many equally spaced k


def _divergence_window(curve, tol: float) -> tuple[int, int, str]:
    """(k0, k1, rule): the linear region [k0, k1) of a mean log divergence curve y(k).

    The rising part is k = 0..k_sat, k_sat the first k with y(k) >= y(0) + SATURATION (max y -
    y(0)); it is read at nodes every g = max(1, k_sat // NODES) steps.  The fit range is the
    longest run of >= 3 consecutive node-to-node slopes (2 if there are only 2) that all lie
    within ``tol`` (relative) of their positive median (ties: the smaller relative SD), i.e. the
    straight part between the neighbours' alignment transient and saturation, as the GP window
    is chosen from the local slopes of C(r)."""
    y = np.asarray(curve, dtype=float)
    ok = np.isfinite(y)
    if not ok[0] or ok.sum() < 3:
        raise ValueError("the divergence curve has fewer than 3 finite points")
    last = int(np.argmin(ok)) if not ok.all() else y.size   # first non-finite k ends the curve
    y = y[:last]
    rise = float(y.max() - y[0])
    if not rise > 0:
        raise ValueError("the mean log divergence never rises above its start: no linear region "
                         "(no positive exponent, or neighbours too far apart)")
    k_sat = int(np.argmax(y >= y[0] + SATURATION * rise))
    saturated = bool(y[k_sat:].max() - y[k_sat] < (1 - SATURATION) * rise + 1e-300) \
        and k_sat < y.size - 1
    k_sat = max(k_sat, 2)
    g = max(1, k_sat // NODES)
    nodes = np.arange(0, k_sat + 1, g)
    slopes = np.diff(y[nodes]) / g
    need = 3 if slopes.size >= 3 else 2
    best = None
    for a in range(slopes.size):
        for b in range(a + need, slopes.size + 1):
            s = slopes[a:b]
            med = float(np.median(s))
            if med > 0 and np.max(np.abs(s - med)) <= tol * med:
                key = (b - a, -float(np.std(s)) / med)
                if best is None or key > best[0]:
                    best = (key, a, b)
    sat = (f"saturation (y >= y(0) + {SATURATION:g} of its rise) at k = {k_sat}" if saturated else
           f"no saturation seen within trajectory_len: the rising part was taken up to k = {k_sat}")
    if best is None:
        return 0, int(nodes[-1]) + 1, (f"fallback: no run of {need} node slopes within {tol:.0%} "
                                       f"of their median; fitted k in [0, {nodes[-1]}]; {sat}")
    _, a, b = best
    return int(nodes[a]), int(nodes[b]) + 1, (
        f"longest run of node-to-node slopes (nodes every {g} step{'s' if g > 1 else ''}) within "
        f"{tol:.0%} of their median, below saturation; {sat}")


def largest_lyapunov_rosenstein(series, *, dim: int | None = None, delay: int = 1, theiler: int = 0,
                                dt: float = 1.0, fit_range: tuple[int, int] | None = None,
                                trajectory_len: int | None = None, blocks: int = 20,
                                tol: float = ROSENSTEIN_TOL) -> RosensteinEstimate:
    """Largest Lyapunov exponent from a series by Rosenstein, Collins & De Luca (1993).

    ``series``: 1-D (delay-embedded with ``dim`` and ``delay``) or (N, m) states used as they are.
    Each of the first N - trajectory_len + 1 vectors gets its nearest neighbour among them with
    |i - j| > ``theiler``; y(k) = mean over pairs of ln |Y_(i+k) - Y_(j+k)|, k < trajectory_len;
    lambda = least-squares slope of y on k over the fit range [k0, k1), / dt.

    Fit range: ``fit_range`` = (k0, k1) as given (trajectory_len defaults to k1), or by default
    chosen from the divergence curve itself (:func:`_divergence_window`: the longest straight part
    between the alignment transient and saturation, ``data['fit_rule']`` says how), with
    trajectory_len defaulting to min(N // 5, 2000) steps so that saturation is seen (a fixed range
    in samples suits maps but not a flow sampled every dt: Lorenz x at dt = 0.01 needs k ~ 100-400).
    The slope is a mean of per-pair slopes; SE from ``blocks`` contiguous blocks of reference
    points.  Pairs with a zero distance in the fit range are dropped (counted in ``data``)."""
    x = np.asarray(series, dtype=float)
    if x.ndim == 1:
        if dim is None:
            raise ValueError("`dim` is required for a 1-D series (or pass (N, m) states)")
        y = delay_embed(x, dim, delay)
    else:
        y = _iv_points(x, "series")
    if fit_range is not None:
        k0, k1 = (_iv_int("fit_range[0]", fit_range[0], 0), _iv_int("fit_range[1]", fit_range[1], 1))
        if k1 - k0 < 2:
            raise ValueError(f"`fit_range` must hold >= 2 steps [k0, k1), got {fit_range!r}")
        default_len = k1
    else:
        k1 = 3
        default_len = max(20, min(y.shape[0] // 5, 2000))
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"`tol` must be a number in (0, 1), got {tol!r}")
    tlen = _iv_int("trajectory_len", default_len if trajectory_len is None else trajectory_len, k1)
    theiler = _iv_int("theiler", theiler, 0)
    blocks = _iv_int("blocks", blocks, 2)
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"`dt` must be a finite number > 0, got {dt!r}")
    n_ref = y.shape[0] - tlen + 1
    if n_ref < max(2 * theiler + 2, blocks):
        raise ValueError(f"{y.shape[0]} vectors are too few for trajectory_len={tlen}, "
                         f"theiler={theiler}, blocks={blocks}")
    ref = y[:n_ref]
    _, nb = _nearest_outside(cKDTree(ref), ref, theiler)

    def logd(k):  # ln |Y_(i+k) - Y_(j+k)| for every reference point i
        diff = y[k: k + n_ref] - y[nb + k]
        with np.errstate(divide="ignore"):
            return 0.5 * np.log(np.einsum("ij,ij->i", diff, diff))

    curve = np.empty(tlen)
    for k in range(tlen):
        c = logd(k)
        c = c[np.isfinite(c)]
        curve[k] = c.mean() if c.size else -np.inf
    if fit_range is None:
        k0, k1, rule = _divergence_window(curve, tol)
    else:
        rule = f"fixed fit_range [{k0}, {k1})"
    ks = np.arange(k0, k1)
    w = ks - ks.mean()
    w = w / (w @ w)
    per_pair, good = np.zeros(n_ref), np.ones(n_ref, dtype=bool)
    for k, wk in zip(ks, w):
        c = logd(k)
        good &= np.isfinite(c)
        per_pair += wk * np.where(np.isfinite(c), c, 0.0)
    if good.sum() < blocks:
        raise ValueError(f"only {int(good.sum())} neighbour pairs keep a non-zero distance over "
                         f"the fit range [{k0}, {k1}); need >= blocks = {blocks}")
    per_pair = per_pair[good] / dt
    lam = float(per_pair.mean())
    means = np.array([b.mean() for b in np.array_split(per_pair, blocks)])
    se = float(means.std(ddof=1) / math.sqrt(blocks))
    return RosensteinEstimate.normal(lam, se,
                                     method="Rosenstein et al. 1993, mean log divergence slope",
                                     n=int(good.sum()),
                                     data={"dim": None if x.ndim == 2 else dim,
                                           "delay": None if x.ndim == 2 else delay,
                                           "theiler": theiler, "dt": dt, "fit_range": (k0, k1),
                                           "fit_rule": rule, "tol": tol, "trajectory_len": tlen,
                                           "blocks": blocks, "divergence": curve,
                                           "dropped_pairs": int((~good).sum())})
