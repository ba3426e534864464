"""Public functions of the eos family: validate, seed, run, wrap (one run, or a sweep over lr).

Every single-run function returns a :class:`~dynsim.trace.Trace` with, per step t = 0..steps (the
state before the update from t to t+1):

* ``trajectory`` (T, d): the iterate w_t itself; ``loss`` (T,): L(w_t);
* ``hessian_top`` (T, d): all Hessian eigenvalues at w_t, descending; ``sharpness`` (T,): the top;
* ``precond_sharpness`` (T,): lambda_max(P^-1 H) (rmsprop, adam only);
* ``threshold`` (T,), ``lr`` (T,): the stability threshold of the optimizer's convention
  (``meta['threshold_convention']``) in the units of the sharpness it is compared with, and lr;
* ``jacobian`` (T, k d, k d): the one-step Jacobian of the optimizer map on its whole state
  (k = 1 for gd/sgd: I - lr H, or I - lr H_B for a minibatch of quadratics; 2 for momentum,
  nesterov, ema, rmsprop; 3 for adam), if ``jacobian=True``.

A run whose iterate leaves every bounded set stops there: the trace keeps the finite part and has
status ``diverged``.  ``seed`` drives the gradient noise and, for ``rotated`` quadratics, the
eigenbasis; it is recorded like every argument.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from dynsim.params import (Bool, Choice, Float, Floats, Int, Param, check_params, defaults,
                           entry_point, with_defaults)
from dynsim.rng import make_rng
from dynsim.sims.eos.kernel import batch_kernel
from dynsim.sims.eos.losses import LOSSES, MAX_DEGREE, MAX_DIM, TOY_PARAMS, make_loss
from dynsim.sims.eos.optimizers import ADAPTIVE, OPTIMIZERS, SLOTS, opt_spec, opt_threshold
from dynsim.trace import Timer, Trace, make_trace

MAX_BYTES = 2 * 2**30   # recorded channels of one call
GD_STEPS = {"quadratic": 1000, "minimalist": 3000, "product": 3000}  # default steps, by toy
ADAPTIVE_STEPS = 20000  # default steps of rmsprop / adam: their preconditioner equilibrates slowly


OPT_PARAMS = {
    "opt": Choice(OPTIMIZERS, default="gd", help="Optimizer (momentum = heavy ball)."),
    "lr": TOY_PARAMS["lr"],
    "steps": Int(1, 10**7, help="Steps.", none_means=f"{GD_STEPS['quadratic']} (quadratic), "
                 f"{GD_STEPS['minimalist']} (minimalist, product); {ADAPTIVE_STEPS} for rmsprop "
                 "and adam"),
    "beta": Float(0.0, 1.0, hi_open=True, default=0.9, help="Momentum (momentum, nesterov, ema)."),
    "beta1": Float(0.0, 1.0, hi_open=True, default=0.9, help="Adam: first-moment decay."),
    "beta2": Float(0.0, 1.0, hi_open=True, help="RMSProp / Adam: second-moment decay.",
                   none_means="0.99 / 0.999"),
    "eps": Float(0.0, None, default=1e-8, help="RMSProp / Adam: eps in P."),
    "noise_std": Float(0.0, None, help="Gradient noise SD per coordinate.",
                       none_means="0.1 for sgd, else 0"),
    "freeze_at": Int(0, 10**7, help="RMSProp / Adam: hold the preconditioner fixed from this "
                     "step on.", none_means="never"),
    "nu0": Floats(1, MAX_DIM, default=0.0, help="RMSProp / Adam: initial second moment, one "
                  "number or one per coordinate."),
    "jacobian": Bool(default=True, help="Record the one-step Jacobians (the Lyapunov spectrum)."),
}
QUADRATIC_PARAMS = {
    **OPT_PARAMS, "x0": dataclasses.replace(TOY_PARAMS["x0"], none_means="(1, ..., 1)"),
    "spectrum": TOY_PARAMS["spectrum"], "rotated": TOY_PARAMS["rotated"],
    "minibatch": Int(1, 10**5, help="Quadratic, opt sgd: rows of a minibatch of quadratics drawn "
                     "per step (Jacobian I - lr H_B).", none_means="off (the exact gradient)"),
    "n_quadratics": Int(1, 10**5, help="Quadratic: rank-one quadratics averaging to H.",
                        none_means="max(32, d)")}
DEFAULT_N_QUADRATICS = 32   # rows of a minibatch of quadratics (at least d)
MINIMALIST_PARAMS = {**OPT_PARAMS, "x0": dataclasses.replace(
    TOY_PARAMS["x0"], min_len=2, max_len=4, none_means="(4.0, 0.1) on the slice")}
PRODUCT_PARAMS = {**OPT_PARAMS, "x0": dataclasses.replace(
    TOY_PARAMS["x0"], min_len=2, max_len=MAX_DEGREE, none_means="(5.0, 0.05, ..., 0.05)"),
    "degree": TOY_PARAMS["degree"]}
SCHEMAS = {"quadratic": QUADRATIC_PARAMS, "minimalist": MINIMALIST_PARAMS,
           "product": PRODUCT_PARAMS}
TOY_EXTRAS = ("spectrum", "rotated", "degree", "minibatch", "n_quadratics")
# the starts of minimalist_gd_lr01 and product_degree2_final_sharpness
DEFAULT_X0 = {"minimalist": (4.0, 0.1), "product": (5.0, 0.05)}


def resolve_x0(system: str, x0, dim: int) -> np.ndarray:
    """The start point in R^dim.  Defaults: quadratic (1, ..., 1); minimalist (4.0, 0.1) on the
    slice; product (5.0, 0.05) for degree 2, (5.0, 0.05, ..., 0.05) above.  (x, y) on the slice
    for the minimalist toy becomes (x, y, x, y)."""
    if x0 is None:
        if system == "quadratic":
            return np.ones(dim)
        base = DEFAULT_X0[system]
        x0 = list(base) if system == "minimalist" or dim == 2 else [base[0]] + [base[1]] * (dim - 1)
    x = np.asarray(x0, dtype=float)
    if system == "minimalist" and x.size == 2:
        x = np.array([x[0], x[1], x[0], x[1]])
    if x.size != dim:
        want = "2 (x, y on the slice) or 4" if system == "minimalist" else str(dim)
        raise ValueError(f"`x0` must have {want} numbers for {system}, got {x.size}")
    return x


def _check_bytes(runs: int, rows: int, dim: int, slots: int, jacobian: bool) -> None:
    per = 8 * rows * (3 * dim + 2 + (slots * dim) ** 2 * jacobian)
    if per * runs > MAX_BYTES:
        raise ValueError(f"{runs} run(s) x {rows} recorded steps need {per * runs / 2**30:.1f} GiB "
                         f"(limit {MAX_BYTES / 2**30:.0f} GiB); lower `steps`"
                         + (" or pass `jacobian=False`" if jacobian else ""))


def simulate(loss, opt_code: int, op: np.ndarray, lrs: np.ndarray, x0s: np.ndarray, seed: int,
             steps: int, rec_from: int, jacobian: bool, stream0: int = 0, batch: int = 0) -> dict:
    """Run the batch kernel on runs with noise streams stream0, stream0 + 1, ...: arrays with the
    run as first axis; ``done`` (steps each run completed) and ``rows`` (rows it recorded).
    ``batch`` > 0: a minibatch of that many of ``loss.components`` per step."""
    runs, d = x0s.shape
    comps = loss.components if loss.components is not None else np.zeros((0, d))
    if batch and not 0 < batch <= comps.shape[0]:
        raise ValueError(f"`minibatch` must be in [1, {comps.shape[0]}] (the number of "
                         f"quadratics, `n_quadratics`), got {batch}")
    rows_max = steps + 1 - rec_from
    slots = SLOTS[opt_code] * d
    _check_bytes(runs, rows_max, d, SLOTS[opt_code], jacobian)
    out = {"trajectory": np.full((runs, rows_max, d), np.nan), "loss": np.full((runs, rows_max), np.nan),
           "hessian_top": np.full((runs, rows_max, d), np.nan),
           "precond_sharpness": np.full((runs, rows_max), np.nan),
           "jacobian": np.full((runs, rows_max if jacobian else 0, slots, slots), np.nan),
           "done": np.zeros(runs, dtype=np.int64)}
    batch_kernel(loss.code, loss.params, opt_code, op, np.ascontiguousarray(lrs, dtype=float),
                 np.ascontiguousarray(x0s, dtype=float), int(seed), int(stream0),
                 steps, rec_from, jacobian, np.ascontiguousarray(comps, dtype=float), int(batch),
                 out["trajectory"], out["loss"], out["hessian_top"],
                 out["precond_sharpness"], out["jacobian"], out["done"])
    out["rows"] = np.maximum(out["done"] - rec_from, 0)
    return out


def resolve_defaults(system: str, params: dict) -> dict:
    """``params`` with the defaults that depend on other parameters filled in: ``steps`` left None
    is GD_STEPS[system], or ADAPTIVE_STEPS for rmsprop and adam.  The sweep resolves a run's
    parameters with it too, so a run's id does not depend on whether its file wrote the default."""
    out = dict(params)
    if out.get("steps") is None:
        out["steps"] = ADAPTIVE_STEPS if out.get("opt", "gd") in ("rmsprop", "adam") \
            else GD_STEPS[system]
    return out


