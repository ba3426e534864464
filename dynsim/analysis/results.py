"""Result types shared by every measure: a number never travels without its uncertainty, and every
result prints itself.

The printing contract (every result type of :func:`dynsim.analysis.measure` follows it):

* ``str(result)``: its line of a results table, after the name column: value, standard error, 95%
  interval, reference and the method in a few words (``label``); :func:`format_table` prints a
  header, one such line per measure and the footnotes once.
* ``result.footnotes()``: caveats and notes the line cannot hold (a failure's reason, what an
  exponent means for a system), printed once under a table however many rows share them.
* ``result.details(name)``: the block printed under a table: what the one SE column can't say (the
  parts of an uncertainty, the fitted range, the tests, the rule that chose a window, the z-score
  against a reference), with the full method text.  Empty where the line says it all.
* ``result.to_dict()`` / ``to_json()``: plain JSON (NaN and inf become null).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from dynsim.jsonutil import to_json, to_jsonable

Z95 = 1.959963984540054
LABEL_MAX = 30  # characters of the method column
AGREE_K = 3.0   # a reference "agrees" within this many standard errors


def short_method(method: str, limit: int = LABEL_MAX) -> str:
    """The method in a few words for a table column: the text before its first ``; ``, ``, ``,
    ``: `` or `` (`` outside brackets, cut at a word boundary to at most ``limit`` characters."""
    text, depth = str(method), 0
    for i, ch in enumerate(text):
        if depth == 0 and i > 0 and (text.startswith((", ", "; ", ": "), i)
                                     or text.startswith(" (", i)):
            text = text[:i]
            break
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
    if len(text) <= limit:
        return text
    cut = text[: limit - 3].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "..."


def table_line(value: float, stderr: float, ci, reference, label: str) -> str:
    """The columns after the name: value, ± SE, 95% CI, reference, method."""
    finite_ci = all(isinstance(c, (int, float)) and math.isfinite(c) for c in ci)
    ci_text = f"[{ci[0]:.4g}, {ci[1]:.4g}]" if finite_ci else "-"
    se_text = f"{stderr:<8.2g}" if math.isfinite(stderr) else f"{'-':<8}"  # no SE: say none
    ref = "-" if reference is None else f"{reference:.4g}"
    return f"{value:>11.6g} ± {se_text} {ci_text:>22} {ref:>9}  {label}"


def format_table(results: Mapping) -> str:
    """One line per result (``name  str(result)``) under a header, then the footnotes of all rows,
    each printed once and marked [i] on the rows it belongs to."""
    width = max([len("measure")] + [len(n) for n in results])
    lines = [f"{'measure':<{width}} {'value':>11} ± {'SE':<8} {'95% CI':>22} {'ref':>9}  method"]
    notes: list[str] = []
    for name, r in results.items():
        marks = []
        for note in footnotes_of(r):
            if note not in notes:
                notes.append(note)
            marks.append(f"[{notes.index(note) + 1}]")
        lines.append(f"{name:<{width}} {r}" + (f" {''.join(marks)}" if marks else ""))
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines)


def footnotes_of(result) -> tuple[str, ...]:
    """``result.footnotes()``, or () for a result type without any."""
    fn = getattr(result, "footnotes", None)
    return tuple(fn()) if callable(fn) else ()


class Printable:
    """Mixin of the printing contract (module docstring) for frozen result dataclasses: defaults
    for ``footnotes`` (none), ``details`` (nothing beyond the line), ``to_dict`` (every field as plain
    JSON) and ``to_json``."""

    def footnotes(self) -> tuple[str, ...]:
        return ()

    def details(self, name: str | None = None) -> str:
        return ""

    def to_dict(self) -> dict:
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, indent: int | None = 1) -> str:
        return to_json(self.to_dict(), indent=indent)


def z_text(value: float, stderr: float, reference, reference_source: str = "",
           unit: str = "SE") -> str:
    """'reference 0.4193 (source): z = +0.52 SE, agrees within 3' ('' without a reference)."""
    if reference is None:
        return ""
    src = f" ({reference_source})" if reference_source else ""
    if not (stderr > 0 and math.isfinite(value)):
        return f"reference {reference:.6g}{src}"
    z = (value - reference) / stderr
    verdict = "agrees" if abs(z) <= AGREE_K else "DISAGREES"
    return f"reference {reference:.6g}{src}: z = {z:+.2f} {unit}, {verdict} within {AGREE_K:g}"


@dataclass(frozen=True)
class Estimate(Printable):
    """A measured value with its standard error, 95% interval, the data it used and its method.

    ``reference`` is the exact or theoretical value the measurement can be checked against (None
    where no oracle exists), and ``reference_source`` says where it comes from.  A row of
    :func:`dynsim.analysis.measure` that could not be computed has ``data['status'] == 'failed'``
    and ``data['reason']``.
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

    def agrees(self, k: float = AGREE_K) -> bool | None:
        """Whether the reference lies within k standard errors (None without a reference)."""
        if self.reference is None:
            return None
        return abs(self.value - self.reference) <= k * self.stderr

    @property
    def failed(self) -> bool:
        return self.data.get("status") == "failed"

    @property
    def label(self) -> str:
        """The method in a few words (the table's method column)."""
        return "failed" if self.failed else short_method(self.method)

    def z_text(self) -> str:
        """The z-score against the reference, in words ('' without a reference)."""
        return z_text(self.value, self.stderr, self.reference, self.reference_source)

    def footnotes(self) -> tuple[str, ...]:
        if self.failed:
            return (f"failed: {self.data.get('reason', self.method)}",)
        return ()

    def details(self, name: str | None = None) -> str:
        """The full method where the table shortens it, and the z-score against a reference."""
        if self.failed:
            return ""
        lines = []
        if self.label != self.method:
            lines.append(f"{name or 'estimate'}: {self.value:.6g} ± {self.stderr:.2g} "
                         f"({self.method})")
        z = self.z_text()
        if z:
            lines.append(f"  {z}" if lines else f"{name or 'estimate'}: {z}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Every field as plain JSON, but those marked ``metadata={"json": False}`` (a link to the
        result an estimate was taken from, say)."""
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.metadata.get("json", True)}

    def __str__(self) -> str:
        return table_line(self.value, self.stderr, self.ci, self.reference, self.label)


class Measures(Mapping):
    """Measure name -> result object, for one trace (see :func:`dynsim.analysis.measure`).

    The results are kept whole: ``details()`` prints every result's block, ``spectrum()`` gives the
    Lyapunov spectrum behind the ``lyapunov_<i>`` rows, so no caller recomputes one."""

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

    def merged(self, other: "Measures") -> "Measures":
        """These results followed by ``other``'s (rows measured in two passes of one trace)."""
        return Measures({**self._results, **other._results}, self.system, self.seed)

    def headline(self) -> dict[str, float]:
        """Measure name -> one float, for tables and sweep indexes."""
        return {name: float(r.headline()) for name, r in self._results.items()}

    def spectrum(self):
        """The Lyapunov spectrum the ``lyapunov_<i>`` rows were taken from (None without one)."""
        return getattr(self._results.get("lyapunov_1"), "spectrum", None)

    def details(self) -> str:
        """Every result's details block, in table order; rows taken from one source (the exponents
        of one Lyapunov spectrum) share one block."""
        return details_of(self._results)

    def to_dict(self) -> dict:
        return {"system": self.system, "seed": self.seed,
                "measures": {name: to_jsonable(r) for name, r in self._results.items()}}

    def to_json(self, indent: int | None = 1) -> str:
        return to_json(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        return format_table(self._results)


def details_of(results: Mapping) -> str:
    """The details blocks of ``results`` (name -> result), in order.  Results that carry the object
    they were taken from (``spectrum``: the exponents of one Lyapunov spectrum) print that object's
    block once, as ``source.details(names)``."""
    blocks, done = [], set()
    for name, r in results.items():
        source = getattr(r, "spectrum", None)
        if source is not None:
            if id(source) in done:
                continue
            done.add(id(source))
            names = {n: x for n, x in results.items() if getattr(x, "spectrum", None) is source}
            block = source.details(names)
        else:
            fn = getattr(r, "details", None)
            block = fn(name) if callable(fn) else ""
        if block:
            blocks.append(block)
    return "\n".join(blocks)
