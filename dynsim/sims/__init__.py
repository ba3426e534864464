"""Numba-jitted toy systems; each family's public functions return a :class:`dynsim.trace.Trace`."""
