"""One training loop for GD, SGD, heavy-ball and Nesterov momentum, Adam and RMSProp, with probes.

Loss conventions (named in ``meta["loss_convention"]``): ``mse`` is the edge-of-stability one of
Cohen et al. (2021), 0.5 * sum over outputs of (f(x) - onehot(y))^2, averaged over samples (PyTorch's
MSELoss would make the Hessian C/2 times smaller, ``mse_hessian_factor``); ``ce`` is cross-entropy.

Stability thresholds (``threshold`` channel, convention in ``meta["threshold_convention"]``; keys
``eos_threshold_*``): GD and SGD 2/lr (``gd``); heavy ball (PyTorch SGD momentum,
v <- beta v + g, w <- w - lr v) (2 + 2 beta)/lr (``heavy_ball``); Nesterov (PyTorch form)
(2 + 2 beta)/((1 + 2 beta) lr) (``nesterov``); RMSProp 2/lr on the preconditioned sharpness
lambda_max(P^-1/2 H P^-1/2), P = diag(sqrt(v) + eps) (``rmsprop_precond``); Adam
(2 + 2 beta1)/((1 - beta1) lr) on the preconditioned sharpness with bias-corrected v (``adam_precond``).

Probes (every ``probe_every`` steps, and after the last step): train and test loss, and accuracy for
classification data (absent for regression); ``sharpness`` and ``hessian_top`` (the ``top_k`` largest
Hessian eigenvalues by Lanczos on Hessian-vector products of the probe batch, warm-started from the
previous probe's eigenvector; residuals ||Hy - theta y|| as ``sharpness_err`` / ``hessian_top_err``),
on request ``hessian_bottom`` (the ``bottom_k`` smallest, residuals ``hessian_bottom_err``),
``precond_sharpness`` for Adam / RMSProp, ``threshold``, on request ``hessian_trace`` (Hutchinson,
``hessian_trace_err`` its SE), ``hessian_density`` with its grid ``hessian_density_grid`` (stochastic
Lanczos quadrature, Ubaru, Chen & Saad 2017: ``density="end"`` at the last probe, ``"probes"`` at
every probe; 10 Rademacher vectors x 80 Lanczos steps each, Gaussian broadening of 1% of the
spectrum's span) and ``grad_noise_norm`` (probes x ``grad_noise_samples``: ||g_B - g|| of fresh
minibatches against the full gradient, minibatch optimizers only).  ``layer_norm_*`` are the weights
at the probe step and ``grad_norm_*`` the gradient of the probe loss computed fresh at that step
(not the previous step's gradient).  Every sparse channel X comes with X_step.  Per step: ``loss``,
``lr`` and the streamed update statistics of :mod:`dynsim.models.probes` (windows of ``window``
steps, clamped to steps // 2 so that a short run has its warm-up window and a measured one).

Batch norm in the Hessian probes is the user's choice: a net with batch norm needs ``bn_mode``
(``eval``, ``train`` or ``ghost`` with ``chunk_size`` the ghost batch), recorded in meta; nothing is
chosen for it.  Full-batch GD with ``chunk_size`` is refused on a batch-norm net: per-chunk
statistics would not give the full-batch gradient.

Full-batch GD uses the exact gradient of the whole training set, accumulated over chunks.  Before
every probe the parameters are checked: a NaN or inf parameter or loss, or a probe that fails on an
overflowing net, stops the run with status ``diverged`` (the step is in meta ``diverged_step``);
Ctrl-C stops it with status ``interrupted``; either way the trace keeps what was recorded.  CPU runs
are deterministic for a seed (initialisation, minibatches and dropout draw from generators derived
from it; the probes draw from their own).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from dynsim.models import probes
from dynsim.models.config import (CONVENTION, PARAMS, TrainConfig, config_table,
                                  default_probe_every, make_config, threshold)
from dynsim.models.data import load_data
from dynsim.models.nets import NetConfig, make_net
from dynsim.rng import child_seed, make_seed
from dynsim.trace import make_trace

# Lanczos stops when the top Ritz pair's residual r <= LANCZOS_TOL * |theta|; the eigenvalue error is
# then at most r and typically r^2 / gap (far below 1e-3 relative); r is kept as ``sharpness_err``.
LANCZOS_TOL = 1e-2
DENSITY_VECTORS, DENSITY_ITER = 10, 80          # SLQ: Rademacher vectors x Lanczos steps each
IMAGE_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}   # the CNN is 2-D on these
LOSS_CONVENTION = {"mse": "mse: 0.5 * sum over outputs, mean over samples (Cohen et al. 2021)",
                   "ce": "ce: cross-entropy, mean over samples"}


def loss_fn(kind: str, n_classes: int | None):
    if kind == "ce":
        if n_classes is None:
            raise ValueError("`loss='ce'` needs a classification data set; use `loss='mse'`")
        return lambda out, y: F.cross_entropy(out, y)
    if n_classes is None:
        return lambda out, y: 0.5 * ((out - y) ** 2).sum(dim=1).mean()
    return lambda out, y: 0.5 * ((out - F.one_hot(y, n_classes).to(out.dtype)) ** 2).sum(1).mean()


def _accuracy(out, y):
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
    """The lr of step ``step`` (0 .. steps - 1); cosine reaches 0 only at step ``steps``, which is
    never taken (the final probe uses the last step's lr)."""
    if schedule == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * step / steps))
    if schedule == "step":
        return lr * (0.1 ** (step * 3 // max(steps, 1)))
    return lr


def train(config: TrainConfig | None = None, *, seed: int | None = None, progress=None,
          **params):
    """Train a net on a data set and record the probes (module docstring) into a Trace.

    The settings are the fields of :class:`~dynsim.models.config.TrainConfig`, given as keyword
    arguments (``train(lr=0.05, steps=200, seed=0)``, as the registry and sweeps call it), as a
    config (``train(TrainConfig(lr=0.05), seed=0)``), or both (the keywords replace the config's
    fields).  Defaults: the edge-of-stability setup (mnist1d, MLP 40-200-200-10, tanh, MSE,
    full-batch GD at lr 0.1; ``mnist1d_eos_ratio``).  ``batch_size`` None means full batch
    (GD); SGD-type optimizers need it.  ``bn_mode`` is required for a net with batch norm.
    ``bottom_k`` needs ``hessian_bottom``.  ``progress(step, metrics)`` is called every step.
    """
    from dynsim.models.hessian import (hutchinson_trace, hvp_operator, lanczos, optimizer_diag,
                                       preconditioned_operator, spectral_density)
    from torch.nn.modules.batchnorm import _NormBase

    c = make_config(config, **params)
    bottom_k = (c.bottom_k or 1) if c.hessian_bottom else None
    seed = make_seed(seed)
    cuda = c.device == "cuda" or (c.device == "auto" and torch.cuda.is_available())
    dev = torch.device("cuda" if cuda else "cpu")
    if c.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device='cuda'` but torch sees no CUDA device; use `device='auto'` or `device='cpu'`")
    ds = load_data(c.data, folder=c.data_dir, subset=c.subset, seed=child_seed(seed, 1))
    x, y = ds.x_train.to(dev), ds.y_train.to(dev)
    xt, yt = ds.x_test.to(dev), ds.y_test.to(dev)
    cfg = NetConfig(model=c.model, n_in=ds.n_in, n_out=ds.n_out, width=c.width, depth=c.depth,
                    activation=c.activation, dropout=c.dropout, batch_norm=c.batch_norm,
                    image_shape=IMAGE_SHAPES.get(c.data))
    net = make_net(cfg, child_seed(seed, 2)).to(dev)
    lossf = loss_fn(c.loss, ds.n_classes)
    optimizer = _optimizer(c.opt, net.parameters(), c.lr, c.momentum, c.beta2, c.eps,
                           c.weight_decay)
    n = len(x)
    full = c.batch_size is None or c.batch_size >= n
    chunk = c.chunk_size or n
    pb = min(c.probe_batch or n, n)
    has_bn = any(isinstance(m, _NormBase) for m in net.modules())
    if has_bn and chunk < n and (full or c.grad_noise):
        raise ValueError(f"`chunk_size={c.chunk_size}` < {n} training examples on a batch-norm net: "
                         "the full-batch gradient (of GD, or of grad_noise) would use per-chunk "
                         "statistics, which is not the full-batch gradient; leave `chunk_size` unset")
    if has_bn and c.bn_mode == "train" and chunk < pb:
        raise ValueError(f"`chunk_size={c.chunk_size}` < probe batch {pb} with `bn_mode='train'` "
                         "changes the probed function (statistics per chunk): use "
                         "`bn_mode='ghost'` or `bn_mode='eval'`")
    probe_every = c.probe_every or default_probe_every(c.steps)
    window = min(c.window, max(1, c.steps // 2))
    gen = torch.Generator().manual_seed(child_seed(seed, 3))  # minibatches only
    probe_gen = torch.Generator().manual_seed(child_seed(seed, 6))  # Lanczos / Hutchinson starts
    stats = probes.UpdateStats(list(net.named_parameters()), window=window, proj_k=c.proj_k,
                               generator=torch.Generator().manual_seed(child_seed(seed, 4)))
    rec: dict[str, list] = {k: [] for k in ("loss", "lr")}
    sparse: dict[str, list] = {}
    status, meta_extra, v0, hvps = "ok", {}, None, []
    t_train = t_probe = 0.0
    k_lanczos = max(c.top_k, bottom_k or 1)
    hvp_info: dict = {}                  # the probes' HVP operator (bn_mode, chunking, ...)

    def note(name, step, value):
        sparse.setdefault(name, []).append((step, value))

    def finite_params():
        return bool(torch.isfinite(probes.flat_params(net)).all())

    def probe(step, cur_lr, last):
        """Record the probes at ``step``; False if the net has overflowed (the run diverged)."""
        nonlocal v0
        was_training = net.training
        net.eval()
        with torch.no_grad():
            out, outt = net(x), net(xt)
            train_loss, test_loss = float(lossf(out, y)), float(lossf(outt, yt))
            note("train_loss", step, train_loss)
            note("test_loss", step, test_loss)
            if ds.n_classes is not None:
                note("accuracy", step, _accuracy(out, y))
                note("test_accuracy", step, _accuracy(outt, yt))
        net.train(was_training)
        if not math.isfinite(train_loss):
            return False
        op = hvp_operator(net, lossf, x[:pb], y[:pb], bn_mode=c.bn_mode or "eval",
                          chunk_size=c.chunk_size)
        hvp_info.update(op.info)
        try:
            spec = lanczos(op, k=k_lanczos, which="both" if c.hessian_bottom else "top",
                           max_iter=c.lanczos_iter, tol=LANCZOS_TOL, v0=v0, generator=probe_gen)
        except (np.linalg.LinAlgError, torch.linalg.LinAlgError):
            return False                       # NaN / inf Hessian-vector products
        hvps.append(spec.n_hvp)
        if not all(map(math.isfinite, spec.top)):
            return False
        top = spec.estimate()
        v0 = spec.top_vectors[0]
        note("sharpness", step, top.value)
        note("sharpness_err", step, top.stderr)
        note("hessian_top", step, list(spec.top[:c.top_k]))
        note("hessian_top_err", step, list(spec.top_residuals[:c.top_k]))
        if c.hessian_bottom:
            note("hessian_bottom", step, list(spec.bottom[:bottom_k]))
            note("hessian_bottom_err", step, list(spec.bottom_residuals[:bottom_k]))
        note("threshold", step, threshold(c.opt, cur_lr, c.momentum))
        if c.opt in ("adam", "rmsprop") and optimizer.state:  # P exists after the first step
            diag = optimizer_diag(optimizer, list(net.parameters()))
            pspec = lanczos(preconditioned_operator(op, diag), k=1, max_iter=c.lanczos_iter,
                            tol=LANCZOS_TOL, generator=probe_gen)
            note("precond_sharpness", step, pspec.estimate().value)
        if c.hessian_trace:
            tr = hutchinson_trace(op, n_samples=30, generator=probe_gen)
            note("hessian_trace", step, tr.value)
            note("hessian_trace_err", step, tr.stderr)
        if c.density == "probes" or (c.density == "end" and last):
            sd = spectral_density(op, n_vectors=DENSITY_VECTORS, iters=min(DENSITY_ITER, op.dim),
                                  generator=probe_gen)
            note("hessian_density", step, list(sd.density))
            note("hessian_density_grid", step, list(sd.grid))
        if c.grad_noise:
            note("grad_noise_norm", step, list(probes.grad_noise_norms(
                net, lossf, x, y, c.batch_size, c.grad_noise_samples, chunk, probe_gen)))
        for k, v in {**probes.layer_norms(net), **probes.probe_gradient(op)}.items():
            note(k, step, v)
        return True

    def timed_probe(step, cur_lr, last=False):
        nonlocal t_probe
        t0 = time.perf_counter()
        ok = finite_params() and probe(step, cur_lr, last)
        t_probe += time.perf_counter() - t0
        return ok

    sharp, cur_lr = math.nan, c.lr
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(child_seed(seed, 5))  # dropout draws from here, not the caller's state
        net.train()
        try:
            for step in range(c.steps):
                cur_lr = _lr_at(c.schedule, c.lr, step, c.steps)
                for g in optimizer.param_groups:
                    g["lr"] = cur_lr
                if step % probe_every == 0:
                    if not timed_probe(step, cur_lr):
                        status, meta_extra = "diverged", {"diverged_step": step}
                        break
                    sharp = sparse["sharpness"][-1][1]
                t0 = time.perf_counter()
                w_before = probes.flat_params(net)
                optimizer.zero_grad(set_to_none=True)
                if full:
                    total = 0.0
                    for a in range(0, n, chunk):
                        xb, yb = x[a:a + chunk], y[a:a + chunk]
                        part = lossf(net(xb), yb) * (len(xb) / n)
                        part.backward()
                        total += part.detach().item()
                    batch_loss = total
                else:
                    idx = torch.randint(0, n, (c.batch_size,), generator=gen).to(dev)
                    lb = lossf(net(x[idx]), y[idx])
                    lb.backward()
                    batch_loss = lb.detach().item()
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
                                        "threshold": threshold(c.opt, cur_lr, c.momentum)})
            else:  # the state after the last step, probed at the last step's lr
                if not timed_probe(c.steps, cur_lr, last=True):
                    status, meta_extra = "diverged", {"diverged_step": c.steps}
        except KeyboardInterrupt:
            status = "interrupted"
            meta_extra = {"interrupted_step": len(rec["loss"])}
    channels = {k: np.asarray(v, dtype=float) for k, v in rec.items()}
    channels.update(stats.channels())
    for name, pts in sparse.items():
        channels[name] = np.asarray([v for _, v in pts], dtype=float)
        channels[f"{name}_step"] = np.asarray([s for s, _ in pts], dtype=np.int64)
    params = {**dataclasses.asdict(c), "probe_every": probe_every, "bottom_k": bottom_k}
    extra = {"density": {"vectors": DENSITY_VECTORS, "iters": DENSITY_ITER,
                         "sigma": "1% of the span of the quadrature nodes",
                         "method": "stochastic Lanczos quadrature"}} if c.density != "off" else {}
    return make_trace("train", params, seed, channels, status=status,
                      timings={"train": t_train, "probe": t_probe},
                      threshold_convention=CONVENTION[c.opt],
                      loss_convention=LOSS_CONVENTION[c.loss],
                      bn_mode=c.bn_mode, has_batchnorm=has_bn, device=str(dev), data_meta=ds.meta,
                      update_hist_layers=stats.names, n_params=stats.dim, update_window=window,
                      interval_warmup=stats.interval_warmup, probe_hvps=int(sum(hvps)),
                      lanczos_tol=LANCZOS_TOL, hvp=hvp_info, **extra, **meta_extra)


def _signature() -> inspect.Signature:
    """``train(config=None, *, <every TrainConfig field with its default>, seed=None,
    progress=None)``: what ``help(train)``, ``inspect`` and the sweep (which reads the defaults
    from the signature) see."""
    kw = inspect.Parameter.KEYWORD_ONLY
    fields = [inspect.Parameter(f.name, kw, default=f.default, annotation=f.type)
              for f in dataclasses.fields(TrainConfig)]
    return inspect.Signature(
        [inspect.Parameter("config", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
         *fields, inspect.Parameter("seed", kw, default=None),
         inspect.Parameter("progress", kw, default=None)])


train.PARAMS = PARAMS
train.__signature__ = _signature()
train.__doc__ = f"{inspect.cleandoc(train.__doc__)}\n\nParameters\n----------\n{config_table()}\n"
