"""Cost: a capex bill of materials from the design, opex per year, annualised cost and rental equivalents.

Capex lines are counted from the design (servers or rack-scale systems, racks, NVLink switches,
scale-out switches and optics by tier from :func:`gigafactory.network.topology.build_topology`,
storage, power/cooling plant and building per MW of IT load, on-site generation, batteries) and priced
from ``catalog/prices.yaml`` (optics from ``catalog/optics.yaml`` when it prices a kind). Every line
carries its source and an ``estimate`` flag. Annualised capex uses the capital recovery factor::

    CRF(r, n) = r (1 + r)^n / ((1 + r)^n - 1)       (n years of life, rate r)
    $/GPU-hour at cost = (sum_k capex_k * CRF(r, n_k) + opex per year) / (GPUs * 8760)
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from .. import catalog
from ..errors import SpecError
from ..network.topology import build_topology
from ..specs import Cluster, Scenario, Site
from .power import budget

HOURS_PER_YEAR = 8760.0
TERMS = ("reserved", "on-demand")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class CapexLine(_Frozen):
    category: str
    item: str
    qty: float
    unit: str
    unit_usd: float
    total_usd: float
    source: str
    estimate: bool
    note: str = ""


class OpexLine(_Frozen):
    kind: str
    usd_per_year: float
    basis: str
    source: str
    estimate: bool


class RentalCost(_Frozen):
    gpu: str
    gpus: int
    hours: float
    term: str
    usd_per_gpu_hour: float
    total_usd: float
    source: str
    estimate: bool


class RunCost(_Frozen):
    training_days: float
    gpu_hours: float
    at_cost_usd: float
    energy_usd: float | None
    rental_reserved_usd: float
    rental_on_demand_usd: float
    tokens: float | None
    usd_per_token: float | None
    usd_per_million_tokens: float | None


class CostReport(_Frozen):
    cluster: str
    gpu: str
    num_gpus: int
    it_mw: float
    facility_mw: float
    avg_facility_mw: float
    power_basis: str
    capex: list[CapexLine]
    capex_by_category: dict[str, float]
    capex_total_usd: float
    capex_per_gpu_usd: float
    opex: list[OpexLine]
    opex_per_year_usd: float
    annualized_capex_by_category: dict[str, float]
    annualized_capex_usd: float
    finance_rate: float
    usd_per_gpu_hour: float
    rental_usd_per_gpu_hour: dict[str, float]
    run: RunCost | None
    notes: list[str]

    def top_lines(self, n: int = 5) -> list[CapexLine]:
        return sorted(self.capex, key=lambda ln: -ln.total_usd)[:n]


# --------------------------------------------------------------------------- prices


def _prices(table: str) -> tuple[dict[str, Any], dict[str, catalog.Provenance]]:
    return catalog.entry("prices", table), catalog.provenance("prices", table)


def _price(table: str, path: str) -> tuple[float, str, bool]:
    """A price, its source and estimate flag, from prices.yaml (table, dotted path)."""
    data, prov = _prices(table)
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise SpecError(f"prices.{table}", f"no price for {path!r}", list(node) if isinstance(node, dict) else None)
        node = node[part]
    p = prov[path]
    return float(node), p.source, p.estimate


def crf(rate: float, years: float) -> float:
    """Capital recovery factor: the yearly payment that repays 1 over `years` at `rate`."""
    if rate == 0:
        return 1.0 / years
    g = (1 + rate) ** years
    return rate * g / (g - 1)


def rental_cost(gpu_id: str, gpus: int, hours: float, term: str = "reserved") -> RentalCost:
    """What renting `gpus` GPUs of a type for `hours` costs at catalog rental rates."""
    if term not in TERMS:
        raise SpecError("term", f"unknown rental term {term!r}", TERMS)
    table = catalog.entry("prices", "rental")
    if gpu_id not in table or not isinstance(table[gpu_id], dict):
        ids = [k for k, v in table.items() if isinstance(v, dict)]
        raise SpecError("gpu", f"no rental price for {gpu_id!r}", ids)
    rate, src, est = _price("rental", f"{gpu_id}.{term.replace('-', '_')}")
    return RentalCost(gpu=gpu_id, gpus=gpus, hours=hours, term=term, usd_per_gpu_hour=rate,
                      total_usd=rate * gpus * hours, source=src, estimate=est)


def implied_rate(total_usd: float, gpus: int, hours: float) -> float:
    """$/GPU-hour implied by a total rental bill (e.g. $5B for 100k GPUs x 2 years -> $2.85)."""
    return total_usd / (gpus * hours)


# --------------------------------------------------------------------------- power and network


def _power(cluster: Cluster, pue: float) -> tuple[float, float, str]:
    """(IT MW, facility MW, basis) from the bottom-up power budget."""
    b = budget(cluster, site_pue=pue)
    return float(b.it_mw), float(b.facility_mw), "fleet.power budget (IT nameplate incl. network, storage)"


def _network_counts(cluster: Cluster) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Switches by tier, transceivers and cables by kind, counted from the topology as built."""
    t = build_topology(cluster)
    return t.switches_by_name, dict(t.transceivers_by_kind), dict(t.cables_by_kind)


