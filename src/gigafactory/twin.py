"""A scenario end to end: from ground-breaking to a trained model. The one orchestrator.

``simulate`` chains the layers in the order data flows; every surface (CLI, web, sweeps, claims)
calls it or one of its stages, so two commands on one scenario give the same figures:

1. **plan** — the best parallel plan on the full cluster (or the scenario's own plan) and its step;
2. **reliability** — failure-free training time W = steps × step time, then the Monte Carlo of
   failures, restarts and checkpoints gives the wall-clock training days (p10/p50/p90) and goodput;
3. **bring-up** — racks online over time; training starts on the part that is up and grows as racks
   arrive (:func:`grow`);
4. **power** — the IT and facility budget, the per-step waveform, the day series with the goodput
   model's interruptions and checkpoints, and the site verdict;
5. **cost** — capex, opex, $ per run and per token.

Everything here takes specs (a resolved :class:`~gigafactory.specs.Scenario`); names, files and
overrides are resolved by the surfaces (:mod:`gigafactory.resolve`). Each thing is computed once per
scenario: the fabric and the power budget are memoised per cluster, the failure model comes with the
goodput result and the power stage reuses it. The headline (days from ground-breaking to trained
model p50/p90, of which training, MFU, goodput, power, energy, cost) is :meth:`TwinResult.headline`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InfeasiblePlan, SpecError
from .fleet.build import BringUp
from .fleet.buildings import Schedule, layout, schedule, with_building_check
from .fleet.cost import CostReport, cost
from .fleet.goodput import GoodputResult, goodput
from .fleet.power import Interruptions, PowerReport, power
from .perf.planner import PlanSearch
from .perf.planner import plan as search_plans
from .perf.step import StepResult, evaluate, evaluate_plans
from .specs import MAX_RUN_DAYS, Cluster, Job, Plan, Scenario

#: the growing job is re-planned at 1/GROWTH_STEPS, 2/GROWTH_STEPS, ... of the cluster as racks arrive
GROWTH_STEPS = 4
SECONDS_PER_DAY = 86_400.0
#: a growth size tries this many data-parallel widths of the full-size plan before a full search
DP_TRIES = 4

Headline = dict[str, float | int | str | bool | None]


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
    search: PlanSearch | None  # None when the scenario fixes the plan
    step: StepResult  # the full-size plan's step
    failure_free_days: float
    goodput: GoodputResult
    power: PowerReport
    bringup: BringUp
    growth: Growth
    cost: CostReport
    seconds: dict[str, float]
    schedule: Schedule | None = None  # capacity mode, per-building bring-up, building layout

    def headline(self) -> Headline:
        """The flat figures a user, a sweep row or the web page needs."""
        s, st, gp, pw, c = self.scenario, self.step, self.goodput, self.power, self.cost
        p = st.plan
        v = pw.verdict
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
            "site_fits": v.fits if v else None,
            "site_verdict": ("fits" if v.fits else "; ".join(v.reasons)) if v else None,
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


def run_energy_mwh(pw: PowerReport, growth: Growth) -> float:
    """Facility energy of the training run: p50 wall-clock training days at the average draw."""
    return pw.day_facility.mean_mw * growth.training_days["p50"] * 24.0


def step_job(job: Job) -> Job:
    """The job as the step engine sees it: a step does not depend on the total token count, so
    every token count shares one canonical job and the planner's memo serves them all."""
    return job.model_copy(update={"tokens": float(job.tokens_per_step)})


def plan_text(p: Plan) -> str:
    zero = {0: "DDP", 1: "dist-opt", 2: "ZeRO-2", 3: "FSDP"}[p.zero]
    parts = [f"TP{p.tp}", f"PP{p.pp}" + (f"x{p.vpp}" if p.vpp > 1 else ""), f"CP{p.cp}", f"EP{p.ep}",
             f"DP{p.dp}", f"mbs{p.mbs}", f"recompute={p.recompute}", zero]
    if p.offload_layers:
        parts.append(f"offload={p.offload_layers}")
    return " ".join(parts)


# --------------------------------------------------------------------------- stages


