"""The house rules, checked on the source: which layer may import which, and how long a CLI file may be.

- no ``click`` outside ``cli/``;
- ``dynsim.analysis`` imports no simulator, model, study or plot;
- ``dynsim.plots`` imports no simulator and no estimator (it draws result objects);
- ``dynsim.sims`` imports no study, plot or CLI;
- importing any study module, the analyzer or the simulators does not import torch;
- no text in the product refers to a file outside the project;
- every ``cli/*.py`` is under 300 lines.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = [ROOT / "dynsim", ROOT / "models", ROOT / "cli"]


def _modules(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every module name imported anywhere in the file (top level or inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _offenders(folder: Path, banned) -> list[str]:
    bad = []
    for path in _modules(folder):
        for mod in _imports(path):
            if any(mod == b or mod.startswith(b + ".") for b in banned):
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    return bad


def test_no_click_outside_cli():
    bad = [b for f in (ROOT / "dynsim", ROOT / "models") for b in _offenders(f, ["click"])]
    assert not bad, "\n".join(bad)


def test_analysis_imports_no_higher_layer():
    banned = ["dynsim.sims", "dynsim.models", "dynsim.studies", "dynsim.plots", "dynsim.demos",
              "dynsim.sweep", "dynsim.cli", "torch"]
    bad = _offenders(ROOT / "dynsim" / "analysis", banned)
    assert not bad, "\n".join(bad)


def test_plots_import_no_simulator_or_estimator():
    banned = ["dynsim.sims", "dynsim.models", "dynsim.studies", "dynsim.cli", "torch"]
    bad = _offenders(ROOT / "dynsim" / "plots", banned)
    assert not bad, "\n".join(bad)


def test_sims_import_no_study_plot_or_cli():
    banned = ["dynsim.studies", "dynsim.plots", "dynsim.demos", "dynsim.sweep", "dynsim.cli",
              "click", "torch"]
    bad = _offenders(ROOT / "dynsim" / "sims", banned)
    assert not bad, "\n".join(bad)


def test_nothing_imports_cli():
    bad = [b for f in (ROOT / "dynsim", ROOT / "models") for b in _offenders(f, ["dynsim.cli"])]
    assert not bad, "\n".join(bad)


def _study_modules() -> list[str]:
    return [f"dynsim.studies.{p.stem}" for p in _modules(ROOT / "dynsim" / "studies")
            if p.stem != "__init__"]


def test_core_imports_no_torch():
    mods = ["dynsim", "dynsim.analysis", "dynsim.sims.walks", "dynsim.sims.eos",
            "dynsim.sims.sandpile", "dynsim.sims.maps", "dynsim.sims.flows", "dynsim.registry",
            "dynsim.params", "dynsim.studies", *_study_modules()]
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "bad = [m for m in ('torch', 'click') if m in sys.modules]\n"
            "print(','.join(bad))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "", f"importing the core pulled in: {res.stdout.strip()}"


OUTSIDE = re.compile(r"REFERENCES\.md|MISSION\.md|ARCHITECTURE\.md|\.\./shared")


@pytest.mark.parametrize("where", ["dynsim", "models", "cli", "README.md", "docs"])
def test_no_text_refers_outside_the_project(where):
    target = ROOT / where
    files = [target] if target.is_file() else [p for p in target.rglob("*")
                                               if p.is_file() and p.suffix in (".py", ".md", ".json")]
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in files
           for i, line in enumerate(p.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert not bad, "refers to a file outside the project: " + ", ".join(bad[:20])


def test_cli_files_are_short():
    long = {p.name: n for p in _modules(ROOT / "cli")
            if (n := len(p.read_text().splitlines())) >= 300}
    assert not long, f"cli files over 300 lines: {long}"


def test_no_command_imports_another_commands_helpers():
    # what commands share lives in cli/base.py; a command module imports no other command module
    bad = [f"{p.name} imports {m}" for p in _modules(ROOT / "cli")
           for m in _imports(p) if m.startswith("dynsim.cli.") and m not in ("dynsim.cli.base",)
           and not (p.name == "main.py")]
    assert not bad, "\n".join(bad)
