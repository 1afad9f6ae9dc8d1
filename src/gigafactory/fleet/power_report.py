"""``power()``: budget + waveform + day series + site verdict for a scenario or a cluster.

Inputs the other layers provide when present: the step engine's exposed-time breakdown
(``perf.planner.plan(job, cluster).best`` or ``perf.step.evaluate``), the reliability model's
interruptions per day and restart time, and the checkpoint stall. Each missing one falls back to a
sourced default in catalog/power.yaml and adds a note to the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .. import resolve
from ..errors import GigafactoryError, SpecError
from ..specs import Cluster, Scenario, Site
from . import waveform as wv
from .power import PHASES, Budget, budget, consts
from .site import RunEnergy, SiteLoad, SiteVerdict, run_energy, verdict


@dataclass(frozen=True)
class PowerReport:
    budget: Budget
    step_s: float
    breakdown: dict[str, float]
    breakdown_source: str
    step_it: wv.SwingStats  # IT waveform over many steps
    step_facility: wv.SwingStats
    smoothed_it: wv.SwingStats | None  # the same with GPU power smoothing (when not already on)
    smoothing: bool
    day_facility: wv.SwingStats  # 1 s day series, checkpoints and failures included
    day_events: wv.DayEvents
    daily_it_mwh: float
    failure_drop_it_mw: float  # step peak -> job down (idle), IT
    interruptions_per_day: float
    site_load: SiteLoad | None
    verdict: SiteVerdict | None
    run: RunEnergy | None  # the whole training run, when a job is known
    notes: tuple[str, ...] = field(default_factory=tuple)
    _site: Site | None = field(default=None, repr=False, compare=False)
    step_wave: wv.Waveform | None = field(default=None, repr=False, compare=False)  # for plots
    day_wave: wv.Waveform | None = field(default=None, repr=False, compare=False)

    def energy(self, hours: float) -> RunEnergy:
        """Energy, fuel, CO2 and cost of running this job for `hours` on the report's site."""
        if self._site is None:
            raise SpecError("site", "no site to price energy on")
        return run_energy(self._site, self.day_facility.mean_mw, hours)

    def summary(self) -> dict[str, float | bool | None]:
        """Headline figures (for `simulate`)."""
        return {
            "it_mw": round(self.budget.it_mw, 2),
            "facility_mw": round(self.budget.facility_mw, 2),
            "peak_mw": round(self.step_facility.peak_mw, 2),
            "average_mw": round(self.day_facility.mean_mw, 2),
            "swing_mw": round(self.step_it.swing_mw, 2),
            "swing_hz": round(self.step_it.dominant_hz, 3),
            "daily_mwh": round(self.day_facility.energy_mwh, 1),
            "run_mwh": round(self.run.facility_mwh, 0) if self.run else None,
            "site_fits": self.verdict.fits if self.verdict else None,
        }

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        for k in ("_site", "step_wave", "day_wave"):
            d.pop(k, None)
        d["summary"] = self.summary()
        return d


def _resolve(target: Any, site: Site | str | None) -> tuple[Cluster, Site | None, Scenario | None]:
    scen: Scenario | None = None
    if isinstance(target, Scenario):
        scen, cluster = target, target.cluster
    elif isinstance(target, Cluster):
        cluster = target
    elif isinstance(target, str | dict):
        cluster = resolve.cluster(target)
    else:
        raise SpecError("cluster", f"expected a Scenario, Cluster or cluster name, got {type(target).__name__}")
    if isinstance(site, str):
        site = resolve.site(site)
    if site is None:
        site = scen.site if scen else (resolve.site(cluster.site) if cluster.site else None)
    return cluster, site, scen


def _step(scen: Scenario | None, cluster: Cluster) -> tuple[float, dict[str, float], str, list[str]]:
    if scen is not None:
        try:
            if scen.plan is not None:
                from ..perf.step import evaluate

                res = evaluate(scen.job, cluster, scen.plan)
                src = "step engine (scenario plan)"
            else:
                from ..perf.planner import plan

                res = plan(scen.job, cluster).best
                src = "planner's best plan"
            bd = {k: float(v) for k, v in dict(res.breakdown).items()}
            return float(res.step_s), bd, src, []
        except GigafactoryError as exc:
            note = f"step engine failed ({exc}); default step breakdown used"
    else:
        note = "no job given: default step breakdown (Llama 3 405B-like, catalog/power.yaml default-step)"
    d = consts("default-step")
    step_s = float(d["step_s"])
    return step_s, {k: float(d[k]) * step_s for k in PHASES if k in d}, "default", [note]


def _reliability(scen: Scenario | None, cluster: Cluster, rate: float | None) -> tuple[float, float, float, float, list[str]]:
    """(interruptions/day, restart s, checkpoint interval s, checkpoint stall s, notes)."""
    sup = consts("supply")
    notes: list[str] = []
    restart_s = float(sup["default_restart_min"]) * 60
    interval_s = float(sup["default_checkpoint_interval_min"]) * 60
    stall_s = float(sup["default_checkpoint_stall_s"])
    pol = scen.policies if scen else None
    try:
        from .reliability import failure_model

        fm = failure_model(cluster, pol.reliability_profile if pol else "llama3-405b")
        if rate is None:
            rate = fm.per_day
        restart_s = (fm.recovery.detect_min + fm.recovery.restart_min) * 60
        interval_s = fm.recovery.checkpoint_interval_min * 60
    except GigafactoryError as exc:
        if rate is None:
            rate = 0.0
            notes.append(f"reliability model unavailable ({type(exc).__name__}): no failure drops in the day series")
    if scen is not None:
        try:
            from .checkpoint import checkpoint_cost

            stall_s = checkpoint_cost(scen.job.model, cluster).stall_s(scen.policies.async_checkpoint)
        except GigafactoryError:
            notes.append("checkpoint model unavailable: default checkpoint stall")
    if pol is not None:
        if pol.restart_min is not None:
            restart_s = pol.restart_min * 60
        if pol.checkpoint_interval_min is not None:
            interval_s = pol.checkpoint_interval_min * 60
    return float(rate), restart_s, interval_s, stall_s, notes


