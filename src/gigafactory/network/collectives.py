"""Collective times as NCCL runs them, on the fabric as built: one model for the engine, the network
command and the benchmarks.

NCCL predicts every (algorithm, protocol) pair as ``latency + bytes / algorithm bandwidth`` and runs the
fastest (``ncclTopoTuneModel`` / ``ncclTopoGetAlgoTime``); so does this module, with NCCL's latency and
protocol constants (catalog ``network.nccl``) and link rates from the cluster and its built fabric.

Placement. A group of ``n`` ranks ``stride`` apart in Megatron rank order (TP innermost, then CP,
DP/EP, PP outermost), global ranks filling servers, NVLink domains and the leaves of a rail-optimised
fabric in order, keeps ``g = clip(domain // stride, 1, n)`` ranks per NVLink domain and spans
``m = ceil(n / g)`` domains ("nodes" in NCCL's sense: an NVL72 rack is one). Its ranks in one
level-i pod (the GPUs under one tier-i switch column) are ``clip(pod_gpus[i] // stride, 1, n)``.

Bus bandwidth of rings and trees across domains: each of the domain's g GPUs drives its own NICs
(one NCCL channel pair per NIC), so ``bus = min(B_nvl, g * B_nic * nic_eff * ring_frac)``; inside one
domain ``bus = B_nvl`` (NCCL's usable NVLink rate). Protocols scale it: LL 0.5 (4 data bytes per
8-byte flagged word), LL128 0.92 (120 of 128 bytes), Simple 1, with NCCL's per-channel caps.

* ring:      ``base + (steps - inter) * lat_nvl + inter * lat_net + steps/n * S / bus``
             (all-reduce: steps 2(n-1), inter 2(m-1); reduce-scatter / all-gather: n-1, m-1)
* tree:      double binary tree (all-reduce): ``base + 2((g-1) lat_nvl + log2(m) lat_net) + 2 S / (0.92 bus)``
* nvls:      NVLink SHARP in one domain: every GPU sends S and receives S once, ``S / (B_nvl * eff_nvls)``
* nvls-tree: NVLS in the domain, tree between domains, pipelined: the slower of the two
* collnet:   SHARP in the InfiniBand switches: each domain sends S up once and gets S back
* pat:       parallel aggregated trees (reduce-scatter / all-gather, one GPU per domain, NCCL 2.23+)
* all-to-all: grouped send/receive; the share leaving each level-i pod crosses its uplinks at the
  pod's cumulative oversubscription, with the fabric's all-to-all routing contention.

Latency across the fabric: NCCL's network latencies stand for a crossing of one leaf; a group whose
flows cross spines or cores adds the extra one-way latency of those tiers (switch hops and fibre,
:mod:`.topology`) on the steps that cross them (ring: the pod boundaries it passes; trees: the tree
levels that span pods). All time functions broadcast numpy arrays over ``nbytes``, ``n``, ``stride``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from .. import catalog
from ..errors import SpecError, closest
from ..specs import Cluster

OPS = ("all-reduce", "reduce-scatter", "all-gather", "all-to-all")
PATTERNS = ("ring", "all-to-all")
PROTOCOLS = ("LL", "LL128", "Simple")
_ALIASES = {"allreduce": "all-reduce", "reducescatter": "reduce-scatter", "allgather": "all-gather",
            "alltoall": "all-to-all"}
_FAMILY = {"ampere": "ampere", "hopper": "hopper", "blackwell": "blackwell", "blackwell-ultra": "blackwell"}


@dataclass(frozen=True)
class CommFabric:
    """Everything the collective formulas need about one cluster (see module doc). Bandwidths are
    GB/s per GPU per direction, latencies microseconds."""

    cluster: str
    built: bool  # False: the fabric could not be built (SpecError): NIC line rate, no contention
    family: str  # NCCL tuning row: ampere, hopper, blackwell
    domain: int  # GPUs per NVLink domain
    gpus_per_server: int
    nvl_gbs: float  # NVLink per GPU, the rate NCCL's topology uses
    nvl_latency_us: float  # one NVLink transfer (scale-up latency)
    nvls: bool  # NVLink SHARP in the NVSwitch (gen3+)
    nvls_eff: float
    nic_gbs: float  # all NICs of one GPU, line rate
    nics_per_gpu: int
    nic_eff: float  # RDMA goodput / line rate
    sharp: bool  # in-network reduction in the InfiniBand switches (CollNet)
    tiers: int
    routing: str  # "adaptive" or "ecmp"
    ring_frac: float  # contention on rings in topology order (aggregate throughput)
    a2a_frac: float  # contention on all-to-all (completion of the slowest flow), routing only
    pod_gpus: tuple[float, ...]  # level-i pod size in GPUs, i = 1..tiers-1 (inf: never crossed)
    pod_over: tuple[float, ...]  # cumulative oversubscription of a level-i pod's uplinks
    net_latency_us: tuple[float, ...]  # one-way latency when the nearest common switch is tier 1..tiers
    channels: int  # NCCL collective channels

    @property
    def nic_eff_gbs(self) -> float:
        return self.nic_gbs * self.nic_eff


# --------------------------------------------------------------------------- the fabric


@cache
def _k() -> dict[str, Any]:
    return catalog.entry("network", "nccl")


def comm_fabric(cluster: Cluster | str | dict) -> CommFabric:
    """The collective model's view of `cluster`: link rates from its spec, pods, oversubscription and
    latencies from the built topology, contention from its flow-level simulation; memoised."""
    return _fabric(_resolve(cluster).model_dump_json())


def _resolve(cluster: Cluster | str | dict) -> Cluster:
    if isinstance(cluster, Cluster):
        return cluster
    from ..resolve import cluster as resolve_cluster

    return resolve_cluster(cluster)


@lru_cache(maxsize=256)
def _fabric(cluster_json: str) -> CommFabric:
    from .contention import effective_fraction
    from .optics import ns_per_m
    from .topology import build_topology

    c = Cluster.model_validate_json(cluster_json)
    k, su, fab = _k(), c.scale_up, c.fabric
    fam = _FAMILY[c.gpu.family]
    nvls = c.gpu.family in k["nvls_families"] and su.nvswitch_chips > 0
    routing = "adaptive" if fab.adaptive_routing else "ecmp"
    common = dict(
        cluster=c.id, family=fam, domain=c.domain_size, gpus_per_server=su.gpus_per_server,
        nvl_gbs=su.bw_gbs * float(k["nvlink_usable_frac"][fam]), nvl_latency_us=su.latency_us, nvls=nvls,
        nvls_eff=float(k["nvls_efficiency"].get(fam, 0.0)), nic_gbs=c.scale_out_gbs_per_gpu,
        nics_per_gpu=c.nics_per_gpu, nic_eff=float(k["nic_efficiency"]), sharp=fab.sharp, routing=routing,
        channels=int(k["channels"][fam]),
    )
    try:
        topo = build_topology(c)
    except SpecError:  # the network command says why; collectives still get NIC line rate
        tiers = _tiers_needed(c)
        lat = fab.nic_latency_us + (2 * tiers - 1) * fab.hop_latency_ns / 1000.0
        return CommFabric(built=False, tiers=tiers, ring_frac=1.0, a2a_frac=1.0, pod_gpus=(), pod_over=(),
                          net_latency_us=(lat,), **common)
    L = topo.tiers
    pods = tuple(_pod_gpus(topo, lvl) for lvl in range(1, L))
    over = tuple(topo.cum_oversubscription(lvl) for lvl in range(1, L))
    lat = tuple(topo.nic_latency_us + (2 * lvl - 1) * topo.hop_latency_us
                + 2 * sum(topo.run_m_by_tier[:lvl]) * ns_per_m() / 1000.0 for lvl in range(1, L + 1))
    ring = effective_fraction(topo, "dp-allreduce", routing, metric="throughput")
    twin = topo
    if any(o > 1.0 for o in topo.oversubscription_by_tier):  # routing contention alone: oversubscription is
        try:                                                 # applied by the formulas
            twin = build_topology(c, tiers=L, oversubscription_by_tier=[1.0] * (L - 1))
        except SpecError:
            twin = topo
    a2a = effective_fraction(twin, "all-to-all", routing, metric="completion")
    return CommFabric(built=True, tiers=L, ring_frac=float(ring), a2a_frac=float(a2a), pod_gpus=pods,
                      pod_over=over, net_latency_us=lat, **common)


def _pod_gpus(topo: Any, level: int) -> float:
    """GPUs of the level-`level` pod holding GPU 0: the first server whose GPU 0 sits above it."""
    gps, lo, hi = topo.gpus_per_server, 1, topo.servers
    if int(topo.level_between(0, (hi - 1) * gps)) <= level:
        return math.inf
    while lo < hi:  # smallest server index whose level from GPU 0 exceeds `level`
        mid = (lo + hi) // 2
        if int(topo.level_between(0, mid * gps)) > level:
            hi = mid
        else:
            lo = mid + 1
    return float(lo * gps)


def _tiers_needed(cluster: Cluster) -> int:
    """Fewest fat-tree tiers that connect the NIC ports (radix k: k/2 down per level) when the fabric
    cannot be built as specified."""
    if cluster.tiers is not None:
        return cluster.tiers
    k, ports, t = cluster.fabric.switch_radix, cluster.num_gpus * cluster.nics_per_gpu, 1
    while k * (k / 2) ** (t - 1) < ports:
        t += 1
    return t


# --------------------------------------------------------------------------- placement


class _Group:
    """Geometry of groups of n ranks `stride` apart (arrays): g per domain, m domains, pod crossings."""

    def __init__(self, fab: CommFabric, n: Any, stride: Any) -> None:
        self.n = n = np.maximum(np.asarray(n, dtype=float), 1.0)
        self.s = s = np.maximum(np.asarray(stride, dtype=float), 1.0)
        self.g = g = np.minimum(np.maximum(np.floor(fab.domain / s), 1.0), n)
        self.m = m = np.ceil(n / g)
        self.multi = m > 1
        ring = tree = top = 0.0
        worst = (n - g) / n
        lat = fab.net_latency_us
        for i, (pod, over) in enumerate(zip(fab.pod_gpus, fab.pod_over, strict=True)):
            inside = np.minimum(np.maximum(np.floor(pod / s), 1.0), n)  # group ranks in one level-(i+1) pod
            pods = np.ceil(n / inside)
            cross = pods > 1
            dlat = lat[i + 1] - lat[i]
            ring = ring + np.where(cross, pods, 0.0) * dlat  # ring hops over this tier's boundaries
            tree = tree + np.floor(np.log2(pods)) * dlat  # tree levels spanning pods
            top = top + np.where(cross, dlat, 0.0)
            worst = np.maximum(worst, (n - inside) / n * over)
        self.ring_extra = ring / m  # per inter-domain ring step, us
        self.tree_extra = tree  # per tree traversal, us
        self.top_extra = top  # one crossing of the highest tier the group spans, us
        self.a2a_worst = worst  # scale-out bytes per byte sent, weighted by oversubscription
        self.idx = np.where(m <= 1, 0, np.where(m <= 2, 1, 2)).astype(np.int64)  # NCCL's N1 / N2 / N4+
        self.log2m = np.floor(np.log2(m))

    def bus(self, fab: CommFabric) -> np.ndarray:
        """Ring/tree bus bandwidth, GB/s: NVLink inside a domain; across, min(NVLink, g NICs)."""
        net = self.g * fab.nic_eff_gbs * fab.ring_frac
        return np.where(self.multi, np.where(self.g > 1, np.minimum(net, fab.nvl_gbs), net), fab.nvl_gbs)


def _op(op: str) -> str:
    key = op.replace("_", "-").lower()
    key = _ALIASES.get(key.replace("-", ""), key)
    if key not in OPS:
        raise SpecError("op", f"unknown collective {op!r}", OPS, closest(op, OPS))
    return key


# --------------------------------------------------------------------------- candidates


def _caps(fab: CommFabric, name: str, idx: np.ndarray) -> np.ndarray:
    row = _k()[name].get(fab.family)
    return np.asarray(row if row is not None else [0.0, 0.0, 0.0], dtype=float)[idx]


def _ll_cap(fab: CommFabric, G: _Group) -> np.ndarray:
    k = _k()
    return np.where(G.multi, np.asarray(k["ll_max_gbs_multi"], dtype=float)[G.idx], k["ll_max_gbs_single"][fab.family])


def _ring(fab: CommFabric, G: _Group, S: np.ndarray, allreduce: bool) -> list[tuple[str, np.ndarray]]:
    k = _k()
    n, m = G.n, G.m
    steps = 2 * (n - 1) if allreduce else n - 1
    inter = np.where(G.multi, 2 * (m - 1) if allreduce else m - 1, 0.0)
    bus = G.bus(fab)
    ch = fab.channels
    bws = (np.minimum(bus * k["ring_ll_factor"], _ll_cap(fab, G)),
           np.minimum(bus * k["ring_ll128_factor"], ch * _caps(fab, "ring_ll128_per_channel_gbs", G.idx)), bus)
    one = G.g <= 1  # one GPU per domain: NCCL uses the tree's network latency
    out = []
    for p, proto in enumerate(PROTOCOLS):
        simple = proto == "Simple"
        overhead = k["net_overhead_us"] * (k["net_overhead_simple_factor"] if simple else 1.0)
        intra = np.where(G.multi, max(k["nvlink_latency_us"]["ring"][p], overhead), k["nvlink_latency_us"]["ring"][p])
        net = np.where(one, k["net_latency_us"]["tree"][p], k["net_latency_us"]["ring"][p])
        net = net + G.ring_extra * (2.0 if simple else 1.0)
        lat = k["base_latency_us"]["ring"][p] + (steps - inter) * intra + inter * net
        if simple and allreduce:
            plateau = G.multi & (S / (ch * n) >= k["ring_plateau_min_bytes"])
            lat = np.where(plateau, lat * k["ring_plateau_factor"], lat)
        out.append((f"ring/{proto}", lat * 1e-6 + S * (steps / n) / (bws[p] * 1e9)))
    return out


def _tree(fab: CommFabric, G: _Group, S: np.ndarray) -> list[tuple[str, np.ndarray]]:
    k = _k()
    ch = fab.channels
    bus = np.minimum(G.bus(fab) * k["tree_allreduce_factor"], ch * _caps(fab, "tree_per_channel_gbs", G.idx))
    ll128 = np.where(G.multi, k["tree_ll128_factor_multi"], k["tree_ll128_factor_single"])
    bws = (np.minimum(bus * k["tree_ll_factor"], _ll_cap(fab, G)),
           np.minimum(bus * ll128, ch * _caps(fab, "tree_ll128_per_channel_gbs", G.idx)), bus)
    corr = np.asarray(k["tree_correction"], dtype=float)
    logs = np.floor(np.log2(np.maximum(S, 1.0) / 64.0))
    li = np.clip(logs, 0, corr.shape[1] - 1).astype(np.int64)
    inside = (logs >= 0) & (logs < corr.shape[1])
    out = []
    for p, proto in enumerate(PROTOCOLS):
        simple = proto == "Simple"
        net = k["net_latency_us"]["tree"][p]
        lat = k["base_latency_us"]["tree"][p] + 2 * ((G.g - 1) * k["nvlink_latency_us"]["tree"][p]
                                                      + G.log2m * net + G.tree_extra * (2.0 if simple else 1.0))
        bw = bws[p] * np.where(inside, corr[p][li], 1.0) * k["tree_to_algbw"]
        out.append((f"tree/{proto}", lat * 1e-6 + S / (bw * 1e9)))
    return out


def _nvls_gbs(fab: CommFabric) -> float:
    """NVLS algorithm bandwidth in one domain: NVLink x NVLS efficiency, one channel kept for control."""
    return fab.nvl_gbs * fab.nvls_eff * (fab.channels - 1) / fab.channels


def _all_reduce_candidates(fab: CommFabric, G: _Group, S: np.ndarray) -> list[tuple[str, np.ndarray]]:
    k = _k()
    out = _ring(fab, G, S, True) + _tree(fab, G, S)
    inf = np.full(np.broadcast(S, G.n).shape, np.inf)
    net_gbs = G.g * fab.nic_eff_gbs * fab.ring_frac  # one domain's NICs, per GPU of it
    if fab.nvls:
        nv = _nvls_gbs(fab)
        lat = k["nvlink_latency_us"]["nvls"]
        single = lat * 1e-6 + S / (nv * 1e9)
        if fab.sharp:  # NVLS + CollNet: reduced in the NVSwitch, then in the IB switches
            multi = (lat + k["net_latency_us"]["nvls"] + G.top_extra) * 1e-6 + S / (np.minimum(nv, net_gbs) * 1e9)
        else:
            multi = inf
        shared = G.g >= 2  # NVLS reduces in the NVSwitch: it needs two or more ranks in the domain
        out.append(("nvls", np.where(shared, np.where(G.multi, multi, single), inf)))
        # NVLS in the domain, double binary tree between domains (two domains: one exchange, twice the rate)
        tree_gbs = net_gbs * k["tree_to_algbw"] * np.where(G.m <= 2, 2.0, 1.0)
        cap = fab.channels * _caps(fab, "nvls_tree_per_channel_gbs", G.idx) * k["tree_to_algbw"]
        bw = np.minimum(np.minimum(nv, tree_gbs), np.where(cap > 0, cap, np.inf))
        lat = k["nvlink_latency_us"]["nvls_tree"] + 2 * G.log2m * k["net_latency_us"]["nvls_tree"] + 4 * G.tree_extra
        out.append(("nvls-tree", np.where(G.multi & shared, lat * 1e-6 + S / (bw * 1e9), inf)))
    if fab.sharp:  # CollNet direct: RS/AG in the domain, each domain's share reduced once in the switches
        factor = k["collnet_hopper_factor"] if fab.family != "ampere" else 1.0
        intra = np.where(G.g > 1, fab.nvl_gbs * G.g / np.maximum(2 * (G.g - 1), 1.0), np.inf)
        bw = np.minimum(net_gbs * factor, intra)
        lat = (2 * (np.minimum(1.0, G.g - 1) * k["nvlink_latency_us"]["collnet_direct"] + (G.g - 1) * k["collnet_arity_us"])
               + k["net_latency_us"]["collnet_direct"] + 2 * G.top_extra)
        out.append(("collnet", np.where(G.multi, lat * 1e-6 + S / (bw * 1e9), inf)))
    return out


def _gather_candidates(fab: CommFabric, G: _Group, S: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Reduce-scatter and all-gather (same cost): ring, PAT at one GPU per domain, NVLS in one domain."""
    k = _k()
    out = _ring(fab, G, S, False)
    inf = np.full(np.broadcast(S, G.n).shape, np.inf)
    pat_on = G.multi & (G.g <= 1)
    bw = G.bus(fab) * k["pat_factor"]
    lat = (k["base_latency_us"]["pat"][2] + G.log2m * (k["net_latency_us"]["pat"] + G.tree_extra * 2.0)
           / k["pat_log_latency_divisor"] + G.n * k["pat_per_rank_us"])
    out.append(("pat", np.where(pat_on, lat * 1e-6 + S / (bw * 1e9), inf)))
    if fab.nvls:
        t = k["nvlink_latency_us"]["nvls"] * 1e-6 + S * (G.g - 1) / G.g / (_nvls_gbs(fab) * 1e9)
        out.append(("nvls", np.where(G.multi | (G.g <= 1), inf, t)))
    return out


