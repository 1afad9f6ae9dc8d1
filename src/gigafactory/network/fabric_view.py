"""The collective model's view of a cluster (:class:`CommFabric`): link rates from its spec, pods,
oversubscription, tier latencies and routing contention from its fabric as built. The formulas that
run on it are in :mod:`gigafactory.network.collectives` (see its module doc for the model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from .. import catalog
from ..errors import SpecError
from ..specs import Cluster

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
    nic_line_gbps: float  # one NIC's line rate
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
        """What the GPU's NICs deliver to NCCL, GB/s per direction."""
        return self.nic_gbs * self.nic_eff

    @property
    def ring_gbs(self) -> float:
        """Per-GPU scale-out rate of rings in topology order (routing contention included)."""
        return self.nic_gbs * self.nic_eff * self.ring_frac


@cache
def nccl_constants() -> dict[str, Any]:
    """NCCL's tuning constants and the measured corrections (catalog ``network.nccl``)."""
    return catalog.entry("network", "nccl")


def comm_fabric(cluster: Cluster) -> CommFabric:
    """The collective model's view of `cluster` (a spec: names are resolved at the surfaces): link
    rates from its spec, pods, oversubscription and latencies from the built topology, contention from
    its flow-level simulation; memoised on everything but the GPUs' power cap, which no link, switch or
    flow depends on (a sweep over caps builds each fabric once)."""
    c = as_cluster(cluster)
    if c.gpu.power_cap_w is not None:
        c = c.model_copy(update={"gpu": c.gpu.model_copy(update={"power_cap_w": None})})
    return _fabric(c.model_dump_json())


def as_cluster(cluster: Cluster) -> Cluster:
    """`cluster` itself, or one clear line where anything but a Cluster spec reaches the model."""
    if not isinstance(cluster, Cluster):
        raise SpecError("cluster", f"the collective model takes a Cluster spec, got {type(cluster).__name__}")
    return cluster


@lru_cache(maxsize=256)
def _fabric(cluster_json: str) -> CommFabric:
    from .contention import effective_fraction
    from .optics import ns_per_m
    from .topology import build_topology, tiers_needed

    c = Cluster.model_validate_json(cluster_json)
    k, su, fab = nccl_constants(), c.scale_up, c.fabric
    fam = _FAMILY[c.gpu.family]
    nvls = c.gpu.family in k["nvls_families"] and su.nvswitch_chips > 0
    routing = "adaptive" if fab.adaptive_routing else "ecmp"
    common = dict(
        cluster=c.id, family=fam, domain=c.domain_size, gpus_per_server=su.gpus_per_server,
        nvl_gbs=su.bw_gbs * float(k["nvlink_usable_frac"][fam]), nvl_latency_us=su.latency_us, nvls=nvls,
        nvls_eff=float(k["nvls_efficiency"].get(fam, 0.0)), nic_gbs=c.scale_out_gbs_per_gpu,
        nics_per_gpu=c.nics_per_gpu, nic_line_gbps=c.nic_speed_gbps, nic_eff=float(k["nic_efficiency"]), sharp=fab.sharp, routing=routing,
        channels=int(k["channels"][fam]),
    )
    try:
        topo = build_topology(c)
    except SpecError:  # the network command says why; collectives still get NIC line rate
        tiers = c.tiers if c.tiers is not None else tiers_needed(c.num_gpus * c.nics_per_gpu, c.fabric.switch_radix)
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
