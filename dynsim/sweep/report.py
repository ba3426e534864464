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


def summarise(rows: list[dict]) -> list[dict]:
    """Group runs by their parameters (seeds pooled): mean, SE over the ok seeds per measure.

    Every grid point is a group, also one where no run is ok (``seeds`` 0, no measures): runs with
    another status (diverged, failed, interrupted) are counted in ``not_ok``, never averaged in.
    The SE of a single seed is NaN (unknown), not 0."""
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
            if vals.size:
                se = vals.std(ddof=1) / math.sqrt(vals.size) if vals.size > 1 else math.nan
                stats[name] = (float(vals.mean()), float(se), int(vals.size))
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
            for name, (mean, se, n) in g["measures"].items():
                lines.append(f"    {name:<24} {mean:12.6g} ± {se:.2g}")
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


__all__ = ["SweepReport", "failed_runs", "summarise", "sweep_report", "varying"]
