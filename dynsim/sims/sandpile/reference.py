"""Published values the sandpiles are checked against (REFERENCES.md items 4 and 15), with their
reliability.  A value is an interval [low, high]: a point when the source gives one number, the
spread of published estimates when it does not.  A measurement agrees when its distance from the
interval is at most k standard errors (:func:`agrees`).
"""

from __future__ import annotations

import math

import numpy as np
from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    low: float
    high: float
    source: str
    status: str  # "exact", "confirmed", "unverified"

    @property
    def value(self) -> float:
        return 0.5 * (self.low + self.high)

    def distance(self, x: float) -> float:
        return max(self.low - x, x - self.high, 0.0)

    def __str__(self) -> str:
        v = f"{self.low:.4g}" if self.low == self.high else f"{self.low:.4g}-{self.high:.4g}"
        return f"{v} ({self.status}; {self.source})"


def agrees(x: float, stderr: float, ref: Reference, k: float = 3.0) -> bool:
    """|x - [low, high]| <= k stderr (False when the standard error is not finite)."""
    return math.isfinite(stderr) and ref.distance(x) <= k * stderr


_GDM = "Grassberger, Dhar & Mohanty, PRE 94:042314 (2016)"
_MANNA = ("Lubeck, PRE 61:204 (2000); Huynh, Pruessner & Chew, J. Stat. Mech. P09024 (2011); "
          "spread of published values, not re-read")
_MF = "mean-field branching process (Goh et al., PRL 91:148701, 2003; textbook)"

# model -> exponent -> Reference; BTW 2-D has none (multiscaling: Tebaldi, De Menech & Stella,
# PRL 83:3952, 1999; "still not known", Grassberger, Dhar & Mohanty 2016)
EXPONENTS = {
    "oslo": {"tau": Reference(14 / 9, 14 / 9, _GDM + ": tau = 2 - 1/D", "confirmed"),
             "D": Reference(9 / 4, 9 / 4, _GDM, "confirmed")},
    "manna": {"tau": Reference(1.27, 1.28, _MANNA, "unverified"),
              "D": Reference(2.75, 2.76, _MANNA, "unverified")},
    "mean_field": {"tau": Reference(1.5, 1.5, _MF, "confirmed"),
                   "tau_t": Reference(2.0, 2.0, _MF, "confirmed"),
                   "D": Reference(4.0, 4.0, _MF, "confirmed")},
}
BTW_2D_HEIGHT = Reference(17 / 8, 17 / 8, "Jeng, Piroux & Ruelle 2006 (conjecture); proved, e.g. "
                          "Caracciolo & Sportiello 2012", "exact")
BTW_CAVEAT = ("BTW: no reliable size exponent exists (multiscaling; simple finite-size scaling "
              "fails, Tebaldi, De Menech & Stella 1999): any tau fitted here is an effective "
              "exponent")


def dhar_mean(L: int, d: int) -> float:
    """The mean over the sites of {1..L}^d of Delta^-1 1, Delta the toppling matrix (2d on the
    diagonal, -1 between neighbours, Dirichlet boundary): BTW's exact mean avalanche size per grain
    with uniform bulk drive (Dhar, PRL 64:1613, 1990; 593.9 at d = 2, L = 128; REFERENCES.md item
    15).  Exact, by the sine eigenbasis of Delta: with theta_k = pi k / (L + 1), the modes
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
        raise ValueError(f"d must be 1, 2 or 3, got {d}")
    return total / L**d


def exact_mean_size(model: str, L: int, d: int = 1) -> float:
    """Exact stationary mean avalanche size per grain added (avalanches of size 0 included;
    REFERENCES.md item 15): BTW with bulk drive the mean of Delta^-1 1 (:func:`dhar_mean`); abelian
    Manna d times that (two grains per toppling, each a random walk until it leaves, against BTW's
    2d; twice BTW in 2-D); the Oslo pile with boundary drive L (a grain crosses every column)."""
    if model == "btw":
        return dhar_mean(L, d)
    if model == "manna":
        return d * dhar_mean(L, d)
    if model == "oslo":
        return float(L)
    raise ValueError(f"model must be btw, manna or oslo, got {model!r}")
