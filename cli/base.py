"""What every dynsim command shares: the group class that turns errors into one line, the click
adapter of the parameter schemas (:func:`option`), the global options, progress bars, and writing
results (table / JSON / run folder / figure)."""

from __future__ import annotations

import os
import re
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import click

from dynsim.jsonutil import to_json
from dynsim.params import Bool, Seed


class InputError(click.UsageError):
    """A ValueError raised by the API while a command ran, shown like a usage error."""


def _one_line(err: click.ClickException) -> str:
    """``dynsim walk return: error: --dims must be ..., got 0`` (no usage block, no traceback)."""
    ctx = getattr(err, "ctx", None)
    where = ctx.command_path if ctx is not None else "dynsim"
    msg = err.format_message()
    if isinstance(err, click.BadParameter) and err.param is not None and \
            not isinstance(err, click.MissingParameter):
        opts = [o for o in getattr(err.param, "opts", []) if o.startswith("--")] or \
            [err.param.name or "value"]
        hint = max(opts, key=len)
        msg = f"{hint} {err.message}" if err.message.startswith("must") else f"{hint}: {err.message}"
    return f"{where}: error: {' '.join(msg.split())}"


# API words with no option of their own, as a command line user reads them
API_WORDS = {"`x`": "the samples", "`points`": "the points", "`series`": "the series"}


def flag_names(msg: str, command) -> str:
    """A library error in the CLI's words: each backticked API parameter (`xmin`, `discrete=True`,
    `opt='sgd'`) becomes the flag of the command's option of that name (--xmin, --discrete,
    --opt sgd), and a few API words without an option become plain words (`x`: the samples).
    Names no option has stay as they are.
    The one place where API names meet flags: every command's errors pass through it."""
    for param in getattr(command, "params", ()):
        if not isinstance(param, click.Option) or not param.name:
            continue
        flag = max((o for o in param.opts if o.startswith("--")), key=len, default=None)
        if flag is None:
            continue
        if param.is_flag and param.secondary_opts:  # --discrete/--continuous
            off = max(param.secondary_opts, key=len)
            msg = msg.replace(f"`{param.name}=True`", flag).replace(f"`{param.name}=False`", off)
            flag = f"{flag}/{off}"
        elif param.is_flag:
            msg = msg.replace(f"`{param.name}=True`", flag)
        else:  # `opt='sgd'`: --opt sgd
            msg = re.sub(rf"`{re.escape(param.name)}=([^`]*)`",
                         lambda m: f"{flag} {m.group(1).strip(chr(39) + chr(34))}", msg)
        msg = msg.replace(f"`{param.name}`", flag)
    for api, words in API_WORDS.items():
        msg = msg.replace(api, words)
    return msg


def given(ctx, name: str) -> bool:
    """Whether option ``name`` (its API name) was given on the command line, not defaulted."""
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT,
                                                 ParameterSource.DEFAULT_MAP)


def _as_input_error(err: Exception, ctx) -> InputError:
    if isinstance(err, MemoryError):
        return InputError("not enough memory for this run; lower its size (walkers, steps, ...)",
                          ctx=ctx)
    if isinstance(err, OSError):
        where = f" {err.filename!r}" if getattr(err, "filename", None) else ""
        return InputError(f"cannot write or read{where}: {err.strerror or err}", ctx=ctx)
    return InputError(flag_names(str(err), getattr(ctx, "command", None)), ctx=ctx)


