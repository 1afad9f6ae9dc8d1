"""Find the fastest parallel plans for a job on a cluster (`gigafactory plan`).

Every combination of tp, pp, vpp, cp, ep, dp, micro-batch, recompute and ZeRO stage is built as
numpy arrays (a cartesian grid: tp, pp, cp over the divisors of the GPU count, dp over the divisors
of the global batch; a plan may leave GPUs idle when the counts do not factor), checked against the rules of
:mod:`gigafactory.perf.rules` and costed by :func:`gigafactory.perf.batch.evaluate_batch` in one
vectorised pass; plans that do not fit HBM are rejected with that reason.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InfeasiblePlan, SpecError
from ..specs import Cluster, Job, Plan
from .batch import FIELDS, RECOMPUTE, evaluate_batch
from .efficiency import Calibration
from .params import arch
from .rules import OOM, REASONS, reject_codes
from .step import StepResult, result_at

MBS = (1, 2, 4, 8, 16)
VPP = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)
ZEROS = (0, 1, 2, 3)
CONSTRAINTS = ("tp", "pp", "vpp", "cp", "ep", "dp", "mbs", "recompute", "zero", "sequence_parallel",
               "tp_comm_overlap", "tp_cross_domain", "max_tp", "flash")


@dataclass(frozen=True)
class PlanSearch:
    best: StepResult
    top: list[StepResult]
    configs_evaluated: int
    rejected: dict[str, int]
    search_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": self.best.to_dict(),
            "top": [r.to_dict() for r in self.top],
            "configs_evaluated": self.configs_evaluated,
            "rejected": self.rejected,
            "search_seconds": self.search_seconds,
        }


def _divisors(n: int) -> np.ndarray:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return np.asarray(sorted(set(small + [n // d for d in small])), dtype=np.int64)


def candidates(job: Job, cluster: Cluster, **con: Any) -> dict[str, np.ndarray]:
    """The cartesian grid of plans (columns of equal length), before any rule is applied."""
    bad = [k for k in con if k not in CONSTRAINTS]
    if bad:
        raise SpecError(bad[0], "unknown plan constraint", CONSTRAINTS)
    a = arch(job.model)
    N = cluster.num_gpus
    div = _divisors(N)
    max_tp = con.get("max_tp") or (N if con.get("tp_cross_domain") else cluster.domain_size)
    axes: dict[str, np.ndarray] = {
        "tp": div[div <= max_tp],
        "pp": div[div <= a.layers],
        "vpp": np.asarray(VPP, dtype=np.int64),
        "cp": div[(div <= 64) & ((div & (div - 1)) == 0)],
        "dp": _divisors(job.global_batch),
        "ep": _divisors(a.experts) if a.moe_layers else np.asarray([1], dtype=np.int64),
        "mbs": np.asarray(MBS, dtype=np.int64),
        "rc": np.arange(3, dtype=np.int64),
        "zero": np.asarray(ZEROS, dtype=np.int64),
    }
    for k in ("tp", "pp", "vpp", "cp", "ep", "dp", "mbs", "zero"):
        if con.get(k) is not None:
            axes[k] = np.asarray([int(con[k])], dtype=np.int64)
    if con.get("recompute") is not None:
        if con["recompute"] not in RECOMPUTE:
            raise SpecError("recompute", f"unknown recompute {con['recompute']!r}", RECOMPUTE)
        axes["rc"] = np.asarray([RECOMPUTE.index(con["recompute"])], dtype=np.int64)
    grids = np.meshgrid(*axes.values(), indexing="ij")
    P = {k: g.ravel() for k, g in zip(axes, grids, strict=True)}
    n = P["tp"].size
    P["sp"] = np.full(n, int(con.get("sequence_parallel", True)), dtype=np.int64)
    P["tpo"] = np.full(n, int(con.get("tp_comm_overlap", False)), dtype=np.int64)
    return P


def plan(job: Job, cluster: Cluster, top: int = 5, calib: Calibration | None = None, **constraints: Any) -> PlanSearch:
    """The `top` fastest plans that fit, with how many were evaluated and why the rest were rejected."""
    t0 = time.perf_counter()
    P = candidates(job, cluster, **constraints)
    n = P["tp"].size
    codes = reject_codes(job, cluster, P, bool(constraints.get("tp_cross_domain", False)))
    ok = np.flatnonzero(codes == 0)
    V = {k: P[k][ok] for k in FIELDS}
    out = evaluate_batch(job, cluster, V, calib=calib, flash=bool(constraints.get("flash", True)))
    fits = out["mem_total"] <= out["mem_capacity"]
    codes[ok[~fits]] = OOM
    rejected = {REASONS[int(c)]: int(k) for c, k in sorted(Counter(codes[codes > 0].tolist()).items())}
    good = np.flatnonzero(fits)
    if good.size == 0:
        top_reasons = sorted(rejected.items(), key=lambda kv: -kv[1])[:3]
        detail = "; ".join(f"{r}: {k:,}" for r, k in top_reasons)
        if ok.size:
            i = int(np.argmin(out["mem_total"]))
            detail += f"; the smallest plan needs {out['mem_total'][i]:.0f} of {out['mem_capacity'][i]:.0f} GB per GPU"
        raise InfeasiblePlan(f"no plan of {n:,} fits this job on {cluster.num_gpus:,} x {cluster.gpu.id}", detail)
    order = good[np.argsort(out["step_s"][good], kind="stable")][: max(1, top)]
    results = [result_at(out, int(i), _plan_at(V, int(i))) for i in order]
    dt = time.perf_counter() - t0
    return PlanSearch(best=results[0], top=results, configs_evaluated=int(n), rejected=rejected, search_seconds=dt)


def _plan_at(V: dict[str, np.ndarray], i: int) -> Plan:
    return Plan(
        tp=int(V["tp"][i]), pp=int(V["pp"][i]), vpp=int(V["vpp"][i]), cp=int(V["cp"][i]), ep=int(V["ep"][i]),
        dp=int(V["dp"][i]), mbs=int(V["mbs"][i]), recompute=RECOMPUTE[int(V["rc"][i])], zero=int(V["zero"][i]),
        sequence_parallel=bool(V["sp"][i]), tp_comm_overlap=bool(V["tpo"][i]),
    )
