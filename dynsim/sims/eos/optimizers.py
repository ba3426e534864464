"""Optimizers as iteration maps, chosen by name; Numba sees an integer code and a flat array.

Each map acts on a state (w, s1, s2) and returns its one-step Jacobian, a (slots d) x (slots d)
matrix in the slot order below.  g = grad L(w) (+ noise for ``sgd``), H = Hessian of L at w,
t = 0, 1, ... the step.  Thresholds (the sharpness above which the map is unstable on a quadratic)
and their conventions come from :mod:`dynsim.analysis.stability` (keys ``eos_threshold_*``).

=============  ===========================================================  ======  =================
name           update (PyTorch forms, no weight decay)                      slots   threshold conv.
=============  ===========================================================  ======  =================
gd             w' = w - lr g;                 J = I - lr H                   w       gd: 2/lr
sgd            as gd with g + noise_std xi, xi ~ N(0, I) per step           w       gd: 2/lr
momentum       v' = beta v + g, w' = w - lr v' (heavy ball)                 w, v    heavy_ball
nesterov       v' = beta v + g, w' = w - lr (g + beta v')                   w, v    nesterov
ema            v' = beta v + (1 - beta) g, w' = w - lr v'                    w, v    ema_momentum
rmsprop        nu' = beta2 nu + (1 - beta2) g^2, w' = w - lr g / P,          w, nu   rmsprop_precond
               P = sqrt(nu') + eps
adam           m' = beta1 m + (1 - beta1) g, nu' as rmsprop,                 w, m,   adam_precond
               w' = w - lr (m'/c1) / P,  P = sqrt(nu'/c2) + eps,             nu
               c1 = 1 - beta1^(t+1), c2 = 1 - beta2^(t+1) (bias correction)
=============  ===========================================================  ======  =================

Jacobians: momentum [[I - lr H, -lr beta I], [H, beta I]]; nesterov [[I - lr (1 + beta) H,
-lr beta^2 I], [H, beta I]]; ema [[I - lr (1 - beta) H, -lr beta I], [(1 - beta) H, beta I]];
rmsprop and adam by the chain rule through nu' (d nu'_i / d w = 2 (1 - beta2) g_i H_i. and
d P_i / d nu'_i = 1 / (2 c2 sqrt(nu'_i / c2)), taken as 0 where nu'_i = 0).

Preconditioner (RMSProp, Adam; Cohen et al. 2022, arXiv 2207.14484): P = diag(sqrt(nu') + eps)
(Adam: of the bias-corrected nu'), the one applied in the step from w_t.  The preconditioned
sharpness is lambda_max(P^-1 H), compared with 2/lr (RMSProp) or (2 + 2 beta1)/((1 - beta1) lr)
(Adam).  ``freeze_at`` = k >= 0 holds P fixed from step k on (nu no longer updated): at
P = sqrt(nu0) + eps for k = 0, else at the P of step k - 1.  With P frozen, RMSProp is GD with
lr P^-1 and Adam is EMA momentum with lr P^-1 (up to the bias correction of m, which tends to 1),
so their thresholds are exact there; with P adapting they never diverge on a quadratic
(``rmsprop_quadratic_precond_ratio``, ``adam_quadratic_precond_ratio``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dynsim.analysis.stability import threshold as stability_threshold

GD, MOMENTUM, NESTEROV, EMA, RMSPROP, ADAM = 0, 1, 2, 3, 4, 5
OPTIMIZERS = ("gd", "sgd", "momentum", "nesterov", "ema", "rmsprop", "adam")
CODES = {"gd": GD, "sgd": GD, "momentum": MOMENTUM, "nesterov": NESTEROV, "ema": EMA,
         "rmsprop": RMSPROP, "adam": ADAM}
SLOTS = {GD: 1, MOMENTUM: 2, NESTEROV: 2, EMA: 2, RMSPROP: 2, ADAM: 3}
CONVENTIONS = {"gd": "gd", "sgd": "gd", "momentum": "heavy_ball", "nesterov": "nesterov",
               "ema": "ema_momentum", "rmsprop": "rmsprop_precond", "adam": "adam_precond"}
ADAPTIVE = ("rmsprop", "adam")
DEFAULT_BETA2 = {"rmsprop": 0.99, "adam": 0.999}
DEFAULT_NOISE = 0.1  # sgd: noise_std when not given (additive noise model)
MAX_NU0 = 64         # a scalar nu0 is repeated to this many coordinates (MAX_DIM of losses.py)
# flat parameter array layout
I_BETA, I_BETA1, I_BETA2, I_EPS, I_NOISE, I_FREEZE, I_NU0 = range(7)


def opt_spec(opt: str, *, beta: float, beta1: float, beta2: float | None, eps: float,
             noise_std: float | None, freeze_at: int | None, nu0, dim: int | None = None,
             minibatch: bool = False) -> tuple[int, np.ndarray, dict]:
    """(code, flat parameter array, the values used) for a validated optimizer name.

    ``nu0`` (RMSProp / Adam initial second moment) is one number or one per coordinate (``dim``
    of them; a number is repeated, to ``dim`` or MAX_NU0 entries).  ``minibatch``: SGD's noise
    comes from a minibatch of quadratics, so its additive noise defaults to 0 (and may be 0)."""
    if opt not in CODES:
        raise ValueError(f"`opt` must be one of {', '.join(OPTIMIZERS)}, got {opt!r}")
    if minibatch and opt != "sgd":
        raise ValueError(f"a minibatch of quadratics is an SGD noise model: use `opt='sgd'`, "
                         f"got `opt={opt!r}`")
    if beta2 is None:
        beta2 = DEFAULT_BETA2.get(opt, 0.99)
    if noise_std is None:
        noise_std = DEFAULT_NOISE if opt == "sgd" and not minibatch else 0.0
    if opt == "sgd" and not minibatch and not noise_std > 0:
        raise ValueError(f"`noise_std` must be > 0 for `opt='sgd'` without a `minibatch` (use "
                         f"`opt='gd'` for no noise), got {noise_std!r}")
    nu = np.asarray(nu0, dtype=float).reshape(-1)
    if nu.size == 0 or not np.all(np.isfinite(nu)) or np.any(nu < 0):
        raise ValueError(f"`nu0` must be one number >= 0 or one per coordinate, got {nu0!r}")
    if nu.size == 1:
        nu = np.full(dim or MAX_NU0, nu[0])
    elif dim is not None and nu.size != dim:
        raise ValueError(f"`nu0` must have 1 or {dim} entries (one per coordinate), got {nu.size}")
    nu0 = float(nu[0]) if np.all(nu == nu[0]) and np.asarray(nu0).size == 1 else \
        [float(v) for v in nu]
    if freeze_at is not None and opt not in ADAPTIVE:
        raise ValueError(f"`freeze_at` applies to rmsprop and adam only, got `opt={opt!r}`")
    used = {"beta": beta, "beta1": beta1, "beta2": beta2, "eps": eps, "noise_std": noise_std,
            "freeze_at": freeze_at, "nu0": nu0}
    arr = np.concatenate([np.array([beta, beta1, beta2, eps, noise_std,
                                    -1.0 if freeze_at is None else freeze_at], dtype=float), nu])
    return CODES[opt], arr, used


def opt_threshold(opt: str, lr: float, used: dict) -> tuple[float, str]:
    """(threshold in the units of the compared sharpness, convention) for optimizer ``opt``."""
    conv = CONVENTIONS[opt]
    beta = used["beta1"] if opt == "adam" else used["beta"]
    return stability_threshold(conv, lr, beta=beta), conv


# ---------------------------------------------------------------------------------------------
# kernel


@njit(cache=True)
def opt_step(code, op, lr, t, w, s1, s2, g, h, pre, jac, want_jac):
    """One step of optimizer ``code`` in place on (w, s1, s2); fills ``pre`` with the diagonal
    preconditioner used (ones for non-adaptive maps) and, if ``want_jac``, ``jac`` with the
    one-step Jacobian of the whole state."""
    d = w.shape[0]
    beta, beta1, beta2, eps = op[I_BETA], op[I_BETA1], op[I_BETA2], op[I_EPS]
    frozen = op[I_FREEZE] >= 0.0 and t >= op[I_FREEZE]
    if want_jac:
        jac[:, :] = 0.0
    if code == GD:
        if want_jac:
            for i in range(d):
                for j in range(d):
                    jac[i, j] = (1.0 if i == j else 0.0) - lr * h[i, j]
        for i in range(d):
            pre[i] = 1.0
            w[i] -= lr * g[i]
        return
    if code == MOMENTUM or code == NESTEROV or code == EMA:
        gain = 1.0 - beta if code == EMA else 1.0          # v' = beta v + gain g
        if want_jac:
            hw = lr * (1.0 + beta) if code == NESTEROV else lr * gain   # -d w'/d w = hw H
            vw = -lr * beta * beta if code == NESTEROV else -lr * beta   # d w'/d v
            for i in range(d):
                for j in range(d):
                    jac[i, j] = (1.0 if i == j else 0.0) - hw * h[i, j]
                    jac[d + i, j] = gain * h[i, j]
                jac[i, d + i] = vw
                jac[d + i, d + i] = beta
        for i in range(d):
            pre[i] = 1.0
            s1[i] = beta * s1[i] + gain * g[i]
            if code == NESTEROV:
                w[i] -= lr * (g[i] + beta * s1[i])
            else:
                w[i] -= lr * s1[i]
        return
    # adaptive: RMSProp (s1 = nu) or Adam (s1 = m, s2 = nu)
    nu = s1 if code == RMSPROP else s2
    c1 = 1.0 - beta1 ** (t + 1) if code == ADAM else 1.0
    c2 = 1.0 - beta2 ** (t + 1) if code == ADAM else 1.0
    for i in range(d):
        if not frozen:
            nu[i] = beta2 * nu[i] + (1.0 - beta2) * g[i] * g[i]
            pre[i] = math.sqrt(nu[i] / c2) + eps
        elif t == op[I_FREEZE] and t == 0:
            pre[i] = math.sqrt(op[I_NU0 + i]) + eps
        # else: pre holds the frozen value from the previous step
    if code == ADAM:
        for i in range(d):
            s1[i] = beta1 * s1[i] + (1.0 - beta1) * g[i]
    if want_jac:
        nb = d if code == RMSPROP else 2 * d                 # offset of the nu block
        for i in range(d):
            num = g[i] if code == RMSPROP else s1[i] / c1    # w' = w - lr num / pre
            ds = 0.0                                         # d pre_i / d nu'_i
            if not frozen and nu[i] > 0.0:
                ds = 0.5 / (c2 * math.sqrt(nu[i] / c2))
            for j in range(d):
                dnu = 0.0 if frozen else 2.0 * (1.0 - beta2) * g[i] * h[i, j]
                dnum = h[i, j] if code == RMSPROP else (1.0 - beta1) * h[i, j] / c1
                jac[i, j] = (1.0 if i == j else 0.0) - lr * (dnum / pre[i]
                                                             - num / pre[i] ** 2 * ds * dnu)
                jac[nb + i, j] = dnu
            jac[nb + i, nb + i] = 1.0 if frozen else beta2
            jac[i, nb + i] = lr * num / pre[i] ** 2 * ds * (0.0 if frozen else beta2)
            if code == ADAM:
                for j in range(d):
                    jac[d + i, j] = (1.0 - beta1) * h[i, j]
                jac[d + i, d + i] = beta1
                jac[i, d + i] = -lr * beta1 / c1 / pre[i]
    for i in range(d):
        num = g[i] if code == RMSPROP else s1[i] / c1
        w[i] -= lr * num / pre[i]
