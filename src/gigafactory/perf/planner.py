"""Find the fastest parallel plans for a job on a cluster (`gigafactory plan`).

The search space does not depend on the GPU count (only the rule ``tp*pp*cp*dp <= GPUs`` does), so
a plan found on a smaller cluster is always a candidate on a larger one and the best throughput is
monotone in the cluster size; plans may leave GPUs idle. Axes: tp over divisors of the heads and
powers of two up to the NVLink domain, pp over the fewest stages for each layers-per-stage count
(``ceil(L / ceil(L / p))``: a deeper pipeline with as many layers per stage only adds bubble and
GPUs), cp over powers of two, dp over divisors of the global batch, ep over divisors of the experts,
then micro-batch, vpp, recompute and ZeRO stage.

1. The structural grid (tp, pp, cp, dp, ep, mbs, vpp) is built stage by stage, each stage checked
   against :mod:`gigafactory.perf.rules` before the next axis multiplies it (rejections are counted
   as plans of the full cartesian grid, by reason).
2. A lower bound of every plan's step time: all its matmul FLOPs (6 x active matmul parameters per
   token) spread over the GPUs it uses at the best GEMM efficiency the model allows. Nothing in
   :mod:`gigafactory.perf.batch` is faster than that.
3. Plans are costed by :func:`gigafactory.perf.batch.evaluate_batch` in chunks, lowest bound
   first; once the next bound exceeds the `top`-th best step time found, the rest cannot enter the
   top list and are counted as pruned. The result is exactly the exhaustive search's.

Results are memoised on (job, cluster, top, constraints) when the default calibration is used.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InfeasiblePlan, SpecError
from ..specs import Cluster, Job
from .batch import RECOMPUTE, evaluate_batch, step_lower_bound
from .columns import choices, code, default_columns, plan_at
from .efficiency import Calibration
from .frameworks import capabilities, framework_reject
from .params import arch
from .rules import NOT_SEARCHED, OOM, PRUNED, REASONS, Reason, reject_codes
from .step import StepResult, result_at

MBS = (1, 2, 4, 8, 16)
VPP = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)
CP_MAX = 64
CHUNK = 1 << 16  # plans costed per vectorised pass
LATE_AXES = ("etp", "schedule")  # added after vpp, each rule-checked (and any fixed choice axis)
ETP = (1, 2, 4, 8)
# what each stack runs (schedules, ZeRO stages, CP exchanges, MoE dispatchers) comes from one table,
# perf/frameworks.py CAPABILITIES, sourced from the frameworks' own argument checks
#: options that change one term each: the engine picks the fastest per plan unless a constraint fixes one
ENGINE_CHOSEN = ("cp_comm_type", "moe_dispatcher")
CHOICE_AXES = ("schedule", *ENGINE_CHOSEN)  # Literal-valued axes (column codes)
CONSTRAINTS = ("tp", "pp", "vpp", "cp", "ep", "dp", "mbs", "recompute", "zero", "sequence_parallel",
               "tp_comm_overlap", "ep_comm_overlap", "tp_cross_domain", "max_tp", "flash", "etp", "schedule",
               "cp_comm_type", "moe_dispatcher")


@dataclass(frozen=True)
class PlanSearch:
    best: StepResult
    top: list[StepResult]
    configs_evaluated: int  # plans of the search space: ruled out by a rule, pruned by the bound, or costed
    rejected: dict[str, int]
    search_seconds: float
    costed: int = 0  # plans costed in full by the step model

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": self.best.to_dict(),
            "top": [r.to_dict() for r in self.top],
            "configs_evaluated": self.configs_evaluated,
            "costed": self.costed,
            "rejected": self.rejected,
            "search_seconds": self.search_seconds,
        }


def _divisors(n: int) -> np.ndarray:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return np.asarray(sorted(set(small + [n // d for d in small])), dtype=np.int64)


def _i64(xs) -> np.ndarray:
    return np.asarray(sorted(set(int(x) for x in xs)), dtype=np.int64)


def axes(job: Job, cluster: Cluster, **con: Any) -> dict[str, np.ndarray]:
    """The values searched on each axis (independent of the GPU count)."""
    bad = [k for k in con if k not in CONSTRAINTS]
    if bad:
        raise SpecError(bad[0], "unknown plan constraint", CONSTRAINTS)
    a = arch(job.model)
    max_tp = int(con.get("max_tp") or (a.heads if con.get("tp_cross_domain") else cluster.domain_size))
    pow2 = [1 << i for i in range(0, 31) if (1 << i) <= max_tp]
    L = a.layers
    ax: dict[str, np.ndarray] = {
        "tp": _i64([d for d in _divisors(a.heads) if d <= max_tp] + pow2),
        "pp": _i64(-(-L // k) for k in range(1, L + 1)),
        "cp": _i64(1 << i for i in range(CP_MAX.bit_length())),
        "dp": _divisors(job.global_batch),
        "ep": _divisors(a.experts) if a.moe_layers else np.asarray([1], dtype=np.int64),
        "mbs": np.asarray(MBS, dtype=np.int64),
        "vpp": np.asarray(VPP, dtype=np.int64),
        "recompute": np.arange(len(RECOMPUTE), dtype=np.int64),
        "zero": np.asarray(capabilities(job.framework).zero, dtype=np.int64),
        "etp": np.asarray([e for e in ETP if e <= cluster.domain_size] if a.moe_layers else [1], dtype=np.int64),
        "schedule": np.asarray([code("schedule", x) for x in capabilities(job.framework).schedules], dtype=np.int64),
    }
    for k in ("tp", "pp", "vpp", "cp", "ep", "dp", "mbs", "zero", "etp"):
        if con.get(k) is not None:
            ax[k] = np.asarray([int(con[k])], dtype=np.int64)
    for k in CHOICE_AXES:  # cp_comm_type and moe_dispatcher are chosen inside the engine unless fixed
        if con.get(k) is not None:
            opts = choices(k)
            if con[k] not in opts:
                raise SpecError(k, f"unknown {k} {con[k]!r}", opts)
            ax[k] = np.asarray([code(k, con[k])], dtype=np.int64)
    if con.get("recompute") is not None:
        if con["recompute"] not in RECOMPUTE:
            raise SpecError("recompute", f"unknown recompute {con['recompute']!r}", RECOMPUTE)
        ax["recompute"] = np.asarray([RECOMPUTE.index(con["recompute"])], dtype=np.int64)
    return ax


def structural(job: Job, cluster: Cluster, ax: dict[str, np.ndarray], tp_cross_domain: bool = False
               ) -> tuple[dict[str, np.ndarray], Counter]:
    """Valid (tp, pp, cp, dp, ep, mbs, vpp) combinations, and the rejected plans of the full grid by reason.

    Axes are added one at a time and the rules re-checked, so the grid never grows beyond the
    survivors times one axis. Not-yet-added axes hold a neutral value (1) that no rule rejects.
    """
    per_plan = ax["recompute"].size * ax["zero"].size
    tail = ("ep", "mbs", "vpp", *LATE_AXES, *(k for k in ENGINE_CHOSEN if k in ax))
    later = {k: int(np.prod([ax[j].size for j in tail[i + 1:]], dtype=np.int64)) for i, k in enumerate(tail)}
    g = np.meshgrid(ax["tp"], ax["pp"], ax["cp"], ax["dp"], indexing="ij")
    S = {k: v.ravel() for k, v in zip(("tp", "pp", "cp", "dp"), g, strict=True)}
    rejected: Counter = Counter()

    def check(S: dict[str, np.ndarray], weight: int) -> dict[str, np.ndarray]:
        one = np.ones(1, dtype=np.int64)
        full = {k: S.get(k, one) for k in ("tp", "pp", "vpp", "cp", "ep", "dp", "mbs")}
        full.update({k: S[k] for k in (*LATE_AXES, *ENGINE_CHOSEN) if k in S})  # absent: defaults, never rejected
        reasons = reject_codes(job, cluster, full, tp_cross_domain, framework=True)
        for c, k in enumerate(np.bincount(reasons, minlength=len(REASONS) + 1)):
            if c and k:
                rejected[c] += int(k) * weight * per_plan
        ok = reasons == 0
        return {k: v[ok] for k, v in S.items()}

    S = check(S, ax["ep"].size * later["ep"])
    for name in tail:
        n, vals = S["tp"].size, ax[name]
        S = {k: np.repeat(v, vals.size) for k, v in S.items()}
        S[name] = np.tile(vals, n)
        S = check(S, later[name])
        if name == "etp" and vals.size > 1:  # search ETP 1 or = TP (Megatron's usual pair); --etp forces others
            keep = (S["etp"] == 1) | (S["etp"] == S["tp"])
            rejected[NOT_SEARCHED] += int((~keep).sum()) * later[name] * per_plan
            S = {k: v[keep] for k, v in S.items()}
    return S, rejected


def plan(job: Job, cluster: Cluster, top: int = 5, calib: Calibration | None = None, cache: bool = True,
         **constraints: Any) -> PlanSearch:
    """The `top` fastest plans that fit, with how many were considered and why the rest were rejected."""
    if cache and calib is None:
        try:
            key = (job.model_dump_json(), cluster.model_dump_json(), int(top), tuple(sorted(constraints.items())))
            hash(key)
        except TypeError:
            return _search(job, cluster, top, calib, constraints)
        res = _CACHE.pop(key, None) or _search(job, cluster, top, None, constraints)
        _CACHE[key] = res  # most recently used last
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        return dataclasses.replace(res, top=list(res.top))
    return _search(job, cluster, top, calib, constraints)


_CACHE: dict[tuple, PlanSearch] = {}
CACHE_SIZE = 256


def cache_clear() -> None:
    """Forget memoised searches (e.g. after changing the catalog in a running process)."""
    _CACHE.clear()


def _search(job: Job, cluster: Cluster, top: int, calib: Calibration | None, con: dict[str, Any]) -> PlanSearch:
    t0 = time.perf_counter()
    top = max(1, int(top))
    ax = axes(job, cluster, **con)
    cross = bool(con.get("tp_cross_domain", False))
    flash = bool(con.get("flash", True))
    S, rejected = structural(job, cluster, ax, cross)
    choose = tuple(k for k in ENGINE_CHOSEN if k not in ax)
    n_rz = ax["recompute"].size * ax["zero"].size
    n_space = int(np.prod([v.size for v in ax.values()], dtype=np.int64))
    order = np.argsort(step_lower_bound(job, cluster, S, calib, flash), kind="stable") if S["tp"].size else np.zeros(0, int)
    lb = step_lower_bound(job, cluster, {k: v[order] for k, v in S.items()}, calib, flash) if order.size else np.zeros(0)
    S = {k: v[order] for k, v in S.items()}
    rz_rc = np.repeat(ax["recompute"], ax["zero"].size)
    rz_zero = np.tile(ax["zero"], ax["recompute"].size)
    best_steps = np.full(0, np.inf)
    kept: list[tuple[float, dict[str, Any], dict[str, np.ndarray], int]] = []
    costed = oom = 0
    least_mem = (np.inf, 0.0)
    per_chunk = max(1, CHUNK // n_rz)
    i = 0
    while i < lb.size:
        bar = best_steps[top - 1] if best_steps.size >= top else np.inf
        if lb[i] > bar:
            break
        j = min(lb.size, i + per_chunk)
        j = i + int(np.searchsorted(lb[i:j], bar, side="right"))
        V = {k: np.repeat(v[i:j], n_rz) for k, v in S.items()}
        V["recompute"], V["zero"] = np.tile(rz_rc, j - i), np.tile(rz_zero, j - i)
        n = V["tp"].size
        V = default_columns(n, **V, **{k: np.full(n, int(con[k]), dtype=np.int64) for k in (
            "sequence_parallel", "tp_comm_overlap", "ep_comm_overlap") if k in con})
        fw = framework_reject(job, {k: v for k, v in V.items() if k not in choose})  # recompute, ZeRO, ...
        if fw.any():
            rejected[Reason.FRAMEWORK] += int(fw.sum())
            V, n = {k: v[~fw] for k, v in V.items()}, int((~fw).sum())
            if not n:
                i = j
                continue
        out = evaluate_batch(job, cluster, V, calib=calib, flash=flash, choose=choose,
                             dispatchers=capabilities(job.framework).dispatchers,
                             cp_types=capabilities(job.framework).cp_comm_types)
        V.update({k: out[k] for k in choose})
        # an option the engine chose that the framework does not have (torchtitan's CP is its K/V all-gather)
        fw = framework_reject(job, V) if choose else np.zeros(n, dtype=bool)
        rejected[Reason.FRAMEWORK] += int(fw.sum())
        costed += n - int(fw.sum())  # each plan counted once: ruled out, pruned or costed
        fits = out["mem_total"] <= out["mem_capacity"]
        oom += int((~fits & ~fw).sum())
        fits &= ~fw
        k_min = int(np.argmin(out["mem_total"]))
        if out["mem_total"][k_min] < least_mem[0]:
            least_mem = (float(out["mem_total"][k_min]), float(out["mem_capacity"][k_min]))
        good = np.flatnonzero(fits)
        if good.size:
            sel = good[np.argsort(out["step_s"][good], kind="stable")[:top]]
            kept += [(float(out["step_s"][s]), out, V, int(s)) for s in sel]
            kept.sort(key=lambda r: r[0])
            kept = kept[:top]
            best_steps = np.asarray([r[0] for r in kept])
        i = j
    pruned = (lb.size - i) * n_rz
    if oom:
        rejected[OOM] += oom
    if pruned:
        rejected[PRUNED] += pruned
    rej = {REASONS[c]: int(k) for c, k in sorted(rejected.items())}
    if not kept:
        top_reasons = sorted(rej.items(), key=lambda kv: -kv[1])[:3]
        detail = "; ".join(f"{r}: {k:,}" for r, k in top_reasons)
        if np.isfinite(least_mem[0]):
            detail += f"; the smallest plan needs {least_mem[0]:.0f} of {least_mem[1]:.0f} GB per GPU"
        raise InfeasiblePlan(f"no plan of {n_space:,} fits this job on {cluster.num_gpus:,} x {cluster.gpu.id}", detail)
    results = [result_at(out, s, plan_at(V, s)) for _, out, V, s in kept]
    dt = time.perf_counter() - t0
    return PlanSearch(best=results[0], top=results, configs_evaluated=n_space, rejected=rej, search_seconds=dt,
                      costed=costed)

