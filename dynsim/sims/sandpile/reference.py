"""Published values the sandpiles are checked against (REFERENCES.md items 4 and 15), with their
reliability.  A value is an interval [low, high]: a point when the source gives one number, the
spread of published estimates when it does not.  A measurement agrees when its distance from the
interval is at most k standard errors (:func:`agrees`).
"""

from __future__ import annotations

import math
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
