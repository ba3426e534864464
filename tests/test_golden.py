"""Golden tests: seeded runs of every registered family and the ``--json`` of CLI commands, against
values recorded in ``tests/golden/``.  They guard moves of tested code: a move keeps every value; a
deliberate behaviour change (a default, a flag, a channel name, a table format) is its own commit
that re-records them (``python tests/test_golden.py``) and says why.

Integer and boolean channels are compared by sha256 of their bytes.  Float channels are compared by
a fingerprint (NaN count, sum, sum |x|, sum x^2, a cosine-weighted sum) at a relative tolerance of
1e-9 (1e-5 for the torch run): bit patterns of floats may differ between CPUs (libm, BLAS kernels),
values of a short run at a fixed seed may not.  JSON floats are compared at the same tolerances.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).parent / "golden"

# (registry name, params): one short seeded run per family member
RUNS = {
    "walk.lattice": dict(d=3, walkers=200, steps=100, seed=1),
    "walk.gaussian": dict(d=5, walkers=100, steps=50, seed=2),
    "walk.pca": dict(d=50, walks=3, steps=40, k=3, seed=3),
    "walk.peaks": dict(d=2, side=6, landscapes=3, seed=4),
    "walk.vectors": dict(d=10, pairs=50, seed=5),
    "sandpile.btw": dict(L=8, grains=3000, seed=6),
    "sandpile.manna": dict(L=8, grains=3000, seed=7),
    "sandpile.oslo": dict(L=16, grains=3000, seed=8),
    "sandpile.graph": dict(n=200, k=4, grains=3000, seed=9),
    "eos.quadratic": dict(lr=0.1, steps=60, seed=10),
    "eos.minimalist": dict(lr=0.1, steps=200, seed=11),
    "eos.product": dict(lr=0.5, steps=200, seed=12),
    "eos.projected": dict(lr=0.1, steps=100, seed=13),
    "eos.starts": dict(lr=0.1, steps=100, seed=14),
    "eos.bifurcation": dict(system="product", lr_min=0.8, lr_max=1.2, n_lr=4, steps=300, keep=20,
                            seed=15),
    "flow.gradient": dict(lr=0.1, steps=100, seed=16),
    "flow.central": dict(lr=0.1, steps=100, seed=17),
    "map.henon": dict(n=30, transient=10, seed=18),
    "map.logistic": dict(n=30, transient=10, seed=19),
    "map.lorenz": dict(n=30, transient=10, seed=20),
    "train": dict(model="mlp", data="teacher_student", opt="gd", lr=0.05, steps=20, width=16,
                  probe_every=10, device="cpu", seed=21),
}

# CLI commands whose --json is recorded (short, seeded)
COMMANDS = {
    "walk-distance": "walk distance --dims 4 --walkers 300 --steps 100 --seed 1 --json",
    "walk-return": "walk return --dims 3 --walkers 500 --steps 200 --seed 2 --json",
    "walk-pca": "walk pca --dims 30 --walks 4 --steps 40 --seed 3 --json",
    "walk-peaks": "walk peaks --dims 2 --side 8 --landscapes 4 --seed 4 --json",
    "sandpile-run": "sandpile run --model btw --L 8 --grains 5000 --seed 5 --json",
    "sandpile-graph": "sandpile run --model graph --n 300 --grains 5000 --seed 6 --json",
    "eos-run": "eos run --system minimalist --lr 0.1 --steps 300 --seed 7 --json",
    "eos-bifurcation": "eos bifurcation --system product --lr-min 0.8 --lr-max 1.2 --n-lr 4 "
                       "--steps 300 --seed 8 --json",
    "eos-flows": "eos flows --system minimalist --lr 0.1 --steps 150 --seed 9 --json",
    "analyze-henon": "analyze {henon} --measure dimension --seed 10 --json",
    "analyze-pareto": "analyze {pareto} --boot 20 --seed 11 --json",
    "analyze-run": "analyze {run} --seed 12 --json",
    "walk-claims": "walk claims --quick --seed 0 --json",
    "sandpile-fss": "sandpile fss --model oslo --L 16,32,64 --grains 30000 --seed 13 --json",
    "sweep-report": "sweep report {sweep} --json",
}

# keys whose values depend on the machine or the moment, not on the seed
VOLATILE = {"timings", "created", "versions", "elapsed", "out", "path", "wall_s", "source", "run",
            "folder", "seconds"}


def _fingerprint(a: np.ndarray) -> list[float]:
    x = np.asarray(a, dtype=np.float64).ravel()
    nan = np.isnan(x)
    x = np.where(nan, 0.0, x)
    x = np.clip(x, -1e300, 1e300)
    w = np.cos(np.arange(x.size, dtype=np.float64))
    return [float(nan.sum()), float(x.sum()), float(np.abs(x).sum()), float((x * x).sum()),
            float((x * w).sum())]


def channel_record(trace) -> dict:
    out = {}
    for name in sorted(trace.channels):
        a = np.asarray(trace.channels[name])
        rec = {"shape": list(a.shape), "dtype": a.dtype.kind}
        if a.dtype.kind in "biu":
            rec["sha256"] = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
        else:
            rec["fingerprint"] = _fingerprint(a)
        out[name] = rec
    return out


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _close(a, b, rtol, where=""):
    if isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _close(a[k], b[k], rtol, f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (u, v) in enumerate(zip(a, b)):
            _close(u, v, rtol, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), f"{where}: {a!r} != {b!r}"
        assert math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _run(name):
    from dynsim import registry

    if name == "train":
        pytest.importorskip("torch")
    return registry.run(name, **RUNS[name])


def _inputs(folder: Path) -> dict:
    """The files the analyze commands read: a Henon orbit, a Pareto sample, a run folder."""
    from dynsim import registry
    from dynsim.trace import save_run

    files = {"henon": folder / "henon.npy", "pareto": folder / "pareto.npy", "run": folder / "run",
             "sweep": folder / "sweep"}
    if (folder / "run").exists():
        return files
    channels = registry.run("map.henon", n=3000, transient=100, seed=0).channels
    np.save(folder / "henon.npy", channels["trajectory"] if "trajectory" in channels
            else channels["trajectory"])
    rng = np.random.default_rng(0)
    np.save(folder / "pareto.npy", (1.0 - rng.random(3000)) ** (-1 / 1.5))
    save_run(registry.run("eos.minimalist", lr=0.1, steps=300, seed=0), folder / "run")
    from dynsim.sweep import run_sweep

    (folder / "sweep.toml").write_text('system = "walk.lattice"\nseeds = 2\n[fixed]\n'
                                       'walkers = 300\nsteps = 100\nrecords = 10\n'
                                       '[grid]\nd = [1, 3]\n')
    run_sweep(folder / "sweep.toml", files["sweep"], workers=1)
    return files


def cli_record(key: str, folder: Path) -> dict:
    from click.testing import CliRunner

    from dynsim.cli.main import cli

    args = COMMANDS[key].format(**_inputs(folder)) if "{" in COMMANDS[key] else COMMANDS[key]
    res = CliRunner().invoke(cli, args.split())
    assert res.exit_code == 0, f"dynsim {args}: exit {res.exit_code}\n{res.output}"
    return _strip(json.loads(res.stdout if hasattr(res, "stdout") else res.output))


def _load(kind: str) -> dict:
    return json.loads((GOLDEN / f"{kind}.json").read_text())


@pytest.mark.parametrize("name", sorted(RUNS))
def test_channels_golden(name):
    rec = _load("channels")[name]
    got = channel_record(_run(name))
    assert sorted(got) == sorted(rec), f"{name}: channels {sorted(got)} != {sorted(rec)}"
    rtol = 1e-5 if name == "train" else 1e-9
    for ch, want in rec.items():
        have = got[ch]
        assert have["shape"] == want["shape"] and have["dtype"] == want["dtype"], (name, ch)
        if "sha256" in want:
            assert have["sha256"] == want["sha256"], f"{name}:{ch} changed"
        else:
            _close(have["fingerprint"], want["fingerprint"], rtol, f"{name}:{ch}")


@pytest.mark.parametrize("key", sorted(COMMANDS))
def test_cli_json_golden(key, tmp_path):
    _close(cli_record(key, tmp_path), _load("cli")[key], 1e-9, key)


def regen() -> None:
    """Re-record every golden value (run ``python tests/test_golden.py`` after a deliberate change)."""
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    channels = {name: channel_record(_run(name)) for name in sorted(RUNS)}
    (GOLDEN / "channels.json").write_text(json.dumps(channels, indent=1, sort_keys=True) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        clis = {key: cli_record(key, Path(tmp)) for key in sorted(COMMANDS)}
    (GOLDEN / "cli.json").write_text(json.dumps(clis, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    regen()
    print(f"recorded {len(RUNS)} runs and {len(COMMANDS)} commands in {GOLDEN}")
