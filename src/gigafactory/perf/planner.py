"""Find the fastest parallel plans for a job on a cluster (`gigafactory plan`).

The search space does not depend on the GPU count (only the rule ``tp*pp*cp*dp <= GPUs`` does), so
a plan found on a smaller cluster is always a candidate on a larger one and the best throughput is
monotone in the cluster size; plans may leave GPUs idle. Axes: tp over divisors of the heads and
powers of two up to the NVLink domain, pp over the fewest stages for each layers-per-stage count
(``ceil(L / ceil(L / p))``: a deeper pipeline with as many layers per stage only adds bubble and
GPUs), cp over powers of two, dp over divisors of the global batch, ep over divisors of the experts,
then micro-batch, vpp, recompute and ZeRO stage.

1. The structural grid (tp, pp, cp, dp, ep, mbs, vpp, etp, schedule) is built axis by axis, each new
   axis broadcast against the survivors so far and checked against :mod:`gigafactory.perf.rules`
   (rejections are counted as plans of the full cartesian grid, by reason). What the rules allow
   apart from the GPU count is memoised per model and NVLink domain (:func:`allowed`); the GPU count
   is the last rule.
2. A lower bound of every plan's step time: its matmul FLOPs (6 x active matmul parameters per
   token; the routed experts' at the grouped-GEMM rate times the load imbalance) and attention FLOPs
   spread over the GPUs it uses at the best rates the model allows, times the 1F1B bubble share.
   Nothing in :mod:`gigafactory.perf.batch` is faster than that.
3. Plans are costed by :func:`gigafactory.perf.batch.evaluate_batch` in chunks, lowest bound
   first, each structural row under all its (recompute, ZeRO) pairs as one 2-D broadcast; once the
   next bound exceeds the `top`-th best step time found, the rest cannot enter the top list and are
   counted as pruned. Ties go to the plan with less memory, so the result is exactly the exhaustive
   search's (``prune=False``). The chunks are costed for ranking only (``terms=False``: step time
   and memory); the `top` plans kept are evaluated again with every term for the report.

Results are memoised on (job, cluster, top, constraints) when the default calibration is used.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InfeasiblePlan, SpecError
from ..specs import Cluster, Job
from .batch import RECOMPUTE, evaluate_batch, step_lower_bound
from .columns import choices, code, default_columns, plan_at
from .efficiency import Calibration
from .frameworks import capabilities, check_routing, dispatchers_for, framework_reject
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
               "cp_comm_type", "moe_dispatcher", "cuda_graphs", "cuda_graph_scope", "offload_layers")


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
    # cp_comm_type and moe_dispatcher are chosen inside the engine unless fixed; the graph scope is a
    # fixed column (_search), checked here with them
    for k in (*CHOICE_AXES, "cuda_graph_scope"):
        if con.get(k) is not None:
            opts = choices(k)
            if con[k] not in opts:
                raise SpecError(k, f"unknown {k} {con[k]!r}", opts)
            if k in CHOICE_AXES:
                ax[k] = np.asarray([code(k, con[k])], dtype=np.int64)
    if con.get("recompute") is not None:
        if con["recompute"] not in RECOMPUTE:
            raise SpecError("recompute", f"unknown recompute {con['recompute']!r}", RECOMPUTE)
        ax["recompute"] = np.asarray([RECOMPUTE.index(con["recompute"])], dtype=np.int64)
    return ax


def structural(job: Job, cluster: Cluster, ax: dict[str, np.ndarray], tp_cross_domain: bool = False
               ) -> tuple[dict[str, np.ndarray], Counter]:
    """Valid (tp, pp, cp, dp, ep, mbs, vpp, etp, schedule) combinations on `cluster`, and the rejected
    plans of the full grid by reason.

    What the rules allow apart from the GPU count does not depend on the cluster's size
    (:func:`allowed`, memoised); the plans that need more GPUs than the cluster has are the last rule.
    """
    S, rejected = allowed(job, cluster, ax, tp_cross_domain)
    fits = S["tp"] * S["pp"] * S["cp"] * S["dp"] <= cluster.num_gpus
    rejected = rejected.copy()
    if not fits.all():
        rejected[Reason.GPUS] += int((~fits).sum()) * ax["recompute"].size * ax["zero"].size
        S = {k: v[fits] for k, v in S.items()}
    return S, rejected


def allowed(job: Job, cluster: Cluster, ax: dict[str, np.ndarray], tp_cross_domain: bool = False
            ) -> tuple[dict[str, np.ndarray], Counter]:
    """The structural plans every rule but the GPU count allows, and the rest of the grid by reason.

    Those rules read the job and the cluster's NVLink domain size only, so the result is memoised on
    them (a sweep over GPU counts, power caps or fabrics builds it once per model and domain).
    """
    key = (job.model_dump_json(), cluster.domain_size, bool(tp_cross_domain),
           tuple((k, v.tobytes()) for k, v in sorted(ax.items())))
    return _memo(_ALLOWED, ALLOWED_CACHE_SIZE, key, lambda: _allowed(job, cluster, ax, tp_cross_domain))


_ALLOWED: dict[tuple, tuple[dict[str, np.ndarray], Counter]] = {}
ALLOWED_CACHE_SIZE = 4  # each holds up to a few hundred thousand rows of int64 columns


def _allowed(job: Job, cluster: Cluster, ax: dict[str, np.ndarray], tp_cross_domain: bool
             ) -> tuple[dict[str, np.ndarray], Counter]:
    """:func:`allowed`, computed. Axes are added one at a time and the rules re-checked, so the grid
    never grows beyond the survivors times one axis. Not-yet-added axes hold a neutral value (1) that no
    rule rejects."""
    per_plan = ax["recompute"].size * ax["zero"].size
    tail = ("ep", "mbs", "vpp", *LATE_AXES, *(k for k in ENGINE_CHOSEN if k in ax))
    later = {k: int(np.prod([ax[j].size for j in tail[i + 1:]], dtype=np.int64)) for i, k in enumerate(tail)}
    rejected: Counter = Counter()

    def check(S: dict[str, np.ndarray], weight: int) -> dict[str, np.ndarray]:
        """The plans of the grid `S` (columns that broadcast against each other) no rule rejects, as flat columns."""
        one = np.ones(1, dtype=np.int64)
        full = {k: S.get(k, one) for k in ("tp", "pp", "vpp", "cp", "ep", "dp", "mbs")}
        full.update({k: S[k] for k in (*LATE_AXES, *ENGINE_CHOSEN) if k in S})  # absent: defaults, never rejected
        reasons = reject_codes(job, cluster, full, tp_cross_domain, framework=True, gpu_count=False)
        for c, k in enumerate(np.bincount(reasons.ravel(), minlength=len(REASONS) + 1)):
            if c and k:
                rejected[c] += int(k) * weight * per_plan
        at = np.nonzero(reasons == 0)

        def survivors(v: np.ndarray) -> np.ndarray:
            along = [d for d, size in enumerate(v.shape) if size > 1]
            if len(along) == 1:  # a column that varies along one grid axis: index that axis only
                return v.reshape(-1)[at[along[0]]]
            return np.broadcast_to(v, reasons.shape)[at]

        return {k: survivors(v) for k, v in S.items()}

    # the grid is never materialised: each new axis broadcasts against the survivors so far, and only
    # the rules that read it cost a full-size array
    S = check({k: ax[k].reshape([-1 if i == d else 1 for i in range(4)]) for d, k in enumerate(("tp", "pp", "cp", "dp"))},
              ax["ep"].size * later["ep"])
    for name in tail:
        vals = ax[name]
        if name == "etp" and vals.size > 1:  # search ETP 1 or = TP (Megatron's usual pair); --etp forces others
            searched = (vals[None, :] == 1) | (vals[None, :] == S["tp"][:, None])
            rejected[NOT_SEARCHED] += int((~searched).sum()) * later[name] * per_plan
            r, q = np.nonzero(searched)
            S = check({**{k: v[r] for k, v in S.items()}, name: vals[q]}, later[name])
            continue
        S = check({**{k: v[:, None] for k, v in S.items()}, name: vals[None, :]}, later[name])
    for v in S.values():
        v.flags.writeable = False  # shared by every search that hits the memo
    return S, rejected


def plan(job: Job, cluster: Cluster, top: int = 5, calib: Calibration | None = None, cache: bool = True,
         prune: bool = True, **constraints: Any) -> PlanSearch:
    """The `top` fastest plans that fit, with how many were considered and why the rest were rejected.

    ``prune=False`` costs every plan of the search space in full instead of stopping at the lower
    bound: the same top list, slower (a check of the bound, and a measure of the step model's speed)."""
    check_routing(job)  # a routing the framework cannot run is one clear error, not every plan rejected
    if not prune:
        return _search(job, cluster, top, calib, constraints, prune=False)
    if cache and calib is None:
        try:
            key = (job.model_dump_json(), cluster.model_dump_json(), int(top), tuple(sorted(constraints.items())))
            hash(key)
        except TypeError:
            return _search(job, cluster, top, calib, constraints)
        res = _memo(_CACHE, CACHE_SIZE, key, lambda: _search(job, cluster, top, None, constraints))
        return dataclasses.replace(res, top=list(res.top))
    return _search(job, cluster, top, calib, constraints)


_CACHE: dict[tuple, PlanSearch] = {}
CACHE_SIZE = 256


def _memo(cache: dict, size: int, key: tuple, compute: Callable[[], Any]) -> Any:
    """`cache[key]`, computed by `compute()` on a miss; the `size` most recently used entries are kept."""
    hit = cache.pop(key, None) or compute()
    cache[key] = hit  # most recently used last
    while len(cache) > size:
        cache.pop(next(iter(cache)))
    return hit


def cache_clear() -> None:
    """Forget memoised searches (e.g. after changing the catalog in a running process)."""
    _CACHE.clear()
    _ALLOWED.clear()


def _search(job: Job, cluster: Cluster, top: int, calib: Calibration | None, con: dict[str, Any],
            prune: bool = True) -> PlanSearch:
    t0 = time.perf_counter()
    top = max(1, int(top))
    ax = axes(job, cluster, **con)
    cross = bool(con.get("tp_cross_domain", False))
    flash = bool(con.get("flash", True))
    S, rejected = structural(job, cluster, ax, cross)
    choose = tuple(k for k in ENGINE_CHOSEN if k not in ax)
    n_rz = ax["recompute"].size * ax["zero"].size
    n_space = int(np.prod([v.size for v in ax.values()], dtype=np.int64))
    lb = step_lower_bound(job, cluster, S, calib, flash) if S["tp"].size and prune else np.zeros(S["tp"].size)
    order = np.argsort(lb, kind="stable")
    lb = lb[order]
    # each structural row is costed under every (recompute, ZeRO) pair at once: a 2-D grid, rows x
    # pairs, whose shape terms (GEMMs, attention, collectives) numpy evaluates once per row
    rz = {"recompute": np.repeat(ax["recompute"], ax["zero"].size)[None, :],
          "zero": np.tile(ax["zero"], ax["recompute"].size)[None, :]}
    fixed = {k: int(con[k]) for k in ("sequence_parallel", "tp_comm_overlap", "ep_comm_overlap", "cuda_graphs",
                                      "offload_layers") if k in con}
    if "cuda_graph_scope" in con:
        fixed["cuda_graph_scope"] = code("cuda_graph_scope", con["cuda_graph_scope"])
    best_steps = np.full(0, np.inf)
    kept: list[tuple[tuple[float, float], StepResult]] = []  # ((step s, memory GB), result), fastest first
    costed = oom = 0
    least_mem = (np.inf, 0.0)
    per_chunk = max(1, CHUNK // n_rz)
    dispatchers, cp_types = dispatchers_for(job), capabilities(job.framework).cp_comm_types
    i = 0
    while i < lb.size:
        bar = best_steps[top - 1] if best_steps.size >= top else np.inf
        if lb[i] > bar:
            break
        j = min(lb.size, i + per_chunk)
        j = i + int(np.searchsorted(lb[i:j], bar, side="right"))
        shape = (j - i, n_rz)
        V = {k: v[:, None] for k, v in default_columns(j - i, **{k: v[order[i:j]] for k, v in S.items()}, **{
            k: np.full(j - i, x, dtype=np.int64) for k, x in fixed.items()}).items()}
        V.update(rz)
        fw = framework_reject(job, {k: v for k, v in V.items() if k not in choose})  # broadcast to `shape`
        out = evaluate_batch(job, cluster, V, calib=calib, flash=flash, choose=choose,
                             dispatchers=dispatchers, cp_types=cp_types, terms=False)
        V.update({k: out[k] for k in choose})
        # an option the engine chose that the framework does not have (torchtitan's CP is its K/V all-gather)
        if choose:
            fw = fw | framework_reject(job, V)
        n_fw = int(fw.sum())
        rejected[Reason.FRAMEWORK] += n_fw
        costed += fw.size - n_fw  # each plan counted once: ruled out, pruned or costed
        mem_total = np.broadcast_to(out["mem_total"], shape)
        fits = (mem_total <= np.broadcast_to(out["mem_capacity"], shape)) & ~fw
        oom += int((~fits).sum()) - n_fw
        if not fw.all():
            at = np.unravel_index(int(np.argmin(np.where(fw, np.inf, mem_total))), shape)
            if mem_total[at] < least_mem[0]:
                least_mem = (float(mem_total[at]), float(np.broadcast_to(out["mem_capacity"], shape)[at]))
        step = np.broadcast_to(out["step_s"], shape).ravel()
        mem = mem_total.ravel()
        good = np.flatnonzero(fits.ravel())
        if good.size:
            if good.size > top:  # the `top` fastest (and any tied with the last of them)
                good = good[step[good] <= np.partition(step[good], top - 1)[top - 1]]
            for s in good[np.lexsort((mem[good], step[good]))]:  # ties go to the plan with more memory headroom
                key = (float(step[s]), float(mem[s]))
                if len(kept) >= top and key >= kept[-1][0]:
                    break
                bisect.insort(kept, (key, _columns_at(V, shape, *divmod(int(s), n_rz))), key=lambda x: x[0])
                del kept[top:]
            best_steps = np.asarray([x[0][0] for x in kept])
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
    results = [_result(job, cluster, cols, calib, flash) for _, cols in kept]
    dt = time.perf_counter() - t0
    return PlanSearch(best=results[0], top=results, configs_evaluated=n_space, rejected=rej, search_seconds=dt,
                      costed=costed)


def _columns_at(V: dict[str, np.ndarray], shape: tuple[int, int], r: int, q: int) -> dict[str, np.ndarray]:
    """The columns of the plan at row `r`, (recompute, ZeRO) pair `q` of a 2-D batch (chosen options
    included), as one-plan arrays."""
    return {k: np.broadcast_to(x, shape)[r, q:q + 1].copy() for k, x in V.items()}


def _result(job: Job, cluster: Cluster, cols: dict[str, np.ndarray], calib: Calibration | None,
            flash: bool) -> StepResult:
    """A kept plan evaluated again with every term (the search ranks by step and memory alone)."""
    return result_at(evaluate_batch(job, cluster, cols, calib=calib, flash=flash), 0, plan_at(cols, 0))
