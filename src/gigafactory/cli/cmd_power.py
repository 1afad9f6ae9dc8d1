"""`gigafactory power`: the power budget tree, swing figures and the site verdict."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.tree import Tree

from ..contract import power_in_mw
from ..fleet.power import Interruptions, Item, PowerReport, power
from .common import console, design, fmt, friendly, print_json


def _w(x: float) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.2f} MW"
    if abs(x) >= 1e3:
        return f"{x / 1e3:,.1f} kW"
    return f"{x:,.0f} W"


def _label(it: Item) -> str:
    count = f" x{fmt(it.count)}" if it.count != 1 else ""
    note = f" [dim]({escape(it.note)})[/]" if it.note else ""
    return f"[bold]{it.name}[/]{count}: {_w(it.nameplate_w)} nameplate, {_w(it.draw_w)} at compute peak{note}"


def budget_tree(item: Item, depth: int = 6) -> Tree:
    t = Tree(_label(item))

    def add(node: Tree, it: Item, d: int) -> None:
        for ch in it.children:
            sub = node.add(_label(ch))
            if d > 1:
                add(sub, ch, d - 1)

    add(t, item, depth)
    return t


def render(r: PowerReport) -> None:
    b = r.budget
    console.print(budget_tree(b.tree))
    lim = "ok" if b.rack_ok else "[red]OVER[/]"
    console.print(f"IT {b.it_mw:,.1f} MW nameplate ({b.per_gpu_w:,.0f} W per GPU), facility {b.facility_mw:,.1f} MW "
                  f"at PUE {b.pue:.3f} ({escape(b.pue_source)}); rack {b.rack_kw:,.1f} kW vs limit {b.rack_limit_kw:g} kW: {lim}")
    s, f = r.step_it, r.step_facility
    console.print(f"[bold]swing[/] ({r.breakdown_source}, step {r.step_s:.2f} s): IT peak {s.peak_mw:,.1f} / mean "
                  f"{s.mean_mw:,.1f} / trough {s.trough_mw:,.1f} MW -> swing {s.swing_mw:,.1f} MW at "
                  f"{s.dominant_hz:.3g} Hz ({s.band_frac:.0%} in the 0.1-20 Hz band), ramp up {s.ramp_up_mw_per_s:,.0f} "
                  f"/ down {s.ramp_down_mw_per_s:,.0f} MW/s; facility peak {f.peak_mw:,.1f} MW")
    if r.smoothed_it is not None:
        sm = r.smoothed_it
        console.print(f"  with GPU power smoothing: swing {sm.swing_mw:,.1f} MW, ramp {sm.ramp_up_mw_per_s:,.1f} MW/s, "
                      f"mean {sm.mean_mw:,.1f} MW (+{sm.mean_mw - s.mean_mw:,.1f} MW of burn)")
    d, e = r.day_facility, r.day_events
    console.print(f"[bold]day[/]: {d.energy_mwh:,.0f} MWh facility ({r.daily_it_mwh:,.0f} MWh IT), average {d.mean_mw:,.1f} MW; "
                  f"{e.checkpoints} checkpoint dips of {e.checkpoint_dip_mw:,.1f} MW, {e.failures} failure drops "
                  f"({r.interruptions_per_day:.1f}/day expected: {escape(r.interruptions.source)}), full-load drop "
                  f"{r.failure_drop_it_mw:,.1f} MW IT")
    if r.verdict is not None:
        v = r.verdict
        head = "[green]FITS[/]" if v.fits else "[red]DOES NOT FIT[/]"
        console.print(f"[bold]site {v.site}[/]: {head}; grid {v.grid_mw_used:,.1f} MW + generation "
                      f"{v.generation_mw_used:,.1f} MW ({v.turbines_running} units running)")
        for c in v.checks:
            console.print(f"  {'ok ' if c.ok else '[red]NO[/] '} {c.name}: {escape(c.detail)}")
            if c.fix:
                console.print(f"      [red]fix:[/] {escape(c.fix)}")
        console.print(f"  sizing: {escape(v.sizing.note)}")
    if r.run is not None:
        u = r.run
        console.print(f"[bold]run[/] {u.hours:,.0f} h: {u.facility_mwh:,.0f} MWh (grid {u.grid_mwh:,.0f}, generation "
                      f"{u.generation_mwh:,.0f}), fuel {u.fuel_mmbtu:,.0f} MMBtu, CO2 {u.co2_t:,.0f} t, "
                      f"cost ${u.cost_usd:,.0f}")
    for n in r.notes:
        console.print(f"[dim]note: {escape(n)}[/]")


def register(app: typer.Typer) -> None:
    @app.command("power")
    @friendly
    def power_cmd(
        scenario: str = typer.Option(None, "--scenario", help="scenario YAML (default: built-in, unless --cluster)"),
        cluster: str = typer.Option(None, "--cluster", help="a catalog cluster (no job: default step breakdown)"),
        site: str = typer.Option(None, "--site", help="site to check against (default: the scenario's/cluster's)"),
        set_: list[str] = typer.Option([], "--set", help="override a scenario field: --set cluster.num_gpus=50000"),
        smoothing: bool = typer.Option(None, "--smoothing/--no-smoothing", help="GPU power smoothing (floor + ramp)"),
        interruptions: float = typer.Option(None, "--interruptions", help="failures per day (default: reliability model)"),
        hours: float = typer.Option(None, "--hours", help="run length to price (default: the job's)"),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Power budget tree (GPUs -> servers -> racks -> fabric -> cooling -> site), swings, site verdict."""
        from dataclasses import replace

        from ..resolve import site as resolve_site
        from ..resolve import site_of
        from ..specs import Cluster
        from ..twin import scenario_power

        target = design(scenario, cluster, set_)
        if isinstance(target, Cluster):  # no job: the default step, the cluster's failure model
            st = resolve_site(site) if site else site_of(target)
            ir = Interruptions.of_cluster(target)
            if interruptions is not None:
                ir = replace(ir, per_day=interruptions, source="given")
            r = power(target, st, interruptions=ir, smoothing=bool(smoothing), run_hours=hours)
        else:  # a scenario: exactly the power `simulate` reports
            if site:
                target = design(scenario, None, [*set_, f"site={site}"])
            if smoothing is not None:
                pol = target.policies.model_copy(update={"power_smoothing": smoothing})
                target = target.model_copy(update={"policies": pol})
            r = scenario_power(target, interruptions_per_day=interruptions, run_hours=hours)
        if json_out:
            print_json(power_in_mw(r.to_dict()))
            return
        render(r)
