"""``dynsim``: the click group, ``--version``, ``--quiet`` and ``dynsim info``."""

from __future__ import annotations

import os
import platform
import sys

import click

import dynsim
from dynsim.cli.base import DynsimGroup, emit
from dynsim.cli.analyze import analyze
from dynsim.cli.eos import eos
from dynsim.cli.sandpile import sandpile
from dynsim.cli.sweep import sweep
from dynsim.cli.train import train
from dynsim.cli.walk import walk


@click.group(cls=DynsimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(dynsim.__version__, "--version", prog_name="dynsim")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes on stderr.")
@click.pass_context
def cli(ctx, quiet):
    """dynsim: toy dynamical systems beside real nets, one analyzer for both.

    Random walks in high dimensions: `dynsim walk claims` tests ten common claims about them.
    """
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, not a table.")
def info(as_json):
    """Versions of the numeric stack, CUDA availability and numba threads."""
    import numba
    import numpy
    import scipy

    from dynsim.trace import versions

    report = {"dynsim": dynsim.__version__, "python": platform.python_version(),
              "platform": platform.platform(), "cpus": os.cpu_count(),
              "numpy": numpy.__version__, "scipy": scipy.__version__, "numba": numba.__version__,
              "numba_threads": numba.get_num_threads(),
              "numba_threading_layer": numba.config.THREADING_LAYER,
              "torch": versions()["torch"], "cuda": None, "cuda_devices": []}
    if report["torch"] is not None:
        try:
            import torch

            report["cuda"] = bool(torch.cuda.is_available())
            report["cuda_devices"] = [torch.cuda.get_device_name(i)
                                      for i in range(torch.cuda.device_count())]
            report["torch_threads"] = torch.get_num_threads()
        except Exception as err:  # a broken torch install is information, not a crash
            report["torch_error"] = f"{type(err).__name__}: {err}"
    else:
        report["torch"] = "not installed (pip install 'dynsim[nets]')"
    table = "\n".join(f"{k:<22} {v}" for k, v in report.items())
    emit(as_json, report, table)


cli.add_command(walk)
cli.add_command(analyze)
cli.add_command(sweep)
cli.add_command(train)
cli.add_command(eos)
cli.add_command(sandpile)


def main():
    cli(prog_name="dynsim")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
