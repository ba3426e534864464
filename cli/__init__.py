"""The ``dynsim`` command line (installed as ``dynsim.cli``): thin click commands over the API."""
