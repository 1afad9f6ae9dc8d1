"""Goodput of a months-long run: failures, checkpoints and recovery, by Monte Carlo.

``goodput(cluster, model, days, policies)`` (or ``goodput(scenario, days=...)``) simulates a run that
needs ``days`` of failure-free compute on the cluster and returns the distribution of wall-clock time
and goodput (useful / wall), interruptions by cause, time lost by kind, the Young/Daly and simulated
optimum checkpoint intervals, and a what-if table of levers (interval, async checkpoints, hot spares,
2x faster restart) with each lever's gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import SpecError
from ..specs import MAX_RUN_DAYS, Cluster, Model, Policies, Scenario
from .checkpoint import CheckpointCost, checkpoint_cost, daly_interval, young_interval
from .montecarlo import LOSS_KINDS, MAX_EVENT_DRAWS, SimInputs, SimResult, check_bounded, run_trials
from .reliability import FailureModel, burn_in, failure_model

SEARCH_FACTORS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)
SEARCH_TRIALS = 200
#: bound on one whole goodput analysis (main run, optimum search, what-ifs): 4x one simulation's
MAX_ANALYSIS_DRAWS = 4 * MAX_EVENT_DRAWS


@dataclass(frozen=True)
class Dist:
    p10: float
    p50: float
    p90: float
    mean: float

    @classmethod
    def of(cls, x: np.ndarray) -> Dist:
        p10, p50, p90 = np.percentile(x, [10, 50, 90])
        return cls(float(p10), float(p50), float(p90), float(np.mean(x)))


@dataclass(frozen=True)
class WhatIf:
    lever: str
    without: str
    with_: str
    goodput_without: float
    goodput_with: float
    wall_days_without: float
    wall_days_with: float

    @property
    def gain_pp(self) -> float:
        """Goodput the lever buys, percentage points."""
        return 100.0 * (self.goodput_with - self.goodput_without)

    @property
    def days_saved(self) -> float:
        return self.wall_days_without - self.wall_days_with


@dataclass(frozen=True)
class GoodputResult:
    profile: str
    gpus: int
    work_days: float
    trials: int
    seed: int
    async_checkpoint: bool
    hot_spares: bool
    checkpoint_tb: float
    checkpoint_stall_s: float
    checkpoint_persist_s: float
    checkpoint_load_s: float
    restart_min: float
    detect_min: float
    interruptions_per_day: float
    mttf_h: float
    """mean time between unexpected interruptions"""
    interval_min: float
    """checkpoint interval used (compute time between checkpoints)"""
    young_min: float
    daly_min: float
    simulated_optimum_min: float | None
    wall_days: Dist
    goodput: Dist
    interruptions: dict[str, float]
    """mean count per run, by cause"""
    losses_h: dict[str, float]
    """mean hours lost per run, by kind"""
    whatifs: list[WhatIf] = field(default_factory=list)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["whatifs"] = [dict(asdict(w), gain_pp=w.gain_pp, days_saved=w.days_saved) for w in self.whatifs]
        return d


@dataclass(frozen=True)
class _Setup:
    fm: FailureModel
    ck: CheckpointCost
    work_h: float
    asynchronous: bool
    hot_spares: bool
    detect_h: float
    restart_h: float
    burn: bool
    step_h: float | None

    @property
    def stall_h(self) -> float:
        return self.ck.stall_s(self.asynchronous) / 3600.0

    @property
    def persist_h(self) -> float:
        return self.ck.persist_s(self.asynchronous) / 3600.0

    def floor_h(self) -> float:
        """Shortest sensible interval: a step, and for async the persist time (writes must not pile up)."""
        return max(self.step_h or 0.0, self.persist_h, 1.0 / 3600.0)

    def snap(self, tau_h: float) -> float:
        tau_h = max(tau_h, self.floor_h())
        if self.step_h:
            tau_h = math.ceil(tau_h / self.step_h - 1e-9) * self.step_h
        return tau_h

    def young_daly(self) -> tuple[float, float]:
        m = self.fm.mttf_h
        return young_interval(self.stall_h, m), daly_interval(self.stall_h, m)

    def inputs(self, tau_h: float) -> SimInputs:
        causes = self.fm.causes
        b = burn_in()
        return SimInputs(
            work_h=self.work_h,
            interval_h=tau_h,
            stall_h=self.stall_h,
            persist_h=self.persist_h,
            rates_h=np.array([c.per_day / 24.0 for c in causes]),
            hardware=np.array([c.hardware for c in causes]),
            planned=np.array([c.needs == "planned" for c in causes]),
            replace=np.array([c.needs == "replace" for c in causes]),
            detect_h=self.detect_h,
            restart_h=self.restart_h,
            planned_write_h=self.ck.write_s / 3600.0,
            hot_spares=self.hot_spares,
            swap_h=self.fm.recovery.spare_swap_min / 60.0,
            repair_h=self.fm.recovery.repair_h,
            burn_excess=b.excess if self.burn else 0.0,
            burn_decay_h=b.decay_days * 24.0,
        )

    def run(self, tau_h: float, trials: int, seed: int) -> SimResult:
        return run_trials(self.inputs(tau_h), trials, seed)


def _setup(cluster: Cluster, model: Model, days: float, pol: Policies, gpus: int | None,
           step_s: float | None, checkpoint_bytes: float | None) -> _Setup:
    if not (isinstance(days, int | float) and 0 < days <= MAX_RUN_DAYS):
        raise SpecError("days", f"must be failure-free compute days from above 0 to {MAX_RUN_DAYS:,g} "
                                f"(got {days:.4g})" if isinstance(days, int | float) else f"must be a number (got {days!r})")
    fm = failure_model(cluster, pol.reliability_profile, gpus)
    ck = checkpoint_cost(model, cluster, fm.gpus, fm.recovery.checkpoint_read_factor, checkpoint_bytes)
    restart_min = pol.restart_min if pol.restart_min is not None else fm.recovery.restart_min
    return _Setup(
        fm=fm, ck=ck, work_h=days * 24.0, asynchronous=pol.async_checkpoint, hot_spares=pol.hot_spares,
        detect_h=fm.recovery.detect_min / 60.0, restart_h=restart_min / 60.0 + ck.load_s / 3600.0,
        burn=pol.burn_in, step_h=step_s / 3600.0 if step_s else None,
    )


def _interval(st: _Setup, pol: Policies) -> float:
    if pol.checkpoint_interval_min is not None:
        return st.snap(pol.checkpoint_interval_min / 60.0)
    return st.snap(st.young_daly()[1])


def simulated_optimum(st: _Setup, seed: int, trials: int = SEARCH_TRIALS) -> float:
    """Interval (hours) that minimises mean wall time: a log grid around Daly's, then a parabola."""
    centre = st.snap(st.young_daly()[1])
    taus = sorted({st.snap(centre * f) for f in SEARCH_FACTORS})
    walls = np.array([st.run(t, trials, seed).wall_h.mean() for t in taus])
    i = int(np.argmin(walls))
    if 0 < i < len(taus) - 1:
        x = np.log(taus[i - 1 : i + 2])
        a, b, _ = np.polyfit(x, walls[i - 1 : i + 2], 2)
        if a > 0:
            return st.snap(float(np.exp(np.clip(-b / (2 * a), x[0], x[2]))))
    return taus[i]


