"""Finite-size scaling of sandpile avalanche sizes over several system sizes L: one study, two
sources of runs.

:func:`finite_size_scaling` either runs fresh sizes (one run of ``replicas`` replicas per L, seeded
from ``seed`` and L) or reads the ok runs of a sweep folder over L (``sweep=FOLDER``: several seeds
at one L are pooled).  Both go through one driver: each run must have become stationary within its
first half, its stationary avalanche sizes (one time series per replica) feed the moment analysis
of :func:`dynsim.analysis.fss.moment_analysis` (sigma(q) = D (q + 1 - tau); De Menech, Stella &
Tebaldi, PRE 58:R2677, 1998), whose errors come from a moving-block bootstrap over time blocks of
each series.  The result also gives, per run, the stationary mean size per grain beside its exact
value (Dhar, PRL 64:1613, 1990, for BTW; d times that for Manna; L for the Oslo pile), and the
verdict of D and tau against published values where there are any.
"""

from __future__ import annotations

import dataclasses
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from dynsim.params import Choice, Float, Int, Ints, Text, entry_point
from dynsim.sims.sandpile.common import DRIVE_PARAMS
from dynsim.sims.sandpile.lattice import PARAMS as LATTICE_PARAMS
from dynsim.studies.base import StudyResult

MODELS = {"btw": "sandpile.btw", "manna": "sandpile.manna", "oslo": "sandpile.oslo"}
EXACT_NOTE = {"btw": "mean of Delta^-1 1 (Dhar 1990)", "manna": "d x mean of Delta^-1 1",
              "oslo": "L"}
DEFAULT_MODEL = "manna"
DEFAULT_L = (32, 64, 128)
DEFAULT_D = 2          # btw, manna
DEFAULT_REPLICAS = 2
MIN_Q_SPAN = 0.25  # the fitted q range spans at least this much
WIDTH = 100        # printed lines fit a terminal
# model, L, d, grains and replicas default to None: fresh runs resolve them (none_means), a sweep
# fixes them (giving them with `sweep` is refused)
PARAMS = {
    "model": Choice(tuple(MODELS), none_means=DEFAULT_MODEL,
                    help="Lattice model (btw: effective exponents only)."),
    "L": Ints(2, 2**24, min_len=3, what="sizes", none_means=",".join(map(str, DEFAULT_L)),
              help="System sizes, comma-separated (at least 3; btw, manna: up to 2^14)."),
    "d": dataclasses.replace(LATTICE_PARAMS["d"], default=None,
                             none_means=f"{DEFAULT_D} (btw, manna)",
                             help="Dimension d (btw, manna)."),
    "grains": dataclasses.replace(
        DRIVE_PARAMS["grains"], default=None, help="Grains per replica and size.",
        none_means="twice what the pile can hold + 200000: btw 2 (2d - 1) L^d, manna 2 L^d, "
        "oslo 2 L (L + 1)"),
    "replicas": dataclasses.replace(DRIVE_PARAMS["replicas"], default=None,
                                    none_means=str(DEFAULT_REPLICAS),
                                    help="Independent replicas per size, run in parallel."),
    "boot": Int(2, 10**4, default=100, help="Bootstrap replicates for the errors."),
    "q_min": Float(0.0, 10.0, default=1.0, help="Smallest moment order q of the fitted range."),
    "q_max": Float(0.0, 10.0, default=3.0, help="Largest moment order q of the fitted range."),
    "sweep": Text(what="a sweep folder", none_means="fresh runs",
                  help="A sweep folder over L to read instead of running sizes."),
}


def _checked(**values) -> dict:
    """The values checked against PARAMS (None: the default, unchecked); errors name the API
    parameter in backticks, so that the CLI shows its flag."""
    return {name: None if value is None else PARAMS[name].check(name, value)
            for name, value in values.items()}


@dataclass(frozen=True)
class FssRun:
    """One run used: its size, seed, grains, where it became stationary, the stationary avalanches
    it gave and their mean size per grain added beside the exact value."""
    L: int
    seed: int
    grains: int
    stationary_from: int
    avalanches: int
    mean_size: float
    exact_mean_size: float
    id: str | None = None  # the run's id in a sweep


