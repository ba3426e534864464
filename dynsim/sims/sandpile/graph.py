"""A sandpile on any networkx graph, and on ready-made random graphs.

Node i holds z_i grains and topples when z_i >= th_i, with th_i = its degree k_i by default (the BTW
rule on a graph; Bonabeau, J. Phys. Soc. Jpn. 64:327, 1995; Goh, Lee, Kahng & Kim, PRL 91:148701,
2003 with eta = 0): z_i -= th_i and one grain goes along each edge; a threshold above the degree
dissipates the th_i - k_i surplus.  Grains are added at uniformly random non-sink nodes.
Dissipation, without which avalanches would never stop: grains sent to a sink node vanish, and/or
each grain sent along an edge is lost with probability ``loss``.  Every connected component must be
able to dissipate (a sink, loss > 0, or a threshold above the degree).

Mean field: on random graphs with a finite second moment of the degree (random regular,
Erdos-Renyi; Barabasi-Albert only at the boundary case gamma = 3, with logarithmic corrections),
the avalanches are critical branching processes: P(s) ~ s^-3/2, P(T) ~ T^-2 (``mean_field_tau``,
``mean_field_tau_t``; Zapperi et al. 1995, Goh et al. 2003), up to a cutoff
s_c ~ (dissipation per toppling)^-2 and the graph size.
Ready graphs (``graph_sandpile``), seeded from the run's seed: random regular of degree k,
Erdos-Renyi G(n, p = k / (n - 1)) (mean degree k), Barabasi-Albert with m = k / 2 edges per new node
(mean degree ~k); the largest connected component is kept (``meta["graph"]["nodes"]``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from dynsim.params import Choice, Float, Int, check_params, entry_point
from dynsim.rng import child_seed, hi32, make_rng, make_seed, xoshiro_next
from dynsim.sims.sandpile import kernels
from dynsim.sims.sandpile.common import (DRIVE_PARAMS, Collector, Progress, check_memory, drive,
                                         sample_every, summary_meta)
from dynsim.sims.sandpile.kernels import height_sum, record, reset_padding, uniform_below
from dynsim.trace import Timer, Trace, make_trace

GRAPHS = ("rr", "er", "ba")
PARAMS = {
    "graph": Choice(GRAPHS, default="rr",
                    help="rr (random regular), er (Erdos-Renyi), ba (Barabasi-Albert)."),
    "n": Int(3, 10**7, default=10_000, help="Nodes of the graph."),
    "k": Int(1, 10**4, default=4, help="Degree (rr), mean degree (er, ba)."),
    "grains": DRIVE_PARAMS["grains"],
    "sink_fraction": Float(0.0, 1.0, hi_open=True, default=0.01,
                           help="Fraction of nodes that are sinks."),
    "loss": Float(0.0, 1.0, hi_open=True, default=0.0,
                  help="Probability that a grain in transit is lost."),
    **{k: DRIVE_PARAMS[k] for k in ("replicas", "stream", "height_every")},
}


@njit(cache=True, inline="always")
def graph_relax(zr, th, indptr, indices, loss32, cur, nxt, seen, stamp, site, s0, s1, s2, s3):
    """Parallel-update relaxation on a graph (CSR ``indptr``, ``indices``).  Sinks hold PAD, so a
    grain sent to one is lost without a test; loss32 > 0 loses each grain with probability
    loss32 / 2**32.  Returns (size, area, duration, state)."""
    size = 0
    area = 0
    dur = 0
    cur[0] = site
    nc = 1
    while nc > 0:
        dur += 1
        nn = 0
        for k in range(nc):
            i = cur[k]
            zr[i] -= th[i]
            size += 1
            area += seen[i] != stamp
            seen[i] = stamp
            for e in range(indptr[i], indptr[i + 1]):
                j = indices[e]
                if loss32 > 0:
                    x, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                    if hi32(x) < loss32:
                        continue
                v = zr[j] + 1
                zr[j] = v
                nxt[nn] = j
                nn += v == th[j]
            if zr[i] >= th[i]:
                nxt[nn] = i
                nn += 1
        cur, nxt = nxt, cur
        nc = nn
    return size, area, dur, s0, s1, s2, s3


@njit(cache=True, parallel=True)
def graph_chunk(z, th, indptr, indices, loss32, cur, nxt, seen, sites, sinks, state, g0, n,
                hevery, stream, edges, ev_size, ev_area, ev_dur, ev_time, n_ev, hist, last, hsum):
    """Add grains g0 .. g0 + n - 1 at uniformly random nodes of ``sites`` (the non-sinks) of each
    replica and relax.  z: (R, nodes) int32; seen: stamps zeroed by the caller each chunk."""
    for r in prange(z.shape[0]):
        s0, s1, s2, s3 = state[r, 0], state[r, 1], state[r, 2], state[r, 3]
        zr, cr, nr, sr = z[r], cur[r], nxt[r], seen[r]
        reset_padding(zr, sinks)
        since = 0
        ks = 0
        for t in range(n):
            g = g0 + t
            u, s0, s1, s2, s3 = uniform_below(sites.shape[0], s0, s1, s2, s3)
            i = sites[u]
            zr[i] += 1
            if zr[i] >= th[i]:
                size, area, dur, s0, s1, s2, s3 = graph_relax(zr, th, indptr, indices, loss32, cr,
                                                              nr, sr, t + 1, i, s0, s1, s2, s3)
                record(r, g, size, area, dur, stream, edges, ev_size, ev_area, ev_dur, ev_time,
                       n_ev, hist, last)
                since += size
                if since >= kernels.RESET_TOPPLINGS:
                    reset_padding(zr, sinks)
                    since = 0
            if (g + 1) % hevery == 0:
                hsum[r, ks] = height_sum(zr, sites, kernels.ALL)
                ks += 1
        state[r, 0], state[r, 1], state[r, 2], state[r, 3] = s0, s1, s2, s3


def _csr(G, index: dict) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency in CSR form (indptr int64, indices int32), neighbours sorted by index."""
    e = np.fromiter((index[v] for edge in G.edges() for v in edge), dtype=np.int64,
                    count=2 * G.number_of_edges()).reshape(-1, 2)
    rows = np.concatenate([e[:, 0], e[:, 1]])
    cols = np.concatenate([e[:, 1], e[:, 0]])
    order = np.lexsort((cols, rows))
    indptr = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(index)), out=indptr[1:])
    return indptr, cols[order].astype(np.int32)


