"""The values the sandpiles are checked against, read from ``dynsim/data/references.json``
(the keys ``oslo_tau``, ``oslo_D``, ``manna_2d_tau``, ``manna_2d_D``, ``mean_field_tau``,
``mean_field_tau_t``, ``mean_field_D``, ``btw_mean_height_2d`` and the caveat of ``btw_2d_tau``),
and the exact mean avalanche sizes, computed here (:func:`dhar_mean`, :func:`exact_mean_size`).

A value is an interval [low, high]: a point when the source gives one number, the spread of
published estimates when it does not.  A measurement agrees when its distance from the interval is
at most k standard errors (:func:`agrees`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dynsim import references


@dataclass(frozen=True)
class Reference:
    """The interval of the references.json entry ``key`` and its status (exact, published or
    measured here); ``source`` is the entry's citation."""

    key: str
    low: float
    high: float
    status: str

    @classmethod
    def of(cls, key: str) -> "Reference":
        low, high = references.band(key)
        return cls(key, float(low), float(high), references.get(key)["status"])

    @property
    def value(self) -> float:
        return 0.5 * (self.low + self.high)

    @property
    def source(self) -> str:
        return references.cite(self.key)

    def distance(self, x: float) -> float:
        return max(self.low - x, x - self.high, 0.0)

    def __str__(self) -> str:
        v = f"{self.low:.4g}" if self.low == self.high else f"{self.low:.4g}-{self.high:.4g}"
        return f"{v} ({self.status}; {self.key})"


def agrees(x: float, stderr: float, ref: Reference, k: float = 3.0) -> bool:
    """|x - [low, high]| <= k stderr (False when the standard error is not finite)."""
    return math.isfinite(stderr) and ref.distance(x) <= k * stderr


# model -> exponent -> Reference; BTW 2-D has none (the caveat of ``btw_2d_tau``)
EXPONENTS = {
    "oslo": {"tau": Reference.of("oslo_tau"), "D": Reference.of("oslo_D")},
    "manna": {"tau": Reference.of("manna_2d_tau"), "D": Reference.of("manna_2d_D")},
    "mean_field": {"tau": Reference.of("mean_field_tau"), "tau_t": Reference.of("mean_field_tau_t"),
                   "D": Reference.of("mean_field_D")},
}
BTW_2D_HEIGHT = Reference.of("btw_mean_height_2d")
BTW_CAVEAT = references.get("btw_2d_tau")["caveat"]


def dhar_mean(L: int, d: int) -> float:
    """The mean over the sites of {1..L}^d of Delta^-1 1, Delta the toppling matrix (2d on the
    diagonal, -1 between neighbours, Dirichlet boundary): BTW's exact mean avalanche size per grain
    with uniform bulk drive (Dhar, PRL 64:1613, 1990; keys ``btw_mean_size_*``).  Exact, by the
    sine eigenbasis of Delta: with theta_k = pi k / (L + 1), the modes
    prod_i sqrt(2 / (L + 1)) sin(theta_(k_i) j_i) have eigenvalues sum_i 2 (1 - cos theta_(k_i)) and
    overlaps with 1 of prod_i c_(k_i), c_k = sqrt(2 / (L + 1)) sum_j sin(theta_k j) (zero for even
    k), so 1^T Delta^-1 1 = sum over modes of prod c^2 / lambda.  O(L^d / 2^d) work."""
    k = np.arange(1, L + 1, 2)                       # odd modes only: c_k = 0 for even k
    theta = np.pi * k / (L + 1)
    j = np.arange(1, L + 1)
    c2 = (2.0 / (L + 1)) * np.sin(np.outer(theta, j)).sum(axis=1) ** 2
    lam = 2.0 * (1.0 - np.cos(theta))
    if d == 1:
        total = float(np.sum(c2 / lam))
    elif d == 2:
        total = float(sum(np.sum(c2[a] * c2 / (lam[a] + lam)) for a in range(k.size)))
    elif d == 3:
        pair_c, pair_l = np.multiply.outer(c2, c2), np.add.outer(lam, lam)
        total = float(sum(np.sum(c2[a] * pair_c / (lam[a] + pair_l)) for a in range(k.size)))
    else:
        raise ValueError(f"`d` must be 1, 2 or 3, got {d}")
    return total / L**d


def exact_mean_size(model: str, L: int, d: int = 1) -> float:
    """Exact stationary mean avalanche size per grain added (avalanches of size 0 included; keys
    ``btw_mean_size_*``, ``manna_mean_size_factor``, ``oslo_mean_size_per_L``): BTW with bulk
    drive the mean of Delta^-1 1 (:func:`dhar_mean`); abelian Manna d times that (two grains per
    toppling, each a random walk until it leaves, against BTW's 2d; twice BTW in 2-D); the Oslo pile
    with boundary drive L (a grain crosses every column)."""
    if model == "btw":
        return dhar_mean(L, d)
    if model == "manna":
        return d * dhar_mean(L, d)
    if model == "oslo":
        return float(L)
    raise ValueError(f"`model` must be btw, manna or oslo, got {model!r}")
