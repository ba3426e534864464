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


def finished(out):
    """Run folders with their meta.json mtimes (not the temporary folders of a write in flight)."""
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/meta.json")
            if not p.parent.name.startswith(".")}


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
                     ({"system": "walk.lattice", "grid": {"d": [0]}}, "`d` must be"),
                     ({"system": "walk.lattice", "grid": {"d": {"range": [1]}}}, "grid axis"),
                     ({"system": "walk.lattice", "typo": 1}, "unknown key")]:
        with pytest.raises(ValueError, match=msg):
            expand(bad)


def test_local_pool_and_dask_give_identical_measures(tmp_path):
    distributed = pytest.importorskip("distributed")
    import numba

    from dynsim.sweep.executors import in_task

    path = write(tmp_path, SWEEP)
    counts = run_sweep(path, tmp_path / "local", workers=2)
    assert counts == {"runs": 12, "skipped": 0, "ok": 12, "diverged": 0, "failed": 0}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        # the address string, as `--scheduler tcp://...` gives it (the sweep opens its client)
        run_sweep(path, tmp_path / "dask", scheduler=cluster.scheduler_address)
        with distributed.Client(cluster) as client:
            # numba's pool size is per thread: it is set inside the task's own thread
            assert client.submit(in_task, numba.get_num_threads, pure=False).result() == 1
            gpu = write(tmp_path, SWEEP + "\n", "gpu.toml")
            gpu.write_text("gpu = true\n" + gpu.read_text())
            t0 = time.time()
            with pytest.raises(ValueError, match="no worker .* offers the resource GPU"):
                run_sweep(gpu, tmp_path / "gpu", scheduler=client)  # refused, not a hang
            assert time.time() - t0 < 30 and not (tmp_path / "gpu").exists()
            # Ctrl-C during a Dask sweep cancels what has not started
            from dynsim.sweep import load_sweep
            from dynsim.sweep.executors import run_dask

            _, runs = load_sweep(write(tmp_path, SWEEP.replace("walkers = 500", "walkers = 60000")
                                       .replace("seeds = 2", "seeds = 4"), "big.toml"))
            args = {r.id: (r.system, r.params, r.seed, str(tmp_path / "ctrl-c" / r.id))
                    for r in runs}

            def interrupt(run, result):
                raise KeyboardInterrupt

            with pytest.raises(KeyboardInterrupt):
                run_dask(client, runs, args, interrupt, gpu=False)
            time.sleep(4)  # what was cancelled never runs
            assert len(list((tmp_path / "ctrl-c").glob("[!.]*"))) < len(runs) // 2
    local = {r["id"]: r["headline"] for r in read_index(tmp_path / "local")}
    dask = {r["id"]: r["headline"] for r in read_index(tmp_path / "dask")}
    assert local == dask and len(local) == 12


