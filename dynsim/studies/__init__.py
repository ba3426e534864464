"""Studies: experiments that combine runs, sizes or estimators into one result.

Each study is a function ``study(**params, seed) -> Result`` whose result is a frozen dataclass that
prints itself (``__str__``: the table the CLI shows), serialises itself (``to_json()``) and, where it
has one, draws itself (``figure()``).  Import a study from its module (``dynsim.studies.claims``,
``dynsim.studies.fss``, ...): this package imports none of them, and no study imports torch at
import time (a study that trains imports :mod:`dynsim.models` inside the function).
"""