def _summary(st: _Setup, res: SimResult) -> tuple[float, float]:
    return float(np.mean(st.work_h / res.wall_h)), float(np.mean(res.wall_h)) / 24.0


def _whatifs(st: _Setup, pol: Policies, tau: float, opt: float | None, base: SimResult, trials: int,
             seed: int) -> list[WhatIf]:
    out: list[WhatIf] = []
    g0, d0 = _summary(st, base)

    def row(lever: str, alt: _Setup, alt_tau: float, on: bool, on_label: str, off_label: str) -> WhatIf:
        g1, d1 = _summary(alt, alt.run(alt_tau, trials, seed))
        if on:  # the baseline has the lever: compare with it taken away
            return WhatIf(lever, off_label, on_label, g1, g0, d1, d0)
        return WhatIf(lever, off_label, on_label, g0, g1, d0, d1)

    if opt is not None:
        # compare the optimum with the interval set, or (none set) with the profile's practice cadence
        if pol.checkpoint_interval_min is not None:
            cur, label, gc, dc = tau, "current", g0, d0
        else:
            cur, label = st.snap(st.fm.recovery.checkpoint_interval_min / 60.0), "practice"
            gc, dc = _summary(st, st.run(cur, trials, seed))
        g1, d1 = _summary(st, st.run(opt, trials, seed))
        out.append(WhatIf("checkpoint interval", f"{label} {cur * 60:.3g} min",
                          f"simulated optimum {opt * 60:.3g} min", gc, g1, dc, d1))
    alt = replace(st, asynchronous=not st.asynchronous)
    alt_tau = tau if pol.checkpoint_interval_min is not None else alt.snap(alt.young_daly()[1])
    out.append(row("async checkpoints", alt, alt_tau, st.asynchronous, "async", "sync"))
    alt = replace(st, hot_spares=not st.hot_spares)
    out.append(row("hot spares", alt, tau, st.hot_spares, "hot spares", "wait for repair"))
    fast = replace(st, detect_h=st.detect_h / 2, restart_h=st.restart_h / 2)
    g1, d1 = _summary(fast, fast.run(tau, trials, seed))
    out.append(WhatIf("2x faster restart", f"{(st.detect_h + st.restart_h) * 60:.3g} min",
                      f"{(st.detect_h + st.restart_h) * 30:.3g} min", g0, g1, d0, d1))
    return out


