"""Figures drawn from result objects, one module per family (matplotlib, no pyplot state)."""
