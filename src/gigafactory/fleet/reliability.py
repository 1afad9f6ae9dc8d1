"""Failure model: a reliability profile from the catalog, scaled to a cluster, gives rates by cause.

A profile (``catalog/reliability.yaml``) lists interruption causes, each with the unit its rate grows
with (GPU, NIC, node, rack, fabric switch, or the job itself for software and planned work) and either
a count seen in an observation window (Llama 3: 16,384 GPUs x 54 days) or a rate per unit-day
(Kokolis et al.: failures per node-day). Scaling to a job of N GPUs multiplies each per-unit rate by
the number of such units the job spans. Interruptions are a Poisson process per cause; the total rate
sets the job's mean time to failure, MTTF = 1 / sum(rate_c x units_c).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from .. import catalog
from ..errors import SpecError, unknown
from ..network.topology import tiers_needed
from ..specs import Cluster

UNITS = ("gpu", "nic", "node", "rack", "switch", "job")
NEEDS = ("replace", "reset", "planned")


@dataclass(frozen=True)
class Cause:
    """One interruption cause, scaled to a job."""

    id: str
    component: str
    unit: str
    needs: str
    rate_per_unit_day: float
    units: float

    @property
    def per_day(self) -> float:
        """Expected interruptions of the job per day of running."""
        return self.rate_per_unit_day * self.units

    @property
    def hardware(self) -> bool:
        """Hardware causes grow with the job and take the early-life (burn-in) excess."""
        return self.unit != "job"


@dataclass(frozen=True)
class Recovery:
    """What an interruption costs besides lost work (minutes unless named otherwise)."""

    detect_min: float
    restart_min: float
    spare_swap_min: float
    repair_h: float
    checkpoint_interval_min: float
    checkpoint_read_factor: float


@dataclass(frozen=True)
class BurnIn:
    """Early-life excess: hardware rates x (1 + excess * exp(-t / decay))."""

    excess: float
    decay_days: float


@dataclass(frozen=True)
class FailureModel:
    profile: str
    name: str
    source: str
    gpus: int
    units: dict[str, float]
    causes: tuple[Cause, ...]
    recovery: Recovery

    @property
    def per_day(self) -> float:
        """All interruptions per day (planned included)."""
        return sum(c.per_day for c in self.causes)

    @property
    def unexpected_per_day(self) -> float:
        return sum(c.per_day for c in self.causes if c.needs != "planned")

    @property
    def mttf_h(self) -> float:
        """Mean time between unexpected interruptions of the job, hours."""
        return 24.0 / self.unexpected_per_day if self.unexpected_per_day > 0 else math.inf

    @property
    def mtbi_h(self) -> float:
        """Mean time between any interruptions (planned included), hours."""
        return 24.0 / self.per_day if self.per_day > 0 else math.inf

    def expected_counts(self, days: float) -> dict[str, float]:
        """Expected interruptions by cause over `days` of running."""
        return {c.id: c.per_day * days for c in self.causes}

    def split(self) -> dict[str, float]:
        """Share of unexpected interruptions by cause."""
        tot = self.unexpected_per_day
        return {c.id: c.per_day / tot for c in self.causes if c.needs != "planned"}

    def by_component(self) -> dict[str, float]:
        """Interruptions per day grouped by component (gpu, hbm, network, host, software, ...)."""
        out: dict[str, float] = {}
        for c in self.causes:
            out[c.component] = out.get(c.component, 0.0) + c.per_day
        return out


def profiles() -> list[str]:
    """Ids of the reliability profiles in the catalog."""
    return [k for k in catalog.table("reliability") if not k.startswith("_")]


@cache
def _raw(profile: str) -> dict:
    table = catalog.table("reliability")
    names = [k for k in table if not k.startswith("_")]
    if profile not in names:
        raise unknown("policies.reliability_profile", "reliability profile", profile, names)
    return table[profile]


def constants(name: str) -> dict[str, float]:
    """Shared constants (``_checkpoint``, ``_burn_in``) from reliability.yaml."""
    return catalog.table("reliability")[f"_{name}"]


def burn_in() -> BurnIn:
    c = constants("burn_in")
    return BurnIn(excess=float(c["excess"]), decay_days=float(c["decay_days"]))


def fabric_switches(cluster: Cluster, gpus: int) -> float:
    """Switches of a folded-Clos fabric for `gpus` GPUs: (2t - 1) x endpoints / radix.

    Endpoints are NIC ports; tiers t are the cluster's, or the fewest that join the endpoints
    (:func:`gigafactory.network.topology.tiers_needed`). A t-tier fat tree has 2E/k switches in every
    tier but the top, which has E/k.
    """
    endpoints = gpus * cluster.nics_per_gpu
    k = cluster.fabric.switch_radix
    t = cluster.tiers if cluster.tiers is not None else tiers_needed(endpoints, k)
    return (2 * t - 1) * endpoints / k


def unit_counts(cluster: Cluster, gpus: int | None = None) -> dict[str, float]:
    """How many of each failure unit a job of `gpus` GPUs on `cluster` spans."""
    n = gpus or cluster.num_gpus
    su = cluster.scale_up
    nodes = n / su.gpus_per_server
    return {
        "gpu": float(n),
        "nic": float(n * cluster.nics_per_gpu),
        "node": nodes,
        "rack": float(math.ceil(nodes / su.servers_per_rack)),
        "switch": fabric_switches(cluster, n),
        "job": 1.0,
    }


def _observed_units(obs: dict) -> dict[str, float]:
    gpus = float(obs["gpus"])
    return {"gpu": gpus, "nic": gpus * float(obs.get("nics_per_gpu", 1)), "node": gpus / float(obs["gpus_per_node"]),
            "job": 1.0}


def _rates(profile: str) -> list[tuple[str, dict, float]]:
    """(cause id, raw cause entry, rate per unit-day) for a profile."""
    raw = _raw(profile)
    out = []
    for cid, c in raw["causes"].items():
        unit = c["unit"]
        if unit not in UNITS or c["needs"] not in NEEDS:
            raise SpecError(f"reliability.{profile}.causes.{cid}", "bad unit or needs", UNITS + NEEDS)
        if "count" in c:
            obs = raw["observed"]
            base = _observed_units(obs)
            if unit not in base:
                raise SpecError(f"reliability.{profile}.causes.{cid}.unit", f"{unit!r} not in the observed window",
                                list(base))
            rate = float(c["count"]) / (base[unit] * float(obs["days"]))
        elif "share" in c:
            rate = float(c["share"]) * float(raw["total_rate"])
        else:
            rate = float(c["rate"])
        out.append((cid, c, rate))
    return out


def failure_model(cluster: Cluster, profile: str = "llama3-405b", gpus: int | None = None) -> FailureModel:
    """Interruption rates by cause for a job of `gpus` GPUs (default: the whole cluster)."""
    n = gpus or cluster.num_gpus
    if n <= 0:
        raise SpecError("gpus", f"must be positive, got {n}")
    raw = _raw(profile)
    units = unit_counts(cluster, n)
    causes = tuple(
        Cause(id=cid, component=str(c.get("component", cid)), unit=c["unit"], needs=c["needs"],
              rate_per_unit_day=rate, units=units[c["unit"]])
        for cid, c, rate in _rates(profile)
    )
    r = raw["recovery"]
    rec = Recovery(
        detect_min=float(r["detect_min"]),
        restart_min=float(r["restart_min"]),
        spare_swap_min=float(r["spare_swap_min"]),
        repair_h=float(r["repair_h"]),
        checkpoint_interval_min=float(raw["checkpoint_interval_min"]),
        checkpoint_read_factor=float(raw.get("checkpoint_read_factor", 1.0)),
    )
    return FailureModel(profile=profile, name=str(raw.get("name", profile)), source=str(raw.get("source", "")),
                        gpus=n, units=units, causes=causes, recovery=rec)


def mttf_hours(profile: str, gpus: int, gpus_per_node: int = 8) -> float:
    """Job MTTF (unexpected interruptions) for `gpus` GPUs, without a cluster: GPU/NIC/node units only."""
    nodes = gpus / gpus_per_node
    units = {"gpu": float(gpus), "nic": float(gpus), "node": nodes, "job": 1.0}
    per_day = 0.0
    for _cid, c, rate in _rates(profile):
        if c["needs"] == "planned":
            continue
        if c["unit"] not in units:
            raise SpecError("profile", f"{profile} has {c['unit']}-based causes; use failure_model with a cluster")
        per_day += rate * units[c["unit"]]
    return 24.0 / per_day


__all__ = ["Cause", "Recovery", "BurnIn", "FailureModel", "profiles", "failure_model", "unit_counts",
           "fabric_switches", "mttf_hours", "burn_in", "constants"]
