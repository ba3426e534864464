"""Numba kernels of the random-walk family.

Pure loops: arrays in, preallocated outputs filled, no allocation inside the step loop, no global
RNG.  Walker ``first + w`` draws from its own xoshiro256** stream ``stream_state(seed, first + w)``,
so the numbers do not depend on how walkers are split into chunks or threads.
"""

from __future__ import annotations


import numpy as np
from numba import njit, prange

from dynsim.rng import below, hi32, lo32, normal_pair, stream_state, to_unit, xoshiro_next

@njit(cache=True, inline="always")
def _lattice_move(t, spare, twod, s0, s1, s2, s3):
    """Move index in [0, 2d) for step t: odd steps draw 64 bits and keep the low half for the next.
    Returns (move, spare, state); the move is axis = move >> 1, sign = 2 (move & 1) - 1."""
    if t & 1:
        x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        u = hi32(x)
        spare = lo32(x)
    else:
        u = spare
    return np.int64(below(u, twod)), spare, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _record(pos, w, k, r2, r2_out, c2_out, linf_out):
    """Write walker w's |X|^2, x_1^2 and max_i |x_i| into record slot k."""
    linf = abs(pos[w, 0])
    for i in range(1, pos.shape[1]):
        linf = max(linf, abs(pos[w, i]))
    r2_out[w, k] = r2
    c2_out[w, k] = pos[w, 0] * pos[w, 0]
    linf_out[w, k] = linf


@njit(cache=True, parallel=True)
def lattice_distance_kernel(seed, first, rec_steps, pos, r2_out, c2_out, linf_out, ret_out):
    """Simple random walk on Z^d (each step: axis uniform in d, then +-1: 2d equally likely moves).

    pos: (W, d) int64 zeros, the walkers' positions (updated in place).
    rec_steps: (R,) increasing steps n >= 1; the last is the number of steps.
    r2_out, c2_out, linf_out: (W, R) float64: |X_n|^2, x_1(n)^2 and max_i |x_i(n)| at rec_steps.
    ret_out: (W,) int64: first n with X_n = 0, or 0 if none.
    """
    n_walkers, d = pos.shape
    steps = rec_steps[-1]
    twod = 2 * d
    for w in prange(n_walkers):
        s0, s1, s2, s3 = stream_state(seed, first + w)
        r2 = 0
        ret = 0
        k = 0
        nxt = rec_steps[0]
        spare = np.uint64(0)
        for t in range(1, steps + 1):
            m, spare, s0, s1, s2, s3 = _lattice_move(t, spare, twod, s0, s1, s2, s3)
            axis = m >> 1
            sign = 2 * (m & 1) - 1
            p = pos[w, axis]
            r2 += 2 * sign * p + 1
            pos[w, axis] = p + sign
            if r2 == 0 and ret == 0:
                ret = t
            if t == nxt:
                _record(pos, w, k, r2, r2_out, c2_out, linf_out)
                k += 1
                if k < rec_steps.shape[0]:
                    nxt = rec_steps[k]
        ret_out[w] = ret


@njit(cache=True, parallel=True)
def gaussian_distance_kernel(seed, first, step_std, rec_steps, pos, r2_out, c2_out, linf_out):
    """Gaussian walk in R^d, steps N(0, step_std^2 I); same outputs as the lattice kernel."""
    n_walkers, d = pos.shape
    steps = rec_steps[-1]
    for w in prange(n_walkers):
        s0, s1, s2, s3 = stream_state(seed, first + w)
        k = 0
        nxt = rec_steps[0]
        for t in range(1, steps + 1):
            for i in range(0, d, 2):
                g0, g1, s0, s1, s2, s3 = normal_pair(s0, s1, s2, s3)
                pos[w, i] += step_std * g0
                if i + 1 < d:
                    pos[w, i + 1] += step_std * g1
            if t == nxt:
                r2 = 0.0
                for i in range(d):
                    r2 += pos[w, i] * pos[w, i]
                _record(pos, w, k, r2, r2_out, c2_out, linf_out)
                k += 1
                if k < rec_steps.shape[0]:
                    nxt = rec_steps[k]


