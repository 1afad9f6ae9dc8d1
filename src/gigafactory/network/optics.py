"""Link media per tier: how long each tier's cable runs are, and which transceiver/cable covers them.

Run length of a tier is the longest cable from a device to the switch that serves its pod, on a square
floor plan: the switches of a pod sit in its middle, so the longest run is the Manhattan distance from
centre to corner, sqrt(area), plus vertical drops and service loops (``layout.slack_m``). A pod that fits
in one rack uses the in-rack run. The medium of a tier is the cheapest kind in ``catalog/optics.yaml``
(per link: two active ends plus any passive cable) whose reach covers that run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from .. import catalog


@dataclass(frozen=True)
class Medium:
    """One link medium: an active end kind (or None for passive copper) and a cable kind (or None)."""

    end: str | None
    cable: str | None
    reach_m: float
    link_usd: float  # two ends + cable
    link_w: float  # two ends
    medium: str  # copper | multimode | single-mode

    @property
    def name(self) -> str:
        return self.end or self.cable or "?"


@cache
def _table() -> dict[str, dict]:
    return catalog.table("optics")


@cache
def layout() -> dict[str, float]:
    return {k: float(v) for k, v in catalog.entry("network", "layout").items() if isinstance(v, int | float)}


@cache
def ns_per_m() -> float:
    return float(catalog.entry("network", "propagation")["ns_per_m"])


@cache
def media(gbps: float) -> tuple[Medium, ...]:
    """The link media offered at (the speed class nearest) `gbps`, cheapest first."""
    rows = _table()
    speeds = sorted({float(r["gbps"]) for r in rows.values() if "gbps" in r})
    speed = min(speeds, key=lambda s: (abs(math.log(s / gbps)), -s))
    fibre = {r["medium"]: k for k, r in rows.items() if r["role"] == "cable" and "gbps" not in r}
    out = []
    for kid, r in rows.items():
        if r.get("gbps") != speed:
            continue
        if r["role"] == "cable":  # passive copper: the cable is the link
            out.append(Medium(None, kid, r["reach_m"], r["price_usd"], 2 * r["power_w"], r["medium"]))
            continue
        cable = fibre.get(r["medium"]) if kid.split("-")[0] in ("sr", "dr", "fr") else None
        cable_usd = rows[cable]["price_usd"] if cable else 0.0
        reach = min(r["reach_m"], rows[cable]["reach_m"]) if cable else r["reach_m"]
        out.append(Medium(kid, cable, reach, 2 * r["price_usd"] + cable_usd, 2 * r["power_w"], r["medium"]))
    return tuple(sorted(out, key=lambda m: (m.link_usd, m.link_w)))


def pick(run_m: float, gbps: float) -> Medium:
    """Cheapest medium whose reach covers `run_m` at link speed `gbps` (longest-reach kind if none does)."""
    ms = media(gbps)
    fit = [m for m in ms if m.reach_m >= run_m]
    return fit[0] if fit else max(ms, key=lambda m: m.reach_m)


def run_length_m(racks: float) -> float:
    """Longest cable run to the centre of a pod occupying `racks` racks."""
    lay = layout()
    if racks <= 1.0:
        return lay["in_rack_m"]
    area = racks * lay["rack_area_m2"] * (1.0 + lay["network_rack_frac"])
    return math.sqrt(area) + lay["slack_m"]


def price_usd(kind: str) -> float:
    return float(_table()[kind]["price_usd"])


def power_w(kind: str) -> float:
    return float(_table()[kind]["power_w"])
