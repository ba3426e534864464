"""Hessian probes of a network's loss: Hessian-vector products, Lanczos, Hutchinson, SLQ density.

The loss is ``L(theta) = sum_c (n_c / N) loss_fn(f(theta; X_c), Y_c)`` over the N examples of one
probe batch split into chunks c (one chunk unless ``chunk_size`` is given); ``loss_fn`` returns the
mean over the examples it is given.  Everything here works with the Hessian H = d^2 L / d theta^2
only through products H v (Pearlmutter 1994):

* double backward: ``g = dL/dtheta`` with ``create_graph=True``, then ``H v = d(g . v)/dtheta``;
* forward over reverse: ``H v = jvp(grad L, (theta,), (v,))`` with ``torch.func``.

Both run ``torch.func.functional_call`` on a *copy* of the parameters and buffers taken when the
operator is built, so a probe never changes the model: its parameters, buffers and train/eval flags
are the same afterwards (flags are set for the duration of a product and restored exactly).  Batch
norm is a choice (``bn_mode``): ``"eval"`` uses the running statistics; ``"train"`` the statistics
of the probe batch; ``"ghost"`` those of fixed ghost batches of ``chunk_size`` examples.  In train
and ghost mode the running statistics are passed as None, so nothing is updated and ``torch.func``
meets no in-place buffer update.  Every other module (dropout included) runs in eval mode, so H is
deterministic.

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
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call
from torch.nn.modules.batchnorm import _NormBase

from dynsim.analysis.results import Estimate

__all__ = ["HVPOperator", "hvp_operator", "dense_hessian", "matrix_operator",
           "preconditioned_operator", "optimizer_diag", "Spectrum", "lanczos", "power_iteration",
           "hutchinson_trace", "SpectralDensity", "spectral_density"]

BN_MODES = ("train", "eval", "ghost")
METHODS = ("double_backward", "forward_over_reverse")
_OOM = (MemoryError, torch.cuda.OutOfMemoryError)
_trapezoid = getattr(np, "trapezoid", None) or np.trapz   # numpy < 2 has only trapz


def _is_oom(exc: BaseException) -> bool:
    msg = str(exc)
    return isinstance(exc, _OOM) or (isinstance(exc, RuntimeError) and (
        "out of memory" in msg or "can't allocate memory" in msg))


@contextmanager
def _probe_modes(model: torch.nn.Module, bn_train: bool):
    """Batch-norm layers in train (or eval) mode, every other module in eval; flags restored."""
    saved = [(m, m.training) for m in model.modules()]
    try:
        for m in model.modules():
            m.training = bn_train and isinstance(m, _NormBase)
        yield
    finally:
        for m, flag in saved:
            m.training = flag


class HVPOperator:
    """v -> H v for the batch-mean loss of ``model`` on one probe batch (see :func:`hvp_operator`).

    Attributes: ``dim`` (parameters probed), ``dtype``, ``device``, ``names`` (probed parameter
    names, in ``named_parameters`` order), ``n_hvp`` (products made so far) and ``info`` (bn_mode,
    method, chunking, ... ; record it beside every value computed from the operator).
    """

    def __init__(self, model, loss_fn, inputs, targets, bn_mode, method, chunk_size, params):
        if bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        n = int(inputs.shape[0])
        if n < 1 or int(targets.shape[0]) != n:
            raise ValueError(f"inputs and targets need the same number (>= 1) of examples, got "
                             f"{n} and {int(targets.shape[0])}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
            raise ValueError(f"chunk_size must be an integer >= 1 or None, got {chunk_size!r}")
        has_bn = any(isinstance(m, _NormBase) for m in model.modules())
        if bn_mode == "ghost" and chunk_size is None:
            raise ValueError("bn_mode='ghost' needs chunk_size (the ghost batch size)")
        if bn_mode == "train" and has_bn and chunk_size is not None and chunk_size < n:
            raise ValueError(f"chunk_size={chunk_size} < batch {n} with train-mode batch norm "
                             "changes the function (statistics per chunk): use bn_mode='ghost' "
                             "to mean fixed ghost batches of chunk_size, or bn_mode='eval'")
        named = dict(model.named_parameters())
        if params is None:
            names = [k for k, p in named.items() if p.requires_grad]
        else:
            ids = {id(p): k for k, p in named.items()}
            given = {p if isinstance(p, str) else ids.get(id(p)) for p in params}
            if None in given or not given <= named.keys():
                raise ValueError("params must be names or tensors from model.named_parameters(), "
                                 f"got unknown {sorted(map(str, given - named.keys()))}")
            names = [k for k in named if k in given]
        if not names:
            raise ValueError("no parameters to probe")
        dtypes = {named[k].dtype for k in names}
        if len(dtypes) != 1:
            raise ValueError(f"probed parameters must share one dtype, got {sorted(map(str, dtypes))}")
        self.model, self.loss_fn, self.names = model, loss_fn, names
        self.inputs, self.targets = inputs, targets
        self.bn_mode, self.method = bn_mode, method
        self.shapes = [named[k].shape for k in names]
        self.numels = [named[k].numel() for k in names]
        self.dim = sum(self.numels)
        self.dtype, self.device = dtypes.pop(), named[names[0]].device
        if inputs.device != self.device:
            raise ValueError(f"inputs are on {inputs.device}, parameters on {self.device}")
        with torch.no_grad():       # a snapshot: later changes to the model don't reach the operator
            self.theta = torch.cat([named[k].detach().reshape(-1) for k in names])
            self.fixed = {k: p.detach().clone() for k, p in named.items() if k not in names}
            self.buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
        if bn_mode != "eval":       # batch statistics: running stats unused and never updated
            for mname, m in model.named_modules():
                if isinstance(m, _NormBase):
                    for b in ("running_mean", "running_var", "num_batches_tracked"):
                        self.buffers[f"{mname}.{b}" if mname else b] = None
        size = n if chunk_size is None else min(int(chunk_size), n)
        if bn_mode == "ghost" and has_bn and n % size == 1:
            raise ValueError(f"{n} examples in ghost batches of {size} leave a last ghost batch of "
                             "one example, where batch statistics are undefined: change chunk_size")
        self.chunks = [(s, min(s + size, n)) for s in range(0, n, size)]
        self.n_hvp = 0
        self.info = dict(bn_mode=bn_mode, method=method, chunk_size=size, n_examples=n,
                         n_chunks=len(self.chunks), dim=self.dim, has_batchnorm=has_bn,
                         params="all" if params is None else list(names),
                         other_modules="eval", dtype=str(self.dtype), device=str(self.device),
                         loss="batch mean of loss_fn")

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat vector -> {name: tensor of the parameter's shape} (views)."""
        return {k: t.view(s) for k, t, s in zip(self.names, flat.split(self.numels), self.shapes)}

    def loss(self, flat: torch.Tensor, s: int = 0, e: int | None = None) -> torch.Tensor:
        """Mean loss of examples s:e at flat parameters ``flat`` (modes must be set by the caller)."""
        out = functional_call(self.model, ({**self.fixed, **self.unflatten(flat)}, self.buffers),
                              (self.inputs[s:e],))
        value = self.loss_fn(out, self.targets[s:e])
        if value.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar (the batch mean), got shape "
                             f"{tuple(value.shape)}")
        return value

    def _chunk_hvp(self, v, s, e):
        if self.method == "forward_over_reverse":
            return torch.func.jvp(torch.func.grad(lambda t: self.loss(t, s, e)), (self.theta,), (v,))[1]
        with torch.enable_grad():
            t = self.theta.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.loss(t, s, e), t, create_graph=True)
            if not g.requires_grad:               # loss linear in theta: H = 0
                return torch.zeros_like(v)
            (hv,) = torch.autograd.grad(g, t, grad_outputs=v, allow_unused=True)
        return torch.zeros_like(v) if hv is None else hv.detach()

    def _sizing_message(self, exc) -> str:
        n, size = self.info["n_examples"], self.info["chunk_size"]
        head = (f"Hessian-vector product ran out of memory on {self.device} ({type(exc).__name__}): "
                f"{n} examples in chunks of {size}, {self.dim} parameters ({self.dtype}); an HVP "
                "holds about 2-3x the activations and graph of one backward pass per chunk. ")
        if self.bn_mode == "train" and self.info["has_batchnorm"]:
            return head + (f"Train-mode batch norm needs the whole batch at once: probe a smaller "
                           f"batch (probe_batch / --probe-batch), or use bn_mode='ghost' with "
                           f"chunk_size={max(1, size // 4)} (--bn-mode ghost --chunk-size "
                           f"{max(1, size // 4)}), or bn_mode='eval' with chunk_size.")
        if self.bn_mode == "ghost" and self.info["has_batchnorm"]:
            return head + ("The ghost batch size defines the function: a smaller chunk_size (e.g. "
                           f"chunk_size={max(2, size // 4)}, --chunk-size {max(2, size // 4)}) "
                           "changes it; bn_mode='eval' can chunk freely.")
        if size == 1:
            return head + "Even one example per chunk does not fit: use a smaller model or device."
        return head + (f"Pass chunk_size={max(1, size // 4)} (dynsim train: --chunk-size "
                       f"{max(1, size // 4)}; exact: the loss is a per-example mean).")

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        if v.dim() != 1 or v.numel() != self.dim:
            raise ValueError(f"v must be a flat vector of {self.dim} entries, got shape {tuple(v.shape)}")
        v = v.to(dtype=self.dtype, device=self.device)
        n = self.info["n_examples"]
        out = torch.zeros_like(self.theta)
        try:
            with _probe_modes(self.model, self.bn_mode != "eval"):
                for s, e in self.chunks:
                    out.add_(self._chunk_hvp(v, s, e), alpha=(e - s) / n)
        except Exception as exc:
            if _is_oom(exc):
                raise ValueError(self._sizing_message(exc)) from exc
            raise
        self.n_hvp += 1
        return out