@njit(cache=True, parallel=True)
def lattice_paths_kernel(seed, first, out):
    """Whole trajectories X_0 = 0, ..., X_n of lattice walks; out: (W, n + 1, d) float64 zeros."""
    n_walkers, n1, d = out.shape
    twod = 2 * d
    for w in prange(n_walkers):
        s0, s1, s2, s3 = stream_state(seed, first + w)
        spare = np.uint64(0)
        for t in range(1, n1):
            m, spare, s0, s1, s2, s3 = _lattice_move(t, spare, twod, s0, s1, s2, s3)
            for i in range(d):
                out[w, t, i] = out[w, t - 1, i]
            out[w, t, m >> 1] += 2 * (m & 1) - 1


@njit(cache=True, parallel=True)
def gaussian_paths_kernel(seed, first, step_std, out):
    """Whole trajectories of Gaussian walks (steps N(0, step_std^2 I)); out: (W, n + 1, d) zeros."""
    n_walkers, n1, d = out.shape
    for w in prange(n_walkers):
        s0, s1, s2, s3 = stream_state(seed, first + w)
        for t in range(1, n1):
            for i in range(0, d, 2):
                g0, g1, s0, s1, s2, s3 = normal_pair(s0, s1, s2, s3)
                out[w, t, i] = out[w, t - 1, i] + step_std * g0
                if i + 1 < d:
                    out[w, t, i + 1] = out[w, t - 1, i + 1] + step_std * g1


@njit(cache=True, parallel=True)
def gaussian_vectors_kernel(seed, first, out):
    """Rows of ``out`` (n, d) filled with independent N(0, 1) entries."""
    n, d = out.shape
    for v in prange(n):
        s0, s1, s2, s3 = stream_state(seed, first + v)
        for i in range(0, d, 2):
            g0, g1, s0, s1, s2, s3 = normal_pair(s0, s1, s2, s3)
            out[v, i] = g0
            if i + 1 < d:
                out[v, i + 1] = g1


@njit(cache=True, parallel=True)
def uniform_field_kernel(seed, first, levels, field):
    """i.i.d. field values: U(0, 1) when levels == 0, else uniform on {1, ..., levels}."""
    for i in prange(field.shape[0]):
        s0, s1, s2, s3 = stream_state(seed, first + i)
        x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
        if levels == 0:
            field[i] = to_unit(x)
        else:
            field[i] = np.float64(below(hi32(x), levels)) + 1.0


@njit(cache=True, inline="always")
def _neighbour(i, axis, step, side, stride):
    """Index of the site one step (+1 or -1) along ``axis`` of the periodic lattice."""
    c = (i // stride) % side
    return i + (((c + step) % side) - c) * stride


@njit(cache=True, parallel=True)
def smooth_field_kernel(field, side, d, out):
    """One smoothing pass: each site becomes the mean of itself and its 2d neighbours."""
    for i in prange(field.shape[0]):
        acc = field[i]
        stride = 1
        for axis in range(d):
            acc += field[_neighbour(i, axis, 1, side, stride)]
            acc += field[_neighbour(i, axis, -1, side, stride)]
            stride *= side
        out[i] = acc / (2 * d + 1)


@njit(cache=True, parallel=True)
def count_peaks_kernel(field, side, d, both_sides, top):
    """Number of strict local maxima: sites higher than every neighbour (both +-1 along each axis
    when ``both_sides``, else only the +1 one), and equal to ``top`` when ``top`` > 0."""
    count = 0
    for i in prange(field.shape[0]):
        v = field[i]
        ok = top <= 0 or v == top
        stride = 1
        for axis in range(d):
            if not ok:
                break
            if field[_neighbour(i, axis, 1, side, stride)] >= v:
                ok = False
            elif both_sides and field[_neighbour(i, axis, -1, side, stride)] >= v:
                ok = False
            stride *= side
        if ok:
            count += 1
    return count
