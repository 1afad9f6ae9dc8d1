"""One-plan evaluation, the error paths, and agreement between the scalar and vector paths."""

from __future__ import annotations

import numpy as np
import pytest

from gigafactory.errors import InfeasiblePlan
from gigafactory.perf.planner import plan
from gigafactory.perf.step import evaluate
from gigafactory.perf.validate import row_cluster
from gigafactory.resolve import model
from gigafactory.specs import Job, Plan


@pytest.fixture(scope="module")
def job70() -> Job:
    return Job(model=model("llama3-70b"), tokens=1e12, seq_len=8192, global_batch=128, precision="fp8")


def test_step_breakdown_sums_and_metrics(job70: Job) -> None:
    c = row_cluster("h100-sxm", 64)
    r = evaluate(job70, c, Plan(tp=4, pp=4, vpp=5, cp=2, dp=2, mbs=1, recompute="selective", tp_comm_overlap=True))
    assert set(r.breakdown) == {"compute", "host", "tp", "cp", "ep", "pp", "dp", "bubble", "optimizer", "offload"}
    assert sum(r.breakdown.values()) == pytest.approx(r.step_s, rel=1e-12)
    assert r.tokens_per_s == pytest.approx(128 * 8192 / r.step_s)
    assert r.tokens_per_s_per_gpu == pytest.approx(r.tokens_per_s / 64)
    assert 0.1 < r.mfu < 0.7 and r.hfu > r.mfu
    assert r.memory["total"] < r.memory["capacity"] == 80
    assert r.microbatches == 64


def test_impossible_plans_raise_with_reason(job70: Job) -> None:
    c = row_cluster("h100-sxm", 64)
    gpt3 = Job(model=model("gpt3-175b"), tokens=1e12, seq_len=2048, global_batch=8)
    with pytest.raises(InfeasiblePlan, match="NVLink domain"):
        evaluate(gpt3, c, Plan(tp=16, pp=4, dp=1))
    with pytest.raises(InfeasiblePlan, match="attention heads"):
        evaluate(job70, c, Plan(tp=16, pp=4, dp=1), tp_cross_domain=True)
    with pytest.raises(InfeasiblePlan, match="exceeds the GPU count"):
        evaluate(job70, c, Plan(tp=8, pp=4, dp=4))
    with pytest.raises(InfeasiblePlan, match="memory") as exc:
        evaluate(job70, row_cluster("h100-sxm", 8), Plan(tp=8, dp=1, recompute="none"))
    assert "GB" in exc.value.detail
    with pytest.raises(InfeasiblePlan, match="no plan"):
        plan(gpt3, row_cluster("h100-sxm", 8))


def test_scalar_and_vector_paths_agree(job70: Job) -> None:
    c = row_cluster("h100-sxm", 64)
    res = plan(job70, c, top=40)
    assert res.configs_evaluated > 10_000 and res.search_seconds > 0
    assert sum(res.rejected.values()) < res.configs_evaluated
    steps = [r.step_s for r in res.top]
    assert steps == sorted(steps)
    for r in res.top[::4]:
        s = evaluate(job70, c, r.plan)
        assert s.step_s == r.step_s
        assert s.breakdown == r.breakdown and s.memory == r.memory
        assert s.mfu == r.mfu


def test_planner_beats_published_nemo_plan(job70: Job) -> None:
    c = row_cluster("h100-sxm", 64)
    nemo = evaluate(job70, c, Plan(tp=4, pp=4, vpp=5, cp=2, dp=2, mbs=1, recompute="none"), check_memory=False)
    best = plan(job70, c, top=1).best
    assert best.step_s <= nemo.step_s * (1 + 1e-9)