def goodput(
    target: Cluster | Scenario,
    model: Model | None = None,
    days: float | None = None,
    policies: Policies | None = None,
    *,
    gpus: int | None = None,
    step_s: float | None = None,
    checkpoint_bytes: float | None = None,
    whatifs: bool = True,
    optimize: bool = True,
) -> GoodputResult:
    """Monte Carlo goodput of a run needing `days` of failure-free compute on `gpus` GPUs (default all).

    `target` is a Cluster (then `model` is required) or a Scenario (cluster, model and policies from it).
    `step_s` (the step engine's step time) rounds checkpoint intervals to whole steps; `checkpoint_bytes`
    overrides the 14 B/param state size. Seeded: the same inputs give the same result.
    """
    if isinstance(target, Scenario):
        cluster, model = target.cluster, model or target.job.model
        policies = policies or target.policies
    else:
        cluster = target
    if model is None:
        raise SpecError("model", "is required when goodput() is given a cluster")
    if days is None:
        raise SpecError("days", "is required: failure-free compute days (the step engine's time to train)")
    pol = policies or Policies()
    st = _setup(cluster, model, float(days), pol, gpus, step_s, checkpoint_bytes)
    tau = _interval(st, pol)
    trials, seed = pol.trials, pol.seed
    runs = 1.0 + (len(SEARCH_FACTORS) * min(trials, SEARCH_TRIALS) / trials if optimize else 0.0) + (5.0 if whatifs else 0.0)
    check_bounded(st.inputs(tau), trials, runs, MAX_ANALYSIS_DRAWS)
    res = st.run(tau, trials, seed)
    young, daly = st.young_daly()
    opt = simulated_optimum(st, seed, min(trials, SEARCH_TRIALS)) if optimize else None
    causes = [c.id for c in st.fm.causes]
    return GoodputResult(
        profile=st.fm.profile,
        gpus=st.fm.gpus,
        work_days=float(days),
        trials=trials,
        seed=seed,
        async_checkpoint=st.asynchronous,
        hot_spares=st.hot_spares,
        checkpoint_tb=st.ck.bytes / 1e12,
        checkpoint_stall_s=st.stall_h * 3600.0,
        checkpoint_persist_s=st.persist_h * 3600.0,
        checkpoint_load_s=st.ck.load_s,
        restart_min=(st.restart_h * 60.0) - st.ck.load_s / 60.0,
        detect_min=st.detect_h * 60.0,
        interruptions_per_day=st.fm.per_day,
        mttf_h=st.fm.mttf_h,
        interval_min=tau * 60.0,
        young_min=young * 60.0,
        daly_min=daly * 60.0,
        simulated_optimum_min=opt * 60.0 if opt is not None else None,
        wall_days=Dist.of(res.wall_h / 24.0),
        goodput=Dist.of(st.work_h / res.wall_h),
        interruptions={cid: float(m) for cid, m in zip(causes, res.counts.mean(axis=0), strict=True)},
        losses_h={k: float(res.losses_h[k].mean()) for k in LOSS_KINDS},
        whatifs=_whatifs(st, pol, tau, opt, res, trials, seed) if whatifs else [],
    )


__all__ = ["goodput", "GoodputResult", "WhatIf", "Dist", "simulated_optimum"]
