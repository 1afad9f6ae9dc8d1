"""A plan as the launch configuration of Megatron-LM (command-line flags) or torchtitan (TOML)."""

from __future__ import annotations

from ..errors import SpecError
from ..specs import Job, Plan
from .params import arch

FORMATS = ("megatron", "torchtitan")


def megatron_args(job: Job, plan: Plan) -> list[str]:
    """Megatron-LM pretrain_gpt.py arguments for the model, batch and parallel layout."""
    m, a = job.model, arch(job.model)
    args = [
        f"--num-layers {m.layers}", f"--hidden-size {m.hidden}", f"--num-attention-heads {m.heads}",
        f"--ffn-hidden-size {m.moe.dense_ffn or m.ffn if m.moe else m.ffn}", f"--seq-length {job.seq_len}",
        f"--max-position-embeddings {max(job.seq_len, m.max_seq)}", f"--kv-channels {m.head_dim}",
    ]
    if m.kv_heads != m.heads:
        args += ["--group-query-attention", f"--num-query-groups {m.kv_heads}"]
    if m.mlp == "gated":
        args += ["--swiglu"]
    if not m.tied_embeddings:
        args += ["--untie-embeddings-and-output-weights"]
    if m.moe:
        args += [f"--num-experts {m.moe.experts}", f"--moe-router-topk {m.moe.top_k}",
                 f"--moe-ffn-hidden-size {m.moe.expert_ffn}", "--moe-grouped-gemm", "--moe-token-dispatcher-type alltoall"]
        if m.moe.shared_experts:
            args += [f"--moe-shared-expert-intermediate-size {m.moe.shared_experts * m.moe.expert_ffn}"]
        if m.moe.dense_layers:
            pattern = "[" + ",".join(["0"] * m.moe.dense_layers + ["1"] * (m.layers - m.moe.dense_layers)) + "]"
            args += [f"--moe-layer-freq {pattern!r}"]
    if m.mla:
        args += ["--multi-latent-attention", f"--kv-lora-rank {m.mla.kv_lora_rank}",
                 f"--qk-head-dim {m.mla.qk_nope_head_dim}", f"--qk-pos-emb-head-dim {m.mla.qk_rope_head_dim}",
                 f"--v-head-dim {m.mla.v_head_dim}"]
        if m.mla.q_lora_rank:
            args += [f"--q-lora-rank {m.mla.q_lora_rank}"]
    args += [
        f"--tensor-model-parallel-size {plan.tp}", f"--pipeline-model-parallel-size {plan.pp}",
        f"--context-parallel-size {plan.cp}", f"--micro-batch-size {plan.mbs}",
        f"--global-batch-size {job.global_batch}",
    ]
    if plan.vpp > 1:
        args += [f"--num-layers-per-virtual-pipeline-stage {max(1, a.layers // (plan.pp * plan.vpp))}"]
    if plan.ep > 1:
        args += [f"--expert-model-parallel-size {plan.ep}"]
    if plan.tp > 1 and plan.sequence_parallel:
        args += ["--sequence-parallel"]
    if plan.tp_comm_overlap:
        args += ["--tp-comm-overlap"]
    if plan.ep > 1 and plan.ep_comm_overlap:
        args += ["--overlap-moe-expert-parallel-comm"]
    if plan.zero == 3:
        args += ["--use-torch-fsdp2"]
    elif plan.zero >= 1:
        args += ["--use-distributed-optimizer", "--overlap-param-gather"]
    args += ["--overlap-grad-reduce"]
    if plan.recompute == "selective":
        args += ["--recompute-granularity selective"]
    elif plan.recompute == "full":
        args += ["--recompute-granularity full", "--recompute-method uniform", "--recompute-num-layers 1"]
    args += ["--bf16", "--attention-backend flash"]
    if job.precision in ("fp8", "fp8-rowwise"):
        args += ["--fp8-format hybrid", "--fp8-recipe " + ("tensorwise" if job.precision == "fp8" else "blockwise")]
    elif job.precision == "mxfp8":
        args += ["--fp8-format e4m3", "--fp8-recipe mxfp8"]
    elif job.precision == "nvfp4":
        args += ["--fp4-format e2m1", "--fp4-recipe nvfp4"]
    return args


def torchtitan_toml(job: Job, plan: Plan) -> str:
    """A torchtitan job config (the sections that carry the plan)."""
    local = job.global_batch // plan.dp
    fsdp = plan.zero >= 1
    lines = [
        "[job]", f'description = "{job.model.name}: gigafactory plan"', "",
        "[training]", f"local_batch_size = {local}", f"global_batch_size = {job.global_batch}",
        f"seq_len = {job.seq_len}", "mixed_precision_param = \"bfloat16\"", "",
        "[parallelism]",
        f"data_parallel_replicate_degree = {1 if fsdp else plan.dp}",
        f"data_parallel_shard_degree = {plan.dp if fsdp else 1}",
        f"tensor_parallel_degree = {plan.tp}",
        f"enable_async_tensor_parallel = {str(plan.tp_comm_overlap).lower()}",
        f"context_parallel_degree = {plan.cp}",
        f"pipeline_parallel_degree = {plan.pp}",
    ]
    if plan.pp > 1:
        sched = "Interleaved1F1B" if plan.vpp > 1 else "1F1B"
        lines += [f'pipeline_parallel_schedule = "{sched}"', f"pipeline_parallel_microbatch_size = {plan.mbs}"]
    if plan.ep > 1:
        lines += [f"expert_parallel_degree = {plan.ep}"]
    lines += ["", "[activation_checkpoint]", f'mode = "{plan.recompute}"']
    if plan.recompute == "selective":
        lines += ['selective_ac_option = "op"']
    if job.precision in ("fp8", "fp8-rowwise", "mxfp8"):
        recipe = {"fp8": "tensorwise", "fp8-rowwise": "rowwise", "mxfp8": "mxfp8"}[job.precision]
        lines += ["", "[model]", 'converters = ["float8"]' if recipe != "mxfp8" else 'converters = ["mx"]']
        if recipe != "mxfp8":
            lines += ["", "[float8]", f'recipe_name = "{recipe}"', "enable_fsdp_float8_all_gather = true"]
    if plan.mbs != 1 and plan.pp == 1:
        lines += ["", f"# micro-batch {plan.mbs}: local_batch_size / micro-batch = gradient-accumulation steps"]
    return "\n".join(lines) + "\n"


def emit(job: Job, plan: Plan, fmt: str) -> str:
    if fmt == "megatron":
        return " \\\n  ".join(["torchrun pretrain_gpt.py"] + megatron_args(job, plan)) + "\n"
    if fmt == "torchtitan":
        return torchtitan_toml(job, plan)
    raise SpecError("--emit", f"unknown format {fmt!r}", FORMATS)
