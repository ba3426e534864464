"""``dynsim eos``: edge-of-stability toys (run, bifurcation, flows)."""

from __future__ import annotations

import math

import click

from dynsim.cli.base import (DynsimGroup, check_outputs, emit, output_options, progress_bar,
                             save_figure)
from dynsim.cli.base import option
from dynsim.params import Float, Int
from dynsim.sims.eos.bifurcation import BIFURCATION_PARAMS as BP
from dynsim.sims.eos.losses import TOY_PARAMS
from dynsim.sims.eos.systems import OPT_PARAMS as OP, PRODUCT_PARAMS, QUADRATIC_PARAMS
from dynsim.sims.flows import CENTRAL_PARAMS, EDGE_TOL, EDGE_WINDOW


def loss_options(f):
    """--x0, --spectrum, --rotated, --degree: the toy's own parameters."""
    for deco in reversed([
        option("--x0", "x0", TOY_PARAMS["x0"]),
        option("--spectrum", "spectrum", QUADRATIC_PARAMS["spectrum"], default=None),
        click.option("--rotated", is_flag=True,
                     help="Quadratic: rotate the eigenbasis (Haar, from the seed)."),
        option("--degree", "degree", PRODUCT_PARAMS["degree"], default=None),
    ]):
        f = deco(f)
    return f


def minibatch_options(f):
    """--minibatch, --n-quadratics: SGD on a minibatch of quadratics (quadratic only)."""
    for deco in reversed([
        option("--minibatch", "minibatch", QUADRATIC_PARAMS["minibatch"]),
        option("--n-quadratics", "n_quadratics", QUADRATIC_PARAMS["n_quadratics"]),
    ]):
        f = deco(f)
    return f


def opt_options(f):
    for deco in reversed([
        option("--beta", "beta", OP["beta"]),
        option("--beta1", "beta1", OP["beta1"]),
        option("--beta2", "beta2", OP["beta2"]),
        option("--eps", "eps", OP["eps"]),
        option("--noise-std", "noise_std", OP["noise_std"]),
    ]):
        f = deco(f)
    return f


def _toy_params(system, x0, spectrum, rotated, degree) -> dict:
    """The toy's own parameters; refuse those that belong to another system."""
    if system != "quadratic" and (spectrum is not None or rotated):
        raise ValueError("--spectrum and --rotated apply to --system quadratic only")
    if system != "product" and degree is not None:
        raise ValueError("--degree applies to --system product only")
    out = {"x0": x0}
    if system == "quadratic":
        out.update(rotated=rotated, **({} if spectrum is None else {"spectrum": spectrum}))
    if system == "product" and degree is not None:
        out["degree"] = degree
    return out


ADAPTIVE_STEPS = 20000   # default steps for rmsprop / adam


def _fmt_estimate(e) -> str:
    """An estimate as a line; one without a standard error is printed as a value or a bound, not
    as '± nan 95% [nan, nan]'."""
    if math.isfinite(e.stderr):
        return str(e)
    lo, hi = e.ci
    note = e.data.get("note") if isinstance(getattr(e, "data", None), dict) else None
    if getattr(e, "bound", None) == "lower":
        body = f">= {e.value:.6g} (at most {hi:.6g})" if math.isfinite(hi) else f">= {e.value:.6g}"
    else:
        body = f"{e.value:.6g} (no standard error"
        if isinstance(e.data, dict) and e.data.get("j") is not None \
                and e.data.get("j") == e.data.get("d"):
            body += ": every partial sum of exponents is >= 0, so the value is d"
        body += ")"
    return f"{body}  n={e.n}  ({e.method}{'; ' + note if note else ''})"


def _registry_run(name: str, label: str, **params):
    from dynsim import registry

    with progress_bar(label) as progress:
        return registry.run(name, progress=progress, **params)