def _optic_price(kind: str) -> tuple[float, str, bool]:
    """Price of a transceiver or cable kind: optics.yaml if it prices it, else prices.yaml optics."""
    if "optics" in catalog.all_kinds():
        table = catalog.table("optics")
        row = table.get(kind)
        if isinstance(row, dict):
            for key in ("price_usd", "usd", "unit_usd"):
                if isinstance(row.get(key), int | float):
                    prov = catalog.provenance("optics", kind).get(key)
                    return float(row[key]), prov.source if prov else "optics.yaml", bool(prov and prov.estimate)
    low = kind.lower()
    m = re.search(r"(\d+)\s*g", low.replace("1.6t", "1600g").replace("3.2t", "3200g"))
    for cable in ("dac", "aec", "aoc"):
        if cable in low:
            return _price("optics", cable)
    if any(w in low for w in ("fiber", "fibre", "mpo", "smf", "mmf", "cable")):
        return _price("optics", "fiber")
    if m and f"transceiver-{m.group(1)}g" in catalog.entry("prices", "optics"):
        return _price("optics", f"transceiver-{m.group(1)}g")
    return _price("optics", "default")


# --------------------------------------------------------------------------- the bill


def _line(cat: str, item: str, qty: float, unit: str, price: tuple[float, str, bool], note: str = "") -> CapexLine:
    usd, src, est = price
    return CapexLine(category=cat, item=item, qty=qty, unit=unit, unit_usd=usd, total_usd=qty * usd,
                     source=src, estimate=est, note=note)


def _compute_lines(c: Cluster) -> list[CapexLine]:
    su, g = c.scale_up, c.gpu
    systems = catalog.entry("prices", "systems")
    lines: list[CapexLine] = []
    if su.id in systems:
        sys_ = systems[su.id]
        ref = sys_["reference_gpu"]
        per_rack = "usd_per_rack" in sys_
        usd, src, est = _price("systems", f"{su.id}.{'usd_per_rack' if per_rack else 'usd_per_server'}")
        delta = 0.0
        note = "NVLink switches and NICs included"
        if ref != g.id:
            ref_price = float(catalog.entry("gpus", ref)["price_usd"])
            delta = (g.price_usd - ref_price) * (su.gpus_per_rack if per_rack else su.gpus_per_server)
            note += f"; {g.id} instead of {ref}: {delta:+,.0f} per unit from GPU prices"
            est = True
        if per_rack:
            qty = c.num_servers / su.servers_per_rack
            lines.append(_line("compute", f"{su.id} rack system ({g.id})", qty, "rack", (usd + delta, src, est), note))
        else:
            lines.append(_line("compute", f"{su.id} server ({g.id})", c.num_servers, "server",
                               (usd + delta, src, est), note))
    else:
        mk, src, est = _price("system_fallback", "non_gpu_markup")
        unit = su.gpus_per_server * g.price_usd * (1 + mk)
        lines.append(_line("compute", f"{su.id} server ({g.id})", c.num_servers, "server", (unit, src, True),
                           f"no system price: {su.gpus_per_server} x GPU price x (1 + {mk:g})"))
    domains = math.ceil(c.num_gpus / su.gpus_per_domain)
    lines.append(_line("scale-up", "NVLink switch ASICs", domains * su.nvswitch_chips, "chip",
                       (0.0, "included in the system price", False), "priced inside the servers/racks"))
    return lines


