"""Sweeps: local pool and Dask agree, a killed sweep resumes without redoing runs, failures are
recorded and do not stop the others."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from dynsim.cli.main import cli
from dynsim.sweep import expand, read_index, run_sweep
from dynsim.trace import load_run

SWEEP = """
system = "walk.lattice"
seeds = 2
[fixed]
walkers = 500
records = 5
[grid]
d = [2, 3]
steps = {range = [100, 300, 100]}
"""


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_expand_and_ids(tmp_path):
    runs = expand({"system": "walk.lattice", "seeds": 2, "fixed": {"walkers": 500},
                   "grid": {"d": [2, 3], "steps": {"range": [100, 300, 100]}}})
    assert len(runs) == 2 * 3 * 2 and len({r.id for r in runs}) == 12
    again = expand({"system": "walk.lattice", "seeds": 2, "fixed": {"walkers": 500},
                    "grid": {"steps": {"range": [100, 300, 100]}, "d": [2, 3]}})
    assert {r.id for r in runs} == {r.id for r in again}  # ids depend on the configuration only
    for bad, msg in [({"grid": {}}, "system"), ({"system": "walk.nope"}, "unknown system"),
                     ({"system": "walk.lattice", "grid": {"d": [0]}}, "d must be"),
                     ({"system": "walk.lattice", "grid": {"d": {"range": [1]}}}, "grid axis"),
                     ({"system": "walk.lattice", "typo": 1}, "unknown key")]:
        with pytest.raises(ValueError, match=msg):
            expand(bad)


def test_local_pool_and_dask_give_identical_measures(tmp_path):
    distributed = pytest.importorskip("distributed")
    path = write(tmp_path, SWEEP)
    counts = run_sweep(path, tmp_path / "local", workers=2)
    assert counts == {"runs": 12, "skipped": 0, "ok": 12, "failed": 0}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        run_sweep(path, tmp_path / "dask", scheduler=client)
    local = {r["id"]: r["headline"] for r in read_index(tmp_path / "local")}
    dask = {r["id"]: r["headline"] for r in read_index(tmp_path / "dask")}
    assert local == dask and len(local) == 12


def test_killed_sweep_resumes_each_run_exactly_once(tmp_path):
    # 24 runs of ~0.1-0.3 s each: the kill lands after 3 finished and well before the end
    path = write(tmp_path, SWEEP.replace("walkers = 500", "walkers = 60000").replace("seeds = 2",
                                                                                     "seeds = 4"))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "dynsim.cli.main", "--quiet", "sweep", "run",
                             str(path), "--out", str(out)], start_new_session=True)
    deadline = time.time() + 120
    while not (out / "runs").is_dir() or len(list((out / "runs").glob("*/meta.json"))) < 3:
        assert time.time() < deadline and proc.poll() is None, "the sweep ended too early"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/meta.json")}
    assert 3 <= len(before) < 24
    counts = run_sweep(path, out)
    assert counts["skipped"] == len(before) and counts["ok"] == 24 - len(before)
    after = {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/meta.json")}
    assert len(after) == 24 and all(after[k] == v for k, v in before.items())  # not rerun
    rows = read_index(out)
    assert sorted(r["id"] for r in rows) == sorted(after) and {r["status"] for r in rows} == {"ok"}
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]  # no partial runs
    assert run_sweep(path, out)["skipped"] == 24


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path):
    # walkers x records too large for memory: refused inside the run, not by the schema
    path = write(tmp_path, """
        system = "walk.lattice"
        [fixed]
        steps = 20
        records = 1000
        [grid]
        walkers = [200, 100000000, 300]
    """)
    r = CliRunner().invoke(cli, ["--quiet", "sweep", "run", str(path), "--out",
                                 str(tmp_path / "out")], prog_name="dynsim")
    assert r.exit_code == 1 and "3 runs" in r.output and "1 failed" in r.output
    rows = {r["params"]["walkers"]: r for r in read_index(tmp_path / "out")}
    assert rows[100000000]["status"] == "failed" and "GiB" in rows[100000000]["error"]
    assert rows[200]["status"] == rows[300]["status"] == "ok"
    rep = CliRunner().invoke(cli, ["sweep", "report", str(tmp_path / "out"), "--failed"])
    assert "GiB" in rep.output


def test_report_json_and_plot(tmp_path):
    path = write(tmp_path, SWEEP)
    run_sweep(path, tmp_path / "out")
    r = CliRunner().invoke(cli, ["--quiet", "sweep", "report", str(tmp_path / "out"), "--json",
                                 "--plot", str(tmp_path / "rep.png")], prog_name="dynsim")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["x"] in ("d", "steps") and len(payload["groups"]) == 6
    g = payload["groups"][0]
    mean, se, n = g["measures"]["rms_distance"]
    assert n == 2 and se > 0
    assert (tmp_path / "rep.png").stat().st_size > 10_000
    only = CliRunner().invoke(cli, ["--quiet", "sweep", "report", str(tmp_path / "out"), "--json",
                                    "--measure", "rms_distance"], prog_name="dynsim")
    assert set(json.loads(only.output)["groups"][0]["measures"]) == {"rms_distance"}
    bad = CliRunner().invoke(cli, ["sweep", "report", str(tmp_path / "out"), "--measure", "nope"])
    assert bad.exit_code == 2 and "not a measure" in bad.output
    run = next((tmp_path / "out" / "runs").iterdir())
    assert load_run(run).system == "walk.lattice"


KILLER = '''
import os


def task(system, params, seed, folder):
    if params["x"] == 1:
        os._exit(3)  # the worker process dies mid-run
    return ("ok", "", 0.0, {"x": params["x"]})
'''


def test_a_dying_worker_fails_only_its_own_run(tmp_path, monkeypatch):
    from dynsim.sweep import RunSpec, _run_pool

    (tmp_path / "dynsim_killer_task.py").write_text(KILLER)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path
    import dynsim_killer_task

    todo = [RunSpec(str(i), "x", {"x": i}, 0) for i in range(5)]
    args = {r.id: (r.system, r.params, r.seed, str(tmp_path)) for r in todo}
    results = {}
    _run_pool(todo, args, 2, lambda run, res: results.__setitem__(run.params["x"], res[:2]),
              task=dynsim_killer_task.task)
    assert results[1] == ("failed", "worker process died")
    assert all(results[i] == ("ok", "") for i in (0, 2, 3, 4))


def test_sweep_file_errors_are_one_line(tmp_path):
    for text, msg in [("system = 'walk.lattice'\nfixed = 3\n", "[fixed] must be a table"),
                      ("system = 'walk.lattice'\n[grid]\nsteps = {range = [1, 5, 'a']}\n",
                       "needs three numbers"),
                      ("system = 'walk.lattice'\nseeds = 2.5\n", "seeds"),
                      ("system = 'walk.lattice'\nseeds = 'x'\n", "seeds")]:
        path = write(tmp_path, text)
        r = CliRunner().invoke(cli, ["sweep", "run", str(path), "--out", str(tmp_path / "o")],
                               prog_name="dynsim")
        assert r.exit_code == 2 and msg in r.output and r.output.count("\n") == 1, r.output


def test_an_edited_sweep_file_is_refused_on_resume(tmp_path):
    path = write(tmp_path, SWEEP)
    run_sweep(path, tmp_path / "out")
    edited = write(tmp_path, SWEEP.replace("seeds = 2", "seeds = 3"), "edited.toml")
    with pytest.raises(ValueError, match="different sweep file"):
        run_sweep(edited, tmp_path / "out")
