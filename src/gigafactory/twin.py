"""A scenario end to end: from ground-breaking to a trained model.

``simulate`` chains the layers in the order data flows:

1. **plan** — the best parallel plan on the full cluster (or the scenario's own plan) and its step;
2. **reliability** — failure-free training time W = steps × step time, then the Monte Carlo of
   failures, restarts and checkpoints gives the wall-clock training days (p10/p50/p90) and goodput;
3. **power** — the IT and facility budget, the per-step waveform and the site verdict;
4. **bring-up** — racks online over time; training starts on the part that is up and grows as racks
   arrive, the plan re-chosen at each size;
5. **cost** — capex, opex, $ per run and per token.

The headline (days from ground-breaking to trained model p50/p90, of which training, MFU, goodput,
power, energy, cost) is :meth:`TwinResult.headline`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InfeasiblePlan
from .resolve import build, load_scenario, scenario_from_dict, scenario_to_dict
from .specs import Scenario

#: the growing job is re-planned at 1/GROWTH_STEPS, 2/GROWTH_STEPS, ... of the cluster as racks arrive
GROWTH_STEPS = 4
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Growth:
    """Training while the cluster grows: the plan re-chosen at each size."""

    sizes: list[int]  # GPU counts re-planned at (ascending)
    tokens_per_s: list[float]  # failure-free throughput at each size (0: the job does not fit)
    plans: list[str]  # the plan chosen at each size, as text
    days: dict[str, np.ndarray] = field(repr=False)  # label -> day axis since ground-breaking
    tokens: dict[str, np.ndarray] = field(repr=False)  # label -> cumulative tokens
    days_to_model: dict[str, float]  # p50 / p90 days from ground-breaking to the trained model
    training_days: dict[str, float]  # p50 / p90 days from first training day to the model


@dataclass(frozen=True)
class TwinResult:
    scenario: Scenario
    search: Any  # perf.planner.PlanSearch (or None when the scenario fixes the plan)
    step: Any  # perf StepResult of the full-size plan
    failure_free_days: float
    goodput: Any  # fleet.goodput result
    power: Any  # fleet.power report
    bringup: Any  # fleet.build.BringUp
    growth: Growth
    cost: Any  # fleet.cost.CostReport
    seconds: dict[str, float]
    schedule: Any = None  # fleet.buildings.Schedule: capacity mode, per-building bring-up, layout

    def headline(self) -> dict[str, Any]:
        """The flat figures a user, a sweep row or the web page needs."""
        s, st, gp, pw, c = self.scenario, self.step, self.goodput, self.power, self.cost
        p = st.plan
        rented = s.capacity.mode == "rented"
        lay = self.schedule.layout if self.schedule is not None else None
        return {
            "scenario": s.name,
            "capacity": s.capacity.mode,
            "provider": s.capacity.provider,
            "days_counted_from": "contract signature" if rented else "ground-breaking",
            "gpu": s.cluster.gpu.id,
            "num_gpus": s.cluster.num_gpus,
            "model": s.job.model.id,
            "tokens": s.job.tokens,
            "precision": s.job.precision,
            "days_to_model_p50": self.growth.days_to_model["p50"],
            "days_to_model_p90": self.growth.days_to_model["p90"],
            "training_days_p50": self.growth.training_days["p50"],
            "training_days_p90": self.growth.training_days["p90"],
            "first_training_day_p50": self.bringup.first_training_day["p50"],
            "full_size_day_p50": self.bringup.full_size_day["p50"],
            "failure_free_training_days": self.failure_free_days,
            "plan": plan_text(p),
            "gpus_used": p.gpus,
            "step_s": st.step_s,
            "tokens_per_s": st.tokens_per_s,
            "mfu": st.mfu,
            "model_tflops_per_gpu": st.model_tflops_per_gpu,
            "goodput_p50": gp.goodput.p50,
            "goodput_p10": gp.goodput.p10,
            "interruptions_per_day": gp.interruptions_per_day,
            "it_mw": pw.budget.it_mw,
            "facility_mw": pw.budget.facility_mw,
            "peak_mw": pw.step_facility.peak_mw,
            "avg_mw": pw.day_facility.mean_mw,
            "swing_mw": pw.step_it.swing_mw,
            "swing_hz": pw.step_it.dominant_hz,
            "site_fits": pw.verdict.fits if pw.verdict else None,
            "buildings_used": len(lay.gpus_per_building) if lay else None,
            "buildings_fit": lay.fits if lay else None,
            "buildings_reason": (lay.reason or None) if lay else None,
            "energy_mwh": self.energy_mwh,
            "capex_usd": None if rented else c.capex_total_usd,
            "capex_per_gpu_usd": None if rented else c.capex_per_gpu_usd,
            "usd_contract": c.run.contract_usd if rented and c.run else None,
            "opex_usd_per_year": c.opex_per_year_usd,
            "usd_per_gpu_hour": c.usd_per_gpu_hour,
            "usd_per_run": c.run.at_cost_usd if c.run else None,
            "usd_per_run_rented": c.run.rental_reserved_usd if c.run else None,
            "usd_per_million_tokens": c.run.usd_per_million_tokens if c.run else None,
        }

    @property
    def energy_mwh(self) -> float:
        return run_energy_mwh(self.power, self.growth)


def run_energy_mwh(pw: Any, growth: Growth) -> float:
    """Facility energy of the training run: p50 wall-clock training days at the average draw."""
    return pw.day_facility.mean_mw * growth.training_days["p50"] * 24.0


def step_job(job: Any) -> Any:
    """The job as the step engine sees it: a step does not depend on the total token count, so
    every token count shares one canonical job and the planner's memo serves them all."""
    return job.model_copy(update={"tokens": float(job.tokens_per_step)})


