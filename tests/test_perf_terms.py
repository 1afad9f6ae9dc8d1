"""The step engine's named terms, each against numbers worked out by hand from its formula."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigafactory.perf import schedules
from gigafactory.perf.attention import kernel_for
from gigafactory.perf.columns import code, default_columns, plan_arrays
from gigafactory.perf.efficiency import calibration
from gigafactory.perf.gemm import GemmDevice, busy_fraction, gemm_time
from gigafactory.perf.launch import layer_host_s
from gigafactory.perf.memory_bound import layer_bytes, optimizer_bytes
from gigafactory.perf.params import arch
from gigafactory.perf.step import evaluate
from gigafactory.perf.validate import row_cluster
from gigafactory.resolve import model
from gigafactory.specs import Job, Plan

H100 = GemmDevice(rate=989.4e12 * 0.803, sms=132, hbm=3.35e12 * 0.85, in_bytes=2.0)


def test_gemm_time_hand_worked() -> None:
    # 8192^3 bf16 on an H100 at its MAMF (0.803 of 989.4 TFLOP/s): 128x256 tiles -> 64 x 32 = 2048
    # tiles in ceil(2048/132) = 16 waves, busy 2048/2112; K loop 8192/(8192+128)
    t = float(gemm_time(H100, 8192, 8192, 8192))
    expected = 2 * 8192**3 / (989.4e12 * 0.803 * (2048 / 2112) * (8192 / 8320))
    assert t == pytest.approx(expected, rel=1e-12)
    assert t == pytest.approx(1.4495e-3, rel=1e-3)


def test_wave_quantisation_picks_the_tile_that_finishes_first() -> None:
    # 133 large tiles would need 2 waves (133/264 busy); 128x128 tiles: 266 tiles in 3 waves at 0.92
    # (266/396 x 0.92 = 0.618); 64x128: 532 tiles in 5 waves at 0.75 (532/660 x 0.75 = 0.605)
    M, N = 128 * 133, 256
    assert float(busy_fraction(132, M, N)) == pytest.approx(max(133 / 264, 0.92 * 266 / 396, 0.75 * 532 / 660))
    # a memory-bound GEMM: M = 1 token row against a 8192 x 8192 weight reads the weight once
    t = float(gemm_time(H100, 1, 8192, 8192))
    assert t == pytest.approx((8192 + 8192 * 8192) * 2 / H100.hbm + 0, rel=0.01)
    # a grouped GEMM of 16 experts shares its waves: faster than 16 separate small GEMMs
    assert float(gemm_time(H100, 256, 768, 2048, groups=16)) < 16 * float(gemm_time(H100, 256, 768, 2048))


def test_memory_bound_bytes_of_a_llama_layer() -> None:
    a = arch(model("llama3-8b"))  # hidden 4096, 32 heads (q 4096), 8 KV heads (k 1024), ffn 14336
    T, tp = 8192.0, 1
    f, b = (float(x) for x in layer_bytes(a, T, tp, 1, True, "bf16", False, False))
    # fused: 2 RMSNorms (4 B fwd) + 2 adds (6 B) over T x 4096, RoPE (4 B) over T x (4096 + 1024),
    # SwiGLU (6 B) over T x 14336
    assert f == pytest.approx(T * (2 * 4 * 4096 + 2 * 6 * 4096 + 4 * 5120 + 6 * 14336))
    assert b == pytest.approx(T * (2 * 6 * 4096 + 2 * 4 * 4096 + 4 * 5120 + 10 * 14336))
    # eager PyTorch moves more bytes than the fused kernels
    assert float(layer_bytes(a, T, tp, 1, False, "bf16", False, False)[0]) > f
    # fp8 adds one cast (3 B) and one transposed copy (1 B) per GEMM input element (Hopper)
    f8 = float(layer_bytes(a, T, tp, 1, True, "fp8", False, True)[0])
    assert f8 - f == pytest.approx(4 * T * (2 * 4096 + 4096 + 14336))
    # torchtitan's separate wq, wk, wv and w1, w3: the backward sums their input gradients over T x 4096,
    # fused by torch.compile into one 3-way add (read 3 x 2 B, write 2) and one 2-way add (6 B);
    # eager 2 + 1 adds of 6 B; the forward is unchanged
    fs, bs = (float(x) for x in layer_bytes(a, T, tp, 1, True, "bf16", False, False, separate=True))
    assert fs == pytest.approx(f) and bs - b == pytest.approx(T * 4096 * (8 + 6))
    eager_sum = float(layer_bytes(a, T, tp, 1, False, "bf16", False, False, separate=True)[1]) - float(
        layer_bytes(a, T, tp, 1, False, "bf16", False, False)[1])
    assert eager_sum == pytest.approx(T * 4096 * (12 + 6))


def test_torchtitans_separate_projections_cost_gemm_time_not_flops() -> None:
    """The same plan under torchtitan (wq, wk, wv and w1, w3 each its own GEMM) and Megatron (linear_qkv,
    linear_fc1): same model FLOPs, more GEMM time for the narrow K/V GEMMs (TP8: 128 columns each, one
    output tile wide, reading the whole input) and more memory-bound backward bytes."""
    c = row_cluster("h100-sxm", 8)
    p = Plan(tp=8, dp=1, mbs=4, recompute="none", sequence_parallel=True, compile=True)  # both fused
    out = {}
    for fw in ("torchtitan", "megatron"):
        job = Job(model=model("llama3-8b"), tokens=1e12, seq_len=8192, global_batch=4, framework=fw)
        out[fw] = evaluate(job, c, p, check_memory=False)
    assert out["torchtitan"].terms["gemm"] > out["megatron"].terms["gemm"]
    assert out["torchtitan"].terms["memory_bound"] > out["megatron"].terms["memory_bound"]
    assert out["torchtitan"].mfu < out["megatron"].mfu


def test_block_scaled_recipes_pay_the_column_wise_copy_on_blackwell() -> None:
    # MXFP8 / NVFP4 scale 1 x 32 (1 x 16) blocks along one axis: the backward GEMMs need a second,
    # column-wise quantised copy; per-tensor fp8 on Blackwell reads either layout and needs none
    job = Job(model=model("llama3-8b"), tokens=1e12, seq_len=8192, global_batch=64, precision="fp8")
    c, p = row_cluster("b200", 8), Plan(dp=8, mbs=1, recompute="none")
    fp8 = evaluate(job, c, p, check_memory=False)
    mx = evaluate(job.model_copy(update={"precision": "mxfp8"}), c, p, check_memory=False)
    a, T = arch(job.model), 8192.0
    copy = T * (2 * 4096 + 4096 + 14336) * (1 + 1) * a.layers  # 1 B per GEMM input element forward, 1 B backward
    hbm = c.gpu.hbm_tbps * 1e12 * 0.85
    assert (mx.terms["memory_bound"] - fp8.terms["memory_bound"]) / fp8.microbatches == pytest.approx(copy / hbm, rel=0.02)


def test_optimizer_bytes_hand_worked() -> None:
    # Adam 28 B + clipping 4 B per local parameter, the bf16 gradient buffer zeroed (2 B) over the stage
    assert float(optimizer_bytes(1e9, 8e9)) == pytest.approx(1e9 * 32 + 8e9 * 2)


def test_schedule_bubbles_follow_their_papers() -> None:
    F = B = W = 1.0
    s = lambda name: code("schedule", name)  # noqa: E731
    assert float(schedules.bubble_time(s("1f1b"), 4, 1, F, B, W)) == 9.0  # (p-1)(F+B+W)
    assert float(schedules.bubble_time(s("interleaved"), 4, 3, F, B, W)) == 3.0  # / v
    assert float(schedules.bubble_time(s("zb-h1"), 4, 1, F, B, W)) == 3.0  # Qi et al.: (p-1)(F+B-W)
    assert float(schedules.bubble_time(s("zb-v"), 4, 1, F, B, W)) == 0.0  # (p-1)(F+B-2W)/2
    # DeepSeek-V3 Table 2: (PP/2 - 1)(F&B + B - 3W) over chunks of half a stage: f = 0.5, b = 1, w = 0.5
    assert float(schedules.bubble_time(s("dualpipe"), 8, 1, F, B, W)) == pytest.approx(3 * (1.5 + 1 - 1.5))
    assert float(schedules.bubble_time(s("1f1b"), 1, 1, F, B, W)) == 0.0
    assert float(schedules.in_flight(s("dualpipe"), 8, 1, 64)) == 9.0  # PP + 1
    assert float(schedules.parameter_copies(s("dualpipe"))) == 2.0


@settings(max_examples=60, deadline=None)
@given(p=st.integers(2, 64), f=st.floats(0.01, 10), b=st.floats(0.01, 10), w=st.floats(0.01, 10))
def test_zero_bubble_schedules_never_idle_longer_than_1f1b(p: int, f: float, b: float, w: float) -> None:
    one = float(schedules.bubble_time(code("schedule", "1f1b"), p, 1, f, b, w))
    for name in ("zb-h1", "zb-v", "dualpipe", "dualpipev"):
        assert 0.0 <= float(schedules.bubble_time(code("schedule", name), p, 1, f, b, w)) <= one + 1e-12


def test_launch_floor_bounds_a_launch_bound_moe_layer() -> None:
    # a 1 ms host time per kernel dwarfs the GPU work: each MoE layer pass takes its launches
    moe = Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096, global_batch=512, precision="mxfp8")
    slow = calibration().replace(host_kernel_s=1e-3)
    r = evaluate(moe, row_cluster("b200", 8), Plan(tp=1, pp=1, ep=8, dp=8, mbs=1, recompute="none"), calib=slow)
    per_layer = float(sum(layer_host_s(True, True, 128 / 8, False, 1e-3)))
    per_mb = (r.terms["gemm"] + r.terms["attention"] + r.terms["memory_bound"] + r.terms["launch"]
              + r.terms["ep"]) / r.microbatches
    head = per_mb - 48 * per_layer  # what is left is the LM head and the loss, outside the MoE layers
    assert 0 < head < 0.01 * per_mb
    # at the fitted host time, micro-batch 8 hides most of the launches that micro-batch 1 shows
    small = evaluate(moe, row_cluster("b200", 8), Plan(tp=1, pp=1, ep=8, dp=8, mbs=1, recompute="none"))
    large = evaluate(moe, row_cluster("b200", 8), Plan(tp=1, pp=1, ep=8, dp=8, mbs=8, recompute="none"),
                     check_memory=False)
    assert small.terms["launch"] > 2 * large.terms["launch"]


def test_launch_host_time_by_hand_with_and_without_cuda_graphs() -> None:
    # catalog launch-kernels: dense fused 20 forward ops (10 in the attention scope), MoE block 60 more
    # (35 router + preprocessing before the count copy), 6 per local expert, backward 2x, a graph
    # replay 2 ops. 16 local experts, 1 ms per op:
    q, after, back = (float(x) for x in layer_host_s(True, True, 16, False, 1e-3))
    assert (q, back) == pytest.approx((0.055, 2 * 0.055 + 2 * after))
    assert after == pytest.approx(0.025 + 6 * 16 * 1e-3)
    gq, gafter, gback = (float(x) for x in layer_host_s(True, True, 16, True, 1e-3))
    # graphed: 10 + 2 (attention replay) + 2 (router replay) queued; the post-copy kernels are dynamic
    assert (gq, gafter) == pytest.approx((0.014, after))
    assert gback == pytest.approx(2 * 10e-3 + 2e-3 + 2e-3 + 2 * after)
    dq, dafter, dback = (float(x) for x in layer_host_s(True, False, 0, True, 1e-3))
    assert (dq, dafter, dback) == pytest.approx((0.012, 0.0, 0.022))
    # capacity routing: nothing waits for the counts, so the whole block queues (after = 0); the graphs
    # are the exported scopes (attn, moe_router, moe_preprocess), so the 25 + 6 x 16 post-router kernels
    # still launch one by one, graphed or not
    pq, pafter, pback = (float(x) for x in layer_host_s(True, True, 16, False, 1e-3, padded=True))
    assert (pq, pafter, pback) == pytest.approx((0.055 + after, 0.0, back))
    gpq, gpafter, gpback = (float(x) for x in layer_host_s(True, True, 16, True, 1e-3, padded=True))
    assert (gpq, gpafter, gpback) == pytest.approx((gq + after, 0.0, gback))


def test_launch_host_time_by_hand_for_each_cuda_graph_scope() -> None:
    from gigafactory.perf.columns import code

    def host(moe, scope, local=16):
        return tuple(float(x) for x in layer_host_s(True, moe, local, True, 1e-3, scope=code("cuda_graph_scope", scope)))

    after = 0.025 + 6 * 16 * 1e-3
    # router and preprocessing only (Megatron-Bridge's GB300 Qwen3 recipes): the attention block's 10 ops
    # launch again, the router's 35 replay as one graph of 2 ops
    assert host(True, "moe_router") == pytest.approx((0.020 + 0.002, after, 2 * 0.020 + 0.002 + 2 * after))
    # attention alone on an MoE layer: 10 + 2 ops, then the router's 35 launched one by one
    assert host(True, "attn") == pytest.approx((0.012 + 0.035, after, 2 * 0.010 + 0.002 + 2 * (0.035 + after)))
    # a dense layer's MLP block (20 - 10 ops) graphed: the attention block's 10 launch, 2 replay
    assert host(False, "mlp") == pytest.approx((0.012, 0.0, 0.022))
    # each whole layer as one graph: one replay (2 ops) a pass, whatever the layer holds
    assert host(True, "layer") == pytest.approx((0.002, 0.0, 0.002))
    assert host(False, "layer") == pytest.approx((0.002, 0.0, 0.002))
    # one graph for the whole iteration: nothing per layer (the MoE case needs capacity routing)
    assert host(False, "full_iteration") == (0.0, 0.0, 0.0)
    assert host(True, "full_iteration") == (0.0, 0.0, 0.0)
    # the default scope is attn+moe_router
    assert host(True, "attn+moe_router") == pytest.approx(tuple(float(x) for x in layer_host_s(True, True, 16, True, 1e-3)))


def test_cuda_graph_scope_rules_follow_megatron_core() -> None:
    from gigafactory.perf.frameworks import framework_reject

    dense = Job(model=model("llama3-8b"), tokens=1e12, seq_len=8192, global_batch=512, framework="megatron")
    plans = [Plan(tp=1, dp=8, recompute="full", cuda_graphs=True, cuda_graph_scope=s)
             for s in ("attn", "full_iteration")]
    # 'full recompute is only supported with full iteration CUDA graph'
    assert framework_reject(dense, plan_arrays(plans)).tolist() == [True, False]
    # 'moe cuda graph is only supported for MoE'
    router = Plan(tp=1, dp=8, recompute="none", cuda_graphs=True, cuda_graph_scope="moe_router")
    assert framework_reject(dense, plan_arrays([router])).tolist() == [True]
    moe = Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096, global_batch=512, framework="megatron")
    p = Plan(tp=1, ep=8, dp=8, recompute="none", cuda_graphs=True)
    scopes = [p.model_copy(update={"cuda_graph_scope": s}) for s in ("mlp", "full_iteration", "layer", "moe_router")]
    # no dense layer for the MLP scope; no whole-layer or whole-iteration graph over the dropless count copy
    assert framework_reject(moe, plan_arrays(scopes)).tolist() == [True, True, True, False]
    padded = moe.model_copy(update={"moe_routing": "capacity"})
    assert framework_reject(padded, plan_arrays(scopes[1:3])).tolist() == [False, False]
    # 'CUDA graphs not supported with CPU offloading'
    off = Plan(tp=1, dp=8, recompute="none", cuda_graphs=True, offload_layers=8)
    assert framework_reject(dense, plan_arrays([off])).tolist() == [True]


def test_cuda_graphs_shorten_a_launch_bound_moe_step_and_not_full_recompute() -> None:
    moe = Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096, global_batch=512, precision="mxfp8")
    c = row_cluster("b200", 8)
    p = Plan(tp=1, pp=1, ep=8, dp=8, mbs=1, recompute="none")
    off, on = evaluate(moe, c, p), evaluate(moe, c, p.model_copy(update={"cuda_graphs": True}))
    assert on.terms["launch"] < off.terms["launch"] and on.step_s < off.step_s
    assert on.terms["gemm"] == off.terms["gemm"]  # graphs change the host's work only
    # Megatron-Core: per-scope graphs cannot replay under full recompute; torchtitan has no graphs
    from gigafactory.perf.frameworks import framework_reject

    megatron = moe.model_copy(update={"framework": "megatron"})
    titan = moe.model_copy(update={"framework": "torchtitan"})
    graphed = [p.model_copy(update={"cuda_graphs": True, "recompute": rc}) for rc in ("none", "selective", "full")]
    assert framework_reject(megatron, plan_arrays(graphed)).tolist() == [False, False, True]
    assert framework_reject(titan, plan_arrays(graphed[:1])).tolist() == [True]
    # a GPT-style model's attention dropout cannot be recomputed inside a graphed attention block
    gpt = Job(model=model("gpt3-175b"), tokens=1e12, seq_len=2048, global_batch=512, framework="megatron")
    dense = [Plan(tp=8, dp=8, recompute=rc, cuda_graphs=True) for rc in ("none", "selective", "full")]
    assert framework_reject(gpt, plan_arrays(dense)).tolist() == [False, True, True]


def test_terms_add_up_to_the_step() -> None:
    job = Job(model=model("deepseek-v3"), tokens=1e12, seq_len=4096, global_batch=1024, precision="fp8")
    r = evaluate(job, row_cluster("h100-sxm", 1024), Plan(tp=2, pp=8, vpp=4, ep=64, dp=64, mbs=1,
                                                           recompute="selective"), check_memory=False)
    assert sum(r.terms.values()) == pytest.approx(r.step_s, rel=1e-9)
    assert sum(r.breakdown.values()) == pytest.approx(r.step_s, rel=1e-9)
    assert r.breakdown["compute"] == pytest.approx(r.terms["gemm"] + r.terms["attention"] + r.terms["memory_bound"])
    assert all(v >= 0 for v in r.terms.values()) and r.terms["ep"] > 0


def test_fp8_speedup_over_bf16_on_hopper_is_in_the_measured_band() -> None:
    # measured fp8 / bf16 pairs on H100 show 1.2-1.5x (casts, attention and communication stay bf16)
    c = row_cluster("h100-sxm", 64)
    p = Plan(tp=4, pp=4, vpp=5, cp=2, dp=2, mbs=1, recompute="none", tp_comm_overlap=True)
    bf16 = evaluate(Job(model=model("llama3-70b"), tokens=1e12, seq_len=8192, global_batch=128), c, p, check_memory=False)
    fp8 = evaluate(Job(model=model("llama3-70b"), tokens=1e12, seq_len=8192, global_batch=128, precision="fp8"), c, p,
                   check_memory=False)
    assert 1.2 <= bf16.step_s / fp8.step_s <= 1.5


def test_expert_tensor_parallel_splits_expert_weights() -> None:
    job = Job(model=model("deepseek-v3"), tokens=1e12, seq_len=4096, global_batch=1024, precision="fp8")
    c = row_cluster("h100-sxm", 1024)
    base = dict(tp=2, pp=8, ep=32, dp=64, mbs=1, recompute="full")
    one = evaluate(job, c, Plan(**base), check_memory=False)
    two = evaluate(job, c, Plan(**base, etp=2), check_memory=False)
    assert two.memory["weights"] < one.memory["weights"]
    # the distributed optimizer already shards the expert state over every GPU holding experts:
    # splitting each expert over etp ranks leaves the per-GPU share unchanged; without it, it halves
    assert two.memory["optimizer"] == pytest.approx(one.memory["optimizer"])
    ddp = dict(base, zero=0)
    assert evaluate(job, c, Plan(**ddp, etp=2), check_memory=False).memory["optimizer"] < \
        evaluate(job, c, Plan(**ddp), check_memory=False).memory["optimizer"]


def test_stack_decides_the_attention_kernel() -> None:
    assert kernel_for("megatron") == kernel_for("nemo") == "fused"
    assert kernel_for("torchtitan") == kernel_for("other") == "fa2"
    assert kernel_for("megatron", flash=False) == "unfused"
    job = Job(model=model("llama3-8b"), tokens=1e12, seq_len=8192, global_batch=8)
    p = Plan(tp=1, dp=8, mbs=1, recompute="none")
    te = evaluate(job, row_cluster("h100-sxm", 8), p, check_memory=False)
    fa2 = evaluate(job.model_copy(update={"framework": "torchtitan"}), row_cluster("h100-sxm", 8), p, check_memory=False)
    assert fa2.terms["attention"] > 1.5 * te.terms["attention"]  # FA-2 at 35% of peak, FA-3 class at 62%


def test_columns_round_trip_every_plan_field() -> None:
    p = Plan(tp=2, pp=4, vpp=2, cp=2, ep=4, dp=8, mbs=2, recompute="full", zero=3, etp=2, schedule="interleaved",
             cp_comm_type="a2a", moe_dispatcher="flex", compile=True, tp_comm_overlap=True)
    from gigafactory.perf.columns import plan_at

    assert plan_at(plan_arrays([p]), 0) == p
    d = default_columns(3, tp=np.array([1, 2, 4]))
    assert list(d["tp"]) == [1, 2, 4] and list(d["schedule"]) == [0, 0, 0]


def test_context_parallelism_costs_what_it_costs() -> None:
    # issue 12: Llama 3.1 405B on 16,384 H100 at 8k tokens: CP32 (256-1,024 tokens per GPU, a ring across
    # nodes) must be slower than CP2 and show its CP time; CP is no longer free
    from gigafactory.perf.planner import plan

    job = Job(model=model("llama3.1-405b"), tokens=1e12, seq_len=8192, global_batch=2048)
    c = row_cluster("h100-sxm", 16384)
    cp2 = plan(job, c, top=1, cp=2).best
    cp32 = plan(job, c, top=1, cp=32).best
    assert cp32.step_s > cp2.step_s
    assert cp32.terms["cp"] > 0.01 * cp32.step_s
    assert cp32.plan.cp == 32 and cp2.plan.cp == 2


def test_tp_overlap_hides_each_collective_only_behind_its_own_gemm() -> None:
    from gigafactory.perf.communication import tp_exposed

    # a 4 ms collective under tp = 8 paired with a 10 ms GEMM at overlap 0.5: 5 ms of GEMM hide it,
    # but one chunk of 8 (0.5 ms) always shows; behind a 2 ms GEMM 4 - 1 = 3 ms shows; off: all 4 ms
    t = tp_exposed(4e-3, (10e-3, 2e-3), 8, 0.5, np.array([True, False]))
    assert t.tolist() == pytest.approx([0.5e-3 + 3e-3, 8e-3])


def test_small_models_hide_less_tp_traffic_than_large_ones() -> None:
    # the same TP8 async-TP plan: the 8B model's GEMMs are half the 70B's per byte of activations, so a
    # larger share of its TP traffic stays exposed
    c = row_cluster("h100-sxm", 64)
    p = Plan(tp=8, dp=8, mbs=2, recompute="none", tp_comm_overlap=True)
    share = {}
    for name in ("llama3-8b", "llama3-70b"):
        r = evaluate(Job(model=model(name), tokens=1e12, seq_len=8192, global_batch=16), c, p, check_memory=False)
        off = evaluate(Job(model=model(name), tokens=1e12, seq_len=8192, global_batch=16), c,
                       p.model_copy(update={"tp_comm_overlap": False}), check_memory=False)
        share[name] = r.terms["tp"] / off.terms["tp"]
    assert 1 / 8 <= share["llama3-70b"] < share["llama3-8b"] < 1.0


def test_selective_recompute_redoes_what_each_stack_redoes() -> None:
    from gigafactory.perf.params import arch
    from gigafactory.perf.recompute import recompute_shares, selective_policy

    # Megatron: the core attention only; torchtitan's per-op SAC: every second matmul, every
    # memory-bound op and the forward all-gathers (2 of 4 forward TP collectives), attention saved
    assert selective_policy("megatron") == (0.0, 1.0, 0.0, 0.0)
    assert selective_policy("torchtitan") == (0.5, 0.0, 1.0, 1.0)  # no model: half
    # by hand, Llama 3 8B (hidden 4096, K/V 1024, FFN 14336): of wq, wk, wv, wo, w1, w3, w2 the policy
    # reruns wk, wo, w3: (1024 + 4096 + 14336) / (4096 + 1024 + 1024 + 4096 + 3 x 14336) = 19456 / 53248;
    # Llama 3 70B (8192, 1024, 28672): 37888 / 104448
    a8, a70 = arch(model("llama3-8b")), arch(model("llama3-70b"))
    assert selective_policy("torchtitan", a8)[0] == pytest.approx(19456 / 53248)
    assert selective_policy("torchtitan", a70)[0] == pytest.approx(37888 / 104448)
    assert selective_policy("megatron", a8)[0] == 0.0
    sel, full = code("recompute", "selective"), code("recompute", "full")
    r = recompute_shares("torchtitan", np.array([sel, full, 0]), np.array([1.0, 0.25, 1.0]))
    assert r.gemm.tolist() == [0.5, 0.25, 0.0] and r.attention.tolist() == [0.0, 0.25, 0.0]
    assert recompute_shares("torchtitan", np.array([sel]), np.array([1.0]), a8).gemm[0] == pytest.approx(0.3654, abs=1e-4)
    assert r.memory_bound.tolist() == [1.0, 0.25, 0.0] and r.tp_collectives.tolist() == [2.0, 1.0, 0.0]
    # on one plan, torchtitan's selective recompute costs GEMM time and Megatron's attention time
    c = row_cluster("h100-sxm", 8)
    p = Plan(tp=1, dp=8, mbs=2, recompute="selective")
    none = p.model_copy(update={"recompute": "none"})
    for fw, term, other in (("torchtitan", "gemm", "attention"), ("megatron", "attention", "gemm")):
        job = Job(model=model("llama3-8b"), tokens=1e12, seq_len=8192, global_batch=16, framework=fw)
        a, b = evaluate(job, c, p, check_memory=False), evaluate(job, c, none, check_memory=False)
        assert a.terms[term] > 1.05 * b.terms[term] and a.terms[other] == pytest.approx(b.terms[other])


def test_sliding_window_layers_touch_only_their_band() -> None:
    from gigafactory.perf.attention import window_factor

    # gpt-oss: every second layer banded at 128 tokens; at 4,096 tokens a banded layer computes the
    # 128 + 128 keys its band touches against the 2,048 a causal query averages
    a = arch(model("gpt-oss-120b"))
    assert (a.window, a.window_share) == (128, 0.5)
    assert float(window_factor(4096, a.window, a.window_share)) == pytest.approx(0.5 + 0.5 * 256 / 2048)
    assert window_factor(4096, 0, 0.0) == 1.0 and float(window_factor(256, 128, 1.0)) == 1.0
    assert arch(model("llama3-8b")).window_share == 0.0


def test_attention_rate_by_head_dim_follows_flashattention3_fig5() -> None:
    from gigafactory.perf.attention import head_dim_factor

    # H100 bf16 forward at 16k: cuDNN 413 vs 595 TFLOP/s at head dim 64 vs 128, FA-2 324 vs 370
    assert head_dim_factor("fused", 64) == pytest.approx(413 / 595, abs=1e-3)
    assert head_dim_factor("fa2", 64) == pytest.approx(324 / 370, abs=1e-3)
    assert head_dim_factor("fused", 128) == head_dim_factor("fused", 192) == 1.0
    assert head_dim_factor("fused", 96) == pytest.approx(0.694 + (np.log2(96) - 6) * (1 - 0.694))
    assert head_dim_factor("unfused", 64) == 1.0


def test_activation_offload_frees_memory_and_costs_what_outlasts_the_next_layer() -> None:
    # Llama 3 70B, FSDP over 64 GB200, 2 x 8k tokens per micro-batch: 20 of 80 layers offloaded keep
    # two layers' worth in HBM; each copy out and back over the 225 GB/s C2C share (x 0.85) shows only
    # where it outlasts a layer's forward (backward)
    job = Job(model=model("llama3-70b"), tokens=1e12, seq_len=8192, global_batch=128, precision="fp8")
    c = row_cluster("gb200", 64)
    p = Plan(dp=64, mbs=2, zero=3)
    on, off = (evaluate(job, c, p.model_copy(update={"offload_layers": k}), check_memory=False) for k in (20, 0))
    per_layer = off.memory["activations"] / 80  # GB of one layer's activations (logits aside: close)
    assert on.memory["activations"] == pytest.approx(off.memory["activations"] - 18 * per_layer, rel=0.02)
    t_copy = per_layer * 1e9 / (225e9 * 0.85)
    layer_f = (off.terms["gemm"] + off.terms["attention"] + off.terms["memory_bound"]) / 80 / 3  # forward ~ 1/3
    assert 0 < on.terms["offload"] <= 20 * 2 * t_copy
    assert on.terms["offload"] >= 20 * max(0.0, t_copy - 1.5 * layer_f)
    assert off.terms["offload"] == 0.0


def test_padded_capacity_routing_runs_every_expert_at_the_mean_load() -> None:
    """Capacity factor 1.0 with padding: each source rank sends every expert ceil(tokens x top_k / experts)
    rows, so the busiest expert does the mean's work (imbalance 1, as force-balanced), where real
    dropless routing leaves it 15% above (catalog moe-dispatch); the expert GEMMs are the same for the
    padded and the force-balanced job."""
    from gigafactory.perf.batch import moe_imbalance

    assert moe_imbalance("capacity") == moe_imbalance("force-balanced") == 1.0
    assert moe_imbalance("dropless") == pytest.approx(1.15)
    from gigafactory.perf.batch import evaluate_batch

    c = row_cluster("b200", 8)
    p = plan_arrays([Plan(tp=1, ep=8, dp=8, mbs=1)])
    out = {r: evaluate_batch(Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096, global_batch=512,
                                 moe_routing=r), c, p)["gemm"][0] for r in ("capacity", "force-balanced", "dropless")}
    assert out["capacity"] == pytest.approx(out["force-balanced"]) and out["dropless"] > out["capacity"]
