"""One call that answers "is it a power law, and with which exponent?": fit, bootstrap, alternatives.

The verdict follows CSN 2009 (section 5) with one extra guard that the field applies in practice: a
tail that spans less than a decade above xmin cannot show a power law, whatever the tests say.
  - "no fit": the fit failed (too few points; see its reason);
  - "not a power law": the tail spans < MIN_DECADES decades, or the bootstrap p <= GOF_P (and more
    than 2 Monte Carlo SE below it), or a non-nested alternative is significantly better
    (p < LR_P, R < 0);
  - "undecided": nothing above rules it out, but the bootstrap p lies within 2 Monte Carlo standard
    errors of GOF_P, the SE taken at the cutoff, sqrt(GOF_P (1 - GOF_P) / boot) (more replicates
    decide);
  - "untested": nothing above rules it out and nothing tested it (no bootstrap, boot=0, and no
    likelihood-ratio test, as on a window): a fitted exponent, not a verdict;
  - "power law with cutoff": the nested test favours the exponential cutoff (p < LR_P);
  - "plausible power law": none of the above (alternatives that are not distinguishable are listed).
GOF_P and LR_P are CSN's levels, 0.1 each (keys ``csn_gof_p_threshold``, ``csn_lr_p_threshold``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from dynsim.analysis.powerlaw.compare import ALTERNATIVES, LR_P, Comparison, compare
from dynsim.analysis.powerlaw.fit import PowerLawFit, fit_power_law
from dynsim.analysis.powerlaw.gof import GOF_P, GofResult, gof_bootstrap
from dynsim.analysis.results import Printable, table_line

MIN_DECADES = 1.0


@dataclass(frozen=True)
class PowerLawAnalysis(Printable):
    """The fit, its bootstrap goodness of fit (None with boot=0), the likelihood-ratio tests
    (alternative -> :class:`Comparison`), the tail's span in decades, the verdict with its reasons,
    and notes on what was not tested and what the exponent means."""

    fit: PowerLawFit
    gof: GofResult | None
    comparisons: dict = field(default_factory=dict)
    decades: float = math.nan
    verdict: str = ""
    reasons: tuple = ()
    notes: tuple = ()  # what was not tested, and why; caveats on what the exponent means

    # the Estimate-like face used by tables and Measures.headline()
    @property
    def value(self) -> float:
        return self.fit.alpha

    @property
    def stderr(self) -> float:
        return self.fit.stderr

    @property
    def ci(self):
        return self.gof.alpha_ci if self.gof is not None else self.fit.ci

    reference = None

    @property
    def method(self) -> str:
        cav = f"; {self.fit.caveat}" if self.fit.caveat else ""
        return f"{self.fit.method}; {self.verdict}{cav}"

    @property
    def caveat(self) -> str:
        return self.fit.caveat

    def headline(self) -> float:
        return self.fit.alpha

    @property
    def label(self) -> str:
        """The fit's method in a few words and the verdict: "discrete MLE: plausible power law"."""
        return f"{self.fit.label}: {self.verdict}" if self.fit.ok else "no fit"

    def footnotes(self) -> tuple[str, ...]:
        if not self.fit.ok:
            return self.fit.footnotes()
        dropped = self.fit.footnotes()[:1] if self.fit.n_nonpositive else ()
        return (*dropped, *self.notes)

    def details(self, name: str | None = None) -> str:
        """The fit and its range, the bootstrap p with its direction, each likelihood-ratio test,
        the verdict with its reasons, the notes."""
        f, name = self.fit, name or "power_law"
        if not f.ok:
            return f"{name}: no fit ({f.reason})"
        lines = [f"{name}: alpha = {f.alpha:.4f} ± {f.stderr:.2g} ({f.method})",
                 f"  {f.range_text(self.decades)}"]
        if self.gof is not None:
            g = self.gof
            lines.append(f"  bootstrap: p = {g.p:.3f} ± {g.p_stderr:.3f} ({g.n_boot} replicates"
                         + (f", {g.n_failed} failed refits counted as KS >= observed"
                            if g.n_failed else "") + f"); {g.direction}")
        for c in self.comparisons.values():
            lines.append(f"  LR vs {c.alternative}: R = {c.R:+.3f}, p = {c.p:.3g}, favours "
                         f"{c.favours} ({c.test})")
        lines.append(f"  verdict: {self.verdict}"
                     + (f" ({'; '.join(self.reasons)})" if self.reasons else ""))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return table_line(self.value, self.stderr, self.ci, None, self.label)