def hvp_operator(model, loss_fn, inputs, targets, *, bn_mode="eval", method="double_backward",
                 chunk_size=None, params=None) -> HVPOperator:
    """Return the operator v -> H v of the batch-mean loss ``loss_fn(model(inputs), targets)``.

    ``v`` is a flat vector (parameters in ``named_parameters`` order, same dtype and device).
    ``bn_mode``: "eval" (running statistics), "train" (statistics of this batch) or "ghost"
    (statistics of fixed ghost batches of ``chunk_size`` examples; the loss is then the weighted
    mean over ghost batches).  ``method``: "double_backward" (default; both methods pass the
    dense-Hessian check in every mode, and it is the faster of the two on CPU) or
    "forward_over_reverse".  ``chunk_size``: accumulate H v over chunks of examples, exact for a
    per-example mean loss (refused with train-mode batch norm, where it would change the
    function).  ``params``: names or tensors of a subset of parameters (per-layer spectra); the
    others are held fixed.  Running out of memory raises ValueError with a sizing message.
    """
    return HVPOperator(model, loss_fn, inputs, targets, bn_mode, method, chunk_size, params)


def dense_hessian(model, loss_fn, inputs, targets, *, bn_mode="eval", chunk_size=None,
                  params=None) -> torch.Tensor:
    """The dense (dim x dim) Hessian of the same loss as :func:`hvp_operator`, for checks on small
    nets: ``torch.func.jacrev(torch.func.grad(loss))`` (reverse over reverse, one vmapped pass over
    the basis; independent of both HVP routes).  Not ``torch.func.hessian``: its jacfwd over
    jacrev is silently wrong through train-mode batch norm in torch 2.13 when the layer's input and
    its affine weight are both differentiated (mixed terms off by up to 6x, H not symmetric),
    while jacrev(grad), jvp(grad) and autograd's double backward agree with finite differences."""
    op = HVPOperator(model, loss_fn, inputs, targets, bn_mode, "forward_over_reverse", chunk_size,
                     params)
    n = op.info["n_examples"]

    def loss(t):
        return sum(op.loss(t, s, e) * ((e - s) / n) for s, e in op.chunks)

    with _probe_modes(model, bn_mode != "eval"):
        return torch.func.jacrev(torch.func.grad(loss))(op.theta).detach()


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
        raise ValueError(f"A must be square, got shape {tuple(A.shape)}")
    return _Operator(lambda v: A @ v, A.shape[0], A.dtype, A.device, {"operator": "matrix"})