def plan_step(scen: Scenario) -> tuple[PlanSearch | None, StepResult, GoodputResult | None]:
    """Stage 1: the scenario's plan; or, of the planner's fastest plans on the full cluster, the one
    whose run ends soonest once failures are counted (each plan's goodput Monte Carlo, same seed:
    ``extra["wall_days_p50"]``). A plan a fraction of a percent faster per step on more GPUs is
    interrupted more often and can finish later; the planner ranks by step time alone. The chosen
    plan's goodput without the what-ifs comes back too (None for a fixed plan): stage 2 need not
    run it again."""
    if scen.plan is not None:
        return None, evaluate(scen.job, scen.cluster, scen.plan), None
    search = search_plans(step_job(scen.job), scen.cluster, top=3)
    ranked = []
    for i, r in enumerate(search.top):
        try:
            gp = reliability(scen, r, detail=False)
        except SpecError:
            if i == 0:  # the fastest plan cannot run either: the goodput stage says why
                raise
            continue
        ranked.append((replace(r, extra={**r.extra, "wall_days_p50": float(gp.wall_days.p50)}), gp))
    chosen, gp = min(ranked, key=lambda rg: (rg[0].extra["wall_days_p50"], rg[0].step_s))
    return replace(search, best=chosen, top=[r for r, _ in ranked]), chosen, gp


def failure_free_days(scen: Scenario, step: StepResult) -> float:
    """Failure-free compute days of the run; refused past MAX_RUN_DAYS (no loop downstream runs for ever)."""
    days = scen.job.steps * step.step_s / SECONDS_PER_DAY
    if not days <= MAX_RUN_DAYS:
        raise SpecError("job.tokens", f"{scen.job.tokens:.3g} tokens take {days:,.4g} days of failure-free compute "
                        f"on this cluster, over the {MAX_RUN_DAYS:,g} days the twin models; train fewer tokens or "
                        "use more GPUs")
    return days


def reliability(scen: Scenario, step: StepResult, *, detail: bool = True) -> GoodputResult:
    """Stage 2: the goodput Monte Carlo of the run. Only the GPUs the plan uses can interrupt the
    job; idle ones serve as spares."""
    return goodput(scen, days=failure_free_days(scen, step), step_s=step.step_s, gpus=step.plan.gpus,
                   whatifs=detail, optimize=detail)


def power_stage(scen: Scenario, step: StepResult, gp: GoodputResult, *, run_hours: float | None = None,
                interruptions: Interruptions | None = None) -> PowerReport:
    """Stage 4: power of the step on the plan's GPUs, with the goodput model's interruptions; the site
    verdict carries the buildings check (floor, racks, cooling, feed) of owned capacity."""
    rep = power(scen.cluster, scen.site, step=step, interruptions=interruptions or Interruptions.from_goodput(gp),
                smoothing=bool(scen.policies.power_smoothing), run_hours=run_hours, seed=scen.policies.seed)
    if rep.verdict is None or scen.capacity.mode == "rented":
        return rep
    return replace(rep, verdict=with_building_check(rep.verdict, layout(scen)))


@dataclass(frozen=True)
class Training:
    """Plan and goodput of a job at full size: what the claims about training time need."""

    step: StepResult
    failure_free_days: float
    goodput: GoodputResult | None  # None when failures are not counted

    @property
    def wall_days(self) -> float:
        return self.goodput.wall_days.p50 if self.goodput else self.failure_free_days


def training(scen: Scenario, *, with_failures: bool = True) -> Training:
    """Stages 1-2 only: the plan's step and (optionally) the goodput of the run at full size."""
    _, step, quick = plan_step(scen)
    gp = (quick or reliability(scen, step, detail=False)) if with_failures else None
    return Training(step, failure_free_days(scen, step), gp)


def with_seed(scen: Scenario, seed: int | None) -> Scenario:
    if seed is None:
        return scen
    return scen.model_copy(update={"policies": scen.policies.model_copy(update={"seed": seed})})


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    detail: bool = True,
) -> TwinResult:
    """Run a resolved scenario end to end.

    ``detail=False`` (sweeps) skips what only the report shows — the reliability what-ifs and the
    simulated-optimum checkpoint search; the headline figures are the same either way.
    """
    if not isinstance(scenario, Scenario):
        raise SpecError("scenario", f"expected a resolved Scenario (see gigafactory.resolve), got "
                        f"{type(scenario).__name__}")
    scen = with_seed(scenario, seed)
    say = progress or (lambda _msg: None)
    t: dict[str, float] = {}

    say("plan")
    t0 = time.perf_counter()
    search, step, quick = plan_step(scen)
    t["plan"] = time.perf_counter() - t0

    say("reliability")
    t0 = time.perf_counter()
    gp = quick if quick is not None and not detail else reliability(scen, step, detail=detail)
    t["goodput"] = time.perf_counter() - t0

    say("bring-up")
    t0 = time.perf_counter()
    sched = schedule(scen, seed=scen.policies.seed)
    bu = sched.bringup
    growth = grow(scen, bu, step, gp)
    t["bringup"] = time.perf_counter() - t0

    say("power")
    t0 = time.perf_counter()
    pw = power_stage(scen, step, gp, run_hours=growth.training_days["p50"] * 24.0)
    t["power"] = time.perf_counter() - t0

    say("cost")
    t0 = time.perf_counter()
    cst = cost(scen, training_days=growth.training_days["p50"], tokens=scen.job.tokens,
               energy_mwh=run_energy_mwh(pw, growth))
    t["cost"] = time.perf_counter() - t0

    return TwinResult(scen, search, step, failure_free_days(scen, step), gp, pw, bu, growth, cst, t, sched)