@dataclass(frozen=True)
class Exponent:
    """A fitted exponent with its bootstrap standard error and, where published, the reference and
    whether the estimate agrees with it within 3 SE."""
    name: str
    value: float
    stderr: float
    reference: str | None = None
    agrees: bool | None = None

    def __str__(self) -> str:
        verdict = "" if self.reference is None else f"  reference {self.reference}: " + (
            "agrees within 3 SE" if self.agrees else "differs by more than 3 SE")
        return f"{self.name:<4} = {self.value:.4f} ± {self.stderr:.4f}{verdict}"


@dataclass(frozen=True)
class FssStudy(StudyResult):
    """Finite-size scaling of one sandpile model over sizes L (see the module docstring)."""
    system: str
    d: int | None
    replicas: int
    seed: int
    runs: tuple[FssRun, ...]
    fit: object  # dynsim.analysis.fss.FssResult
    exponents: tuple[Exponent, ...]
    q_range: tuple[float, float]
    boot: int
    sweep: str | None = None  # the sweep folder read, or None for fresh runs
    notes: tuple[str, ...] = ()
    samples: dict = field(default_factory=dict, repr=False, compare=False)  # L -> series
    traces: tuple = field(default=(), repr=False, compare=False)  # aligned with runs

    @property
    def model(self) -> str:
        return self.system.split(".", 1)[1]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(self.fit.sizes)

    def to_dict(self) -> dict:
        """Every field as plain JSON but the bulky ``samples`` and ``traces``."""
        import dataclasses

        from dynsim.jsonutil import to_jsonable

        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in ("samples", "traces")}

    def __str__(self) -> str:
        source = f"  sweep={self.sweep}" if self.sweep is not None else ""
        lines = [f"{self.system}  fss{source}  seed={self.seed}  replicas={self.replicas}" +
                 ("" if self.d is None else f"  d={self.d}"),
                 f"{'L':>6} {'grains':>10} {'stationary from':>16} {'avalanches':>11} "
                 f"{'<s>/grain':>11} {'exact':>11}"]
        for r in self.runs:
            lines.append(f"{r.L:>6} {r.grains:>10} {r.stationary_from:>16} {r.avalanches:>11} "
                         f"{r.mean_size:>11.5g} {r.exact_mean_size:>11.5g}")
        lines += [str(e) for e in self.exponents]
        for note in self.notes:
            lines += textwrap.wrap(note, WIDTH, subsequent_indent="  ")
        return "\n".join(lines)

    def figure(self):
        """The data collapse s^tau P(s) against s / L^D, with sigma(q) and its fit as an inset."""
        from dynsim.analysis.fss import collapse
        from dynsim.plots.sandpile import plot_fss

        return plot_fss(self.fit, collapse(self.samples, self.fit.tau, self.fit.D))


@entry_point(PARAMS)
def finite_size_scaling(model, L, *, d, grains, replicas, boot, q_min, q_max, sweep,
                        seed: int | None = None, progress=None) -> FssStudy:
    """D and tau of a sandpile model by finite-size scaling over system sizes ``L``.

    Fresh runs (``sweep`` None): ``model`` btw, manna or oslo, ``L`` at least 3 sizes, ``d`` the
    dimension (btw, manna), ``grains`` per replica (default: :func:`default_grains`), ``replicas``
    per size.  The run at size L has seed ``child_seed(seed, L)``; ``progress(done, total)`` is
    called after each size.  From a sweep (``sweep`` a sweep folder): its ok runs, in which only L
    and the seed may vary; model, L, d, grains and replicas come from the runs and are not given.
    Either way the bootstrap (``boot`` replicates, q fitted over [``q_min``, ``q_max``]) is seeded
    with ``child_seed(seed, 0)``, so the same runs give the same estimates by either path."""
    from dynsim.rng import make_seed

    sweep = os.fspath(sweep) if isinstance(sweep, os.PathLike) else sweep
    p = _checked(model=model, L=L, d=d, grains=grains, replicas=replicas, boot=boot,
                 q_min=q_min, q_max=q_max, sweep=sweep)
    boot, q_min, q_max = p["boot"], p["q_min"], p["q_max"]
    _check_q(q_min, q_max)
    seed = make_seed(seed)
    if sweep is None:
        system, traces, ids = _fresh(p["model"] or DEFAULT_MODEL, p["L"], p["d"], p["grains"],
                                     p["replicas"], seed, progress)
    else:
        given = [name for name in ("model", "L", "d", "grains", "replicas") if p[name] is not None]
        if given:
            raise ValueError(f"{', '.join(f'`{n}`' for n in given)}: given with `sweep`, whose "
                             "runs fix them; leave them out")
        system, traces, ids = _from_sweep(Path(sweep), progress)
    return _analyse(system, traces, ids, boot=boot, q_range=(q_min, q_max), seed=seed,
                    sweep=sweep)