def preconditioned_operator(op, diag):
    """v -> P^-1/2 H P^-1/2 v with P = diag(diag) > 0, whose eigenvalues are those of P^-1 H.

    For Adam and RMSProp, P = sqrt(v_hat) + eps (see :func:`optimizer_diag`); the preconditioned
    sharpness lambda_max(P^-1 H) is compared with 2/lr (RMSProp) or (2 + 2 beta1)/((1 - beta1) lr)
    (Adam) (Cohen et al. 2022, "Adaptive gradient methods at the edge of stability").
    """
    d = torch.as_tensor(diag).reshape(-1).to(dtype=op.dtype, device=op.device)
    if d.numel() != op.dim or not bool(torch.all(torch.isfinite(d) & (d > 0))):
        raise ValueError(f"diag must hold {op.dim} finite positive entries, got {d.numel()} "
                         f"(min {float(d.min()) if d.numel() else float('nan'):g})")
    s = d.rsqrt()
    return _Operator(lambda v: s * op(s * v), op.dim, op.dtype, op.device,
                     {**getattr(op, "info", {}), "preconditioned": "P^-1/2 H P^-1/2"})


def optimizer_diag(optimizer, params) -> torch.Tensor:
    """Flat P = sqrt(v_hat) + eps from a torch Adam/AdamW (v_hat = v / (1 - beta2^t); amsgrad: its
    max) or RMSprop (sqrt(square_avg), centered: sqrt(square_avg - grad_avg^2)) state, for
    ``params`` in the operator's order (e.g. ``[p for n, p in model.named_parameters() if n in
    op.names]``)."""
    out = []
    for p in params:
        st = optimizer.state.get(p, {})
        group = next(g for g in optimizer.param_groups if any(q is p for q in g["params"]))
        if "exp_avg_sq" in st:
            v = st["max_exp_avg_sq"] if group.get("amsgrad") else st["exp_avg_sq"]
            v = v / (1 - group["betas"][1] ** float(st["step"]))
        elif "square_avg" in st:
            v = st["square_avg"] - st["grad_avg"] ** 2 if group.get("centered") else st["square_avg"]
        else:
            raise ValueError(f"{type(optimizer).__name__} has no Adam/RMSprop state for a parameter "
                             "(take a step first; other optimizers have no diagonal preconditioner)")
        out.append((v.clamp_min(0).sqrt() + group["eps"]).reshape(-1))
    return torch.cat(out)