def test_more_gpus_more_throughput_less_per_gpu() -> None:
    job = Job(model=model("llama3-8b"), tokens=1e12, seq_len=8192, global_batch=512, precision="bf16")
    small = plan(job, row_cluster("h100-sxm", 64), top=1).best
    big = plan(job, row_cluster("h100-sxm", 512), top=1).best
    assert big.tokens_per_s > 4 * small.tokens_per_s
    assert big.tokens_per_s_per_gpu <= small.tokens_per_s_per_gpu * 1.0001
    assert np.isfinite(big.step_s)


def test_blackwell_ultra_attention_gains_only_the_softmax_exponentials() -> None:
    # B200 and B300 run the same attention kernels at the same bf16 peak (2,250 TFLOP/s); B300's SFUs
    # run 10.7e12 exp/s to B200's 5e12 (catalog/perf.yaml sfu-exp). One node, tp8, no recompute: the
    # attention time differs by exactly the exps, one per causal score forward and one in the backward:
    # 2 x (L=80) x (m=8 micro-batches) x s^2/2 x 64 heads / tp8 per GPU.
    job = Job(model=model("llama3-70b"), tokens=1e12, seq_len=8192, global_batch=8, precision="bf16")
    p = Plan(tp=8, pp=1, cp=1, dp=1, mbs=1, recompute="none", zero=1)
    b200 = evaluate(job, row_cluster("b200", 8), p).terms["attention"]
    b300 = evaluate(job, row_cluster("b300", 8), p).terms["attention"]
    exps = 2 * 80 * 8 * 8192 * 8192 / 2 * 64 / 8
    assert b200 - b300 == pytest.approx(exps / 5.0e12 - exps / 10.7e12, rel=1e-6)


def test_launch_floor_shows_only_where_layers_are_short(job70: Job) -> None:
    # Llama 3 70B at 8k tokens per micro-batch: every layer pass is far longer than its launches, so the
    # host adds nothing; what shows is the GPU's gap between kernels: 64 micro-batches x 20 layers a
    # stage x 20 kernels forward + 40 backward x 2 us
    big = evaluate(job70, row_cluster("h100-sxm", 64), Plan(tp=4, pp=4, vpp=5, cp=2, dp=2, mbs=1, recompute="selective"))
    assert big.breakdown["host"] == pytest.approx(64 * 20 * (20 + 40) * 2e-6)


def test_ep_overlap_hides_the_all_to_all_up_to_the_layer_compute() -> None:
    from gigafactory.perf.emit import emit

    job = Job(model=model("deepseek-v3"), tokens=1e12, seq_len=4096, global_batch=4096, precision="fp8")
    c = row_cluster("h800-sxm", 512)
    base = dict(tp=1, pp=8, cp=1, ep=64, dp=64, mbs=1, recompute="selective")
    from gigafactory.perf.efficiency import calibration

    # a grouped-GEMM rate at the bottom of its range keeps every layer's compute longer than its
    # all-to-all, whatever the fitted value
    slow = calibration().replace(grouped_gemm_scale=0.4)
    off = evaluate(job, c, Plan(**base), check_memory=False, calib=slow)
    on = evaluate(job, c, Plan(**base, ep_comm_overlap=True), check_memory=False, calib=slow)
    assert off.breakdown["ep"] > 0
    assert 0.0 <= on.breakdown["ep"] < off.breakdown["ep"]
    # each layer's all-to-all is shorter than the compute it hides behind, so what stays exposed is the
    # compute's stretch on the SMs the all-to-all holds: 20 of the H800's 132 (DeepSeek-V3 report 3.2.2),
    # ep_all x 20 / (132 - 20)
    assert on.breakdown["ep"] == pytest.approx(off.breakdown["ep"] * 20 / 112)
    # nothing but the exposed all-to-all (and the bubble, a multiple of the micro-batch time) changes
    assert on.breakdown["compute"] == pytest.approx(off.breakdown["compute"])
    assert on.step_s < off.step_s
    assert "--overlap-moe-expert-parallel-comm" in emit(job, on.plan, "megatron")
    assert "--overlap-moe-expert-parallel-comm" not in emit(job, off.plan, "megatron")