@click.group(cls=DynsimGroup)
def eos():
    """Edge of stability: toy losses, optimizers as maps, the central flow, chaos in GD.

    Thresholds by convention (REFERENCES.md items 3, 15): GD 2/lr, heavy ball (2+2b)/lr, Nesterov
    (2+2b)/((1+2b) lr), EMA momentum (2+2b)/((1-b) lr), RMSProp 2/lr and Adam (2+2b1)/((1-b1) lr)
    on the preconditioned sharpness.
    """


@eos.command()
@option("--system", "system", TOY_PARAMS["system"])
@option("--opt", "opt", OP["opt"])
@option("--lr", "lr", OP["lr"])
@option("--steps", "steps", OP["steps"], default=None, show_default=False,
        help=f"Steps [default: {ADAPTIVE_STEPS} for rmsprop / adam (their preconditioner "
             "equilibrates slowly), else 1000 quadratic, 3000 otherwise].")
@loss_options
@minibatch_options
@opt_options
@option("--freeze-at", "freeze_at", OP["freeze_at"])
@option("--nu0", "nu0", OP["nu0"])
@click.option("--no-jacobian", is_flag=True, help="Do not record Jacobians (no Lyapunov spectrum).")
@output_options
def run(system, opt, lr, steps, x0, spectrum, rotated, degree, minibatch, n_quadratics, beta,
        beta1, beta2, eps, noise_std, freeze_at, nu0, no_jacobian, seed, as_json, out, force,
        plot):
    """One optimizer run on a toy: threshold, verdict, sharpness ratio and dimension estimates."""
    from dynsim.analysis.orbits import run_dimensions, sharpness_summary
    from dynsim.analysis.stability import stability
    from dynsim.plots.eos import plot_run
    from dynsim.trace import save_run

    check_outputs(out, force, plot)
    if system != "quadratic" and (minibatch is not None or n_quadratics is not None):
        raise ValueError("--minibatch and --n-quadratics apply to --system quadratic only")
    params = dict(opt=opt, lr=lr, beta=beta, beta1=beta1, beta2=beta2, eps=eps,
                  noise_std=noise_std, freeze_at=freeze_at, jacobian=not no_jacobian,
                  **_toy_params(system, x0, spectrum, rotated, degree))
    if nu0 is not None:
        params["nu0"] = nu0
    if minibatch is not None:
        params["minibatch"] = minibatch
    if n_quadratics is not None:
        params["n_quadratics"] = n_quadratics
    if steps is not None:
        params["steps"] = steps
    elif opt in ("rmsprop", "adam"):
        params["steps"] = ADAPTIVE_STEPS
    trace = _registry_run(f"eos.{system}", "running", seed=seed, **params)
    stab = stability(trace)
    sharp = sharpness_summary(trace)
    # an unbounded orbit has no attractor: no dimension is reported for a diverged run
    dims = {} if stab.verdict == "diverged" else run_dimensions(trace)
    conv = trace.meta["threshold_convention"]
    thr = float(trace["threshold"][0])
    p = trace.params
    rows = [f"{trace.system}  seed={trace.seed}  opt={p['opt']}  lr={p['lr']:g}  "
            f"steps={p['steps']}  status={trace.meta['status']}  x0={p['x0']}",
            f"{'threshold':<20} {thr:.6g} ({conv})",
            f"{'sharpness':<20} start {sharp.data['start']:.6g}, final {sharp.data['final']:.6g}, "
            f"late median {sharp.value:.6g} ± {sharp.stderr:.2g}",
            f"{'stability':<20} {stab}"]
    for name in ("lyapunov", "kaplan_yorke", "sharpness_dimension"):
        if name in dims:
            shown = dims[name] if name == "lyapunov" else _fmt_estimate(dims[name])
            rows.append(f"{name:<20} {shown}")
    if p["opt"] in ("rmsprop", "adam") and p["steps"] < ADAPTIVE_STEPS \
            and stab.verdict != "diverged":
        rows.append(f"{'note':<20} {p['opt']}'s preconditioner adapts on ~1/(1 - beta2) = "
                    f"{1 / (1 - p['beta2']):.0f} steps and reaches its threshold slowly (Adam on "
                    f"the default quadratic: ratio 0.045 at 1000 steps, 0.34 at 5000, 0.97 at "
                    f"20000): a 'converged' verdict this early may only mean not yet equilibrated")
    if p.get("minibatch"):
        rows.append(f"{'minibatch':<20} {p['minibatch']} of {p['n_quadratics']} quadratics per "
                    f"step (Jacobian I - lr H_B: the Lyapunov spectrum is of random products); "
                    f"sharpness and threshold are the full loss's")
    if stab.verdict == "diverged":
        rows.append(f"{'dimensions':<20} - (the run diverged: there is no attractor to measure)")
    elif "sharpness_dimension" not in dims:
        rows.append(f"{'sharpness_dimension':<20} - (not measured: it needs the update "
                    f"Jacobians (drop --no-jacobian) or Hessian eigenvalues, a constant lr and "
                    f"a long enough stationary window)")
    if out is not None:
        rows.append(f"run folder: {out}")
    payload = {"system": trace.system, "params": p, "seed": trace.seed,
               "status": trace.meta["status"], "threshold": thr, "threshold_convention": conv,
               "sharpness_start": sharp.data["start"], "sharpness_final": sharp.data["final"],
               "sharpness": sharp, "stability": stab, "out": out}
    if "lyapunov" in dims:
        spec = dims["lyapunov"]
        payload["lyapunov"] = {"exponents": spec.exponents, "stderr": spec.stderr,
                               "n_steps": spec.n_steps, "blocks": spec.blocks,
                               "transient": spec.transient, "method": spec.method}
    for name in ("kaplan_yorke", "sharpness_dimension"):
        if name in dims:
            payload[name] = dims[name]
    if "sharpness_exponents" in dims:
        payload["sharpness_exponents"] = dims["sharpness_exponents"].exponents
    emit(as_json, payload, "\n".join(rows))
    if out is not None:
        save_run(trace, out, force=force)
    if plot is not None:
        save_figure(plot_run(trace, stab), plot)