def run_toy(system: str, *, seed: int | None = None, **params) -> Trace:
    """One run of an optimizer on toy ``system`` ('quadratic', 'minimalist', 'product'): ``params``
    as that system's entry point takes them, its schema's defaults for the rest.  ``spectrum``,
    ``rotated`` and ``degree`` are ignored by a system they do not belong to (one call serves
    every toy); ``minibatch`` / ``n_quadratics``: SGD on a minibatch of quadratics (quadratic
    only)."""
    if system not in LOSSES:
        raise ValueError(f"`system` must be one of {', '.join(LOSSES)}, got {system!r}")
    schema = SCHEMAS[system]
    minibatch, n_quadratics = params.get("minibatch"), params.get("n_quadratics")
    if system != "quadratic" and (minibatch is not None or n_quadratics is not None):
        raise ValueError(f"`minibatch` and `n_quadratics` apply to the quadratic system only, got "
                         f"`system={system!r}`")
    own = {k: v for k, v in params.items() if k in schema or k not in TOY_EXTRAS}
    p = resolve_defaults(system, check_params(schema, {**defaults(schema), **own}, f"eos.{system}"))
    batch = p.get("minibatch") or 0
    if p.get("n_quadratics") is not None and not batch:
        raise ValueError("`n_quadratics` needs `minibatch` (the rows drawn per step)")
    if batch:
        dim = len(p["spectrum"] or (15.0, 1.0))
        p["n_quadratics"] = p["n_quadratics"] or max(DEFAULT_N_QUADRATICS, dim)
    seed, rng = make_rng(seed)
    loss = make_loss(system, spectrum=p.get("spectrum"), rotated=p.get("rotated", False),
                     degree=p.get("degree", 2), rng=rng,
                     n_quadratics=p.get("n_quadratics") if batch else None)
    x = resolve_x0(system, p["x0"], loss.dim)
    code, op, used = opt_spec(p["opt"], beta=p["beta"], beta1=p["beta1"], beta2=p["beta2"],
                              eps=p["eps"], noise_std=p["noise_std"], freeze_at=p["freeze_at"],
                              nu0=p["nu0"], dim=loss.dim, minibatch=bool(batch))
    p.update(used, x0=[float(v) for v in x])
    thr, conv = opt_threshold(p["opt"], p["lr"], used)
    timer = Timer()
    with timer.phase("simulate"):
        out = simulate(loss, code, op, np.array([p["lr"]]), x[None, :], seed, p["steps"], 0,
                       p["jacobian"], batch=batch)
    rows = int(out["rows"][0])
    eigs = out["hessian_top"][0, :rows]
    channels = {"trajectory": out["trajectory"][0, :rows], "loss": out["loss"][0, :rows],
                "sharpness": eigs[:, 0].copy(), "hessian_top": eigs,
                "threshold": np.full(rows, thr), "lr": np.full(rows, p["lr"])}
    if p["opt"] in ADAPTIVE:
        channels["precond_sharpness"] = out["precond_sharpness"][0, :rows]
    if p["jacobian"]:
        channels["jacobian"] = out["jacobian"][0, :rows]
    status = "ok" if rows == p["steps"] + 1 else "diverged"
    return make_trace(f"eos.{system}", p, seed, channels, status=status, timings=timer.timings,
                      threshold_convention=conv, loss=loss.description)


