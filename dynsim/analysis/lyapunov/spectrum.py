"""Lyapunov spectra by QR reorthonormalisation and the Kaplan-Yorke dimension.

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

The sharpness dimension, the same Kaplan-Yorke form over sharpness exponents, is in
:mod:`dynsim.analysis.lyapunov.sharpness`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dynsim.analysis.results import Z95, Estimate, Printable

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
class LyapunovExponent(Estimate):
    """Exponent ``index`` (0-based) of a :class:`LyapunovSpectrum`, as an :class:`Estimate` that keeps
    the whole spectrum (``spectrum``: its running estimates, covariance and sum), so that a caller
    of :func:`dynsim.analysis.measure` draws or prints the spectrum without recomputing it.  The link
    is left out of ``to_dict``."""

    index: int = field(default=0, metadata={"json": False})
    spectrum: "LyapunovSpectrum | None" = field(default=None, repr=False, compare=False,
                                                metadata={"json": False})

    label = "QR (Benettin)"


@dataclass(frozen=True)
class LyapunovSpectrum(Printable):
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
        return LyapunovExponent.normal(
            self.exponents[i], self.stderr[i], method=f"{self.method}, exponent {i + 1}",
            n=self.n_steps, reference=ref, reference_source=self.reference_source,
            data={"blocks": self.blocks, "dt": self.dt, "transient": self.transient,
                  **{k: v for k, v in self.data.items() if k == "stationary_window"}},
            index=i, spectrum=self)

    def total(self) -> Estimate:
        """The sum of the exponents (the mean volume contraction rate), with its SE."""
        c = np.asarray(self.cov)
        se = math.sqrt(max(float(c.sum()), 0.0)) if c.size else math.nan
        return Estimate.normal(sum(self.exponents), se, method=f"{self.method}, sum of exponents",
                               n=self.n_steps, data={"blocks": self.blocks, "dt": self.dt})

    def __str__(self) -> str:
        vals = ", ".join(f"{v:.4g} ± {s:.2g}" for v, s in zip(self.exponents, self.stderr))
        return f"lambda = ({vals})  n={self.n_steps}  (QR (Benettin), {self.blocks} blocks)"

    def details(self, names=None) -> str:
        """How the exponents were measured (steps, transient, blocks, per step or per unit time),
        the sum of the exponents (the volume contraction rate) and each exponent's z-score against
        its reference.  ``names``: row name -> :class:`LyapunovExponent` taken from this spectrum
        (default ``lyapunov_1..d``), as :func:`dynsim.analysis.measure` names them."""
        if names is None:
            names = {f"lyapunov_{i + 1}": self.estimate(i) for i in range(self.d)}
        listed = list(names)
        per = "per unit time" if self.dt != 1.0 else "per step"
        numbered = listed == [f"lyapunov_{i + 1}" for i in range(len(listed))]
        head = f"lyapunov_1..{len(listed)}" if numbered and len(listed) > 1 else ", ".join(listed)
        lines = [f"{head} ({per}): QR (Benettin) over {self.n_steps:,} steps after a "
                 f"{self.transient}-step transient; SE from {self.blocks} blocks"]
        window = next((e.data["stationary_window"] for e in names.values()
                       if "stationary_window" in e.data), None)
        if window:
            lines.append(f"  window: {window}")
        if self.d > 1:
            tot = self.total()
            lines.append(f"  sum of exponents {tot.value:.6g} ± {tot.stderr:.2g} (the mean of "
                         f"ln|det J|{' / dt' if self.dt != 1.0 else ''}: volume contraction)")
        for name, e in names.items():
            z = e.z_text()
            if z:
                lines.append(f"  {name}: {z}")
        return "\n".join(lines)

    @property
    def ci(self) -> tuple[tuple[float, float], ...]:
        """95% normal intervals, one per exponent."""
        return tuple((v - Z95 * s, v + Z95 * s) for v, s in zip(self.exponents, self.stderr))


# ---------------------------------------------------------------------------------------------
# Lyapunov spectrum and Kaplan-Yorke


def _iv_jacobians(jacobians, dt, transient, blocks) -> np.ndarray:
    jac = np.asarray(jacobians, dtype=float)
    if jac.ndim != 3 or jac.shape[1] != jac.shape[2] or jac.shape[1] < 1 or jac.shape[0] < 1:
        raise ValueError(f"`jacobians` must be an (n, d, d) array, got shape {jac.shape}")
    if not np.all(np.isfinite(jac)):
        raise ValueError("`jacobians` must be finite (found NaN or inf)")
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.number)) or not dt > 0 \
            or not math.isfinite(dt):
        raise ValueError(f"`dt` must be a finite number > 0, got {dt!r}")
    for name, v in (("transient", transient), ("blocks", blocks)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"`{name}` must be an integer, got {v!r}")
    if not 0 <= transient < jac.shape[0]:
        raise ValueError(f"`transient` must be in [0, {jac.shape[0] - 1}] (n - 1), got {transient}")
    if not 2 <= blocks <= jac.shape[0] - transient:
        raise ValueError(f"`blocks` must be in [2, {jac.shape[0] - transient}] (steps after the "
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
    Oseledets directions and are not averaged.  The exponents are returned sorted in decreasing
    order (with their SEs, covariance and running estimates), whatever order QR left them in.  The remaining n - transient steps are split into ``blocks`` contiguous blocks: the
    exponent is the mean over all steps, its SE = SD(block means) / sqrt(blocks) / dt.  A step with
    an exactly singular Jacobian gives an exponent of -inf for the direction it annihilates.
    """
    jac = _iv_jacobians(jacobians, dt, transient, blocks)
    n, d = jac.shape[0] - transient, jac.shape[1]
    logs = _benettin_kernel(jac, transient, np.empty((n, d)), start_frame(d))
    exps = logs.mean(axis=0) / dt
    # QR gives the Oseledets order only in the limit: over a finite run two close exponents (a
    # converged optimizer's neutral directions, say) can come out swapped.  Sort them, with their
    # block means (hence SEs and covariance) and running estimates, so that exponent 1 is the
    # largest, as every consumer (headline, Kaplan-Yorke, the bifurcation sweep) reads it.
    order = np.argsort(-exps, kind="stable")
    logs, exps = logs[:, order], exps[order]
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
        raise ValueError(f"`{name}` must be a non-empty 1-D array, got shape {lam.shape}")
    if np.any(np.isnan(lam)) or np.any(lam == np.inf):
        raise ValueError(f"`{name}` must not contain NaN or +inf, got {lam}")
    return lam


