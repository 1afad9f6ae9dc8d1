"""What each framework runs (perf/frameworks.py), the planner limited to it, and the round trip
emit -> read back (gigafactory/launch_reader/) -> the same plan and the same step time. No framework installed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gigafactory.cli.main import app
from gigafactory.errors import SpecError
from gigafactory.launch_reader import _stage_counts_megatron, read_megatron, read_torchtitan
from gigafactory.perf import rules
from gigafactory.perf.columns import plan_arrays
from gigafactory.perf.emit import canonical, emit, pipeline_layout, stage_split
from gigafactory.perf.frameworks import framework_reject, titan_layers_per_stage
from gigafactory.perf.planner import plan
from gigafactory.perf.step import evaluate
from gigafactory.perf.validate import row_cluster
from gigafactory.resolve import model
from gigafactory.specs import Job, Plan

runner = CliRunner()


def job(name: str, framework: str = "megatron", **kw) -> Job:
    return Job(model=model(name), tokens=1e12, seq_len=kw.pop("seq", 8192), global_batch=kw.pop("gbs", 2048),
               framework=framework, **kw)


def rejects(j: Job, *plans: Plan) -> list[bool]:
    return framework_reject(j, plan_arrays(list(plans))).tolist()


def test_reasons_are_a_named_enum_with_the_old_codes() -> None:
    assert rules.Reason.OOM == rules.OOM == 9 and rules.Reason.PRUNED == rules.PRUNED == 10
    assert [int(r) for r in rules.Reason] == list(range(1, 16))
    assert rules.REASONS[9] == "does not fit in GPU memory" and rules.REASONS[rules.Reason.FRAMEWORK].startswith("the job's framework")


def test_megatron_shards_parameters_only_without_pipeline_parallelism() -> None:
    j = job("llama3.1-405b")
    assert rejects(j, Plan(tp=8, pp=8, dp=16, zero=3), Plan(tp=8, pp=8, dp=16, zero=2), Plan(tp=8, pp=8, dp=16, zero=1),
                   Plan(tp=8, pp=1, dp=128, zero=3)) == [True, True, False, False]
    # Megatron-FSDP runs with expert parallelism (the DeepSeek-V3 example: EP8, ZeRO-3)
    assert rejects(job("deepseek-v3"), Plan(ep=8, dp=64, zero=3)) == [False]
    # no zero-bubble or DualPipe schedule, no torch.compile, TP overlap needs sequence parallelism
    assert rejects(j, Plan(tp=8, pp=8, dp=16, schedule="zb-v"), Plan(tp=8, dp=16, compile=True),
                   Plan(tp=8, dp=16, tp_comm_overlap=True, sequence_parallel=False)) == [True, True, True]


def test_torchtitan_runs_fsdp_with_pp_but_no_zero1() -> None:
    j = job("llama3.1-405b", "torchtitan")
    assert rejects(j, Plan(tp=8, pp=8, dp=16, zero=3), Plan(tp=8, pp=8, dp=16, zero=1)) == [False, True]
    # async TP only under torch.compile; DualPipeV runs 2 stages per rank (126 + 2 units: 16 stages of 8);
    # zero-bubble H1 exists only interleaved (InterleavedZeroBubble), and no DualPipe
    assert rejects(j, Plan(tp=8, dp=16, zero=3, tp_comm_overlap=True),
                   Plan(tp=8, dp=16, zero=3, tp_comm_overlap=True, compile=True)) == [True, False]
    assert rejects(j, Plan(tp=8, pp=8, dp=16, zero=3, schedule="dualpipev"), Plan(tp=8, pp=8, dp=16, zero=3, schedule="zb-h1"),
                   Plan(tp=8, pp=8, dp=16, zero=3, schedule="dualpipe")) == [False, True, True]
    # torchtitan 0.3 has no expert tensor parallelism and a K/V all-gather CP only
    d = job("deepseek-v3", "torchtitan", seq=4096)
    assert rejects(d, Plan(tp=2, ep=8, etp=2, dp=32, zero=3), Plan(tp=2, ep=8, dp=32, zero=3)) == [True, False]
    assert rejects(j, Plan(tp=8, cp=2, dp=16, zero=3, cp_comm_type="p2p"),
                   Plan(tp=8, cp=2, dp=16, zero=3, cp_comm_type="allgather")) == [True, False]


def test_torchtitan_stage_split_by_hand() -> None:
    # ceil((L + 2) / layers_per_stage) stages: 126 layers -> 128 units over 16 stages of 8; 10 layers cannot make 8
    # stages (12 units: 2 per stage gives 6, 1 per stage 12)
    assert titan_layers_per_stage(126, 16) == 8 and titan_layers_per_stage(61, 16) == 4
    eight, twelve = Plan(pp=4, vpp=2, dp=1, zero=3), Plan(pp=4, vpp=3, dp=1, zero=3)
    tiny = model("llama3-8b").model_copy(update={"layers": 10})
    j = Job(model=tiny, tokens=1e9, seq_len=1024, global_batch=8, framework="torchtitan")
    assert titan_layers_per_stage(10, 8) == 2 and -(-12 // 2) == 6
    assert rejects(j, eight, twelve) == [True, False]  # 4 x 3 = 12 stages of one unit each works


def test_a2a_context_parallel_needs_heads_per_tp_rank_divisible_by_cp() -> None:
    j = job("llama3-8b")  # 32 heads, 8 KV groups
    assert rejects(j, Plan(tp=2, cp=4, dp=8, cp_comm_type="a2a"), Plan(tp=8, cp=2, dp=8, cp_comm_type="a2a"),
                   Plan(tp=8, cp=2, dp=8, cp_comm_type="p2p")) == [False, True, False]


def test_the_planner_proposes_only_what_the_framework_runs() -> None:
    c = row_cluster("h100-sxm", 1024)
    meg = plan(job("llama3-70b", gbs=1024), c, top=5)
    assert all(not (r.plan.zero >= 2 and r.plan.pp > 1) for r in meg.top)
    assert meg.rejected.get(rules.REASONS[rules.Reason.FRAMEWORK], 0) > 0
    tt = plan(job("llama3-70b", "torchtitan", gbs=1024), c, top=5)
    assert all(r.plan.zero in (0, 2, 3) for r in tt.top)
    for r in meg.top:  # every proposed plan emits (emit refuses what the framework cannot launch)
        assert "--use-torch-fsdp2" not in emit(job("llama3-70b", gbs=1024), r.plan, "megatron")
    for r in tt.top:
        emit(job("llama3-70b", "torchtitan", gbs=1024), r.plan, "torchtitan")


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(2, 16), st.integers(1, 5))
def test_stage_split_is_balanced_and_the_layout_reads_back(L: int, pp: int, vpp: int) -> None:
    if pp * vpp > L + 2:
        return
    counts = stage_split(L, pp, vpp)
    assert sum(counts) == L and len(counts) == pp * vpp
    assert max(counts) == -(-L // (pp * vpp)) and max(counts) - min(counts) <= 1
    v, per = _stage_counts_megatron({"pipeline-model-parallel-layout": pipeline_layout(counts)}, L, pp)
    assert v == vpp and per[0] == max(counts)


def test_emitted_405b_is_uneven_pp_with_rope_and_rmsnorm() -> None:
    j = job("llama3.1-405b")
    out = emit(j, Plan(tp=8, pp=8, dp=16, mbs=1, recompute="selective"), "megatron")
    for flag in ("--decoder-first-pipeline-num-layers 15", "--decoder-last-pipeline-num-layers 15",
                 "--position-embedding-type rope", "--normalization RMSNorm", "--rotary-base 500000",
                 "--use-rope-scaling", "--num-query-groups 8", "--swiglu", "--untie-embeddings-and-output-weights",
                 "--use-distributed-optimizer", "--sequence-parallel", "--disable-bias-linear"):
        assert flag in out
    interleaved = emit(j, Plan(tp=8, pp=8, vpp=2, dp=16), "megatron")  # 126 over 16 virtual stages: 7 + 14 x 8 + 7
    assert "--pipeline-model-parallel-layout 'Et*7|(t*8|)*14t*7L'" in interleaved
    assert "--num-layers-per-virtual-pipeline-stage" not in interleaved


def test_emit_refuses_what_the_framework_cannot_run() -> None:
    with pytest.raises(SpecError, match="fp8-rowwise"):
        emit(job("llama3-8b", precision="fp8-rowwise"), Plan(dp=8), "megatron")
    with pytest.raises(SpecError, match="megatron cannot launch"):
        emit(job("llama3.1-405b"), Plan(tp=8, pp=8, dp=16, zero=3), "megatron")
    with pytest.raises(SpecError, match="no model definition"):
        emit(job("gpt3-175b", "torchtitan"), Plan(tp=8, dp=8, zero=3), "torchtitan")
    with pytest.raises(SpecError, match="cannot launch"):  # torchtitan has no CUDA graphs; Megatron none under full recompute
        emit(job("llama3-8b", "torchtitan"), Plan(dp=8, cuda_graphs=True), "torchtitan")
    with pytest.raises(SpecError, match="cannot launch"):
        emit(job("llama3-8b"), Plan(dp=8, recompute="full", cuda_graphs=True), "megatron")


ROUND_TRIPS = [
    ("llama3.1-405b", dict(seq=8192, gbs=2048), Plan(tp=8, pp=8, cp=2, dp=64, recompute="selective", tp_comm_overlap=True)),
    ("llama3.1-405b", dict(seq=8192, gbs=2048), Plan(tp=8, pp=8, vpp=2, dp=16, recompute="full")),
    ("deepseek-v3", dict(seq=4096, gbs=8192, precision="fp8"),
     Plan(tp=1, pp=16, vpp=2, ep=64, dp=128, recompute="selective", ep_comm_overlap=True, moe_dispatcher="flex")),
    ("deepseek-v3", dict(seq=4096, gbs=8192, precision="fp8"),
     Plan(tp=1, pp=16, vpp=2, ep=64, dp=128, recompute="none", moe_dispatcher="flex", cuda_graphs=True)),
    ("deepseek-v3", dict(seq=4096, gbs=8192, precision="fp8"),
     Plan(tp=1, pp=16, vpp=2, ep=64, dp=128, recompute="none", cuda_graphs=True, cuda_graph_scope="moe_router")),
    ("llama3.1-405b", dict(seq=8192, gbs=2048), Plan(tp=8, pp=8, dp=32, recompute="selective", cuda_graphs=True)),
    ("llama3-8b", dict(seq=8192, gbs=512),
     Plan(tp=1, dp=64, mbs=2, recompute="full", cuda_graphs=True, cuda_graph_scope="full_iteration")),
    ("llama3-8b", dict(seq=8192, gbs=512), Plan(tp=1, dp=64, mbs=2, cuda_graphs=True, cuda_graph_scope="mlp")),
    ("llama3-70b", dict(seq=8192, gbs=128), Plan(tp=4, dp=16, mbs=1, cuda_graphs=True, cuda_graph_scope="layer")),
    ("mixtral-8x7b", dict(seq=4096, gbs=512), Plan(tp=2, ep=8, etp=1, dp=32, mbs=2, zero=3)),
    ("gpt3-175b", dict(seq=2048, gbs=1536), Plan(tp=8, pp=12, dp=8, recompute="full", zero=0)),
    ("llama3-8b", dict(seq=8192, gbs=512), Plan(tp=1, dp=64, mbs=2, zero=2, cp_comm_type="a2a")),
    # MoE routing travels in the launch: Megatron-Bridge's token drop (padded, one graph per layer) and
    # the benchmarks' force-balanced router
    ("qwen3-30b-a3b", dict(seq=4096, gbs=512, precision="fp8", moe_routing="capacity"),
     Plan(tp=1, ep=8, dp=8, mbs=1, cuda_graphs=True, cuda_graph_scope="layer")),
    ("qwen3-30b-a3b", dict(seq=4096, gbs=512, moe_routing="force-balanced"), Plan(tp=1, ep=8, dp=8, mbs=1)),
    ("llama3-70b", dict(seq=8192, gbs=128), Plan(tp=1, dp=64, mbs=2, zero=3, offload_layers=20)),
    ("gpt-oss-120b", dict(seq=4096, gbs=512), Plan(tp=1, ep=8, dp=64, mbs=1)),
]


def test_activation_offload_only_without_pipeline_or_recompute() -> None:
    # Megatron-Core's TransformerConfig: cpu_offloading needs pp = 1, no recompute, fewer layers than the model
    j = job("llama3-70b")
    ok = Plan(dp=64, zero=3, offload_layers=20)
    assert rejects(j, ok, ok.model_copy(update={"pp": 2, "dp": 32}), ok.model_copy(update={"recompute": "full"}),
                   ok.model_copy(update={"offload_layers": 80})) == [False, True, True, True]
    assert rejects(job("llama3-70b", "torchtitan"), ok) == [True]


@pytest.mark.parametrize("name,kw,p", ROUND_TRIPS)
def test_megatron_round_trip_gives_the_same_plan_and_step(name: str, kw: dict, p: Plan) -> None:
    j = job(name, **kw)
    c = row_cluster("h100-sxm", p.gpus)
    text = emit(j, p, "megatron", c)
    back = read_megatron(text)
    assert back.catalog_model and back.job.model == j.model and back.gpus == p.gpus
    assert back.plan == canonical(j, p)
    assert (back.job.seq_len, back.job.global_batch, back.job.precision, back.job.moe_routing) == (
        j.seq_len, j.global_batch, j.precision, j.moe_routing)
    a = evaluate(j, c, canonical(j, p), check_memory=False)  # the plan as a launch can state it
    b = evaluate(back.job, c, back.plan, check_memory=False, flash=back.flash)
    assert b.step_s == a.step_s and b.breakdown == a.breakdown and b.memory == a.memory


def test_torchtitan_round_trip_gives_the_same_plan_and_step() -> None:
    j = job("llama3.1-405b", "torchtitan", precision="fp8-rowwise")
    p = Plan(tp=8, pp=8, dp=16, recompute="full", zero=3, schedule="zb-v", compile=True, tp_comm_overlap=True)
    back = read_torchtitan(emit(j, p, "torchtitan"))
    assert back.plan == p and back.job.precision == "fp8-rowwise" and back.job.model == j.model
    c = row_cluster("h100-sxm", p.gpus)
    assert evaluate(back.job, c, back.plan, check_memory=False).step_s == evaluate(j, c, p, check_memory=False).step_s


def test_an_unknown_architecture_becomes_an_inline_model() -> None:
    flags = ("--num-layers 24 --hidden-size 2048 --num-attention-heads 16 --ffn-hidden-size 5632 --seq-length 4096 "
             "--vocab-size 32000 --swiglu --position-embedding-type rope --normalization RMSNorm --disable-bias-linear "
             "--untie-embeddings-and-output-weights --micro-batch-size 2 --global-batch-size 256 --bf16")
    back = read_megatron(flags, gpus=16)
    assert not back.catalog_model and back.plan.dp == 16 and back.plan.mbs == 2
    # 24 x (4 x 2048^2 + 3 x 2048 x 5632 + 2 x 2048) + 2048 + 2 x 32000 x 2048, worked by hand
    assert back.job.model.params_b * 1e9 == pytest.approx(24 * (4 * 2048**2 + 3 * 2048 * 5632 + 2 * 2048) + 2048
                                                          + 2 * 32000 * 2048)


@pytest.mark.parametrize("flags,needle", [
    ("--num-layers 2 --hidden-size 64 --num-attention-heads 4 --vocab-size 100 --seq-length 64 --frobnicate 3",
     "--frobnicate"),
    ("--num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 64", "--vocab-size"),
    ("--num-layers 2 --hidden-size 64 --num-attention-heads 4 --vocab-size 100 --seq-length 64 --recompute-granularity "
     "full --recompute-method block", "--recompute-method"),
    ("--num-layers $L --hidden-size 64", "shell variable"),
    ("--num-layers two", "needs a number"),
])
def test_megatron_flags_it_does_not_model_get_one_line(flags: str, needle: str) -> None:
    with pytest.raises(SpecError, match=needle.replace("$", r"\$")):
        read_megatron(flags, gpus=8)


def test_torchtitan_config_it_does_not_model_gets_one_line(tmp_path) -> None:
    good = emit(job("llama3-8b", "torchtitan"), Plan(tp=2, dp=4, zero=3), "torchtitan")
    for old, new, needle in [
        ("    return config", "    config.optimizer.lr = 1.0\n    return config", "config.optimizer.lr"),
        ("tensor_parallel_degree=2,", "tensor_parallel_degree=2, frobnicate=1,", "frobnicate"),
        ("config.activation_checkpoint = None", "", "activation_checkpoint is not assigned"),
    ]:
        with pytest.raises(SpecError, match=needle):
            read_torchtitan(good.replace(old, new))


def test_cli_reads_a_launch_file_and_predicts_it(tmp_path) -> None:
    base = ["plan", "--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "16", "--gbs", "64", "--seq", "8192"]
    out = runner.invoke(app, [*base, "--emit", "megatron"])
    assert out.exit_code == 0, out.output
    f = tmp_path / "train.sh"
    f.write_text("#!/bin/bash\nCUDA_DEVICE_MAX_CONNECTIONS=1 \\\n" + out.output)
    got = runner.invoke(app, ["plan", "--from-megatron", str(f), "--gpu", "h100-sxm", "--json"])
    assert got.exit_code == 0, got.output
    data = json.loads(got.output)
    assert data["model"] == {"id": "llama3-8b", "catalog": True, "params_b": 8.03} and data["gpus"] == 16
    assert data["step_s"] > 0 and set(data["breakdown"]) >= {"compute", "dp", "bubble"}
    best = json.loads(runner.invoke(app, [*base, "--json"]).output)["best"]
    assert data["step_s"] == best["step_s"]  # the launch of the best plan is that plan
    tt = runner.invoke(app, [*base, "--emit", "torchtitan"])
    (tmp_path / "job.py").write_text(tt.output)
    back = runner.invoke(app, ["plan", "--from-torchtitan", str(tmp_path / "job.py"), "--gpu", "h100-sxm"])
    assert back.exit_code == 0 and "step" in back.output and "(torchtitan)" in back.output
    bad = runner.invoke(app, ["plan", "--from-megatron", "--num-layers 2 --wat", "--gpu", "h100-sxm", "--gpus", "8"])
    assert bad.exit_code == 2 and "--wat" in bad.output
    clash = runner.invoke(app, ["plan", "--from-megatron", str(f), "--model", "llama3-8b", "--gpu", "h100-sxm"])
    assert clash.exit_code == 2 and "--model" in clash.output
    unknown = runner.invoke(app, [*base, "--framework", "megatorn"])
    assert unknown.exit_code == 2 and "megatron" in unknown.output


def test_framework_reject_skips_rules_whose_columns_are_absent() -> None:
    # the planner's structural pass has no ZeRO column yet: torchtitan's "no ZeRO-1" must not fire there
    j = job("llama3.1-405b", "torchtitan")
    P = {k: np.asarray([v]) for k, v in dict(tp=8, pp=8, vpp=1, cp=1, ep=1, dp=16, mbs=1).items()}
    assert not framework_reject(j, P)[0]


def test_cli_fixes_the_new_axes_and_limits_them_by_framework() -> None:
    base = ["plan", "--model", "llama3.1-405b", "--gpu", "h100-sxm", "--gpus", "2048", "--gbs", "1024", "--seq", "8192",
            "--top", "1", "--json"]
    got = runner.invoke(app, [*base, "--framework", "torchtitan", "--schedule", "zb-v"])
    assert got.exit_code == 0, got.output
    p = json.loads(got.output)["best"]["plan"]
    assert p["schedule"] == "zb-v" and p["zero"] != 1 and (p["cp"] == 1 or p["cp_comm_type"] == "allgather")
    # Megatron-LM runs no zero-bubble schedule: nothing is left to search
    none = runner.invoke(app, [*base, "--framework", "megatron", "--schedule", "zb-v"])
    assert none.exit_code == 2 and "megatron does not run 'zb-v'" in none.output and "interleaved" in none.output


FLAG_WORDS = ["--num-layers", "--hidden-size", "--num-attention-heads", "--seq-length", "--vocab-size", "--swiglu",
              "--tensor-model-parallel-size", "--pipeline-model-parallel-size", "--num-experts", "--moe-layer-freq",
              "--pipeline-model-parallel-layout", "--decoder-first-pipeline-num-layers", "--fp8-format",
              "--position-embedding-type", "--lr", "--bogus", "pretrain_gpt.py", "torchrun", "--nnodes"]
VALUES = ["0", "1", "2", "8", "64", "-3", "rope", "([0]*3+[1])", "Et|tL", "x", "'a b'", "1e9", "(", "hybrid"]


MINIMAL = ("--num-layers 4 --hidden-size 256 --num-attention-heads 8 --seq-length 128 --vocab-size 1000 --swiglu "
           "--position-embedding-type rope --disable-bias-linear")


@pytest.mark.parametrize("extra,flag", [
    (["--num-attention-heads", "0"], "--num-attention-heads"),  # found by the flag soup below: h // 0
    (["--num-attention-heads", "4", "--num-experts", "4", "--moe-layer-freq", "0"], "--moe-layer-freq"),  # i % 0
    (["--num-attention-heads", "4", "--tensor-model-parallel-size", "0"], "--tensor-model-parallel-size"),  # soup: gpus % 0
    (["--num-attention-heads", "4", "--pipeline-model-parallel-size", "-3"], "--pipeline-model-parallel-size"),
])
def test_zero_counts_in_a_launch_are_one_clear_error(extra: list[str], flag: str) -> None:
    base = ["--num-layers", "2", "--hidden-size", "64", "--vocab-size", "100", "--seq-length", "16",
            "--micro-batch-size", "1", "--global-batch-size", "8", "--position-embedding-type", "rope",
            "--disable-bias-linear", "--swiglu"]
    with pytest.raises(SpecError) as e:
        read_megatron(" ".join(base + extra), gpus=8)
    assert e.value.field == flag


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.lists(st.one_of(st.sampled_from(FLAG_WORDS), st.sampled_from(VALUES)), max_size=24))
def test_any_flag_soup_reads_or_fails_with_one_line(minimal: bool, words: list[str]) -> None:
    try:
        back = read_megatron((MINIMAL + " " if minimal else "") + " ".join(words), gpus=64)
    except SpecError as e:
        assert "\n" not in str(e)
    else:
        assert back.plan.gpus <= 64 and back.job.model.layers >= 1


def test_a_launch_the_framework_refuses_is_still_predicted_and_flagged() -> None:
    flags = (MINIMAL + " --untie-embeddings-and-output-weights --pipeline-model-parallel-size 2 --use-torch-fsdp2 "
             "--global-batch-size 64")
    got = runner.invoke(app, ["plan", "--from-megatron", flags, "--gpu", "h100-sxm", "--gpus", "8", "--json"])
    assert got.exit_code == 0, got.output
    data = json.loads(got.output)
    assert data["framework_accepts"] is False and data["plan"]["zero"] == 3 and data["step_s"] > 0
    text = runner.invoke(app, ["plan", "--from-megatron", flags, "--gpu", "h100-sxm", "--gpus", "8"])
    assert "megatron would refuse this launch" in text.output


@pytest.mark.parametrize("extra,routing,note", [
    ("--moe-expert-capacity-factor 1.0 --moe-pad-expert-input-to-capacity", "capacity", None),
    ("--moe-expert-capacity-factor 1.25 --moe-pad-expert-input-to-capacity", "capacity", "modelled as 1.0"),
    ("--moe-expert-capacity-factor 1.0", "dropless", "modelled as dropless"),
    ("--moe-expert-capacity-factor -1 --moe-router-force-load-balancing", "force-balanced", None),
    ("--moe-pad-expert-input-to-capacity", "dropless", "has no effect"),
])
def test_a_launchs_moe_routing_is_read_with_what_the_model_approximates(extra: str, routing: str, note) -> None:
    j, p = job("qwen3-30b-a3b", seq=4096, gbs=512), Plan(tp=1, ep=8, dp=8, mbs=1)
    back = read_megatron(emit(j, p, "megatron") + " " + extra)
    assert back.job.moe_routing == routing
    assert (note is None and not any("capacity" in a for a in back.assumed)) or any(note in a for a in back.assumed)


def test_capacity_routing_never_pairs_with_the_flex_dispatcher_on_megatron() -> None:
    """TransformerConfig: 'Flex token dispatcher with deepep backend does not support
    moe_pad_expert_input_to_capacity' -- so the padded token-drop recipe runs the all-to-all dispatcher,
    and the planner proposes nothing else for it."""
    j = job("qwen3-30b-a3b", seq=4096, gbs=512, moe_routing="capacity")
    a2a, flex = Plan(tp=1, ep=8, dp=8, mbs=1), Plan(tp=1, ep=8, dp=8, mbs=1, moe_dispatcher="flex")
    assert rejects(j, a2a, flex) == [False, True]
    assert rejects(job("qwen3-30b-a3b", seq=4096, gbs=512), flex) == [False]
    for fixed in ({}, {"ep": 8}):  # the engine's own dispatcher choice leaves flex out too
        res = plan(j, row_cluster("b200", 64), top=10, **fixed)
        assert res.top and all(r.plan.moe_dispatcher != "flex" for r in res.top)
    dropless = plan(job("qwen3-30b-a3b", seq=4096, gbs=512), row_cluster("b200", 64), top=10, ep=8)
    assert any(r.plan.moe_dispatcher == "flex" for r in dropless.top)  # where it may, flex wins here


def test_plan_takes_the_moe_routing_and_refuses_one_the_framework_lacks_in_one_line() -> None:
    base = ["plan", "--model", "qwen3-30b-a3b", "--gpu", "b200", "--gpus", "64", "--gbs", "512", "--seq", "4096"]
    res = runner.invoke(app, base + ["--moe-routing", "capacity", "--emit", "megatron"])
    assert res.exit_code == 0, res.output
    assert "--moe-pad-expert-input-to-capacity" in res.output and "--moe-token-dispatcher-type flex" not in res.output
    res = runner.invoke(app, base + ["--moe-routing", "force-balanced", "--emit", "torchtitan"])
    assert res.exit_code == 0 and "moe_force_load_balance=True" in res.output, res.output
    for extra, needle in ((["--moe-routing", "cap"], "did you mean 'capacity'"),
                          (["--moe-routing", "capacity", "--framework", "torchtitan"], "torchtitan cannot run 'capacity'")):
        res = runner.invoke(app, base + extra)
        assert res.exit_code == 2 and needle in res.output and len(res.output.strip().splitlines()) == 1, res.output


def test_selective_recompute_reads_back_as_exported_and_megatrons_default_with_a_note() -> None:
    """The export names the modules the memory model drops (core_attn, layernorm, moe_act, mla_up_proj);
    Megatron's default set (core_attn alone) reads as selective with a note, any other set in one line."""
    j, p = job("deepseek-v3", seq=4096, gbs=8192, precision="fp8"), Plan(tp=1, pp=16, ep=64, dp=128, recompute="selective")
    text = emit(j, p, "megatron")
    assert "--recompute-modules core_attn layernorm moe_act mla_up_proj" in text
    assert read_megatron(text).plan.recompute == "selective" and not read_megatron(text).assumed
    default = read_megatron(text.replace(" \\\n  --recompute-modules core_attn layernorm moe_act mla_up_proj", ""))
    assert default.plan.recompute == "selective" and any("Megatron's default" in a for a in default.assumed)
    with pytest.raises(SpecError, match="not a recompute set gigafactory models"):
        read_megatron(text.replace("core_attn layernorm moe_act mla_up_proj", "mlp"))
