"""`gigafactory network`: the scale-out fabric as built, and ECMP vs adaptive routing on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..contract import power_in_mw
from ..specs import Scenario
from .common import design, fmt, friendly, print_json
from .format import print_table


def _cluster(name: str | None, scenario: str | None, sets: list[str]):
    d = design(scenario, name, sets)
    return d.cluster if isinstance(d, Scenario) else d


def _design(arg: str, sets: list[str]):
    """--compare takes a cluster name or a scenario file."""
    if Path(arg).is_file() or arg.endswith((".yaml", ".yml")):
        return _cluster(None, arg, sets)
    return _cluster(arg, None, sets)


def _rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    c = s["contention"]
    rows = [
        ("GPUs / NIC ports", f"{fmt(s['gpus'])} / {fmt(s['endpoints'])}"),
        ("tiers, radix, link", f"{s['tiers']}, {s['radix']}-port, {fmt(s['link_gbps'])} Gb/s"),
        ("planes x rails, rail-optimised", f"{s['planes']} x {s['rails']}, {s['rail_optimized']}"),
        ("switches by tier", ", ".join(f"{k} {fmt(v)}" for k, v in s["switches_by_tier"].items())),
        ("total switches", fmt(s["total_switches"])),
        ("links by tier", ", ".join(f"{k} {fmt(v)}" for k, v in s["links_by_tier"].items())),
        ("longest run by tier (m)", ", ".join(fmt(x) for x in s["run_m_by_tier"])),
        ("medium by tier", ", ".join(s["medium_by_tier"])),
        ("transceivers (ends)", ", ".join(f"{k} {fmt(v)}" for k, v in s["transceivers_by_kind"].items()) or "-"),
        ("cables", ", ".join(f"{k} {fmt(v)}" for k, v in s["cables_by_kind"].items()) or "-"),
        ("oversubscription by tier", ", ".join(f"{o:g}:1" for o in s["oversubscription_by_tier"]) or "-"),
        ("bisection (TB/s per dir)", fmt(s["bisection_tbps"])),
        ("max hops, latency", f"{s['max_hops']} switches, {s['latency_us']:.2f} us"),
        ("per-GPU GB/s by level", ", ".join(fmt(x) for x in s["tier_bw_gbs"])),
        ("switch / optics power (kW)", f"{fmt(s['switch_power_kw'])} / {fmt(s['optics_power_kw'])}"),
        ("optics price ($M)", fmt(s["optics_price_musd"])),
    ]
    for pat, by in c.items():
        rows.append((f"{pat}: ECMP / adaptive",
                     f"{by['ecmp']['throughput']:.0%} / {by['adaptive']['throughput']:.0%} throughput, "
                     f"{by['ecmp']['completion']:.0%} / {by['adaptive']['completion']:.0%} completion"))
    for col in s.get("collectives", []):
        rows.append((f"{col['op']} {fmt(col['bytes'] / 1e9)} GB, n={fmt(col['ranks'])} stride {col['stride']}",
                     f"{col['seconds'] * 1e3:.2f} ms, busbw {fmt(col['busbw_gbs'])} GB/s ({col['algorithm']})"))
    return rows


def register(app: typer.Typer) -> None:
    @app.command("network")
    @friendly
    def network_cmd(
        cluster: str = typer.Option(None, "--cluster", help="catalog cluster name (e.g. colossus)"),
        scenario: str = typer.Option(None, "--scenario", help="scenario YAML (default: built-in scenario)"),
        compare: str = typer.Option(None, "--compare", help="a second cluster name or scenario file, side by side"),
        set_: list[str] = typer.Option([], "--set", help="override a cluster field: --set cluster.oversubscription=2"),
        planes: int = typer.Option(1, "--planes", help="independent network planes the rails are split among"),
        seed: int = typer.Option(0, "--seed", help="seed of the ECMP hash draws"),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """The fabric as built: switches, links and optics per tier, bisection, latency, ECMP vs adaptive."""
        from ..network import network_report

        designs = [_cluster(cluster, scenario, set_)]
        if compare:
            designs.append(_design(compare, set_))
        reports = [network_report(c, seed=seed, planes=planes).summary() for c in designs]
        if json_out:
            print_json(power_in_mw(reports[0] if len(reports) == 1 else reports))
            return
        t = Table(title="scale-out fabric as built", title_justify="left")
        t.add_column("")
        for r in reports:
            t.add_column(r["name"], overflow="fold")
        for i, (label, _) in enumerate(_rows(reports[0])):
            t.add_row(label, *[_rows(r)[i][1] for r in reports])
        print_table(t)
