"""Small networks with config dataclasses, initialised from a seed without touching global RNGs.

- MLP: depth, width, activation (tanh / relu), optional dropout and batch norm.
- CNN: a small 1-D convolutional net (for mnist1d-like sequences) or 2-D (images), two conv layers.
- Transformer: a one- or two-layer encoder over a token sequence (modular arithmetic as 2 tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dynsim.models.config import MODELS
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


@dataclass(frozen=True)
class NetConfig:
    model: str = "mlp"
    n_in: int = 40
    n_out: int = 10
    width: int = 200
    depth: int = 2                 # hidden layers
    activation: str = "tanh"
    dropout: float = 0.0
    batch_norm: bool = False
    channels: int = 16             # CNN
    image_shape: tuple | None = None  # (C, H, W) for a 2-D CNN; None: 1-D over the n_in features
    vocab: int = 0                 # transformer: tokens; 0 -> n_in // 2 (two one-hot halves)
    heads: int = 4


class MLP(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        layers, n = [], cfg.n_in
        for _ in range(cfg.depth):
            layers.append(nn.Linear(n, cfg.width))
            if cfg.batch_norm:
                layers.append(nn.BatchNorm1d(cfg.width))
            layers.append(ACTIVATIONS[cfg.activation]())
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
            n = cfg.width
        layers.append(nn.Linear(n, cfg.n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.flatten(1))


class CNN(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        c = cfg.channels
        act = ACTIVATIONS[cfg.activation]
        if cfg.image_shape is None:
            conv, pool, self.shape = nn.Conv1d, nn.AdaptiveAvgPool1d(4), (1, cfg.n_in)
            feat = 2 * c * 4
        else:
            conv, pool, self.shape = nn.Conv2d, nn.AdaptiveAvgPool2d(4), tuple(cfg.image_shape)
            feat = 2 * c * 16
        self.body = nn.Sequential(conv(self.shape[0], c, 3, padding=1), act(),
                                  conv(c, 2 * c, 3, padding=1), act(), pool, nn.Flatten())
        self.head = nn.Linear(feat, cfg.n_out)

    def forward(self, x):
        return self.head(self.body(x.reshape(len(x), *self.shape)))


class Transformer(nn.Module):
    """Inputs are two concatenated one-hot tokens (as :func:`dynsim.models.data.modular` makes)."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.vocab = cfg.vocab or cfg.n_in // 2
        self.embed = nn.Linear(self.vocab, cfg.width, bias=False)
        self.pos = nn.Parameter(torch.zeros(2, cfg.width))
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, 4 * cfg.width, cfg.dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, max(1, cfg.depth), enable_nested_tensor=False)
        self.head = nn.Linear(cfg.width, cfg.n_out)

    def forward(self, x):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        tokens = x.reshape(len(x), 2, self.vocab)
        # the math kernel has second derivatives (Hessian probes); the fused CPU kernels do not
        with sdpa_kernel(SDPBackend.MATH):
            h = self.encoder(self.embed(tokens) + self.pos)
        return self.head(h.mean(dim=1))


def make_net(cfg: NetConfig, seed: int) -> nn.Module:
    """Build the net with parameters drawn from ``seed`` (global torch RNG state untouched)."""
    if cfg.model not in MODELS:
        raise ValueError(f"`model` must be one of {', '.join(MODELS)}, got {cfg.model!r}")
    if cfg.activation not in ACTIVATIONS:
        raise ValueError(f"`activation` must be one of {', '.join(ACTIVATIONS)}, got {cfg.activation!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return {"mlp": MLP, "cnn": CNN, "transformer": Transformer}[cfg.model](cfg)