def scenario_power(scen: Scenario, *, interruptions_per_day: float | None = None,
                   run_hours: float | None = None) -> PowerReport:
    """The power report of a scenario exactly as :func:`simulate` computes it (same step, same
    interruptions, same run), optionally with another failure rate or run length."""
    res = simulate(scen, detail=False)
    if interruptions_per_day is None and run_hours is None:
        return res.power
    ir = Interruptions.from_goodput(res.goodput)
    if interruptions_per_day is not None:
        ir = replace(ir, per_day=float(interruptions_per_day), source="given")
    hours = run_hours if run_hours is not None else res.growth.training_days["p50"] * 24.0
    return power_stage(scen, res.step, res.goodput, run_hours=hours, interruptions=ir)


# --------------------------------------------------------------------------- growth


def growth_sizes(scen: Scenario, bu: BringUp) -> list[int]:
    """GROWTH_STEPS equal fractions of the cluster and the sizes on the first training day (p50 and
    p90 schedules, so training starts when bring-up says), rounded down to whole NVLink domains."""
    c = scen.cluster
    dom = c.domain_size
    fracs = {k / GROWTH_STEPS for k in range(1, GROWTH_STEPS)}
    starts = {float(bu.gpus_at(bu.first_training_day[q], q, training=False)) / c.num_gpus for q in ("p50", "p90")}
    sizes = sorted({max(dom, int(c.num_gpus * f) // dom * dom) for f in fracs | starts})
    return [n for n in sizes if n < c.num_gpus] + [c.num_gpus]


def steps_at(scen: Scenario, full: StepResult, sizes: list[int]) -> list[StepResult | InfeasiblePlan]:
    """The job's step at each GPU count of `sizes` (GPUs of the cluster up), in one vectorised pass.

    The plan is re-chosen only where the size changes it: the full-size plan's model-parallel shape
    (TP, PP, CP, EP, micro-batch, recompute, sharding) is kept with the widest data parallelism that
    fits in the size and divides the global batch (up to DP_TRIES such widths, widest first), evaluated
    on the cluster's fabric as designed (the racks that are up are part of it). Only where none of
    those can run (memory, rules) does a full plan search on a cluster of that size decide. Where no
    plan fits a size, its entry is the InfeasiblePlan that says why.
    """
    p, job = full.plan, scen.job
    model_parallel = p.tp * p.pp * p.cp
    tries: list[list[Plan]] = []
    for gpus in sizes:
        widths = [dp for dp in range(min(gpus // model_parallel, p.dp), 0, -1)
                  if not job.global_batch % (dp * p.mbs) and not (p.tp * p.cp * dp) % p.ep][:DP_TRIES]
        tries.append([p.model_copy(update={"dp": dp}) for dp in widths])
    flat = evaluate_plans(job, scen.cluster, [q for t in tries for q in t])
    steps, at = [], 0
    for gpus, t in zip(sizes, tries, strict=True):
        found = next((r for r in flat[at:at + len(t)] if r is not None), None)
        at += len(t)
        if found is None:
            sub = Cluster.model_validate({**scen.cluster.model_dump(), "num_gpus": gpus})
            try:
                found = search_plans(step_job(job), sub, top=1).best
            except InfeasiblePlan as exc:
                found = exc
        steps.append(found)
    return steps


def step_at(scen: Scenario, full: StepResult, gpus: int) -> StepResult:
    """The job's step when only `gpus` GPUs of the cluster are up (:func:`steps_at` of one size);
    InfeasiblePlan when no plan fits."""
    step = steps_at(scen, full, [gpus])[0]
    if isinstance(step, InfeasiblePlan):
        raise step
    return step


def grow(scen: Scenario, bu: BringUp, full_step: StepResult, gp: GoodputResult) -> Growth:
    """Train on the GPUs that are up, re-planning at each size (:func:`steps_at`), until the job's
    tokens are done. Throughput at each size is the failure-free tokens/s there, times the goodput of
    the full-size run (p50 for the median schedule, p10 for the pessimistic one)."""
    sizes = growth_sizes(scen, bu)
    rates, plans = [], []
    for best in steps_at(scen, full_step, sizes[:-1]):
        if isinstance(best, InfeasiblePlan):
            rates.append(0.0)
            plans.append(f"does not fit: {best.reason}")
        else:
            rates.append(best.tokens_per_s)
            plans.append(plan_text(best.plan))
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