def _candidates(fab: CommFabric, op: str, nbytes: Any, n: Any, stride: Any) -> tuple[list[tuple[str, np.ndarray]], _Group, np.ndarray]:
    S = np.maximum(np.asarray(nbytes, dtype=float), 0.0)
    G = _Group(fab, n, stride)
    if op == "all-reduce":
        return _all_reduce_candidates(fab, G, S), G, S
    if op in ("reduce-scatter", "all-gather"):
        return _gather_candidates(fab, G, S), G, S
    return [("p2p", _a2a(fab, G, S))], G, S


def _best(cands: list[tuple[str, np.ndarray]], G: _Group, S: np.ndarray) -> np.ndarray:
    t = cands[0][1]
    for _, x in cands[1:]:
        t = np.minimum(t, x)
    return np.where((G.n > 1) & (S > 0), t, 0.0)


def _a2a(fab: CommFabric, G: _Group, S: np.ndarray) -> np.ndarray:
    k = _k()
    n, g = G.n, G.g
    lat = k["a2a_base_us"] + (n - 1) * k["a2a_per_peer_us"] + np.where(G.multi, G.top_extra, 0.0)
    t_in = S * (g - 1) / n / (fab.nvl_gbs * k["a2a_nvlink_efficiency"] * 1e9)
    t_out = S * G.a2a_worst / (fab.nic_eff_gbs * fab.a2a_frac * 1e9)
    return lat * 1e-6 + np.maximum(t_in, np.where(G.multi, t_out, 0.0))


