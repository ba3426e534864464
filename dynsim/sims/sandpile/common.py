"""What every sandpile shares: chunked driving, event or histogram collection, height samples and
the detection of the stationary state.

Avalanche channels (one entry per avalanche, avalanches of size 0 are not events):
``events_size`` (topplings), ``events_area`` (distinct sites that toppled), ``events_duration``
(generations of the parallel update), ``events_time`` (index of the grain that started it, 0-based,
counted within its replica) and, with several replicas, ``events_replica``.  Events are ordered by
replica, then by time.

``--stream`` (``stream=True``) keeps, instead of the events, histograms per chunk of grains on
fixed logarithmic bins: ``events_<x>_hist`` (chunks, bins) for x in size, area, duration, waiting
(grains between consecutive avalanches of one replica), their edges ``events_<x>_hist_edges``
(half-integers, so a bin holds whole numbers: edges[i] <= x < edges[i + 1]) and
``events_hist_step`` (chunks,), the first grain of each chunk.  Memory is then independent of the
number of grains.

Heights: ``height_mean`` (samples,) is the mean height per site (averaged over replicas) after
each ``height_every``-th grain, and ``height_mean_step`` the number of grains added by then.

Stationarity rule (``meta["stationary_from"]``, a grain index): every model starts empty and its
mean height rises to a plateau.  Let m be the mean of ``height_mean`` over the samples taken in the
second half of the run; ``stationary_from`` is the number of grains added at the first sample whose
mean height reaches m (the first crossing of the plateau level, from below when the run starts
below it).  The run is called
stationary (``meta["stationary_reached"]``) when that crossing lies in the first half; otherwise the
plateau level itself is not trustworthy and the run is too short.  The analyzer uses only events
with ``events_time >= stationary_from`` (and histogram chunks starting there).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from dynsim.params import Bool, Int
from dynsim.sims.sandpile.kernels import HIST_NAMES

Progress = Callable[[int, int], None]
CHUNK_MAX = 2**20          # grains per kernel call at most (bounds the per-chunk event buffers)
CHUNK_PARTS = 50           # about this many chunks per run (progress, histogram segments)
HEIGHT_SAMPLES = 1000      # default number of height samples per run
MAX_EVENT_BYTES = 8 * 2**30
MAX_SITES = 2**27
BINS_PER_DECADE = 20
# how every sandpile is driven and recorded (shared by the schemas of lattice.py, oslo.py, graph.py)
DRIVE_PARAMS = {
    "grains": Int(1, 10**12, default=100_000, help="Grains added per replica, starting empty."),
    "replicas": Int(1, 1024, default=1, help="Independent replicas, run in parallel."),
    "stream": Bool(default=False, help="Keep log-binned histograms, not every avalanche (for very "
                   "long runs)."),
    "height_every": Int(1, 10**12, help="Grains between height samples.",
                        none_means="grains // 1000"),
}
STATIONARY_RULE = ("first height sample that reaches the mean height over the second half of the "
                   "run (first crossing of the plateau); reached if it lies in the first half")


def hist_edges() -> np.ndarray:
    """Integer bin edges 1, 2, ..., 10, then ~20 per decade up to 1e18 (int64)."""
    k = np.arange(0, 18 * BINS_PER_DECADE + 1)
    logs = np.floor(10.0 ** (k / BINS_PER_DECADE)).astype(np.int64)
    return np.unique(np.concatenate([np.arange(1, 11, dtype=np.int64), logs]))


def chunk_size(grains: int) -> int:
    """Grains per kernel call: about CHUNK_PARTS chunks, at most CHUNK_MAX grains each."""
    return max(1, min(CHUNK_MAX, -(-grains // CHUNK_PARTS)))


def chunk_plan(grains: int) -> list[tuple[int, int]]:
    """(first grain, count) of each kernel call (:func:`chunk_size` grains each)."""
    size = chunk_size(grains)
    return [(g0, min(size, grains - g0)) for g0 in range(0, grains, size)]


def sample_every(grains: int, every: int | None) -> int:
    return max(1, grains // HEIGHT_SAMPLES) if every is None else every


def check_memory(grains: int, replicas: int, stream: bool, sites: int, bytes_per_site: int,
                 every: int | None = None):
    """Refuse a run whose state, events (worst case: every grain an avalanche), streamed
    histograms (one row of 4 x bins int64 per chunk of grains, kept for the whole run, plus the
    kernel's per-replica buffer) and height samples (one int64 per replica and sample, ``every``
    grains apart) may need more than MAX_EVENT_BYTES."""
    if sites > MAX_SITES:
        raise ValueError(f"the system has {sites} sites; at most {MAX_SITES} are allowed: "
                         "lower `L` (or `d`, or `n`)")
    state = replicas * sites * bytes_per_site
    events = 0 if stream else 24 * grains * replicas
    hists = 0
    if stream:
        cells = len(HIST_NAMES) * (hist_edges().size - 1) * 8
        hists = -(-grains // chunk_size(grains)) * cells + replicas * cells
    heights = 8 * replicas * (grains // sample_every(grains, every))
    total = state + events + hists + heights
    if total > MAX_EVENT_BYTES:
        hint = "" if stream else " or pass stream=True (--stream: histograms, not events)"
        raise ValueError(f"grains x replicas = {grains} x {replicas} on {sites} sites may need "
                         f"{total / 2**30:.1f} GiB (limit {MAX_EVENT_BYTES / 2**30:.0f} "
                         f"GiB); lower `grains`, `replicas`, the size or the height samples{hint}")


def default_grains(model: str, L: int, d: int = 1) -> int:
    """Grains per replica that make a run from the empty pile stationary by the rule above, with
    room for a stationary part: twice the most grains the pile can hold, plus 200000.

    The plateau is crossed once the pile holds its stationary load (measured loads:
    benchmarks/RESULTS.md), which is below the most it can hold: BTW (2d - 1) L^d (every site at
    z_c - 1), Manna L^d (z <= 1), Oslo L (L + 1) (every slope 2).  Twice that puts the crossing in the first half.  (Oslo needs L^2, not L:
    its pile is a triangle.)"""
    if model == "btw":
        most = (2 * d - 1) * L**d
    elif model == "manna":
        most = L**d
    elif model == "oslo":
        most = L * (L + 1)
    else:
        raise ValueError(f"`model` must be btw, manna or oslo, got {model!r}")
    return 2 * most + 200_000


class Collector:
    """Per-chunk output buffers handed to a kernel, and their serial reduction afterwards."""

    def __init__(self, replicas: int, grains: int, every: int, stream: bool):
        self.R, self.grains, self.every, self.stream = replicas, grains, every, stream
        self.edges = hist_edges()
        self.last = np.full(replicas, -1, dtype=np.int64)
        self.events = [[] for _ in range(replicas)]   # per replica: list of 4-tuples of arrays
        self.hists, self.hist_step = [], []
        self.hsums = []

    def buffers(self, g0: int, n: int) -> tuple:
        R = self.R
        m = 0 if self.stream else n
        ns = (g0 + n) // self.every - g0 // self.every
        self._buf = (np.empty((R, m), np.int64), np.empty((R, m), np.int32),
                     np.empty((R, m), np.int32), np.empty((R, m), np.int64),
                     np.zeros(R, np.int64),
                     np.zeros((R, len(HIST_NAMES), self.edges.size - 1 if self.stream else 1),
                              np.int64),
                     self.last, np.zeros((R, ns), np.int64))
        return (self.every, self.stream, self.edges, *self._buf)

    def collect(self, g0: int) -> None:
        size, area, dur, time, n_ev, hist, _, hsum = self._buf
        if self.stream:
            self.hists.append(hist.sum(axis=0))
            self.hist_step.append(g0)
        else:
            for r in range(self.R):
                k = int(n_ev[r])
                self.events[r].append((size[r, :k].copy(), area[r, :k].copy(),
                                       dur[r, :k].copy(), time[r, :k].copy()))
        self.hsums.append(hsum)
        self._buf = None

    def channels(self, n_sites: int) -> dict:
        ch = {}
        if self.stream:
            hists = np.stack(self.hists)  # (chunks, 4, bins)
            for j, name in enumerate(HIST_NAMES):
                h = hists[:, j, :]
                used = np.flatnonzero(h.sum(axis=0))
                top = used[-1] + 1 if used.size else 1
                ch[f"events_{name}_hist"] = h[:, :top]
                ch[f"events_{name}_hist_edges"] = self.edges[:top + 1] - 0.5
            ch["events_hist_step"] = np.asarray(self.hist_step, dtype=np.int64)
        else:
            names = ("events_size", "events_area", "events_duration", "events_time")
            dtypes = (np.int64, np.int32, np.int32, np.int64)
            for j, (name, dt) in enumerate(zip(names, dtypes)):
                ch[name] = np.concatenate([c[j] for per in self.events for c in per]
                                          or [np.zeros(0, dt)]).astype(dt, copy=False)
            if self.R > 1:
                counts = [sum(c[0].size for c in per) for per in self.events]
                ch["events_replica"] = np.repeat(np.arange(self.R, dtype=np.int32), counts)
        hsum = np.concatenate(self.hsums, axis=1)  # (R, samples), exact integers
        ch["height_mean"] = hsum.sum(axis=0) / (self.R * n_sites)
        ch["height_mean_step"] = self.every * np.arange(1, hsum.shape[1] + 1, dtype=np.int64)
        return ch


def drive(call: Callable, collector: Collector, progress: Progress | None) -> None:
    """Run ``call(g0, n, *buffers)`` chunk by chunk, collecting each chunk's output."""
    total = collector.grains
    for g0, n in chunk_plan(total):
        call(g0, n, *collector.buffers(g0, n))
        collector.collect(g0)
        if progress is not None:
            progress(g0 + n, total)


def detect_stationary(steps: np.ndarray, height: np.ndarray) -> dict:
    """``stationary_from``, ``stationary_reached``, the plateau level and the rule (module doc)."""
    out = {"stationary_rule": STATIONARY_RULE}
    late = height[steps > steps[-1] / 2] if steps.size else height
    if late.size < 2:
        return {**out, "stationary_from": None, "stationary_reached": False,
                "stationary_note": f"{steps.size} height samples: too few to judge"}
    level = float(late.mean())
    above = height >= level if height[0] <= level else height <= level  # crossing from the start
    k = int(np.argmax(above))
    start = int(steps[k])
    return {**out, "stationary_from": start, "stationary_reached": bool(start <= steps[-1] / 2),
            "height_plateau": level}


def summary_meta(collector: Collector, channels: dict) -> dict:
    """Meta entries shared by the models: stationarity, and the counts a reader needs."""
    meta = detect_stationary(channels["height_mean_step"], channels["height_mean"])
    meta["replicas"] = collector.R
    return meta
