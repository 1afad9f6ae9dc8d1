"""What each training stack runs: parallelism combinations, schedules, recompute, precision, dispatchers.

A plan the planner proposes must be one its framework accepts: :func:`framework_reject` marks, over the
engine's plan columns (:mod:`gigafactory.perf.columns`), the plans a job's ``framework`` cannot launch.
The facts come from the frameworks' own argument checks and configuration:

* Megatron-LM: ``megatron/training/arguments.py`` (``validate_args``) and Megatron-Core's
  ``TransformerConfig`` (NVIDIA/Megatron-LM main, Aug 2026; megatron-core 0.16.1 on PyPI).
* torchtitan 0.3.0 (PyPI): ``torchtitan/config/configs.py`` (``ParallelismConfig``, ``CompileConfig``),
  ``torchtitan/distributed/parallel_dims.py``, ``torchtitan/distributed/pipeline_parallel.py`` and the
  schedules of ``torch.distributed.pipelining`` (torch 2.13).

NeMo 2 trains with Megatron-Core and inherits its rules; "other" is any stack, so nothing is ruled out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..specs import CP_COMM_TYPES, DISPATCHERS, FRAMEWORKS, SCHEDULES, Job, Plan
from .columns import choices, encode
from .params import arch


@dataclass(frozen=True)
class Capabilities:
    """One framework's choices; each tuple lists the gigafactory values it runs."""

    name: str
    schedules: tuple[str, ...]
    recompute: tuple[str, ...]
    #: gigafactory precision -> the framework's name for that recipe
    precisions: dict[str, str]
    cp_comm_types: tuple[str, ...]
    dispatchers: tuple[str, ...]
    #: Job.moe_routing values it can run (capacity: token drop padded to capacity; force-balanced: benchmarks)
    moe_routings: tuple[str, ...]
    zero: tuple[int, ...]  # ZeRO stages it shards to (0 = plain data parallel)
    sharded_params_with_pp: bool  # ZeRO-2/3 (FSDP) together with pipeline parallelism
    sharded_params_with_ep: bool  # ZeRO-2/3 (FSDP) together with expert parallelism
    expert_tp: bool  # experts split by their own tensor-parallel size (etp > 1)
    compile: bool  # torch.compile of the model
    #: Transformer Engine CUDA graphs of the attention block and the MoE router / preprocessing
    cuda_graphs: bool
    #: layer-level activation offload to host memory (Megatron-Core cpu_offloading: no PP, no recompute)
    offload: bool
    tp_overlap_needs_compile: bool  # TP/GEMM overlap (async TP) only under torch.compile
    tp_overlap_needs_sp: bool  # TP/GEMM overlap only with sequence parallelism
    ep_overlap: bool  # MoE all-to-all hidden behind another micro-batch's compute
    #: the Ulysses all-to-all needs heads (and KV groups) per TP rank divisible by cp
    a2a_needs_heads_per_cp: bool
    #: tensor parallelism on MoE layers with ep > 1 requires sequence parallelism
    moe_tp_needs_sp: bool
    #: uneven pipelines: torchtitan splits L + 2 "layer units" (embedding and head each count as one,
    #: pipeline_parallel_first/last_stage_less_layers = 1) into stages of layers_per_stage units
    titan_stage_split: bool
    #: the attention's q, k, v and a gated MLP's gate and up projections are separate linears (torchtitan's
    #: Llama modules wq, wk, wv, w1, w3), so each runs its own GEMM and the backward sums their input
    #: gradients; Megatron-Core fuses them (linear_qkv, linear_fc1)
    separate_projections: bool
    source: str


