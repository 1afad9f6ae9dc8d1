"""Can a site supply a training job? Sustained load, swings, full-load drops, sizing, fuel and cost.

Dispatch: the grid carries the load up to its import limit, on-site generation the rest. Firm
supply is grid plus dispatchable generation; batteries serve swings and ride-through, never
sustained load. Three checks, all at the facility level (IT x losses + cooling at its mean):

* sustained: the step peak <= grid + generation (firm supply);
* swings: the per-step swing must be absorbed by the battery (MW >= the larger excursion from the
  mean, MWh >= the energy above the mean in one step) or else stay inside what the grid tolerates
  (``grid_dynamic_range_frac`` of import) plus what running turbines can follow in half a period;
* failure drop: when the job fails, load falls from the step peak to idle at once and comes back
  at restart. The grid tolerates a step of ``grid_dynamic_range_frac`` x import; the rest must go
  into the battery while the grid re-dispatches (``grid_response_min``) and turbines ramp
  (energy = dP^2 / 2R for a source ramping at R).

Sizing advice is the smallest battery (MW, MWh) and turbine fleet (N + spares) that pass. Every
failed check carries its reason and the smallest fix ("needs 2,140 MW firm, has 1,150: add 990 MW
of generation or grid").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..specs import GenerationUnit, Site
from .load import consts


@dataclass(frozen=True)
class SiteLoad:
    """A job's load as the site sees it (facility MW)."""

    peak_mw: float
    mean_mw: float
    trough_mw: float
    idle_mw: float  # job down (after a failure)
    period_s: float  # step period
    cycle_mwh: float  # energy above the mean in one step
    dominant_hz: float
    nameplate_mw: float | None = None  # provisioned facility power (sizing of generation)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # the smallest change that passes the check ("" when it passes)

    @property
    def reason(self) -> str:
        """One line for a failed check: what is short and the smallest fix."""
        return f"{self.name}: {self.fix}" if self.fix else f"{self.name}: {self.detail}"


@dataclass(frozen=True)
class Sizing:
    battery_mw: float
    battery_mwh: float
    turbines: int
    turbine_mw_each: float
    turbine_kind: str
    note: str


@dataclass(frozen=True)
class SiteVerdict:
    site: str
    fits: bool
    checks: tuple[Check, ...]
    sizing: Sizing
    grid_mw_used: float
    generation_mw_used: float
    turbines_running: int
    reasons: tuple[str, ...]


def _unit(site: Site) -> GenerationUnit:
    if site.generation:
        return site.generation[0]
    d = consts("default-turbine")
    return GenerationUnit(**{k: d[k] for k in GenerationUnit.model_fields if k in d}, count=0)


def _dispatch(site: Site, mw: float) -> tuple[float, float, int]:
    """Grid first, then generation: (grid MW, generation MW, units running)."""
    grid = min(mw, site.grid_mw)
    gen = max(0.0, mw - grid)
    unit = _unit(site)
    n = min(math.ceil(gen / unit.mw_each - 1e-9), sum(g.count for g in site.generation)) if gen > 0 else 0
    return grid, gen, int(n)


def drop_energy_mwh(site: Site, drop_mw: float, mean_mw: float) -> tuple[float, float]:
    """(battery MW, MWh) needed to ride a full-load drop of `drop_mw` (and the matching restart)."""
    sup = consts("supply")
    tol = float(sup["grid_dynamic_range_frac"]) * site.grid_mw
    need_mw = max(0.0, drop_mw - tol)
    grid, gen, n_run = _dispatch(site, mean_mw)
    unit = _unit(site)
    gen_drop = min(gen, need_mw)
    grid_drop = need_mw - gen_drop
    ramp = n_run * unit.ramp_mw_per_min / 60.0  # MW/s
    e_gen = gen_drop**2 / (2 * ramp) if ramp > 0 else 0.0  # MJ -> MW*s
    e_grid = grid_drop * float(sup["grid_response_min"]) * 60.0 / 2.0
    return need_mw, (e_gen + e_grid) / 3600.0


