"""The planner's search: bound-pruned search equals the exhaustive one, monotone in cluster size, memoised."""

from __future__ import annotations

import numpy as np
import pytest

from gigafactory.perf import batch, planner
from gigafactory.perf.columns import default_columns
from gigafactory.perf.planner import plan
from gigafactory.perf.validate import row_cluster
from gigafactory.resolve import model
from gigafactory.specs import Job


@pytest.fixture(scope="module")
def job8() -> Job:
    return Job(model=model("llama3-8b"), tokens=1e12, seq_len=4096, global_batch=96, precision="bf16")


def test_best_throughput_monotone_in_cluster_size(job8: Job) -> None:
    # the search space does not depend on the GPU count, so more GPUs never give a worse best plan
    # (here 24 and 40 do not factor like 16 or 64: the planner may leave GPUs idle)
    rates = [plan(job8, row_cluster("h100-sxm", n), top=1).best.tokens_per_s for n in (8, 16, 24, 40, 64, 96)]
    assert all(b >= a * (1 - 1e-12) for a, b in zip(rates, rates[1:], strict=False)), rates
    assert rates[-1] > 6 * rates[0]


def test_moe_monotone_and_plan_reused_on_larger_cluster() -> None:
    job = Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096, global_batch=240, precision="bf16")
    small = plan(job, row_cluster("h100-sxm", 48), top=1).best
    big = plan(job, row_cluster("h100-sxm", 64), top=1).best
    assert big.tokens_per_s >= small.tokens_per_s * (1 - 1e-12)


def test_lower_bound_holds_and_pruned_search_is_exhaustive(job8: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    c = row_cluster("h100-sxm", 32)
    monkeypatch.setattr(planner, "CHUNK", 1200)  # small chunks, so the bound has something to prune here
    fast = plan(job8, c, top=5, cache=False)
    assert fast.costed < fast.configs_evaluated
    assert sum(fast.rejected.values()) + fast.costed - fast.rejected.get(planner.REASONS[planner.OOM], 0) \
        == fast.configs_evaluated
    # every costed plan's step is at least its bound
    ax = planner.axes(job8, c)
    S, _ = planner.structural(job8, c, ax)
    n = S["tp"].size
    P = default_columns(n, **S)
    out = batch.evaluate_batch(job8, c, P)
    assert np.all(batch.step_lower_bound(job8, c, S) <= out["step_s"])
    # without the bound every plan is costed, and the top list is the same
    full = plan(job8, c, top=5, prune=False)
    assert full.costed > fast.costed
    assert [r.step_s for r in full.top] == [r.step_s for r in fast.top]
    assert [r.plan for r in full.top] == [r.plan for r in fast.top]
    assert sum(full.rejected.values()) + full.costed - full.rejected.get(planner.REASONS[planner.OOM], 0) \
        == full.configs_evaluated


def test_memoised_on_job_and_cluster(job8: Job) -> None:
    c = row_cluster("h100-sxm", 16)
    a = plan(job8, c, top=2)
    b = plan(job8, c, top=2)
    assert b.best is a.best and b.top is not a.top
    assert plan(job8, c, top=3).best.step_s == a.best.step_s


def test_moe_lower_bound_holds_with_grouped_experts() -> None:
    # the bound counts routed experts at the grouped-GEMM rate times the load imbalance: still a floor
    job = Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096, global_batch=64, precision="bf16")
    c = row_cluster("h100-sxm", 64)
    S, _ = planner.structural(job, c, planner.axes(job, c))
    for rc in range(3):
        out = batch.evaluate_batch(job, c, default_columns(S["tp"].size, **S, recompute=np.full(S["tp"].size, rc)))
        assert np.all(batch.step_lower_bound(job, c, S) <= out["step_s"])


def test_rules_memo_is_the_cold_result_on_every_size(job8: Job) -> None:
    # what the rules allow is memoised per model and NVLink domain; the GPU count is applied after it
    for n in (16, 48, 8):
        c = row_cluster("h100-sxm", n)
        ax = planner.axes(job8, c)
        warm, warm_rej = planner.structural(job8, c, ax)
        planner.cache_clear()
        cold, cold_rej = planner.structural(job8, c, ax)
        assert warm_rej == cold_rej
        assert all(np.array_equal(warm[k], cold[k]) for k in cold)
        assert np.all(cold["tp"] * cold["pp"] * cold["cp"] * cold["dp"] <= n)


def test_the_search_ranks_on_step_and_memory_and_reports_each_kept_plan_in_full() -> None:
    """The search costs every plan with ``terms=False`` (step and memory only) and evaluates the plans it
    keeps again with every term: the ranking columns are the full evaluation's, and each reported plan is
    exactly what the step model gives for it alone (CP and dispatcher as the search chose them)."""
    from gigafactory.perf.columns import plan_arrays
    from gigafactory.perf.step import evaluate

    job = Job(model=model("deepseek-v3"), tokens=1e12, seq_len=4096, global_batch=4096)
    cluster = row_cluster("gb200", 1024)
    res = plan(job, cluster, top=3, cache=False)
    P = plan_arrays([r.plan for r in res.top])
    full, ranked = batch.evaluate_batch(job, cluster, P), batch.evaluate_batch(job, cluster, P, terms=False)
    assert set(ranked) == {"step_s", "mem_total", "mem_capacity"}
    for k in ranked:
        assert np.array_equal(ranked[k], full[k]), k
    for r in res.top:
        alone = evaluate(job, cluster, r.plan)
        assert alone.step_s == r.step_s and alone.breakdown == r.breakdown and alone.memory == r.memory
