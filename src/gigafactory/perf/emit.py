"""A plan as the launch of Megatron-LM (a ``pretrain_gpt.py`` command) or torchtitan 0.3 (a config module).

Megatron-LM flags are those of ``megatron/training/arguments.py`` (NVIDIA/Megatron-LM main; the transformer
flags are generated from Megatron-Core's ``TransformerConfig`` fields). torchtitan 0.3.x (the PyPI
release) loads a job from a Python ``config_registry`` function (``--module M --config F``), not a TOML
file: :func:`torchtitan_config` writes such a module. :mod:`gigafactory.launch_reader` reads both back.

Pipeline stages hold the layers as :func:`stage_split` splits them: balanced over ``pp x vpp`` virtual
stages, the first and last stages (which also hold the embedding and the LM head) one layer short first.
"""

from __future__ import annotations

from ..errors import SpecError
from ..specs import Cluster, Job, Model, Plan
from .columns import plan_arrays
from .frameworks import (
    TORCHTITAN_MODELS,
    capabilities,
    check_precision,
    check_routing,
    framework_reject,
    titan_layers_per_stage,
    titan_stages,
)
from .params import arch

FORMATS = ("megatron", "torchtitan")

#: gigafactory schedule -> torchtitan parallelism.pipeline_parallel_schedule (torch.distributed.pipelining)
TITAN_SCHEDULES = {"1f1b": "1F1B", "interleaved": "Interleaved1F1B", "zb-v": "ZBVZeroBubble", "dualpipev": "DualPipeV"}
#: ZeRO stage -> Megatron-FSDP --data-parallel-sharding-strategy
FSDP_STRATEGY = {2: "optim_grads", 3: "optim_grads_params"}
#: ZeRO stage -> torchtitan parallelism.fsdp_reshard_after_forward
TITAN_RESHARD = {2: "never", 3: "always"}


