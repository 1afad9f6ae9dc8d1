"""A Megatron-LM launch (``[torchrun ...] pretrain_gpt.py --flags``, or the flags alone) read as a
:class:`~gigafactory.launch_reader.launch.Launch`: every flag understood, known not to change a step, or
refused with one line naming it."""

from __future__ import annotations

import ast
import difflib
import re
import shlex

from ..errors import SpecError, closest
from ..perf.emit import FSDP_STRATEGY, GRAPH_SCOPES, selective_modules
from ..specs import Job, Mla, Model, Moe, Plan
from .launch import DEFAULT_TOKENS, Launch, _validated, match_catalog

_INT, _FLOAT, _STR, _BOOL, _LIST = "int", "float", "str", "bool", "list"
#: the flags that decide the model, the plan or the precision, with their value type
MEGATRON_FLAGS: dict[str, str] = {
    **{f: _INT for f in (
        "num-layers", "hidden-size", "num-attention-heads", "num-query-groups", "ffn-hidden-size", "kv-channels",
        "seq-length", "max-position-embeddings", "vocab-size", "num-experts", "moe-router-topk",
        "moe-ffn-hidden-size", "moe-shared-expert-intermediate-size", "q-lora-rank", "kv-lora-rank", "qk-head-dim",
        "qk-pos-emb-head-dim", "v-head-dim", "tensor-model-parallel-size", "pipeline-model-parallel-size",
        "decoder-first-pipeline-num-layers", "decoder-last-pipeline-num-layers",
        "num-virtual-stages-per-pipeline-rank", "num-layers-per-virtual-pipeline-stage", "context-parallel-size",
        "expert-model-parallel-size", "expert-tensor-parallel-size", "micro-batch-size", "global-batch-size",
        "recompute-num-layers", "train-iters", "train-samples", "cpu-offloading-num-layers",
        "window-attn-skip-freq")},
    **{f: _FLOAT for f in ("rotary-base", "rope-scaling-factor", "norm-epsilon", "moe-expert-capacity-factor")},
    **{f: _STR for f in (
        "position-embedding-type", "normalization", "moe-token-dispatcher-type", "moe-layer-freq",
        "pipeline-model-parallel-layout", "cp-comm-type", "data-parallel-sharding-strategy",
        "recompute-granularity", "recompute-method", "fp8-format", "fp8-recipe",
        "fp4-format", "fp4-recipe", "attention-backend", "rope-type", "cuda-graph-impl", "window-size")},
    "cuda-graph-scope": _LIST,
    "recompute-modules": _LIST,
    **{f: _BOOL for f in (
        "group-query-attention", "swiglu", "squared-relu", "disable-bias-linear", "untie-embeddings-and-output-weights",
        "moe-grouped-gemm", "multi-latent-attention", "qk-layernorm", "use-rope-scaling", "sequence-parallel",
        "tp-comm-overlap", "overlap-moe-expert-parallel-comm", "use-distributed-optimizer", "use-megatron-fsdp",
        "moe-pad-expert-input-to-capacity", "moe-router-force-load-balancing",
        "use-torch-fsdp2", "overlap-grad-reduce", "overlap-param-gather", "bf16", "fp16", "use-flash-attn",
        "cpu-offloading")},
}
#: flags read and known not to change the step time (data, tokenizer files, optimizer and LR schedule,
#: initialisation, checkpoints, logging, MoE router and load-balancing losses)
MEGATRON_UNMODELLED = frozenset((
    "data-path", "mock-data", "split", "tokenizer-type", "tokenizer-model", "vocab-file", "merge-file",
    "data-cache-path", "num-workers", "lr", "min-lr", "lr-decay-style", "lr-decay-iters", "lr-decay-samples",
    "lr-warmup-iters", "lr-warmup-samples", "lr-warmup-fraction", "weight-decay", "clip-grad", "adam-beta1",
    "adam-beta2", "adam-eps", "optimizer", "init-method-std", "seed", "save", "load", "save-interval",
    "eval-interval", "eval-iters", "log-interval", "tensorboard-dir", "wandb-project", "wandb-exp-name",
    "ckpt-format", "make-vocab-size-divisible-by", "attention-dropout", "hidden-dropout", "distributed-backend",
    "distributed-timeout-minutes", "use-mcore-models", "transformer-impl", "log-throughput", "timing-log-level",
    "exit-duration-in-mins", "moe-router-load-balancing-type", "moe-aux-loss-coeff", "moe-z-loss-coeff",
    "moe-router-score-function", "moe-router-enable-expert-bias", "moe-router-bias-update-rate",
    "moe-router-topk-scaling-factor", "moe-router-num-groups", "moe-router-group-topk", "moe-router-dtype",
    "moe-permute-fusion", "moe-flex-dispatcher-backend", "moe-enable-deepep", "no-load-optim", "no-load-rng",
    "moe-token-drop-policy",
    "finetune", "bf16-reduce", "accumulate-allreduce-grads-in-fp32", "log-params-norm", "log-num-zeros-in-grad",
))
_LAUNCHER_VALUES = {"nnodes", "nproc-per-node", "nproc_per_node", "node-rank", "node_rank", "master-addr",
                    "master_addr", "master-port", "master_port", "rdzv-backend", "rdzv_backend", "rdzv-endpoint",
                    "rdzv_endpoint", "rdzv-id", "rdzv_id"}


