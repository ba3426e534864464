"""The package list in pyproject.toml covers every package folder (a missing one breaks
``pip install .`` silently for that subpackage), and the core imports without torch."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed():
    cfg = _toml()["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for top, name in cfg["package-dir"].items():
        base = ROOT / name
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([top, *rel.parts]) if rel.parts else top)
    # package-dir maps dynsim.models and dynsim.cli to their own folders: not also under dynsim/
    assert found == listed, (found - listed, listed - found)


def test_core_and_cli_do_not_import_torch():
    code = ("import sys\n"
            "import dynsim, dynsim.analysis, dynsim.sims.walks, dynsim.sims.eos, dynsim.registry\n"
            "import dynsim.cli.main, dynsim.models.config\n"
            "assert 'torch' not in sys.modules, 'torch imported at start-up'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
