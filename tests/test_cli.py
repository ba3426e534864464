import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from dynsim import references
from dynsim.cli.main import cli
from dynsim.trace import load_run, load_runs


def run(*args):
    result = CliRunner().invoke(cli, list(args), prog_name="dynsim", catch_exceptions=False)
    return result


def test_version_and_help():
    r = run("--version")
    assert r.exit_code == 0 and "dynsim" in r.output and "0.1.0" in r.output
    assert run("walk", "--help").exit_code == 0


def test_info_json():
    r = run("info", "--json")
    assert r.exit_code == 0
    info = json.loads(r.output)
    for key in ("numpy", "numba", "torch", "cuda", "numba_threads"):
        assert key in info


@pytest.mark.parametrize("args,flag", [
    (["walk", "distance", "--dims", "0"], "--dims"),
    (["walk", "distance", "--walkers", "-5"], "--walkers"),
    (["walk", "distance", "--steps", "nan"], "--steps"),
    (["walk", "distance", "--steps", "ten"], "--steps"),
    (["walk", "distance", "--gaussian", "--step-std", "nan"], "--step-std"),
    (["walk", "distance", "--gaussian", "--step-std", "0"], "--step-std"),
    (["walk", "distance", "--gaussian", "--step-std", "inf"], "--step-std"),
    (["walk", "distance", "--walkers", "1e5"], "--walkers"),
    (["walk", "distance", "--seed", "-1"], "--seed"),
    (["walk", "return", "--dims", "0"], "--dims"),
    (["walk", "return", "--dims", "x-3"], "--dims"),
    (["walk", "pca", "--k", "0"], "--k"),
    (["walk", "peaks", "--side", "2"], "--side"),
    (["walk", "peaks", "--neighbours", "some"], "--neighbours"),
    (["walk", "distance", "--bogus"], "--bogus"),
])
def test_bad_options_one_line_exit_2(args, flag):
    proc = subprocess.run([sys.executable, "-m", "dynsim.cli.main", *args], capture_output=True,
                          text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dynsim") and "error:" in lines[0] and flag in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_api_value_error_is_one_line():
    # a combination only the API can judge: top_only needs levels > 0
    r = run("walk", "peaks", "--dims", "2", "--top-only")
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "--top-only needs discrete heights (--levels > 0)" in r.output


def test_distance_json_out_and_plot(tmp_path):
    out, fig = tmp_path / "run", tmp_path / "fig.png"
    r = run("--quiet", "walk", "distance", "--dims", "3", "--walkers", "500", "--steps", "100",
            "--seed", "1", "--json", "--out", str(out), "--plot", str(fig))
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["seed"] == 1 and payload["params"]["d"] == 3
    assert payload["measures"]["rms_distance"]["reference"] == pytest.approx(10.0)
    tr = load_run(out)
    assert tr.system == "walk.lattice" and tr.params["walkers"] == 500
    assert fig.stat().st_size > 10_000
    # existing output refused before any work, then replaced with --force
    r = run("walk", "distance", "--walkers", "500", "--steps", "10", "--out", str(out))
    assert r.exit_code == 2 and "exists" in r.output
    r = run("--quiet", "walk", "distance", "--walkers", "500", "--steps", "10", "--out", str(out),
            "--force")
    assert r.exit_code == 0 and load_run(out).params["steps"] == 10


def test_force_never_replaces_foreign_folders(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("data")
    r = run("walk", "distance", "--walkers", "200", "--steps", "5", "--out", str(precious), "--force")
    assert r.exit_code == 2 and "not dynsim runs" in r.output
    assert (precious / "thesis.txt").read_text() == "data"


def test_unwritable_outputs_refused_before_the_run(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    for args in (["--out", str(blocker / "run")], ["--plot", str(blocker / "fig.png")]):
        r = run("walk", "distance", "--walkers", "200", "--steps", "5", *args)
        assert r.exit_code == 2 and "cannot write" in r.output and r.output.count("\n") == 1


def test_no_subcommand_shows_help():
    proc = subprocess.run([sys.executable, "-m", "dynsim.cli.main"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Usage:" in proc.stdout and "walk" in proc.stdout


def test_plot_suffix_checked_first(tmp_path):
    r = run("walk", "distance", "--plot", str(tmp_path / "fig.txt"))
    assert r.exit_code == 2 and "--plot must end in" in r.output


def test_return_table_and_runs(tmp_path):
    r = run("--quiet", "walk", "return", "--dims", "1-3", "--walkers", "400", "--steps", "400",
            "--seed", "2", "--out", str(tmp_path / "ret"), "--plot", str(tmp_path / "ret.png"))
    assert r.exit_code == 0, r.output
    polya3 = f"{references.value('polya_return_d3'):.6f}"   # Polya's exact p(3), printed as ref
    assert "diverge" in r.output and polya3 in r.output
    assert sorted(load_runs(tmp_path / "ret")) == ["d01", "d02", "d03"]
    assert os.path.getsize(tmp_path / "ret.png") > 10_000


def test_done_when_return_command_interval_holds_its_own_exact_value():
    # the command, at the CLI (which derives one seed per dimension from --seed)
    r = run("--quiet", "walk", "return", "--dims", "3", "--walkers", "100000", "--steps", "10000",
            "--seed", "5", "--json")
    assert r.exit_code == 0, r.output
    run3 = json.loads(r.output)["runs"][0]
    est = run3["measures"]["return_probability"]
    assert est["ci"][0] < run3["exact_p"] < est["ci"][1]


def test_a_corrupt_channels_file_is_one_line(tmp_path):
    folder = tmp_path / "r"
    assert run("walk", "distance", "--walkers", "100", "--steps", "10", "--out", str(folder)
               ).exit_code == 0
    (folder / "channels.npz").write_bytes(b"PK\x03\x04 truncated")
    r = run("analyze", str(folder))
    assert r.exit_code == 2 and "not a readable .npz" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_an_open_dimension_range_is_refused():
    r = run("walk", "return", "--dims", "3-")
    assert r.exit_code == 2 and "--dims" in r.output


def test_library_errors_are_mapped_onto_the_commands_flags():
    # one mapping for every command: a backticked API parameter becomes its option's flag
    import click

    from dynsim.cli.base import flag_names

    @click.command()
    @click.option("--xmin", type=float)
    @click.option("--lyap-fit", "fit_range", nargs=2, type=int)
    @click.option("--discrete/--continuous", "discrete", default=None)
    def cmd(xmin, fit_range, discrete):
        pass

    msg = flag_names("`xmin` must be > 0; `discrete=True` needs integer values in `x`; "
                     "`discrete=False` or `discrete`; `fit_range` too short; `other` stays", cmd)
    assert msg == ("--xmin must be > 0; --discrete needs integer values in the samples; "
                   "--continuous or --discrete/--continuous; --lyap-fit too short; `other` stays")
    r = run("analyze", "/nonexistent.npy", "--channel", "x")
    assert r.exit_code == 2 and "--channel applies to a run folder" in r.output


# flags whose default deliberately differs from the API parameter's (schema) default
CLI_OWN_DEFAULTS = {
    ("walk claims", "--seed"): "a fixed seed (0): the printed verdicts are reproducible and the "
                               "claims tests read them; the API draws one (seed=None)",
    **{(cmd, flag): "one flag for several toys: left unset, the chosen toy's default applies"
       for cmd in ("eos run", "eos bifurcation", "eos flows") for flag in ("--spectrum", "--degree")},
}


def _commands(group, path=()):
    import click

    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path + (name,))
        else:
            yield " ".join(path + (name,)), cmd


def test_cli_defaults_are_the_schemas():
    # every option built from a schema constraint shows the schema's default (one source), unless
    # listed above with the reason
    from dynsim.cli.base import ClickParam

    seen = set()
    for where, cmd in _commands(cli):
        for param in cmd.params:
            c = getattr(param.type, "constraint", None)
            if not isinstance(param.type, ClickParam) or (c.default is None and not c.help):
                continue   # an inline constraint of the command itself, not an API parameter
            flag = max(param.opts, key=len)
            if (where, flag) in CLI_OWN_DEFAULTS:
                seen.add((where, flag))
                assert param.default != c.default, f"{where} {flag} agrees now: drop it from the list"
                continue
            assert param.default == c.default, f"dynsim {where} {flag}: {param.default!r} != " \
                                               f"the API's {c.default!r}"
    assert seen == set(CLI_OWN_DEFAULTS)


def test_train_options_are_the_config_fields():
    import dataclasses

    from dynsim.models.config import TrainConfig

    cmd = cli.commands["train"]
    opts = {p.name: p for p in cmd.params}
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        assert flag in opts[f.name].opts and opts[f.name].default == f.default, f.name
    for flag in ("--model", "--data", "--opt", "--lr", "--steps", "--probe-every", "--seed", "--out"):
        assert any(flag in p.opts for p in cmd.params), flag


def test_study_signatures_are_their_schemas():
    # each study's defaults come from its schema (entry_point): one source for the API, the CLI
    # and the docstring table
    import inspect

    from dynsim.studies import bifurcation, claims, flows_vs_gd, fss, returns

    for fn in (returns.polya_returns, fss.finite_size_scaling, bifurcation.bifurcation_diagram,
               flows_vs_gd.flows_vs_gd, claims.walk_claims):
        params = inspect.signature(fn).parameters
        assert fn.PARAMS is inspect.getmodule(fn).PARAMS, fn.__name__
        for name, c in fn.PARAMS.items():
            assert params[name].default == c.default, (fn.__name__, name)
        assert params["seed"].default is None, fn.__name__   # drawn and recorded


@pytest.mark.parametrize("args,flags", [
    (["eos", "bifurcation", "--lr-min", "2", "--lr-max", "1"], ("--lr-min must be", "--lr-max")),
    (["eos", "bifurcation", "--keep", "100", "--steps", "50"], ("--keep must be", "--steps + 1")),
    (["eos", "run", "--system", "quadratic", "--opt", "sgd", "--minibatch", "3",
      "--n-quadratics", "2"], ("--minibatch must be in [1, 2]", "--n-quadratics")),
])
def test_library_errors_name_the_flags(args, flags):
    # the library words them with backticked API names; the CLI maps those onto its flags
    r = run(*args)
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "`" not in r.output, r.output
    assert all(f in r.output for f in flags) and "lr_min" not in r.output, r.output