def _bill(c: Cluster, site: Site | None, it_mw: float, notes: list[str]) -> list[CapexLine]:
    lines = _compute_lines(c)
    lines.append(_line("racks", f"rack infrastructure ({c.cooling})", c.num_racks, "rack",
                       _price("rack_infra", c.cooling)))
    sw, xcvr, cables = _network_counts(c)
    fabric_key = c.fabric.id if c.fabric.id in catalog.entry("prices", "switches") else "default"
    for tier, n in sw.items():
        lines.append(_line("network", f"{c.fabric.id} switch, {tier}", n, "switch",
                           _price("switches", fabric_key)))
    for kind, n in xcvr.items():
        name = kind if "transceiver" in kind.lower() else f"transceiver {kind}"
        lines.append(_line("network", name, n, "transceiver", _optic_price(kind)))
    for kind, n in cables.items():
        lines.append(_line("network", f"cable {kind}", n, "cable", _optic_price(kind)))
    pb_per, s1, e1 = _price("storage", "pb_per_tbps")
    pb = c.storage_tbps * pb_per
    lines.append(_line("storage", f"all-flash storage ({c.storage_tbps:g} TB/s x {pb_per:g} PB per TB/s)", pb,
                       "PB", _price("storage", "usd_per_pb")))
    lines.append(_line("facility", f"power and cooling plant ({c.cooling})", it_mw, "MW IT",
                       _price("facility", f"power_cooling_usd_per_mw.{c.cooling}")))
    btype = (site.building if site else None) or "new-build"
    if btype not in catalog.entry("prices", "facility")["building_usd_per_mw"]:
        notes.append(f"building type {btype!r} has no price: priced as new-build")
        btype = "new-build"
    lines.append(_line("building", f"building ({btype})", it_mw, "MW IT",
                       _price("facility", f"building_usd_per_mw.{btype}")))
    if site:
        for gen in site.generation:
            if gen.count:
                lines.append(_line("generation", f"on-site {gen.kind} ({gen.count} x {gen.mw_each:g} MW)",
                                   gen.mw, "MW", _price("generation", f"usd_per_mw.{gen.kind}")))
        if site.battery:
            lines.append(_line("battery", f"battery storage ({site.battery.mw:g} MW)", site.battery.mwh, "MWh",
                               _price("battery", "usd_per_mwh")))
    return lines


def _opex(c: Cluster, site: Site | None, it_mw: float, avg_mw: float, by_cat: dict[str, float],
          energy_mwh_year: float) -> list[OpexLine]:
    out: list[OpexLine] = []
    grid_mw = site.grid_mw if site else avg_mw
    gen_mw = site.generation_mw if site else 0.0
    if site and grid_mw + gen_mw <= 0:
        grid_mw = avg_mw
    grid_share = min(1.0, grid_mw / avg_mw) if avg_mw > 0 else 1.0
    if site:
        price, src, est = site.electricity_usd_per_mwh, site.source or f"site {site.id}", False
    else:
        price, src, est = _price("defaults", "electricity_usd_per_mwh")
    grid_mwh = energy_mwh_year * grid_share
    out.append(OpexLine(kind="electricity (grid)", usd_per_year=grid_mwh * price,
                        basis=f"{grid_mwh:,.0f} MWh/yr x ${price:g}/MWh", source=src, estimate=est))
    gen_mwh = energy_mwh_year - grid_mwh
    if gen_mwh > 0 and site and site.generation:
        g = max(site.generation, key=lambda u: u.mw)
        fuel = g.heat_rate_btu_per_kwh / 1000.0 * g.fuel_usd_per_mmbtu
        om, s2, _ = _price("generation", "om_usd_per_mwh")
        out.append(OpexLine(kind=f"fuel and O&M ({g.kind})", usd_per_year=gen_mwh * (fuel + om),
                            basis=f"{gen_mwh:,.0f} MWh/yr x (${fuel:.1f} fuel + ${om:g} O&M)/MWh",
                            source=f"site {site.id} heat rate and fuel price; {s2}", estimate=True))
    it_capex = sum(by_cat.get(k, 0.0) for k in ("compute", "racks", "network", "storage"))
    fac_capex = sum(by_cat.get(k, 0.0) for k in ("facility", "building", "generation"))
    fi, si, ei = _price("opex", "maintenance_frac_per_year.it")
    ff, sf, ef = _price("opex", "maintenance_frac_per_year.facility")
    out.append(OpexLine(kind="maintenance (IT)", usd_per_year=fi * it_capex, basis=f"{fi:.0%} of IT capex",
                        source=si, estimate=ei))
    out.append(OpexLine(kind="maintenance (facility)", usd_per_year=ff * fac_capex,
                        basis=f"{ff:.0%} of facility capex", source=sf, estimate=ef))
    if site and site.battery:
        bo, sb, eb = _price("battery", "om_usd_per_mwh_year")
        out.append(OpexLine(kind="battery O&M", usd_per_year=bo * site.battery.mwh,
                            basis=f"{site.battery.mwh:g} MWh x ${bo:,.0f}/MWh-yr", source=sb, estimate=eb))
    fte, s3, e3 = _price("opex", "staff_fte_per_mw")
    pay, s4, e4 = _price("opex", "staff_usd_per_fte")
    out.append(OpexLine(kind="staff", usd_per_year=fte * it_mw * pay,
                        basis=f"{fte * it_mw:,.0f} FTE x ${pay:,.0f}", source=f"{s3}; {s4}", estimate=e3 or e4))
    return out