def plan_text(p: Any) -> str:
    zero = {0: "DDP", 1: "dist-opt", 2: "ZeRO-2", 3: "FSDP"}[p.zero]
    parts = [f"TP{p.tp}", f"PP{p.pp}" + (f"x{p.vpp}" if p.vpp > 1 else ""), f"CP{p.cp}", f"EP{p.ep}",
             f"DP{p.dp}", f"mbs{p.mbs}", f"recompute={p.recompute}", zero]
    return " ".join(parts)


def _resolve(scenario: Scenario | str | Path | dict | None, overrides: dict[str, Any] | None) -> Scenario:
    if isinstance(scenario, Scenario):
        if overrides:
            return scenario_from_dict(scenario_to_dict(scenario), overrides)
        return scenario
    if isinstance(scenario, dict):
        return scenario_from_dict(scenario, overrides)
    return load_scenario(scenario, overrides)


def simulate(
    scenario: Scenario | str | Path | dict | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    detail: bool = True,
) -> TwinResult:
    """Run a scenario end to end (the built-in Colossus-class default when none is given).

    ``detail=False`` (sweeps) skips what only the report shows — the reliability what-ifs and the
    simulated-optimum checkpoint search; the headline figures are the same either way.
    """
    from .fleet.buildings import schedule
    from .fleet.cost import cost
    from .fleet.goodput import goodput
    from .fleet.power import power
    from .perf.planner import plan as search_plans
    from .perf.step import evaluate

    scen = _resolve(scenario, overrides)
    if seed is not None:
        scen = scen.model_copy(update={"policies": scen.policies.model_copy(update={"seed": seed})})
    say = progress or (lambda _msg: None)
    t: dict[str, float] = {}

    say("plan")
    t0 = time.perf_counter()
    job, cluster = scen.job, scen.cluster
    if scen.plan is not None:
        search, step = None, evaluate(job, cluster, scen.plan)
    else:
        search = search_plans(step_job(job), cluster, top=3)
        step = search.best
    t["plan"] = time.perf_counter() - t0
    failure_free_days = job.steps * step.step_s / SECONDS_PER_DAY

    say("reliability")
    t0 = time.perf_counter()
    # only the GPUs the plan uses can interrupt the job; idle ones serve as spares
    gp = goodput(scen, days=failure_free_days, step_s=step.step_s, gpus=step.plan.gpus,
                 whatifs=detail, optimize=detail)
    t["goodput"] = time.perf_counter() - t0

    say("power")
    t0 = time.perf_counter()
    pw = power(scen, step_breakdown=step.breakdown, interruptions_per_day=gp.interruptions_per_day,
               active_gpus=step.plan.gpus)
    t["power"] = time.perf_counter() - t0

    say("bring-up")
    t0 = time.perf_counter()
    sched = schedule(scen, seed=scen.policies.seed)
    bu = sched.bringup
    growth = grow(scen, bu, step, gp, search_plans)
    t["bringup"] = time.perf_counter() - t0

    say("cost")
    t0 = time.perf_counter()
    cst = cost(scen, training_days=growth.training_days["p50"], tokens=job.tokens,
               energy_mwh=run_energy_mwh(pw, growth))
    t["cost"] = time.perf_counter() - t0

    return TwinResult(scen, search, step, failure_free_days, gp, pw, bu, growth, cst, t, sched)