def _tokens(text: str) -> list[str]:
    text = re.sub(r"\\\r?\n", " ", text)
    lines = [ln.split("#", 1)[0] if not ln.lstrip().startswith("#!") else "" for ln in text.splitlines()]
    toks = shlex.split(" ".join(lines))
    bad = next((t for t in toks if "$" in t), None)
    if bad:
        raise SpecError("--from-megatron", f"{bad!r} is a shell variable: give the launch with its values expanded")
    return toks


def _megatron_flags(text: str) -> tuple[dict[str, object], int | None, list[str]]:
    toks = _tokens(text)
    script = next((i for i, t in enumerate(toks) if t.endswith(".py")), None)
    launcher: dict[str, str] = {}
    if script is not None:
        pre = toks[:script]
        for i, t in enumerate(pre):
            if t.startswith("--"):
                k, _, v = t[2:].partition("=")
                if k in _LAUNCHER_VALUES:
                    launcher[k.replace("_", "-")] = v or (pre[i + 1] if i + 1 < len(pre) else "")
        toks = toks[script + 1:]
    world = None
    if "nnodes" in launcher or "nproc-per-node" in launcher:
        try:
            world = int(launcher.get("nnodes", "1")) * int(launcher.get("nproc-per-node", "1"))
        except ValueError as e:
            raise SpecError("--from-megatron", f"torchrun --nnodes / --nproc-per-node must be integers ({e})") from None
    flags: dict[str, object] = {}
    unmodelled: list[str] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if not t.startswith("--"):
            raise SpecError("--from-megatron", f"{t!r} is not a flag (expected --name [value])")
        name, eq, val = t[2:].partition("=")
        vals = [val] if eq else []
        while i + 1 < len(toks) and not eq and not toks[i + 1].startswith("--"):
            vals.append(toks[i + 1])
            i += 1
        i += 1
        if name in MEGATRON_UNMODELLED:
            unmodelled.append("--" + name)
            continue
        kind = MEGATRON_FLAGS.get(name)
        if kind is None:
            close = difflib.get_close_matches(name, list(MEGATRON_FLAGS) + list(MEGATRON_UNMODELLED), n=1)
            raise SpecError("--from-megatron", f"--{name} is not a flag gigafactory understands",
                            suggestion=f"--{close[0]}" if close else None)
        if kind == _BOOL:
            if vals:
                raise SpecError("--from-megatron", f"--{name} takes no value (got {' '.join(vals)!r})")
            flags[name] = True
            continue
        if kind == _LIST:
            if not vals:
                raise SpecError("--from-megatron", f"--{name} takes one or more values")
            flags[name] = vals
            continue
        if len(vals) != 1:
            raise SpecError("--from-megatron", f"--{name} takes one value (got {len(vals)})")
        try:
            flags[name] = int(vals[0]) if kind == _INT else float(vals[0]) if kind == _FLOAT else vals[0]
        except ValueError:
            raise SpecError("--from-megatron", f"--{name} needs a number, got {vals[0]!r}") from None
    return flags, world, unmodelled


