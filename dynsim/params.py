"""Parameter schemas as data (the scikit-learn ``_param_validation`` idea): the one source of every
parameter's range, default and help text.

A system's schema maps each API parameter to a constraint (:class:`Int`, :class:`Float`,
:class:`Choice`, ...).  The same object validates a Python call (``ValueError`` naming the
parameter, the allowed range and the value received), holds the parameter's ``default`` and
``help``, and gives the matching CLI flag its type, default and help (the click adapter is
``dynsim.cli.base.option``; this module imports no click).  ``default=None`` with ``none_means``:
the entry point resolves None (``"1/sqrt(d)"``), and the CLI and the docstring show that text.

Entry points take their defaults from the schema through the :func:`entry_point` decorator rather
than by writing ``d=PARAMS["d"].default`` in each signature, because the decorator
- writes each default once, from the schema, into the function's real ``__defaults__`` /
  ``__kwdefaults__``, so ``inspect.signature``, ``help()`` and the sweep see ordinary defaults;
- refuses at import a signature that writes a default of its own or whose names differ from the
  schema's, so a parameter cannot be added to one and forgotten in the other (a hand-written
  ``walkers=PARAMS["walkers"].default`` repeats each name and can point at the wrong key);
- appends the parameter table (:func:`param_table`) to the docstring, so the documented defaults
  are the schema's too.
A function that is not an entry point (``sandpile_on_graph(G, ...)``) reads
``PARAMS[name].default``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import textwrap
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Param:
    """What every constraint carries besides its range: the default, a one-line help text and, for a
    default of None that the entry point resolves, what None means (keyword-only, so
    ``Int(1, 10, default=3)`` keeps its positional bounds)."""

    default: Any = field(default=None, kw_only=True)
    help: str = field(default="", kw_only=True)
    none_means: str = field(default="", kw_only=True)

    def default_text(self) -> str:
        """The default as the CLI and the docstring tables show it."""
        if self.default is None:
            return self.none_means or "None"
        if isinstance(self.default, (tuple, list)):
            return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in self.default)
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


@dataclass(frozen=True)
class Int(Param):
    """An integer in [lo, hi] (either bound may be None)."""

    lo: int | None = None
    hi: int | None = None

    def allowed(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"an integer in [{self.lo}, {self.hi}]"
        if self.lo is not None:
            return f"an integer >= {self.lo}"
        if self.hi is not None:
            return f"an integer <= {self.hi}"
        return "an integer"

    def check(self, name: str, value) -> int:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}")
        value = int(value)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value}")
        return value

    def parse(self, text: str) -> int:
        try:
            return int(text)
        except (TypeError, ValueError):
            raise ValueError(f"must be {self.allowed()}, got {text!r}") from None


@dataclass(frozen=True)
class Float(Param):
    """A finite real number in (lo, hi) / [lo, hi]; NaN and inf are always refused."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def allowed(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return "a finite number" + (" " + " and ".join(parts) if parts else "")

    def check(self, name: str, value) -> float:
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}")
        value = float(value)
        lo_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        hi_bad = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if lo_bad or hi_bad:
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value:g}")
        return value

    def parse(self, text: str) -> float:
        try:
            return float(text)
        except (TypeError, ValueError):
            raise ValueError(f"must be {self.allowed()}, got {text!r}") from None


@dataclass(frozen=True)
class Choice(Param):
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    def allowed(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, name: str, value) -> str:
        if value not in self.options:
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}")
        return value

    def parse(self, text: str) -> str:
        return text


@dataclass(frozen=True)
class Bool(Param):
    """True or False."""

    def allowed(self) -> str:
        return "true or false"

    def check(self, name: str, value) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}")
        return bool(value)

    def parse(self, text: str) -> bool:
        low = str(text).strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"must be {self.allowed()}, got {text!r}")


@dataclass(frozen=True)
class Text(Param):
    """Any string (a folder path, a name)."""

    what: str = "a string"

    def allowed(self) -> str:
        return self.what

    def check(self, name: str, value) -> str:
        if not isinstance(value, str):
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}")
        return value

    def parse(self, text: str) -> str:
        return text


@dataclass(frozen=True)
class Floats(Param):
    """A list of finite numbers (a sequence, or "a,b,c" on the command line) of length in
    [min_len, max_len]; each > 0 if ``positive``, each in [lo, hi] if bounds are given."""

    min_len: int = 1
    max_len: int = 10**6
    positive: bool = False
    lo: float | None = None
    hi: float | None = None

    def allowed(self) -> str:
        n = (str(self.min_len) if self.min_len == self.max_len
             else f"{self.min_len} to {self.max_len}")
        pos = " positive" if self.positive else ""
        rng = "" if self.lo is None else f" in [{self.lo:g}, {self.hi:g}]"
        return f"a list of {n} finite{pos} numbers{rng}"

    def check(self, name: str, value):
        try:
            out = [float(v) for v in np.asarray(value, dtype=float).reshape(-1)]
        except (TypeError, ValueError):
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}") from None
        bad = not self.min_len <= len(out) <= self.max_len or not all(map(math.isfinite, out))
        bad = bad or (self.positive and not all(v > 0 for v in out))
        bad = bad or (self.lo is not None and not all(self.lo <= v <= self.hi for v in out))
        if bad:
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}")
        return out

    def parse(self, text: str):
        try:
            return [float(v) for v in str(text).split(",")]
        except ValueError:
            raise ValueError(f"must be {self.allowed()} separated by commas, "
                             f"got {text!r}") from None


