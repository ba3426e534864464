"""Edge-of-stability toys: toy losses, optimizers as iteration maps, one run, many start points or
many learning rates in parallel, bifurcation diagrams, and Damian et al.'s constrained trajectory
(projected GD).  See :mod:`.losses`, :mod:`.optimizers`,
:mod:`.systems`, :mod:`.bifurcation`, :mod:`.projected`; continuous-time models are in
:mod:`dynsim.sims.flows`."""

from dynsim.sims.eos.bifurcation import bifurcation
from dynsim.sims.eos.losses import Loss, make_loss, minimalist_eos_minimum
from dynsim.sims.eos.optimizers import CONVENTIONS, OPTIMIZERS
from dynsim.sims.eos.projected import projected_gd
from dynsim.sims.eos.systems import minimalist, product, quadratic, run_toy, starts

__all__ = ["CONVENTIONS", "Loss", "OPTIMIZERS", "bifurcation", "make_loss", "minimalist",
           "minimalist_eos_minimum", "product", "projected_gd", "quadratic", "run_toy", "starts"]