def cost(
    scenario_or_cluster: Scenario | Cluster,
    *,
    site: Site | None = None,
    training_days: float | None = None,
    tokens: float | None = None,
    energy_mwh: float | None = None,
) -> CostReport:
    """Capex bill of materials, opex, annualised cost, $/GPU-hour and (given a run) $ per run and token.

    ``energy_mwh`` is the facility energy of the training run (from the twin's power model); without
    it the run's energy is the average facility draw times its duration. A bare Cluster is costed
    at `site` (the surfaces resolve the cluster's own site), else without one.
    """
    if isinstance(scenario_or_cluster, Scenario):
        c, site = scenario_or_cluster.cluster, scenario_or_cluster.site
        if tokens is None and training_days is not None:
            tokens = scenario_or_cluster.job.tokens
    else:
        c = scenario_or_cluster
    for name, v in (("training_days", training_days), ("tokens", tokens), ("energy_mwh", energy_mwh)):
        if v is not None and v <= 0:
            raise SpecError(name, f"must be positive, got {v:g}")
    notes: list[str] = []
    if site:
        pue = site.pue
    else:
        pue = _price("defaults", f"pue.{c.cooling}")[0]
        notes.append(f"no site: PUE {pue:g} for {c.cooling} cooling and the default electricity price")
    it_mw, fac_mw, basis = _power(c, pue)
    if basis.startswith("nameplate"):
        notes.append(f"power: {basis}")
    load, _, _ = _price("opex", "load_factor")
    avg_mw = fac_mw * load
    lines = _bill(c, site, it_mw, notes)
    by_cat: dict[str, float] = {}
    for ln in lines:
        by_cat[ln.category] = by_cat.get(ln.category, 0.0) + ln.total_usd
    opex = _opex(c, site, it_mw, avg_mw, by_cat, avg_mw * HOURS_PER_YEAR)
    rate = _price("finance", "rate")[0]
    life = catalog.entry("prices", "finance")["life_years"]
    ann = {k: v * crf(rate, float(life.get(k, life["compute"]))) for k, v in by_cat.items()}
    capex_total = sum(by_cat.values())
    ann_total = sum(ann.values())
    opex_total = sum(o.usd_per_year for o in opex)
    gpu_hours_year = c.num_gpus * HOURS_PER_YEAR
    per_gpu_h = (ann_total + opex_total) / gpu_hours_year
    rental = {}
    try:
        rental = {t: rental_cost(c.gpu.id, c.num_gpus, 1.0, t).usd_per_gpu_hour for t in TERMS}
    except SpecError:
        notes.append(f"no rental price for {c.gpu.id}")
    run = None
    if training_days is not None:
        hours = training_days * 24.0
        gh = c.num_gpus * hours
        energy_usd = None
        at_cost = per_gpu_h * gh
        if energy_mwh is not None:
            energy_kinds = [o for o in opex if o.kind.startswith(("electricity", "fuel"))]
            year_energy = sum(o.usd_per_year for o in energy_kinds)
            usd_per_mwh = year_energy / (avg_mw * HOURS_PER_YEAR) if avg_mw > 0 else 0.0
            energy_usd = energy_mwh * usd_per_mwh
            at_cost = (ann_total + opex_total - year_energy) / gpu_hours_year * gh + energy_usd
        run = RunCost(
            training_days=training_days, gpu_hours=gh, at_cost_usd=at_cost, energy_usd=energy_usd,
            rental_reserved_usd=rental.get("reserved", math.nan) * gh,
            rental_on_demand_usd=rental.get("on-demand", math.nan) * gh,
            tokens=tokens, usd_per_token=at_cost / tokens if tokens else None,
            usd_per_million_tokens=at_cost / tokens * 1e6 if tokens else None,
        )
    return CostReport(
        cluster=c.id, gpu=c.gpu.id, num_gpus=c.num_gpus, it_mw=it_mw, facility_mw=fac_mw,
        avg_facility_mw=avg_mw, power_basis=basis, capex=lines, capex_by_category=by_cat,
        capex_total_usd=capex_total, capex_per_gpu_usd=capex_total / c.num_gpus, opex=opex,
        opex_per_year_usd=opex_total, annualized_capex_by_category=ann, annualized_capex_usd=ann_total,
        finance_rate=rate, usd_per_gpu_hour=per_gpu_h, rental_usd_per_gpu_hour=rental, run=run, notes=notes,
    )
