"""Reports of sweeps: groups of the index over seeds, and finite-size scaling across L."""

from __future__ import annotations

import json
import math
from pathlib import Path

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


def sweep_fss(folder, rows: list[dict], *, q_min: float = 1.0, q_max: float = 3.0,
              boot: int = 100, seed: int = 0):
    """Finite-size scaling of ``events_size`` over the sweep's sizes L (analysis/fss.py moment
    analysis, the fit of ``dynsim sandpile fss``).  Seeds at one L are pooled; a sweep in which
    anything other than L and the seed varies is refused (its sizes would mix other settings), and
    so is a run that did not become stationary (as ``dynsim sandpile fss`` refuses it).  Each run,
    and each replica of a run, is one time series for the block bootstrap of ``moment_analysis``.
    Returns (FssResult, pooled samples by L for the collapse)."""
    from dynsim.analysis.fss import moment_analysis, q_grid, size_series
    from dynsim.trace import load_run

    if not q_min + 0.25 <= q_max:
        raise ValueError(f"--q-max must exceed --q-min by at least 0.25, got {q_min:g} and "
                         f"{q_max:g}")
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok or any("L" not in r["params"] for r in ok):
        raise ValueError("--fss needs a sweep over the system size L (a sandpile)")
    others = [k for k in varying([{"params": r["params"]} for r in ok]) if k != "L"]
    if others:
        raise ValueError(f"--fss needs a sweep in which only L and the seed vary; here "
                         f"{', '.join(others)} vary too (make one sweep per setting)")
    by_l: dict = {}
    for r in ok:
        tr = load_run(Path(folder) / "runs" / r["id"])
        if "events_size" not in tr.channels:
            raise ValueError(f"--fss needs runs with an events_size channel; {r['system']} has "
                             "none")
        if not tr.meta.get("stationary_reached"):
            raise ValueError(f"add grains: run {r['id']} (L={r['params']['L']}, seed {r['seed']}) "
                             f"reached stationarity at grain {tr.meta.get('stationary_from')} of "
                             f"{tr.params.get('grains')} (stationary means within the first half)")
        by_l.setdefault(r["params"]["L"], []).extend(size_series(tr))  # in time order (blocks)
    if len(by_l) < 3:
        raise ValueError(f"--fss needs ok runs at >= 3 sizes L, found {sorted(by_l)}")
    runs = dict(sorted(by_l.items()))
    res = moment_analysis(runs, q=q_grid(q_min, q_max), q_range=(q_min, q_max), boot=boot,
                          seed=seed)
    samples = {L: np.concatenate(v) for L, v in runs.items()}  # pooled, for the collapse
    return res, samples
