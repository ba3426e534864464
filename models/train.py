"""One training loop for GD, SGD, heavy-ball and Nesterov momentum, Adam and RMSProp, with probes.

Loss conventions (named in ``meta["loss_convention"]``): ``mse`` is the edge-of-stability one of
Cohen et al. (2021), 0.5 * sum over outputs of (f(x) - onehot(y))^2, averaged over samples (PyTorch's
MSELoss would make the Hessian C/2 times smaller, REFERENCES.md item 15); ``ce`` is cross-entropy.

Stability thresholds (``threshold`` channel, convention in ``meta["threshold_convention"]``,
REFERENCES.md items 3 and 15): GD and SGD 2/lr (``gd``); heavy ball (PyTorch SGD momentum,
v <- beta v + g, w <- w - lr v) (2 + 2 beta)/lr (``heavy_ball``); Nesterov (PyTorch form)
(2 + 2 beta)/((1 + 2 beta) lr) (``nesterov``); RMSProp 2/lr on the preconditioned sharpness
lambda_max(P^-1/2 H P^-1/2), P = diag(sqrt(v) + eps) (``rmsprop_precond``); Adam
(2 + 2 beta1)/((1 - beta1) lr) on the preconditioned sharpness with bias-corrected v (``adam_precond``).

Probes (every ``probe_every`` steps, and at the last step): train and test loss and accuracy,
``sharpness`` (top Hessian eigenvalue by Lanczos on Hessian-vector products of the probe batch,
warm-started from the previous probe's eigenvector, its residual as ``sharpness_err``),
``precond_sharpness`` for Adam / RMSProp, ``threshold``, optional ``hessian_bottom`` and
``hessian_trace``, and per-layer norms.  Every sparse channel X comes with X_step.  Per step: ``loss``,
``lr`` and the streamed update statistics of :mod:`dynsim.models.probes`.

Full-batch GD uses the exact gradient of the whole training set, accumulated over chunks.  A NaN or
inf loss stops the run with status ``diverged`` (the step is in meta); Ctrl-C stops it with status
``interrupted``; either way the trace keeps what was recorded.  CPU runs are deterministic for a seed
(initialisation, minibatches and dropout draw from generators derived from it).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from dynsim.models import probes
from dynsim.models.config import CONVENTION, PARAMS, default_probe_every, threshold
from dynsim.models.data import load_data
from dynsim.models.nets import NetConfig, make_net
from dynsim.rng import child_seed, make_seed
from dynsim.trace import make_trace

# Lanczos stops when the top Ritz pair's residual r <= LANCZOS_TOL * |theta|; the eigenvalue error is
# then at most r and typically r^2 / gap (far below 1e-3 relative); r is kept as ``sharpness_err``.
LANCZOS_TOL = 1e-2

def loss_fn(kind: str, n_classes: int | None):
    if kind == "ce":
        if n_classes is None:
            raise ValueError("loss='ce' needs a classification data set; use loss='mse'")
        return lambda out, y: F.cross_entropy(out, y)
    if n_classes is None:
        return lambda out, y: 0.5 * ((out - y) ** 2).sum(dim=1).mean()
    return lambda out, y: 0.5 * ((out - F.one_hot(y, n_classes).to(out.dtype)) ** 2).sum(1).mean()


def _accuracy(out, y, n_classes):
    if n_classes is None:
        return math.nan
    return float((out.argmax(dim=1) == y).float().mean())


def _optimizer(opt, params, lr, momentum, beta2, eps, weight_decay):
    if opt in ("gd", "sgd"):
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if opt in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=opt == "nesterov",
                               weight_decay=weight_decay)
    if opt == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(momentum, beta2), eps=eps,
                                weight_decay=weight_decay)
    return torch.optim.RMSprop(params, lr=lr, alpha=beta2, eps=eps, weight_decay=weight_decay)


def _lr_at(schedule, lr, step, steps):
    if schedule == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * step / steps))
    if schedule == "step":
        return lr * (0.1 ** (step * 3 // max(steps, 1)))
    return lr


def train(model: str = "mlp", data: str = "mnist1d", opt: str = "gd", lr: float = 0.1,
          steps: int = 1500, batch_size: int | None = None, momentum: float = 0.9,
          beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
          schedule: str = "constant", loss: str = "mse", width: int = 200, depth: int = 2,
          activation: str = "tanh", dropout: float = 0.0, batch_norm: bool = False,
          probe_every: int | None = None, lanczos_iter: int = 20, probe_batch: int | None = None,
          hessian_bottom: bool = False, hessian_trace: bool = False, bn_mode: str = "eval",
          chunk_size: int | None = None, window: int = 100, proj_k: int = 2,
          device: str = "auto", data_dir: str | None = None, subset: int | None = None, *,
          seed: int | None = None, progress=None):
    """Train a net on a data set and record the probes (module docstring) into a Trace.

    Defaults: the edge-of-stability setup of REFERENCES.md item 14 (mnist1d, MLP 40-200-200-10,
    tanh, MSE, full-batch GD at lr 0.1).  ``batch_size`` None means full batch (GD); SGD-type
    optimizers need it.  ``progress(step, metrics)`` is called every step.
    """
    from dynsim.models.hessian import (hutchinson_trace, hvp_operator, lanczos, optimizer_diag,
                                       preconditioned_operator)
    from dynsim.params import check_params

    args = {k: v for k, v in locals().items() if k in PARAMS}
    p = check_params(PARAMS, args, "train")
    if opt == "sgd" and batch_size is None:
        raise ValueError("opt='sgd' needs batch_size (full-batch training is opt='gd')")
    if opt == "gd" and batch_size is not None:
        raise ValueError(f"opt='gd' is full-batch: batch_size must be left unset, got {batch_size} "
                         "(minibatches are opt='sgd')")
    seed = make_seed(seed)
    dev = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available())
                       else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA device; use device='auto' or 'cpu'")
    ds = load_data(data, folder=data_dir, subset=subset, seed=child_seed(seed, 1))
    x, y = ds.x_train.to(dev), ds.y_train.to(dev)
    xt, yt = ds.x_test.to(dev), ds.y_test.to(dev)
    cfg = NetConfig(model=model, n_in=ds.n_in, n_out=ds.n_out, width=width, depth=depth,
                    activation=activation, dropout=dropout, batch_norm=batch_norm)
    net = make_net(cfg, child_seed(seed, 2)).to(dev)
    lossf = loss_fn(loss, ds.n_classes)
    optimizer = _optimizer(opt, net.parameters(), lr, momentum, beta2, eps, weight_decay)
    n = len(x)
    full = batch_size is None or batch_size >= n
    chunk = chunk_size or n
    probe_every = probe_every or default_probe_every(steps)
    pb = min(probe_batch or n, n)
    gen = torch.Generator().manual_seed(child_seed(seed, 3))  # minibatches only
    probe_gen = torch.Generator().manual_seed(child_seed(seed, 6))  # Lanczos / Hutchinson starts
    stats = probes.UpdateStats(list(net.named_parameters()), window=min(window, steps),
                               proj_k=proj_k,
                               generator=torch.Generator().manual_seed(child_seed(seed, 4)))
    rec: dict[str, list] = {k: [] for k in ("loss", "lr")}
    sparse: dict[str, list] = {}
    status, meta_extra, v0, hvps = "ok", {}, None, []
    t_train = t_probe = 0.0

    def note(name, step, value):
        sparse.setdefault(name, []).append((step, value))

    def probe(step, cur_lr):
        nonlocal v0, t_probe
        t0 = time.perf_counter()
        was_training = net.training
        net.eval()
        with torch.no_grad():
            out, outt = net(x), net(xt)
            note("train_loss", step, float(lossf(out, y)))
            note("accuracy", step, _accuracy(out, y, ds.n_classes))
            note("test_loss", step, float(lossf(outt, yt)))
            note("test_accuracy", step, _accuracy(outt, yt, ds.n_classes))
        net.train(was_training)
        op = hvp_operator(net, lossf, x[:pb], y[:pb], bn_mode=bn_mode,
                          chunk_size=chunk_size if bn_mode != "train" else None)
        spec = lanczos(op, k=1, which="both" if hessian_bottom else "top", max_iter=lanczos_iter,
                       tol=LANCZOS_TOL, v0=v0, generator=probe_gen)
        hvps.append(spec.n_hvp)
        top = spec.estimate()
        v0 = spec.top_vectors[0] if spec.top_vectors is not None else None
        note("sharpness", step, top.value)
        note("sharpness_err", step, top.stderr)
        note("hessian_top", step, [top.value])
        if hessian_bottom:
            note("hessian_bottom", step, list(spec.bottom))
        note("threshold", step, threshold(opt, cur_lr, momentum))
        if opt in ("adam", "rmsprop") and optimizer.state:  # P exists after the first step
            diag = optimizer_diag(optimizer, list(net.parameters()))
            pspec = lanczos(preconditioned_operator(op, diag), k=1, max_iter=lanczos_iter,
                            tol=LANCZOS_TOL, generator=probe_gen)
            note("precond_sharpness", step, pspec.estimate().value)
        if hessian_trace:
            tr = hutchinson_trace(op, n_samples=30, generator=probe_gen)
            note("hessian_trace", step, tr.value)
            note("hessian_trace_err", step, tr.stderr)
        for k, v in probes.layer_norms(net).items():
            note(k, step, v)
        t_probe += time.perf_counter() - t0
        return top.value

    sharp = math.nan
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(child_seed(seed, 5))  # dropout draws from here, not the caller's state
        net.train()
        try:
            for step in range(steps):
                cur_lr = _lr_at(schedule, lr, step, steps)
                for g in optimizer.param_groups:
                    g["lr"] = cur_lr
                if step % probe_every == 0:
                    sharp = probe(step, cur_lr)
                t0 = time.perf_counter()
                w_before = probes.flat_params(net)
                optimizer.zero_grad(set_to_none=True)
                if full:
                    total = 0.0
                    for a in range(0, n, chunk):
                        xb, yb = x[a:a + chunk], y[a:a + chunk]
                        part = lossf(net(xb), yb) * (len(xb) / n)
                        part.backward()
                        total += float(part.detach())
                    batch_loss = total
                else:
                    idx = torch.randint(0, n, (batch_size,), generator=gen).to(dev)
                    lb = lossf(net(x[idx]), y[idx])
                    lb.backward()
                    batch_loss = float(lb)
                if not math.isfinite(batch_loss):
                    status, meta_extra = "diverged", {"diverged_step": step}
                    break
                optimizer.step()
                stats.update(step, w_before, probes.flat_params(net))
                rec["loss"].append(batch_loss)
                rec["lr"].append(cur_lr)
                t_train += time.perf_counter() - t0
                if progress is not None:
                    progress(step + 1, {"loss": batch_loss, "sharpness": sharp,
                                        "threshold": threshold(opt, cur_lr, momentum)})
            else:  # the state after the last step
                probe(steps, _lr_at(schedule, lr, steps, steps))
        except KeyboardInterrupt:
            status = "interrupted"
            meta_extra = {"interrupted_step": len(rec["loss"])}
    channels = {k: np.asarray(v, dtype=float) for k, v in rec.items()}
    channels.update(stats.channels())
    for name, pts in sparse.items():
        channels[name] = np.asarray([v for _, v in pts], dtype=float)
        channels[f"{name}_step"] = np.asarray([s for s, _ in pts], dtype=np.int64)
    params = {**p, "batch_size": batch_size, "probe_every": probe_every}
    return make_trace("train", params, seed, channels, status=status,
                      timings={"train": t_train, "probe": t_probe},
                      threshold_convention=CONVENTION[opt], loss_convention=loss,
                      bn_mode=bn_mode, device=str(dev), data_meta=ds.meta,
                      update_hist_layers=stats.names, n_params=stats.dim,
                      probe_hvps=int(sum(hvps)), lanczos_tol=LANCZOS_TOL, **meta_extra)


train.PARAMS = PARAMS
