"""The finite-size-scaling study through its Python API: fresh sizes, a sweep folder, and the two
giving the same estimates on the same runs."""

import json
import textwrap

import numpy as np
import pytest

from dynsim.rng import child_seed
from dynsim.studies.fss import FssStudy, finite_size_scaling
from dynsim.sweep import read_index, run_sweep

SIZES = (8, 12, 16)
GRAINS = 4000
SEED = 11


@pytest.fixture(scope="module")
def fresh():
    return finite_size_scaling("manna", SIZES, grains=GRAINS, replicas=2, boot=20, seed=SEED)


def test_fresh_sizes(fresh):
    assert isinstance(fresh, FssStudy) and fresh.sweep is None
    assert fresh.system == "sandpile.manna" and fresh.d == 2 and fresh.sizes == SIZES
    assert [(r.L, r.seed) for r in fresh.runs] == [(L, child_seed(SEED, L)) for L in SIZES]
    # Manna in 2-D: the stationary mean size per grain is exactly 2 x Dhar's mean of Delta^-1 1
    for r in fresh.runs:
        assert r.grains == GRAINS and abs(r.mean_size - r.exact_mean_size) < 0.15 * r.exact_mean_size
    assert 1.0 < fresh.fit.tau < 1.6 and 1.5 < fresh.fit.D < 3.5
    assert [e.name for e in fresh.exponents] == ["D", "tau"]
    assert all(e.reference is not None and isinstance(e.agrees, bool) for e in fresh.exponents)
    text = str(fresh)
    assert text.splitlines()[0].startswith("sandpile.manna  fss  seed=11")
    assert "D    =" in text and "moving-block bootstrap" in text
    payload = json.loads(fresh.to_json())
    assert "samples" not in payload and "traces" not in payload
    assert payload["fit"]["sizes"] == list(SIZES) and len(payload["runs"]) == 3
    fig = fresh.figure()
    assert fig.axes  # the collapse, with the sigma(q) inset
    # the same seed gives the same study
    again = finite_size_scaling("manna", SIZES, grains=GRAINS, replicas=2, boot=20, seed=SEED)
    assert again.fit.D == fresh.fit.D and again.fit.tau_stderr == fresh.fit.tau_stderr


def test_a_sweep_of_the_same_runs_gives_the_same_estimates(fresh, tmp_path):
    # a sweep folder holding exactly the fresh study's runs: one resume per size, its seed the
    # one the fresh path gives that size (a resume may add grid values)
    out = tmp_path / "sweep"
    for L in SIZES:
        path = tmp_path / f"L{L}.toml"
        path.write_text(textwrap.dedent(f"""
            system = "sandpile.manna"
            [fixed]
            grains = {GRAINS}
            replicas = 2
            d = 2
            [grid]
            L = [{L}]
            seed = [{child_seed(SEED, L)}]
        """))
        assert run_sweep(path, out)["ok"] == 1
    assert len(read_index(out)) == 3
    swept = finite_size_scaling(sweep=out, boot=20, seed=SEED)
    assert swept.sweep == str(out) and swept.sizes == SIZES
    assert [(r.L, r.seed, r.avalanches) for r in swept.runs] == \
        [(r.L, r.seed, r.avalanches) for r in fresh.runs]
    assert all(r.id for r in swept.runs)
    for name in ("D", "D_stderr", "tau", "tau_stderr"):
        assert getattr(swept.fit, name) == getattr(fresh.fit, name), name
    np.testing.assert_array_equal(swept.fit.sigma, fresh.fit.sigma)
    assert swept.exponents == fresh.exponents
    # the sweep fixes model, sizes and the rest: giving them is refused, naming them
    with pytest.raises(ValueError, match="`model`, `L`: given with `sweep`"):
        finite_size_scaling("manna", SIZES, sweep=out)


def test_bad_inputs_name_the_parameter(tmp_path):
    for kwargs, msg in [(dict(q_min=3.0, q_max=2.0), "`q_max` must exceed `q_min`"),
                        (dict(model="graph"), "`model` must be one of 'btw', 'manna', 'oslo'"),
                        (dict(boot=0), r"`boot` must be an integer in \[2, 10000\], got 0"),
                        (dict(boot=-3), r"`boot` must be an integer in \[2, 10000\], got -3"),
                        (dict(L="abc"), r"`L` must be at least 3 distinct sizes .*'abc'"),
                        (dict(model="manna", L="abc"), "`L` must be"),
                        (dict(L=(8, 16, 32.5)), "`L` must be"),
                        (dict(L=(8, 16)), "`L` must be at least 3"),
                        (dict(model="oslo", d=2), "`d` does not apply"),
                        (dict(model="manna", L=(8, 16, 20000)), r"`L` must hold sizes that are each an integer in \[2, 16384\] for model manna, got 20000")]:
        with pytest.raises(ValueError, match=msg):
            finite_size_scaling(**kwargs)
    with pytest.raises(ValueError, match="not a sweep folder"):
        finite_size_scaling(sweep=tmp_path)
    # runs that did not become stationary are refused, saying how many grains would do
    with pytest.raises(ValueError, match=r"add grains: run at L=64 .* give `grains` of at least"):
        finite_size_scaling("oslo", (16, 32, 64), grains=3000, seed=3)


def test_table_fits_a_terminal(fresh):
    # rows carry reference keys; notes and citations are wrapped under the table
    assert max(map(len, str(fresh).splitlines())) <= 100
    oslo = finite_size_scaling("oslo", (16, 32, 64), grains=20000, boot=20, seed=1)
    text = str(oslo)
    assert max(map(len, text.splitlines())) <= 100
    assert "(published; oslo_D)" in text and text.count("Grassberger") == 1
