"""Exact and published values dynsim compares with, read from ``dynsim/data/references.json``.

Each entry has a stable snake_case key and carries ``value`` (a number or a list) or ``band``
([low, high]), ``status`` (``exact``, ``published`` or ``measured here``, the latter with ``how``),
``citation`` (authors, year, title, arXiv id or DOI) and, where it has them, ``uncertainty``,
``formula``, ``units``, ``note`` and ``caveat``.  Results cite an entry by its key, and tests read
it as their oracle::

    from dynsim import references
    references.value("polya_return_d3")      # 0.340537329551
    references.band("manna_2d_tau")          # (1.27, 1.28)
    references.cite("oslo_D")                # one line: authors, year, title, arXiv / DOI
    references.source("oslo_D")              # short: 'oslo_D: Grassberger et al. 2016'

The file is read once (cached); every function returns copies, so a caller cannot change what the
next caller sees.  Unknown keys raise ``ValueError`` naming the key and the closest known ones.
``python -m dynsim.references --markdown`` prints ``docs/references.md``.

This module imports only the standard library: any layer may use it.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
import sys
from functools import lru_cache
from importlib import resources

STATUSES = ("exact", "published", "measured here")
FAMILIES = {  # family -> heading of docs/references.md, in this order
    "walks": "Random walks",
    "sandpiles": "Sandpiles",
    "maps": "Maps, flows and chaos",
    "eos": "Edge of stability",
    "nets": "Real nets",
    "powerlaw": "Power-law fits",
    "events": "Events and waiting times",
    "tails": "Heavy tails",
}
_FIELDS = ("family", "title", "value", "band", "uncertainty", "units", "formula", "status", "how",
           "citation", "note", "caveat")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_entry(key: str, e) -> None:
    """ValueError naming the key and the field when an entry breaks the format above."""
    if not isinstance(e, dict):
        raise ValueError(f"references.json: entry {key!r} must be an object, got {type(e).__name__}")
    unknown = sorted(set(e) - set(_FIELDS))
    if unknown:
        raise ValueError(f"references.json: entry {key!r} has unknown fields {unknown}; "
                         f"allowed: {', '.join(_FIELDS)}")
    if ("value" in e) == ("band" in e):
        raise ValueError(f"references.json: entry {key!r} needs exactly one of value or band")
    if "value" in e:
        v = e["value"]
        if not (_number(v) or (isinstance(v, list) and v and all(_number(x) for x in v))):
            raise ValueError(f"references.json: entry {key!r}: value must be a finite number or a "
                             f"non-empty list of them, got {v!r}")
    else:
        b = e["band"]
        if not (isinstance(b, list) and len(b) == 2 and all(_number(x) for x in b) and b[0] <= b[1]):
            raise ValueError(f"references.json: entry {key!r}: band must be [low, high] with "
                             f"low <= high, got {b!r}")
    if e.get("status") not in STATUSES:
        raise ValueError(f"references.json: entry {key!r}: status must be one of {STATUSES}, "
                         f"got {e.get('status')!r}")
    if e["status"] == "measured here" and not e.get("how"):
        raise ValueError(f"references.json: entry {key!r} is 'measured here' but says not how")
    for field in ("citation", "title"):
        if not isinstance(e.get(field), str) or not e[field].strip():
            raise ValueError(f"references.json: entry {key!r} needs a non-empty {field}")
    if e.get("family") not in FAMILIES:
        raise ValueError(f"references.json: entry {key!r}: family must be one of "
                         f"{', '.join(FAMILIES)}, got {e.get('family')!r}")


@lru_cache(maxsize=1)
def _entries() -> dict:
    text = resources.files("dynsim").joinpath("data/references.json").read_text(encoding="utf-8")
    entries = json.loads(text)["entries"]
    for key, e in entries.items():
        _check_entry(key, e)
    return entries


def load() -> dict:
    """Every entry: key -> entry (a copy)."""
    return copy.deepcopy(_entries())


def get(key: str) -> dict:
    """The entry ``key`` (a copy); ValueError naming the key and the closest known ones."""
    entries = _entries()
    if not isinstance(key, str) or key not in entries:
        close = difflib.get_close_matches(str(key), entries, n=5, cutoff=0.5)
        close += [k for k in entries if isinstance(key, str) and key and key in k and k not in close]
        hint = f"; did you mean {', '.join(close[:5])}?" if close else ""
        raise ValueError(f"unknown reference {key!r}{hint} ({len(entries)} keys: "
                         f"dynsim.references.load() lists them)")
    return copy.deepcopy(entries[key])


def value(key: str):
    """The entry's ``value`` (a float, or a list of floats); ValueError for a band-only entry."""
    e = get(key)
    if "value" not in e:
        raise ValueError(f"reference {key!r} is a band {e['band']}, not a value: use band({key!r})")
    return e["value"]


