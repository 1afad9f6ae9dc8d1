"""Collective communication over the cluster's two-level hierarchy (NVLink domain, scale-out).

A group of ``n`` ranks laid out with stride ``stride`` (Megatron rank order: TP innermost, then CP,
EP/DP, PP outermost) keeps ``g = clip(domain // stride, 1, n)`` ranks inside one NVLink domain and
spans ``n / g`` domains. Collectives are hierarchical, as NCCL runs them on rail-optimised
clusters: the intra-domain phase moves ``(g-1)/g`` of the buffer over NVLink, the inter-domain
phase moves ``(n/g - 1)/(n/g)`` of the ``1/g`` slice each GPU owns over its own NICs.

Ring reduce-scatter / all-gather of a buffer of ``S`` bytes on ``n`` ranks of bandwidth ``B``:
``t = (n-1)/n * S / B`` (Patarasuk & Yuan 2009; Thakur et al. 2005); all-reduce is twice that.
Achieved bandwidth is ``B * eff_max * S / (S + S_half)`` (message-size dependence of NCCL).
Every function accepts numpy arrays (one entry per plan) as well as scalars.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from .. import catalog
from ..errors import SpecError
from ..specs import Cluster


@dataclass(frozen=True)
class Hierarchy:
    """Per-GPU bandwidths (GB/s, one direction) and latencies (s) of the network levels."""

    domain: int  # GPUs per NVLink domain
    nvl_gbs: float  # achieved NVLink bandwidth per GPU (large messages)
    nvl_lat_s: float
    so_gbs: float  # achieved scale-out bandwidth per GPU for rings (NICs x speed x NCCL eff x contention)
    so_lat_s: float  # NIC-to-NIC latency across the tiers
    half_bytes: float  # message size at half bandwidth
    a2a_eff: float  # all-to-all efficiency relative to ring collectives
    tiers: int
    a2a_so_frac: float = 1.0  # scale-out all-to-all bandwidth over the ring's (routing collisions, oversubscription)


@cache
def _k(entry: str, key: str) -> float:
    return float(catalog.entry("perf", entry)[key])


def tiers_needed(cluster: Cluster) -> int:
    """Fewest fat-tree tiers that connect the cluster's NIC ports (radix k: k/2 down per level)."""
    if cluster.tiers is not None:
        return cluster.tiers
    k = cluster.fabric.switch_radix
    ports = cluster.num_gpus * cluster.nics_per_gpu
    t, reach = 1, k
    while reach < ports:
        t += 1
        reach = 2 * (k / 2) ** t
    return t


def hierarchy(cluster: Cluster) -> Hierarchy:
    """The network levels of a cluster as the step engine sees them, from the fabric as built
    (:func:`gigafactory.network.topology.build_topology`) and its flow-level contention
    (:func:`gigafactory.network.contention.effective_fraction`); memoised per cluster."""
    return _hierarchy(cluster.model_dump_json())


@lru_cache(maxsize=512)
def _hierarchy(cluster_json: str) -> Hierarchy:
    from ..network.contention import effective_fraction
    from ..network.topology import build_topology

    cluster = Cluster.model_validate_json(cluster_json)
    su, fab = cluster.scale_up, cluster.fabric
    common = dict(domain=cluster.domain_size, nvl_gbs=su.bw_gbs * _k("nccl", "nvlink_eff"), nvl_lat_s=su.latency_us * 1e-6,
                  half_bytes=_k("nccl", "half_bw_bytes"), a2a_eff=_k("nccl", "a2a_eff"))
    try:
        topo = build_topology(cluster)
    except SpecError:  # a fabric that cannot be built (the network command says why): NIC line rate, no contention
        tiers = tiers_needed(cluster)
        lat = fab.nic_latency_us * 1e-6 + (2 * tiers - 1) * fab.hop_latency_ns * 1e-9
        return Hierarchy(so_gbs=cluster.scale_out_gbs_per_gpu * _k("nccl", "scaleout_eff"), so_lat_s=lat, tiers=tiers,
                         **common)
    routing = "adaptive" if fab.adaptive_routing else "ecmp"
    # rings (DP, PP, CP) follow the topology order, as NCCL builds them: NCCL spreads a ring over several
    # channels, so the aggregate rate counts; an all-to-all waits for its slowest flow (completion)
    ring = effective_fraction(topo, "dp-allreduce", routing, metric="throughput")
    a2a = effective_fraction(topo, "all-to-all", routing, metric="completion")
    return Hierarchy(
        so_gbs=topo.tier_bw_gbs(1) * _k("nccl", "scaleout_eff") * ring,
        so_lat_s=topo.latency_us() * 1e-6,
        tiers=topo.tiers,
        a2a_so_frac=min(1.0, a2a / max(ring, 1e-9)),
        **common,
    )


