"""`--emit megatron` checked by Megatron-Core itself: the flags become megatron-core's TransformerConfig
(its own ModelParallelConfig / TransformerConfig validations run on the real parallel layout) and the
model is built on the meta device, its parameter count compared with gigafactory's.

megatron-core on PyPI ships no ``megatron/training/arguments.py``; current Megatron-LM generates its
transformer flags from TransformerConfig's fields (ArgumentGroupFactory): a flag is the field's name with
dashes, or the ``argparse_meta`` ``arg_names`` the field carries (``--norm-epsilon``, ``--fp8-format``,
``--disable-bias-linear``); the few the argument parser renames or consumes itself are listed here. A flag
that is neither fails the test. Transformer Engine (CUDA-only wheels) and Apex cannot be installed on a CPU
machine: the model is the GPT layer spec with Megatron-Core's own layers, and the configuration checks that
ask Transformer Engine's version (fp8 with MoE) are told 2.8, a version that has every recipe emitted.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import typing

import pytest

from gigafactory.perf.emit import emit
from gigafactory.perf.params import total_params
from gigafactory.resolve import model
from gigafactory.specs import Job, Plan

if os.environ.get("CI"):  # `make test` installs the test extra: there these tests must run, not skip
    import megatron.core  # noqa: F401
megatron_core = pytest.importorskip("megatron.core")
torch = pytest.importorskip("torch")
# the frameworks warn about what a CPU machine lacks (Apex, Transformer Engine, CUDA); not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")

#: flags Megatron-LM's argument parser renames to a TransformerConfig field
RENAMED = {
    "num-experts": "num_moe_experts",
    "decoder-first-pipeline-num-layers": "num_layers_in_first_pipeline_stage",
    "decoder-last-pipeline-num-layers": "num_layers_in_last_pipeline_stage",
    "num-virtual-stages-per-pipeline-rank": "virtual_pipeline_model_parallel_size",
}
#: GPTModel's own arguments (core_transformer_config_from_args leaves them to the model)
GPT_MODEL = {"vocab-size", "max-position-embeddings", "position-embedding-type", "rotary-base", "use-rope-scaling",
             "rope-scaling-factor", "untie-embeddings-and-output-weights"}
#: DistributedDataParallelConfig fields
DDP = {"use-distributed-optimizer", "overlap-grad-reduce", "overlap-param-gather", "use-megatron-fsdp",
       "data-parallel-sharding-strategy"}
#: training-loop and data arguments of pretrain_gpt.py (batch, data, checkpoint format)
LOOP = {"seq-length", "micro-batch-size", "global-batch-size", "tokenizer-type", "mock-data", "train-iters",
        "ckpt-format"}


def parse(command: str) -> tuple[int, dict[str, list[str] | bool]]:
    toks = shlex.split(command.replace("\\\n", " "))
    i = toks.index("pretrain_gpt.py")
    world = int(toks[toks.index("--nnodes") + 1]) * int(toks[toks.index("--nproc-per-node") + 1])
    flags: dict[str, list[str] | bool] = {}
    for t in toks[i + 1:]:
        if t.startswith("--"):
            name = t[2:]
            assert name not in flags, f"--{name} given twice"
            flags[name] = True
        else:
            flags[name] = [t] if flags[name] is True else [*flags[name], t]
    return world, flags


def _kind(ann) -> type:
    """The value type of a dataclass field annotation (Optional / Union / Literal unwrapped)."""
    args = typing.get_args(ann) or (ann,)
    if typing.get_origin(ann) is typing.Literal:
        return type(args[0])
    for k in (bool, int, float):
        if k in args:
            return k
    return str


def config_from_flags(flags: dict) -> tuple[object, dict, dict]:
    """(TransformerConfig, GPTModel kwargs, DDP config kwargs), mapped as Megatron-LM's arguments do."""
    import torch.nn.functional as F
    from megatron.core.activations import squared_relu
    from megatron.core.transformer import MLATransformerConfig, TransformerConfig
    from megatron.core.transformer.enums import AttnBackend

    cls = MLATransformerConfig if flags.get("multi-latent-attention") else TransformerConfig
    fields = {f.name: f for f in dataclasses.fields(cls)}
    by_flag = {n.replace("_", "-"): n for n in fields}
    by_flag |= {a.removeprefix("--"): f.name for f in fields.values()
                for a in f.metadata.get("argparse_meta", {}).get("arg_names", [])}
    by_flag |= RENAMED
    kw: dict = {"params_dtype": torch.bfloat16, "pipeline_dtype": torch.bfloat16}  # as Megatron-LM sets them
    gpt: dict = {}
    ddp: dict = {}
    for name, val in flags.items():
        one = val[0] if isinstance(val, list) and len(val) == 1 else val
        if name in GPT_MODEL:
            gpt[name] = one
            if by_flag.get(name) in fields:  # MLA's config takes the rotary base too
                kw[by_flag[name]] = float(one)
        elif name in DDP:
            ddp[name.replace("-", "_")] = one
        elif name in LOOP:
            continue
        elif name == "swiglu":
            kw |= {"gated_linear_unit": True, "activation_func": F.silu, "bias_activation_fusion": False}
        elif name == "squared-relu":
            kw["activation_func"] = squared_relu
        elif name in ("group-query-attention", "multi-latent-attention"):
            continue  # selects num_query_groups / the MLA config class
        elif name == "attention-backend":
            kw["attention_backend"] = AttnBackend[one]
        elif name == "window-size":  # Megatron-LM's tuple_type: "128,0" -> (128, 0)
            kw["window_size"] = tuple(int(v) for v in one.strip("()").split(","))
        elif name == "moe-layer-freq":
            kw["moe_layer_freq"] = eval(one, {"__builtins__": {}})  # Megatron's moe_freq_type does the same
        else:
            assert name in by_flag, f"--{name} is neither a {cls.__name__} field nor a flag Megatron-LM maps"
            field = by_flag[name]
            kind = _kind(fields[field].type)
            if one is True:  # store_true, or store_false for a field that defaults to True
                kw[field] = fields[field].default is not True
            elif isinstance(one, list):  # nargs='+' (--cuda-graph-scope attn moe_router ...)
                kw[field] = one
            else:
                kw[field] = kind(one)
    if "pipeline_model_parallel_layout" in kw:
        kw["virtual_pipeline_model_parallel_size"] = None  # the layout says it
    return cls, kw, (gpt, ddp)