@entry_point(QUADRATIC_PARAMS)
def quadratic(opt: str, lr: float, steps: int, spectrum, rotated: bool, x0, beta: float,
              beta1: float, beta2: float | None, eps: float, noise_std: float | None,
              freeze_at: int | None, nu0, jacobian: bool, minibatch: int | None,
              n_quadratics: int | None, *, seed: int | None = None) -> Trace:
    """``opt`` on L(w) = 1/2 w^T H w, H = Q diag(spectrum) Q^T (Q = I unless ``rotated``).

    ``minibatch`` = b (with opt='sgd'): the loss is the mean of ``n_quadratics`` = N rank-one
    quadratics 1/2 (a_i . w)^2 with mean a_i a_i^T = H exactly (default N = max(32, d), drawn from
    the seed; :mod:`.losses`), and each step uses the Hessian H_B of b of them drawn without
    replacement from the run's stream: gradient H_B w, Jacobian I - lr H_B (random products).
    ``noise_std`` then defaults to 0 (additive noise on top is allowed).  b = N is GD up to
    rounding.  ``nu0``: one number or one per coordinate (a non-uniform frozen preconditioner).

    Default: spectrum (15, 1), x0 = (1, ..., 1), lr 0.1: sharpness 15 < 2/lr = 20, so GD converges,
    oscillating along the top eigenvector (1 - lr h = -0.5).
    GD diverges exactly for lr > 2 / max(spectrum) (threshold tests in tests/test_eos.py)."""
    return run_toy("quadratic", opt=opt, lr=lr, steps=steps, x0=x0, beta=beta, beta1=beta1,
                   beta2=beta2, eps=eps, noise_std=noise_std, freeze_at=freeze_at, nu0=nu0,
                   jacobian=jacobian, spectrum=spectrum, rotated=rotated, minibatch=minibatch,
                   n_quadratics=n_quadratics, seed=seed)