MEGATRON = Capabilities(
    name="megatron",
    # --num-virtual-stages-per-pipeline-rank gives interleaved 1F1B; Megatron-LM has no zero-bubble or
    # DualPipe schedule (its EP overlap, --overlap-moe-expert-parallel-comm, runs inside 1F1B)
    schedules=("1f1b", "interleaved"),
    recompute=("none", "selective", "full"),  # --recompute-granularity selective|full
    # --fp8-recipe {delayed, tensorwise, mxfp8, blockwise}, --fp4-recipe nvfp4 (Transformer Engine recipes);
    # no row-wise fp8 recipe
    precisions={"bf16": "bf16", "fp16": "fp16", "fp8": "tensorwise", "mxfp8": "mxfp8", "nvfp4": "nvfp4"},
    cp_comm_types=("p2p", "a2a", "allgather"),  # --cp-comm-type (also a2a+p2p, hierarchical)
    dispatchers=("alltoall", "allgather", "flex"),  # --moe-token-dispatcher-type
    # --moe-expert-capacity-factor with --moe-pad-expert-input-to-capacity; --moe-router-force-load-balancing
    moe_routings=("dropless", "capacity", "force-balanced"),
    # 1: --use-distributed-optimizer; 2/3: --use-megatron-fsdp --data-parallel-sharding-strategy
    # optim_grads / optim_grads_params
    zero=(0, 1, 2, 3),
    # validate_args: '--use-torch-fsdp2 is not supported with pipeline parallelism' (and with expert
    # parallelism); Megatron-FSDP's published configurations all run PP=1 (examples/megatron_fsdp/README.md),
    # the DeepSeek-V3 one with EP=8
    sharded_params_with_pp=False,
    sharded_params_with_ep=True,
    expert_tp=True,  # --expert-tensor-parallel-size
    compile=False,  # no torch.compile of the model: fused kernels come from Transformer Engine
    # --cuda-graph-impl transformer_engine --cuda-graph-scope attn moe_router moe_preprocess (TransformerConfig:
    # 'full recompute is only supported with full iteration CUDA graph'); Megatron-Bridge's performance
    # recipes set it for their MoE workloads (scripts/performance/configs/qwen/qwen3_workload_base_configs.py)
    cuda_graphs=True, offload=True,
    tp_overlap_needs_compile=False,  # --tp-comm-overlap (Transformer Engine userbuffers)
    # validate_args: 'Tensor parallel communication/GEMM overlap can happen only when sequence parallelism
    # is enabled'
    tp_overlap_needs_sp=True,
    ep_overlap=True,  # --overlap-moe-expert-parallel-comm
    a2a_needs_heads_per_cp=True,
    # ModelParallelConfig: 'When using expert parallelism and tensor parallelism for training, sequence
    # parallelism must be used'
    moe_tp_needs_sp=True,
    titan_stage_split=False,  # --decoder-first/last-pipeline-num-layers or --pipeline-model-parallel-layout
    separate_projections=False,  # TransformerLayer's linear_qkv and linear_fc1 (gate and up in one GEMM)
    source="NVIDIA/Megatron-LM megatron/training/arguments.py validate_args; megatron-core 0.16.1 TransformerConfig",
)

