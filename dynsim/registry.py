"""System names -> entry points and parameter schemas.

Names are ``family.variant``.  Entry points are ``"module:function"`` strings imported on first use,
so a registry line can point into ``dynsim.models`` without ``dynsim`` importing torch.  Every entry
point has the shape ``f(**params, seed) -> Trace``; its schema maps API parameter names to the
constraints of :mod:`dynsim.params`, the one source of their ranges, defaults and help texts.
Adding a system means adding one line to ``SYSTEMS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from dynsim.params import Seed, check_params


@dataclass(frozen=True)
class System:
    entry: str  # "module:function"
    summary: str

    def load(self):
        module, _, func = self.entry.partition(":")
        try:
            return getattr(importlib.import_module(module), func)
        except ImportError as err:  # e.g. train without torch: one line, not a traceback
            extra = (" (systems in dynsim.models need the extra nets: pip install "
                     "'dynsim[nets]', CPU torch first, see README)"
                     if module.startswith("dynsim.models") else "")
            raise ValueError(f"{self.entry} cannot be imported: {err}{extra}") from None

    @property
    def schema(self) -> dict:
        """The entry point's parameter constraints (``PARAMS`` attribute of the function): each
        holds the parameter's range, default and help (:mod:`dynsim.params`)."""
        return {**self.load().PARAMS, "seed": Seed()}

    @property
    def defaults(self) -> dict:
        """Every parameter's default, from the schema (the entry point's signature shows the same
        values: :func:`dynsim.params.entry_point`)."""
        return {name: c.default for name, c in self.schema.items() if name != "seed"}


SYSTEMS: dict[str, System] = {
    "walk.lattice": System("dynsim.sims.walks:lattice_walk",
                           "simple random walk on Z^d: distances and first returns"),
    "walk.gaussian": System("dynsim.sims.walks:gaussian_walk",
                            "Gaussian random walk in R^d: distances"),
    "walk.pca": System("dynsim.sims.walks:walk_pca",
                       "PCA of random-walk trajectories (explained variance, Lissajous curves)"),
    "walk.peaks": System("dynsim.sims.walks:landscape_peaks",
                         "strict local maxima of random landscapes on the periodic d-lattice"),
    "walk.vectors": System("dynsim.sims.walks:random_vectors",
                           "norms and pairwise cosines of random Gaussian vectors in R^d"),
    "sandpile.btw": System("dynsim.sims.sandpile:btw_sandpile",
                           "Bak-Tang-Wiesenfeld sandpile on {1..L}^d, open boundaries, bulk drive"),
    "sandpile.manna": System("dynsim.sims.sandpile:manna_sandpile",
                             "abelian Manna sandpile on {1..L}^d, open boundaries, bulk drive"),
    "sandpile.oslo": System("dynsim.sims.sandpile:oslo_ricepile",
                            "Oslo ricepile (1-D, boundary drive, random thresholds 1 or 2)"),
    "sandpile.graph": System("dynsim.sims.sandpile:graph_sandpile",
                             "sandpile on a seeded random graph (rr, er, ba) with sinks or loss"),
    "eos.quadratic": System("dynsim.sims.eos:quadratic",
                            "optimizers on 1/2 w^T H w with a given spectrum (diagonal or rotated)"),
    "eos.minimalist": System("dynsim.sims.eos:minimalist",
                             "Zhu et al.'s minimalist EoS toy 1/2 (1 - xyzw)^2, slice z=x, w=y"),
    "eos.product": System("dynsim.sims.eos:product",
                          "1/2 (1 - w_1...w_n)^2; n = 2 is the contrast that ends below 2/lr"),
    "eos.projected": System("dynsim.sims.eos.projected:projected_gd",
                            "Damian et al.'s constrained trajectory: GD projected onto S <= 2/lr"),
    "eos.starts": System("dynsim.sims.eos:starts",
                         "an optimizer on a toy from many start points in parallel (prange)"),
    "eos.bifurcation": System("dynsim.sims.eos:bifurcation",
                              "late iterates and Lyapunov spectra of an optimizer on a toy vs lr"),
    "flow.gradient": System("dynsim.sims.flows:gradient_flow",
                            "gradient flow on an eos toy (time in GD steps)"),
    "flow.central": System("dynsim.sims.flows:central_flow",
                           "central flow (Cohen et al. ICLR 2025) on an eos toy"),
    "train": System("dynsim.models.train:train",
                    "a PyTorch net trained on real data with Hessian and update probes (extra nets)"),
    "map.henon": System("dynsim.sims.maps:henon", "Henon map: trajectory and one-step Jacobians"),
    "map.logistic": System("dynsim.sims.maps:logistic",
                           "logistic map: trajectory and one-step Jacobians"),
    "map.lorenz": System("dynsim.sims.maps:lorenz",
                         "Lorenz flow by fixed-step RK4: trajectory and Jacobians of the step map"),
}


def get(name: str) -> System:
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(sorted(SYSTEMS))}") from None


def run(name: str, seed: int | None = None, progress=None, **params):
    """Validate ``params`` against the system's schema and call its entry point (``progress``, a
    ``(done, total)`` callback, is passed on to entry points that report progress)."""
    system = get(name)
    check_params(system.schema, {**params, "seed": seed}, caller=name)
    fn = system.load()
    extra = {"progress": progress} if progress is not None and _takes_progress(fn) else {}
    return fn(**params, seed=seed, **extra)


def _takes_progress(fn) -> bool:
    import inspect

    return "progress" in inspect.signature(fn).parameters