def build_params(cls, kw: dict, gpt: dict) -> int:
    """Parameter count of the model the flags describe, built whole (no parallelism) on the meta device."""
    import torch.distributed as dist
    from megatron.core import parallel_state
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_decoder_block_spec

    if not dist.is_initialized():  # one process: an in-process store, no TCP port two runs could both want
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(1, 1)
    whole = {k: v for k, v in kw.items() if k not in (
        "tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size", "cp_comm_type",
        "expert_model_parallel_size", "expert_tensor_parallel_size", "sequence_parallel", "tp_comm_overlap",
        "virtual_pipeline_model_parallel_size", "num_layers_in_first_pipeline_stage",
        "num_layers_in_last_pipeline_stage", "pipeline_model_parallel_layout", "overlap_moe_expert_parallel_comm",
        "fp8", "fp8_recipe", "fp4", "fp4_recipe", "moe_token_dispatcher_type",
        "moe_grouped_gemm", "recompute_granularity", "recompute_modules")}
    # grouped GEMM needs the grouped_gemm CUDA package: experts as separate MLPs (and moe_act recompute,
    # which needs grouped GEMMs, goes with it: recompute holds no parameters)
    config = cls(**whole, use_cpu_initialization=True)
    spec = get_gpt_decoder_block_spec(config, use_transformer_engine=False, normalization=config.normalization)
    if config.multi_latent_attention:
        # megatron-core 0.16.1's local MLA passes k_channels to the local DotProductAttention, which takes none;
        # the attention core holds no weights, so a stand-in leaves the parameter count as it is
        from megatron.core.transformer.identity_op import IdentityOp

        for layer in spec.layer_specs:
            layer.submodules.self_attention.submodules.core_attention = IdentityOp
    vocab = int(gpt["vocab-size"])
    vocab = -(-vocab // 128) * 128  # --make-vocab-size-divisible-by 128 at TP 1
    with torch.device("meta"):
        m = GPTModel(config=config, transformer_layer_spec=spec, vocab_size=vocab,
                     max_sequence_length=int(gpt["max-position-embeddings"]),
                     position_embedding_type=gpt["position-embedding-type"],
                     rotary_base=int(float(gpt.get("rotary-base", 10000))),
                     rope_scaling=bool(gpt.get("use-rope-scaling")),
                     rope_scaling_factor=float(gpt.get("rope-scaling-factor", 8.0)),
                     share_embeddings_and_output_weights="untie-embeddings-and-output-weights" not in gpt)
    return sum(p.numel() for p in m.parameters())


CASES = {
    # dense, GQA, 126 layers on PP8: uneven first/last stages (15 + 6 x 16 + 15)
    "llama3.1-405b": (Job(model=model("llama3.1-405b"), tokens=15e12, seq_len=8192, global_batch=2048),
                      Plan(tp=8, pp=8, cp=2, dp=64, mbs=1, recompute="selective", tp_comm_overlap=True,
                           cuda_graphs=True)),
    # MoE with MLA, 3 dense layers, 61 layers over PP16 x 2 virtual stages (a pipeline layout), EP64
    "deepseek-v3": (Job(model=model("deepseek-v3"), tokens=14.8e12, seq_len=4096, global_batch=15360,
                        precision="fp8"),
                    Plan(tp=1, pp=16, vpp=2, ep=64, dp=128, mbs=1, recompute="selective", ep_comm_overlap=True,
                         moe_dispatcher="flex", cuda_graphs=True)),
    "llama3-8b": (Job(model=model("llama3-8b"), tokens=15e12, seq_len=8192, global_batch=512),
                  # full recompute with graphs: only as one graph of the whole iteration (local implementation)
                  Plan(tp=2, pp=4, vpp=4, dp=8, mbs=1, recompute="full", zero=1, cuda_graphs=True,
                       cuda_graph_scope="full_iteration")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_emitted_megatron_flags_construct_in_megatron_core(name: str, monkeypatch) -> None:
    import megatron.core.transformer.transformer_config as tc
    from packaging.version import Version

    monkeypatch.setattr(tc, "is_te_min_version", lambda v, check_equality=True: Version("2.8.0") >= Version(v))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: "cpu")  # MLA's rotary tables: no GPU here
    import megatron.core.transformer.multi_latent_attention as mla

    # its TE import is guarded, leaving HAVE_TE true with TELinear None when Transformer Engine is absent
    monkeypatch.setattr(mla, "HAVE_TE", False)
    job, plan = CASES[name]
    world, flags = parse(emit(job, plan, "megatron"))
    assert world == plan.gpus
    cls, kw, (gpt, ddp) = config_from_flags(flags)
    cfg = cls(**kw)  # Megatron-Core's own checks of the parallel layout, MoE, MLA and precision settings
    assert (cfg.tensor_model_parallel_size, cfg.pipeline_model_parallel_size, cfg.context_parallel_size) == (
        plan.tp, plan.pp, plan.cp)
    assert cfg.num_layers == job.model.layers
    if plan.recompute == "selective":  # the modules whose activations the memory model drops
        want = {"core_attn", "layernorm"} | ({"moe_act"} if job.model.moe else set()) | (
            {"mla_up_proj"} if job.model.mla else set())
        assert cfg.recompute_granularity == "selective" and set(cfg.recompute_modules) == want
    from megatron.core.distributed import DistributedDataParallelConfig

    DistributedDataParallelConfig(**ddp)
    if plan.pp > 1:  # the layers Megatron-Core places on each pipeline rank add up to the model
        from megatron.core.transformer.enums import LayerType
        from megatron.core.transformer.transformer_block import get_num_layers_to_build

        layout = cfg.pipeline_model_parallel_layout
        if layout is not None:
            assert layout.virtual_pipeline_model_parallel_size == plan.vpp
            per_rank = [sum(stage.count(LayerType.decoder) for stage in layout.layout[r]) for r in range(plan.pp)]
        else:
            assert (cfg.virtual_pipeline_model_parallel_size or 1) == plan.vpp
            per_rank = [get_num_layers_to_build(cfg, vp_stage=0, pp_rank=r) * plan.vpp for r in range(plan.pp)]
        assert sum(per_rank) == job.model.layers
        assert max(per_rank) <= -(-job.model.layers // (plan.pp * plan.vpp)) * plan.vpp
    # the local graphs' manager needs CUDA's graph-safe RNG, which a CPU torch lacks; it holds no parameters
    n = build_params(cls, kw | {"cuda_graph_impl": "none"} if kw.get("cuda_graph_impl") == "local" else kw, gpt)
    print(f"{name}: megatron-core {n:,} parameters, gigafactory {total_params(job.model):,.0f}")
    assert n == pytest.approx(total_params(job.model), rel=0.005)


def test_sliding_window_flags_reach_megatron_core(monkeypatch) -> None:
    # gpt-oss: banded 128-token attention on every layer but one in two; Megatron-Core's TransformerConfig
    # takes the window as (left, right) and the full-attention frequency as window_attn_skip_freq
    import megatron.core.transformer.transformer_config as tc
    from packaging.version import Version

    monkeypatch.setattr(tc, "is_te_min_version", lambda v, check_equality=True: Version("2.8.0") >= Version(v))
    job = Job(model=model("gpt-oss-120b"), tokens=1e12, seq_len=4096, global_batch=512)
    plan = Plan(tp=1, pp=1, ep=8, dp=8, mbs=1, recompute="none")
    _, flags = parse(emit(job, plan, "megatron"))
    cls, kw, _ = config_from_flags(flags)
    cfg = cls(**kw)
    assert cfg.window_size == (128, 0) and cfg.window_attn_skip_freq == 2


def test_activation_offload_flags_reach_megatron_core(monkeypatch) -> None:
    import megatron.core.transformer.transformer_config as tc
    from packaging.version import Version

    monkeypatch.setattr(tc, "is_te_min_version", lambda v, check_equality=True: Version("2.8.0") >= Version(v))
    job = Job(model=model("llama3-70b"), tokens=1e12, seq_len=8192, global_batch=128)
    _, flags = parse(emit(job, Plan(tp=1, dp=64, mbs=2, zero=3, offload_layers=20), "megatron"))
    cls, kw, _ = config_from_flags(flags)
    cfg = cls(**kw)  # its checks: no PP, no recompute, fewer offloaded layers than the model's
    assert cfg.cpu_offloading and cfg.cpu_offloading_num_layers == 20


def test_moe_routing_flags_reach_megatron_core(monkeypatch) -> None:
    """Capacity routing as Megatron-Bridge's token-drop recipe sets it (capacity factor 1.0, experts padded
    to capacity) and the benchmarks' force-balanced router, in Megatron-Core's own TransformerConfig; the
    padded recipe with the flex (DeepEP) dispatcher is what TransformerConfig refuses, and the planner
    never proposes it."""
    import megatron.core.transformer.transformer_config as tc
    from packaging.version import Version

    monkeypatch.setattr(tc, "is_te_min_version", lambda v, check_equality=True: Version("2.8.0") >= Version(v))
    plan = Plan(tp=1, pp=1, ep=8, dp=8, mbs=1, recompute="none")
    cfgs = {}
    for routing in ("capacity", "force-balanced", "dropless"):
        job = Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096, global_batch=512, moe_routing=routing)
        cls, kw, _ = config_from_flags(parse(emit(job, plan, "megatron"))[1])
        cfgs[routing] = cls(**kw)
    assert cfgs["capacity"].moe_expert_capacity_factor == 1.0 and cfgs["capacity"].moe_pad_expert_input_to_capacity
    assert cfgs["force-balanced"].moe_router_force_load_balancing
    assert cfgs["dropless"].moe_expert_capacity_factor is None and not cfgs["dropless"].moe_router_force_load_balancing
    cls, kw, _ = config_from_flags(parse(emit(Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096,
                                                  global_batch=512, moe_routing="capacity"), plan, "megatron"))[1])
    with pytest.raises(ValueError, match="pad_expert_input_to_capacity"):
        cls(**(kw | {"moe_token_dispatcher_type": "flex"}))