def firm_shortfall(need_mw: float, site: Site) -> str:
    """The reason and smallest fix when `need_mw` exceeds the site's firm supply ("" when it fits)."""
    firm = site.firm_supply_mw
    if need_mw <= firm:
        return ""
    return (f"needs {need_mw:,.0f} MW firm, has {firm:,.0f} (grid {site.grid_mw:,.0f} + generation "
            f"{site.generation_mw:,.0f}; batteries do not count): add {need_mw - firm:,.0f} MW of generation or grid")


def verdict(site: Site, load: SiteLoad) -> SiteVerdict:
    """Does `load` fit on `site`? Checks, reasons with the smallest fix, and the smallest battery and
    turbines that make it fit."""
    sup = consts("supply")
    tol = float(sup["grid_dynamic_range_frac"]) * site.grid_mw
    soc = float(sup["battery_soc_window"])
    unit = _unit(site)
    firm = site.firm_supply_mw
    grid, gen, n_run = _dispatch(site, load.mean_mw)
    bat = site.battery
    checks: list[Check] = []
    # 1. sustained: firm supply only
    short = load.peak_mw - firm
    checks.append(Check(
        "sustained load", short <= 0,
        f"peak {load.peak_mw:.1f} MW vs firm supply {firm:.1f} MW (grid {site.grid_mw:g} + generation "
        f"{site.generation_mw:g})" + (f": short by {short:.1f} MW" if short > 0 else "")
        + (f"; provisioned (nameplate) {load.nameplate_mw:.1f} MW" if load.nameplate_mw else ""),
        firm_shortfall(load.peak_mw, site),
    ))
    # 2. swings
    excursion = max(load.peak_mw - load.mean_mw, load.mean_mw - load.trough_mw)
    swing = load.peak_mw - load.trough_mw
    follow = n_run * unit.ramp_mw_per_min / 60.0 * load.period_s / 2.0
    absorbed = min(2 * bat.mw, swing) if bat else 0.0
    residual = swing - absorbed
    allowed = tol + follow
    band = f"{load.dominant_hz:.2g} Hz" + (
        " (inside the utility critical band)"
        if float(sup["critical_band_lo_hz"]) <= load.dominant_hz <= float(sup["critical_band_hi_hz"]) else ""
    )
    usable = bat.mwh * soc if bat else 0.0
    energy_ok = bat is None or usable >= load.cycle_mwh
    swing_ok = residual <= allowed and energy_ok
    swing_fix = ""
    if not swing_ok:
        # the battery takes up to 2 x its MW of swing (charge above the mean, discharge below)
        swing_bat_mw = max((swing - allowed) / 2.0, bat.mw if bat else 0.0)
        swing_bat_mwh = max(load.cycle_mwh / soc, bat.mwh if bat else 0.0)
        have = f"{bat.mw:g} MW / {bat.mwh:g} MWh" if bat else "none"
        swing_fix = (f"swing {swing:,.1f} MW, the grid and running turbines absorb {allowed:,.1f}: needs a battery of "
                     f"{swing_bat_mw:,.1f} MW / {swing_bat_mwh:,.2f} MWh, has {have}")
    checks.append(Check(
        "swings", swing_ok,
        f"swing {swing:.1f} MW at {band}; battery absorbs {absorbed:.1f} MW, the grid tolerates {tol:.1f} MW and "
        f"running turbines follow {follow:.2f} MW per half-period; residual {residual:.1f} MW",
        swing_fix,
    ))
    # 3. failure drop
    drop = load.peak_mw - load.idle_mw
    need_mw, need_mwh = drop_energy_mwh(site, drop, load.mean_mw)
    have_mw, have_mwh = (bat.mw, usable) if bat else (0.0, 0.0)
    drop_ok = need_mw <= have_mw and need_mwh <= have_mwh
    drop_fix = "" if drop_ok else (
        f"a failure drops {drop:,.1f} MW, the grid tolerates {tol:,.1f}: add "
        f"{max(need_mw - have_mw, 0):,.1f} MW / {max(need_mwh - have_mwh, 0) / soc:,.2f} MWh of battery")
    checks.append(Check(
        "failure drop", drop_ok,
        f"a failure drops {drop:.1f} MW at once (and restores it at restart); beyond the grid's {tol:.1f} MW "
        f"tolerance the battery must take {need_mw:.1f} MW / {need_mwh:.2f} MWh"
        + (f" (has {have_mw:g} MW / {have_mwh:.0f} MWh usable)" if bat else " (no battery: the excess is a load "
           "rejection the turbines/grid see at once)"),
        drop_fix,
    ))
    # sizing
    bat_mw = max(need_mw, excursion if swing > allowed else 0.0)
    bat_mwh = max(need_mwh, load.cycle_mwh if swing > allowed else 0.0) / soc
    spares = int(sup["turbine_spares"])
    gap = max(0.0, max(load.peak_mw, load.nameplate_mw or 0.0) - site.grid_mw)
    turbines = math.ceil(gap / unit.mw_each - 1e-9) + spares if gap > 0 else 0
    have_units = sum(g.count for g in site.generation)
    tur = (f"turbines {turbines} x {unit.mw_each:g} MW (N+{spares}) for the {gap:.1f} MW of provisioned "
           f"load above the {site.grid_mw:g} MW grid" if turbines else f"no turbines needed: the load fits the {site.grid_mw:g} MW grid")
    note = (f"smallest battery {bat_mw:.1f} MW / {bat_mwh:.2f} MWh (usable window {soc:.0%}); {tur}; "
            f"site has {have_units} turbines" + (f", {bat.mw:g} MW / {bat.mwh:g} MWh battery" if bat else ", no battery"))
    sizing = Sizing(round(bat_mw, 3), round(bat_mwh, 3), turbines, unit.mw_each, unit.kind, note)
    reasons = tuple(c.reason for c in checks if not c.ok)
    return SiteVerdict(site.id, all(c.ok for c in checks), tuple(checks), sizing, grid, gen, n_run, reasons)