def analyze_power_law(x, *, discrete: bool | None = None, xmin=None, xmax=None, boot: int = 200,
                      seed: int | None = None, alternatives=ALTERNATIVES, min_decades: float = 0.0,
                      progress=None, caveat: str = "", xmax_rule: str | None = None
                      ) -> PowerLawAnalysis:
    """Fit (:func:`fit_power_law`), bootstrap GOF (``boot`` replicates; 0 skips it) and likelihood-
    ratio tests against ``alternatives``, combined into a verdict (module docstring).

    caveat: what the exponent means for the system (kept on the fit, shown in the method and the
    notes); xmax_rule: where ``xmax`` came from (default "given" when an xmax is given)."""
    fit = fit_power_law(x, discrete=discrete, xmin=xmin, xmax=xmax, min_decades=min_decades)
    fit = replace(fit, caveat=caveat,
                  xmax_rule=("given" if xmax is not None else "") if xmax_rule is None else xmax_rule)
    if not fit.ok:
        return PowerLawAnalysis(fit, None, {}, math.nan, "no fit", (fit.reason,),
                                (caveat,) if caveat else ())
    arr = np.asarray(x, dtype=float).ravel()
    tail_max = float(arr[arr >= fit.xmin].max()) if fit.xmax is None else fit.xmax
    decades = math.log10(tail_max / fit.xmin)
    gof = gof_bootstrap(arr if not fit.discrete else np.asarray(x), fit, boot=boot, seed=seed,
                        progress=progress) if boot else None
    comps: dict[str, Comparison] = compare(arr, fit, alternatives) if fit.xmax is None else {}
    reasons, notes = [], []
    if gof is None:
        notes.append("no bootstrap goodness of fit (boot=0)")
    elif gof.n_failed:
        notes.append(f"{gof.n_failed} of {gof.n_boot} bootstrap refits failed and count as "
                     "KS >= observed")
    if fit.xmax is not None:
        notes.append("no likelihood-ratio tests on a window (the alternatives are not "
                     "renormalised on [xmin, xmax])")
    if fit.caveat:
        notes.append(fit.caveat)
    # the Monte Carlo SE of p at the cutoff GOF_P (at the estimate it vanishes for p = 0 or 1)
    mc_se = math.sqrt(GOF_P * (1 - GOF_P) / gof.n_boot) if gof is not None else math.nan
    undecided = gof is not None and abs(gof.p - GOF_P) < 2 * mc_se
    if decades < MIN_DECADES:
        reasons.append(f"the tail spans {decades:.2f} decades (< {MIN_DECADES:g})")
    if gof is not None and gof.p <= GOF_P and not undecided:
        reasons.append(f"bootstrap p = {gof.p:.3f} ± {gof.p_stderr:.3f} <= {GOF_P:g}")
    better = [c.alternative for c in comps.values()
              if c.test.startswith("normalised") and c.p < LR_P and c.R < 0]
    if better:
        reasons.append("better fitted by " + ", ".join(better))
    if reasons:
        verdict = "not a power law"
    elif undecided:
        verdict = "undecided"
        reasons.append(f"bootstrap p = {gof.p:.3f} is within 2 Monte Carlo SE "
                       f"({mc_se:.3f}) of {GOF_P:g} ({gof.n_boot} replicates): "
                       f"more replicates decide")
    elif gof is None and not comps:
        verdict = "untested"
        reasons.append("no bootstrap (boot=0) and no likelihood-ratio test (a window): pass "
                       "boot > 0 for a goodness-of-fit test")
    elif "truncated_power_law" in comps and comps["truncated_power_law"].p < LR_P:
        verdict = "power law with cutoff"
        reasons.append(f"nested test p = {comps['truncated_power_law'].p:.3g}")
    else:
        verdict = "plausible power law"
        same = [c.alternative for c in comps.values() if c.test.startswith("normalised")
                and not c.p < LR_P]
        if same:
            reasons.append("not distinguishable from " + ", ".join(same))
    return PowerLawAnalysis(fit, gof, comps, decades, verdict, tuple(reasons), tuple(notes))