class _OneLineErrors:
    """Turns ValueError (and OSError / MemoryError) raised while a command runs into a usage-style
    error that :class:`DynsimGroup` prints as one line with exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `dynsim ... | head`: click ends quietly
            raise
        except (ValueError, OSError, MemoryError) as err:
            raise _as_input_error(err, ctx) from None


class DynsimCommand(_OneLineErrors, click.Command):
    """A command whose ValueErrors (and OSError / MemoryError) become one-line errors, exit 2."""


class DynsimGroup(_OneLineErrors, click.Group):
    """The group class of every dynsim group: usage errors and ValueErrors print one line on stderr
    and exit with code 2; a traceback means a bug."""

    command_class = DynsimCommand

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:  # `dynsim` alone: show the help
            click.echo(err.ctx.get_help())
            sys.exit(0)
        except click.ClickException as err:
            click.echo(_one_line(err), err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


DynsimGroup.group_class = DynsimGroup


class ClickParam(click.ParamType):
    """A click type built from a constraint: the CLI refuses exactly what the API refuses."""

    def __init__(self, constraint):
        self.constraint = constraint
        self.name = type(constraint).__name__.lower()

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return self.constraint.check(self.name, self.constraint.parse(value))
        except ValueError as err:
            msg = str(err)
            prefix = f"`{self.name}` "
            self.fail(msg[len(prefix):] if msg.startswith(prefix) else msg, param, ctx)


def option(flag: str, name: str, constraint, **kwargs):
    """A click option for API parameter ``name``: its type, default and help come from the
    parameter's constraint (the schema); an explicit ``default=`` / ``help=`` is for a flag that
    truly differs from the API parameter (one flag serving several systems, a study's own size).
    A :class:`~dynsim.params.Bool` becomes a flag (``--x/--no-x`` when it defaults to True)."""
    kwargs.setdefault("default", constraint.default)
    kwargs.setdefault("help", constraint.help or None)
    if kwargs["default"] is None and "show_default" not in kwargs:
        # None: the entry point resolves it (none_means), or the flag leaves the API's default
        kwargs["show_default"] = False
        if constraint.none_means or constraint.default is not None:
            shown = f"[default: {constraint.default_text()}]"
            kwargs["help"] = f"{kwargs['help']} {shown}" if kwargs["help"] else shown
    kwargs.setdefault("show_default", True)
    if isinstance(constraint, Bool) and "nargs" not in kwargs:
        both = f"{flag}/--no-{flag.lstrip('-')}" if kwargs["default"] else flag
        kwargs["show_default"] = False
        return click.option(both, name, is_flag=True, **kwargs)
    return click.option(flag, name, type=ClickParam(constraint), **kwargs)


def quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return bool(root and root.obj and root.obj.get("quiet"))


@contextmanager
def progress_bar(label: str):
    """Yield a ``progress(done, total)`` callback drawing a bar on stderr (or None when quiet or
    stderr is not a terminal)."""
    if quiet() or not sys.stderr.isatty():
        yield None
        return
    state = {"bar": None, "done": 0}

    def progress(done: int, total: int) -> None:
        if state["bar"] is None:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(done - state["done"])
        state["done"] = done

    try:
        yield progress
    finally:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)


def run_system(name: str, label: str, **params):
    """Run the registered system ``name`` with a progress bar labelled ``label`` (the commands
    find systems in the registry)."""
    from dynsim import registry

    with progress_bar(label) as progress:
        return registry.run(name, progress=progress, **params)


def output_options(f):
    """--seed, --json, --out, --force, --plot: the same five on every simulating command."""
    for deco in reversed([
        option("--seed", "seed", Seed(), default=None, show_default=False,
               help="Random seed [default: drawn and recorded]."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object, not a table."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Save the run folder (meta.json + channels.npz) here."),
        click.option("--force", is_flag=True, help="Replace an existing --out folder."),
        click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Save a figure to this file (.png, .pdf or .svg)."),
    ]):
        f = deco(f)
    return f


def check_outputs(out: Path | None, force: bool, plot: Path | None) -> None:
    """Refuse bad output paths before any work is done."""
    from dynsim.trace import check_output

    if out is not None:
        check_output(out, force)
    if plot is not None:
        if plot.suffix.lower() not in (".png", ".pdf", ".svg"):
            raise ValueError(f"--plot must end in .png, .pdf or .svg, got {str(plot)!r}")
        if plot.is_dir():
            raise ValueError(f"--plot {str(plot)!r} is a folder; give a file name")
        try:  # fail now, not after the run: the folder must exist (or be creatable) and writable
            plot.parent.mkdir(parents=True, exist_ok=True)
            probe = plot.with_name(f".{plot.name}.probe-{uuid.uuid4().hex[:8]}")
            probe.touch()
            probe.unlink()
        except OSError as err:
            raise ValueError(f"cannot write --plot {str(plot)!r}: {err.strerror or err}") from None


def save_figure(fig, path: Path) -> None:
    """Write a matplotlib figure atomically (temporary sibling, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if not quiet():
        click.echo(f"figure: {path}", err=True)


def emit(as_json: bool, payload, table: str) -> None:
    click.echo(to_json(payload) if as_json else table)


def measures_table(measures) -> str:
    """One line per measure, ``name  str(result)`` (value, ± SE, 95% CI, reference, the method in
    a few words), then each caveat or note once, marked [i] on its rows (the full text is in
    --json and in the result's details())."""
    from dynsim.analysis.results import format_table

    return format_table(measures)