def _check_q(q_min, q_max) -> None:
    if not q_min + MIN_Q_SPAN <= q_max:
        raise ValueError(f"`q_max` must exceed `q_min` by at least {MIN_Q_SPAN:g}, got {q_min:g} "
                         f"and {q_max:g}")


def _fresh(model, L, d, grains, replicas, seed, progress):
    """Run every size (validated first, before any work) and return (system, traces, ids)."""
    from dynsim import registry
    from dynsim.params import check_params
    from dynsim.rng import child_seed
    from dynsim.sims.sandpile.common import default_grains

    system = MODELS[model]
    sizes = DEFAULT_L if L is None else L
    if model == "oslo" and d is not None:
        raise ValueError("`d` does not apply to model oslo (a 1-D pile)")
    d = None if model == "oslo" else (DEFAULT_D if d is None else d)
    replicas = DEFAULT_REPLICAS if replicas is None else replicas
    schema = registry.get(system).schema
    bad = [size for size in sizes if not schema["L"].lo <= size <= schema["L"].hi]
    if bad:
        raise ValueError(f"`L` must hold sizes that are each {schema['L'].allowed()} for model "
                         f"{model}, got {bad[0]}")
    runs = []
    for size in sizes:  # every run checked before the first starts
        params = dict(L=size, grains=grains or default_grains(model, size, d or 1),
                      replicas=replicas, **({} if d is None else {"d": d}))
        runs.append(check_params(schema, params, caller=system))
    traces = []
    for j, params in enumerate(runs):
        traces.append(registry.run(system, seed=child_seed(seed, params["L"]), **params))
        _check_stationary(model, traces[-1], f"run at L={params['L']}")
        if progress is not None:
            progress(j + 1, len(runs))
    return system, traces, [None] * len(traces)


def _from_sweep(folder: Path, progress):
    """The ok runs of a sweep over L, loaded and checked; (system, traces, ids)."""
    from dynsim.sweep import read_index
    from dynsim.trace import load_run

    rows = check_sweep_rows(read_index(folder))
    traces = []
    for j, r in enumerate(rows):
        tr = load_run(folder / "runs" / r["id"])
        _check_stationary(tr.system.split(".", 1)[1], tr,
                          f"run {r['id']} (L={r['params']['L']}, seed {r['seed']})")
        traces.append(tr)
        if progress is not None:
            progress(j + 1, len(rows))
    return rows[0]["system"], traces, [r["id"] for r in rows]


def check_sweep_rows(rows: list[dict]) -> list[dict]:
    """The ok rows of a sweep index fit for finite-size scaling, sorted by (L, seed): a sandpile
    lattice model over the size L, nothing else varying (its sizes would mix other settings)."""
    from dynsim.sweep.report import varying

    ok = [r for r in rows if r["status"] == "ok"]
    if not ok or any("L" not in r["params"] for r in ok):
        raise ValueError("finite-size scaling needs a sweep over the system size L (a sandpile)")
    others = [k for k in varying([{"params": r["params"]} for r in ok]) if k != "L"]
    if others:
        raise ValueError(f"finite-size scaling needs a sweep in which only L and the seed vary; "
                         f"here {', '.join(others)} vary too (make one sweep per setting)")
    systems = sorted({r["system"] for r in ok})
    if len(systems) != 1 or systems[0] not in MODELS.values():
        raise ValueError(f"finite-size scaling needs runs of {', '.join(MODELS.values())}, got "
                         f"{', '.join(systems)}")
    return sorted(ok, key=lambda r: (r["params"]["L"], r.get("seed", 0)))


