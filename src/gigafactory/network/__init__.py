"""The scale-out network as built: fat-tree topology and optics (:mod:`.topology`, :mod:`.optics`),
collective times (:mod:`.collectives`) and flow-level contention, ECMP vs adaptive (:mod:`.contention`).

:func:`network_report` is the one-call summary behind ``gigafactory network`` and ``gf.network_report``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..specs import Cluster
from .collectives import CommFabric, comm_fabric, reference_collectives
from .contention import effective_fraction, route_flows
from .topology import Topology, build_topology, tiers_needed

#: the traffic patterns the summary reports, ECMP and adaptive
SUMMARY_PATTERNS = ("dp-allreduce", "permutation")


@dataclass(frozen=True)
class NetworkReport:
    topology: Topology
    #: pattern -> routing -> {"throughput": f, "completion": f}
    contention: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    #: reference collectives on this fabric (:func:`.collectives.reference_collectives`)
    collectives: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {**self.topology.summary(), "contention": self.contention, "collectives": self.collectives}


def network_report(cluster: Cluster, *, seed: int = 0, patterns: tuple[str, ...] = SUMMARY_PATTERNS,
                   **overrides: Any) -> NetworkReport:
    """Build the fabric of `cluster` and measure ECMP vs adaptive routing on the summary patterns."""
    topo = build_topology(cluster, **overrides)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for pat in patterns:
        out[pat] = {}
        for routing in ("ecmp", "adaptive"):
            r = route_flows(topo, pat, routing, seed)
            out[pat][routing] = {"throughput": round(r.throughput, 4), "completion": round(r.completion, 4)}
    as_specified = all(k == "planes" and v == 1 for k, v in overrides.items())  # the model reads the cluster spec
    return NetworkReport(topo, out, reference_collectives(cluster) if as_specified else [])


__all__ = ["CommFabric", "NetworkReport", "Topology", "build_topology", "comm_fabric", "effective_fraction",
           "network_report", "route_flows", "tiers_needed"]
