"""Streamed statistics of parameter updates and weights, so a long run costs megabytes.

Per step, with Delta w the change of the flattened parameters made by the optimizer step:
- ``update_norm``: ||Delta w||.
- ``update_hist`` (windows x layers x bins): counts of |Delta w| per parameter tensor on global
  log-spaced edges ``update_hist_edges`` shared by every layer and window, so layers and windows
  pool (binned data on shared edges: Virkar & Clauset 2014).  Zero updates fall below the first
  edge and are not counted.
- ``update_sample`` (windows x R): a stratified uniform sample of raw |Delta w| values of each window
  (ceil(R / window) random parameters per step), for tail fits.
- ``update_interval_hist`` (bins, edges ``update_interval_hist_edges``): per-parameter waiting times
  between large updates, pooled over parameters, as Zhang & Tang (2025) measure them
  (``zhang_tang_quantiles``: per parameter, the steps where its |Delta w| exceeds the 99th (or
  99.5th) percentile, i.e. the top 1% / 0.5%, of the pooled updates of a window; ``quantile``
  defaults to their 0.99).  Convention here (streamed, so the
  percentile of a window is known only when it closes): the first window is a *warm-up* that only
  sets the threshold (the ``quantile`` of its pooled sample, ``R`` values) and records no
  exceedance; every later window uses the quantile of the previous window's sample, a fixed
  threshold for the whole window (a one-window lag).  A parameter exceeds when |Delta w| > threshold;
  each parameter keeps its last exceedance step (across windows) and adds step - last to a
  linear-bin histogram (one bin per step); a parameter's first exceedance starts its clock and
  adds nothing.  Waits longer than the histogram are counted in ``update_interval_overflow``, not
  piled into the last bin.  ``interval_warmup`` is the number of warm-up steps (one window).
  The measure is meant for the stationary part of training: where the update scale falls (as in
  early full-batch GD; benchmarks/RESULTS.md) few updates exceed the previous window's
  percentile, and the histogram is honestly near empty.
- ``param_proj`` (steps x k): parameters projected on k fixed random unit directions (seeded).

Gradient probes (no side effects on the model, its buffers or the global RNG):
- :func:`probe_gradient`: the gradient of the probe loss (the same function whose Hessian the
  probe measures: probe batch, ``bn_mode``, other modules in eval) at the probe step, so
  ``grad_norm_<p>`` belongs to the parameters it is stamped with.
- :func:`grad_noise_norms`: ||g_B - g|| for minibatches B drawn from the probe generator, g the
  full training-set gradient, both computed as the training step computes them (train mode, chunks
  of ``chunk``); the SGD gradient noise whose tail index Simsekli et al. (ICML 2019) estimate.
"""

from __future__ import annotations

import math

import numpy as np
import torch