def grow(scen: Scenario, bu: Any, full_step: Any, gp: Any, search_plans: Callable[..., Any]) -> Growth:
    """Train on the GPUs that are up, re-planning at each size, until the job's tokens are done.

    Sizes are GROWTH_STEPS equal fractions of the cluster and the sizes on the first training day,
    rounded down to whole NVLink domains.
    Throughput at each size is the failure-free tokens/s of the best plan there, times the
    goodput of the full-size run (p50 for the median schedule, p10 for the pessimistic one).
    """
    c = scen.cluster
    dom = c.domain_size
    fracs = {k / GROWTH_STEPS for k in range(1, GROWTH_STEPS)}
    # also the sizes at which training starts (p50 and p90 schedules), so it starts when bring-up says
    starts = {float(bu.gpus_at(bu.first_training_day[q], q, training=False)) / c.num_gpus for q in ("p50", "p90")}
    sizes = sorted({max(dom, int(c.num_gpus * f) // dom * dom) for f in fracs | starts})
    sizes = [n for n in sizes if n < c.num_gpus] + [c.num_gpus]
    rates, plans = [], []
    for n in sizes[:-1]:
        sub = build("clusters", {**scenario_to_dict(scen)["cluster"], "num_gpus": n})
        try:
            best = search_plans(step_job(scen.job), sub, top=1).best
            rates.append(best.tokens_per_s)
            plans.append(plan_text(best.plan))
        except InfeasiblePlan as exc:
            rates.append(0.0)
            plans.append(f"does not fit: {exc.reason}")
    rates.append(full_step.tokens_per_s)
    plans.append(plan_text(full_step.plan))

    size_arr, rate_arr = np.array(sizes), np.array(rates)
    days_out, tokens_out, to_model, train_days = {}, {}, {}, {}
    # room for the slow schedule at the pessimistic goodput (a million GPUs can run at 20% goodput)
    free_days = scen.job.steps * full_step.step_s / SECONDS_PER_DAY
    horizon = int(bu.full_size_day["p90"] + 2 * free_days / max(float(gp.goodput.p10), 0.05) + 30)
    horizon = min(max(horizon, 60), 40_000)
    days = np.arange(horizon + 1, dtype=float)
    for label, q, gq in (("p50", "p50", "p50"), ("p90", "p90", "p10")):
        online = bu.gpus_at(days, q, training=True)
        idx = np.searchsorted(size_arr, online, side="right") - 1  # largest planned size <= online
        rate = np.where(idx >= 0, rate_arr[np.clip(idx, 0, None)], 0.0) * getattr(gp.goodput, gq)
        cum = np.concatenate([[0.0], np.cumsum(rate[:-1] * SECONDS_PER_DAY)])
        done = np.searchsorted(cum, scen.job.tokens)
        if done >= len(days):
            raise InfeasiblePlan("the run does not finish within the simulated horizon",
                                 f"{horizon} days; throughput {rate_arr.max():.3g} tokens/s at most")
        # interpolate inside the finishing day
        d0 = days[done - 1]
        frac = (scen.job.tokens - cum[done - 1]) / max(cum[done] - cum[done - 1], 1e-9)
        finish = float(d0 + frac)
        start = float(days[np.argmax(rate > 0)])
        to_model[label] = finish
        train_days[label] = finish - start
        keep = days <= finish + 1
        days_out[label], tokens_out[label] = days[keep], np.minimum(cum[keep], scen.job.tokens)
    return Growth(sizes, rates, plans, days_out, tokens_out, to_model, train_days)
