import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from dynsim.trace import SCHEMA, Trace, load_run, load_runs, make_trace, save_run, save_runs


def small_trace(seed=3):
    return make_trace("walk.lattice", {"d": 3, "walkers": np.int64(5), "ratio": np.float32(0.5)}, seed,
                      {"dist_step": np.arange(1, 6), "dist_mean": np.linspace(0, 1, 5)},
                      timings={"simulate": 0.25}, stationary_from=np.int64(7))


def test_make_trace_fills_common_meta():
    tr = small_trace()
    for key in ("schema", "system", "params", "seed", "status", "versions", "timings", "created"):
        assert key in tr.meta
    assert tr.meta["schema"] == SCHEMA and tr.meta["status"] == "ok"
    assert tr.meta["versions"]["numpy"] == np.__version__
    assert type(tr.meta["params"]["walkers"]) is int and tr.meta["stationary_from"] == 7


def test_round_trip(tmp_path):
    tr = small_trace()
    path = save_run(tr, tmp_path / "run")
    assert sorted(os.listdir(path)) == ["channels.npz", "meta.json"]
    back = load_run(path)
    assert back.meta == json.loads(json.dumps(tr.meta))
    assert back.channels.keys() == tr.channels.keys()
    for k in tr.channels:
        np.testing.assert_array_equal(back[k], tr[k])
        assert back[k].dtype == tr[k].dtype
    # plain json + numpy read it too
    assert json.loads((path / "meta.json").read_text())["system"] == "walk.lattice"
    with np.load(path / "channels.npz") as npz:
        np.testing.assert_array_equal(npz["dist_step"], np.arange(1, 6))


def test_existing_output_refused_unless_force(tmp_path):
    save_run(small_trace(1), tmp_path / "run")
    with pytest.raises(ValueError, match="exists; pass --force"):
        save_run(small_trace(2), tmp_path / "run")
    save_run(small_trace(2), tmp_path / "run", force=True)
    assert load_run(tmp_path / "run").seed == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary or old folder left


def test_save_runs_collection(tmp_path):
    save_runs({"d01": small_trace(1), "d02": small_trace(2)}, tmp_path / "many")
    runs = load_runs(tmp_path / "many")
    assert sorted(runs) == ["d01", "d02"] and runs["d02"].seed == 2
    with pytest.raises(ValueError, match="holds runs d01, d02"):
        load_run(tmp_path / "many")


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        load_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no meta.json"):
        load_run(tmp_path / "empty")
    path = save_run(small_trace(), tmp_path / "run")
    meta = json.loads((path / "meta.json").read_text())
    meta["schema"] = 99
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="schema 99; this dynsim .* reads schema 1"):
        load_run(path)
    del meta["seed"]
    meta["schema"] = SCHEMA
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="lacks meta key"):
        load_run(path)
    (path / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_run(path)


def test_missing_channel_message():
    with pytest.raises(KeyError, match="no channel 'loss'.*dist_mean"):
        small_trace()["loss"]


def test_bad_status_and_object_channels_refused():
    with pytest.raises(ValueError, match="status"):
        make_trace("x.y", {}, 0, {}, status="weird")
    with pytest.raises(ValueError, match="numeric"):
        make_trace("x.y", {}, 0, {"bad": np.array([{}, 1], dtype=object)})
    assert isinstance(small_trace(), Trace)


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from dynsim.trace import make_trace, save_run
    big = {f"c{i}": np.ones(1_000) for i in range(20_000)}  # 160 MB in 20000 members: a slow write
    tr = make_trace("walk.lattice", {}, 0, big)
    print("writing", flush=True)
    save_run(tr, sys.argv[1])
""")


def test_killed_write_leaves_no_run(tmp_path):
    target = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"writing"
    deadline = time.time() + 60
    while not any(p.name.startswith(".run.tmp-") for p in tmp_path.iterdir()):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.001)
    time.sleep(0.05)  # mid-write
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not target.exists()
    with pytest.raises(ValueError):
        load_run(target)
    # the next writer cleans the dead writer's temporary folder and succeeds
    save_run(small_trace(), target)
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_leftovers_of_a_killed_writer_are_removed_on_the_next_write(tmp_path):
    # a writer killed between creating and removing its probe, tmp or old sibling leaves it
    # behind; the next write of that run removes every one whose process is gone (and no other)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    names = [f".run.{kind}-{dead}-0123abcd" for kind in ("probe", "tmp", "old")]
    for name in names:
        (tmp_path / name).mkdir()
    alive = tmp_path / f".run.probe-{os.getpid()}-0123abcd"
    alive.mkdir()
    save_run(make_trace("walk.lattice", {}, 0, {"x": np.arange(3)}), tmp_path / "run")
    assert not any((tmp_path / n).exists() for n in names) and alive.exists()