# ----------------------------------------------------------------------------------------------
# Lanczos


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
            raise ValueError(f"end must be 'top' or 'bottom', got {end!r}")
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
        raise ValueError(f"v0 must be a nonzero vector of {op.dim} entries (or k x {op.dim}), "
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
        raise ValueError(f"which must be 'top', 'bottom' or 'both', got {which!r}")
    if isinstance(k, bool) or not 1 <= int(k) <= op.dim:
        raise ValueError(f"k must be an integer in [1, {op.dim}], got {k!r}")
    if isinstance(max_iter, bool) or int(max_iter) < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
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
        raise ValueError(f"iters must be an integer >= 1, got {iters!r}")
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
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def hutchinson_trace(op, n_samples: int = 100, *, generator) -> Estimate:
    """tr H by Hutchinson's estimator (Hutchinson 1990): the mean of z^T H z over ``n_samples``
    Rademacher vectors z (E[z z^T] = I, variance 2(||H||_F^2 - sum_i H_ii^2) per sample);
    stderr = sample SD / sqrt(n).  One product per sample."""
    if isinstance(op, torch.Tensor):
        op = matrix_operator(op)
    _need_generator(generator)
    if isinstance(n_samples, bool) or int(n_samples) < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
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
        raise ValueError(f"sigma must be > 0 or None, got {sigma!r}")
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
        raise ValueError("grid must be an increasing 1-D array of at least 2 points")
    dens = (weights * np.exp(-0.5 * ((grid[:, None] - nodes) / sigma) ** 2)).sum(1)
    dens /= sigma * math.sqrt(2 * math.pi)
    mass = float(_trapezoid(dens, grid))
    return SpectralDensity(grid, dens / mass if mass > 0 else dens, sigma, nodes, weights,
                           int(n_vectors), int(iters), (op.n_hvp - n0) if hasattr(op, "n_hvp") else -1,
                           mass, info=dict(getattr(op, "info", {})))