class UpdateStats:
    def __init__(self, params: list[tuple[str, torch.Tensor]], *, window: int = 100,
                 bins: int = 64, lo: float = 1e-12, hi: float = 1e2, reservoir: int = 2048,
                 quantile: float = 0.99, max_interval: int = 5000, proj_k: int = 2,
                 generator: torch.Generator | None = None):
        self.names = [n for n, _ in params]
        self.sizes = [p.numel() for _, p in params]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.dim = int(self.offsets[-1])
        device = params[0][1].device
        self.window, self.bins, self.quantile = window, bins, quantile
        self.log_lo, self.log_hi = math.log10(lo), math.log10(hi)
        self.edges = np.logspace(self.log_lo, self.log_hi, bins + 1)
        self.per_step = max(1, math.ceil(reservoir / window))
        self.gen = generator
        self.device = device
        self.norms: list[float] = []
        self.proj: list[np.ndarray] = []
        self.hists: list[np.ndarray] = []
        self.samples: list[np.ndarray] = []
        self._hist = torch.zeros(len(self.sizes), bins, dtype=torch.float64, device=device)
        self._sample: list[torch.Tensor] = []
        self._in_window = 0
        self._threshold: float | None = None      # None during the warm-up window
        self.interval_warmup = window
        self._last = torch.full((self.dim,), -1, dtype=torch.int64, device=device)
        self.interval_edges = np.arange(0.5, max_interval + 1.0)
        self._intervals = torch.zeros(max_interval, dtype=torch.float64, device=device)
        self._overflow = 0
        cpu_gen = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        dirs = torch.randn(proj_k, self.dim, generator=cpu_gen, dtype=torch.float64)
        self.directions = (dirs / dirs.norm(dim=1, keepdim=True)).to(device)

    def update(self, step: int, w_before: torch.Tensor, w_after: torch.Tensor) -> None:
        """Record the step from ``w_before`` to ``w_after`` (flat parameter vectors)."""
        delta = (w_after - w_before).abs()
        self.norms.append(float(delta.norm()))
        self.proj.append((self.directions @ w_after.double()).cpu().numpy())
        logd = torch.log10(delta.double().clamp_min(1e-300))
        for i, (a, b) in enumerate(zip(self.offsets[:-1], self.offsets[1:])):
            self._hist[i] += torch.histc(logd[a:b], self.bins, self.log_lo, self.log_hi)
        idx = torch.randint(0, self.dim, (self.per_step,), generator=self.gen)
        sample = delta[idx.to(delta.device)].double()
        self._sample.append(sample)
        exceed = (torch.nonzero(delta > self._threshold).flatten() if self._threshold is not None
                  else delta.new_zeros(0, dtype=torch.int64))
        if exceed.numel():
            last = self._last[exceed]
            seen = last >= 0
            waits = step - last[seen]
            over = waits > self._intervals.numel()
            self._overflow += int(over.sum())  # longer than the histogram: counted, not binned
            self._intervals += torch.bincount(waits[~over] - 1,
                                              minlength=self._intervals.numel()).double()
            self._last[exceed] = step
        self._in_window += 1
        if self._in_window == self.window:
            self._close_window()

    def _close_window(self) -> None:
        sample = torch.cat(self._sample)
        self.hists.append(self._hist.cpu().numpy().astype(np.int64))
        self.samples.append(sample.cpu().numpy())
        self._threshold = float(torch.quantile(sample, self.quantile))
        self._hist.zero_()
        self._sample, self._in_window = [], 0

    def channels(self) -> dict:
        """The trace channels recorded so far (full windows only for the histograms)."""
        out = {"update_norm": np.asarray(self.norms), "param_proj": np.asarray(self.proj).reshape(
            len(self.proj), -1)}
        if self.hists:
            out["update_hist"] = np.stack(self.hists)
            out["update_hist_edges"] = self.edges
            out["update_hist_layers"] = np.arange(len(self.names))
            n = min(len(s) for s in self.samples)
            out["update_sample"] = np.stack([s[:n] for s in self.samples])
        out["update_interval_hist"] = self._intervals.cpu().numpy().astype(np.int64)
        out["update_interval_hist_edges"] = self.interval_edges
        out["update_interval_overflow"] = np.array([self._overflow], dtype=np.int64)
        return out


def flat_params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def layer_norms(model: torch.nn.Module) -> dict[str, float]:
    """||W|| of each parameter tensor, keyed ``layer_norm_<name>`` (dots -> underscores)."""
    return {f"layer_norm_{name.replace('.', '_')}": float(p.detach().norm())
            for name, p in model.named_parameters()}


def probe_gradient(op) -> dict[str, float]:
    """``grad_norm_<name>``: ||dL/dW|| per parameter tensor of the probe loss of the HVP operator
    ``op`` (:func:`dynsim.models.hessian.hvp_operator`) at its snapshot of the parameters, summed
    over its chunks with weights n_c / N; the model is left as it was."""
    from dynsim.models.hessian import _probe_modes

    n, g = op.info["n_examples"], torch.zeros_like(op.theta)
    with _probe_modes(op.model, op.bn_mode != "eval"), torch.enable_grad():
        for s, e in op.chunks:
            t = op.theta.detach().requires_grad_(True)
            (gc,) = torch.autograd.grad(op.loss(t, s, e), t, allow_unused=True)
            if gc is not None:
                g.add_(gc, alpha=(e - s) / n)
    return {f"grad_norm_{k.replace('.', '_')}": float(part.norm())
            for k, part in zip(op.names, g.split(op.numels))}


def grad_noise_norms(net, loss_fn, x, y, batch_size: int, n_samples: int, chunk: int,
                     generator: torch.Generator) -> np.ndarray:
    """||g_B - g|| for ``n_samples`` minibatches B of ``batch_size`` examples drawn with replacement
    from ``generator`` (as training draws them), g the full gradient over ``x`` accumulated in
    chunks of ``chunk``.  The net runs in its training mode, as the optimizer step sees it; the
    global torch RNG (dropout) and the buffers (batch-norm running statistics) are restored after."""
    params = [p for p in net.parameters() if p.requires_grad]
    saved = {k: b.detach().clone() for k, b in net.named_buffers()}

    def grad(xb, yb):
        gs = torch.autograd.grad(loss_fn(net(xb), yb), params, allow_unused=True)
        return torch.cat([torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1)
                          for p, g in zip(params, gs)])

    n, dev = len(x), x.device
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), torch.enable_grad():
        full = sum(grad(x[a:a + chunk], y[a:a + chunk]) * (len(x[a:a + chunk]) / n)
                   for a in range(0, n, chunk))
        out = np.empty(int(n_samples))
        for i in range(int(n_samples)):
            idx = torch.randint(0, n, (batch_size,), generator=generator).to(dev)
            out[i] = float((grad(x[idx], y[idx]) - full).norm())
    with torch.no_grad():
        for k, b in net.named_buffers():
            b.copy_(saved[k])
    return out