def _check_stationary(model: str, trace, what: str) -> None:
    """Refuse a run that did not become stationary within its first half, saying how many grains
    would do."""
    from dynsim.sims.sandpile.common import default_grains

    if trace.meta.get("stationary_reached"):
        return
    p = trace.params
    start, default = trace.meta.get("stationary_from"), default_grains(model, p["L"],
                                                                      p.get("d") or 1)
    when = ("never reached stationarity" if start is None else
            f"reached stationarity at grain {start}")
    raise ValueError(f"add grains: {what} {when} of {p['grains']} grains (stationary means "
                     f"within the first half); give `grains` of at least "
                     f"{max(2 * (start or 0), default - 200_000)} (the default for L={p['L']} is "
                     f"{default})")


def _analyse(system, traces, ids, *, boot, q_range, seed, sweep) -> FssStudy:
    """The one FSS driver: series per L, the moment analysis, the per-run table and verdicts."""
    from dynsim.analysis.fss import moment_analysis, q_grid, size_series
    from dynsim.rng import child_seed
    from dynsim.sims.sandpile.reference import BTW_CAVEAT, EXPONENTS, agrees, exact_mean_size

    model = system.split(".", 1)[1]
    d = None if model == "oslo" else traces[0].params.get("d")
    samples: dict = {}
    runs = []
    for tr, run_id in zip(traces, ids):
        size, series = int(tr.params["L"]), size_series(tr)
        samples.setdefault(size, []).extend(series)  # in time order: the bootstrap's blocks
        g, start = int(tr.params["grains"]), int(tr.meta["stationary_from"] or 0)
        reps = int(tr.params.get("replicas") or 1)
        total = sum(float(s.sum()) for s in series)
        runs.append(FssRun(size, int(tr.seed), g, start, sum(int(s.size) for s in series),
                           total / (reps * (g - start)) if g > start else float("nan"),
                           float(exact_mean_size(model, size, d or 1)), run_id))
    if len(samples) < 3:
        raise ValueError(f"finite-size scaling needs ok runs at >= 3 sizes L, found "
                         f"{sorted(samples)}")
    fit = moment_analysis(samples, q=q_grid(*q_range), q_range=q_range, boot=boot,
                          seed=child_seed(seed, 0))
    refs = EXPONENTS.get(model) if (model == "oslo" or d == 2) else None
    exponents, cited = [], []
    for name, val, se in (("D", fit.D, fit.D_stderr), ("tau", fit.tau, fit.tau_stderr)):
        ref = refs.get(name) if refs else None
        exponents.append(Exponent(name, val, se, None if ref is None else str(ref),
                                  None if ref is None else bool(agrees(val, se, ref))))
        if ref is not None:
            cited.append(ref)
    notes = [f"<s>/grain: stationary topplings per grain added; exact: {EXACT_NOTE[model]}",
             f"moment analysis, q in [{q_range[0]:g}, {q_range[1]:g}], {boot} moving-block "
             f"bootstrap replicates ({fit.data['blocks']} time blocks per replica); corrections "
             "to scaling bias small L: drop the smallest sizes to check"]
    if model == "btw" and d == 2:  # the caveat is of 2-D BTW (multiscaling)
        notes.append(BTW_CAVEAT)
    sources = {}
    for ref in cited:  # one citation per source, under the table (the rows carry the keys)
        sources.setdefault(ref.source, []).append(ref.key)
    notes += [f"{', '.join(keys)}: {source}" for source, keys in sources.items()]
    return FssStudy(system, d, int(traces[0].params.get("replicas") or 1), seed, tuple(runs), fit,
                    tuple(exponents), tuple(float(q) for q in q_range), boot, sweep, tuple(notes),
                    {L: samples[L] for L in sorted(samples)}, tuple(traces))


__all__ = ["Exponent", "FssRun", "FssStudy", "PARAMS", "check_sweep_rows", "finite_size_scaling"]