FLIP_SE = 2.0          # a partial sum within this many SEs of 0 may have either sign
ROUNDOFF = 1e-10      # |S_k| below this x max(1, max |lambda|) is 0 to round-off
MAX_LISTED = 1000      # exponents / partial sums listed in ``data`` (all of them up to this many)


def _listed(x: np.ndarray) -> list:
    return x[:MAX_LISTED].tolist()


def _ky_value(lam: np.ndarray, partial: np.ndarray, j: int) -> float:
    d = lam.size
    if j == 0:
        return 0.0
    if j == d:
        return float(d)
    if lam[j] == 0.0:  # only for a trial j inside an unresolved range: S_(j+1) = S_j, D >= j + 1
        return float(j + 1)
    return float(j + partial[j - 1] / abs(lam[j]))


def kaplan_yorke_dimension(exponents, stderr=None, *, cov=None, reference: float | None = None,
                           reference_source: str = "") -> Estimate:
    """Kaplan-Yorke (Lyapunov) dimension D = j + S_j / |lambda_(j+1)| of a Lyapunov spectrum.

    Exponents are sorted in decreasing order first.  D = 0 if lambda_1 < 0, D = d if S_d >= 0.
    Error propagation to first order: dD/dlambda_i = 1/|lambda_(j+1)| for i <= j and
    dD/dlambda_(j+1) = S_j / lambda_(j+1)^2; with ``cov`` (the exponents' covariance, e.g.
    ``LyapunovSpectrum.cov``) the full form g^T cov g, else with ``stderr`` assuming independent
    errors.

    The first-order SE ignores the jump of j: at j = 0 or d it is 0, and a converged optimizer
    (lambda_1 = 0 to round-off) would report "1 ± 2e-19".  So when some partial sum S_k lies within
    FLIP_SE = 2 of its SEs of 0, j can be any of j_lo..j_hi (j_lo = max{k : S_k - 2 SE_k >= 0},
    j_hi = max{k : S_k + 2 SE_k >= 0}): the interval is widened to hold D(j') for each of them
    (D(j') clipped to [j', j' + 1]) and the first-order interval, and ``stderr`` becomes its
    half-width / 1.96; ``data`` records ``j_range``, ``first_order_stderr`` and the rule.  A partial
    sum within ROUNDOFF = 1e-10 (x max(1, max |lambda|)) of 0 counts as unresolved too, whatever
    its SE: an exactly neutral direction comes out of QR as 1e-16 with an SE of 1e-19.
    """
    lam = _iv_exponents(exponents)
    order = np.argsort(lam)[::-1]
    lam = lam[order]
    d = lam.size
    var = None   # var(g) of a linear combination g . lambda, and the partial sums' SEs
    if cov is not None:
        c = np.asarray(cov, dtype=float)
        if c.shape != (d, d):
            raise ValueError(f"`cov` must be ({d}, {d}), got shape {c.shape}")
        c = c[np.ix_(order, order)]
        var = lambda g: float(g @ c @ g)  # noqa: E731
        se_partial = np.sqrt(np.clip(np.cumsum(np.cumsum(c, axis=0), axis=1).diagonal(), 0, None))
    elif stderr is not None:
        se = np.asarray(stderr, dtype=float)
        if se.shape != (d,) or np.any(se < 0):
            raise ValueError(f"`stderr` must be {d} non-negative numbers, got {stderr!r}")
        se = se[order]
        var = lambda g: float(np.sum((g * se) ** 2))  # noqa: E731
        se_partial = np.sqrt(np.cumsum(se**2))
    j, partial = _ky_index(lam)
    value = _ky_value(lam, partial, j)
    grad = np.zeros(d)
    if 0 < j < d:
        grad[:j] = 1.0 / abs(lam[j])
        grad[j] = partial[j - 1] / lam[j] ** 2
    data = {"j": j, "exponents": _listed(lam), "partial_sums": _listed(partial), "d": d}
    if var is None:
        se, se_partial = math.nan, np.zeros(d)
    else:
        se = math.sqrt(max(var(grad), 0.0))
    ci = (value - Z95 * se, value + Z95 * se)
    # round-off: an exactly neutral direction (a manifold of minima) comes out as +-1e-16 with an
    # SE smaller still, so the sign of a partial sum that small is never resolved either
    fin = lam[np.isfinite(lam)]
    tol = np.maximum(FLIP_SE * se_partial, ROUNDOFF * max(1.0, float(np.abs(fin).max())
                                                         if fin.size else 1.0))
    with np.errstate(invalid="ignore"):
        maybe = np.nonzero(partial + tol >= 0)[0]
        sure = np.nonzero(partial - tol >= 0)[0]
    j_hi = int(maybe[-1]) + 1 if maybe.size else 0
    j_lo = int(sure[-1]) + 1 if sure.size else 0
    j_lo, j_hi = min(j_lo, j), max(j_hi, j)
    data["first_order_stderr"] = se
    data["j_range"] = (j_lo, j_hi)
    if j_lo < j_hi:
        alt = [min(max(_ky_value(lam, partial, jj), float(jj)), float(jj + 1)) if jj < d else
               float(d) for jj in range(j_lo, j_hi + 1)]
        if var is None:
            lo, hi = min(alt), max(alt)
        else:
            lo, hi = max(min(ci[0], *alt), 0.0), min(max(ci[1], *alt), float(d))
            se = max(se, (hi - lo) / (2 * Z95))
        ci = (lo, hi)
        data["ci_rule"] = (f"a partial sum lies within {FLIP_SE:g} SE (or {ROUNDOFF:g} x max "
                           f"|lambda|, round-off) of 0, so j may be any of {j_lo}..{j_hi}: the "
                           f"interval holds D for each of them and the first-order interval; "
                           f"stderr = its half-width / 1.96")
    return Estimate(value, se, ci, KY_METHOD, d, reference, reference_source, data=data)
