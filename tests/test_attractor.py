"""The attractor study (dynsim.studies.attractor) through its Python API: delay embedding, D2 and
Rosenstein's exponent of a series or a point cloud, as ``dynsim analyze`` reports them.

Tolerances as in tests/test_analyze_cli.py and tests/test_dimension.py (K = 3): Henon D2 = 1.21
within 3 x (slope SE + local-slope spread), lambda_1 = 0.4193 within 3 x (SE + SD of the local slopes
of the divergence); the logistic map at r = 4, lambda = ln 2 within 3 SE (Grassberger & Procaccia
1983; Rosenstein, Collins & De Luca 1993).
"""

import json

import numpy as np
import pytest

from dynsim import references
from dynsim.sims.maps import henon, logistic
from dynsim.studies.attractor import AttractorResult, attractor
from dynsim.studies.base import StudyResult

K = 3.0
HENON_LAMBDA1 = references.value("henon_lyapunov")[0]
HENON_D2 = references.value("henon_correlation_dimension")


@pytest.fixture(scope="module")
def henon_x():
    return henon(10_000, seed=1)["trajectory"][:, 0]


def test_henon_series_embedded(henon_x):
    res = attractor(henon_x, embed=True, source="henon_x")
    assert isinstance(res, AttractorResult) and isinstance(res, StudyResult)
    e = res.embedding
    assert (e.delay, e.dim, e.theiler) == (1, 2, 1) and res.points == (9999, 2)
    assert e.delay_rule.startswith("first lag with autocorrelation below 1/e")
    d2 = res.dimension
    assert abs(d2.value - HENON_D2) <= K * d2.stderr, d2
    lam = res.rosenstein
    spread = float(np.std(np.diff(lam.data["divergence"][slice(*lam.data["fit_range"])]), ddof=1))
    assert abs(lam.value - HENON_LAMBDA1) <= K * (lam.stderr + spread), lam
    # prints itself: what was embedded and how, the table, the details blocks
    text = str(res)
    for needle in ("henon_x: a series of 10000 values, delay-embedded", "delay 1: first lag",
                   "dim 2: first dimension", "Theiler window 1", "correlation_dimension",
                   "lyapunov_rosenstein", "SD of local slopes", "fit range rule"):
        assert needle in text, (needle, text)
    out = json.loads(res.to_json())
    assert out["measure"] == ["dimension", "lyapunov"] and out["points"] == [9999, 2]
    assert out["embedding"]["dim"] == 2 and out["measures"]["correlation_dimension"]["value"] == d2.value
    fig = res.figure()
    assert len(fig.axes) == 3                      # C(r), local slopes, divergence


def test_logistic_given_embedding_and_fit_range():
    series = logistic(3000, r=4.0, seed=3)["trajectory"][:, 0]
    res = attractor(series, dim=1, delay=1, measures=["lyapunov"], fit_range=(0, 6))
    assert res.dimension is None and res.embedding.dim_rule == "given"
    lam = res.rosenstein
    assert abs(lam.value - references.value("logistic_r4_lyapunov")) <= K * lam.stderr, lam
    assert lam.data["fit_range"] == (0, 6)


def test_point_cloud_has_no_embedding():
    x = henon(10_000, seed=1)["trajectory"]
    res = attractor(x, measures=["dimension"], seed=0)
    assert res.embedding is None and res.theiler == 0 and res.points == (10_000, 2)
    assert abs(res.dimension.value - HENON_D2) <= K * res.dimension.stderr
    assert "10000 points in 2 dimensions" in str(res) and res.to_dict()["embedding"] is None


@pytest.mark.parametrize("kw,needle", [
    (dict(measures=["fractal"]), "`measures`"),
    (dict(measures=["dimension"], dt=0.1), "`dt` applies to the lyapunov measure"),
    (dict(embed=True, dim=2, max_dim=4), "`max_dim`"),
    (dict(embed=True, theiler=400), "`theiler` 400 is too large"),
])
def test_bad_input_names_the_api_parameter(kw, needle):
    with pytest.raises(ValueError) as info:
        attractor(np.sin(np.arange(500) * 0.3), **kw)
    assert needle in str(info.value)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="transpose"):
        attractor(np.ones((2, 1000)))
    with pytest.raises(ValueError, match="takes a scalar series"):
        attractor(np.ones((100, 3)), embed=True)
    with pytest.raises(ValueError, match=r"\(4, 5, 6\) array"):
        attractor(np.zeros((4, 5, 6)))


def test_seed_none_is_drawn_and_recorded():
    x = henon(3000, seed=1)["trajectory"]
    res = attractor(x, measures=["dimension"])
    assert isinstance(res.seed, int) and res.to_dict()["seed"] == res.seed
    again = attractor(x, measures=["dimension"], seed=res.seed)
    assert again.dimension.value == res.dimension.value
