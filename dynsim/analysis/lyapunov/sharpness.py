"""The sharpness dimension: sharpness exponents and their Kaplan-Yorke combination.

Sharpness dimension (Tuci, Korkmaz, Simsekli & Birdal, "Generalization at the Edge of Stability",
arXiv 2604.19740, 2026; the key ``sharpness_dimension_definition``): the same Kaplan-Yorke
combination of "sharpness exponents" lambda_k = E_omega sup_{w in A} ln sigma_k(I - lr H(w, omega)),
the sup over the attractor of the log k-th singular value of the update Jacobian.  See :func:`sharpness_exponents` and :func:`sharpness_dimension`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dynsim.analysis.lyapunov.spectrum import (MAX_LISTED, _iv_exponents, _ky_index, _ky_value,
                                               _listed, kaplan_yorke_dimension)
from dynsim.analysis.results import Estimate, Printable


@dataclass(frozen=True)
class SharpnessExponents(Printable):
    """Sharpness exponents lambda_k = E_omega sup_t ln sigma_k(I - lr H_t), k = 1..len, decreasing."""

    exponents: tuple[float, ...]
    stderr: tuple[float, ...]   # SE over minibatches (NaN with a single minibatch)
    lr: float
    n_iterates: int
    n_minibatches: int
    d: int | None               # full dimension (number of parameters), None if the supply is complete
    method: str
    data: dict = field(default_factory=dict, compare=False)

    def headline(self) -> float:
        return self.exponents[0]

    def __str__(self) -> str:
        vals = ", ".join(f"{v:.4g} ± {s:.2g}" for v, s in zip(self.exponents, self.stderr))
        return (f"lambda = ({vals})  lr={self.lr:g}, {self.n_iterates} iterates, "
                f"{self.n_minibatches} minibatches  (sharpness exponents)")


@dataclass(frozen=True)
class SharpnessDimension(Estimate):
    """A sharpness dimension; ``bound="lower"`` when only a lower bound is known (then ``value`` is
    that bound and ``ci`` = (lower, upper) the interval the dimension is known to lie in)."""

    bound: str | None = None

    def agrees(self, k: float = 3.0) -> bool | None:
        if self.reference is None:
            return None
        if self.bound == "lower":
            return self.ci[0] <= self.reference <= self.ci[1]
        return super().agrees(k)

    @property
    def label(self) -> str:
        return "lower bound" if self.bound == "lower" and not self.failed else super().label

    def footnotes(self) -> tuple[str, ...]:
        if self.bound == "lower":
            return ("a sharpness dimension marked 'lower bound' is at least its value; its 95% CI "
                    "column is the interval the dimension is known to lie in",)
        return super().footnotes()

    def details(self, name: str | None = None) -> str:
        if self.bound == "lower" and not self.failed:
            return (f"{name or 'sharpness_dimension'}: >= {self.value:.6g} (lower bound; SD in "
                    f"[{self.ci[0]:.6g}, {self.ci[1]:.6g}]) ({self.method})")
        return super().details(name)


# ---------------------------------------------------------------------------------------------
# sharpness dimension


def _sup_by_rank(log_sigma_rows, k: int, m: int, t: int):
    """(sup over iterates of each rank, argmax iterate) from an iterable of (minibatch, iterate,
    ln sigma sorted decreasing (k,)), without holding (m, t, k) in memory."""
    sup = np.full((m, k), -np.inf)
    arg = np.zeros((m, k), dtype=np.int64)
    for b, i, row in log_sigma_rows:
        better = row > sup[b]
        sup[b, better] = row[better]
        arg[b, better] = i
    return sup, arg


SUP_RULE = ("sup over the iterates of the window (the window stands in for the attractor; a "
            "finite sample's maximum is at most the sup, so each exponent is biased low)")
SUP_RULE_SGD = (". For SGD: the max over iterates per fresh minibatch (one draw of omega), averaged "
                "over minibatches (E_omega).")
SUP_RULE_ONE_PATH = (". One noisy trajectory: every step's noise is a fresh draw omega, and the "
                     "iterate it acts on stands for omega's attractor, so lambda_k = mean over "
                     "steps of ln sigma_k(J_t) (E_omega; the sup over one omega's attractor is "
                     "taken at the one point visited: exact where J does not depend on w, as for "
                     "a minibatch of quadratics, close where the attractor is small), SE over "
                     "steps (independent draws).  The max over one path would drift up with its "
                     "length.")


def _sharpness_result(sup, arg, lr, n_iterates, d, supply, eigenvalues, method, stochastic,
                      window):
    m, k = sup.shape
    lam = sup.mean(axis=0)
    se = sup.std(axis=0, ddof=1) / math.sqrt(m) if m > 1 else np.full(k, math.nan)
    one_path = stochastic and n_iterates == 1 and m > 1
    rule = SUP_RULE + (SUP_RULE_ONE_PATH if one_path else SUP_RULE_SGD if m > 1 else "")
    return SharpnessExponents(
        exponents=tuple(float(v) for v in lam), stderr=tuple(float(v) for v in se), lr=float(lr),
        n_iterates=int(n_iterates), n_minibatches=int(m), d=None if d is None else int(d),
        method=method,
        data={"argmax_iterate": arg[:, :MAX_LISTED], "supply": supply, "eigenvalues": eigenvalues,
              "sup_rule": rule, "stationary_window": window, "stochastic": bool(stochastic)})


def _bulk_eigenvalues(grid, weights, n_bulk, lo, hi) -> np.ndarray:
    """n_bulk eigenvalue estimates from a spectral density: the (i + 1/2)/n_bulk quantiles of the
    density (bins as atoms at their grid values), clipped into the ends [lo, hi]."""
    w = np.clip(weights, 0, None)
    tot = w.sum()
    if not tot > 0:
        raise ValueError("hessian density weights sum to 0 at some iterate")
    cdf = np.cumsum(w) / tot
    q = (np.arange(n_bulk) + 0.5) / n_bulk
    idx = np.minimum(np.searchsorted(cdf, q, side="left"), grid.size - 1)
    return np.clip(grid[idx], lo, hi)


def sharpness_exponents(hessian_eigenvalues_per_iterate, lr: float, *, d: int | None = None,
                        density=None, density_grid=None, channels=None, stochastic: bool = False,
                        window: str = "") -> SharpnessExponents:
    """Sharpness exponents from Hessian eigenvalues along the late trajectory (Tuci et al. 2026).

    The update Jacobian of GD/SGD is I - lr H, with singular values |1 - lr h_i|.  At each iterate t
    the values ln|1 - lr h_i(t)| are sorted in decreasing order (so that large negative h count as
    much as large positive ones), giving ln sigma_k(t); then lambda_k = max_t ln sigma_k(t),
    separately for each rank k.

    How the sup over the attractor is estimated: the iterates supplied (the caller's stationary
    window, stated in ``window`` and kept in ``data['stationary_window']``) stand in for the attractor, and the sup is their maximum.  A
    finite sample's maximum is at most the sup, so each lambda_k is biased low, by less as more
    iterates are used.  For SGD the array is (minibatches, iterates, k): the maximum over iterates
    is taken per fresh minibatch (one draw of omega) and averaged over minibatches (the expectation
    over omega), with SE = SD over minibatches / sqrt(minibatches).  A (iterates, k) array is one
    minibatch (GD); one SGD path with ``stochastic=True`` and no density is read as one fresh draw
    of omega per iterate, so the exponents are means over iterates (as in
    :func:`jacobian_sharpness_exponents`; ``data['sup_rule']`` says so).

    Which eigenvalues: the k supplied per iterate (e.g. top and bottom of the Hessian from Lanczos).
    If they are not the whole spectrum, pass the number of parameters as ``d``.  The supplied
    exponents are then NOT the largest k in general: an unsupplied bulk eigenvalue near 0 (or near
    2/lr) has |1 - lr h| near 1, more than an end eigenvalue may give; the bulk lies between the
    ends and can rank anywhere.  :func:`sharpness_dimension` therefore reports such a partial
    supply as an interval [SD of the supplied, d] (adding exponents never lowers a Kaplan-Yorke
    dimension), ``data['supply'] = 'partial'``.

    The bulk from a spectral density: ``density`` (weights per grid point; shape (bins,), or the
    leading shape of the eigenvalues + (bins,), one density per iterate) on ``density_grid``
    ((bins,) eigenvalues, or one grid per iterate like ``density``) turns the d - k unsupplied eigenvalues into per-rank estimates, the
    (i + 1/2)/(d - k) quantiles of the density, clipped into [min, max] of the supplied ends at
    that iterate: the exponents are then all d of them, an estimate
    (``data['supply'] = 'ends+bulk'``).  ``channels`` names where the eigenvalues came from (e.g.
    {"top": "hessian_top", "bottom": "hessian_bottom", "bulk": "hessian_density"}), kept in
    ``data['eigenvalues']``.
    """
    h = np.asarray(hessian_eigenvalues_per_iterate, dtype=float)
    if h.ndim == 2:
        h = h[None]
    if h.ndim != 3 or min(h.shape) < 1:
        raise ValueError(f"`hessian_eigenvalues_per_iterate` must be (iterates, k) or (minibatches, "
                         f"iterates, k), got shape {np.shape(hessian_eigenvalues_per_iterate)}")
    if not np.all(np.isfinite(h)):
        raise ValueError("hessian eigenvalues must be finite (found NaN or inf)")
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) or not lr > 0 \
            or not math.isfinite(lr):
        raise ValueError(f"`lr` must be a finite number > 0, got {lr!r}")
    if stochastic and density is None and h.shape[0] == 1 and h.shape[1] > 1:
        h = h[0][:, None]  # one path: one draw of omega per iterate (SUP_RULE_ONE_PATH)
    m, t, k = h.shape
    if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < k):
        raise ValueError(f"`d` must be an integer >= {k} (the number of eigenvalues supplied), got {d!r}")
    eigenvalues = dict(channels) if channels else {"supplied": f"{k} eigenvalues per iterate"}
    if density is None:
        with np.errstate(divide="ignore"):
            logs = -np.sort(-np.log(np.abs(1.0 - lr * h)), axis=2)
        sup, arg = logs.max(axis=1), logs.argmax(axis=1)
        partial = d is not None and d > k
        return _sharpness_result(sup, arg, lr, t, d, "partial" if partial else "complete",
                                 eigenvalues, "sup over iterates of ln|1 - lr h| by rank, mean over "
                                 "minibatches" + ("; a partial supply: see sharpness_dimension"
                                                  if partial else ""), stochastic, window)
    if d is None or d <= k:
        raise ValueError(f"a density fills in the d - k unsupplied eigenvalues: pass d > {k} (the "
                         f"number of parameters), got {d!r}")
    grid = np.asarray(density_grid, dtype=float)
    w = np.asarray(density, dtype=float)
    if grid.ndim < 1 or grid.shape[-1] < 1 or not np.all(np.isfinite(grid)):
        raise ValueError(f"`density_grid` must be a finite array of grid points (last axis), got "
                         f"shape {grid.shape}")
    bins = grid.shape[-1]
    if w.shape[-1:] != (bins,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"`density` must hold finite weights >= 0 on the {bins} grid points "
                         f"(last axis), got shape {w.shape}")

    def per_iterate(a, what):
        try:
            return np.broadcast_to(a.reshape((1,) * (3 - a.ndim) + a.shape) if a.ndim < 3 else a,
                                   (m, t, bins))
        except ValueError:
            raise ValueError(f"{what} of shape {a.shape} does not match eigenvalues of shape "
                             f"{np.shape(hessian_eigenvalues_per_iterate)} (one per iterate, or one "
                             f"for all)") from None

    w, grid = per_iterate(w, "density"), per_iterate(grid, "density_grid")
    n_bulk = int(d) - k

    def rows():
        for b in range(m):
            for i in range(t):
                ends = h[b, i]
                bulk = _bulk_eigenvalues(grid[b, i], w[b, i], n_bulk, ends.min(), ends.max())
                with np.errstate(divide="ignore"):
                    ls = np.log(np.abs(1.0 - lr * np.concatenate([ends, bulk])))
                yield b, i, -np.sort(-ls)

    sup, arg = _sup_by_rank(rows(), int(d), m, t)
    eigenvalues.setdefault("bulk", "density quantiles x (d - k)")
    return _sharpness_result(sup, arg, lr, t, int(d), "ends+bulk", eigenvalues,
                             "sup over iterates of ln|1 - lr h| by rank, mean over minibatches; "
                             f"{k} end eigenvalues + {n_bulk} bulk ones from quantiles of the "
                             "spectral density (an estimate)", stochastic, window)


def jacobian_sharpness_exponents(jacobians, *, lr: float = math.nan, stochastic: bool = False,
                                 window: str = "", channel: str = "jacobian"
                                 ) -> SharpnessExponents:
    """Sharpness exponents from one-step update Jacobians (iterates, D, D) (or (minibatches,
    iterates, D, D)): lambda_k = sup over iterates of ln sigma_k(J_t), sigma_k the singular values
    (Tuci et al. 2026 define the sharpness dimension by these).  For GD J = I - lr H and
    sigma = |1 - lr h|, so this agrees with :func:`sharpness_exponents`; it also covers momentum,
    Nesterov, RMSProp and Adam, whose Jacobians act on the whole optimizer state (D = slots x d).
    The supply is complete: all D singular values.  ``stochastic`` with one path (iterates, D, D):
    each step is its own draw of omega (SUP_RULE_ONE_PATH), so the exponents are means over steps.
    """
    jac = np.asarray(jacobians, dtype=float)
    if jac.ndim == 3:  # one path: GD's iterates, or for SGD one fresh draw of omega per step
        jac = jac[:, None] if stochastic and jac.shape[0] > 1 else jac[None]
    if jac.ndim != 4 or jac.shape[2] != jac.shape[3] or min(jac.shape) < 1:
        raise ValueError(f"`jacobians` must be (iterates, D, D) or (minibatches, iterates, D, D), got "
                         f"shape {np.shape(jacobians)}")
    if not np.all(np.isfinite(jac)):
        raise ValueError("`jacobians` must be finite (found NaN or inf)")
    with np.errstate(divide="ignore"):
        logs = np.log(np.linalg.svd(jac, compute_uv=False))     # decreasing per iterate
    return _sharpness_result(logs.max(axis=1), logs.argmax(axis=1), lr, jac.shape[1], None,
                             "complete", {"singular_values": f"svd of the {channel!r} channel"},
                             "sup over iterates of ln sigma_k(J) (singular values of the one-step "
                             "update Jacobian) by rank, mean over minibatches", stochastic, window)


def sharpness_dimension(sharpness_exponents, *, stderr=None, d: int | None = None
                        ) -> SharpnessDimension:
    """Sharpness dimension (Tuci et al. 2026) in the Kaplan-Yorke form.

    With exponents lambda_1 >= ... (sorted here) and S_k their partial sums, j* = max{i : S_i >= 0};
    SD = 0 if lambda_1 < 0, SD = d if j* = d, else SD = j* + S_j* / |lambda_(j*+1)|.

    ``sharpness_exponents``: an array of exponents, or the result of :func:`sharpness_exponents` /
    :func:`jacobian_sharpness_exponents` (its ``stderr`` and ``d`` are then used, and its window,
    sup rule, eigenvalue sources, n_iterates and n_minibatches are copied into ``data``).

    * A partial supply (a result from k < d eigenvalues, e.g. the Hessian's ends only): the unseen
      bulk can rank anywhere among the supplied exponents, so all that is known is SD in
      [SD of the supplied, d]: ``bound="lower"``, ``value`` the lower end, ``ci`` = (lower, d).
    * An array with ``d`` > k: the caller states these are the LARGEST k of d exponents.  If every
      partial sum is >= 0, j* >= k: ``bound="lower"``, ``value`` = k and ``ci`` = (k, upper),
      upper = min(d, k + S_k / |lambda_k|) if lambda_k < 0 (the unseen exponents are <= lambda_k,
      so the partial sums fall at least that fast), else d; otherwise the value is determined.
    * Complete (or ends + bulk from a density: then an estimate, ``data['supply']`` says so): the
      Kaplan-Yorke value, with the SE of :func:`kaplan_yorke_dimension` (independent errors; its
      interval widened where a partial sum is within 2 SE of 0).
    """
    supply = None
    info = {}
    if isinstance(sharpness_exponents, SharpnessExponents):
        res = sharpness_exponents
        raw = _iv_exponents(res.exponents, "sharpness_exponents")
        if stderr is None and res.n_minibatches > 1:
            stderr = res.stderr
        d = res.d if d is None else d
        supply = "partial" if d is not None and d > raw.size else res.data.get("supply", "complete")
        info = {"n_iterates": res.n_iterates, "n_minibatches": res.n_minibatches, "lr": res.lr,
                **{key: res.data[key] for key in ("eigenvalues", "sup_rule", "stationary_window")
                   if key in res.data}}
    else:
        raw = _iv_exponents(sharpness_exponents, "sharpness_exponents")
    k = raw.size
    if d is None:
        d = k
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < k:
        raise ValueError(f"`d` must be an integer >= {k} (the number of exponents supplied), got {d!r}")
    if supply is None:
        supply = "largest" if d > k else "complete"
    if stderr is not None:
        stderr = np.asarray(stderr, dtype=float)
        if stderr.shape != (k,) or np.any(stderr < 0):
            raise ValueError(f"`stderr` must be {k} non-negative numbers, got {stderr!r}")
    order = np.argsort(raw)[::-1]
    lam = raw[order]
    j, partial = _ky_index(lam)
    data = {"j": j, "exponents": _listed(lam), "partial_sums": _listed(partial), "n_supplied": k,
            "d": int(d), "supply": supply, **info}
    method = "sharpness dimension (Tuci et al. 2026), Kaplan-Yorke form"
    if supply == "ends+bulk":
        method += "; an estimate: bulk eigenvalues from the spectral density"
    if supply == "partial":  # Hessian ends only: the bulk may rank anywhere (sharpness_exponents)
        lower = _ky_value(lam, partial, j)
        data["note"] = (f"{k} of {d} eigenvalues supplied (no bulk): SD is at least the value from "
                        f"those (adding exponents never lowers it) and at most d; the unseen bulk "
                        f"lies between the ends and |1 - lr h| can rank it anywhere")
        return SharpnessDimension(lower, math.nan, (lower, float(d)), method, k, data=data,
                                  bound="lower")
    if j == k and k < d:  # "largest": the unseen exponents are <= lambda_k
        upper = min(float(d), k + partial[-1] / abs(lam[-1])) if lam[-1] < 0 else float(d)
        data["note"] = (f"all {k} partial sums supplied are >= 0, so j* >= {k}: SD is only bounded "
                        f"below; supply more eigenvalues for an estimate")
        return SharpnessDimension(float(k), math.nan, (float(k), float(upper)), method, k, data=data,
                                  bound="lower")
    est = kaplan_yorke_dimension(lam, None if stderr is None else stderr[order])
    data.update({key: est.data[key] for key in ("first_order_stderr", "j_range", "ci_rule")
                 if key in est.data})
    return SharpnessDimension(est.value, est.stderr, est.ci, method, k, data=data)
