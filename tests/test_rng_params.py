import math
import subprocess
import sys

import numpy as np
import pytest

from dynsim.jsonutil import to_json
from dynsim.params import Bool, Choice, Float, Int, check_params
from dynsim.rng import make_rng, make_seed, stream_state, xoshiro_next


def test_xoshiro256starstar_reference_vector():
    # reference outputs of xoshiro256** from state (1, 2, 3, 4) (Blackman & Vigna's C code)
    s = tuple(np.uint64(v) for v in (1, 2, 3, 4))
    outs = []
    for _ in range(4):
        out, *s = xoshiro_next(*s)
        outs.append(int(out))
    assert outs == [11520, 0, 1509978240, 1215971899390074240]


def test_streams_differ_and_are_reproducible():
    states = {stream_state(7, i) for i in range(1000)}
    assert len(states) == 1000
    assert stream_state(7, 5) == stream_state(7, 5) != stream_state(8, 5)


def test_make_seed():
    assert make_seed(5) == 5
    s = make_seed(None)
    assert 0 <= s < 2**63
    for bad in (-1, 2**63, 1.5, "3", True):
        with pytest.raises(ValueError, match="seed"):
            make_seed(bad)
    a = make_rng(3, 1)[1].random(3)
    assert np.array_equal(a, make_rng(3, 1)[1].random(3)) and not np.array_equal(a, make_rng(3, 2)[1].random(3))


@pytest.mark.parametrize("constraint,good,bad", [
    (Int(1, None), [1, 10**9, np.int64(3)], [0, -1, 1.5, "2", True, math.nan]),
    (Float(0, None, lo_open=True), [1e-9, 3], [0.0, -1, math.nan, math.inf, "x"]),
    (Choice(("all", "axis")), ["all"], ["ALL", 1]),
    (Bool(), [True, np.bool_(False)], [1, "yes"]),
])
def test_constraints(constraint, good, bad):
    for v in good:
        constraint.check("x", v)
    for v in bad:
        with pytest.raises(ValueError, match=r"^`x` must be"):
            constraint.check("x", v)


def test_check_params_names_unknown():
    with pytest.raises(ValueError, match="unknown parameter.*walkerz"):
        check_params({"d": Int(1)}, {"walkerz": 3}, "walk.lattice")


def test_json_helper():
    text = to_json({"a": np.float32(1.5), "b": np.arange(3), "c": math.nan, "d": (math.inf, 1)})
    assert text.replace("\n", "").replace(" ", "") == '{"a":1.5,"b":[0,1,2],"c":null,"d":[null,1]}'


def test_params_imports_no_click():
    # the schemas are plain data; the click adapter lives in dynsim.cli.base
    code = "import sys, dynsim.params, dynsim.registry; print('click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_entry_point_takes_its_defaults_from_the_schema():
    import inspect

    from dynsim.params import entry_point, param_table

    schema = {"n": Int(1, 10, default=3, help="Count."), "x": Float(help="Scale.", none_means="1/n")}

    @entry_point(schema)
    def f(n, x, *, seed=None):
        """Doc."""
        return n, x

    assert f() == (3, None) and f.PARAMS is schema
    assert inspect.signature(f).parameters["n"].default == 3
    assert param_table(schema) in f.__doc__ and "x : 1/n" in f.__doc__
    with pytest.raises(TypeError, match="belong in the schema"):
        entry_point(schema)(lambda n=4, x=None, *, seed=None: None)
    with pytest.raises(TypeError, match="differ from the schema"):
        entry_point(schema)(lambda n, *, seed=None: None)


def test_trainer_config_imports_without_torch():
    code = ("import sys, dynsim.models.config as c; c.TrainConfig(lr=0.2).checked(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
