"""Hessian probes of a network's loss: Hessian-vector products (and the spectra, re-exported).

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

Spectra of these operators (Lanczos at both ends, power iteration, Hutchinson's trace, the SLQ
density) are in :mod:`dynsim.models.spectrum` and re-exported here.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch.func import functional_call
from torch.nn.modules.batchnorm import _NormBase

# the spectra of these operators live in spectrum.py; re-exported so hessian is the one entry point
from dynsim.models.spectrum import (SpectralDensity, Spectrum, _Operator,  # noqa: F401
                                    hutchinson_trace, lanczos, matrix_operator, power_iteration,
                                    spectral_density)

__all__ = ["HVPOperator", "hvp_operator", "dense_hessian", "matrix_operator",
           "preconditioned_operator", "optimizer_diag", "Spectrum", "lanczos", "power_iteration",
           "hutchinson_trace", "SpectralDensity", "spectral_density"]

BN_MODES = ("train", "eval", "ghost")
METHODS = ("double_backward", "forward_over_reverse")
_OOM = (MemoryError, torch.cuda.OutOfMemoryError)


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
            raise ValueError(f"`bn_mode` must be one of {BN_MODES}, got {bn_mode!r}")
        if method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {method!r}")
        n = int(inputs.shape[0])
        if n < 1 or int(targets.shape[0]) != n:
            raise ValueError(f"inputs and targets need the same number (>= 1) of examples, got "
                             f"{n} and {int(targets.shape[0])}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
            raise ValueError(f"`chunk_size` must be an integer >= 1 or None, got {chunk_size!r}")
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
                raise ValueError("`params` must be names or tensors from model.named_parameters(), "
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
        self._graph = None          # (theta leaf, gradient with its graph): one chunk, double backward
        self.info = dict(bn_mode=bn_mode, method=method, chunk_size=size, n_examples=n,
                         graph=("retained across products" if method == "double_backward"
                                and len(self.chunks) == 1 else "rebuilt per product"),
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
            raise ValueError(f"`loss_fn` must return a scalar (the batch mean), got shape "
                             f"{tuple(value.shape)}")
        return value

    def _chunk_hvp(self, v, s, e):
        if self.method == "forward_over_reverse":
            return torch.func.jvp(torch.func.grad(lambda t: self.loss(t, s, e)), (self.theta,), (v,))[1]
        if len(self.chunks) == 1:  # one chunk: keep the gradient's graph for every later product
            return self._retained_hvp(v)
        with torch.enable_grad():
            t = self.theta.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.loss(t, s, e), t, create_graph=True)
            if not g.requires_grad:               # loss linear in theta: H = 0
                return torch.zeros_like(v)
            (hv,) = torch.autograd.grad(g, t, grad_outputs=v, allow_unused=True)
        return torch.zeros_like(v) if hv is None else hv.detach()

    def _retained_hvp(self, v):
        """H v by one backward pass through the gradient's graph, built at the first product and
        retained (Pearlmutter's double backward without redoing the forward and first backward:
        the Lanczos iterations of one probe all run at the same theta).  Only for one chunk: a
        graph per chunk would hold every chunk's activations at once, which chunking exists to
        avoid."""
        with torch.enable_grad():
            if self._graph is None:
                t = self.theta.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(self.loss(t), t, create_graph=True)
                self._graph = (t, g)
            t, g = self._graph
            if not g.requires_grad:               # loss linear in theta: H = 0
                return torch.zeros_like(v)
            (hv,) = torch.autograd.grad(g, t, grad_outputs=v, allow_unused=True, retain_graph=True)
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
            raise ValueError(f"`v` must be a flat vector of {self.dim} entries, got shape {tuple(v.shape)}")
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
    its affine weight are both differentiated (mixed terms wrong, H not symmetric),
    while jacrev(grad), jvp(grad) and autograd's double backward agree with finite differences."""
    op = HVPOperator(model, loss_fn, inputs, targets, bn_mode, "forward_over_reverse", chunk_size,
                     params)
    n = op.info["n_examples"]

    def loss(t):
        return sum(op.loss(t, s, e) * ((e - s) / n) for s, e in op.chunks)

    with _probe_modes(model, bn_mode != "eval"):
        return torch.func.jacrev(torch.func.grad(loss))(op.theta).detach()


def preconditioned_operator(op, diag):
    """v -> P^-1/2 H P^-1/2 v with P = diag(diag) > 0, whose eigenvalues are those of P^-1 H.

    For Adam and RMSProp, P = sqrt(v_hat) + eps (see :func:`optimizer_diag`); the preconditioned
    sharpness lambda_max(P^-1 H) is compared with 2/lr (RMSProp) or (2 + 2 beta1)/((1 - beta1) lr)
    (Adam) (Cohen et al. 2022, "Adaptive gradient methods at the edge of stability").
    """
    d = torch.as_tensor(diag).reshape(-1).to(dtype=op.dtype, device=op.device)
    if d.numel() != op.dim or not bool(torch.all(torch.isfinite(d) & (d > 0))):
        raise ValueError(f"`diag` must hold {op.dim} finite positive entries, got {d.numel()} "
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
