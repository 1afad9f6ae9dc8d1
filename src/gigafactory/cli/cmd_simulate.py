"""`gigafactory simulate [SCENARIO]`: the twin's headline for a scenario."""

from __future__ import annotations

import typer

from ..resolve import load_scenario, scenario_to_dict
from .cmd_catalog import parse_sets, scenario_tree
from .common import console, friendly, print_json


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    @friendly
    def simulate_cmd(
        scenario: str = typer.Argument(None, help="scenario YAML (default: built-in Colossus-class scenario)"),
        set_: list[str] = typer.Option([], "--set", help="override a field: --set cluster.num_gpus=50000"),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Run a scenario end to end (today: the resolved scenario; later layers add their figures)."""
        s = load_scenario(scenario, parse_sets(set_))
        if json_out:
            print_json({"scenario": scenario_to_dict(s)})
            return
        c, j = s.cluster, s.job
        console.print(f"[bold]{s.name}[/]: {c.num_gpus:,} x {c.gpu.name} ({c.name}) at {s.site.name}")
        console.print(f"job: {j.model.name}, {j.tokens:.3g} tokens, seq {j.seq_len:,}, "
                      f"batch {j.global_batch:,} sequences, {j.precision}")
        console.print(scenario_tree(scenario_to_dict(s), s.name))