@eos.command()
@option("--system", "system", BP["system"])
@option("--opt", "opt", BP["opt"])
@option("--lr-min", "lr_min", BP["lr_min"])
@option("--lr-max", "lr_max", BP["lr_max"])
@option("--n-lr", "n_lr", BP["n_lr"])
@option("--steps", "steps", BP["steps"])
@option("--keep", "keep", BP["keep"])
@loss_options
@opt_options
@output_options
def bifurcation(system, opt, lr_min, lr_max, n_lr, steps, keep, x0, spectrum, rotated, degree,
                beta, beta1, beta2, eps, noise_std, seed, as_json, out, force, plot):
    """Late iterates against lr (period doubling into chaos), largest Lyapunov exponent under it.

    Default: 1/2 (1 - xy)^2 from the balanced point (0.5, 0.5), lr 0.8-2.0 (stable below lr = 1,
    where 2/lr meets the balanced minimum's sharpness 2)."""
    import numpy as np

    from dynsim.analysis.orbits import bifurcation_summary, is_growing, orbit_period, orbit_state
    from dynsim.plots.eos import plot_bifurcation
    from dynsim.trace import save_run

    check_outputs(out, force, plot)
    params = dict(system=system, opt=opt, lr_min=lr_min, lr_max=lr_max, n_lr=n_lr, steps=steps,
                  keep=keep, beta=beta, beta1=beta1, beta2=beta2, eps=eps, noise_std=noise_std,
                  **_toy_params(system, x0, spectrum, rotated, degree))
    trace = _registry_run("eos.bifurcation", "learning rates", seed=seed, **params)
    lrs, lam = trace["bifurcation_lr"], trace["bifurcation_lyapunov"][:, 0]
    se, div = trace["bifurcation_lyapunov_se"][:, 0], trace["bifurcation_diverged_at"].copy()
    growing = np.array([div[i] < 0 and is_growing(trace["bifurcation_proj"][i])
                        for i in range(lrs.size)])
    periods = [orbit_period(trace["bifurcation_proj"][i]) if div[i] < 0 else -1
               for i in range(lrs.size)]
    show = np.unique(np.linspace(0, lrs.size - 1, min(lrs.size, 21)).round().astype(int))
    rows = [f"eos.bifurcation  system={system}  opt={opt}  seed={trace.seed}  "
            f"x0={trace.params['x0']}  {trace.params['steps']} steps, last {keep} kept",
            f"{'lr':>10} {'period':>8} {'lambda_1':>10} {'± SE':>8}  state"]
    for i in show:
        if div[i] >= 0:
            rows.append(f"{lrs[i]:>10.4g} {'-':>8} {'-':>10} {'-':>8}  diverged at step {div[i]}")
            continue
        per = "none" if periods[i] == 0 else str(periods[i])
        state = orbit_state(trace["bifurcation_proj"][i], lam[i], se[i], periods[i])
        rows.append(f"{lrs[i]:>10.4g} {per:>8} {lam[i]:>10.4g} {se[i]:>8.2g}  {state}")
    summary = None
    div_or_growing = np.where(growing, 0, div)  # a growing orbit counts as diverged
    if np.any((div_or_growing < 0) & np.isfinite(lam)):
        summary = bifurcation_summary(lrs, lam, se, div_or_growing)
        onset = summary.data["chaos_onset_lr"]
        rows.append(f"largest exponent {summary.value:.4g} ± {summary.stderr:.2g} at lr "
                    f"{summary.data['lr_at_max']:.4g}; onset of chaos (lambda_1 > 3 SE): "
                    + ("none in this range" if onset is None else f"lr = {onset:.4g}"))
    if out is not None:
        rows.append(f"run folder: {out}")
    payload = {"system": trace.system, "params": trace.params, "seed": trace.seed,
               "threshold_convention": trace.meta["threshold_convention"], "lr": lrs,
               "period": periods, "lyapunov_1": lam, "lyapunov_1_se": se, "diverged_at": div,
               "summary": summary, "out": out}
    emit(as_json, payload, "\n".join(rows))
    if out is not None:
        save_run(trace, out, force=force)
    if plot is not None:
        save_figure(plot_bifurcation(trace), plot)