def _need(flags: dict, name: str, why: str = "") -> object:
    if name not in flags:
        raise SpecError("--from-megatron", f"--{name} is missing{': ' + why if why else ''}")
    return flags[name]


def _choice(flags: dict, name: str, allowed: tuple[str, ...], default: str) -> str:
    v = str(flags.get(name, default))
    if v not in allowed:
        raise SpecError(f"--{name}", f"{v!r} is not modelled", list(allowed))
    return v


def _list_expr(node: ast.AST):
    """Value of an expression of integer lists, integers, + and * (Megatron's layer patterns)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.List):
        return [_list_expr(e) for e in node.elts]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        left, right = _list_expr(node.left), _list_expr(node.right)
        return left + right if isinstance(node.op, ast.Add) else left * right
    raise ValueError(ast.unparse(node))


def _layer_pattern(expr: str, layers: int) -> list[int]:
    """Megatron's --moe-layer-freq: an integer N (every N-th layer) or a list expression like ([0]*3+[1]*58)."""
    if re.fullmatch(r"\s*\d+\s*", expr):
        n = int(expr)
        if n < 1:
            raise SpecError("--moe-layer-freq", f"an integer frequency must be at least 1 (got {n})")
        return [int(i % n == 0) for i in range(layers)]
    try:
        out = _list_expr(ast.parse(expr, mode="eval").body)
    except (SyntaxError, ValueError, TypeError):
        raise SpecError("--moe-layer-freq", f"{expr!r} is neither an integer nor a list expression of 0/1") from None
    if not isinstance(out, list) or len(out) != layers or any(x not in (0, 1) for x in out):
        raise SpecError("--moe-layer-freq", f"the pattern must list 0/1 for each of the {layers} layers")
    return out