def test_gpu_runs_go_to_gpu_workers(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    from dynsim.sweep.executors import SINGLE_THREAD_ENV

    for k in SINGLE_THREAD_ENV:  # the thread workers limit this process's env: restore it after
        monkeypatch.delenv(k, raising=False)
    path = write(tmp_path, "gpu = true\n" + SWEEP.replace("seeds = 2", "seeds = 1")
                 .replace("d = [2, 3]", "d = [2]"))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  resources={"GPU": 1}, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert run_sweep(path, tmp_path / "out", scheduler=client)["ok"] == 3
    notes = []
    assert run_sweep(path, tmp_path / "local", note=notes.append)["ok"] == 3
    assert len(notes) == 1 and "gpu = true" in notes[0] and "ignored" in notes[0]


def test_workers_with_scheduler_is_refused(tmp_path):
    path = write(tmp_path, SWEEP)
    r = CliRunner().invoke(cli, ["sweep", "run", str(path), "--out", str(tmp_path / "o"),
                                 "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
                           prog_name="dynsim")
    assert r.exit_code == 2 and "--workers is for the local pool" in r.output
    assert r.output.count("\n") == 1 and not (tmp_path / "o").exists()


def test_killed_sweep_resumes_each_run_exactly_once(tmp_path):
    # 24 runs of ~0.1-0.3 s each: the kill lands after 3 finished and well before the end
    path = write(tmp_path, SWEEP.replace("walkers = 500", "walkers = 60000").replace("seeds = 2",
                                                                                     "seeds = 4"))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "dynsim.cli.main", "--quiet", "sweep", "run",
                             str(path), "--out", str(out)], start_new_session=True)
    deadline = time.time() + 120
    while not (out / "runs").is_dir() or len(finished(out)) < 3:
        assert time.time() < deadline and proc.poll() is None, "the sweep ended too early"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = finished(out)
    assert 3 <= len(before) < 24
    counts = run_sweep(path, out)
    assert counts["skipped"] == len(before) and counts["ok"] == 24 - len(before)
    after = finished(out)
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
    assert r.exit_code == 1 and "3 runs" in r.output and "2 ok, 1 failed" in r.output
    assert r.output.count("\n") == 1, r.output  # one summary line, with where to look
    assert f"dynsim sweep report {tmp_path / 'out'} --failed" in r.output
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
    stats = g["measures"]["rms_distance"]
    assert stats["n"] == stats["of"] == 2 and stats["se"] > 0
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


def imports(system, params, seed, folder):
    import sys

    from dynsim import registry
    from dynsim.sweep.executors import run_one

    run_one(system, params, seed, folder)
    numba = sys.modules["numba"]
    return ("ok", "", 0.0, {"torch": "torch" in sys.modules, "threads": numba.get_num_threads()})
