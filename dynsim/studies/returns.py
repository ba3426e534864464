"""Pólya's return problem over dimensions: the fraction of lattice walkers back at the origin by
step n, and the return probability p(d) extrapolated, beside the exact values.

For d >= 3 the return probability is extrapolated in n^(-(d-2)/2) with a bootstrap interval over
walkers, beside the exact p(d) = 1 - 1/u(d) (G. Pólya 1921, Math. Ann. 84, 149-160,
doi:10.1007/BF01458701; u(d) the lattice Green's function at the origin, E. W. Montroll 1956,
J. SIAM 4, 241-260; the keys polya_return_d3 .. polya_return_d10 of references.json).  For d <= 2 the integral u(d) diverges, so p = 1: the
result shows the slowly rising simulated fraction beside its exact finite-n value, and the expected
number of visits U(n), which grows without bound.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dynsim.params import Ints, entry_point
from dynsim.sims.walks.walk import PARAMS as WALK_PARAMS
from dynsim.studies.base import StudyResult

SYSTEM = "walk.lattice"
MAX_D = 64
# the lattice walk's walkers and steps, with the study's own defaults (the extrapolation in n
# needs long walks and many walkers)
PARAMS = {
    "dims": Ints(1, MAX_D, what="dimensions", default=tuple(range(1, 11)),
                 help="Dimensions: 3, 1-10 or 1,2,5."),
    "walkers": dataclasses.replace(WALK_PARAMS["walkers"], default=20000,
                                   help="Walkers per dimension."),
    "steps": dataclasses.replace(WALK_PARAMS["steps"], default=10000, help="Steps per walker."),
}
D_LE_2_NOTE = ("d <= 2: U(n) = sum_k<=n P(X_k = 0), the expected visits to the origin, grows "
               "without bound\n(~ sqrt(n) in 1-D, ~ ln(n)/pi in 2-D), so p = 1")


@dataclass(frozen=True)
class ReturnsResult(StudyResult):
    """One lattice run per dimension (``traces``, d -> Trace, seeded from (``seed``, d)) and its
    return measures (``measures``, d -> Measures: ``return_fraction``, and for d >= 3 with enough
    steps ``return_probability``), with the exact p(d) (``exact_p``)."""

    dims: tuple[int, ...]
    walkers: int
    steps: int
    seed: int
    traces: dict
    measures: dict
    exact_p: dict

    def to_dict(self) -> dict:
        """The table's numbers as plain JSON (the runs' channels stay in their run folders)."""
        return {"system": SYSTEM, "seed": self.seed, "walkers": self.walkers, "steps": self.steps,
                "runs": [{"d": d, "seed": self.traces[d].seed, "exact_p": self.exact_p[d],
                          "measures": self.measures[d].to_dict()["measures"]}
                         for d in self.dims]}

    def __str__(self) -> str:
        from dynsim.analysis.walks import EXACT_MAX_STEPS, expected_visits

        rows = [f"{SYSTEM}  walkers={self.walkers}  steps={self.steps}  seed={self.seed}",
                f"{'d':>3} {'returned by n':>15} {'exact F(n)':>11} "
                f"{'p extrapolated [95% CI]':>32} {'exact p(d)':>11}"]
        for d in self.dims:
            f = self.measures[d]["return_fraction"]
            p = self.measures[d].get("return_probability")
            fexact = "-" if f.reference is None else f"{f.reference:.4f}"
            if p is not None:
                pcol = f"{p.value:.4f} [{p.ci[0]:.4f}, {p.ci[1]:.4f}]"
            elif d <= 2 and self.steps <= EXACT_MAX_STEPS:
                pcol = f"1: visits U(n)={expected_visits(d, self.steps)[-1]:.3g} diverge"
            else:
                pcol = "1: integral diverges" if d <= 2 else "- (needs steps >= 200)"
            rows.append(f"{d:>3} {f.value:>8.4f}±{f.stderr:.4f} {fexact:>11} {pcol:>32} "
                        f"{self.exact_p[d]:>11.6f}")
        if any(d <= 2 for d in self.dims):
            rows.append(D_LE_2_NOTE)
        return "\n".join(rows)

    def figure(self):
        from dynsim.plots.walks import plot_returns

        return plot_returns(self.traces, self.measures)


@entry_point(PARAMS)
def polya_returns(dims, walkers: int, steps: int, *, seed: int | None = None,
                  progress=None) -> ReturnsResult:
    """Run ``walkers`` lattice walkers for ``steps`` steps in each dimension of ``dims`` (each in
    [1, MAX_D]; one seed per dimension, derived from (``seed``, d), so dimensions are independent and
    the result depends on ``seed`` alone) and measure the returns (module docstring).
    ``progress(done, total)`` counts walkers over all dimensions."""
    from dynsim import registry
    from dynsim.analysis import measure
    from dynsim.analysis.walks import polya_return_probability
    from dynsim.params import check_params
    from dynsim.rng import child_seed, make_seed

    p = check_params(PARAMS, dict(dims=dims, walkers=walkers, steps=steps), "polya_returns")
    dims, walkers, steps = p["dims"], p["walkers"], p["steps"]
    seed = make_seed(seed)
    traces, measures = {}, {}
    for i, d in enumerate(dims):
        def per_d(k, total, i=i):
            if progress is not None:
                progress(i * walkers + k, walkers * len(dims))

        traces[d] = registry.run(SYSTEM, d=d, walkers=walkers, steps=steps, records=2,
                                 seed=child_seed(seed, d), progress=per_d)
        traces[d].meta["parent_seed"] = seed  # the seed that reproduces the whole study
        measures[d] = measure(traces[d], only=["return_fraction", "return_probability"])
    return ReturnsResult(dims=dims, walkers=int(walkers), steps=int(steps), seed=seed,
                         traces=traces, measures=measures,
                         exact_p={d: polya_return_probability(d) for d in dims})


__all__ = ["MAX_D", "PARAMS", "ReturnsResult", "polya_returns"]
