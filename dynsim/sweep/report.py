"""Reports of sweeps: groups of the index over seeds (finite-size scaling across the sizes of a
sandpile sweep is the study :func:`dynsim.studies.fss.finite_size_scaling`)."""

from __future__ import annotations

import json
import math

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
