import math

import pytest

from dynsim import registry
from dynsim.analysis import measure
from dynsim.analysis.walks import expected_max_abs_normal
from dynsim.params import Seed

SMALL = {
    "walk.lattice": dict(d=2, walkers=50, steps=20),
    "walk.gaussian": dict(d=2, walkers=50, steps=20),
    "walk.pca": dict(d=5, walks=3, steps=20, k=2),
    "walk.peaks": dict(d=2, side=5, landscapes=2),
    "walk.vectors": dict(d=5, pairs=10),
    "map.henon": dict(n=300, transient=10),
    "map.logistic": dict(n=300, transient=10),
    "map.lorenz": dict(n=300, transient=10),
    "sandpile.btw": dict(L=8, grains=500), "sandpile.manna": dict(L=8, grains=500),
    "sandpile.oslo": dict(L=8, grains=500), "sandpile.graph": dict(graph="rr", n=60, k=3, grains=500),
    "eos.quadratic": dict(steps=50), "eos.minimalist": dict(steps=50), "eos.product": dict(steps=50),
    "eos.bifurcation": dict(n_lr=3, steps=60, keep=30), "eos.starts": dict(steps=50),
    "eos.projected": dict(steps=50),
    "flow.gradient": dict(steps=20), "flow.central": dict(steps=20),
    "train": dict(data="mnist1d", subset=200, width=8, steps=6, probe_every=3, lanczos_iter=8),
}


def test_every_system_is_registered_and_runs():
    assert set(SMALL) == set(registry.SYSTEMS)
    for name, params in SMALL.items():
        if name == "train":
            pytest.importorskip("torch")
        system = registry.get(name)
        assert set(params) <= set(system.schema) and isinstance(system.schema["seed"], Seed)
        trace = registry.run(name, seed=1, **params)
        assert trace.system == name and trace.seed == 1
        assert trace.params.items() >= params.items()
        assert len(measure(trace)) > 0


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown system 'walk.levy'"):
        registry.get("walk.levy")
    with pytest.raises(ValueError, match="unknown parameter"):
        registry.run("walk.lattice", dims=3)
    with pytest.raises(ValueError, match="`walkers` must be"):
        registry.run("walk.lattice", walkers=0)


def test_seed_none_is_drawn_and_recorded():
    trace = registry.run("walk.vectors", d=3, pairs=5)
    assert isinstance(trace.seed, int)
    again = registry.run("walk.vectors", d=3, pairs=5, seed=trace.seed)
    assert (again["vector_cosine"] == trace["vector_cosine"]).all()


def test_expected_max_abs_normal():
    assert expected_max_abs_normal(1) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-10)


def test_an_entry_point_that_cannot_be_imported_is_one_line():
    # e.g. train on a core install without torch: a ValueError naming the extra, not a traceback
    from dynsim.registry import System

    with pytest.raises(ValueError, match=r"cannot be imported.*pip install 'dynsim\[nets\]'"):
        System("dynsim.models.no_such_module:train", "").load()


@pytest.mark.parametrize("name", sorted(registry.SYSTEMS))
def test_entry_point_defaults_are_the_schemas(name):
    # a default is written once, in the schema: the signature (what users and the sweep see)
    # shows exactly the schema's defaults, under exactly the schema's names
    import inspect

    if name == "train":
        pytest.importorskip("torch")
    system = registry.get(name)
    schema = system.schema
    sig = {k: p.default for k, p in inspect.signature(system.load()).parameters.items()
           if k not in ("seed", "progress", "config")}
    assert set(sig) == set(schema) - {"seed"}, name
    assert sig == system.defaults, name
    for pname, constraint in schema.items():   # every default is allowed by its own constraint
        if constraint.default is not None:
            constraint.check(pname, constraint.default)
        assert pname == "seed" or constraint.help, f"{name}: {pname} has no help text"


def test_api_defaults_follow_the_cli():
    # where the API and the CLI disagreed, the CLI's default won
    import inspect

    from dynsim.sims.walks.walk import gaussian_walk, lattice_walk

    for fn in (lattice_walk, gaussian_walk):
        assert inspect.signature(fn).parameters["walkers"].default == 20_000
