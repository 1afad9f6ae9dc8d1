"""`gigafactory simulate [SCENARIO]` and `gigafactory claims`: the twin end to end."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from ..contract import simulate_out
from ..units import headline_rows, number
from .common import console, err_console, friendly, parse_sets, print_json, writable_path
from .format import emit_cells, print_table


def print_headline(head: dict, title: str) -> None:
    """The headline: a rich table on a terminal, aligned text when piped (nothing wrapped or cut)."""
    rows = headline_rows(head)
    emit_cells(["figure", "value", "unit"], [list(r) for r in rows], [False, True, False], title)


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    @friendly
    def simulate_cmd(
        scenario: str = typer.Argument(None, help="scenario YAML (default: built-in Colossus-class scenario)"),
        set_: list[str] = typer.Option([], "--set", help="override a field: --set cluster.num_gpus=50000"),
        seed: int = typer.Option(None, "--seed", help="seed for every Monte Carlo (default: the scenario's)"),
        report: Path = typer.Option(None, "--report", help="write a self-contained HTML report here"),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Run a scenario end to end: plan, reliability, power, bring-up, cost."""
        from ..resolve import load_scenario
        from ..twin import simulate

        writable_path(report, "--report")
        t0 = time.perf_counter()
        scen = load_scenario(scenario, parse_sets(set_))
        if json_out:
            res = simulate(scen, seed=seed)
        else:
            with console.status("simulating ...") as status:
                res = simulate(scen, seed=seed, progress=lambda stage: status.update(f"simulating: {stage} ..."))
        if report is not None:
            from ..report import from_twin, write_report

            write_report(from_twin(res), report)
        head = res.headline()
        if json_out:
            print_json(simulate_out(res, time.perf_counter() - t0, str(report) if report else None))
            return
        s = res.scenario
        where = (f"rented from {s.capacity.provider or 'a cloud'} ({s.capacity.term})"
                 if s.capacity.mode == "rented" else f"at {s.site.name}")
        console.print(f"[bold]{s.name}[/]: {s.cluster.num_gpus:,} x {s.cluster.gpu.name} ({s.cluster.name}) {where}",
                      soft_wrap=True)
        console.print(f"job: {s.job.model.name}, {number(s.job.tokens, 'tokens')}, seq {s.job.seq_len:,}, "
                      f"batch {s.job.global_batch:,} sequences, {s.job.precision}", soft_wrap=True)
        print_headline(head, "headline")
        if report is not None:
            err_console.print(f"report written to {report}")

    @app.command("claims")
    @friendly
    def claims_cmd(
        which: list[str] = typer.Argument(None, help="claim letters a-f (all if omitted)"),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        """Check the public claims about these clusters with the twin."""
        from ..claims import evaluate_claims

        if json_out:
            print_json([c.to_dict() for c in evaluate_claims(which or None)])
            return
        with console.status("evaluating claims ..."):
            claims = evaluate_claims(which or None)
        t = Table(title="public claims, checked with the twin", title_justify="left", show_lines=True)
        for col in ("", "claim", "twin's figure", "verdict", "assumptions"):
            t.add_column(col, overflow="fold")
        for c in claims:
            color = "green" if c.verdict == "holds" else "red" if c.verdict == "does not hold" else "yellow"
            t.add_row(c.id, c.claim, c.figure, f"[{color}]{c.verdict}[/]", c.assumptions)
        print_table(t)
