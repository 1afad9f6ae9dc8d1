"""A site's halls beside its power: floor space, rack positions, cooling and feed per building, and a
cluster larger than one building spread over several, each with its own build schedule.

A building of a site (``site.buildings``, identical halls) holds at most::

    racks_max = min(rack positions,
                    floor_m2 / m2 per rack (catalog/buildings.yaml, by cooling type),
                    cooling_mw / rack IT kW,
                    feed_mw / (rack IT kW x PUE))

where a rack's IT kW is the cluster's IT nameplate (fleet.power budget: GPUs, hosts, switches,
optics, storage) over its racks. The cluster needs ``ceil(racks / racks_max)`` buildings; it fits
when the site has that many. Racks are spread evenly over the buildings used.

The fabric joins buildings at the first tier whose pod is larger than a building: every link at
or above that tier may run between buildings (an upper bound; single-mode optics at campus reach).

Bring-up, owned capacity: each building runs the build profile on its own racks, starting on its
``start_days`` entry; the cluster's racks online is the sum over buildings, training starts with
the first building and the cluster is at full size when the last building is. Rented capacity
(``capacity.mode = rented``) has no build: the whole cluster is ready ``ready_days`` after the
contract is signed, and every day counts from signature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import catalog
from ..specs import Scenario
from .build import BringUp, PhaseTiming, bringup
from .site import Check, SiteVerdict


@dataclass(frozen=True)
class Limit:
    """One physical limit of a building: how many racks it allows and what bounds it."""

    name: str
    racks: int
    detail: str


@dataclass(frozen=True)
class Layout:
    """How a cluster fits the buildings of its site."""

    site: str
    racks: int
    rack_it_kw: float
    buildings_available: int
    racks_max_per_building: int
    binding: str  # the limit that sets racks_max
    limits: tuple[Limit, ...]
    buildings_needed: int
    racks_per_building: tuple[int, ...]  # racks placed in each building used
    gpus_per_building: tuple[int, ...]
    fits: bool
    reason: str  # empty when it fits; else the shortfall and the smallest fix
    fix: str  # empty when it fits; else the smallest fix alone
    interconnect: str  # grid interconnect against the facility load (the power verdict judges supply)
    fabric_tiers: int
    joining_tier: str | None  # link tier that first spans buildings (None: one building)
    links_between_buildings: int  # upper bound: links at or above the joining tier

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def m2_per_rack(cooling: str) -> float:
    """White space one rack position takes, by cooling type (catalog/buildings.yaml)."""
    return float(catalog.entry("buildings", "rack-footprint")["m2_per_rack"][cooling])


def layout(scen: Scenario) -> Layout | None:
    """Place the cluster in its site's buildings; None when the site does not describe its buildings."""
    from ..network.topology import build_topology
    from .power import budget

    c, s = scen.cluster, scen.site
    b = s.buildings
    if b is None:
        return None
    racks = c.num_racks
    bud = budget(c, site_pue=s.pue)
    rack_kw = bud.it_mw * 1e3 / racks
    foot = m2_per_rack(c.cooling)
    limits = [
        Limit("rack positions", b.rack_positions, f"{b.rack_positions:,} positions fitted out"),
        Limit("floor space", int(b.floor_m2 // foot),
              f"{b.floor_m2:,.0f} m2 of white space at {foot:g} m2 per {c.cooling} rack"),
        Limit("cooling", int(b.cooling_mw * 1e3 // rack_kw),
              f"{b.cooling_mw:g} MW of cooling at {rack_kw:.1f} kW of IT per rack"),
    ]
    if b.feed_mw is not None:
        limits.append(Limit("electrical feed", int(b.feed_mw * 1e3 // (rack_kw * s.pue)),
                            f"{b.feed_mw:g} MW feed at {rack_kw * s.pue:.1f} kW per rack with PUE {s.pue:g}"))
    worst = min(limits, key=lambda lim: lim.racks)
    rmax = worst.racks
    needed = math.ceil(racks / rmax) if rmax > 0 else math.inf
    fits = needed <= b.count
    used = b.count if not fits else int(needed)
    per = [racks // used + (1 if i < racks % used else 0) for i in range(used)]
    gpr = c.scale_up.gpus_per_rack
    gpus = [min(n * gpr, c.num_gpus) for n in per]
    gpus[-1] = c.num_gpus - sum(gpus[:-1])
    reason = fix = ""
    if not fits:
        cap_racks = b.count * rmax
        cap_gpus = cap_racks * gpr // c.scale_up.gpus_per_domain * c.scale_up.gpus_per_domain
        more = (f"add {needed - b.count:,} building(s)" if rmax > 0 else f"raise the buildings' {worst.name}")
        fix = f"{more} or cut to {cap_gpus:,} GPUs"
        reason = (f"{racks:,} racks need {needed if rmax else 'more'} building(s) of at most {rmax:,} racks "
                  f"(bound by {worst.name}: {worst.detail}), site {s.id} has {b.count}: {fix}")
    fac = bud.it_mw * s.pue
    inter = (f"facility {fac:,.0f} MW; grid interconnect {s.grid_mw:,.0f} MW"
             + (f", on-site generation {s.generation_mw:,.0f} MW" if s.generation_mw else ""))
    topo = build_topology(c)
    joining, between = None, 0
    if used > 1:
        biggest = max(gpus)
        pod_gpus = [math.prod(topo.branch_by_tier[:i]) * topo.planes // c.nics_per_gpu
                    for i in range(1, topo.tiers + 1)]
        level = next((i for i, g in enumerate(pod_gpus, start=1) if g >= biggest), topo.tiers)
        # links from tier `level - 1` upward leave a building (link index level - 1: tier (level-1) -> level)
        first = max(level - 1, 0)
        joining = list(topo.links_by_name)[first]
        between = int(sum(topo.links_by_tier[first:]))
    return Layout(
        site=s.id, racks=racks, rack_it_kw=rack_kw, buildings_available=b.count, racks_max_per_building=rmax,
        binding=worst.name, limits=tuple(limits), buildings_needed=int(needed) if rmax else b.count + 1,
        racks_per_building=tuple(per), gpus_per_building=tuple(gpus), fits=fits, reason=reason, fix=fix,
        interconnect=inter, fabric_tiers=topo.tiers, joining_tier=joining, links_between_buildings=between,
    )


def building_check(lay: Layout) -> Check:
    """The layout as one site check: racks against the buildings' positions, floor, cooling and feed."""
    used = len(lay.racks_per_building)
    detail = (f"{lay.racks:,} racks at {lay.rack_it_kw:.0f} kW IT need {lay.buildings_needed:,} building(s) of at most "
              f"{lay.racks_max_per_building:,} racks (bound by {lay.binding}); site has {lay.buildings_available}")
    if lay.fits and used > 1:
        detail += f"; the fabric joins the {used} buildings at {lay.joining_tier} ({lay.links_between_buildings:,} links)"
    return Check("buildings", lay.fits, detail, lay.fix)


def with_building_check(v: SiteVerdict, lay: Layout | None) -> SiteVerdict:
    """A site verdict with the buildings check added (unchanged when the site has no buildings)."""
    if lay is None:
        return v
    from dataclasses import replace

    chk = building_check(lay)
    return replace(v, fits=v.fits and chk.ok, checks=(*v.checks, chk),
                   reasons=v.reasons if chk.ok else (*v.reasons, chk.reason))


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class BuildingSchedule:
    """One building's bring-up (days from the project's start)."""

    building: int
    start_day: float
    racks: int
    gpus: int
    first_rack_day: dict[str, float]
    full_size_day: dict[str, float]


@dataclass(frozen=True)
class Schedule:
    """The cluster's schedule: the bring-up the twin grows the job on, plus its per-building parts."""

    mode: str  # owned | rented
    bringup: BringUp
    buildings: list[BuildingSchedule] = field(default_factory=list)
    layout: Layout | None = None
    note: str = ""


def ready_at(scen: Scenario, days: float) -> BringUp:
    """Rented capacity: the whole cluster online, training allowed, from `days` after signature."""
    c = scen.cluster
    racks = c.num_racks
    horizon = int(math.ceil(days)) + 2
    grid = np.arange(horizon + 1, dtype=float)
    curve = np.where(grid >= days, float(racks), 0.0)
    q = {"p10": days, "p50": days, "p90": days, "mean": days}
    zero = {"p10": 0.0, "p50": 0.0, "p90": 0.0, "mean": 0.0}
    prov = scen.capacity.provider or "the provider"
    return BringUp(
        profile="rented", cluster=c.id, num_gpus=c.num_gpus, racks=racks, gpus_per_rack=c.scale_up.gpus_per_rack,
        domain_gpus=c.domain_size, trials=1, seed=scen.policies.seed,
        phases=[PhaseTiming("contract to capacity ready", (), 0.0, days, days)],
        first_rack_day=dict(q), first_training_day=dict(q), full_size_day=dict(q),
        training_after_first_rack=dict(zero), days=grid, racks_online={k: curve for k in ("p10", "p50", "p90")},
        notes=[f"rented from {prov}: no build; all {c.num_gpus:,} GPUs ready {days:g} days after signature"],
    )


def _per_building(scen: Scenario, lay: Layout, seed: int) -> tuple[BringUp, list[BuildingSchedule]]:
    c, b = scen.cluster, scen.site.buildings
    assert b is not None
    parts: list[tuple[float, BringUp]] = []
    # identical buildings draw from one duration distribution: one Monte Carlo per building size,
    # each building shifted to its own start day
    by_size: dict[int, BringUp] = {}
    for i, gpus in enumerate(lay.gpus_per_building):
        if gpus not in by_size:
            sub = c.model_copy(update={"num_gpus": gpus})
            by_size[gpus] = bringup(sub, scen.policies.build_profile, seed=seed + len(by_size))
        parts.append((b.start_day(i), by_size[gpus]))
    horizon = int(max(off + bu.days[-1] for off, bu in parts)) + 1
    grid = np.arange(horizon + 1, dtype=float)
    curves = {}
    for q in ("p10", "p50", "p90"):
        # quantile curves add up building by building (an approximation: the buildings are independent)
        curves[q] = sum(np.interp(grid - off, bu.days, bu.racks_online[q], left=0.0, right=float(bu.racks))
                        for off, bu in parts)
    first_off, first = min(parts, key=lambda p: p[0] + p[1].first_training_day["p50"])

    def shifted(d: dict[str, float], off: float) -> dict[str, float]:
        return {k: round(v + off, 1) for k, v in d.items()}

    full = {k: max(off + bu.full_size_day[k] for off, bu in parts) for k in ("p10", "p50", "p90", "mean")}
    first_rack = {k: min(off + bu.first_rack_day[k] for off, bu in parts) for k in ("p10", "p50", "p90", "mean")}
    train = shifted(first.first_training_day, first_off)
    combined = BringUp(
        profile=first.profile, cluster=c.id, num_gpus=c.num_gpus, racks=c.num_racks,
        gpus_per_rack=c.scale_up.gpus_per_rack, domain_gpus=c.domain_size, trials=first.trials, seed=seed,
        phases=[PhaseTiming(f"building {i + 1}: {p.name}", p.after, round(p.start_p50 + off, 1),
                            round(p.end_p50 + off, 1), round(p.end_p90 + off, 1))
                for i, (off, bu) in enumerate(parts) for p in bu.phases],
        first_rack_day={k: round(v, 1) for k, v in first_rack.items()}, first_training_day=train,
        full_size_day={k: round(v, 1) for k, v in full.items()},
        training_after_first_rack={k: round(train[k] - first_rack[k], 1) for k in train},
        days=grid, racks_online=curves,
        notes=[f"{len(parts)} buildings, each on its own {first.profile} schedule (starts: "
               + ", ".join(f"day {off:g}" for off, _ in parts) + "); training starts in the first building"],
    )
    rows = [BuildingSchedule(i + 1, off, bu.racks, lay.gpus_per_building[i], shifted(bu.first_rack_day, off),
                             shifted(bu.full_size_day, off)) for i, (off, bu) in enumerate(parts)]
    return combined, rows


def schedule(scen: Scenario, seed: int | None = None) -> Schedule:
    """The cluster's bring-up under the scenario's capacity mode and site buildings."""
    seed = scen.policies.seed if seed is None else seed
    if scen.capacity.mode == "rented":
        return Schedule("rented", ready_at(scen, scen.capacity.ready_days),
                        note=f"rented: days count from contract signature; ready on day {scen.capacity.ready_days:g}")
    lay = layout(scen)
    if lay is None or len(lay.gpus_per_building) <= 1:
        return Schedule("owned", bringup(scen, seed=seed), layout=lay)
    bu, rows = _per_building(scen, lay, seed)
    return Schedule("owned", bu, rows, lay)