@dataclass(frozen=True)
class RunEnergy:
    hours: float
    facility_mwh: float
    grid_mwh: float
    generation_mwh: float
    fuel_mmbtu: float
    co2_t: float
    cost_usd: float
    unserved_mwh: float


def run_energy(site: Site, mean_mw: float, hours: float) -> RunEnergy:
    """Energy, fuel, CO2 and cost of running at `mean_mw` (facility) for `hours` on `site`."""
    if site.firm_supply_mw <= 0:  # supply not modelled: all from the grid at the site's price
        grid_mw, gens, unserved = mean_mw, [], 0.0
    else:
        grid_mw = min(mean_mw, site.grid_mw)
        rest = mean_mw - grid_mw
        gens = []
        for g in site.generation:
            take = min(rest, g.mw)
            gens.append((g, take))
            rest -= take
        unserved = max(0.0, rest)
    grid_mwh = grid_mw * hours
    fuel = sum(take * hours * 1e3 * g.heat_rate_btu_per_kwh / 1e6 for g, take in gens)
    co2 = sum(take * hours * 1e3 * g.heat_rate_btu_per_kwh / 1e6 * g.co2_kg_per_mmbtu / 1e3 for g, take in gens)
    co2 += grid_mwh * float(consts("grid-carbon")["t_co2_per_mwh"])
    cost = grid_mwh * site.electricity_usd_per_mwh + sum(
        take * hours * 1e3 * g.heat_rate_btu_per_kwh / 1e6 * g.fuel_usd_per_mmbtu for g, take in gens
    )
    return RunEnergy(hours, mean_mw * hours, grid_mwh, sum(t for _, t in gens) * hours, fuel, co2, cost,
                     unserved * hours)