'''


def test_a_dying_worker_fails_only_its_own_run(tmp_path, monkeypatch):
    from dynsim.sweep import RunSpec
    from dynsim.sweep.executors import run_pool

    (tmp_path / "dynsim_killer_task.py").write_text(KILLER)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path
    import dynsim_killer_task

    todo = [RunSpec(str(i), "x", {"x": i}, 0) for i in range(5)]
    args = {r.id: (r.system, r.params, r.seed, str(tmp_path)) for r in todo}
    results = {}
    run_pool(todo, args, 2, lambda run, res: results.__setitem__(run.params["x"], res[:2]),
              task=dynsim_killer_task.task)
    assert results[1] == ("failed", "worker process died")
    assert all(results[i] == ("ok", "") for i in (0, 2, 3, 4))
    # a numba-only run in a pool worker: one numba thread, and torch never imported
    walk = RunSpec("w", "walk.lattice", {"d": 2, "walkers": 100, "steps": 10, "records": 2}, 0)
    seen = {}
    run_pool([walk], {"w": (walk.system, walk.params, 0, str(tmp_path / "w"))}, 2,
             lambda run, res: seen.update(res[3]), task=dynsim_killer_task.imports)
    assert seen == {"torch": False, "threads": 1}


def test_sweep_file_errors_are_one_line(tmp_path):
    for text, msg in [("system = 'walk.lattice'\nfixed = 3\n", "[fixed] must be a table"),
                      ("system = 'walk.lattice'\n[grid]\nsteps = {range = [1, 5, 'a']}\n",
                       "needs three finite numbers"),
                      ("system = 'walk.lattice'\nseeds = 2.5\n", "seeds"),
                      ("system = 'walk.lattice'\nseeds = 'x'\n", "seeds"),
                      ("system = 'walk.lattice'\n[grid\nd = [1]\n", "not valid TOML"),
                      ("system = 'walk.nope'\n", "unknown system 'walk.nope'"),
                      ("system = 'walk.lattice'\n[grid]\nwalker = [1, 2]\n",
                       "unknown parameter(s) walker"),
                      ("system = 'walk.lattice'\ngpu = 'yes'\n", "`gpu` must be true or false")]:
        path = write(tmp_path, text)
        r = CliRunner().invoke(cli, ["sweep", "run", str(path), "--out", str(tmp_path / "o")],
                               prog_name="dynsim")
        assert r.exit_code == 2 and msg in r.output and r.output.count("\n") == 1, r.output




def children(pid):
    """Live (not zombie) processes whose parent is ``pid``, from /proc."""
    out = []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(stat))
    return out


def alive(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout=20):
    deadline = time.time() + timeout
    while [p for p in pids if alive(p)]:
        assert time.time() < deadline, "processes of the sweep still running after it ended: " + \
            "; ".join(open(f"/proc/{p}/cmdline").read().replace("\0", " ") for p in pids
                      if alive(p))
        time.sleep(0.05)


def start_sweep(path, out, *extra):
    return subprocess.Popen([sys.executable, "-m", "dynsim.cli.main", "--quiet", "sweep", "run",
                             str(path), "--out", str(out), *extra], start_new_session=True,
                            stderr=subprocess.PIPE, text=True)


def wait_for_runs(proc, out, n, timeout=180):
    deadline = time.time() + timeout
    while not (out / "runs").is_dir() or len(finished(out)) < n:
        assert time.time() < deadline and proc.poll() is None, "the sweep ended too early"
        time.sleep(0.02)


def assert_resumes_each_run_once(path, out, total, before):
    counts = run_sweep(path, out)
    assert counts["skipped"] == len(before) and counts["ok"] == total - len(before), counts
    after = finished(out)
    assert len(after) == total and all(after[k] == v for k, v in before.items())  # not rerun
    rows = read_index(out)
    assert sorted(r["id"] for r in rows) == sorted(after) and {r["status"] for r in rows} == {"ok"}
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]  # no partial runs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_parent_alone_stops_its_workers_and_the_folder_is_locked(tmp_path):
    path = write(tmp_path, SWEEP.replace("walkers = 500", "walkers = 60000").replace("seeds = 2",
                                                                                     "seeds = 4"))
    out = tmp_path / "out"
    proc = start_sweep(path, out, "--workers", "2")
    wait_for_runs(proc, out, 3)
    # a second sweep on the same folder is refused while the first runs
    second = CliRunner().invoke(cli, ["sweep", "run", str(path), "--out", str(out)],
                                prog_name="dynsim")
    assert second.exit_code == 2 and "in use by another sweep" in second.output
    assert second.output.count("\n") == 1, second.output
    workers = children(proc.pid)
    assert workers, "no worker processes seen"
    os.kill(proc.pid, signal.SIGKILL)  # the parent only, not its process group
    proc.wait()
    wait_gone(workers)
    before = finished(out)
    time.sleep(0.5)
    assert finished(out) == before  # nobody writes runs any more
    assert 3 <= len(before) < 24
    assert_resumes_each_run_once(path, out, 24, before)


def test_ctrl_c_stops_a_pool_sweep_at_once_and_it_resumes(tmp_path):
    path = write(tmp_path, SWEEP.replace("walkers = 500", "walkers = 60000").replace("seeds = 2",
                                                                                     "seeds = 8"))
    out = tmp_path / "out"
    proc = start_sweep(path, out, "--workers", "2")
    wait_for_runs(proc, out, 3)
    deadline = time.time() + 60
    while len(read_index(out)) < 3:  # three results reached the index
        assert time.time() < deadline and proc.poll() is None, "the sweep ended too early"
        time.sleep(0.02)
    workers = children(proc.pid)
    t0 = time.time()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: the whole group
    _, err = proc.communicate(timeout=30)
    assert time.time() - t0 < 15, "the sweep went on after Ctrl-C"
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    wait_gone(workers)  # the pool's workers (and multiprocessing's resource tracker) end
    before = finished(out)
    indexed = {r["id"] for r in read_index(out)}
    assert indexed <= set(before) and len(indexed) >= 3  # what finished is indexed
    assert len(before) < 48
    assert_resumes_each_run_once(path, out, 48, before)


def test_a_run_whose_measures_raise_is_failed_and_redone(tmp_path, monkeypatch):
    import dynsim.analysis
    from dynsim.sweep import executors

    real = dynsim.analysis.measure

    def in_process(todo, args, workers, finished):  # the patched measure lives in this process
        for run in todo:
            finished(run, executors.run_one(*args[run.id]))

    monkeypatch.setattr(executors, "run_pool", in_process)

    def broken(trace):
        raise FloatingPointError("overflow encountered in multiply")

    path = write(tmp_path, SWEEP.replace("seeds = 2", "seeds = 1").replace("d = [2, 3]", "d = [2]"))
    out = tmp_path / "out"
    monkeypatch.setattr(dynsim.analysis, "measure", broken)
    counts = run_sweep(path, out)
    assert counts["failed"] == 3 and counts["ok"] == 0
    assert finished(out) == {}  # nothing saved as a finished run
    assert all("FloatingPointError" in r["error"] for r in read_index(out))
    rep = CliRunner().invoke(cli, ["sweep", "report", str(out)], prog_name="dynsim")
    assert rep.exit_code == 2 and rep.output.count("\n") == 1, rep.output
    assert "no ok run" in rep.output and "3 failed" in rep.output and "--failed" in rep.output
    assert run_sweep(path, out)["failed"] == 3  # resumed: redone, fails again, no traceback
    monkeypatch.setattr(dynsim.analysis, "measure", real)
    assert run_sweep(path, out)["ok"] == 3 and len(finished(out)) == 3
    # a folder saved but indexed failed (an older sweep) with measures that raise: re-queued
    import sqlite3

    con = sqlite3.connect(out / "index.sqlite")
    with con:
        con.execute("UPDATE runs SET status = 'failed'")
    con.close()
    monkeypatch.setattr(dynsim.analysis, "measure", broken)
    assert run_sweep(path, out)["failed"] == 3
    monkeypatch.setattr(dynsim.analysis, "measure", real)
    assert run_sweep(path, out)["skipped"] == 3  # the saved folders measure now: indexed ok
    assert {r["status"] for r in read_index(out)} == {"ok"}


EOS = """
system = "eos.minimalist"
seeds = 1
[fixed]
steps = 200
[grid]
lr = [0.05, 5.0]
"""


def test_diverged_runs_are_counted_and_reported(tmp_path):
    path = write(tmp_path, EOS)
    calls = []
    counts = run_sweep(path, tmp_path / "out", progress=lambda *c: calls.append(c))
    assert counts["ok"] == 1 and counts["diverged"] == 1 and counts["failed"] == 0
    assert calls[0] == (0, 0, 0, 2) and calls[-1] in ((1, 1, 0, 0),)
    r = CliRunner().invoke(cli, ["sweep", "run", str(path), "--out", str(tmp_path / "cli")],
                           prog_name="dynsim")
    assert r.exit_code == 0 and "1 ok, 1 diverged, 0 failed" in r.output, r.output
    rep = CliRunner().invoke(cli, ["--quiet", "sweep", "report", str(tmp_path / "out"), "--json"])
    groups = json.loads(rep.output)["groups"]
    # the lr where no run is ok is still a row, with its count
    assert [(g["params"]["lr"], g["seeds"], g["not_ok"]) for g in groups] == [
        (0.05, 1, {}), (5.0, 0, {"diverged": 1})]
    table = CliRunner().invoke(cli, ["--quiet", "sweep", "report", str(tmp_path / "out")])
    assert "lr=5.0  (0 seeds ok; 1 diverged)" in table.output


def test_report_figure_prefers_stability_and_draws_no_fake_error_bars():
    from dynsim.plots.sweep import default_measures, plot_sweep
    from dynsim.sweep.report import SeedStats

    names = ["a_rate", "b_dim", "c_mean", "d_x", "e_y", "f_z", "sharpness", "stability"]
    assert default_measures(names)[:2] == ["stability", "sharpness"]
    one = [{"params": {"lr": lr}, "seeds": 1, "not_ok": {},
            "measures": {"stability": SeedStats(0.9, float("nan"), 1, 1),
                         "sharpness": SeedStats(2 / lr, float("nan"), 1, 1)}}
           for lr in (0.1, 0.2)]
    fig = plot_sweep(one, "lr")
    stab = next(ax for ax in fig.axes if ax.get_title() == "stability")
    assert not stab.containers  # one seed: no error bar at all
    assert any(list(line.get_ydata()) == [1, 1] for line in stab.lines)  # the edge, at 1
    sharp = next(ax for ax in fig.axes if ax.get_title() == "sharpness")
    assert any(line.get_label() == "2/lr" for line in sharp.lines)
    two = [dict(g, measures={"stability": SeedStats(0.9, 0.01, 2, 2)}) for g in one]
    assert plot_sweep(two, "lr").axes[0].containers


def test_run_ids_hash_the_resolved_configuration():
    from dynsim.sweep.spec import _axis

    short = expand({"system": "eos.minimalist", "grid": {"lr": [0.1]}})
    full = expand({"system": "eos.minimalist", "fixed": {"steps": 3000}, "grid": {"lr": [0.1]}})
    ints = expand({"system": "eos.minimalist", "fixed": {"lr": 1}})
    floats = expand({"system": "eos.minimalist", "fixed": {"lr": 1.0}})
    assert short[0].id == full[0].id == "0d2b0ca99b7b"  # golden: ids must not drift
    assert ints[0].id == floats[0].id
    assert short[0].resolved["steps"] == 3000 and short[0].params == {"lr": 0.1}
    assert _axis("lr", {"range": [0.05, 0.2, 0.05]}) == [0.05, 0.1, 0.15, 0.2]
    assert _axis("lr", {"logrange": [0.01, 1.0, 3]}) == [0.01, 0.1, 1.0]


def test_resume_accepts_more_seeds_and_grid_values_but_not_another_system(tmp_path):
    path = write(tmp_path, SWEEP)
    out = tmp_path / "out"
    run_sweep(path, out)
    grown = write(tmp_path, SWEEP.replace("seeds = 2", "seeds = 3")
                  .replace("d = [2, 3]", "d = [2, 3, 4]"), "g.toml")
    counts = run_sweep(grown, out)
    assert counts == {"runs": 27, "skipped": 12, "ok": 15, "diverged": 0, "failed": 0}
    for text, what in [(SWEEP.replace("walkers = 500", "walkers = 400"), r"\[fixed\] block"),
                       (SWEEP.replace("walk.lattice", "walk.gaussian"), "system")]:
        with pytest.raises(ValueError, match=f"another {what}"):
            run_sweep(write(tmp_path, text, "e.toml"), out)


def test_report_fss_on_a_sandpile_sweep(tmp_path):
    from dynsim.studies.fss import check_sweep_rows

    path = write(tmp_path, """
        system = "sandpile.manna"
        seeds = 2
        [fixed]
        grains = 3000
        [grid]
        L = [8, 12, 16]
    """)
    run_sweep(path, tmp_path / "out")
    r = CliRunner().invoke(cli, ["--quiet", "sweep", "report", str(tmp_path / "out"), "--fss",
                                 "--boot", "20", "--json", "--plot", str(tmp_path / "fss.png")])
    assert r.exit_code == 0, r.output
    fss = json.loads(r.output)["fss"]
    fit = fss["fit"]
    assert fit["sizes"] == [8, 12, 16] and 1.0 < fit["tau"] < 2.0
    assert fit["data"]["runs"] == [2, 2, 2]  # each seed's run is its own series for the bootstrap
    assert fit["q"][0] == 0.5 and fit["q"][-1] == 4.0  # the q grid of `dynsim sandpile fss`
    assert [(run["L"], run["seed"]) for run in fss["runs"]] == [(L, s) for L in (8, 12, 16)
                                                                 for s in (0, 1)]
    assert (tmp_path / "fss.png").stat().st_size > 10_000
    mixed = [{"status": "ok", "id": str(i), "system": "sandpile.manna",
              "params": {"L": L, "d": d}} for i, (L, d) in enumerate([(8, 1), (8, 2), (12, 2)])]
    with pytest.raises(ValueError, match="only L and the seed vary; here d vary"):
        check_sweep_rows(mixed)


def test_a_failed_run_says_why_and_leaves_no_folder(tmp_path):
    # a flow under a tiny evaluation budget ends "failed" with the solver's reason: indexed with
    # that reason, no run folder, listed by report --failed
    path = write(tmp_path, """
system = "flow.gradient"
seeds = 1
[fixed]
steps = 50
max_evals = 200
[grid]
lr = [0.1]
""")
    out = tmp_path / "out"
    counts = run_sweep(path, out)
    assert counts["failed"] == 1
    (row,) = read_index(out)
    assert row["status"] == "failed" and row["error"].startswith("failed:") and len(row["error"]) > 8
    assert finished(out) == {}
    rep = CliRunner().invoke(cli, ["sweep", "report", str(out), "--failed"], prog_name="dynsim")
    assert row["id"] in rep.output and row["error"] in rep.output


@pytest.mark.parametrize("axis", ["{range = [100, inf, 100]}", "{range = [0, 1e300, 1e-300]}",
                                  "{logrange = [1, inf, 3]}", "{range = [0, nan, 1]}"])
def test_unbounded_grid_axes_are_one_line(tmp_path, axis):
    path = write(tmp_path, SWEEP.replace("d = [2, 3]", f"d = {axis}"))
    r = CliRunner().invoke(cli, ["sweep", "run", str(path), "--dry-run"], prog_name="dynsim")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "'d'" in r.output


def test_report_averages_the_finite_values_and_says_how_many_seeds_gave_one(tmp_path):
    # a measure that failed (NaN, stored as null) on one of two ok seeds: the mean of the other,
    # said to come from 1 of 2 seeds, never "± nan"; the JSON carries the counts
    import sqlite3

    path = write(tmp_path, SWEEP.replace("d = [2, 3]", "d = [2]")
                 .replace("steps = {range = [100, 300, 100]}", "steps = [100]"))
    out = tmp_path / "out"
    run_sweep(path, out)
    rows = read_index(out)
    assert len(rows) == 2
    kept = rows[1]["headline"]["rms_distance"]
    con = sqlite3.connect(out / "index.sqlite")
    with con:
        headline = dict(rows[0]["headline"], rms_distance=None)
        con.execute("UPDATE runs SET headline = ? WHERE id = ?",
                    (json.dumps(headline), rows[0]["id"]))
    con.close()
    table = CliRunner().invoke(cli, ["--quiet", "sweep", "report", str(out)], prog_name="dynsim")
    assert table.exit_code == 0, table.output
    line = next(x for x in table.output.splitlines() if "rms_distance" in x)
    assert "nan" not in line and line.split()[1] == f"{kept:.6g}" and "(1 of 2 seeds)" in line
    other = next(x for x in table.output.splitlines() if "mean_distance" in x or
                 ("±" in x and "rms_distance" not in x))
    assert "seeds)" not in other  # a measure every seed gave: mean ± SE, no count
    rep = CliRunner().invoke(cli, ["--quiet", "sweep", "report", str(out), "--json"])
    stats = json.loads(rep.output)["groups"][0]["measures"]["rms_distance"]
    assert stats == {"mean": kept, "se": None, "n": 1, "of": 2}
