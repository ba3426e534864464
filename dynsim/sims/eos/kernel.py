"""The Numba kernel of the eos family: many runs of one (loss, optimizer) pair in parallel.

Run r uses learning rate ``lrs[r]`` and start ``x0s[r]``; its randomness (the minibatch draw and
the additive gradient noise) comes from its own xoshiro256** stream, whose state is a SplitMix64
hash of (seed, r) (:func:`dynsim.rng.stream_state`), so the result does not depend on the thread
count.  Runs write disjoint rows; nothing is reduced across runs.

Minibatch of quadratics (``batch`` > 0; ``comps`` the N x d rows a_i of a quadratic
L = (1/N) sum_i 1/2 (a_i . w)^2): at each step ``batch`` distinct indices are drawn uniformly
(a partial Fisher-Yates shuffle of a per-run index array, from the run's stream, before the
additive noise of that step), and the step uses g_B = H_B w and H_B = (1/b) sum_{i in B} a_i a_i^T
in place of the full gradient and Hessian (so the Jacobian of SGD is I - lr H_B).  ``loss`` and
the recorded Hessian eigenvalues stay those of the full loss.

At each recorded step t (t >= rec_from) the kernel stores the state *before* the update: the
iterate w_t, L(w_t), the Hessian eigenvalues at w_t (descending), the preconditioned sharpness
lambda_max(P_t^-1/2 H P_t^-1/2) with the P_t applied in the step from w_t, and the Jacobian of that
step.  A run stops when L or w is not finite or |w_i| > ESCAPE; it returns the number of steps whose
state was finite (steps + 1 for a complete run), so it recorded max(0, that - rec_from) rows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from dynsim.rng import normal_pair, stream_state, to_unit, xoshiro_next
from dynsim.sims.eos.losses import loss_grad, loss_hessian
from dynsim.sims.eos.optimizers import ADAM, I_NOISE, I_NU0, RMSPROP, opt_step

ESCAPE = 1e50


@njit(cache=True)
def _one_run(loss_code, lp, opt_code, op, lr, x0, seed, stream, steps, rec_from, want_jac,
             comps, batch, proj, loss, hess_eigs, psharp, jac):
    d = x0.shape[0]
    w = x0.copy()
    s1 = np.zeros(d)
    s2 = np.zeros(d)
    if opt_code == RMSPROP:
        for i in range(d):
            s1[i] = op[I_NU0 + i]
    elif opt_code == ADAM:
        for i in range(d):
            s2[i] = op[I_NU0 + i]
    n_comp = comps.shape[0]
    perm = np.arange(n_comp)
    g = np.empty(d)
    h = np.empty((d, d))
    m = np.empty((d, d))
    pre = np.ones(d)
    slots = jac.shape[2]
    jtmp = np.empty((slots, slots))
    noise = op[I_NOISE]
    a0, a1, a2, a3 = stream_state(seed, stream)
    adaptive = opt_code == RMSPROP or opt_code == ADAM
    for t in range(steps + 1):
        val = loss_grad(loss_code, lp, w, g)
        ok = math.isfinite(val)
        for i in range(d):
            ok = ok and abs(w[i]) <= ESCAPE and math.isfinite(g[i])
        if not ok:
            return t
        loss_hessian(loss_code, lp, w, h)
        rec = t >= rec_from
        row = t - rec_from
        if rec:
            for i in range(d):
                proj[row, i] = w[i]
            loss[row] = val
            vals = np.linalg.eigvalsh(h)
            for i in range(d):
                hess_eigs[row, i] = vals[d - 1 - i]
        if batch > 0:
            for i in range(d):
                g[i] = 0.0
                for j in range(d):
                    h[i, j] = 0.0
            for k in range(batch):                # partial Fisher-Yates: a uniform b-subset
                x, a0, a1, a2, a3 = xoshiro_next(a0, a1, a2, a3)
                pick = k + int(to_unit(x) * (n_comp - k))
                if pick >= n_comp:
                    pick = n_comp - 1
                tmp = perm[k]
                perm[k] = perm[pick]
                perm[pick] = tmp
                c = perm[k]
                aw = 0.0
                for i in range(d):
                    aw += comps[c, i] * w[i]
                for i in range(d):
                    g[i] += comps[c, i] * aw / batch
                    for j in range(d):
                        h[i, j] += comps[c, i] * comps[c, j] / batch
        if noise > 0.0:
            for i in range(0, d, 2):          # two normals per pair of uniforms
                z0, z1, a0, a1, a2, a3 = normal_pair(a0, a1, a2, a3)
                g[i] += noise * z0
                if i + 1 < d:
                    g[i + 1] += noise * z1
        opt_step(opt_code, op, lr, t, w, s1, s2, g, h, pre, jtmp, rec and want_jac)
        if rec:
            if adaptive:
                for i in range(d):
                    for j in range(d):
                        m[i, j] = h[i, j] / math.sqrt(pre[i] * pre[j])
                psharp[row] = np.linalg.eigvalsh(m)[d - 1]
            if want_jac:
                jac[row, :, :] = jtmp
    return steps + 1


@njit(cache=True, parallel=True)
def batch_kernel(loss_code, lp, opt_code, op, lrs, x0s, seed, stream0, steps, rec_from, want_jac,
                 comps, batch, proj, loss, hess_eigs, psharp, jac, done):
    """Runs r = 0..R-1 in parallel (noise stream stream0 + r); output arrays carry the run as
    their first axis; ``done[r]``: the steps run r completed (steps + 1 unless it diverged)."""
    for r in prange(lrs.shape[0]):
        done[r] = _one_run(loss_code, lp, opt_code, op, lrs[r], x0s[r], seed, stream0 + r, steps,
                           rec_from, want_jac, comps, batch, proj[r], loss[r], hess_eigs[r],
                           psharp[r], jac[r])
