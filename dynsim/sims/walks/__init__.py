"""Random walks in high dimensions: walks, PCA, landscapes, random vectors."""

from dynsim.sims.walks.landscape import landscape_peaks, random_vectors
from dynsim.sims.walks.pca import walk_pca
from dynsim.sims.walks.walk import gaussian_walk, lattice_walk, record_steps

__all__ = ["gaussian_walk", "landscape_peaks", "lattice_walk", "random_vectors", "record_steps",
           "walk_pca"]
