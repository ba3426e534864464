"""Reports of sweeps: groups of the index over seeds (finite-size scaling across the sizes of a
sandpile sweep is the study :func:`dynsim.studies.fss.finite_size_scaling`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np


def _order(key: str):
    return tuple((str(type(v)), v if isinstance(v, (int, float)) else str(v))
                 for _, v in sorted(json.loads(key).items()))


@dataclass(frozen=True)
class SeedStats:
    """One measure over the ok seeds of one grid point: mean and standard error of the finite
    values, ``n`` the seeds that gave one (a measure that failed on a run is NaN or missing there),
    ``of`` the ok seeds.  The SE of a single value is NaN (unknown), not 0."""
    mean: float
    se: float
    n: int
    of: int

    def __str__(self) -> str:
        """``2.36 ± 0.01``; ``2.36 (1 of 2 seeds)`` where not every ok seed gave a value."""
        text = f"{'-':>12}" if self.n == 0 else f"{self.mean:12.6g}"
        if self.n > 1:
            text += f" ± {self.se:.2g}"
        return text + (f" ({self.n} of {self.of} seeds)" if self.n < self.of else "")


def summarise(rows: list[dict]) -> list[dict]:
    """Group runs by their parameters (seeds pooled): per measure the :class:`SeedStats` of its
    finite values over the ok seeds.

    Every grid point is a group, also one where no run is ok (``seeds`` 0, no measures): runs with
    another status (diverged, failed, interrupted) are counted in ``not_ok``, never averaged in.
    A measure some ok seed gave is listed with the count of seeds that gave it."""
    members: dict[str, list[dict]] = {}
    for r in rows:
        members.setdefault(json.dumps(r["params"], sort_keys=True), []).append(r)
    out = []
    for key in sorted(members, key=_order):
        ok = [m for m in members[key] if m["status"] == "ok"]
        not_ok: dict[str, int] = {}
        for m in members[key]:
            if m["status"] != "ok":
                not_ok[m["status"]] = not_ok.get(m["status"], 0) + 1
        stats = {}
        for name in sorted({n for m in ok for n in m["headline"]}):
            vals = np.array([m["headline"][name] for m in ok
                             if m["headline"].get(name) is not None], dtype=float)
            vals = vals[np.isfinite(vals)]
            mean = float(vals.mean()) if vals.size else math.nan
            se = float(vals.std(ddof=1) / math.sqrt(vals.size)) if vals.size > 1 else math.nan
            stats[name] = SeedStats(mean, se, int(vals.size), len(ok))
        out.append({"params": json.loads(key), "seeds": len(ok), "measures": stats,
                    "not_ok": not_ok})
    return out


def varying(groups: list[dict]) -> list[str]:
    """Parameters that take more than one value across the groups."""
    names = sorted({k for g in groups for k in g["params"]})
    return [k for k in names if len({json.dumps(g["params"].get(k)) for g in groups}) > 1]


@dataclass(frozen=True)
class SweepReport:
    """The measures of a sweep's grid points, seeds pooled (:func:`summarise`), ready to print
    (``__str__``: one line per grid point with its seed counts, one per measure under it), as
    JSON (``to_dict``: folder, x, groups) or drawn against the grid parameter ``x``
    (``figure()``)."""
    folder: str
    x: str | None
    groups: list
    columns: tuple = ()  # the parameters named on each grid point's line
    measures: tuple = ()  # the measures asked for (the figure's panels), or () for its default

    def to_dict(self) -> dict:
        from dynsim.jsonutil import to_jsonable

        return {"folder": self.folder, "x": self.x, "groups": to_jsonable(self.groups)}

    def __str__(self) -> str:
        lines = []
        for g in self.groups:
            others = "".join(f"; {n} {status}" for status, n in sorted(g["not_ok"].items()))
            lines.append("  ".join(f"{k}={g['params'].get(k)}" for k in self.columns) +
                         f"  ({g['seeds']} seeds ok{others})")
            for name, stats in g["measures"].items():
                lines.append(f"    {name:<24} {stats}")
        return "\n".join(lines)

    def figure(self):
        """Each measure against ``x`` (:func:`dynsim.plots.sweep.plot_sweep`)."""
        from dynsim.plots.sweep import plot_sweep

        return plot_sweep(self.groups, self.x, list(self.measures) or None)


def failed_runs(rows: list[dict]) -> list[dict]:
    """The rows of runs that neither finished ok nor diverged (failed, interrupted)."""
    return [r for r in rows if r["status"] not in ("ok", "diverged")]


def sweep_report(folder, *, x: str | None = None, measures=()) -> SweepReport:
    """Report of the sweep in ``folder``: its grid points with their measures over seeds
    (``measures``: only these; default all), ``x`` the parameter to draw them against (default:
    the varying parameter with the most values)."""
    from dynsim.sweep.spec import read_index

    rows = read_index(folder)
    groups = summarise(rows)
    if not groups:
        raise ValueError(f"sweep {str(folder)!r} has no runs indexed yet")
    known = sorted({n for g in groups for n in g["measures"]})
    if not known:
        status: dict[str, int] = {}
        for r in rows:
            status[r["status"]] = status.get(r["status"], 0) + 1
        raise ValueError(f"sweep {str(folder)!r} has no ok run with measures (" +
                         ", ".join(f"{n} {s}" for s, n in sorted(status.items())) +
                         f"); errors: dynsim sweep report {folder} --failed")
    bad = [m for m in measures if m not in known]
    if bad:
        raise ValueError(f"`measures` {bad[0]!r} is not a measure of this sweep; known: "
                         f"{', '.join(known)}")
    if measures:
        for g in groups:
            g["measures"] = {k: v for k, v in g["measures"].items() if k in measures}
    vary = varying(groups)
    params = sorted({k for g in groups for k in g["params"]})
    x = x or (max(vary, key=lambda k: len({str(g["params"].get(k)) for g in groups}))
              if vary else None)
    if x is not None and x not in params:
        raise ValueError(f"`x` {x!r} is not a parameter of this sweep; parameters: "
                         f"{', '.join(params)}")
    return SweepReport(str(folder), x, groups, tuple(vary or params), tuple(measures))


__all__ = ["SeedStats", "SweepReport", "failed_runs", "summarise", "sweep_report", "varying"]
