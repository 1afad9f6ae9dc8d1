"""`gigafactory simulate [SCENARIO]` and `gigafactory claims`: the twin end to end."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from ..contract import simulate_out
from .common import console, err_console, fmt, friendly, parse_sets, print_json

HEADLINE_ROWS: list[tuple[str, str, str]] = [
    # (key, label, unit)
    ("days_to_model_p50", "days from ground-breaking to trained model, p50", "days"),
    ("days_to_model_p90", "days from ground-breaking to trained model, p90", "days"),
    ("first_training_day_p50", "first training day (p50)", "day"),
    ("full_size_day_p50", "cluster at full size (p50)", "day"),
    ("training_days_p50", "of which training, p50", "days"),
    ("training_days_p90", "of which training, p90", "days"),
    ("failure_free_training_days", "failure-free training time at full size", "days"),
    ("plan", "chosen plan (full size)", ""),
    ("gpus_used", "GPUs the plan uses (the rest idle: batch or divisibility limits)", ""),
    ("step_s", "step time", "s"),
    ("mfu", "MFU", ""),
    ("model_tflops_per_gpu", "model TFLOP/s per GPU", ""),
    ("goodput_p50", "goodput (useful / wall), p50", ""),
    ("interruptions_per_day", "interruptions per day", ""),
    ("it_mw", "critical IT load (nameplate)", "MW"),
    ("facility_mw", "facility load (nameplate x PUE)", "MW"),
    ("peak_mw", "peak facility draw while training", "MW"),
    ("avg_mw", "average facility draw", "MW"),
    ("swing_mw", "per-step IT swing", "MW"),
    ("swing_hz", "swing frequency", "Hz"),
    ("site_fits", "site supply verdict (fits)", ""),
    ("site_verdict", "site verdict: reason and smallest fix", ""),
    ("buildings_used", "buildings the cluster spans (their check is in the site verdict)", ""),
    ("energy_mwh", "energy of the training run", "MWh"),
    ("capex_usd", "capex", "$"),
    ("capex_per_gpu_usd", "capex per GPU, all in", "$"),
    ("opex_usd_per_year", "opex", "$/year"),
    ("usd_contract", "rental contract, billed in full", "$"),
    ("usd_per_run", "cost of the run at cost (capex share + opex)", "$"),
    ("usd_per_run_rented", "same run rented (reserved rates)", "$"),
    ("usd_per_million_tokens", "cost per million trained tokens", "$"),
]


def money(x: float) -> str:
    """$6.19B, $284M, $8.70."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"${x / scale:,.3g}{suffix}"
    return f"${x:,.2f}"


#: labels that change when the capacity is rented (days count from signature, the run is rent)
RENTED_LABELS = {
    "days_to_model_p50": "days from contract signature to trained model, p50",
    "days_to_model_p90": "days from contract signature to trained model, p90",
    "first_training_day_p50": "first training day (capacity ready)",
    "full_size_day_p50": "cluster at full size",
    "usd_per_run": "rent of the run's GPU-hours",
}


def headline_table(head: dict, title: str) -> Table:
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("figure")
    t.add_column("value", justify="right", style="bold")
    t.add_column("unit")
    rented = head.get("capacity") == "rented"
    for key, label, unit in HEADLINE_ROWS:
        v = head.get(key)
        if v is None or (rented and key == "usd_per_run_rented"):
            continue
        if rented:
            label = RENTED_LABELS.get(key, label)
        if key in ("mfu", "goodput_p50"):
            text = f"{v:.1%}"
        elif isinstance(v, bool):
            text = "yes" if v else "[red]NO[/]"
        elif unit.startswith("$") and isinstance(v, int | float):
            text = money(float(v))
        elif isinstance(v, int | float):
            text = fmt(float(v))
        else:
            text = str(v)
        t.add_row(label, text, unit)
    return t


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    @friendly
    def simulate_cmd(
        scenario: str = typer.Argument(None, help="scenario YAML or built-in name (gigafactory scenario list); "
                                       "default colossus-gpt4"),
        set_: list[str] = typer.Option([], "--set", help="override a field: --set cluster.num_gpus=50000"),
        seed: int = typer.Option(None, "--seed", help="seed for every Monte Carlo (default: the scenario's)"),
        report: Path = typer.Option(None, "--report", help="write a self-contained HTML report here"),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Run a scenario end to end: plan, reliability, power, bring-up, cost."""
        from ..resolve import load_scenario
        from ..twin import simulate

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
            sched = res.schedule
            print_json(simulate_out(
                res, time.perf_counter() - t0, str(report) if report else None,
                buildings=sched.layout.to_dict() if sched is not None and sched.layout else None,
                build_per_building=[b.__dict__ for b in sched.buildings] if sched is not None else []))
            return
        s = res.scenario
        where = (f"rented from {s.capacity.provider or 'a cloud'} ({s.capacity.term})"
                 if s.capacity.mode == "rented" else f"at {s.site.name}")
        console.print(f"[bold]{s.name}[/]: {s.cluster.num_gpus:,} x {s.cluster.gpu.name} ({s.cluster.name}) {where}")
        console.print(f"job: {s.job.model.name}, {s.job.tokens:.3g} tokens, seq {s.job.seq_len:,}, "
                      f"batch {s.job.global_batch:,} sequences, {s.job.precision}")
        console.print(headline_table(head, "headline"))
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
        console.print(t)
