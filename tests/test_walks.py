"""Random walks against exact results, with tolerances of 3 standard errors at fixed seeds."""

import hashlib
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats

from dynsim.analysis import measure
from dynsim.studies.claims import move_counts
from dynsim.sims.walks import gaussian_walk, lattice_walk, record_steps

K = 3.0  # standard errors


def test_lattice_moves_all_2d_equally_likely():
    for d in (1, 3, 10):
        counts = move_counts(d, 500, 200, seed=11)
        assert counts.size == 2 * d and counts.min() > 0
        assert stats.chisquare(counts).pvalue > 1e-3
    # and each step changes exactly one coordinate by exactly 1
    from dynsim.sims.walks.kernels import lattice_paths_kernel
    paths = np.zeros((5, 200, 4))
    lattice_paths_kernel(3, 0, paths)
    steps = np.abs(np.diff(paths, axis=1))
    assert np.all(steps.sum(axis=2) == 1) and np.all(steps.max(axis=2) == 1)


def test_record_steps():
    rec = record_steps(1000, 40)
    assert rec[0] == 1 and rec[-1] == 1000 and np.all(np.diff(rec) > 0)
    assert list(record_steps(3, 40)) == [1, 2, 3]


@pytest.mark.parametrize("d", [1, 2, 10])
def test_lattice_mean_square_distance_is_n(d):
    m = measure(lattice_walk(d=d, walkers=20000, steps=2000, seed=100 + d))
    for name in ("rms_distance", "coord_rms", "distance_exponent"):
        est = m[name]
        assert abs(est.z) < K, (name, est)
    assert m["rms_distance"].reference == pytest.approx(math.sqrt(2000))
    assert m["coord_rms"].reference == pytest.approx(math.sqrt(2000 / d))


def test_gaussian_walk_normalisation():
    # default step_std = 1/sqrt(d): E|X_n|^2 = n; step_std = 1: E|X_n|^2 = n d
    m = measure(gaussian_walk(d=10, walkers=5000, steps=400, seed=5))
    assert m["rms_distance"].reference == pytest.approx(20.0) and abs(m["rms_distance"].z) < K
    m1 = measure(gaussian_walk(d=10, walkers=5000, steps=400, step_std=1.0, seed=6))
    assert m1["rms_distance"].reference == pytest.approx(math.sqrt(4000)) and abs(m1["rms_distance"].z) < K
    # for Gaussian steps X_n ~ N(0, n step_std^2 I) exactly: mean |X_n|, mean max_i |x_i| and the
    # median have exact references
    for name in ("mean_distance", "linf_distance"):
        assert abs(m1[name].z) < K, m1[name]
    med = m1["median_distance"]
    assert med.ci[0] - 3 * med.stderr < med.reference < med.ci[1] + 3 * med.stderr


def test_distance_exponent_error_is_honest():
    # z-scores over independent seeds should look standard normal (sandwich SE, not naive OLS)
    z = [measure(lattice_walk(d=5, walkers=2000, steps=300, seed=s))["distance_exponent"].z
         for s in range(30)]
    assert abs(np.mean(z)) < K / math.sqrt(30) + 0.2
    assert 0.5 < np.std(z) < 1.6


def _digest(trace):
    h = hashlib.sha256()
    for k in sorted(trace.channels):
        h.update(k.encode())
        h.update(np.ascontiguousarray(trace.channels[k]).tobytes())
    return h.hexdigest()


def test_same_seed_same_trace_with_1_or_2_threads():
    code = textwrap.dedent("""
        import hashlib, numpy as np
        from dynsim.sims.walks import lattice_walk, gaussian_walk, walk_pca, landscape_peaks
        h = hashlib.sha256()
        for tr in (lattice_walk(d=4, walkers=3000, steps=300, seed=9),
                   gaussian_walk(d=3, walkers=1000, steps=100, seed=9),
                   walk_pca(d=6, walks=7, steps=50, k=3, seed=9),
                   landscape_peaks(d=3, side=5, smooth=1, landscapes=3, seed=9)):
            for k in sorted(tr.channels):
                h.update(k.encode()); h.update(np.ascontiguousarray(tr.channels[k]).tobytes())
        print(h.hexdigest())
    """)
    digests = set()
    for threads in ("1", "2"):  # numba and BLAS (covariance, eigh in the summaries) alike
        env = {**os.environ, "NUMBA_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
               "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
        digests.add(out)
    assert len(digests) == 1


def test_chunking_does_not_change_results():
    a = lattice_walk(d=3, walkers=5000, steps=100, seed=4)  # several chunks of 2048
    b = lattice_walk(d=3, walkers=2048, steps=100, seed=4)  # the first chunk alone
    c = lattice_walk(d=3, walkers=5000, steps=100, seed=5)
    assert np.array_equal(a["first_return"][:2048], b["first_return"])
    assert not np.array_equal(a["first_return"], c["first_return"])
    assert _digest(a) == _digest(lattice_walk(d=3, walkers=5000, steps=100, seed=4))


def test_walkers_are_uncorrelated():
    # streams that were shifted copies of one sequence would correlate walker w at step t with
    # walker w' at step t + lag: check all neighbour pairs at lags -3..3, and the variance of the
    # mean position over walkers, which correlation of any kind would inflate
    from dynsim.sims.walks.kernels import lattice_paths_kernel
    paths = np.zeros((2000, 201, 1))
    lattice_paths_kernel(1, 0, paths)
    steps = np.diff(paths[:, :, 0], axis=1)  # (walkers, 200) of +-1
    for lag in range(-3, 4):
        a = steps[:-1, max(0, lag): steps.shape[1] + min(0, lag)]
        b = steps[1:, max(0, -lag): steps.shape[1] - max(0, lag)]
        corr = np.mean(a * b)
        assert abs(corr) < 4.0 / math.sqrt(a.size), lag
    final = paths[:, -1, 0]  # Var(X_200) = 200 for each walker; the mean of 2000 has Var 0.1
    assert abs(final.mean()) < K * math.sqrt(200 / 2000)
    chi2 = np.sum(final**2) / 200  # ~ chi^2 with 2000 dof if walkers are independent
    assert abs(chi2 - 2000) < K * math.sqrt(2 * 2000)


def test_bad_arguments_raise_value_error():
    for kwargs, msg in [(dict(d=0), "`d` must be"), (dict(walkers=1), "`walkers` must be"),
                        (dict(steps=1.5), "`steps` must be"), (dict(seed=-3), "seed")]:
        with pytest.raises(ValueError, match=msg):
            lattice_walk(**kwargs)
    with pytest.raises(ValueError, match="`step_std` must be"):
        gaussian_walk(step_std=float("nan"))
    with pytest.raises(ValueError, match="GiB"):
        lattice_walk(walkers=10**8, steps=10**6, records=1000)
