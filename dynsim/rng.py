"""Seeds and per-stream random generators.

Results depend on the seed alone, never on the thread count.

* :func:`make_seed` / :func:`make_rng`: the one seed helper. ``seed=None`` draws a seed from OS
  entropy and returns it, so the caller can record it in ``Trace.meta``.
* Inside Numba kernels every walker, replica or site gets its own xoshiro256** stream whose state is
  a SplitMix64 hash of ``(seed, index)`` (:func:`stream_state`).  Streams are therefore not shifted
  copies of one sequence, and a ``prange`` loop gives the same numbers whatever the thread split.

xoshiro256**: Blackman & Vigna, "Scrambled linear pseudorandom number generators", ACM TOMS 47 (2021).
SplitMix64: Steele, Lea & Flood, OOPSLA 2014.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SEED_MAX = 2**63 - 1

# numba types module-level globals as compile-time constants; keep every operand uint64 so that no
# mixed signed/unsigned arithmetic is promoted to float.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_U5, _U7, _U9 = np.uint64(5), np.uint64(7), np.uint64(9)
_U11, _U17, _U27, _U30, _U31 = np.uint64(11), np.uint64(17), np.uint64(27), np.uint64(30), np.uint64(31)
_U32, _U45, _U64 = np.uint64(32), np.uint64(45), np.uint64(64)
_MASK32 = np.uint64(0xFFFFFFFF)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


def make_seed(seed: int | None) -> int:
    """Validate ``seed`` (an int in [0, 2**63 - 1]) or draw one from OS entropy when it is None."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer in [0, {SEED_MAX}] or None, got {seed!r}")
    if not 0 <= int(seed) <= SEED_MAX:
        raise ValueError(f"`seed` must be in [0, {SEED_MAX}], got {seed}")
    return int(seed)


def make_rng(seed: int | None, *key: int) -> tuple[int, np.random.Generator]:
    """Return ``(seed, Generator)``; extra ``key`` integers give independent child generators."""
    seed = make_seed(seed)
    return seed, np.random.default_rng(np.random.SeedSequence([seed, *key]))


def child_seed(seed: int | None, *key: int) -> int:
    """A seed for an independent child run (a dimension, a replicate), derived from (seed, key)."""
    return int(make_rng(seed, *key)[1].integers(2**62))


@njit(cache=True, inline="always")
def _mix64(z):
    z = (z ^ (z >> _U30)) * _MIX1
    z = (z ^ (z >> _U27)) * _MIX2
    return z ^ (z >> _U31)


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << k) | (x >> (_U64 - k))


@njit(cache=True)
def stream_state(seed, index):
    """xoshiro256** state for stream ``index`` of ``seed``: SplitMix64 of a hash of both."""
    z = _mix64(np.uint64(seed) + _GOLDEN) ^ _mix64(np.uint64(index) * _GOLDEN + _MIX2)
    z = z + _GOLDEN
    s0 = _mix64(z)
    z = z + _GOLDEN
    s1 = _mix64(z)
    z = z + _GOLDEN
    s2 = _mix64(z)
    z = z + _GOLDEN
    s3 = _mix64(z)
    return s0, s1, s2, s3


@njit(cache=True, inline="always")
def xoshiro_next(s0, s1, s2, s3):
    """One xoshiro256** step: returns ``(output, s0, s1, s2, s3)`` (all uint64)."""
    out = _rotl(s1 * _U5, _U7) * _U9
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, _U45)
    return out, s0, s1, s2, s3


@njit(cache=True, inline="always")
def to_unit(x):
    """uint64 -> float in [0, 1) with 53 random bits."""
    return (x >> _U11) * _INV53


@njit(cache=True, inline="always")
def below(u32, n):
    """Map a 32-bit uniform integer (held in a uint64) to {0, ..., n-1} by multiply-shift.

    The bias is at most n / 2**32 (below 1e-8 for the move counts used here)."""
    return (u32 * np.uint64(n)) >> _U32


@njit(cache=True, inline="always")
def hi32(x):
    return x >> _U32


@njit(cache=True, inline="always")
def lo32(x):
    return x & _MASK32


_TWO_PI = 2.0 * math.pi


@njit(cache=True, inline="always")
def normal_pair(s0, s1, s2, s3):
    """Two independent N(0, 1) draws from one stream by Box-Muller (Box & Muller 1958, "A note on
    the generation of random normal deviates", Ann. Math. Statist. 29, 610): returns
    ``(z0, z1, s0, s1, s2, s3)``.  Uses 1 - u in (0, 1] so the logarithm is finite."""
    x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
    y, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
    r = math.sqrt(-2.0 * math.log(1.0 - to_unit(x)))
    a = _TWO_PI * to_unit(y)
    return r * math.cos(a), r * math.sin(a), s0, s1, s2, s3
