"""``dynsim eos``: edge-of-stability toys (run, bifurcation, flows)."""

from __future__ import annotations


import click

from dynsim.cli.base import (DynsimGroup, check_outputs, emit, measures_table, option,
                             output_options, progress_bar, run_system, save_figure)
from dynsim.sims.eos.losses import TOY_PARAMS
from dynsim.sims.eos.systems import (ADAPTIVE_STEPS, OPT_PARAMS as OP, PRODUCT_PARAMS,
                                     QUADRATIC_PARAMS)
from dynsim.studies.bifurcation import PARAMS as BP
from dynsim.studies.flows_vs_gd import PARAMS as FLOWS


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


# the rows of measure() that eos run reports (lyapunov gives lyapunov_<i> and kaplan_yorke)
RUN_MEASURES = ["stability", "sharpness", "lyapunov", "sharpness_dimension"]


@click.group(cls=DynsimGroup)
def eos():
    """Edge of stability: toy losses, optimizers as maps, the central flow, chaos in GD.

    Thresholds by convention (Cohen et al. 2021, arXiv:2103.00065; 2022, arXiv:2207.14484): GD
    2/lr, heavy ball (2+2b)/lr, Nesterov (2+2b)/((1+2b) lr), EMA momentum (2+2b)/((1-b) lr),
    RMSProp 2/lr and Adam (2+2b1)/((1-b1) lr) on the preconditioned sharpness.
    """


@eos.command()
@option("--system", "system", TOY_PARAMS["system"])
@option("--opt", "opt", OP["opt"])
@option("--lr", "lr", OP["lr"])
@option("--steps", "steps", OP["steps"])
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
    from dynsim.analysis import measure
    from dynsim.plots.eos import plot_run
    from dynsim.trace import save_run

    check_outputs(out, force, plot)
    if system != "quadratic" and (minibatch is not None or n_quadratics is not None):
        raise ValueError("--minibatch and --n-quadratics apply to --system quadratic only")
    params = dict(opt=opt, lr=lr, beta=beta, beta1=beta1, beta2=beta2, eps=eps,
                  noise_std=noise_std, freeze_at=freeze_at, jacobian=not no_jacobian,
                  **_toy_params(system, x0, spectrum, rotated, degree))
    for name, value in (("nu0", nu0), ("minibatch", minibatch), ("n_quadratics", n_quadratics),
                        ("steps", steps)):
        if value is not None:
            params[name] = value
    trace = run_system(f"eos.{system}", "running", seed=seed, **params)
    m = measure(trace, only=RUN_MEASURES[:2])
    stab, sharp = m["stability"], m["sharpness"]
    if stab.failed or sharp.failed:  # say why, as one line
        raise ValueError(stab.method if stab.failed else sharp.method)
    if stab.verdict != "diverged":  # an unbounded orbit has no attractor: no dimensions
        m = m.merged(measure(trace, only=RUN_MEASURES[2:]))
    conv, thr, p = trace.meta["threshold_convention"], float(trace["threshold"][0]), trace.params
    rows = [f"{trace.system}  seed={trace.seed}  opt={p['opt']}  lr={p['lr']:g}  "
            f"steps={p['steps']}  status={trace.meta['status']}  x0={p['x0']}",
            f"{'threshold':<20} {thr:.6g} ({conv})",
            f"{'sharpness':<20} start {sharp.start:.6g}, final {sharp.final:.6g}",
            measures_table(m)]
    rows += _run_notes(p, stab.verdict, "sharpness_dimension" in m, trace.meta["status"])
    if out is not None:
        rows.append(f"run folder: {out}")
    payload = {"system": trace.system, "params": p, "seed": trace.seed,
               "status": trace.meta["status"], "verdict": stab.verdict, "threshold": thr,
               "threshold_convention": conv, "sharpness_start": sharp.start,
               "sharpness_final": sharp.final, "out": out,
               "measures": m.to_dict()["measures"]}
    emit(as_json, payload, "\n".join(rows))
    if out is not None:
        save_run(trace, out, force=force)
    if plot is not None:
        save_figure(plot_run(trace, stab), plot)