def _megatron_model(f: dict) -> Model:
    L, h, nh = (int(_need(f, k)) for k in ("num-layers", "hidden-size", "num-attention-heads"))
    for name, v in (("num-layers", L), ("hidden-size", h), ("num-attention-heads", nh)):
        if v < 1:
            raise SpecError(f"--{name}", f"must be a positive integer (got {v})")
    vocab = int(_need(f, "vocab-size", "gigafactory reads no tokenizer files; give the vocabulary size"))
    seq = int(_need(f, "seq-length"))
    if f.get("swiglu") and f.get("squared-relu"):
        raise SpecError("--from-megatron", "--swiglu and --squared-relu exclude each other")
    mlp, act = ("gated", "swiglu") if f.get("swiglu") else ("plain", "squared-relu" if f.get("squared-relu") else "gelu")
    gpt_style = act == "gelu"
    pos = _choice(f, "position-embedding-type", ("learned_absolute", "rope"), "learned_absolute")
    norm = _choice(f, "normalization", ("LayerNorm", "RMSNorm"), "LayerNorm")
    if gpt_style and (pos != "learned_absolute" or f.get("disable-bias-linear") or norm != "LayerNorm"):
        raise SpecError("--from-megatron", "gigafactory models a plain GELU MLP as GPT-2/3 (learned positions, "
                        "LayerNorm, biases): drop --position-embedding-type rope / --disable-bias-linear / RMSNorm")
    if not gpt_style and (pos != "rope" or not f.get("disable-bias-linear")):
        raise SpecError("--from-megatron", f"gigafactory models {act} MLPs with rotary positions and no biases: "
                        "give --position-embedding-type rope and --disable-bias-linear")
    ffn = int(f.get("ffn-hidden-size", 4 * h))
    mla = None
    if f.get("multi-latent-attention"):
        _choice(f, "rope-type", ("rope",), "yarn")  # Megatron's MLA default is YaRN: give --rope-type rope
        mla = Mla(q_lora_rank=f.get("q-lora-rank"), kv_lora_rank=int(f.get("kv-lora-rank", 32)),
                  qk_nope_head_dim=int(f.get("qk-head-dim", 128)), qk_rope_head_dim=int(f.get("qk-pos-emb-head-dim", 64)),
                  v_head_dim=int(f.get("v-head-dim", 128)))
        kv, hd = nh, mla.qk_nope_head_dim + mla.qk_rope_head_dim
    else:
        for k in ("q-lora-rank", "kv-lora-rank", "qk-head-dim", "qk-pos-emb-head-dim", "v-head-dim"):
            if k in f:
                raise SpecError(f"--{k}", "applies only with --multi-latent-attention")
        kv = int(f.get("num-query-groups", nh)) if f.get("group-query-attention") else nh
        hd = int(f.get("kv-channels", h // nh))
    moe = None
    if "num-experts" in f:
        eff = int(f.get("moe-ffn-hidden-size", ffn))
        shared_size = int(f.get("moe-shared-expert-intermediate-size", 0))
        if shared_size % eff:
            raise SpecError("--moe-shared-expert-intermediate-size",
                            f"{shared_size} is not a whole number of experts of {eff}")
        flags = _layer_pattern(str(f.get("moe-layer-freq", "1")), L)
        dense = next((i for i, x in enumerate(flags) if x), L)
        freq = next((k for k in range(1, L + 1) if [int(i >= dense and (i - dense) % k == 0) for i in range(L)] == flags), None)
        if freq is None or dense >= L:
            raise SpecError("--moe-layer-freq", "gigafactory models leading dense layers then every k-th layer MoE")
        moe = Moe(experts=int(f["num-experts"]), top_k=int(f.get("moe-router-topk", 2)), shared_experts=shared_size // eff,
                  expert_ffn=eff, dense_layers=dense, dense_ffn=ffn, layer_freq=freq)
    window = None
    if "window-size" in f:  # (left, right); banded attention is the left span with no look-ahead
        try:
            left, right = (int(x) for x in str(f["window-size"]).strip("()").split(","))
        except ValueError:
            raise SpecError("--window-size", f"{f['window-size']!r} is not 'left,right' (e.g. 128,0)") from None
        if right != 0 or left < 1:
            raise SpecError("--window-size", "gigafactory models causal banded attention: give 'left,0' with left >= 1")
        window = left
    raw = dict(layers=L, hidden=h, heads=nh, kv_heads=kv, head_dim=hd, ffn=ffn, mlp=mlp, activation=act,
               vocab=vocab, tied_embeddings=not f.get("untie-embeddings-and-output-weights"),
               max_seq=int(f.get("max-position-embeddings", seq)), moe=moe, mla=mla,
               rope_base=f.get("rotary-base") if pos == "rope" else None,
               rope_scaling=f.get("rope-scaling-factor", 8.0) if f.get("use-rope-scaling") else None,
               norm_eps=f.get("norm-epsilon"), sliding_window=window,
               full_attention_every=int(f.get("window-attn-skip-freq", 1)) if window else 1)
    return Model(id="megatron-launch", name="the model of a Megatron-LM launch", params_b=1.0, **raw)


def _stage_counts_megatron(f: dict, L: int, pp: int) -> tuple[int, list[int]]:
    """vpp and the layers of each pipeline rank, from Megatron's pipeline flags."""
    if pp == 1:
        return 1, [L]
    if "pipeline-model-parallel-layout" in f:
        expr = str(f["pipeline-model-parallel-layout"]).replace(",", "")
        for pat in (r"\(([^)]+)\)\*(\d+)", r"(.)\*(\d+)"):
            expr = re.sub(pat, lambda x: x.group(1) * int(x.group(2)), expr)
        stages = expr.split("|")
        if len(stages) % pp or re.search(r"[^EtLm|]", expr) or "m" in expr:
            raise SpecError("--pipeline-model-parallel-layout", "needs a multiple of pp stages of E, t and L "
                            "(multi-token-prediction layers m are not modelled)")
        vpp = len(stages) // pp
        counts = [s.count("t") for s in stages]
        if sum(counts) != L:
            raise SpecError("--pipeline-model-parallel-layout", f"places {sum(counts)} layers, the model has {L}")
        return vpp, [max(counts)] * pp  # the engine times the most loaded virtual stage
    first, last = f.get("decoder-first-pipeline-num-layers"), f.get("decoder-last-pipeline-num-layers")
    ends = [int(x) for x in (first, last) if x is not None]
    mid_stages, mid_layers = pp - len(ends), L - sum(ends)
    if (mid_stages == 0) != (mid_layers == 0) or (mid_stages and mid_layers % mid_stages):
        raise SpecError("--decoder-first-pipeline-num-layers", f"{mid_layers} middle layers do not split over {mid_stages} stages")
    per_rank = ends + ([mid_layers // mid_stages] * mid_stages if mid_stages else [])
    if "num-virtual-stages-per-pipeline-rank" in f:
        vpp = int(f["num-virtual-stages-per-pipeline-rank"])
    elif "num-layers-per-virtual-pipeline-stage" in f:
        n = int(f["num-layers-per-virtual-pipeline-stage"])
        if per_rank[0] % n:
            raise SpecError("--num-layers-per-virtual-pipeline-stage", f"{n} does not divide {per_rank[0]} layers per stage")
        vpp = per_rank[0] // n
    else:
        vpp = 1
    if any(k % vpp for k in per_rank):
        raise SpecError("--pipeline-model-parallel-size", f"layers per stage {sorted(set(per_rank))} do not split into {vpp} virtual stages")
    return vpp, [k // vpp for k in per_rank]


def read_megatron(text: str, gpus: int | None = None) -> Launch:
    """A Megatron-LM launch (``[torchrun ...] pretrain_gpt.py --flags``, or the flags alone) as a Launch."""
    return _validated("--from-megatron", _read_megatron, text, gpus)


def _read_megatron(text: str, gpus: int | None) -> Launch:
    f, world, unmodelled = _megatron_flags(text)
    model, in_catalog = match_catalog(_megatron_model(f))
    L = model.layers
    tp, pp, cp = (int(f.get(k, 1)) for k in ("tensor-model-parallel-size", "pipeline-model-parallel-size",
                                              "context-parallel-size"))
    for name, v in (("tensor-model-parallel-size", tp), ("pipeline-model-parallel-size", pp),
                    ("context-parallel-size", cp)):
        if v < 1:
            raise SpecError(f"--{name}", f"must be a positive integer (got {v})")
    world = gpus or world
    if world is None:
        raise SpecError("--gpus", "the launch does not say the GPU count (torchrun --nnodes x --nproc-per-node): give --gpus")
    if world % (tp * pp * cp):
        raise SpecError("--gpus", f"{world} GPUs are not a multiple of tp x pp x cp = {tp * pp * cp}")
    dp = world // (tp * pp * cp)
    vpp, per_stage = _stage_counts_megatron(f, L, pp)
    bottleneck = -(-L // (pp * vpp))
    if max(per_stage) > bottleneck:
        raise SpecError("--pipeline-model-parallel-size", f"a stage of {max(per_stage)} layers per virtual stage: "
                        f"gigafactory models balanced stages (at most {bottleneck})")
    mbs = int(f.get("micro-batch-size", 1))
    gbs = int(f.get("global-batch-size", mbs * dp))
    ep = int(f.get("expert-model-parallel-size", 1))
    etp = int(f.get("expert-tensor-parallel-size", tp)) if ep > 1 else 1  # Megatron: ETP defaults to TP
    if f.get("use-torch-fsdp2"):
        zero = 3
    elif f.get("use-megatron-fsdp"):
        strategy = _choice(f, "data-parallel-sharding-strategy", ("no_shard", "optim", *FSDP_STRATEGY.values()),
                           "optim_grads_params")
        zero = {"no_shard": 0, "optim": 1, **{v: k for k, v in FSDP_STRATEGY.items()}}[strategy]
    else:
        zero = 1 if f.get("use-distributed-optimizer") else 0
    gran = _choice(f, "recompute-granularity", ("none", "selective", "full"), "none")
    if gran == "full":
        _choice(f, "recompute-method", ("uniform",), "uniform")  # block: only some layers, not modelled
    modules_note = _recompute_modules(f, model) if gran == "selective" else None
    if f.get("fp16") and f.get("bf16"):
        raise SpecError("--from-megatron", "--fp16 and --bf16 exclude each other")
    precision = "fp16" if f.get("fp16") else "bf16"
    if "fp8-format" in f:
        _choice(f, "fp8-format", ("hybrid", "e4m3"), "hybrid")
        recipe = _choice(f, "fp8-recipe", ("delayed", "tensorwise", "mxfp8"), "delayed")
        precision = "mxfp8" if recipe == "mxfp8" else "fp8"
    if "fp4-format" in f:
        _choice(f, "fp4-format", ("e2m1",), "e2m1")
        _choice(f, "fp4-recipe", ("nvfp4",), "nvfp4")
        precision = "nvfp4"
    backend = _choice(f, "attention-backend", ("flash", "fused", "auto", "unfused", "local"), "auto")
    steps = f.get("train-iters") or (int(f["train-samples"]) / gbs if "train-samples" in f else None)
    seq = int(f["seq-length"])
    routing, routing_note = _moe_routing(f, model.moe is not None)
    job = Job(model=model, tokens=float(steps) * gbs * seq if steps else DEFAULT_TOKENS, seq_len=seq,
              global_batch=gbs, precision=precision, framework="megatron", moe_routing=routing)
    graphs, scope, scope_note = _cuda_graphs(f)
    plan = Plan(
        tp=tp, pp=pp, vpp=vpp, cp=cp, ep=ep, etp=etp, dp=dp, mbs=mbs, recompute=gran, zero=zero,
        sequence_parallel=bool(f.get("sequence-parallel")) or tp == 1, tp_comm_overlap=bool(f.get("tp-comm-overlap")),
        ep_comm_overlap=bool(f.get("overlap-moe-expert-parallel-comm")),
        cuda_graphs=graphs, cuda_graph_scope=scope,
        offload_layers=int(f.get("cpu-offloading-num-layers", 0)) if f.get("cpu-offloading") else 0,
        cp_comm_type=_choice(f, "cp-comm-type", ("p2p", "a2a", "allgather"), "p2p"),
        moe_dispatcher=_choice(f, "moe-token-dispatcher-type", ("alltoall", "allgather", "flex"),
                               "alltoall" if model.moe is None or ep == 1 else "allgather"),
    )
    if model.moe is None or ep == 1:
        plan = plan.model_copy(update={"moe_dispatcher": "alltoall"})
    assumed = [x for x in (scope_note, routing_note, modules_note) if x]
    if not f.get("overlap-grad-reduce") and dp > 1:
        assumed.append("the gradient reduction overlaps the backward pass (no --overlap-grad-reduce given)")
    if zero >= 1 and not f.get("overlap-param-gather") and dp > 1:
        assumed.append("the parameter all-gather overlaps the forward pass (no --overlap-param-gather given)")
    if model.moe is not None and not f.get("moe-grouped-gemm"):
        assumed.append("experts run as grouped GEMMs (no --moe-grouped-gemm given)")
    return Launch(job=job, plan=plan, gpus=world, catalog_model=in_catalog, unmodelled=tuple(unmodelled),
                  flash=backend not in ("unfused", "local"), assumed=tuple(assumed))


def _recompute_modules(f: dict, model: Model) -> str | None:
    """Selective recompute is modelled with the modules the export writes (emit.selective_modules); Megatron's
    default (core_attn alone) is read with a note, any other set refused in one line."""
    ours = selective_modules(model)
    given = f.get("recompute-modules", ["core_attn"])
    if sorted(given) == sorted(ours):
        return None
    if list(given) == ["core_attn"]:
        return ("--recompute-modules core_attn (Megatron's default) modelled as " + " ".join(ours)
                + ": the memory model counts their activations dropped")
    raise SpecError("--recompute-modules", f"{' '.join(given)} is not a recompute set gigafactory models",
                    [" ".join(ours), "core_attn"])


def _moe_routing(f: dict, moe: bool) -> tuple[str, str | None]:
    """Job.moe_routing of the launch, and a note where the model approximates it. Capacity routing is
    modelled padded at capacity factor 1.0 (gigafactory's ``capacity``); a negative factor is
    Megatron-Core's 'no capacity'."""
    cf = f.get("moe-expert-capacity-factor")
    pad = bool(f.get("moe-pad-expert-input-to-capacity"))
    force = bool(f.get("moe-router-force-load-balancing"))
    if not moe:
        return "dropless", None
    if cf is None or float(cf) < 0:
        note = "--moe-pad-expert-input-to-capacity without a capacity factor has no effect" if pad else None
        return ("force-balanced" if force else "dropless"), note
    if not pad:  # tokens beyond capacity drop, but the counts still vary: the dispatcher still syncs on them
        return ("force-balanced" if force else "dropless"), (
            f"capacity factor {float(cf):g} without --moe-pad-expert-input-to-capacity: the token counts still "
            "vary, so it is modelled as dropless routing")
    note = None if float(cf) == 1.0 else (
        f"capacity factor {float(cf):g} modelled as 1.0 (experts padded to the mean load)")
    return "capacity", note


#: --cuda-graph-scope values of Megatron-Core's CUDA graphs (TransformerConfig.cuda_graph_scope)
CUDA_GRAPH_SCOPES = ("attn", "mlp", "moe", "moe_router", "moe_preprocess", "mamba", "full_iteration")


def _cuda_graphs(f: dict) -> tuple[bool, str, str | None]:
    """Whether the launch replays CUDA graphs, the Plan.cuda_graph_scope they cover, and a note where the
    launch's scopes are modelled by a nearby one (the whole layer, the drop-and-pad "moe" scope)."""
    impl = _choice(f, "cuda-graph-impl", ("none", "transformer_engine", "local"), "none")
    given = list(f.get("cuda-graph-scope", []))
    for scope in given:
        if scope not in CUDA_GRAPH_SCOPES:
            raise SpecError("--cuda-graph-scope", f"unknown scope {scope!r}", list(CUDA_GRAPH_SCOPES),
                            closest(scope, CUDA_GRAPH_SCOPES))
    if impl == "none":
        return False, "attn+moe_router", None
    s = set(given)
    if "full_iteration" in s:
        if impl != "local":
            raise SpecError("--cuda-graph-impl", "a full_iteration graph needs the local implementation", ["local"], "local")
        return True, "full_iteration", None
    exact = {frozenset(flags): name for name, flags in GRAPH_SCOPES.items()}  # the export's table, backwards
    if frozenset(s) in exact:  # (no scope is each whole layer: 'an empty list means the full layer')
        return True, exact[frozenset(s)], None
    router = bool(s & {"moe_router", "moe_preprocess", "moe"})
    if s <= {"attn", "moe_router", "moe_preprocess"} and router:
        return True, ("attn+moe_router" if "attn" in s else "moe_router"), None
    near = "attn+moe_router" if "attn" in s else "moe_router" if router else "mlp" if "mlp" in s else "attn"
    return True, near, (f"CUDA graph scope {' '.join(given)} modelled as {near} "
                        "(gigafactory's scopes: attn, mlp, moe_router, layer, full_iteration)")
