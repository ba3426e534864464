"""The attractor study: the correlation dimension and the largest Lyapunov exponent of a point cloud
or of a delay-embedded scalar series.

For a series (``embed=True``, or ``delay`` / ``dim`` given) the delay vectors [x_i, x_(i+delay),
...] (Takens 1981) use the delay of :func:`~dynsim.analysis.embedding.choose_delay` (the first
minimum of the mutual information above its noise floor, Fraser & Swinney 1986, else the first lag
where the autocorrelation falls below 1/e) and the dimension of
:func:`~dynsim.analysis.embedding.false_nearest_neighbours` (the first with < 1% false neighbours,
Kennel, Brown & Abarbanel 1992), unless given; the Theiler window defaults to the delay (0 for a
point cloud).  Then the Grassberger-Procaccia correlation dimension D2
(:func:`~dynsim.analysis.dimension.correlation_dimension`) and Rosenstein's largest exponent
(:func:`~dynsim.analysis.dimension.largest_lyapunov_rosenstein`, Rosenstein, Collins & De Luca
1993), each with its uncertainty and the rules that chose its ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dynsim.analysis.dimension import (correlation_dimension, delay_embed,
                                       largest_lyapunov_rosenstein)
from dynsim.analysis.embedding import (DelayChoice, DimensionChoice, choose_delay,
                                       false_nearest_neighbours)
from dynsim.analysis.results import Printable, details_of, format_table
from dynsim.inputs import one_column
from dynsim.jsonutil import to_jsonable
from dynsim.studies.base import StudyResult

MEASURES = ("dimension", "lyapunov")
MIN_SERIES = 20
DEFAULT_MAX_DIM = 10


@dataclass(frozen=True)
class Embedding(Printable):
    """The delay, dimension and Theiler window of a delay embedding, each with the rule that set it
    (and, where chosen, the curves it was read from)."""

    delay: int
    dim: int
    theiler: int
    delay_rule: str
    dim_rule: str
    theiler_rule: str
    delay_choice: DelayChoice | None = None
    dim_choice: DimensionChoice | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in super().to_dict().items() if v is not None}

    def __str__(self) -> str:
        dim = str(self.dim_choice) if self.dim_choice is not None else \
            f"dim {self.dim}: {self.dim_rule}"
        return f"delay {self.delay}: {self.delay_rule}\n{dim}"


def embedding(series, *, delay: int | None = None, dim: int | None = None,
              max_dim: int | None = None, theiler: int | None = None) -> Embedding:
    """Delay, dimension and Theiler window of a scalar series: given, or chosen by the rules of
    :mod:`dynsim.analysis.embedding` (module docstring); the Theiler window defaults to the delay."""
    x = np.asarray(series, dtype=float).ravel()
    delay_choice = dim_choice = None
    if delay is None:
        delay_choice = choose_delay(x)
        delay, delay_rule = delay_choice.delay, delay_choice.rule
    else:
        delay_rule = "given"
    theiler_rule = "the embedding delay (default)" if theiler is None else "given"
    theiler = delay if theiler is None else theiler
    if dim is None:
        dim_choice = false_nearest_neighbours(
            x, delay, max_dim=DEFAULT_MAX_DIM if max_dim is None else max_dim, theiler=theiler)
        dim, dim_rule = dim_choice.dim, dim_choice.rule
    else:
        dim_rule = "given"
    return Embedding(int(delay), int(dim), int(theiler), delay_rule, dim_rule, theiler_rule,
                     delay_choice, dim_choice)


@dataclass(frozen=True)
class AttractorResult(StudyResult):
    """What :func:`attractor` measured: the input's shape, the points used (after embedding), the
    Theiler window, the embedding (None for a point cloud) and the measures (``correlation_dimension``:
    a DimensionEstimate, ``lyapunov_rosenstein``: a RosensteinEstimate)."""

    source: str
    measure: tuple[str, ...]
    shape: tuple[int, ...]
    points: tuple[int, int]
    theiler: int
    embedding: Embedding | None
    measures: dict = field(default_factory=dict)
    seed: int | None = None  # the seed of the correlation sum's reference points (drawn if None)

    @property
    def dimension(self):
        return self.measures.get("correlation_dimension")

    @property
    def rosenstein(self):
        return self.measures.get("lyapunov_rosenstein")

    def headline(self) -> dict[str, float]:
        return {name: float(r.value) for name, r in self.measures.items()}

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["measures"] = {name: to_jsonable(r) for name, r in self.measures.items()}
        return out

    def describe(self) -> str:
        """What was measured: the input, the embedding and its rules, the points, the window."""
        src = f"{self.source}: " if self.source else ""
        n, m = self.points
        if self.embedding is None:
            return (f"{src}{n} points in {m} dimension{'s' if m > 1 else ''} (rows as points); "
                    f"Theiler window {self.theiler}")
        e = self.embedding
        series = int(np.prod(self.shape))
        body = "\n".join(f"  {line}" for line in str(e).splitlines())
        return (f"{src}a series of {series} values, delay-embedded\n{body}\n  -> {n} points in {m} "
                f"dimensions; Theiler window {e.theiler}: {e.theiler_rule}")

    def __str__(self) -> str:
        details = details_of(self.measures)
        return f"{self.describe()}\n{format_table(self.measures)}" + \
            (f"\n\n{details}" if details else "")

    def figure(self):
        """C(r) with its local slopes and scaling region, and Rosenstein's divergence curve."""
        from dynsim.plots.dimension import plot_attractor

        return plot_attractor(dimension=self.dimension, rosenstein=self.rosenstein,
                              title=self.source)