@entry_point(MINIMALIST_PARAMS)
def minimalist(opt: str, lr: float, steps: int, x0, beta: float, beta1: float,
               beta2: float | None, eps: float, noise_std: float | None, freeze_at: int | None,
               nu0, jacobian: bool, *, seed: int | None = None) -> Trace:
    """``opt`` on Zhu et al.'s minimalist example 1/2 (1 - x y z w)^2 (ICLR 2023), started on the
    slice z = x, w = y: ``x0`` = (x, y) (or a full 4-D point).  ``trajectory`` is 4-D (x, y, z, w) and
    the sharpness is the top eigenvalue of the 4-D Hessian (``zhu_minimalist_sharpness_band``).

    From the default start (4.0, 0.1), GD at lr 0.1 converges inside Zhu et al.'s band
    (2/lr - 20 lr/3, 2/lr); where and at what sharpness is the key ``minimalist_gd_lr01``."""
    return run_toy("minimalist", opt=opt, lr=lr, steps=steps, x0=x0, beta=beta, beta1=beta1,
                   beta2=beta2, eps=eps, noise_std=noise_std, freeze_at=freeze_at, nu0=nu0,
                   jacobian=jacobian, seed=seed)


@entry_point(PRODUCT_PARAMS)
def product(opt: str, lr: float, steps: int, degree: int, x0, beta: float, beta1: float,
            beta2: float | None, eps: float, noise_std: float | None, freeze_at: int | None,
            nu0, jacobian: bool, *, seed: int | None = None) -> Trace:
    """``opt`` on 1/2 (1 - w_1 ... w_degree)^2; degree 2 is 1/2 (1 - x y)^2, the contrast that does
    not settle at 2/lr: from (5, 0.05) (the default) at lr 0.1 GD ends far below 2/lr
    (``product_degree2_final_sharpness``).  A balanced start (a, a) stays balanced and shows period
    doubling past lr = 1 (minimum sharpness 2): see :func:`bifurcation`."""
    return run_toy("product", opt=opt, lr=lr, steps=steps, x0=x0, beta=beta, beta1=beta1,
                   beta2=beta2, eps=eps, noise_std=noise_std, freeze_at=freeze_at, nu0=nu0,
                   jacobian=jacobian, degree=degree, seed=seed)


@dataclasses.dataclass(frozen=True)
class Starts(Param):
    """A list of start points (each a list of numbers; "x,y;x,y" on the command line), at most
    ``max_runs`` of them."""

    max_runs: int = 100_000

    def default_text(self) -> str:
        return "None" if self.default is None else ";".join(
            ",".join(f"{v:g}" for v in row) for row in self.default)

    def allowed(self) -> str:
        return f"a list of 1 to {self.max_runs} start points, each a list of finite numbers"

    def check(self, name: str, value):
        try:
            rows = [[float(v) for v in np.asarray(row, dtype=float).reshape(-1)] for row in value]
        except (TypeError, ValueError):
            raise ValueError(f"`{name}` must be {self.allowed()}, got {value!r}") from None
        if not 1 <= len(rows) <= self.max_runs or any(
                not r or not all(np.isfinite(r)) for r in rows) or len({len(r) for r in rows}) > 1:
            raise ValueError(f"`{name}` must be {self.allowed()} of one length, got {value!r}")
        return rows

    def parse(self, text: str):
        try:
            return [[float(v) for v in part.split(",")] for part in str(text).split(";")]
        except ValueError:
            raise ValueError(f"must be {self.allowed()} (x,y;x,y), got {text!r}") from None


