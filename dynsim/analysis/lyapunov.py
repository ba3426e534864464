"""Lyapunov spectra by QR reorthonormalisation, the Kaplan-Yorke dimension, the sharpness dimension.

Lyapunov spectrum (Benettin, Galgani, Giorgilli & Strelcyn, Meccanica 15:9, 1980; Shimada & Nagashima,
Prog. Theor. Phys. 61:1605, 1979).  Given one-step Jacobians J_0, J_1, ... along an orbit (or along
a random product: the same algorithm applies to random dynamical systems), propagate an orthonormal
frame Q_0 = I by J_t Q_t = Q_{t+1} R_t (QR, diag R_t >= 0).  Then

    lambda_i = lim (1 / (n dt)) sum_t ln R_t[i, i],      i = 1, ..., d,

in decreasing order (Oseledets).  ``dt`` converts map exponents to exponents per unit time (for a
flow sampled every dt).  The sum ln R_t[0,0] + ... + ln R_t[d-1,d-1] = ln |det J_t| exactly, so the
sum of the exponents is the mean volume contraction.

Standard errors by block averaging: the time average is split into ``blocks`` contiguous blocks;
SE = SD(block means) / sqrt(blocks), and the covariance of the exponents likewise (Flyvbjerg &
Petersen, J. Chem. Phys. 91:461, 1989).  Blocks much longer than the correlation time make it honest.

Kaplan-Yorke dimension (Kaplan & Yorke, Lecture Notes in Math. 730:204, 1979): with exponents in
decreasing order and partial sums S_k = lambda_1 + ... + lambda_k, j = max{k : S_k >= 0} and
D_KY = j + S_j / |lambda_{j+1}|.

Sharpness dimension (Tuci, Korkmaz, Simsekli & Birdal, arXiv 2604.19740, 2026; REFERENCES.md
item 9): the same Kaplan-Yorke combination of "sharpness exponents" lambda_k = E_omega sup_{w in A}
ln sigma_k(I - lr H(w, omega)), the sup over the attractor of the log k-th singular value of the
update Jacobian.  See :func:`sharpness_exponents` and :func:`sharpness_dimension`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dynsim.analysis.results import Z95, Estimate

BENETTIN = "QR (Benettin) reorthonormalisation of one-step Jacobians"
KY_METHOD = "Kaplan-Yorke: j + S_j / |lambda_(j+1)|"


# ---------------------------------------------------------------------------------------------
# QR kernel


@njit(cache=True, inline="always")
def _orthogonalise(q, a, j):
    """Remove from column j of ``a`` its components along columns 0..j-1 of ``q`` (two passes)."""
    d = a.shape[0]
    for _ in range(2):
        for k in range(j):
            dot = 0.0
            for i in range(d):
                dot += q[i, k] * a[i, j]
            for i in range(d):
                a[i, j] -= dot * q[i, k]


@njit(cache=True)
def _benettin_kernel(jac, transient, logs, q0):
    """Propagate the orthonormal frame ``q0`` through ``jac`` (n, d, d); logs[t - transient, i] =
    ln R_t[i, i].

    QR by modified Gram-Schmidt with one reorthogonalisation pass ("twice is enough": Giraud,
    Langou & Rozloznik 2005), which keeps Q orthonormal even for strongly contracting steps."""
    n, d, _ = jac.shape
    q = q0.copy()
    a = np.empty((d, d))
    for t in range(n):
        for i in range(d):  # a = J_t @ q
            for j in range(d):
                acc = 0.0
                for m in range(d):
                    acc += jac[t, i, m] * q[m, j]
                a[i, j] = acc
        for j in range(d):
            _orthogonalise(q, a, j)
            rjj = 0.0
            for i in range(d):
                rjj += a[i, j] * a[i, j]
            rjj = math.sqrt(rjj)
            if t >= transient:
                logs[t - transient, j] = math.log(rjj) if rjj > 0.0 else -math.inf
            if rjj == 0.0:  # singular step: complete the frame with a basis vector instead
                for m in range(d):
                    for i in range(d):
                        a[i, j] = 1.0 if i == m else 0.0
                    _orthogonalise(q, a, j)
                    rjj = 0.0
                    for i in range(d):
                        rjj += a[i, j] * a[i, j]
                    rjj = math.sqrt(rjj)
                    if rjj > 0.5:
                        break
            for i in range(d):
                q[i, j] = a[i, j] / rjj
    return logs


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class LyapunovSpectrum:
    """Lyapunov exponents (decreasing, per unit time) with block-averaged standard errors.

    ``cov`` is the covariance matrix of the estimated exponents (from the block means), ``data``
    holds the running estimate for convergence plots (``convergence_step``, ``convergence``)."""

    exponents: tuple[float, ...]
    stderr: tuple[float, ...]
    method: str
    n_steps: int          # steps averaged (after the transient)
    blocks: int
    dt: float = 1.0
    transient: int = 0
    cov: tuple[tuple[float, ...], ...] = ()
    reference: tuple[float, ...] | None = None
    reference_source: str = ""
    data: dict = field(default_factory=dict, compare=False)

    def headline(self) -> float:
        """The largest exponent."""
        return self.exponents[0]

    @property
    def d(self) -> int:
        return len(self.exponents)

    def estimate(self, i: int = 0) -> Estimate:
        """Exponent ``i`` (0-based) as an :class:`Estimate`."""
        ref = None if self.reference is None else self.reference[i]
        return Estimate.normal(self.exponents[i], self.stderr[i],
                               method=f"{self.method}, exponent {i + 1}", n=self.n_steps, reference=ref, reference_source=self.reference_source,
                               data={"blocks": self.blocks, "dt": self.dt, "transient": self.transient})

    def total(self) -> Estimate:
        """The sum of the exponents (the mean volume contraction rate), with its SE."""
        c = np.asarray(self.cov)
        se = math.sqrt(max(float(c.sum()), 0.0)) if c.size else math.nan
        return Estimate.normal(sum(self.exponents), se, method=f"{self.method}, sum of exponents",
                               n=self.n_steps, data={"blocks": self.blocks, "dt": self.dt})

    def __str__(self) -> str:
        vals = ", ".join(f"{v:.4g}±{s:.2g}" for v, s in zip(self.exponents, self.stderr))
        return (f"lambda = ({vals})  n={self.n_steps}, {self.blocks} blocks, dt={self.dt:g}"
                f"  ({self.method})")

    @property
    def ci(self) -> tuple[tuple[float, float], ...]:
        """95% normal intervals, one per exponent."""
        return tuple((v - Z95 * s, v + Z95 * s) for v, s in zip(self.exponents, self.stderr))


@dataclass(frozen=True)
class SharpnessExponents:
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

    def __str__(self) -> str:
        if self.bound == "lower":
            return (f">= {self.value:.6g} (lower bound; SD in [{self.ci[0]:.6g}, {self.ci[1]:.6g}])"
                    f"  n={self.n}  ({self.method})")
        return super().__str__()


# ---------------------------------------------------------------------------------------------
# Lyapunov spectrum and Kaplan-Yorke


def _iv_jacobians(jacobians, dt, transient, blocks) -> np.ndarray:
    jac = np.asarray(jacobians, dtype=float)
    if jac.ndim != 3 or jac.shape[1] != jac.shape[2] or jac.shape[1] < 1 or jac.shape[0] < 1:
        raise ValueError(f"jacobians must be an (n, d, d) array, got shape {jac.shape}")
    if not np.all(np.isfinite(jac)):
        raise ValueError("jacobians must be finite (found NaN or inf)")
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.number)) or not dt > 0 \
            or not math.isfinite(dt):
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    for name, v in (("transient", transient), ("blocks", blocks)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if not 0 <= transient < jac.shape[0]:
        raise ValueError(f"transient must be in [0, {jac.shape[0] - 1}] (n - 1), got {transient}")
    if not 2 <= blocks <= jac.shape[0] - transient:
        raise ValueError(f"blocks must be in [2, {jac.shape[0] - transient}] (steps after the "
                         f"transient), got {blocks}")
    return np.ascontiguousarray(jac)


def start_frame(d: int) -> np.ndarray:
    """A fixed generic orthonormal start frame: Q of the QR of a Gaussian d x d matrix (seed 0).

    The identity would not do: for Jacobians that keep the coordinate axes invariant (diagonal
    ones, say) its columns never mix, and the exponents come out in the axes' order instead of
    decreasing."""
    q, r = np.linalg.qr(np.random.default_rng(0).normal(size=(d, d)))
    return np.ascontiguousarray(q * np.sign(np.diag(r)))


def lyapunov_spectrum(jacobians, *, dt: float = 1.0, transient: int = 0, blocks: int = 20,
                      reference=None, reference_source: str = "") -> LyapunovSpectrum:
    """Lyapunov spectrum of a sequence of one-step Jacobians (n, d, d) by QR reorthonormalisation.

    The frame starts from :func:`start_frame`; the first ``transient`` steps align it with the
    Oseledets directions and are not averaged.  The remaining n - transient steps are split into ``blocks`` contiguous blocks: the
    exponent is the mean over all steps, its SE = SD(block means) / sqrt(blocks) / dt.  A step with
    an exactly singular Jacobian gives an exponent of -inf for the direction it annihilates.
    """
    jac = _iv_jacobians(jacobians, dt, transient, blocks)
    n, d = jac.shape[0] - transient, jac.shape[1]
    logs = _benettin_kernel(jac, transient, np.empty((n, d)), start_frame(d))
    exps = logs.mean(axis=0) / dt
    means = np.array([b.mean(axis=0) for b in np.array_split(logs, blocks)]) / dt
    with np.errstate(invalid="ignore"):
        cov = np.atleast_2d(np.cov(means, rowvar=False)) / blocks
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    checkpoints = np.unique(np.geomspace(1, n, min(n, 60)).astype(np.int64))
    running = np.cumsum(logs, axis=0)[checkpoints - 1] / (checkpoints[:, None] * dt)
    ref = None if reference is None else tuple(float(v) for v in reference)
    return LyapunovSpectrum(
        exponents=tuple(float(v) for v in exps), stderr=tuple(float(v) for v in se), method=BENETTIN,
        n_steps=int(n), blocks=int(blocks), dt=float(dt), transient=int(transient),
        cov=tuple(tuple(float(v) for v in row) for row in cov), reference=ref,
        reference_source=reference_source,
        data={"convergence_step": checkpoints + transient, "convergence": running})


def _ky_index(lam: np.ndarray) -> tuple[int, np.ndarray]:
    """(j, partial sums): j = max{k : S_k >= 0}, 0 if lambda_1 < 0."""
    partial = np.cumsum(lam)
    nonneg = np.nonzero(partial >= 0)[0]
    return (int(nonneg[-1]) + 1 if nonneg.size else 0), partial


def _iv_exponents(exponents, name="exponents") -> np.ndarray:
    lam = np.asarray(exponents, dtype=float)
    if lam.ndim != 1 or lam.size < 1:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {lam.shape}")
    if np.any(np.isnan(lam)) or np.any(lam == np.inf):
        raise ValueError(f"{name} must not contain NaN or +inf, got {lam}")
    return lam


def kaplan_yorke_dimension(exponents, stderr=None, *, cov=None, reference: float | None = None,
                           reference_source: str = "") -> Estimate:
    """Kaplan-Yorke (Lyapunov) dimension D = j + S_j / |lambda_(j+1)| of a Lyapunov spectrum.

    Exponents are sorted in decreasing order first.  D = 0 if lambda_1 < 0, D = d if S_d >= 0.
    Error propagation to first order: dD/dlambda_i = 1/|lambda_(j+1)| for i <= j and
    dD/dlambda_(j+1) = S_j / lambda_(j+1)^2; with ``cov`` (the exponents' covariance, e.g.
    ``LyapunovSpectrum.cov``) the full form g^T cov g, else with ``stderr`` assuming independent
    errors.  The SE ignores the jump of j when a partial sum is within its error of 0; ``data``
    records the partial sums so that a reader can see whether that happens.
    """
    lam = _iv_exponents(exponents)
    order = np.argsort(lam)[::-1]
    lam = lam[order]
    d = lam.size
    if cov is not None:
        c = np.asarray(cov, dtype=float)
        if c.shape != (d, d):
            raise ValueError(f"cov must be ({d}, {d}), got shape {c.shape}")
        c = c[np.ix_(order, order)]
    elif stderr is not None:
        se = np.asarray(stderr, dtype=float)
        if se.shape != (d,) or np.any(se < 0):
            raise ValueError(f"stderr must be {d} non-negative numbers, got {stderr!r}")
        c = np.diag(se[order] ** 2)
    else:
        c = None
    j, partial = _ky_index(lam)
    grad = np.zeros(d)
    if j == 0:
        value = 0.0
    elif j == d:
        value = float(d)
    else:
        value = j + partial[j - 1] / abs(lam[j])
        grad[:j] = 1.0 / abs(lam[j])
        grad[j] = partial[j - 1] / lam[j] ** 2
    se = math.nan if c is None else math.sqrt(max(float(grad @ c @ grad), 0.0))
    return Estimate.normal(value, se, method=KY_METHOD, n=d, reference=reference,
                           reference_source=reference_source,
                           data={"j": j, "exponents": lam.tolist(), "partial_sums": partial.tolist()})


# ---------------------------------------------------------------------------------------------
# sharpness dimension


def sharpness_exponents(hessian_eigenvalues_per_iterate, lr: float, *, d: int | None = None
                        ) -> SharpnessExponents:
    """Sharpness exponents from Hessian eigenvalues along the late trajectory (REFERENCES.md item 9).

    The update Jacobian of GD/SGD is I - lr H, with singular values |1 - lr h_i|.  At each iterate t
    the values ln|1 - lr h_i(t)| are sorted in decreasing order (so that large negative h count as
    much as large positive ones), giving ln sigma_k(t); then lambda_k = max_t ln sigma_k(t),
    separately for each rank k.

    How the sup over the attractor is estimated: the iterates supplied (taken after the transient,
    on the attractor) stand in for the attractor, and the sup is their maximum.  A finite sample's
    maximum is at most the sup, so each lambda_k is biased low, by less as more iterates are used.
    For SGD the array is (minibatches, iterates, k): the maximum over iterates is taken per fresh
    minibatch (one draw of omega) and averaged over minibatches (the expectation over omega), with
    SE = SD over minibatches / sqrt(minibatches).  A (iterates, k) array is one minibatch (GD).

    Which eigenvalues: the k supplied per iterate (e.g. top and bottom of the Hessian from Lanczos).
    If they are not the whole spectrum, pass the number of parameters as ``d``.  The supplied
    exponents are then NOT the largest k in general: an unsupplied bulk eigenvalue near 0 has
    |1 - lr h| near 1, more than a top eigenvalue near 1.5/lr gives.  (Only lambda_1 is certain when
    both ends of the spectrum are supplied, since |1 - lr h| is largest at an end of any interval.)
    :func:`sharpness_dimension` therefore reports a partial supply as a lower bound: adding exponents
    never lowers a Kaplan-Yorke dimension, so SD lies in [SD of the supplied, d].
    """
    h = np.asarray(hessian_eigenvalues_per_iterate, dtype=float)
    if h.ndim == 2:
        h = h[None]
    if h.ndim != 3 or min(h.shape) < 1:
        raise ValueError(f"hessian_eigenvalues_per_iterate must be (iterates, k) or (minibatches, "
                         f"iterates, k), got shape {np.shape(hessian_eigenvalues_per_iterate)}")
    if not np.all(np.isfinite(h)):
        raise ValueError("hessian eigenvalues must be finite (found NaN or inf)")
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) or not lr > 0 \
            or not math.isfinite(lr):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    k = h.shape[2]
    if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < k):
        raise ValueError(f"d must be an integer >= {k} (the number of eigenvalues supplied), got {d!r}")
    with np.errstate(divide="ignore"):
        logs = np.log(np.abs(1.0 - lr * h))               # ln sigma, unsorted
    logs = -np.sort(-logs, axis=2)                         # rank k per iterate, decreasing
    sup = logs.max(axis=1)                                 # (minibatches, k)
    m = sup.shape[0]
    lam = sup.mean(axis=0)
    se = sup.std(axis=0, ddof=1) / math.sqrt(m) if m > 1 else np.full(k, math.nan)
    return SharpnessExponents(
        exponents=tuple(float(v) for v in lam), stderr=tuple(float(v) for v in se), lr=float(lr),
        n_iterates=int(h.shape[1]), n_minibatches=int(m), d=None if d is None else int(d),
        method="sup over iterates of ln|1 - lr h| by rank, mean over minibatches",
        data={"argmax_iterate": logs.argmax(axis=1)})


def sharpness_dimension(sharpness_exponents, *, stderr=None, d: int | None = None
                        ) -> SharpnessDimension:
    """Sharpness dimension (Tuci et al. 2026, REFERENCES.md item 9) in the Kaplan-Yorke form.

    With exponents lambda_1 >= ... (sorted here) and S_k their partial sums, j* = max{i : S_i >= 0};
    SD = 0 if lambda_1 < 0, SD = d if j* = d, else SD = j* + S_j* / |lambda_(j*+1)|.

    ``sharpness_exponents``: an array of exponents, or the result of :func:`sharpness_exponents`
    (its ``stderr`` and ``d`` are then used; a result from fewer than d eigenvalues is always a
    lower bound, see there).  ``d``: the full dimension when the exponents given (as an array) are
    known to be the largest k < d.  If every partial sum of the supplied exponents is >= 0 and k < d, j*
    lies beyond them: the result has ``bound="lower"``, ``value`` = k (SD >= j* >= k) and
    ``ci`` = (k, upper), upper = min(d, k + S_k / |lambda_k|) if lambda_k < 0 (the unseen exponents
    are <= lambda_k, so the partial sums fall at least that fast), else d.  The SE (first order, as
    in :func:`kaplan_yorke_dimension`) assumes independent errors of the exponents.
    """
    partial_supply = False
    if isinstance(sharpness_exponents, SharpnessExponents):
        res = sharpness_exponents
        raw = _iv_exponents(res.exponents, "sharpness_exponents")
        if stderr is None and res.n_minibatches > 1:
            stderr = res.stderr
        d = res.d if d is None else d
        partial_supply = d is not None and d > raw.size  # some eigenvalues were never seen
    else:
        raw = _iv_exponents(sharpness_exponents, "sharpness_exponents")
    k = raw.size
    if d is None:
        d = k
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < k:
        raise ValueError(f"d must be an integer >= {k} (the number of exponents supplied), got {d!r}")
    if stderr is not None:
        stderr = np.asarray(stderr, dtype=float)
        if stderr.shape != (k,) or np.any(stderr < 0):
            raise ValueError(f"stderr must be {k} non-negative numbers, got {stderr!r}")
    order = np.argsort(raw)[::-1]
    lam = raw[order]
    j, partial = _ky_index(lam)
    data = {"j": j, "exponents": lam.tolist(), "partial_sums": partial.tolist(), "n_supplied": k,
            "d": int(d)}
    method = "sharpness dimension (Tuci et al. 2026), Kaplan-Yorke form"
    if j == k and k < d:
        upper = min(float(d), k + partial[-1] / abs(lam[-1])) if lam[-1] < 0 else float(d)
        data["note"] = (f"all {k} partial sums supplied are >= 0, so j* >= {k}: SD is only bounded "
                        f"below; supply more eigenvalues for an estimate")
        return SharpnessDimension(float(k), math.nan, (float(k), float(upper)), method, k, data=data,
                                  bound="lower")
    est = kaplan_yorke_dimension(lam, None if stderr is None else stderr[order])
    if partial_supply:  # Hessian ends only: the bulk may rank higher (sharpness_exponents docs)
        data["note"] = (f"{k} of {d} eigenvalues supplied: SD is at least the value from those "
                        f"(adding exponents never lowers it) and at most d")
        return SharpnessDimension(est.value, math.nan, (est.value, float(d)), method, k, data=data,
                                  bound="lower")
    return SharpnessDimension(est.value, est.stderr, est.ci, method, k, data=data)
