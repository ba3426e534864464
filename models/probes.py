"""Streamed statistics of parameter updates and weights, so a long run costs megabytes.

Per step, with Delta w the change of the flattened parameters made by the optimizer step:
- ``update_norm``: ||Delta w||.
- ``update_hist`` (windows x layers x bins): counts of |Delta w| per parameter tensor on global
  log-spaced edges ``update_hist_edges`` shared by every layer and window, so layers and windows
  pool (REFERENCES.md item 15).  Zero updates fall below the first edge and are not counted.
- ``update_sample`` (windows x R): a stratified uniform sample of raw |Delta w| values of each window
  (ceil(R / window) random parameters per step), for tail fits.
- ``update_interval_hist`` (bins, edges ``update_interval_hist_edges``): per-parameter waiting times
  between large updates, pooled over parameters, as Zhang & Tang measure them (REFERENCES.md
  item 10): a parameter "exceeds" when |Delta w| is above the ``quantile`` of the previous window's
  sample (the first window uses its first step's sample); each parameter keeps its last exceedance
  step and adds step - last to a linear-bin histogram (one bin per step); waits longer than the
  histogram are counted in ``update_interval_overflow``, not piled into the last bin.
- ``proj`` (steps x k): parameters projected on k fixed random unit directions (seeded).
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
        self._threshold: float | None = None
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
        if self._threshold is None:
            self._threshold = float(torch.quantile(sample, self.quantile))
        exceed = torch.nonzero(delta > self._threshold).flatten()
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
        out = {"update_norm": np.asarray(self.norms), "proj": np.asarray(self.proj).reshape(
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
    """||W|| of each parameter tensor and ||grad W|| where a gradient exists, keyed by a safe name."""
    out = {}
    for name, p in model.named_parameters():
        key = name.replace(".", "_")
        out[f"layer_norm_{key}"] = float(p.detach().norm())
        if p.grad is not None:
            out[f"grad_norm_{key}"] = float(p.grad.detach().norm())
    return out