def stage_split(layers: int, pp: int, vpp: int) -> list[int]:
    """Layers of each virtual pipeline stage, in Megatron's order (stage s on rank s % pp, chunk s // pp)."""
    n = pp * vpp
    base = -(-layers // n)
    counts = [base] * n
    short, k = base * n - layers, 0
    while short:  # take the missing layers from the ends inwards: stage 0, n-1, 1, n-2, ...
        idx = k // 2 if k % 2 == 0 else n - 1 - k // 2
        counts[idx] -= 1
        short, k = short - 1, k + 1
    return counts


def canonical(job: Job, plan: Plan) -> Plan:
    """The plan as a launch expresses it: switches that do nothing at degree 1 take their defaults."""
    d, a = Plan(), arch(job.model)
    upd: dict = {}
    if plan.tp == 1:
        upd |= {"sequence_parallel": d.sequence_parallel, "tp_comm_overlap": False}
    if plan.ep == 1:
        upd |= {"ep_comm_overlap": False, "moe_dispatcher": d.moe_dispatcher, "etp": 1}
    if plan.cp == 1:
        upd |= {"cp_comm_type": d.cp_comm_type}
    if not a.moe_layers:
        upd |= {"moe_dispatcher": d.moe_dispatcher}
    if plan.pp == 1:
        upd |= {"schedule": "1f1b"}
    if not plan.cuda_graphs:
        upd |= {"cuda_graph_scope": d.cuda_graph_scope}
    elif not a.moe_layers and plan.cuda_graph_scope == "attn+moe_router":  # a dense model graphs attention only
        upd |= {"cuda_graph_scope": "attn"}
    return plan.model_copy(update=upd)


def _check(job: Job, plan: Plan, framework: str) -> None:
    job = job.model_copy(update={"framework": framework})
    check_precision(job)
    check_routing(job)
    if bool(framework_reject(job, plan_arrays([plan]))[0]):
        cap = capabilities(framework)
        raise SpecError("--emit", f"{framework} cannot launch this plan ({_describe(plan)}); its rules: {cap.source}")


def _describe(p: Plan) -> str:
    return (f"tp{p.tp} pp{p.pp} vpp{p.vpp} cp{p.cp} ep{p.ep} etp{p.etp} dp{p.dp} mbs{p.mbs} {p.recompute} "
            f"zero{p.zero} {p.schedule}" + (f" offload{p.offload_layers}" if p.offload_layers else ""))


# ---------------------------------------------------------------- Megatron-LM


def _pattern(flags: list[int]) -> str:
    """A per-layer 0/1 list as Megatron's pattern expression, e.g. ``([0]*3+[1]*58)``."""
    runs: list[list[int]] = []
    for f in flags:
        if runs and runs[-1][0] == f:
            runs[-1][1] += 1
        else:
            runs.append([f, 1])
    return "(" + "+".join(f"[{f}]*{k}" if k > 1 else f"[{f}]" for f, k in runs) + ")"


def moe_layer_flags(job: Job) -> list[int]:
    """1 for each MoE layer, 0 for each dense one (gigafactory's Moe.dense_layers and layer_freq)."""
    mo, L = job.model.moe, job.model.layers
    return [int(i >= mo.dense_layers and (i - mo.dense_layers) % mo.layer_freq == 0) for i in range(L)]


def pipeline_layout(counts: list[int]) -> str:
    """--pipeline-model-parallel-layout for per-virtual-stage layer counts (E embedding, L loss, t layer)."""
    def stage(k: int) -> str:
        return "t" if k == 1 else (f"t*{k}" if k else "")

    parts = [stage(k) for k in counts]
    out, mids, i = ["E" + parts[0] + "|"], parts[1:-1], 0
    while i < len(mids):  # runs of equal middle stages as (X|)*k
        j = i
        while j + 1 < len(mids) and mids[j + 1] == mids[i]:
            j += 1
        out.append(f"({mids[i]}|)*{j - i + 1}" if j > i else mids[i] + "|")
        i = j + 1
    return "".join(out) + parts[-1] + "L"


def _pipeline_args(L: int, plan: Plan) -> list[str]:
    if plan.pp == 1:
        return []
    counts = stage_split(L, plan.pp, plan.vpp)
    if len(set(counts)) == 1:
        return [f"--num-virtual-stages-per-pipeline-rank {plan.vpp}"] if plan.vpp > 1 else []
    if plan.vpp == 1 and len(set(counts[1:-1])) <= 1:
        return [f"--decoder-first-pipeline-num-layers {counts[0]}", f"--decoder-last-pipeline-num-layers {counts[-1]}"]
    return [f"--pipeline-model-parallel-layout {pipeline_layout(counts)!r}"]


def selective_modules(m: Model) -> list[str]:
    """Megatron-Core's --recompute-modules for a selective-recompute plan of model `m`: the ones whose
    activations the memory model drops (perf/memory.py) -- the core attention, the norms, the experts'
    activation (MoE; TransformerConfig wants grouped GEMMs, which the export sets) and MLA's up-projections."""
    return ["core_attn", "layernorm"] + (["moe_act"] if m.moe else []) + (["mla_up_proj"] if m.mla else [])


#: Megatron-Core's flags for each Job.moe_routing: capacity routing drops and pads every expert to the
#: mean (capacity factor 1.0, Megatron-Bridge's token-drop recipe); force-balanced routing replaces the
#: router's logits with random ones (benchmarks)
ROUTING_ARGS = {"dropless": [], "capacity": ["--moe-expert-capacity-factor 1.0", "--moe-pad-expert-input-to-capacity"],
                "force-balanced": ["--moe-router-force-load-balancing"]}

#: Megatron-Core's --cuda-graph-scope values for each Plan.cuda_graph_scope (CudaGraphScope; "moe_router"
#: graphs the preprocessing too, which needs the router's graph)
GRAPH_SCOPES = {"attn+moe_router": ("attn", "moe_router", "moe_preprocess"), "moe_router": ("moe_router", "moe_preprocess"),
                "attn": ("attn",), "mlp": ("mlp",), "layer": (), "full_iteration": ("full_iteration",)}


def graph_args(scope: str, moe: bool) -> list[str]:
    """Megatron flags of one CUDA-graph scope: Transformer Engine's per-scope graphs, or Megatron-Core's
    local implementation for the whole iteration (TransformerConfig: 'To use full iteration cuda graph,
    please use cuda_graph_impl=local')."""
    if scope == "full_iteration":
        return ["--cuda-graph-impl local", "--cuda-graph-scope full_iteration"]
    scopes = [x for x in GRAPH_SCOPES[scope] if moe or not x.startswith("moe")]
    # no scope: each whole layer as one graph (TransformerConfig: 'an empty list means the full layer')
    return ["--cuda-graph-impl transformer_engine"] + (["--cuda-graph-scope " + " ".join(scopes)] if scopes else [])


def megatron_args(job: Job, plan: Plan) -> list[str]:
    """Megatron-LM ``pretrain_gpt.py`` arguments: the model, the batch, the parallel layout, precision."""
    _check(job, plan, "megatron")
    plan = canonical(job, plan)
    m, a = job.model, arch(job.model)
    if m.activation not in ("swiglu", "gelu", "squared-relu") or (m.activation == "swiglu") != (m.mlp == "gated"):
        raise SpecError("model", f"Megatron-LM has no flag for a {m.mlp} {m.activation} MLP ({m.id})",
                        ["gated swiglu", "plain gelu", "plain squared-relu"])
    ffn = (m.moe.dense_ffn or m.ffn) if m.moe else m.ffn
    args = [
        f"--num-layers {m.layers}", f"--hidden-size {m.hidden}", f"--num-attention-heads {m.heads}",
        f"--ffn-hidden-size {ffn}", f"--seq-length {job.seq_len}",
        f"--max-position-embeddings {max(job.seq_len, m.max_seq)}",
        "--tokenizer-type NullTokenizer", f"--vocab-size {m.vocab}", "--mock-data",
        f"--train-iters {max(1, round(job.steps))}",
    ]
    if a.gpt_style:  # GPT-2/3: learned positions, LayerNorm, biases (Megatron's defaults)
        args += ["--position-embedding-type learned_absolute", "--normalization LayerNorm"]
    else:  # the models since Llama pretrain without dropout (Megatron's defaults are 0.1)
        args += ["--position-embedding-type rope", "--normalization RMSNorm", "--disable-bias-linear",
                 "--attention-dropout 0.0", "--hidden-dropout 0.0"]
        if m.rope_base:
            args += [f"--rotary-base {m.rope_base:g}"]
        if m.rope_scaling:
            args += ["--use-rope-scaling", f"--rope-scaling-factor {m.rope_scaling:g}"]
    if m.norm_eps:
        args += [f"--norm-epsilon {m.norm_eps:g}"]
    if m.mla is None:
        args += [f"--kv-channels {m.head_dim}"]
        if m.kv_heads != m.heads:
            args += ["--group-query-attention", f"--num-query-groups {m.kv_heads}"]
    if m.sliding_window:  # banded attention: (left, right) window; one full layer in every `full_attention_every`
        args += [f"--window-size {m.sliding_window},0"]
        if m.full_attention_every > 1:
            args += [f"--window-attn-skip-freq {m.full_attention_every}"]
    if m.activation == "swiglu":
        args += ["--swiglu"]
    elif m.activation == "squared-relu":
        args += ["--squared-relu"]
    if not m.tied_embeddings:
        args += ["--untie-embeddings-and-output-weights"]
    if m.moe:
        args += [f"--num-experts {m.moe.experts}", f"--moe-router-topk {m.moe.top_k}",
                 f"--moe-ffn-hidden-size {m.moe.expert_ffn}", "--moe-grouped-gemm",
                 f"--moe-token-dispatcher-type {plan.moe_dispatcher}"]
        if m.moe.shared_experts:
            args += [f"--moe-shared-expert-intermediate-size {m.moe.shared_experts * m.moe.expert_ffn}"]
        flags = moe_layer_flags(job)
        if not all(flags):
            args += [f"--moe-layer-freq {_pattern(flags)!r}"]
        args += ROUTING_ARGS[job.moe_routing]
    if m.mla:
        args += ["--multi-latent-attention", "--rope-type rope", "--qk-layernorm", f"--kv-lora-rank {m.mla.kv_lora_rank}",
                 f"--qk-head-dim {m.mla.qk_nope_head_dim}", f"--qk-pos-emb-head-dim {m.mla.qk_rope_head_dim}",
                 f"--v-head-dim {m.mla.v_head_dim}"]
        if m.mla.q_lora_rank:
            args += [f"--q-lora-rank {m.mla.q_lora_rank}"]
    args += [
        f"--tensor-model-parallel-size {plan.tp}", f"--pipeline-model-parallel-size {plan.pp}",
        *_pipeline_args(m.layers, plan),
        f"--context-parallel-size {plan.cp}", f"--micro-batch-size {plan.mbs}",
        f"--global-batch-size {job.global_batch}",
    ]
    if plan.cp > 1:
        args += [f"--cp-comm-type {plan.cp_comm_type}"]
    if plan.ep > 1:
        args += [f"--expert-model-parallel-size {plan.ep}", f"--expert-tensor-parallel-size {plan.etp}"]
    if plan.tp > 1 and plan.sequence_parallel:
        args += ["--sequence-parallel"]
    if plan.tp_comm_overlap:
        args += ["--tp-comm-overlap"]
    if plan.ep_comm_overlap:
        args += ["--overlap-moe-expert-parallel-comm"]
    if plan.cuda_graphs:
        args += graph_args(plan.cuda_graph_scope, m.moe)
    if plan.offload_layers:
        args += ["--cpu-offloading", f"--cpu-offloading-num-layers {plan.offload_layers}"]
    if plan.zero >= 2:
        args += ["--use-megatron-fsdp", f"--data-parallel-sharding-strategy {FSDP_STRATEGY[plan.zero]}",
                 "--ckpt-format fsdp_dtensor", "--overlap-grad-reduce", "--overlap-param-gather"]
    elif plan.zero == 1:
        args += ["--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather"]
    else:
        args += ["--overlap-grad-reduce"]
    if plan.recompute == "selective":
        args += ["--recompute-granularity selective", "--recompute-modules " + " ".join(selective_modules(job.model))]
    elif plan.recompute == "full":
        args += ["--recompute-granularity full", "--recompute-method uniform", "--recompute-num-layers 1"]
    args += ["--fp16" if job.precision == "fp16" else "--bf16", "--attention-backend flash"]
    if job.precision == "fp8":
        args += ["--fp8-format hybrid", "--fp8-recipe tensorwise"]
    elif job.precision == "mxfp8":
        args += ["--fp8-format e4m3", "--fp8-recipe mxfp8"]
    elif job.precision == "nvfp4":
        args += ["--fp4-format e2m1", "--fp4-recipe nvfp4"]
    return args


def megatron_command(job: Job, plan: Plan, cluster: Cluster | None = None) -> str:
    per_node = cluster.scale_up.gpus_per_server if cluster else min(8, plan.gpus)
    head = f"torchrun --nnodes {-(-plan.gpus // per_node)} --nproc-per-node {per_node} pretrain_gpt.py"
    return " \\\n  ".join([head] + megatron_args(job, plan)) + "\n"


# ---------------------------------------------------------------- torchtitan 0.3


def torchtitan_parallelism(job: Job, plan: Plan) -> dict[str, object]:
    """ParallelismConfig fields (torchtitan/config/configs.py) for the plan."""
    a = arch(job.model)
    par: dict[str, object] = {
        "data_parallel_replicate_degree": plan.dp if plan.zero == 0 else 1,
        "data_parallel_shard_degree": 1 if plan.zero == 0 else plan.dp,
        "tensor_parallel_degree": plan.tp,
        "enable_sequence_parallel": plan.sequence_parallel,
        "pipeline_parallel_degree": plan.pp,
        "context_parallel_degree": plan.cp,
        "expert_parallel_degree": plan.ep,
    }
    if plan.zero:
        par["fsdp_reshard_after_forward"] = TITAN_RESHARD[plan.zero]
    if plan.pp > 1:
        par["pipeline_parallel_schedule"] = TITAN_SCHEDULES[plan.schedule]
        stages = titan_stages(plan.pp, plan.vpp, plan.schedule)
        par["pipeline_parallel_layers_per_stage"] = int(titan_layers_per_stage(a.layers, stages))
        par["pipeline_parallel_microbatch_size"] = plan.mbs
    return par


def torchtitan_config(job: Job, plan: Plan) -> str:
    """A torchtitan 0.3 config module: ``torchrun -m torchtitan.train --module <it> --config gigafactory_plan``."""
    _check(job, plan, "torchtitan")
    plan = canonical(job, plan)
    if job.model.id not in TORCHTITAN_MODELS:
        raise SpecError("model", f"torchtitan 0.3 has no model definition for {job.model.id}", list(TORCHTITAN_MODELS))
    module, flavor, base = TORCHTITAN_MODELS[job.model.id]
    recipe = check_precision(job.model_copy(update={"framework": "torchtitan"}))
    local = job.global_batch // plan.dp if plan.pp > 1 else plan.mbs
    par = torchtitan_parallelism(job, plan)
    balanced = job.model.moe is not None and job.moe_routing == "force-balanced"
    imports = ["from torchtitan.config import CompileConfig, " + ("DebugConfig, " if balanced else "")
               + "ParallelismConfig, TrainingConfig"]
    conv = ""
    if recipe != "bf16":
        cls = {"rowwise": "Float8LinearConverter", "mxfp8": "MXFP8LinearConverter",
               "nvfp4": "NVFP4LinearConverter"}[recipe]
        imports.append(f"from torchtitan.components.quantization import {cls}")
        kw = f'recipe_name="{recipe}", filter_fqns=["output"], ' if recipe == "rowwise" else ""
        conv = f", converters=[{cls}.Config({kw}model_compile_enabled={plan.compile})]"
    ac = {"none": "None", "selective": "SelectiveAC.Config()", "full": "FullAC.Config()"}[plan.recompute]
    if plan.recompute != "none":
        imports.append(f"from torchtitan.distributed.activation_checkpoint import {ac.split('.')[0]}")
    imports += [f"from torchtitan.models.{module} import model_registry",
                f"from torchtitan.models.{module}.config_registry import {base}"]
    body = [
        f"    config = {base}()",
        f'    config.model_spec = model_registry("{flavor}"{conv})',
        f"    config.training = TrainingConfig(local_batch_size={local}, global_batch_size={job.global_batch}, "
        # the plan runs eagerly: torchtitan's whole-step CUDA graph is not a plan choice for it (and
        # Trainer.Config refuses it with PP, or with an EP dispatcher that syncs on the host)
        f"seq_len={job.seq_len}, steps={max(1, round(job.steps))}, disable_cuda_graphs=True)",
        "    config.parallelism = ParallelismConfig(",
        *[f"        {k}={v!r}," for k, v in par.items()],
        "    )",
        f"    config.activation_checkpoint = {ac}",
        f"    config.compile = CompileConfig(enable={plan.compile}, "
        f"enable_async_tensor_parallel={plan.tp_comm_overlap}, components=['model', 'loss'])",
        *(["    config.debug = DebugConfig(moe_force_load_balance=True)  # the benchmarks' round-robin router"]
          if balanced else []),
        "    return config",
    ]
    head = [
        f'"""{job.model.name} on {plan.gpus} GPUs: a gigafactory plan as a torchtitan 0.3 job.',
        "",
        f"Run: PYTHONPATH=. torchrun --nnodes N --nproc-per-node G -m torchtitan.train --module <this module> "
        f"--config gigafactory_plan  (N x G = {plan.gpus})",
        '"""',
        "",
    ]
    return "\n".join(head + imports + ["", "", "def gigafactory_plan():"] + body) + "\n"


def emit(job: Job, plan: Plan, fmt: str, cluster: Cluster | None = None) -> str:
    if fmt == "megatron":
        return megatron_command(job, plan, cluster)
    if fmt == "torchtitan":
        return torchtitan_config(job, plan)
    raise SpecError("--emit", f"unknown format {fmt!r}", FORMATS)