def _run_notes(p: dict, verdict: str, has_sd: bool, status: str) -> list[str]:
    """The notes under the table of ``eos run``: what a verdict or a missing row means here."""
    rows = []
    if p["opt"] in ("rmsprop", "adam") and p["steps"] < ADAPTIVE_STEPS and verdict != "diverged":
        rows.append(f"{'note':<20} {p['opt']}'s preconditioner adapts on ~1/(1 - beta2) = "
                    f"{1 / (1 - p['beta2']):.0f} steps and reaches its threshold slowly: a "
                    f"'converged' verdict before ~{ADAPTIVE_STEPS} steps may only mean not yet "
                    f"equilibrated")
    if p.get("minibatch"):
        rows.append(f"{'minibatch':<20} {p['minibatch']} of {p['n_quadratics']} quadratics per "
                    f"step (Jacobian I - lr H_B: the Lyapunov spectrum is of random products); "
                    f"sharpness and threshold are the full loss's")
    if verdict == "diverged":
        rows.append(f"{'dimensions':<20} - (the run diverged: there is no attractor to measure)")
        if status == "ok":
            rows.append(f"{'status ok':<20} the iterates stayed finite within the steps (status); "
                        f"they grow past the threshold, so the verdict is diverged")
    elif not has_sd:
        rows.append(f"{'sharpness_dimension':<20} - (not measured: it needs the update "
                    f"Jacobians (drop --no-jacobian) or Hessian eigenvalues, a constant lr and "
                    f"a long enough stationary window)")
    return rows


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
    from dynsim.studies.bifurcation import bifurcation_diagram
    from dynsim.trace import save_run

    check_outputs(out, force, plot)
    with progress_bar("learning rates") as progress:
        result = bifurcation_diagram(system=system, opt=opt, lr_min=lr_min, lr_max=lr_max,
                                     n_lr=n_lr, steps=steps, keep=keep, beta=beta, beta1=beta1,
                                     beta2=beta2, eps=eps, noise_std=noise_std, seed=seed,
                                     progress=progress,
                                     **_toy_params(system, x0, spectrum, rotated, degree))
    emit(as_json, {**result.to_dict(), "out": out},
         str(result) + (f"\nrun folder: {out}" if out is not None else ""))
    if out is not None:
        save_run(result.trace, out, force=force)
    if plot is not None:
        save_figure(result.figure(), plot)


@eos.command()
@option("--system", "system", FLOWS["system"])
@option("--lr", "lr", FLOWS["lr"])
@option("--steps", "steps", FLOWS["steps"])
@loss_options
@option("--tau", "tau", FLOWS["tau"])
@option("--method", "method", FLOWS["method"])
@option("--max-evals", "max_evals", FLOWS["max_evals"])
@option("--average", "average", FLOWS["average"])
@option("--edge-tol", "edge_tol", FLOWS["edge_tol"])
@option("--edge-window", "edge_window", FLOWS["edge_window"])
@output_options
def flows(system, lr, steps, x0, spectrum, rotated, degree, tau, method, max_evals, average,
          edge_tol, edge_window, seed, as_json, out, force, plot):
    """Gradient flow and the central flow overlaid on GD, with how far each stays from GD.

    GD runs first; if it diverges the command stops at once (exit 2).  Edge Flow (P. Marion 2026)
    is not built: its equations could not be read."""
    from dynsim.studies.flows_vs_gd import flows_vs_gd
    from dynsim.trace import save_runs

    check_outputs(out, force, plot)
    cmp = flows_vs_gd(system=system, lr=lr, steps=steps, tau=tau, average=average,
                      edge_tol=edge_tol, edge_window=edge_window, method=method,
                      max_evals=max_evals, seed=seed,
                      **_toy_params(system, x0, spectrum, rotated, degree))
    folders = f"\nrun folders: {out}/gd, {out}/gradient_flow, {out}/central_flow" if out else ""
    emit(as_json, {**cmp.to_dict(), "out": out}, str(cmp) + folders)
    if out is not None:
        save_runs({"gd": cmp.gd, "gradient_flow": cmp.gradient, "central_flow": cmp.central}, out,
                  force=force)
    if plot is not None:
        save_figure(cmp.figure(), plot)


__all__ = ["eos"]