@dataclass(frozen=True)
class Ints(Param):
    """A set of distinct integers, each in [lo, hi], at least ``min_len`` of them (a sequence, or
    "1-10" / "1,2,5" / "32,64,128" on the command line); normalised to a sorted tuple."""

    lo: int = 1
    hi: int = 2**63 - 1
    min_len: int = 1
    what: str = "values"

    def allowed(self) -> str:
        n = "" if self.min_len <= 1 else f"at least {self.min_len} distinct "
        return f"{n}{self.what} each in [{self.lo}, {self.hi}]"

    def default_text(self) -> str:
        d = self.default
        if d is not None and len(d) > 2 and list(d) == list(range(d[0], d[-1] + 1)):
            return f"{d[0]}-{d[-1]}"  # a run of integers as the CLI writes it
        return super().default_text()

    def check(self, name: str, value) -> tuple[int, ...]:
        items = [value] if isinstance(value, Integral) else value
        ok = not isinstance(value, (str, bytes, bool)) and hasattr(items, "__iter__")
        items = list(items) if ok else []
        if not ok or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in items):
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}")
        out = tuple(sorted({int(v) for v in items}))
        if len(out) < max(self.min_len, 1) or not all(self.lo <= v <= self.hi for v in out):
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}")
        return out

    def parse(self, text: str) -> list[int]:
        out = []
        try:
            for part in str(text).split(","):
                lo, dash, hi = part.strip().partition("-")
                if dash and not hi.strip():
                    raise ValueError(part)  # "3-": a range without its upper end
                out.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
        except ValueError:
            raise ValueError(f"must be {self.allowed()}, as 3, 1-10 or 1,2,5, "
                             f"got {text!r}") from None
        return out


@dataclass(frozen=True)
class Seed(Param):
    """A seed: None (draw one and record it) or an integer in [0, 2**63 - 1]."""

    def allowed(self) -> str:
        return "an integer in [0, 2**63 - 1]"

    def check(self, name: str, value):
        from dynsim.rng import make_seed

        return None if value is None else make_seed(value)

    def parse(self, text: str) -> int:
        return Int(0, 2**63 - 1).parse(text)


def check_params(schema: dict, params: dict, caller: str = "") -> dict:
    """Validate ``params`` against ``schema``; return the normalised values (ValueError otherwise).
    A value of None means "the default" and is passed through unchecked."""
    unknown = sorted(set(params) - set(schema))
    if unknown:
        raise ValueError(f"{caller or 'call'}: unknown parameter(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(schema)}")
    return {name: None if value is None else schema[name].check(name, value)
            for name, value in params.items()}


def defaults(schema: dict) -> dict:
    """Every parameter's default, by name."""
    return {name: c.default for name, c in schema.items()}


def with_defaults(schema: dict, **values) -> dict:
    """A copy of ``schema`` whose named parameters get other defaults (an entry point that shares a
    group of parameters with others but not all their defaults)."""
    unknown = sorted(set(values) - set(schema))
    if unknown:
        raise KeyError(f"not in the schema: {', '.join(unknown)}")
    return {name: dataclasses.replace(c, default=values[name]) if name in values else c
            for name, c in schema.items()}


def param_table(schema: dict, groups: dict | None = None) -> str:
    """The parameter table of a docstring, from the schema: ``name : default`` then the help text
    and what is allowed.  ``groups`` (heading -> names) splits it into sections."""
    def rows(names):
        out = []
        for name in names:
            c = schema[name]
            text = " ".join(t for t in (c.help, f"({c.allowed()})") if t)
            out += [f"{name} : {c.default_text()}",
                    *textwrap.wrap(text, 92, initial_indent="    ", subsequent_indent="    ")]
        return out

    if groups is None:
        return "\n".join(rows([n for n in schema if n != "seed"]))
    return "\n\n".join("\n".join([f"{head}:", *("  " + r for r in rows(names))])
                       for head, names in groups.items())


_NOT_PARAMS = ("seed", "progress")


def entry_point(schema: dict):
    """Decorator of an entry point ``f(**params, *, seed, progress)`` whose defaults come from
    ``schema``: the signature writes the parameters without defaults, the decorator fills them
    from the schema, sets ``f.PARAMS = schema`` and appends :func:`param_table` to the docstring.
    TypeError at import when the signature writes a default of its own or its names differ from
    the schema's (a default is written once)."""
    def wrap(fn):
        sig = inspect.signature(fn)
        names = [n for n, p in sig.parameters.items() if n not in _NOT_PARAMS
                 and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        want = [n for n in schema if n != "seed"]
        if set(names) != set(want):
            raise TypeError(f"{fn.__qualname__}: parameters {sorted(names)} differ from the "
                            f"schema's {sorted(want)}")
        own = [n for n in names if sig.parameters[n].default is not inspect.Parameter.empty]
        if own:
            raise TypeError(f"{fn.__qualname__}: the defaults of {', '.join(own)} belong in the "
                            "schema, not in the signature")
        positional = [n for n, p in sig.parameters.items() if p.kind == p.POSITIONAL_OR_KEYWORD]
        fn.__defaults__ = tuple(schema[n].default for n in positional) or None
        fn.__kwdefaults__ = {**(fn.__kwdefaults__ or {}),
                             **{n: schema[n].default for n in names if n not in positional}}
        fn.PARAMS = schema
        fn.__doc__ = f"{inspect.cleandoc(fn.__doc__ or '')}\n\nParameters\n----------\n" \
                     f"{param_table(schema)}\n"
        return fn

    return wrap