def _check_theiler(theiler, n: int, what: str) -> None:
    if theiler is not None and n >= 4 and theiler > n // 2 - 1:
        raise ValueError(f"`theiler` {theiler} is too large for {n} {what} (at most {n // 2 - 1})")


def attractor(x, *, measures=MEASURES, embed: bool = False, delay: int | None = None,
              dim: int | None = None, max_dim: int | None = None, theiler: int | None = None,
              fit_range: tuple[int, int] | None = None, dt: float | None = None, seed: int | None = None,
              source: str = "") -> AttractorResult:
    """Correlation dimension and / or Rosenstein's largest exponent (``measures``) of ``x``: a point
    cloud (N, dim), rows as points (successive states for the exponent), or with ``embed`` (implied
    by ``delay`` or ``dim``) a scalar series, delay-embedded (module docstring).

    theiler: pairs closer in time are not counted (default: the delay; 0 for a point cloud).
    fit_range, dt: Rosenstein's fit range (K0, K1) in samples (default: chosen from the divergence
    curve) and the time between samples (default 1).  seed: the reference points of a correlation
    sum with more than 1e9 pairs.  source: a name for the input, printed and used in errors."""
    measures = tuple(measures)
    bad = [m for m in measures if m not in MEASURES]
    if bad or not measures or len(set(measures)) != len(measures):
        raise ValueError(f"`measures` must be distinct values of {', '.join(MEASURES)}, got "
                         f"{', '.join(measures) or 'none'}")
    if "lyapunov" not in measures:
        given = [f"`{k}`" for k, v in (("fit_range", fit_range), ("dt", dt)) if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to "
                             f"the lyapunov measure")
    embed = embed or delay is not None or dim is not None
    if max_dim is not None and dim is not None:
        raise ValueError("`max_dim` bounds the search by false nearest neighbours; it does not "
                         "apply with `dim` given")
    if max_dim is not None and not embed:
        raise ValueError("`max_dim` applies to a delay embedding: add `embed`")
    arr = np.asarray(x, dtype=float)
    name = repr(source) if source else "`x`"
    if arr.ndim > 2:
        raise ValueError(f"{name} holds a {arr.shape} array; give a point cloud (N x dim, points "
                         f"as rows) or one column (a series, with `embed`)")
    if embed and not one_column(arr):
        raise ValueError(f"`embed` takes a scalar series (one column); {name} is a "
                         f"{arr.shape[0]} x {arr.shape[1]} point cloud: drop `embed`")
    if not embed and arr.ndim == 2 and 1 < arr.shape[0] < arr.shape[1]:
        raise ValueError(f"{name} holds a {arr.shape} array: fewer points (rows) than "
                         f"coordinates (columns); points are rows, so transpose it")
    emb = None
    if embed:
        series = arr.ravel()
        finite = bool(np.all(np.isfinite(series)))
        if series.size < MIN_SERIES or not finite:
            raise ValueError(f"{name}: a series to embed needs >= {MIN_SERIES} finite values, got "
                             f"{series.size}" + ("" if finite else " with NaN or inf among them"))
        _check_theiler(theiler, series.size, "values")
        emb = embedding(series, delay=delay, dim=dim, max_dim=max_dim, theiler=theiler)
        points, theiler = delay_embed(series, emb.dim, emb.delay), emb.theiler
    else:
        points = arr[:, None] if arr.ndim == 1 else (arr.T if arr.shape[0] == 1 else arr)
        theiler = 0 if theiler is None else theiler
    _check_theiler(theiler, points.shape[0], "points")
    from dynsim.rng import make_seed

    seed = make_seed(seed)  # None: drawn, and recorded in the result
    results = {}
    if "dimension" in measures:
        results["correlation_dimension"] = correlation_dimension(points, theiler=theiler,
                                                                 seed=seed)
    if "lyapunov" in measures:
        kw = dict(theiler=theiler, fit_range=None if fit_range is None else tuple(fit_range),
                  dt=1.0 if dt is None else dt)
        results["lyapunov_rosenstein"] = (
            largest_lyapunov_rosenstein(series, dim=emb.dim, delay=emb.delay, **kw) if embed
            else largest_lyapunov_rosenstein(points, **kw))
    return AttractorResult(source, measures, tuple(arr.shape), tuple(points.shape), int(theiler),
                           emb, results, seed)


__all__ = ["AttractorResult", "Embedding", "attractor", "embedding"]