TORCHTITAN = Capabilities(
    name="torchtitan",
    # parallelism.pipeline_parallel_schedule: 1F1B, Interleaved1F1B, ZBVZeroBubble, DualPipeV
    # (torch.distributed.pipelining.schedules.get_schedule_class); no bidirectional DualPipe, and its zero-bubble
    # H1 schedule, InterleavedZeroBubble, runs only with several chunks per rank (gigafactory's zb-h1 has one)
    schedules=("1f1b", "interleaved", "zb-v", "dualpipev"),
    recompute=("none", "selective", "full"),  # activation-checkpoint:none|selective|full
    # Float8LinearConverter recipe_name rowwise | rowwise_with_gw_hp (no tensorwise recipe in 0.3.0),
    # MXFP8LinearConverter, NVFP4LinearConverter (torchao); training.mixed_precision_param bfloat16
    precisions={"bf16": "bf16", "fp8-rowwise": "rowwise", "mxfp8": "mxfp8", "nvfp4": "nvfp4"},
    # ring attention of torch.distributed.tensor.experimental context_parallel: K/V all-gather by default
    cp_comm_types=("allgather",),
    dispatchers=("alltoall", "flex"),  # all-to-all; HybridEP override (torchtitan/overrides/moe_token_dispatcher.py)
    # token-choice routing is dropless (no capacity factor); DebugConfig.moe_force_load_balance routes round-robin
    moe_routings=("dropless", "force-balanced"),
    # FSDP2 fully_shard over data_parallel_shard_degree (reshard_after_forward always = 3, never = 2), or
    # replicate-only; there is no optimizer-only sharding (ZeRO-1)
    zero=(0, 2, 3),
    sharded_params_with_pp=True,  # FSDP2 + PP is torchtitan's 3D/4D layout (Llama 3.1 405B recipe)
    sharded_params_with_ep=True,
    expert_tp=False,  # experts borrow TP ranks for EP (efsdp = dp_shard * cp * tp / ep); no expert TP degree
    compile=True,  # compile.enable
    cuda_graphs=False,  # no CUDA-graph option in its training config
    offload=False,  # no layer-level activation offload
    tp_overlap_needs_compile=True,  # compile.enable_async_tensor_parallel needs compile.enable
    tp_overlap_needs_sp=False,
    ep_overlap=False,
    a2a_needs_heads_per_cp=False,
    moe_tp_needs_sp=False,
    titan_stage_split=True,
    # models/llama3/model.py: Attention.wq / wk / wv (xq, xk, xv = self.wq(x), self.wk(x), self.wv(x)) and
    # FeedForward.w1 / w3 (self.w2(F.silu(self.w1(x)) * self.w3(x))), the same at the 2024-12 benchmark's 9dec370
    separate_projections=True,
    source="torchtitan 0.3.0 (PyPI): config/configs.py, distributed/parallel_dims.py, distributed/pipeline_parallel.py",
)

OTHER = Capabilities(
    name="other", schedules=SCHEDULES, recompute=("none", "selective", "full"),
    precisions={p: p for p in ("bf16", "fp16", "fp8", "fp8-rowwise", "mxfp8", "nvfp4")},
    cp_comm_types=CP_COMM_TYPES, dispatchers=DISPATCHERS, moe_routings=("dropless", "capacity", "force-balanced"),
    zero=(0, 1, 2, 3), sharded_params_with_pp=True,
    sharded_params_with_ep=True, expert_tp=True, compile=True, cuda_graphs=True, offload=True,
    tp_overlap_needs_compile=False, tp_overlap_needs_sp=False, ep_overlap=True,
    a2a_needs_heads_per_cp=False, moe_tp_needs_sp=False, titan_stage_split=False,
    separate_projections=False,  # unknown stack: taken as fused (estimate)
    source="no framework named: every plan the divisibility rules allow",
)

CAPABILITIES: dict[str, Capabilities] = {
    "megatron": MEGATRON,
    "nemo": Capabilities(**{**MEGATRON.__dict__, "name": "nemo",
                            "source": "NeMo 2 / Megatron-Bridge train with Megatron-Core: " + MEGATRON.source}),
    "torchtitan": TORCHTITAN,
    "other": OTHER,
}
assert tuple(CAPABILITIES) == FRAMEWORKS

#: catalog model -> torchtitan 0.3.0 (model module, flavor of its model_registry, config_registry function
#: the job starts from); torchtitan/models/*/__init__.py and config_registry.py
TORCHTITAN_MODELS: dict[str, tuple[str, str, str]] = {
    "llama3-8b": ("llama3", "8B", "llama3_8b"),
    "llama3-70b": ("llama3", "70B", "llama3_70b"),
    "llama3.1-405b": ("llama3", "405B", "llama3_405b"),
    "deepseek-v3": ("deepseek_v3", "671B", "deepseek_v3_671b"),
    "qwen3-30b-a3b": ("qwen3", "30B-A3B", "qwen3_30b_a3b"),
    "gpt-oss-120b": ("gpt_oss", "120b", "gpt_oss_120b"),
}


def capabilities(framework: str) -> Capabilities:
    if framework not in CAPABILITIES:
        raise SpecError("framework", f"unknown framework {framework!r}", FRAMEWORKS)
    return CAPABILITIES[framework]


