"""`gigafactory goodput`: failures, checkpoints and goodput of a months-long run (Monte Carlo)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from ..resolve import load_scenario, spec, validate_spec
from ..specs import Policies
from .common import console, fmt, friendly, print_json
from .format import print_table

LOSS_LABELS = {"rework": "rework (lost since last checkpoint)", "detection": "failure detection",
               "restart": "restart + checkpoint load", "checkpoint": "checkpoint stalls",
               "spares_wait": "spare swap / repair wait"}


def register(app: typer.Typer) -> None:
    @app.command("goodput")
    @friendly
    def goodput_cmd(
        cluster: str = typer.Option(None, "--cluster", help="cluster name (default: the built-in scenario's)"),
        model: str = typer.Option(None, "--model", help="model name (default: the built-in scenario's)"),
        days: float = typer.Option(90.0, "--days", help="failure-free compute the run needs, days"),
        gpus: int = typer.Option(None, "--gpus", help="GPUs in the job (default: the whole cluster)"),
        profile: str = typer.Option(None, "--profile", help="reliability profile (llama3-405b, kokolis-rsc1, ...)"),
        interval_min: float = typer.Option(None, "--interval-min", help="checkpoint interval (default: Daly optimum)"),
        sync: bool = typer.Option(False, "--sync", help="synchronous checkpoints (default: asynchronous)"),
        no_spares: bool = typer.Option(False, "--no-hot-spares", help="wait for repair instead of hot spares"),
        restart_min: float = typer.Option(None, "--restart-min", help="restart time (default: the profile's)"),
        burn_in: bool = typer.Option(False, "--burn-in", help="new cluster: early-life failure excess"),
        trials: int = typer.Option(1000, "--trials", help="Monte Carlo trials"),
        seed: int = typer.Option(0, "--seed", help="random seed"),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Wall-clock time and goodput of a run under failures, the losses by kind, and what-ifs."""
        from ..fleet.goodput import goodput

        scen = load_scenario() if cluster is None or model is None else None
        c = spec("clusters", cluster, "cluster") if cluster else scen.cluster
        m = spec("models", model, "model") if model else scen.job.model
        raw: dict[str, Any] = {"async_checkpoint": not sync, "hot_spares": not no_spares, "burn_in": burn_in,
                               "trials": trials, "seed": seed}
        for k, v in (("reliability_profile", profile), ("checkpoint_interval_min", interval_min),
                     ("restart_min", restart_min)):
            if v is not None:
                raw[k] = v
        pol = validate_spec(Policies, raw, "policies")
        r = goodput(c, m, days, pol, gpus=gpus)
        if json_out:
            print_json(r.to_dict())
            return
        _print(r, c.name, m.name)


def _print(r: Any, cluster: str, model: str) -> None:
    console.print(f"[bold]{model}[/] on {r.gpus:,} GPUs of {cluster}: {fmt(r.work_days)} days of failure-free "
                  f"compute, profile {r.profile}, {r.trials:,} trials (seed {r.seed})")
    console.print(f"interruptions: {r.interruptions_per_day:.3g}/day (MTTF {r.mttf_h * 60:.3g} min unexpected); "
                  f"checkpoint {r.checkpoint_tb:.3g} TB, {'async' if r.async_checkpoint else 'sync'} stall "
                  f"{r.checkpoint_stall_s:.3g} s, persist {r.checkpoint_persist_s:.3g} s, load {r.checkpoint_load_s:.3g} s; "
                  f"restart {r.detect_min:.3g} + {r.restart_min:.3g} min")
    opt = f"{r.simulated_optimum_min:.3g}" if r.simulated_optimum_min is not None else "-"
    console.print(f"checkpoint interval: using {r.interval_min:.3g} min (Young {r.young_min:.3g}, Daly "
                  f"{r.daly_min:.3g}, simulated optimum {opt} min)")
    t = Table(title="distribution")
    for col in ("", "p10", "p50", "p90", "mean"):
        t.add_column(col, justify="right")
    w, g = r.wall_days, r.goodput
    t.add_row("wall-clock days", *(f"{x:.1f}" for x in (w.p10, w.p50, w.p90, w.mean)))
    t.add_row("goodput %", *(f"{100 * x:.1f}" for x in (g.p10, g.p50, g.p90, g.mean)))
    print_table(t)
    t = Table(title="time lost (mean per run)")
    t.add_column("kind")
    t.add_column("hours", justify="right")
    t.add_column("days", justify="right")
    for k, h in r.losses_h.items():
        t.add_row(LOSS_LABELS.get(k, k), f"{h:,.0f}", f"{h / 24:.1f}")
    print_table(t)
    t = Table(title="interruptions by cause (mean per run)")
    t.add_column("cause")
    t.add_column("count", justify="right")
    for cid, n in sorted(r.interruptions.items(), key=lambda kv: -kv[1]):
        if n > 0:
            t.add_row(cid, f"{n:,.1f}")
    print_table(t)
    if r.whatifs:
        t = Table(title="what-if: each lever's gain")
        for col in ("lever", "without", "with", "goodput without %", "goodput with %", "gain pp", "days saved"):
            t.add_column(col, justify="right" if "%" in col or col in ("gain pp", "days saved") else "left")
        for x in r.whatifs:
            t.add_row(x.lever, x.without, x.with_, f"{100 * x.goodput_without:.1f}", f"{100 * x.goodput_with:.1f}",
                      f"{x.gain_pp:+.1f}", f"{x.days_saved:+.1f}")
        print_table(t)
