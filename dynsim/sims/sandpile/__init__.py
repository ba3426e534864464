"""Sandpile models of self-organised criticality: BTW and Manna on d-dimensional lattices, the Oslo
ricepile, and a sandpile on any networkx graph.  Every function returns a Trace with the avalanche
channels of :mod:`dynsim.sims.sandpile.common`; :mod:`dynsim.sims.sandpile.reference` holds the
published values they are checked against."""

from dynsim.sims.sandpile.graph import graph_sandpile, make_graph, sandpile_on_graph
from dynsim.sims.sandpile.lattice import btw_sandpile, manna_sandpile
from dynsim.sims.sandpile.oslo import oslo_ricepile

__all__ = ["btw_sandpile", "graph_sandpile", "make_graph", "manna_sandpile", "oslo_ricepile",
           "sandpile_on_graph"]