STARTS_PARAMS = {
    "system": TOY_PARAMS["system"],
    "x0s": Starts(default=((4.0, 0.1), (3.5, 0.2), (5.0, 0.05)),
                  help="Start points, each as x0 of the system."),
    **{k: v for k, v in with_defaults(OPT_PARAMS, steps=3000).items() if k != "jacobian"},
    "keep": Int(1, 10**6, default=1, help="Late steps kept per start."),
    **{k: TOY_PARAMS[k] for k in ("spectrum", "rotated", "degree")}}


@entry_point(STARTS_PARAMS)
def starts(system: str, x0s, opt: str, lr: float, steps: int, keep: int, beta: float,
           beta1: float, beta2: float | None, eps: float, noise_std: float | None,
           freeze_at: int | None, nu0, spectrum, rotated: bool, degree: int, *,
           seed: int | None = None) -> Trace:
    """``opt`` on toy ``system`` from many start points at once (one Numba ``prange`` over starts;
    start r uses noise stream r, so start 0 is the single run of :func:`run_toy` with the same
    seed).  Each start is given as for ``x0`` (the minimalist toy takes (x, y) on the slice).
    Channels (R starts, K = ``keep`` last steps): ``starts_x0`` (R, d), ``starts_iterates`` (R, K, d),
    ``starts_loss`` and ``starts_sharpness`` (R, K), ``starts_threshold`` (R,), and
    ``starts_diverged_at`` (R,) (the step a run left every bounded set, -1 if it did not; its rows
    are NaN).  Default: the starts of ``minimalist_gd_lr01`` at lr 0.1 (two converge, one
    diverges)."""
    p = check_params(STARTS_PARAMS, dict(
        system=system, x0s=x0s, opt=opt, lr=lr, steps=steps, keep=keep, beta=beta, beta1=beta1,
        beta2=beta2, eps=eps, noise_std=noise_std, freeze_at=freeze_at, nu0=nu0,
        spectrum=spectrum, rotated=rotated, degree=degree), "eos.starts")
    if p["keep"] > p["steps"] + 1:
        raise ValueError(f"`keep` must be <= `steps` + 1 = {p['steps'] + 1}, got {p['keep']}")
    seed, rng = make_rng(seed)
    loss = make_loss(p["system"], spectrum=p["spectrum"], rotated=p["rotated"],
                     degree=p["degree"], rng=rng)
    x = np.array([resolve_x0(p["system"], row, loss.dim) for row in p["x0s"]])
    code, op, used = opt_spec(p["opt"], beta=p["beta"], beta1=p["beta1"], beta2=p["beta2"],
                              eps=p["eps"], noise_std=p["noise_std"], freeze_at=p["freeze_at"],
                              nu0=p["nu0"], dim=loss.dim)
    p.update(used, x0s=x.tolist())
    thr, conv = opt_threshold(p["opt"], p["lr"], used)
    rec_from = p["steps"] + 1 - p["keep"]
    timer = Timer()
    with timer.phase("simulate"):
        out = simulate(loss, code, op, np.full(x.shape[0], p["lr"]), x, seed, p["steps"],
                       rec_from, False)
    done = out["done"]
    diverged = np.where(done < p["steps"] + 1, done, -1)
    full = diverged < 0
    ch = {"starts_x0": x,
          "starts_iterates": np.where(full[:, None, None], out["trajectory"], np.nan),
          "starts_loss": np.where(full[:, None], out["loss"], np.nan),
          "starts_sharpness": np.where(full[:, None], out["hessian_top"][:, :, 0], np.nan),
          "starts_threshold": np.full(x.shape[0], thr), "starts_diverged_at": diverged}
    return make_trace("eos.starts", p, seed, ch, timings=timer.timings,
                      threshold_convention=conv, loss=loss.description)


for _name, _fn in (("quadratic", quadratic), ("minimalist", minimalist), ("product", product)):
    _fn.resolve_defaults = functools.partial(resolve_defaults, _name)
del _name, _fn