def _thresholds(nodes, degree, threshold) -> np.ndarray:
    if threshold is None:
        return np.maximum(degree, 1).astype(np.int32)
    if isinstance(threshold, dict):
        missing = [v for v in nodes if v not in threshold]
        if missing:
            raise ValueError(f"`threshold` (a dict) must give every node, missing {missing[0]!r}")
        th = np.array([threshold[v] for v in nodes])
    else:
        th = np.broadcast_to(np.asarray(threshold), (len(nodes),))
    if th.dtype.kind not in "iu":
        raise ValueError(f"`threshold` must be an integer (or one per node), got dtype {th.dtype}")
    bad = np.flatnonzero(th < np.maximum(degree, 1))
    if bad.size:
        v = nodes[bad[0]]
        raise ValueError(f"`threshold` must be >= max(degree, 1) at every node (a toppling sends one "
                         f"grain along each edge), got {int(th[bad[0]])} at node {v!r} of degree "
                         f"{int(degree[bad[0]])}")
    return th.astype(np.int32)


def sandpile_on_graph(G, grains: int = PARAMS["grains"].default, sinks=(),
                      loss: float = PARAMS["loss"].default, threshold=None,
                      replicas: int = PARAMS["replicas"].default,
                      stream: bool = PARAMS["stream"].default,
                      height_every: int | None = PARAMS["height_every"].default, *,
                      seed: int | None = None, progress: Progress | None = None,
                      system: str = "sandpile.graph", params: dict | None = None) -> Trace:
    """Sandpile on the networkx graph ``G`` (module docstring): threshold None (the degree), one
    integer, or a dict node -> integer, each >= the node's degree; ``sinks`` the nodes whose grains
    vanish; ``loss`` the probability that a grain in transit is lost.  Self-loops and multi-edges
    are refused.  Channels as :func:`dynsim.sims.sandpile.btw_sandpile`; ``height_map`` (nodes,)
    int32 holds the final grains per node of replica 0, in ``list(G)`` order (0 at sinks)."""
    import networkx as nx  # imported here: the CLI imports this module on every start
    base = check_params({k: PARAMS[k] for k in ("grains", "loss", "replicas", "stream",
                                                "height_every")},
                        dict(grains=grains, loss=loss, replicas=replicas, stream=stream,
                             height_every=height_every), system)
    if not isinstance(G, nx.Graph) or G.is_directed() or G.is_multigraph():
        raise ValueError("`G` must be an undirected networkx Graph (not directed, not a "
                         f"multigraph), got {type(G).__name__}")
    if nx.number_of_selfloops(G):
        raise ValueError(f"`G` has {nx.number_of_selfloops(G)} self-loops; remove them")
    nodes = list(G)
    if len(nodes) < 2:
        raise ValueError(f"`G` must have at least 2 nodes, got {len(nodes)}")
    index = {v: i for i, v in enumerate(nodes)}
    missing = [s for s in sinks if s not in index]
    if missing:
        raise ValueError(f"`sinks` must be nodes of G, got {missing[0]!r}")
    indptr, indices = _csr(G, index)
    degree = np.diff(indptr)
    th = _thresholds(nodes, degree, threshold)
    is_sink = np.zeros(len(nodes), dtype=bool)
    is_sink[[index[s] for s in sinks]] = True
    if is_sink.all():
        raise ValueError("every node is a sink: leave some to drive")
    if base["loss"] == 0.0:
        for comp in nx.connected_components(G):
            idx = np.fromiter((index[v] for v in comp), dtype=np.int64)
            if not (is_sink[idx].any() or (th[idx] > degree[idx]).any()):
                raise ValueError(f"a connected component of {len(idx)} nodes (e.g. node "
                                 f"{nodes[idx[0]]!r}) has no sink and no threshold above the "
                                 "degree, so its avalanches never stop: add `sinks` or `loss` > 0")
    seed = make_seed(seed)
    R = base["replicas"]
    every = sample_every(base["grains"], base["height_every"])
    check_memory(base["grains"], R, base["stream"], len(nodes), 20, every)
    sink_idx = np.flatnonzero(is_sink).astype(np.int64)
    sites = np.flatnonzero(~is_sink).astype(np.int64)
    loss32 = np.uint64(round(base["loss"] * 2**32))
    timer = Timer()
    with timer.phase("setup"):
        z = np.zeros((R, len(nodes)), dtype=np.int32)
        cur = np.empty((R, len(nodes) + 8), dtype=np.int32)
        nxt = np.empty((R, len(nodes) + 8), dtype=np.int32)
        seen = np.zeros((R, len(nodes)), dtype=np.int32)
        state = np.empty((R, 4), dtype=np.uint64)
        kernels.init_states(seed, 0, state)

    def call(g0, n, *buffers):
        seen[:] = 0
        graph_chunk(z, th, indptr, indices, loss32, cur, nxt, seen, sites, sink_idx, state, g0, n,
                    *buffers)

    collector = Collector(R, base["grains"], every, base["stream"])
    with timer.phase("simulate"):
        drive(call, collector, progress)
    with timer.phase("assemble"):
        channels = collector.channels(sites.size)
        channels["height_map"] = np.where(is_sink, 0, z[0]).astype(np.int32)
        meta = summary_meta(collector, channels)
    graph_meta = {"nodes": len(nodes), "edges": G.number_of_edges(), "sinks": int(is_sink.sum()),
                  "mean_degree": float(degree.mean()), "max_degree": int(degree.max()),
                  "threshold": "degree" if threshold is None else "given"}
    if params is None:
        params = {**base, "sinks": int(is_sink.sum()), "threshold": graph_meta["threshold"]}
    return make_trace(system, {**params, "height_every": every}, seed, channels,
                      timings=timer.timings, graph=graph_meta, **meta)


