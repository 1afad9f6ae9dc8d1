"""`gigafactory build`: the bring-up schedule of a design (phases, racks online, first training day)."""

from __future__ import annotations

import typer
from rich.table import Table

from .common import console, design, friendly, print_json
from .format import print_table


def register(app: typer.Typer) -> None:
    @app.command("build")
    @friendly
    def build_cmd(
        scenario: str = typer.Option(None, "--scenario", "-s", help="scenario YAML or built-in name"),
        cluster: str = typer.Option(None, "--cluster", "-c", help="catalog cluster name (no job)"),
        profile: str = typer.Option(None, "--profile", "-p", help="build profile (colossus-fast, conventional)"),
        set_: list[str] = typer.Option([], "--set", help="override a scenario field"),
        racks_per_day: float = typer.Option(None, "--racks-per-day", help="fix the rack delivery rate"),
        trials: int = typer.Option(2000, "--trials", help="Monte Carlo trials"),
        seed: int = typer.Option(0, "--seed", help="random seed"),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Monte Carlo build and bring-up: phase schedule, racks online, first training day p50/p90."""
        from ..fleet.build import bringup
        from ..fleet.buildings import schedule
        from ..specs import Scenario

        d = design(scenario, cluster, set_)
        sched = None
        if isinstance(d, Scenario) and profile is None and racks_per_day is None and trials == 2000:
            sched = schedule(d, seed=seed)  # rented: ready at the contract date; several buildings: one each
            b = sched.bringup
        else:
            b = bringup(d, profile, seed=seed, trials=trials, racks_per_day=racks_per_day)
        if json_out:
            out = b.summary()
            if sched is not None:
                out["capacity"] = sched.mode
                out["buildings"] = [x.__dict__ for x in sched.buildings]
                out["layout"] = sched.layout.to_dict() if sched.layout else None
            print_json(out)
            return
        if sched is not None and sched.mode == "rented":
            console.print(f"[bold]{b.cluster}[/]: {b.num_gpus:,} GPUs rented: no build; {b.notes[0]}")
            return
        console.print(f"[bold]{b.cluster}[/]: {b.num_gpus:,} GPUs in {b.racks:,} racks, profile "
                      f"[bold]{b.profile}[/] ({b.trials:,} trials, seed {b.seed})")
        t = Table(title="phases (days from start)", title_justify="left")
        for col in ("phase", "after", "start p50", "end p50", "end p90"):
            t.add_column(col, justify="left" if col in ("phase", "after") else "right")
        per_building = sched is not None and bool(sched.buildings)
        for p in b.phases:
            if per_building and not p.name.startswith("building 1:"):
                continue  # one building's phases; the per-building table follows
            t.add_row(p.name, ", ".join(p.after) or "-", f"{p.start_p50:,.0f}", f"{p.end_p50:,.0f}",
                      f"{p.end_p90:,.0f}")
        for name, d in (("first rack", b.first_rack_day), ("first training", b.first_training_day),
                        ("full size", b.full_size_day)):
            t.add_row(f"[bold]{name}[/]", "", "", f"{d['p50']:,.0f}", f"{d['p90']:,.0f}")
        print_table(t)
        if per_building:
            bt = Table(title="one build schedule per building (days from start, p50)", title_justify="left")
            for col in ("building", "starts", "racks", "GPUs", "first rack", "full", "full p90"):
                bt.add_column(col, justify="right")
            for x in sched.buildings:
                bt.add_row(str(x.building), f"{x.start_day:,.0f}", f"{x.racks:,}", f"{x.gpus:,}",
                           f"{x.first_rack_day['p50']:,.0f}", f"{x.full_size_day['p50']:,.0f}",
                           f"{x.full_size_day['p90']:,.0f}")
            print_table(bt)
        console.print(f"training starts {b.training_after_first_rack['p50']:.1f} days after the first rack (p50); "
                      f"full size on day {b.full_size_day['p50']:,.0f} ({b.full_size_day['p50'] / 365.25:.2f} years)")
        marks = [b.first_rack_day["p50"] + f * (b.full_size_day["p50"] - b.first_rack_day["p50"])
                 for f in (0.25, 0.5, 0.75, 1.0)]
        console.print("racks online (p50): " + ", ".join(
            f"day {d:,.0f}: {int(b.racks_at(d)):,}" for d in marks))
        for n in b.notes:
            console.print(f"[dim]note: {n}[/]")