# --------------------------------------------------------------------------- public API


def all_reduce(fab: CommFabric, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for an all-reduce of an `nbytes` buffer over n ranks `stride` apart (NCCL's fastest)."""
    return _best(*_candidates(fab, "all-reduce", nbytes, n, stride))


def reduce_scatter(fab: CommFabric, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for a reduce-scatter of an `nbytes` input (each rank keeps nbytes/n)."""
    return _best(*_candidates(fab, "reduce-scatter", nbytes, n, stride))


def all_gather(fab: CommFabric, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for an all-gather into an `nbytes` output (each rank contributes nbytes/n)."""
    return _best(*_candidates(fab, "all-gather", nbytes, n, stride))


def all_to_all(fab: CommFabric, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for an all-to-all where each rank sends `nbytes` in total (its own share included)."""
    return _best(*_candidates(fab, "all-to-all", nbytes, n, stride))


def send_recv(fab: CommFabric, nbytes: Any, stride: Any) -> np.ndarray:
    """Seconds for one point-to-point message between ranks `stride` apart (pipeline stages, CP rings)."""
    k = _k()
    S = np.maximum(np.asarray(nbytes, dtype=float), 0.0)
    s = np.maximum(np.asarray(stride, dtype=float), 1.0)
    inside = s < fab.domain
    level = np.searchsorted(np.asarray(fab.pod_gpus, dtype=float), s, side="right")
    extra = np.asarray(fab.net_latency_us, dtype=float)
    extra = extra[np.minimum(level, extra.size - 1)] - extra[0]
    t_in = k["p2p_nvlink_latency_us"] * 1e-6 + S / (fab.nvl_gbs * 1e9)
    t_out = (k["p2p_net_latency_us"] + extra) * 1e-6 + S / (fab.nic_eff_gbs * 1e9)
    return np.where(S > 0, np.where(inside, t_in, t_out), 0.0)


def scale_out_gbs(fab: CommFabric, n: Any, stride: Any, pattern: str) -> np.ndarray:
    """Achieved scale-out GB/s per GPU for a group's `pattern` ("ring" or "all-to-all"): its bytes that
    leave the NVLink domain over the time they take, with oversubscription of the tiers crossed,
    rails (all NICs of the GPU) and the fabric's routing contention."""
    if pattern not in PATTERNS:
        raise SpecError("pattern", f"unknown traffic pattern {pattern!r}", PATTERNS, closest(pattern, PATTERNS))
    G = _Group(fab, n, stride)
    if pattern == "ring":
        return np.full(np.broadcast(G.n, G.s).shape, fab.nic_eff_gbs * fab.ring_frac)
    leaving = (G.n - G.g) / G.n
    ratio = np.where(leaving > 0, leaving / np.maximum(G.a2a_worst, 1e-30), 1.0)
    return fab.nic_eff_gbs * fab.a2a_frac * ratio


def algorithm(fab: CommFabric, op: str, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Names of the algorithm/protocol NCCL's model picks ("ring/LL128", "tree/Simple", "nvls", "nvls-tree",
    "collnet", "pat", "p2p"; "none" where nothing moves)."""
    cands, G, S = _candidates(fab, _op(op), nbytes, n, stride)
    names = np.array([c[0] for c in cands] + ["none"])
    times = np.stack([np.broadcast_to(c[1], np.broadcast(S, G.n, G.s).shape) for c in cands])
    pick = np.argmin(times, axis=0)
    return names[np.where((G.n > 1) & (S > 0), pick, len(cands))]


def collective(fab: CommFabric, op: str, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for `op` by name (one of OPS)."""
    return _best(*_candidates(fab, _op(op), nbytes, n, stride))


def bus_bandwidth(fab: CommFabric, op: str, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """GB/s in nccl-tests' busbw convention: all-reduce algbw * 2(n-1)/n, the others algbw * (n-1)/n."""
    key = _op(op)
    t = collective(fab, key, nbytes, n, stride)
    n_ = np.maximum(np.asarray(n, dtype=float), 1.0)
    factor = 2 * (n_ - 1) / n_ if key == "all-reduce" else (n_ - 1) / n_
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t > 0, np.asarray(nbytes, dtype=float) / np.where(t > 0, t, 1.0) * factor / 1e9, 0.0)


def reference_collectives(cluster: Cluster | str | dict) -> list[dict[str, Any]]:
    """The collectives the network command reports: a 2 GB gradient all-reduce inside one NVLink domain
    and over one rank per server of the whole cluster (data parallel behind TP = server), a 1 GB
    all-gather over the same ranks, and a 256 MB all-to-all over 64 consecutive ranks (expert parallel)."""
    cluster = _resolve(cluster)
    fab, gpus = comm_fabric(cluster), cluster.num_gpus
    gps = fab.gpus_per_server
    cases = [("all-reduce", 2e9, fab.domain, 1), ("all-reduce", 2e9, max(gpus // gps, 1), gps),
             ("all-gather", 1e9, max(gpus // gps, 1), gps), ("all-to-all", 2.56e8, min(64, gpus), 1)]
    out = []
    for op, nbytes, n, stride in cases:
        out.append({"op": op, "bytes": nbytes, "ranks": int(n), "stride": int(stride),
                    "seconds": float(collective(fab, op, nbytes, n, stride)),
                    "busbw_gbs": float(bus_bandwidth(fab, op, nbytes, n, stride)),
                    "algorithm": str(algorithm(fab, op, nbytes, n, stride))})
    return out


__all__ = ["OPS", "PATTERNS", "PROTOCOLS", "CommFabric", "algorithm", "all_gather", "all_reduce", "all_to_all",
           "bus_bandwidth", "collective", "comm_fabric", "reference_collectives", "reduce_scatter", "scale_out_gbs", "send_recv"]