def _split(n, stride, domain):
    n = np.asarray(n, dtype=float)
    g = np.clip(np.floor(domain / np.maximum(stride, 1)), 1, None)
    g = np.minimum(g, n)
    return g, n / g


def _bw(h: Hierarchy, gbs: float, nbytes):
    nbytes = np.maximum(nbytes, 1.0)
    return gbs * 1e9 * nbytes / (nbytes + h.half_bytes)


def reduce_scatter_time(h: Hierarchy, nbytes, n, stride=1):
    """Seconds for a reduce-scatter (or all-gather) of an `nbytes` buffer over `n` ranks."""
    g, d = _split(n, stride, h.domain)
    intra = nbytes * (g - 1) / g / _bw(h, h.nvl_gbs, nbytes / g) + (g - 1) * h.nvl_lat_s
    part = nbytes / g
    inter = part * (d - 1) / d / _bw(h, h.so_gbs, part / d) + 2 * np.log2(d) * h.so_lat_s
    return np.where(np.asarray(n) > 1, intra + inter, 0.0)


all_gather_time = reduce_scatter_time


def all_reduce_time(h: Hierarchy, nbytes, n, stride=1):
    """Ring all-reduce = reduce-scatter + all-gather: 2 (n-1)/n S / B."""
    return 2.0 * reduce_scatter_time(h, nbytes, n, stride)


def all_to_all_time(h: Hierarchy, nbytes, n, stride=1):
    """All-to-all where each rank sends `nbytes` spread evenly over the group (incl. itself)."""
    n_ = np.maximum(np.asarray(n, dtype=float), 1.0)
    g, d = _split(n, stride, h.domain)
    inside = nbytes * (g - 1) / n_
    outside = nbytes * (n_ - g) / n_
    t_in = inside / (_bw(h, h.nvl_gbs, nbytes / n_) * h.a2a_eff) + h.nvl_lat_s
    t_out = outside / (_bw(h, h.so_gbs, nbytes / n_) * h.a2a_eff * h.a2a_so_frac) + np.where(d > 1, h.so_lat_s, 0.0)
    return np.where(n_ > 1, np.maximum(t_in, t_out), 0.0)


def p2p_time(h: Hierarchy, nbytes, stride):
    """Point-to-point send between neighbours `stride` ranks apart."""
    inside = np.asarray(stride) < h.domain
    bw = np.where(inside, _bw(h, h.nvl_gbs, nbytes), _bw(h, h.so_gbs, nbytes))
    return nbytes / bw + np.where(inside, h.nvl_lat_s, h.so_lat_s)


def moe_a2a_time(h: Hierarchy, token_bytes, ep, top_k: int):
    """One MoE dispatch (or combine) of tokens of `token_bytes` each to `top_k` of `ep` ranks.

    Experts are spread evenly over `ep` consecutive ranks (``g`` per NVLink domain, ``d`` domains)
    and routing is balanced. Copies to ranks of the own domain cross NVLink; a token bound for
    several experts in one remote domain crosses the scale-out network once and is forwarded
    over NVLink there (DeepEP / Megatron-LM hierarchical dispatch), so it crosses
    ``(d-1) (1 - (1 - 1/d)^k)`` times on average.
    """
    n = np.maximum(np.asarray(ep, dtype=float), 1.0)
    g = np.minimum(n, float(h.domain))
    d = n / g
    intra = token_bytes * top_k * (g - 1) / n
    remote = token_bytes * (d - 1) * (1 - (1 - 1 / d) ** top_k)
    t_in = intra / (_bw(h, h.nvl_gbs, intra / np.maximum(g - 1, 1)) * h.a2a_eff) + h.nvl_lat_s
    t_out = remote / (_bw(h, h.so_gbs, remote / np.maximum(d - 1, 1)) * h.a2a_eff * h.a2a_so_frac) + np.where(d > 1, h.so_lat_s, 0.0)
    return np.where(n > 1, np.maximum(t_in, t_out), 0.0)


# ---- temporary adapter with the API of the one collective model (network/collectives.py, in progress)
def comm_fabric(cluster: Cluster) -> Hierarchy:
    return hierarchy(cluster)


def all_reduce(h, nbytes, n, stride=1):
    return all_reduce_time(h, nbytes, n, stride)


def reduce_scatter(h, nbytes, n, stride=1):
    return reduce_scatter_time(h, nbytes, n, stride)


all_gather = reduce_scatter


def all_to_all(h, nbytes, n, stride=1):
    return all_to_all_time(h, nbytes, n, stride)


def send_recv(h, nbytes, stride):
    return p2p_time(h, nbytes, stride)


def scale_out_gbs(h, n, stride, pattern="ring"):
    return np.full(np.broadcast(np.asarray(n), np.asarray(stride)).shape,
                   h.so_gbs * (h.a2a_so_frac if pattern == "all-to-all" else 1.0))
