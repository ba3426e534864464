"""PCA of walks (Antognini & Sohl-Dickstein 2018) and peaks of random landscapes (exchangeability;
the peak_fraction_* keys of references.json)."""

import math

import numpy as np
import pytest
from scipy import stats

from dynsim import references
from dynsim.analysis import measure
from dynsim.analysis.pca import (cosine_fidelity, principal_components, walk_pca_limit,
                                 walk_pca_theory)
from dynsim.analysis.walks import peak_probability
from dynsim.sims.walks import landscape_peaks, random_vectors, walk_pca

K = 3.0


@pytest.mark.parametrize("steps", [5, 60, 300])
def test_pca_theory_closed_form_matches_eigendecomposition(steps):
    t = np.arange(steps + 1)
    kernel = np.minimum.outer(t, t).astype(float)
    h = np.eye(steps + 1) - 1.0 / (steps + 1)
    ev = np.sort(np.linalg.eigvalsh(h @ kernel @ h))[::-1]
    np.testing.assert_allclose(walk_pca_theory(steps, 4), ev[:4] / ev.sum(), rtol=1e-9)


def test_pca_limit():
    assert walk_pca_limit(2).sum() == pytest.approx(references.value("pca_walk_explained_12_limit"),
                                                    abs=1e-4)
    assert walk_pca_theory(10**5, 1)[0] == pytest.approx(
        references.value("pca_walk_explained_limit")[0], abs=1e-4)


def test_principal_components_both_regimes_agree():
    rng = np.random.default_rng(0)
    path = np.cumsum(rng.normal(size=(40, 15)), axis=0)
    r1, p1 = principal_components(path, 3)
    wide = np.hstack([path, np.zeros((40, 30))])  # T < d: Gram route; same spectrum
    r3, p3 = principal_components(wide, 3)
    np.testing.assert_allclose(r1, r3, rtol=1e-9)
    np.testing.assert_allclose(np.abs(p1), np.abs(p3), atol=1e-8)
    # the exact discrete cosines: a path whose PCs are the DCT-II basis gives |corr| = 1
    t = (np.arange(40) + 0.5) / 40
    exact = np.column_stack([np.cos(np.pi * k * t) for k in (1, 2, 3)])
    np.testing.assert_allclose(cosine_fidelity(exact), 1.0, atol=1e-12)


def test_high_dimensional_walk_matches_theory():
    # n << d: PC1 and PC1+2 within 3 SE of the finite-n theory; projections are cosines
    tr = walk_pca(d=4000, walks=20, steps=100, k=3, lattice=False, seed=3)
    m = measure(tr)
    for name in ("pca_explained_1", "pca_explained_12"):
        assert m[name].reference is not None and abs(m[name].z) < K, m[name]
    # |corr| -> 1 for k <= 3 as d/n -> inf (pca_walk_cosine_corr); at d/n = 40 the third
    # component is still 1e-3 short (finite-d mixing of neighbouring components)
    assert m["pca_cos_corr_1"].value > 0.999 and m["pca_cos_corr_2"].value > 0.999
    assert m["pca_cos_corr_3"].value > 0.995


def test_ten_dimensional_walk_is_outside_the_theory():
    # pca_lattice_d10_n1000 (measured here): 10-D lattice walk, n = 1000, 400 walks: PC1 0.635,
    # PC1+2 0.805, per-walk SD 0.05
    (pc1, pc12), sd = references.value("pca_lattice_d10_n1000"), references.get(
        "pca_lattice_d10_n1000")["uncertainty"]
    walks = 400  # of that calibration (its "how")
    m = measure(walk_pca(d=10, walks=200, steps=1000, k=2, seed=4))
    e12 = m["pca_explained_12"]
    assert e12.reference is None  # d << n: no oracle claimed
    assert abs(e12.value - pc12) < K * math.hypot(e12.stderr, sd / math.sqrt(walks))
    assert abs(m["pca_explained_1"].value - pc1) < K * math.hypot(m["pca_explained_1"].stderr,
                                                                   sd / math.sqrt(walks)) + 0.01


@pytest.mark.parametrize("levels,neighbours,top_only,key", [
    (0, "all", False, "peak_fraction_iid_d10"), (5, "axis", True, "peak_fraction_levels5_axis_top"),
    (5, "all", False, "peak_fraction_levels5_all"), (5, "axis", False, "peak_fraction_levels5_axis")])
def test_peak_probability_formulas(levels, neighbours, top_only, key):
    assert peak_probability(10, levels, neighbours, top_only) == pytest.approx(
        references.value(key), rel=0.01)


@pytest.mark.parametrize("kwargs", [
    dict(d=3, side=7), dict(d=10, side=3), dict(d=10, side=4, levels=5, neighbours="axis", top_only=True),
    dict(d=4, side=6, levels=3), dict(d=2, side=50, neighbours="axis")])
def test_peak_fraction_matches_exchangeability(kwargs):
    est = measure(landscape_peaks(landscapes=10, seed=8, **kwargs))["peak_fraction"]
    # the SE comes from 10 landscapes: use the Student-t equivalent of 3 standard errors
    assert abs(est.z) < stats.t.ppf(stats.norm.cdf(K), est.data["dof"]), est


def test_smoothing_has_no_oracle_and_lowers_peaks():
    raw = measure(landscape_peaks(d=3, side=12, landscapes=4, seed=1))["peak_fraction"]
    smooth = measure(landscape_peaks(d=3, side=12, smooth=2, landscapes=4, seed=1))["peak_fraction"]
    assert smooth.reference is None and smooth.value < raw.value - 5 * raw.stderr


def test_peak_arguments():
    with pytest.raises(ValueError, match="`side` must be"):
        landscape_peaks(side=2)
    with pytest.raises(ValueError, match="sites"):
        landscape_peaks(d=30, side=4)
    with pytest.raises(ValueError, match="`smooth` needs continuous"):
        landscape_peaks(levels=3, smooth=1)


def test_random_vectors_shell_and_orthogonality():
    m = measure(random_vectors(d=500, pairs=4000, seed=2))
    assert abs(m["cosine_spread"].z) < K and m["cosine_spread"].reference == pytest.approx(500**-0.5)
    assert abs(m["norm_spread"].z) < K and m["norm_spread"].reference == pytest.approx((2 * 500) ** -0.5, rel=0.01)