def band(key: str) -> tuple[float, float]:
    """(low, high): the entry's band, or (value, value) for a single number."""
    e = get(key)
    if "band" in e:
        return tuple(e["band"])
    if isinstance(e["value"], list):
        raise ValueError(f"reference {key!r} holds a list {e['value']}, not one number or a band")
    return (e["value"], e["value"])


def cite(key: str) -> str:
    """One line: the citation of ``key`` and its status (with how, when measured here)."""
    e = get(key)
    status = e["status"] + (f" ({e['how']})" if e["status"] == "measured here" else "")
    return f"{e['citation']} [{status}]"


_YEAR = re.compile(r",\s*((?:1[6-9]|20)\d\d)\b")


def _authors_year(citation: str) -> str:
    """'Henon 1976', 'Grassberger & Procaccia 1983', 'Cohen et al. 2021' from the first source of a
    citation ("A. B. Surname, C. Surname, year, ..."); 'derived here' for a derivation."""
    if citation.startswith("Derived"):
        return "derived here"
    m = _YEAR.search(citation)
    if not m:
        return citation.split(",")[0].strip()
    names = [a.strip().split()[-1] for a in citation[:m.start()].split(",") if a.strip()]
    who = (names[0] if len(names) == 1 else f"{names[0]} & {names[1]}" if len(names) == 2
           else f"{names[0]} et al.")
    return f"{who} {m.group(1)}"


def source(key: str) -> str:
    """The short form results carry as their ``reference_source`` and print beside a reference:
    'key: first author(s) year', with ', measured here' for a value measured with dynsim, e.g.
    'henon_correlation_dimension: Grassberger & Procaccia 1983'.  The key leads, so the full entry
    is one ``get(key)`` (or one line of docs/references.md) away."""
    e = get(key)
    tail = ", measured here" if e["status"] == "measured here" else ""
    return f"{key}: {_authors_year(e['citation'])}{tail}"


# ---------------------------------------------------------------------------------------------
# docs/references.md


def _fmt(x) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    return f"{x:.12g}"


def markdown() -> str:
    """docs/references.md: one table per family, then every entry's sources and notes."""
    entries = _entries()
    out = ["# References", "",
           "Exact and published values dynsim compares with, and the few values measured with",
           "dynsim itself that serve as calibrations. Generated from `dynsim/data/references.json`",
           "by `python -m dynsim.references --markdown > docs/references.md`: edit the JSON, not",
           "this page. In Python: `dynsim.references.value(key)`, `band(key)`, `cite(key)`.", ""]
    for fam, heading in FAMILIES.items():
        keys = [k for k, e in entries.items() if e["family"] == fam]
        if not keys:
            continue
        out += [f"## {heading}", "", "| key | what | value | status |", "|---|---|---|---|"]
        for k in keys:
            e = entries[k]
            v = _fmt(e["value"]) if "value" in e else f"{_fmt(e['band'][0])} to {_fmt(e['band'][1])}"
            if "uncertainty" in e:
                v += f" ± {_fmt(e['uncertainty'])}"
            if "units" in e:
                v += f" ({e['units']})"
            cells = [f"`{k}`", e["title"], v, e["status"]]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
        previous = None
        for k in keys:
            e = entries[k]
            same = e["citation"] == previous
            out.append(f"- `{k}`: " + ("the source above." if same else f"{e['citation']}."))
            previous = e["citation"]
            for field in ("formula", "how", "note", "caveat"):
                if field in e:
                    out.append(f"  {field.capitalize()}: {e[field]}.")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    if argv and argv[0] in ("--cite", "--get") and len(argv) == 2:
        try:
            print(cite(argv[1]) if argv[0] == "--cite" else json.dumps(get(argv[1]), indent=1))
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    print("usage: python -m dynsim.references --markdown | --cite KEY | --get KEY", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