def _with_active(b: Budget, active_gpus: int | None, notes: list[str]) -> Budget:
    """The job runs on `active_gpus` of the cluster's GPUs: the rest sit at idle draw and do not swing."""
    load = b.load
    if active_gpus is None or active_gpus >= load.num_gpus:
        return b
    if active_gpus < 1:
        raise SpecError("active_gpus", f"must be at least 1, got {active_gpus}")
    idle = (load.num_gpus - active_gpus) * load.gpu_idle_w
    notes.append(f"the job runs on {active_gpus:,} of {load.num_gpus:,} GPUs; the rest draw idle power")
    return replace(b, load=replace(load, num_gpus=active_gpus, other_active_w=load.other_active_w + idle,
                                   other_idle_w=load.other_idle_w + idle))


def power(
    target: Scenario | Cluster | str,
    *,
    step_breakdown: dict[str, float] | None = None,
    site: Site | str | None = None,
    smoothing: bool | None = None,
    interruptions_per_day: float | None = None,
    run_hours: float | None = None,
    active_gpus: int | None = None,
    steps: int = 16,
    seed: int | None = None,
) -> PowerReport:
    """Power budget, waveform, day series and site verdict of a job on a cluster.

    `target`: a Scenario (its cluster, site, job and policies are used), a Cluster or a cluster
    name. `step_breakdown`: exposed seconds by phase (keys of the step engine's breakdown); default
    from the planner, else a sourced default. `smoothing`: GPU power smoothing (default: the
    scenario's policy). `run_hours`: duration to price (default: the job's steps x step time).
    """
    cluster, site_, scen = _resolve(target, site)
    if smoothing is None:
        smoothing = bool(scen.policies.power_smoothing) if scen else False
    notes: list[str] = []
    b = budget(cluster, site_pue=site_.pue if site_ else None, smoothing=smoothing)
    notes += list(b.notes)
    b = _with_active(b, active_gpus, notes)
    if step_breakdown is not None:
        bd = {k: float(v) for k, v in step_breakdown.items()}
        step_s, src = sum(bd.values()), "given"
    else:
        step_s, bd, src, n = _step(scen, cluster)
        notes += n
    rate, restart_s, interval_s, stall_s, n = _reliability(scen, cluster, interruptions_per_day)
    notes += n
    wf = wv.step_waveform(b.load, bd, steps=steps)
    it_stats = wv.swing_stats(wf)
    fac_stats = wv.swing_stats(wf, facility=True)
    smoothed = None
    if not smoothing:
        bs = _with_active(budget(cluster, site_pue=site_.pue if site_ else None, smoothing=True), active_gpus, [])
        smoothed = wv.swing_stats(wv.step_waveform(bs.load, bd, steps=steps))
    sd = seed if seed is not None else (scen.policies.seed if scen else 0)
    day, ev = wv.day_series(b.load, it_stats.mean_mw * 1e6, checkpoint_interval_s=interval_s,
                            checkpoint_stall_s=stall_s, interruptions_per_day=rate, restart_s=restart_s, seed=sd)
    day_fac = wv.swing_stats(wv.Waveform(day.t_s, day.facility_w, day.dt_s))
    drop_it = it_stats.peak_mw - b.load.it_idle_w / 1e6
    sl = ver = run = None
    if site_ is not None:
        it_mean = it_stats.mean_mw * 1e6
        idle_fac = float(b.load.facility_w(b.load.it_idle_w, it_mean)) / 1e6
        above = (wf.facility_w - wf.facility_w.mean()).clip(min=0).sum() * wf.dt_s / steps / 3.6e9
        sl = SiteLoad(fac_stats.peak_mw, fac_stats.mean_mw, fac_stats.trough_mw, idle_fac, step_s, float(above),
                      it_stats.dominant_hz, b.facility_mw)
        ver = verdict(site_, sl)
        hours = run_hours
        if hours is None and scen is not None:
            up = float((day.it_w > b.load.it_idle_w).mean()) or 1.0
            hours = scen.job.steps * step_s / 3600.0 / up
        if hours is not None:
            run = run_energy(site_, day_fac.mean_mw, hours)
    return PowerReport(
        budget=b, step_s=step_s, breakdown=bd, breakdown_source=src, step_it=it_stats, step_facility=fac_stats,
        smoothed_it=smoothed, smoothing=smoothing, day_facility=day_fac, day_events=ev,
        daily_it_mwh=day.energy_j / 3.6e9, failure_drop_it_mw=drop_it, interruptions_per_day=rate,
        site_load=sl, verdict=ver, run=run, notes=tuple(notes), _site=site_, step_wave=wf, day_wave=day,
    )