@eos.command()
@option("--system", "system", CENTRAL_PARAMS["system"], help="Toy loss (not quadratic: there "
        "the central flow is gradient flow).")
@option("--lr", "lr", CENTRAL_PARAMS["lr"], help="Learning rate of GD.")
@option("--steps", "steps", CENTRAL_PARAMS["steps"], help="Steps (flow time).")
@loss_options
@option("--tau", "tau", CENTRAL_PARAMS["tau"])
@option("--method", "method", CENTRAL_PARAMS["method"])
@option("--max-evals", "max_evals", CENTRAL_PARAMS["max_evals"])
@option("--average", "average", Int(1, 10**6), default=10, help="GD time average, in steps.")
@option("--edge-tol", "edge_tol", Float(0.0, 1.0, lo_open=True, hi_open=True), default=EDGE_TOL,
        help="GD is at the edge while |averaged sharpness x lr/2 - 1| <= this ...")
@option("--edge-window", "edge_window", Int(1, 10**6), default=EDGE_WINDOW,
        help="... for at least this many consecutive steps.")
@output_options
def flows(system, lr, steps, x0, spectrum, rotated, degree, tau, method, max_evals, average,
          edge_tol, edge_window, seed, as_json, out, force, plot):
    """Gradient flow and the central flow overlaid on GD, with how far each stays from GD.

    GD runs first; if it diverges the command stops at once (exit 2).  Edge Flow (Marion 2026)
    is not built: its equations could not be read (REFERENCES.md item 2)."""
    from dynsim.plots.eos import plot_flows
    from dynsim.sims.flows import flows_vs_gd
    from dynsim.trace import save_runs

    check_outputs(out, force, plot)
    toy = _toy_params(system, x0, spectrum, rotated, degree)
    cmp = flows_vs_gd(system=system, lr=lr, steps=steps, tau=tau, average=average,
                      edge_tol=edge_tol, edge_window=edge_window, method=method,
                      max_evals=max_evals, seed=seed, **toy)
    gd = cmp.gd
    rows = [f"flows  system={system}  lr={lr:g}  steps={steps}  seed={gd.seed}  "
            f"x0={gd.params['x0']}  tau={tau:g}  GD averaged over {average} steps",
            f"statuses: GD {gd.meta['status']}, gradient flow {cmp.gradient.meta['status']}, "
            f"central flow {cmp.central.meta['status']}"]
    if cmp.start is None:
        rows.append(cmp.note)
    else:
        rows.append(f"GD at the edge over steps {cmp.start}-{cmp.stop - 1} (averaged sharpness "
                    f"ratio within {edge_tol:g} of 1 for >= {edge_window} steps); gaps to GD's "
                    "time averages there:")
        rows.append(f"{'':<15} {'loss gap per step':>19} {'window-mean loss':>17} "
                    f"{'sharpness gap':>16}")
        for label, lg, me, sg in (
                ("central flow", cmp.loss_gap_central, cmp.mean_loss_error_central,
                 cmp.sharpness_gap_central),
                ("gradient flow", cmp.loss_gap_gradient, cmp.mean_loss_error_gradient,
                 cmp.sharpness_gap_gradient)):
            lcol = "-" if lg is None else f"{lg.value:.4g} ± {lg.stderr:.2g}"
            mcol = "-" if me is None else f"{me:.4g}"
            rows.append(f"{label:<15} {lcol:>19} {mcol:>17} "
                        f"{sg.value:>9.4g} ± {sg.stderr:<6.2g}")
        rows.append("loss gaps: |flow - GD average| / GD average (per step, then of the window "
                    "means; the central flow's loss is L + sigma^2 S / 2); sharpness gap: "
                    "|flow - GD average| / (2/lr); ± = spread over time")
        if cmp.note:
            rows.append(f"note: {cmp.note}")
    rows.append("Edge Flow: not built (its equations could not be read; REFERENCES.md item 2)")
    if out is not None:
        rows.append(f"run folders: {out}/gd, {out}/gradient_flow, {out}/central_flow")

    def gap(e):  # the per-step series stays in the run folders' channels, not in the JSON
        return None if e is None else {**e.__dict__, "data": {k: v for k, v in e.data.items()
                                                              if k != "series"}}

    payload = {"system": system, "lr": lr, "steps": steps, "seed": gd.seed, "x0": gd.params["x0"],
               "tau": tau, "method": method, "average": average, "edge_tol": edge_tol,
               "edge_window": edge_window, "start": cmp.start,
               "stop": None if cmp.stop is None else cmp.stop - 1, "loss_floor": cmp.loss_floor,
               "loss_gap_central": gap(cmp.loss_gap_central),
               "loss_gap_gradient": gap(cmp.loss_gap_gradient),
               "mean_loss_error_central": cmp.mean_loss_error_central,
               "mean_loss_error_gradient": cmp.mean_loss_error_gradient,
               "floor_central": cmp.floor_central, "floor_gradient": cmp.floor_gradient,
               "sharpness_gap_central": gap(cmp.sharpness_gap_central),
               "sharpness_gap_gradient": gap(cmp.sharpness_gap_gradient), "note": cmp.note,
               "statuses": {"gd": gd.meta["status"], "gradient_flow": cmp.gradient.meta["status"],
                            "central_flow": cmp.central.meta["status"]}, "out": out}
    emit(as_json, payload, "\n".join(rows))
    if out is not None:
        save_runs({"gd": gd, "gradient_flow": cmp.gradient, "central_flow": cmp.central}, out,
                  force=force)
    if plot is not None:
        save_figure(plot_flows(cmp), plot)


__all__ = ["eos"]
