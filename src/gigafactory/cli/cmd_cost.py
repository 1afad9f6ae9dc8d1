"""`gigafactory cost`: the capex bill of materials, opex per year and $/GPU-hour of a design."""

from __future__ import annotations

import typer
from rich.table import Table

from .common import console, design, friendly, print_json
from .format import print_table


def _m(x: float) -> str:
    return f"${x / 1e6:,.1f}M"


def register(app: typer.Typer) -> None:
    @app.command("cost")
    @friendly
    def cost_cmd(
        scenario: str = typer.Option(None, "--scenario", "-s", help="scenario YAML or built-in name"),
        cluster: str = typer.Option(None, "--cluster", "-c", help="catalog cluster name (no job)"),
        set_: list[str] = typer.Option([], "--set", help="override a scenario field: --set cluster.num_gpus=50000"),
        days: float = typer.Option(None, "--days", help="training-run length in days: $ per run and per token"),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Capex bill of materials, opex per year, annualised cost and rental equivalents."""
        from ..fleet.cost import cost
        from ..resolve import site_of
        from ..specs import Cluster

        target = design(scenario, cluster, set_)
        rep = cost(target, site=site_of(target) if isinstance(target, Cluster) else None, training_days=days)
        if json_out:
            print_json(rep)
            return
        console.print(f"[bold]{rep.cluster}[/]: {rep.num_gpus:,} x {rep.gpu}, {rep.it_mw:,.1f} MW IT, "
                      f"{rep.facility_mw:,.1f} MW facility ({rep.power_basis})")
        rented = rep.mode == "rented"
        t = Table(title="capex bill of materials", title_justify="left")
        for col, just in (("category", "left"), ("item", "left"), ("qty", "right"), ("unit $", "right"),
                          ("total", "right"), ("est.", "center")):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for ln in rep.capex:
            t.add_row(ln.category, ln.item, f"{ln.qty:,.1f}".removesuffix(".0") + f" {ln.unit}",
                      f"{ln.unit_usd:,.0f}", _m(ln.total_usd), "~" if ln.estimate else "")
        t.add_row("", "[bold]total[/]", "", f"{rep.capex_per_gpu_usd:,.0f}/GPU", f"[bold]{_m(rep.capex_total_usd)}[/]", "")
        if rented:
            console.print("rented capacity: no capex, no building")
        else:
            print_table(t)
        o = Table(title="rent per year" if rented else "opex per year", title_justify="left")
        for col in ("kind", "basis", "$/yr"):
            o.add_column(col, justify="right" if col == "$/yr" else "left")
        for ln in rep.opex:
            o.add_row(ln.kind + (" ~" if ln.estimate else ""), ln.basis, _m(ln.usd_per_year))
        o.add_row("[bold]total[/]", "", f"[bold]{_m(rep.opex_per_year_usd)}[/]")
        print_table(o)
        if rented and rep.rental:
            console.print(f"billed at [bold]${rep.usd_per_gpu_hour:.2f}/GPU-h[/] ({rep.rental.term}); rental "
                          + ", ".join(f"{k} ${v:.2f}" for k, v in rep.rental_usd_per_gpu_hour.items()))
        else:
            console.print(f"annualised capex {_m(rep.annualized_capex_usd)}/yr at {rep.finance_rate:.0%}; "
                          f"at cost [bold]${rep.usd_per_gpu_hour:.2f}/GPU-h[/]; rental "
                          + ", ".join(f"{k} ${v:.2f}" for k, v in rep.rental_usd_per_gpu_hour.items()))
        if rep.run:
            r = rep.run
            line = (f"run of {r.training_days:g} days: {_m(r.at_cost_usd)} {'rent' if rented else 'at cost'}, "
                    f"{_m(r.rental_reserved_usd)} reserved rental, {_m(r.rental_on_demand_usd)} on-demand")
            if r.contract_usd:
                line += f"; the {r.contract_hours / 8760:g}-year contract {_m(r.contract_usd)}"
            if r.usd_per_million_tokens:
                line += f"; ${r.usd_per_million_tokens:.2f} per million tokens"
            console.print(line)
        for n in rep.notes:
            console.print(f"[dim]note: {n}[/]")
        console.print("[dim]~ = estimate (see catalog/prices.yaml for sources)[/]")
