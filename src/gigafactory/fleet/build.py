"""Build and bring-up: when does the first rack arrive, when does training start, when is it full size?

A profile (``catalog/build.yaml``) is a small DAG of phases (site, power, cooling, network, ...) with
triangular duration distributions, followed by rack delivery at R racks/day, a per-rack burn-in and
a partial-start rule. Monte Carlo over ``trials``, vectorised with numpy and seeded::

    first_rack  = max(end of phases in racks_after)
    online(d)   = clip(floor((d - first_rack - burn_in) * R), 0, racks)     racks online on day d
    training    = first_rack + max(integration, burn_in + ceil(f * racks) / R)
    full_size   = max(first_rack + burn_in + racks / R, training)

``BringUp.gpus_at(day)`` gives the GPUs the job may use on a day (whole NVLink domains, 0 before
training starts) so the twin can grow the job, re-planning at each size, as racks arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from .. import catalog
from ..errors import SpecError, closest
from ..specs import Cluster, Scenario

DEFAULT_PROFILE = "colossus-fast"
DEFAULT_TRIALS = 2000
#: bounds of the bring-up Monte Carlo: trials x days arrays stay under ~2e8 floats
MAX_BUILD_TRIALS = 20_000
MAX_BUILD_DAYS = 10_000
#: rack delivery rate, racks a day: Colossus-class builds deliver tens a day (catalog build.yaml)
MIN_RACKS_PER_DAY, MAX_RACKS_PER_DAY = 0.01, 100_000.0
_QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class Tri:
    """A triangular distribution [min, mode, max] in days (or racks/day)."""

    lo: float
    mode: float
    hi: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.hi <= self.lo:
            return np.full(n, float(self.mode))
        return rng.triangular(self.lo, self.mode, self.hi, size=n)


@dataclass(frozen=True)
class Phase:
    name: str
    after: tuple[str, ...]
    days: Tri
    note: str = ""


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    phases: tuple[Phase, ...]
    racks_after: tuple[str, ...]
    racks_per_day: Tri
    burn_in_days: Tri
    integration_days: Tri
    partial_start_frac: float
    source: str = ""


@dataclass(frozen=True)
class PhaseTiming:
    name: str
    after: tuple[str, ...]
    start_p50: float
    end_p50: float
    end_p90: float


@dataclass(frozen=True)
class BringUp:
    """Monte Carlo bring-up schedule of one cluster under one profile (days from project start)."""

    profile: str
    cluster: str
    num_gpus: int
    racks: int
    gpus_per_rack: int
    domain_gpus: int
    trials: int
    seed: int
    phases: list[PhaseTiming]
    first_rack_day: dict[str, float]
    first_training_day: dict[str, float]
    full_size_day: dict[str, float]
    training_after_first_rack: dict[str, float]
    days: np.ndarray = field(repr=False)
    racks_online: dict[str, np.ndarray] = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def p50(self) -> dict[str, float]:
        return {
            "first_rack": self.first_rack_day["p50"],
            "first_training": self.first_training_day["p50"],
            "full_size": self.full_size_day["p50"],
        }

    def racks_at(self, day: float | np.ndarray, quantile: str = "p50") -> np.ndarray:
        """Racks online on a day (interpolated on the daily grid; beyond it: all racks)."""
        curve = self.racks_online[quantile]
        return np.floor(np.interp(day, self.days, curve, right=float(self.racks)))

    def gpus_at(self, day: float | np.ndarray, quantile: str = "p50", training: bool = True) -> np.ndarray:
        """GPUs online on a day; with ``training`` only from the first training day, in whole domains."""
        racks = self.racks_at(day, quantile)
        gpus = np.minimum(racks * self.gpus_per_rack, self.num_gpus)
        gpus = gpus // self.domain_gpus * self.domain_gpus
        if training:
            start = self.first_training_day[quantile]
            gpus = np.where(np.asarray(day) >= start, gpus, 0)
        return gpus.astype(np.int64)

    def summary(self) -> dict[str, Any]:
        """Plain data (no arrays beyond a coarse racks-online curve) for reports and JSON."""
        step = max(1, len(self.days) // 40)
        return {
            "profile": self.profile,
            "cluster": self.cluster,
            "num_gpus": self.num_gpus,
            "racks": self.racks,
            "trials": self.trials,
            "seed": self.seed,
            "phases": [p.__dict__ for p in self.phases],
            "first_rack_day": self.first_rack_day,
            "first_training_day": self.first_training_day,
            "full_size_day": self.full_size_day,
            "training_after_first_rack": self.training_after_first_rack,
            "racks_online_p50": {int(d): int(r) for d, r in
                                 zip(self.days[::step], self.racks_online["p50"][::step], strict=True)},
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- profiles


def profiles() -> list[str]:
    return [k for k, v in catalog.table("build").items() if "phases" in v]


@cache
def get_profile(pid: str) -> Profile:
    """A build profile from catalog/build.yaml; unknown names raise a SpecError."""
    table = catalog.table("build")
    names = profiles()
    if pid not in names:
        raise SpecError("build_profile", f"unknown build profile {pid!r}", names, closest(pid, names))
    raw = table[pid]

    def tri(key: str) -> Tri:
        lo, mode, hi = (float(x) for x in raw[key])
        return Tri(lo, mode, hi)

    phases = []
    for name, body in raw["phases"].items():
        lo, mode, hi = (float(x) for x in body["days"])
        phases.append(Phase(name, tuple(body.get("after", [])), Tri(lo, mode, hi), str(body.get("note", ""))))
    return Profile(
        id=pid,
        name=str(raw.get("name", pid)),
        phases=tuple(_topological(phases)),
        racks_after=tuple(raw["racks_after"]),
        racks_per_day=tri("racks_per_day"),
        burn_in_days=tri("burn_in_days"),
        integration_days=tri("integration_days"),
        partial_start_frac=float(raw["partial_start_frac"]),
        source=str(raw.get("source", "")),
    )


def reference() -> dict[str, Any]:
    """The published figures the profiles are calibrated against (122 days, 19 days, 3+1 years)."""
    return catalog.table("build")["reference"]


def _topological(phases: list[Phase]) -> list[Phase]:
    by_name = {p.name: p for p in phases}
    out: list[Phase] = []
    seen: set[str] = set()

    def visit(p: Phase, stack: tuple[str, ...]) -> None:
        if p.name in seen:
            return
        if p.name in stack:
            raise SpecError("build.phases", f"dependency cycle through {p.name!r}")
        for dep in p.after:
            if dep not in by_name:
                raise SpecError(f"build.phases.{p.name}.after", f"unknown phase {dep!r}", list(by_name))
            visit(by_name[dep], (*stack, p.name))
        seen.add(p.name)
        out.append(p)

    for p in phases:
        visit(p, ())
    return out


# --------------------------------------------------------------------------- simulation


def bringup(
    scenario_or_cluster: Scenario | Cluster,
    profile: str | Profile | None = None,
    seed: int = 0,
    trials: int = DEFAULT_TRIALS,
    *,
    racks_per_day: float | None = None,
) -> BringUp:
    """Monte Carlo bring-up schedule of a cluster.

    ``profile`` defaults to the scenario's ``policies.build_profile`` (else ``colossus-fast``);
    ``racks_per_day`` replaces the profile's delivery rate distribution by a fixed rate.
    """
    if isinstance(scenario_or_cluster, Scenario):
        cluster = scenario_or_cluster.cluster
        pid = scenario_or_cluster.policies.build_profile
    else:
        cluster, pid = scenario_or_cluster, DEFAULT_PROFILE
    prof = profile if isinstance(profile, Profile) else get_profile(profile or pid)
    if trials < 1:
        raise SpecError("trials", f"must be at least 1, got {trials}")
    if racks_per_day is not None and not (MIN_RACKS_PER_DAY <= racks_per_day <= MAX_RACKS_PER_DAY):
        raise SpecError("racks_per_day", f"must be a finite number from {MIN_RACKS_PER_DAY:g} to "
                                         f"{MAX_RACKS_PER_DAY:g} racks a day (got {racks_per_day:.4g})")
    if trials > MAX_BUILD_TRIALS:
        raise SpecError("trials", f"must be at most {MAX_BUILD_TRIALS:,} (got {trials:,})")
    rng = np.random.default_rng(seed)

    # phases: start when all predecessors end (finish-to-start)
    start: dict[str, np.ndarray] = {}
    end: dict[str, np.ndarray] = {}
    zero = np.zeros(trials)
    for ph in prof.phases:
        s = np.max([end[d] for d in ph.after], axis=0) if ph.after else zero
        start[ph.name] = s
        end[ph.name] = s + ph.days.sample(rng, trials)
    missing = [n for n in prof.racks_after if n not in end]
    if missing:
        raise SpecError("build.racks_after", f"unknown phase {missing[0]!r}", list(end))
    first_rack = np.max([end[n] for n in prof.racks_after], axis=0) if prof.racks_after else zero

    racks = cluster.num_racks
    rate = np.full(trials, float(racks_per_day)) if racks_per_day else prof.racks_per_day.sample(rng, trials)
    burn = prof.burn_in_days.sample(rng, trials)
    integ = prof.integration_days.sample(rng, trials)
    threshold = max(1, int(np.ceil(prof.partial_start_frac * racks)))
    all_online = first_rack + burn + racks / rate
    training = first_rack + np.maximum(integ, burn + threshold / rate)
    full = np.maximum(all_online, training)

    last = float(np.quantile(full, 0.99))
    if not last <= MAX_BUILD_DAYS:  # bounds the day axis (trials x days arrays) before it is built
        raise SpecError("cluster.num_gpus", f"{racks:,} racks take ~{last:,.4g} days to bring up (p99), over the "
                                            f"{MAX_BUILD_DAYS:,} days the bring-up model spans; build a smaller cluster")
    horizon = int(np.ceil(last)) + 1
    days = np.arange(horizon + 1, dtype=float)
    online = np.clip(np.floor((days[None, :] - (first_rack + burn)[:, None]) * rate[:, None]), 0, racks)
    # p90 of the *schedule* is the slow case: fewer racks online, the 10th percentile of the count
    curves = {f"p{round(q * 100)}": np.quantile(online, 1 - q, axis=0) for q in _QUANTILES}
    phases = [
        PhaseTiming(ph.name, ph.after, _q(start[ph.name], 0.5), _q(end[ph.name], 0.5), _q(end[ph.name], 0.9))
        for ph in prof.phases
    ]
    notes = []
    if racks_per_day:
        notes.append(f"racks_per_day fixed at {racks_per_day:g} (profile range {prof.racks_per_day})")
    return BringUp(
        profile=prof.id,
        cluster=cluster.id,
        num_gpus=cluster.num_gpus,
        racks=racks,
        gpus_per_rack=cluster.scale_up.gpus_per_rack,
        domain_gpus=cluster.domain_size,
        trials=trials,
        seed=seed,
        phases=phases,
        first_rack_day=_pq(first_rack),
        first_training_day=_pq(training),
        full_size_day=_pq(full),
        training_after_first_rack=_pq(training - first_rack),
        days=days,
        racks_online=curves,
        notes=notes,
    )


def _q(x: np.ndarray, q: float) -> float:
    return round(float(np.quantile(x, q)), 1)


def _pq(x: np.ndarray) -> dict[str, float]:
    return {"p10": _q(x, 0.1), "p50": _q(x, 0.5), "p90": _q(x, 0.9), "mean": round(float(x.mean()), 1)}
