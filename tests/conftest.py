"""Shared fixtures: compile the numba kernels once per session, before any timed or statistical test."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def warm_numba():
    from dynsim.analysis.walks import return_fraction_exact
    from dynsim.sims.walks import landscape_peaks, lattice_walk, random_vectors, walk_pca
    from dynsim.sims.walks import gaussian_walk

    lattice_walk(d=2, walkers=4, steps=4, seed=0)
    gaussian_walk(d=2, walkers=4, steps=4, seed=0)
    walk_pca(d=3, walks=2, steps=4, k=2, seed=0)
    walk_pca(d=3, walks=2, steps=4, k=2, lattice=False, seed=0)
    landscape_peaks(d=2, side=5, landscapes=2, smooth=1, seed=0)
    random_vectors(d=3, pairs=2, seed=0)
    return_fraction_exact(2, 4)
    from dynsim.analysis.lyapunov import lyapunov_spectrum
    from dynsim.sims.maps import henon, logistic, lorenz

    lyapunov_spectrum(henon(n=50, transient=10, seed=0)["jacobian"])
    logistic(n=50, transient=10, seed=0)
    lorenz(n=50, transient=10, seed=0)
    from dynsim.sims.eos import quadratic
    from dynsim.sims.flows import central_flow

    quadratic(steps=2, seed=0)
    central_flow(steps=2, seed=0)
    from dynsim.sims.sandpile import btw_sandpile, graph_sandpile, manna_sandpile, oslo_ricepile

    for d in (1, 2, 3):
        btw_sandpile(L=4, d=d, grains=50, seed=0)
    manna_sandpile(L=4, grains=50, seed=0)
    oslo_ricepile(L=4, grains=50, seed=0)
    graph_sandpile(n=50, k=4, grains=50, seed=0)
