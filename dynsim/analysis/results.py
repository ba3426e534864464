"""Result types shared by every measure: a number never travels without its uncertainty."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from dynsim.jsonutil import to_json, to_jsonable

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A measured value with its standard error, 95% interval, the data it used and its method.

    ``reference`` is the exact or theoretical value the measurement can be checked against (None
    where no oracle exists), and ``reference_source`` says where it comes from.
    """

    value: float
    stderr: float
    ci: tuple[float, float]
    method: str
    n: int
    reference: float | None = None
    reference_source: str = ""
    data: dict = field(default_factory=dict)

    @classmethod
    def normal(cls, value: float, stderr: float, **kw) -> "Estimate":
        """An estimate with the normal-approximation interval value +- 1.96 stderr."""
        return cls(float(value), float(stderr), (value - Z95 * stderr, value + Z95 * stderr), **kw)

    def headline(self) -> float:
        return self.value

    @property
    def z(self) -> float:
        """(value - reference) / stderr, NaN without a reference or an error."""
        if self.reference is None or not self.stderr > 0:
            return math.nan
        return (self.value - self.reference) / self.stderr

    def agrees(self, k: float = 3.0) -> bool | None:
        """Whether the reference lies within k standard errors (None without a reference)."""
        if self.reference is None:
            return None
        return abs(self.value - self.reference) <= k * self.stderr

    def __str__(self) -> str:
        ref = "" if self.reference is None else f"  ref {self.reference:.6g}"
        return (f"{self.value:.6g} ± {self.stderr:.2g}  95% [{self.ci[0]:.6g}, {self.ci[1]:.6g}]"
                f"  n={self.n}{ref}  ({self.method})")


class Measures(Mapping):
    """Measure name -> result object, for one trace (see :func:`dynsim.analysis.measure`)."""

    def __init__(self, results: dict, system: str = "", seed=None):
        self._results = dict(results)
        self.system = system
        self.seed = seed

    def __getitem__(self, name):
        try:
            return self._results[name]
        except KeyError:
            raise KeyError(f"no measure {name!r} for {self.system!r}; "
                           f"available: {', '.join(self._results) or 'none'}") from None

    def __iter__(self):
        return iter(self._results)

    def __len__(self):
        return len(self._results)

    def headline(self) -> dict[str, float]:
        """Measure name -> one float, for tables and sweep indexes."""
        return {name: float(r.headline()) for name, r in self._results.items()}

    def to_dict(self) -> dict:
        return {"system": self.system, "seed": self.seed,
                "measures": {name: to_jsonable(r) for name, r in self._results.items()}}

    def to_json(self, indent: int | None = 1) -> str:
        return to_json(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        width = max((len(n) for n in self._results), default=0)
        return "\n".join(f"{name:<{width}}  {r}" for name, r in self._results.items())
