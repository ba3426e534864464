"""PyTorch side of dynsim (installed as ``dynsim.models``; needs the ``nets`` extra).

Nets, data, the trainer and Hessian probes.  Nothing in
``dynsim`` imports this package at import time, so the toys and the analyzer work without torch.
"""
