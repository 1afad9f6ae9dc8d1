"""One training step of one plan: time, breakdown, throughput, memory.

    from gigafactory.perf.step import evaluate
    r = evaluate(job, cluster, Plan(tp=8, pp=8, dp=16, mbs=1, recompute="selective"))
    r.step_s, r.breakdown, r.mfu, r.memory

The numbers come from the vectorised model in :mod:`gigafactory.perf.batch` evaluated on a batch
of one, so the planner and this function agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InfeasiblePlan
from ..specs import Cluster, Job, Plan
from .batch import BREAKDOWN, TERMS, evaluate_batch
from .columns import plan_arrays
from .efficiency import Calibration
from .rules import OOM, REASONS, reject_codes

MEMORY_KEYS = ("weights", "grads", "optimizer", "activations", "total", "capacity")


@dataclass(frozen=True)
class StepResult:
    step_s: float
    breakdown: dict[str, float]  # exposed seconds by power phase: compute, host, tp, cp, ep, pp, dp, bubble, optimizer
    tokens_per_s: float
    tokens_per_s_per_gpu: float
    model_tflops_per_gpu: float
    mfu: float
    hfu: float
    memory: dict[str, float]  # GB: weights, grads, optimizer, activations, total, capacity
    plan: Plan
    microbatches: int = 1
    terms: dict[str, float] = field(default_factory=dict)  # exposed seconds by named term (batch.TERMS)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.model_dump(exclude={"source", "sources", "note"}),
            "step_s": self.step_s,
            "breakdown": self.breakdown,
            "terms_s": self.terms,
            "tokens_per_s": self.tokens_per_s,
            "tokens_per_s_per_gpu": self.tokens_per_s_per_gpu,
            "model_tflops_per_gpu": self.model_tflops_per_gpu,
            "mfu": self.mfu,
            "hfu": self.hfu,
            "memory_gb": self.memory,
            "microbatches": self.microbatches,
        }


def result_at(out: dict[str, np.ndarray], i: int, plan: Plan) -> StepResult:
    """The i-th plan of a batch evaluation as a StepResult."""
    return StepResult(
        step_s=float(out["step_s"][i]),
        breakdown={k: float(out[k][i]) for k in BREAKDOWN},
        tokens_per_s=float(out["tokens_per_s"][i]),
        tokens_per_s_per_gpu=float(out["tokens_per_s_per_gpu"][i]),
        model_tflops_per_gpu=float(out["model_tflops_per_gpu"][i]),
        mfu=float(out["mfu"][i]),
        hfu=float(out["hfu"][i]),
        memory={k: float(out[f"mem_{k}"][i]) for k in MEMORY_KEYS},
        plan=plan,
        microbatches=int(round(float(out["microbatches"][i]))),
        terms={k: float(out[k][i]) for k in TERMS},
    )


def evaluate(
    job: Job,
    cluster: Cluster,
    plan: Plan,
    *,
    calib: Calibration | None = None,
    flash: bool = True,
    tp_cross_domain: bool = False,
    check_memory: bool = True,
) -> StepResult:
    """Predict one optimizer step of `job` on `cluster` under `plan`; InfeasiblePlan if it cannot run."""
    P = plan_arrays([plan])
    code = int(reject_codes(job, cluster, P, tp_cross_domain)[0])
    if code:
        raise InfeasiblePlan(REASONS[code], _detail(job, cluster, plan, code))
    out = evaluate_batch(job, cluster, P, calib=calib, flash=flash)
    r = result_at(out, 0, plan)
    if check_memory and r.memory["total"] > r.memory["capacity"]:
        mem = ", ".join(f"{k} {r.memory[k]:.1f}" for k in ("weights", "grads", "optimizer", "activations"))
        raise InfeasiblePlan(
            REASONS[OOM],
            f"needs {r.memory['total']:.1f} GB of {r.memory['capacity']:.0f} GB per GPU ({mem} GB)",
        )
    return r


def evaluate_plans(job: Job, cluster: Cluster, plans: list[Plan], *, calib: Calibration | None = None
                   ) -> list[StepResult | None]:
    """:func:`evaluate` of many plans in one vectorised pass: each plan's StepResult, or None where it
    cannot run (a rule, or memory)."""
    if not plans:
        return []
    P = plan_arrays(plans)
    ok = reject_codes(job, cluster, P) == 0
    out = evaluate_batch(job, cluster, P, calib=calib)
    ok &= out["mem_total"] <= out["mem_capacity"]
    return [result_at(out, i, p) if ok[i] else None for i, p in enumerate(plans)]


def _detail(job: Job, cluster: Cluster, plan: Plan, code: int) -> str:
    if code == 1:
        return f"tp*pp*cp*dp = {plan.gpus} but the cluster has only {cluster.num_gpus} GPUs"
    if code == 3:
        return f"tp={plan.tp} > {cluster.domain_size} GPUs per NVLink domain"
    if code == 4:
        return f"global batch {job.global_batch} vs dp*mbs = {plan.dp * plan.mbs}"
    if code == 2:
        return f"heads={job.model.heads}, kv_heads={job.model.kv_heads}, tp={plan.tp}"
    return f"{plan.model_dump(exclude={'source', 'sources', 'note'})}"
