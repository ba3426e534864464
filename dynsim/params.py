"""Parameter constraints as data (the scikit-learn ``_param_validation`` idea).

A system's schema maps each API parameter to a constraint.  The same object validates a Python call
(``ValueError`` naming the parameter, the allowed range and the value received) and gives the click
type of the matching CLI flag, so the API and the CLI can never disagree on what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import click
import numpy as np


@dataclass(frozen=True)
class Int:
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
            raise ValueError(f"{name} must be {self.allowed()}, got {value!r}")
        value = int(value)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ValueError(f"{name} must be {self.allowed()}, got {value}")
        return value

    def parse(self, text: str) -> int:
        try:
            return int(text)
        except (TypeError, ValueError):
            raise ValueError(f"must be {self.allowed()}, got {text!r}") from None


@dataclass(frozen=True)
class Float:
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
            raise ValueError(f"{name} must be {self.allowed()}, got {value!r}")
        value = float(value)
        lo_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        hi_bad = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if lo_bad or hi_bad:
            raise ValueError(f"{name} must be {self.allowed()}, got {value:g}")
        return value

    def parse(self, text: str) -> float:
        try:
            return float(text)
        except (TypeError, ValueError):
            raise ValueError(f"must be {self.allowed()}, got {text!r}") from None


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    def allowed(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, name: str, value) -> str:
        if value not in self.options:
            raise ValueError(f"{name} must be {self.allowed()}, got {value!r}")
        return value

    def parse(self, text: str) -> str:
        return text


@dataclass(frozen=True)
class Bool:
    """True or False."""

    def allowed(self) -> str:
        return "true or false"

    def check(self, name: str, value) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be {self.allowed()}, got {value!r}")
        return bool(value)

    def parse(self, text: str) -> bool:
        low = str(text).strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"must be {self.allowed()}, got {text!r}")


@dataclass(frozen=True)
class Text:
    """Any string (a folder path, a name)."""

    what: str = "a string"

    def allowed(self) -> str:
        return self.what

    def check(self, name: str, value) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be {self.allowed()}, got {value!r}")
        return value

    def parse(self, text: str) -> str:
        return text


@dataclass(frozen=True)
class Floats:
    """A list of finite numbers (a sequence, or "a,b,c" on the command line) of length in
    [min_len, max_len]; each > 0 if ``positive``, each in [lo, hi] if bounds are given."""

    min_len: int = 1
    max_len: int = 10**6
    positive: bool = False
    lo: float | None = None
    hi: float | None = None

    def allowed(self) -> str:
        n = str(self.min_len) if self.min_len == self.max_len else f"{self.min_len} to {self.max_len}"
        pos = " positive" if self.positive else ""
        rng = "" if self.lo is None else f" in [{self.lo:g}, {self.hi:g}]"
        return f"a list of {n} finite{pos} numbers{rng}"

    def check(self, name: str, value):
        try:
            out = [float(v) for v in np.asarray(value, dtype=float).reshape(-1)]
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be {self.allowed()}, got {value!r}") from None
        bad = not self.min_len <= len(out) <= self.max_len or not all(map(math.isfinite, out))
        bad = bad or (self.positive and not all(v > 0 for v in out))
        bad = bad or (self.lo is not None and not all(self.lo <= v <= self.hi for v in out))
        if bad:
            raise ValueError(f"{name} must be {self.allowed()}, got {value!r}")
        return out

    def parse(self, text: str):
        try:
            return [float(v) for v in str(text).split(",")]
        except ValueError:
            raise ValueError(f"must be {self.allowed()} separated by commas, got {text!r}") from None


@dataclass(frozen=True)
class Seed:
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


class ClickParam(click.ParamType):
    """A click type built from a constraint: the CLI refuses exactly what the API refuses."""

    def __init__(self, constraint):
        self.constraint = constraint
        self.name = type(constraint).__name__.lower()

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return self.constraint.check(self.name, self.constraint.parse(value))
        except ValueError as err:
            msg = str(err)
            prefix = f"{self.name} "
            self.fail(msg[len(prefix):] if msg.startswith(prefix) else msg, param, ctx)


def option(flag: str, name: str, constraint, **kwargs):
    """A click option for API parameter ``name`` whose type is the parameter's constraint."""
    kwargs.setdefault("show_default", True)
    return click.option(flag, name, type=ClickParam(constraint), **kwargs)