def make_graph(graph: str, n: int, k: int, seed: int) -> "networkx.Graph":
    """A seeded random graph: 'rr' (k-regular), 'er' (mean degree k), 'ba' (m = k / 2); only its
    largest connected component is kept (relabelled 0 .. n' - 1), so that no small component is
    left without a sink."""
    import networkx as nx

    if graph == "rr":
        if k >= n or (n * k) % 2:
            raise ValueError(f"a random regular graph needs k < n and n * k even, got n={n}, k={k}")
        G = nx.random_regular_graph(k, n, seed=seed)
    elif graph == "er":
        if k >= n:
            raise ValueError(f"an Erdos-Renyi graph needs mean degree k < n, got n={n}, k={k}")
        G = nx.fast_gnp_random_graph(n, k / (n - 1), seed=seed)
    else:
        if k % 2 or not 1 <= k // 2 < n:
            raise ValueError(f"a Barabasi-Albert graph needs an even k = 2m with 1 <= m < n, got "
                             f"n={n}, k={k}")
        G = nx.barabasi_albert_graph(n, k // 2, seed=seed)
    giant = max(nx.connected_components(G), key=len)
    if len(giant) < 2:
        raise ValueError(f"the {graph!r} graph with n={n}, k={k} has no component of 2 nodes")
    return nx.convert_node_labels_to_integers(G.subgraph(giant), ordering="sorted")


@entry_point(PARAMS)
def graph_sandpile(graph: str, n: int, k: int, grains: int, sink_fraction: float, loss: float,
                   replicas: int, stream: bool, height_every: int | None, *,
                   seed: int | None = None, progress: Progress | None = None) -> Trace:
    """Sandpile (threshold = degree) on a seeded random graph of n nodes (module docstring).

    graph: 'rr' (random k-regular), 'er' (Erdos-Renyi, mean degree k) or 'ba' (Barabasi-Albert,
    m = k / 2); sink_fraction: the fraction of nodes, chosen at random, that are sinks (at least
    one when > 0); loss: probability that a grain in transit is lost.  The graph and the sinks
    come from child seeds of ``seed``."""
    p = check_params(PARAMS, dict(graph=graph, n=n, k=k, grains=grains,
                                  sink_fraction=sink_fraction, loss=loss, replicas=replicas,
                                  stream=stream, height_every=height_every), "sandpile.graph")
    if p["sink_fraction"] == 0.0 and p["loss"] == 0.0:
        raise ValueError("`sink_fraction` and `loss` are both 0: the grains could never leave; "
                         "give `sink_fraction` > 0 or `loss` > 0")
    seed = make_seed(seed)
    G = make_graph(p["graph"], p["n"], p["k"], child_seed(seed, 1))
    nodes = G.number_of_nodes()
    n_sinks = 0 if p["sink_fraction"] == 0.0 else max(1, round(p["sink_fraction"] * nodes))
    if n_sinks >= nodes:
        raise ValueError(f"`sink_fraction={p['sink_fraction']}` leaves no node to drive")
    sinks = make_rng(seed, 2)[1].choice(nodes, size=n_sinks, replace=False)
    return sandpile_on_graph(G, p["grains"], sinks=[int(s) for s in sinks], loss=p["loss"],
                             replicas=p["replicas"], stream=p["stream"],
                             height_every=p["height_every"], seed=seed, progress=progress,
                             params=p)