def dispatchers_for(job: Job) -> tuple[str, ...]:
    """The MoE token dispatchers the job's framework runs it with. Megatron-Core's flex dispatcher (DeepEP
    backend) cannot pad the experts to capacity (TransformerConfig: 'Flex token dispatcher with deepep
    backend does not support moe_pad_expert_input_to_capacity'), so capacity routing leaves it out."""
    d = capabilities(job.framework).dispatchers
    if job.framework in ("megatron", "nemo") and job.moe_routing == "capacity":
        d = tuple(x for x in d if x != "flex")
    return d


def check_routing(job: Job) -> None:
    """SpecError where the job's framework cannot route its MoE as the job says."""
    ok = capabilities(job.framework).moe_routings
    if job.model.moe is not None and job.moe_routing not in ok:
        raise SpecError("moe_routing", f"{job.framework} cannot run {job.moe_routing!r} MoE routing", ok)


def check_precision(job: Job) -> str:
    """The framework's recipe name for the job's precision; SpecError if it has none."""
    cap = capabilities(job.framework)
    if job.precision not in cap.precisions:
        raise SpecError("precision", f"{cap.name} has no {job.precision} recipe", list(cap.precisions))
    return cap.precisions[job.precision]


def titan_layers_per_stage(layers: np.ndarray, stages: np.ndarray) -> np.ndarray:
    """torchtitan's pipeline_parallel_layers_per_stage giving `stages` stages for `layers` layers.

    torchtitan makes ``ceil((L + 2) / layers_per_stage)`` stages (embedding and head count as one
    layer each); the smallest layers_per_stage with at most `stages` stages.
    """
    return -(-(np.asarray(layers) + 2) // np.maximum(np.asarray(stages), 1))


def framework_reject(job: Job, P: dict[str, np.ndarray]) -> np.ndarray:
    """True where the job's framework cannot launch the plan (vectorised over the plan columns).

    A rule whose columns are absent from `P` is not applied (the planner checks its structural axes
    before it adds recompute, ZeRO stage and the other choices).
    """
    cap = capabilities(job.framework)
    a = arch(job.model)
    n = np.broadcast(*(np.asarray(v) for v in P.values())).shape
    # each rule's array is only as large as the columns it reads (a default is a scalar): the planner
    # passes columns that broadcast against each other, and a rule over small ones stays small
    bad = np.zeros((), dtype=bool)
    has = set(P)

    def c(name: str) -> np.ndarray:
        return np.asarray(P[name], dtype=np.int64) if name in P else np.asarray(_default(name), dtype=np.int64)

    def code(name: str, value: str) -> int:
        return choices(name).index(value)

    def allowed(name: str, values: tuple) -> np.ndarray:
        return np.isin(c(name), [code(name, x) for x in values])

    tp, pp, v, cp, ep, dp, etp = (c(k) for k in ("tp", "pp", "vpp", "cp", "ep", "dp", "etp"))
    sched = c("schedule")
    sched = np.where((sched == code("schedule", "1f1b")) & (v > 1), code("schedule", "interleaved"), sched)
    if "schedule" in has or "vpp" in has:
        bad = bad | ((pp > 1) & ~np.isin(sched, [code("schedule", x) for x in cap.schedules]))
    if "recompute" in has:
        bad = bad | (~allowed("recompute", cap.recompute))
    if "zero" in has:
        zero = c("zero")
        bad = bad | (~np.isin(zero, cap.zero))
        if not cap.sharded_params_with_pp:
            bad = bad | ((zero >= 2) & (pp > 1))
        if not cap.sharded_params_with_ep:
            bad = bad | ((zero >= 2) & (ep > 1))
        if cap.titan_stage_split:  # EP borrows dp_shard x cp x tp: replicate-only data parallelism leaves cp x tp
            bad = bad | ((ep > 1) & (zero == 0) & ((cp * tp) % ep != 0))
    if "compile" in has and not cap.compile:
        bad = bad | (c("compile") == 1)
    if "cuda_graphs" in has:
        graphs = c("cuda_graphs") == 1
        bad = bad | (graphs & (not cap.cuda_graphs))
        scope = c("cuda_graph_scope")
        full_it = scope == code("cuda_graph_scope", "full_iteration")
        if a.moe_layers:  # TransformerConfig: 'mlp cuda graph is only supported for dense layers'; a whole
            # layer's or iteration's graph cannot hold the dropless dispatcher's device-to-host copy of the counts
            bad = bad | (graphs & (scope == code("cuda_graph_scope", "mlp")) & (a.moe_layers >= a.layers))
            whole = full_it | (scope == code("cuda_graph_scope", "layer"))
            bad = bad | (graphs & whole & (job.moe_routing != "capacity"))
        else:  # 'moe cuda graph is only supported for MoE'
            bad = bad | (graphs & (scope == code("cuda_graph_scope", "moe_router")))
        if "recompute" in has:  # TransformerConfig: 'full recompute is only supported with full iteration CUDA
            # graph', and not a graphed attention whose dropout (GPT-style models) selective recompute redoes
            rc = c("recompute")
            bad = bad | (graphs & (rc == code("recompute", "full")) & ~full_it)
            if a.gpt_style:
                bad = bad | (graphs & (rc == code("recompute", "selective")))
        if "offload_layers" in has:  # TransformerConfig: 'CUDA graphs not supported with CPU offloading'
            bad = bad | (graphs & (c("offload_layers") > 0))
    if "offload_layers" in has:  # TransformerConfig: cpu_offloading without PP or recompute, < num_layers layers
        off = c("offload_layers") > 0
        bad = bad | (off & ((not cap.offload) | (pp > 1) | (c("offload_layers") >= job.model.layers)))
        if "recompute" in has:
            bad = bad | (off & (c("recompute") != code("recompute", "none")))
    if "tp_comm_overlap" in has:
        tpo = (c("tp_comm_overlap") == 1) & (tp > 1)
        if cap.tp_overlap_needs_compile:
            bad = bad | (tpo & (c("compile") == 0))
        if cap.tp_overlap_needs_sp:
            bad = bad | (tpo & (c("sequence_parallel") == 0))
    if "ep_comm_overlap" in has and not cap.ep_overlap:
        bad = bad | ((c("ep_comm_overlap") == 1) & (ep > 1))
    if not cap.expert_tp or not a.moe_layers:
        bad = bad | (etp > 1)
    if "cp_comm_type" in has:
        bad = bad | ((cp > 1) & ~allowed("cp_comm_type", cap.cp_comm_types))
        if cap.a2a_needs_heads_per_cp:
            a2a = (cp > 1) & (c("cp_comm_type") == code("cp_comm_type", "a2a"))
            bad = bad | (a2a & (((a.heads // tp) % cp != 0) | ((a.kv_heads // np.minimum(tp, a.kv_heads)) % cp != 0)))
    if a.moe_layers:
        if "moe_dispatcher" in has:
            bad = bad | ((ep > 1) & ~allowed("moe_dispatcher", dispatchers_for(job)))
        bad = bad | ((tp * cp * dp) % np.maximum(ep * etp, 1) != 0)  # expert grid: tp x cp x dp = etp x ep x edp
        if cap.moe_tp_needs_sp and "sequence_parallel" in has:
            bad = bad | ((tp > 1) & (ep > 1) & (c("sequence_parallel") == 0))
    if cap.titan_stage_split:
        # the V schedules (zb-v, dualpipev: vpp 1 in gigafactory's plans) run two stages per rank
        stages = pp * np.where(_v_shape(sched), 2, v)
        lps = titan_layers_per_stage(a.layers, stages)
        bad = bad | ((pp > 1) & (-(-(a.layers + 2) // lps) != stages))
    return np.broadcast_to(bad, n)


def _v_shape(sched: np.ndarray) -> np.ndarray:
    return np.isin(sched, [choices("schedule").index(x) for x in ("zb-v", "dualpipe", "dualpipev")])


def titan_stages(pp: int, vpp: int, schedule: str) -> int:
    """torchtitan pipeline stages of a plan: pp x vpp, two per rank for the V schedules."""
    return pp * (2 if schedule in ("zb-v", "dualpipe", "dualpipev") else vpp)


def _default(name: str) -> int:
    return encode(name, getattr(Plan(), name))
