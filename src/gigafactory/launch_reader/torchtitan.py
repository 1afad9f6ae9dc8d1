"""A torchtitan 0.3 config module (the Python function ``--module M --config F`` loads) read as a
:class:`~gigafactory.launch_reader.launch.Launch`, statement by statement, without running it."""

from __future__ import annotations

import ast

from ..errors import SpecError
from ..perf.emit import TITAN_RESHARD, TITAN_SCHEDULES
from ..perf.frameworks import TORCHTITAN_MODELS
from ..resolve import model as catalog_model
from ..specs import Job, Plan
from .launch import Launch, _validated

_TITAN_SECTIONS = {"training": "TrainingConfig", "parallelism": "ParallelismConfig", "compile": "CompileConfig"}
_TITAN_FIELDS = {
    "training": {"local_batch_size", "global_batch_size", "seq_len", "steps", "mixed_precision_param",
                 "mixed_precision_reduce", "max_norm", "gc_freq", "dtype", "disable_cuda_graphs"},
    "parallelism": {"data_parallel_replicate_degree", "data_parallel_shard_degree", "tensor_parallel_degree",
                    "enable_sequence_parallel", "pipeline_parallel_degree", "context_parallel_degree",
                    "expert_parallel_degree", "fsdp_reshard_after_forward", "pipeline_parallel_schedule",
                    "pipeline_parallel_layers_per_stage", "pipeline_parallel_microbatch_size",
                    "pipeline_parallel_first_stage_less_layers", "pipeline_parallel_last_stage_less_layers",
                    "spmd_backend", "context_parallel_load_balancer"},
    "compile": {"enable", "enable_async_tensor_parallel", "components", "backend"},
}
_TITAN_UNMODELLED = {"max_norm", "gc_freq", "dtype", "mixed_precision_reduce", "spmd_backend",
                     "context_parallel_load_balancer", "backend"}
_CONVERTERS = {"Float8LinearConverter": "fp8-rowwise", "MXFP8LinearConverter": "mxfp8",
               "NVFP4LinearConverter": "nvfp4", "Float8GroupedExpertsConverter": None,
               "MXFP8GroupedExpertsConverter": None}


def _literal(node: ast.AST, where: str):
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise SpecError("--from-torchtitan", f"{where}: {ast.unparse(node)!r} is not a literal value") from None


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return ast.unparse(node.func)
    return ""


def read_torchtitan(text: str, gpus: int | None = None) -> Launch:
    """A torchtitan 0.3 config module (see :func:`_read_torchtitan`) as a Launch."""
    return _validated("--from-torchtitan", _read_torchtitan, text, gpus)


#: Trainer.Config sections that do not change a step (data, optimizer, logging, checkpoints)
_TITAN_UNMODELLED_SECTIONS = {"loss", "hf_assets_path", "profiler", "metrics", "tokenizer", "dataloader", "optimizer",
                              "lr_scheduler", "checkpoint", "comm", "validator", "debug", "dump_folder"}


def _settings(fn: ast.FunctionDef) -> tuple[list[tuple[str, ast.AST, int]], bool]:
    """The function's ``config.<section>[.<field>] = value`` settings, and whether it builds Trainer.Config whole.

    Two forms: ``config = llama3_8b()`` then attribute assignments and ``return config`` (as --emit writes),
    or local variables then ``return Trainer.Config(section=..., ...)`` (as torchtitan's registry does).
    """
    local: dict[str, ast.AST] = {}
    out: list[tuple[str, ast.AST, int]] = []
    whole = False

    def resolve(node: ast.AST) -> ast.AST:
        return local.get(node.id, node) if isinstance(node, ast.Name) else node

    for st in fn.body:
        where = f"line {st.lineno}"
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):
            continue  # docstring
        if isinstance(st, ast.Return):
            if isinstance(st.value, ast.Call) and _call_name(st.value).endswith("Trainer.Config"):
                whole = True
                out += [(f"config.{k.arg}", resolve(k.value), st.lineno) for k in st.value.keywords]
            elif not (isinstance(st.value, ast.Name) and st.value.id == "config"):
                raise SpecError("--from-torchtitan", f"{where}: return config or Trainer.Config(...)")
            continue
        if not (isinstance(st, ast.Assign) and len(st.targets) == 1):
            raise SpecError("--from-torchtitan", f"{where}: {ast.unparse(st)!r} is not understood")
        tgt = ast.unparse(st.targets[0])
        if isinstance(st.targets[0], ast.Name) and tgt != "config":
            local[tgt] = st.value
        else:
            out.append((tgt, resolve(st.value), st.lineno))
    return out, whole


def _read_torchtitan(text: str, gpus: int | None) -> Launch:
    """A torchtitan 0.3 config module: one config_registry function (see :func:`_settings`) as a Launch.

    Starting from a registry config (``config = llama3_405b()``) it must assign the sections that decide
    the plan (``config.model_spec``, ``training``, ``parallelism``, ``activation_checkpoint``): gigafactory
    does not know the base config's own values. ``Trainer.Config(...)`` leaves unnamed sections at
    torchtitan's dataclass defaults.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise SpecError("--from-torchtitan", f"not a Python module (line {e.lineno}: {e.msg})") from None
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(fns) != 1:
        raise SpecError("--from-torchtitan", f"expected one config function, found {len(fns)}")
    settings, whole = _settings(fns[0])
    base = flavor = None
    sections: dict[str, dict] = {"training": {}, "parallelism": {}} if whole else {}
    ac: str | None = "selective" if whole else None  # Trainer.Config's default: SelectiveAC
    precision = "bf16"
    force = False
    skipped: list[str] = []
    for tgt, val, line in settings:
        where = f"line {line}"
        if tgt == "config":
            base = _call_name(val)
            continue
        if tgt in ("config.debug", "config.debug.moe_force_load_balance"):  # the benchmarks' round-robin router
            kws = val.keywords if isinstance(val, ast.Call) else []
            if tgt.endswith(".moe_force_load_balance"):
                force = bool(_literal(val, where))
            else:
                force = any(k.arg == "moe_force_load_balance" and bool(_literal(k.value, where)) for k in kws)
            if any(k.arg != "moe_force_load_balance" for k in kws):
                skipped.append("debug")
            continue
        if tgt.removeprefix("config.") in _TITAN_UNMODELLED_SECTIONS:
            skipped.append(tgt.removeprefix("config."))
            continue
        if tgt == "config.model_spec":
            if not _call_name(val).endswith("model_registry") or not val.args:
                raise SpecError("--from-torchtitan", f"{where}: config.model_spec must be model_registry(flavor, ...)")
            flavor = _literal(val.args[0], where)
            for kw in val.keywords:
                if kw.arg == "converters":
                    for c in kw.value.elts if isinstance(kw.value, ast.List) else []:
                        name = _call_name(c).removesuffix(".Config")
                        if name not in _CONVERTERS:
                            raise SpecError("--from-torchtitan", f"{where}: converter {name!r} is not modelled",
                                            list(_CONVERTERS))
                        recipe = next((_literal(k.value, where) for k in c.keywords if k.arg == "recipe_name"), "rowwise")
                        if name == "Float8LinearConverter" and recipe != "rowwise":
                            raise SpecError("--from-torchtitan", f"{where}: float8 recipe {recipe!r} is not modelled",
                                            ["rowwise"])
                        precision = _CONVERTERS[name] or precision
                elif kw.arg != "attn_backend":
                    raise SpecError("--from-torchtitan", f"{where}: model_registry({kw.arg}=...) is not modelled")
            continue
        if tgt == "config.activation_checkpoint":
            kinds = {"None": "none", "SelectiveAC.Config": "selective", "FullAC.Config": "full"}
            key = "None" if isinstance(val, ast.Constant) and val.value is None else _call_name(val)
            if key not in kinds:
                raise SpecError("--from-torchtitan", f"{where}: activation checkpointing {ast.unparse(val)!r} "
                                "is not modelled", list(kinds))
            ac = kinds[key]
            continue
        sec, _, field = tgt.removeprefix("config.").partition(".")
        if sec not in _TITAN_SECTIONS or not tgt.startswith("config."):
            raise SpecError("--from-torchtitan", f"{where}: {tgt} is not a setting gigafactory models",
                            ["config.model_spec", "config.activation_checkpoint",
                             *[f"config.{s}" for s in _TITAN_SECTIONS]])
        if not field:
            if _call_name(val) != _TITAN_SECTIONS[sec]:
                raise SpecError("--from-torchtitan", f"{where}: config.{sec} must be {_TITAN_SECTIONS[sec]}(...)")
            if val.args:
                raise SpecError("--from-torchtitan", f"{where}: give {_TITAN_SECTIONS[sec]} keyword arguments")
            sections[sec] = {k.arg: _literal(k.value, where) for k in val.keywords}
        else:
            if sec not in sections:
                raise SpecError("--from-torchtitan", f"{where}: config.{sec}.{field} changes the base config's "
                                f"{sec}, which gigafactory does not know: assign config.{sec} = {_TITAN_SECTIONS[sec]}(...)")
            sections[sec][field] = _literal(val, where)
    for sec, fields in sections.items():
        bad = sorted(set(fields) - _TITAN_FIELDS[sec])
        if bad:
            raise SpecError("--from-torchtitan", f"{sec}.{bad[0]} is not a setting gigafactory models",
                            sorted(_TITAN_FIELDS[sec]))
    for need, have in (("config.model_spec", flavor), ("config.training", sections.get("training")),
                       ("config.parallelism", sections.get("parallelism")), ("config.activation_checkpoint", ac)):
        if have is None:
            raise SpecError("--from-torchtitan", f"{need} is not assigned: gigafactory does not know the base config's")
    by_base = {(b, fl): mid for mid, (_, fl, b) in TORCHTITAN_MODELS.items()}
    by_flavor = {fl: mid for mid, (_, fl, _) in TORCHTITAN_MODELS.items()}
    mid = by_base.get((base, flavor)) or by_flavor.get(flavor)
    if mid is None:
        raise SpecError("--from-torchtitan", f"model_registry({flavor!r}) is not a model gigafactory knows",
                        sorted(by_flavor))
    model = catalog_model(mid)
    tr, par, comp = sections["training"], sections["parallelism"], sections.get("compile", {})
    if tr.get("mixed_precision_param", "bfloat16") != "bfloat16":
        raise SpecError("training.mixed_precision_param", "only bfloat16 is modelled", ["bfloat16"])
    tp, pp, cp, ep = (int(par.get(k, 1)) for k in ("tensor_parallel_degree", "pipeline_parallel_degree",
                                                   "context_parallel_degree", "expert_parallel_degree"))
    rep, shard = int(par.get("data_parallel_replicate_degree", 1)), int(par.get("data_parallel_shard_degree", -1))
    if shard == -1:
        if gpus is None:
            raise SpecError("--gpus", "data_parallel_shard_degree = -1 takes the GPUs left over: give --gpus")
        shard = gpus // (rep * cp * tp * pp)
    world = rep * shard * cp * tp * pp
    if gpus is not None and gpus != world:
        raise SpecError("--gpus", f"{gpus} GPUs, but the degrees multiply to {world}")
    if rep > 1 and shard > 1:
        raise SpecError("parallelism", "HSDP (replicate and shard degrees both > 1) is not modelled")
    reshard = par.get("fsdp_reshard_after_forward", "default")
    if rep > 1 or (shard == 1 and "fsdp_reshard_after_forward" not in par):
        zero = 0
    else:
        zero = {v: k for k, v in TITAN_RESHARD.items()}.get(reshard, 3 if pp == 1 else 2)
    dp = rep * shard
    schedules = {v: k for k, v in TITAN_SCHEDULES.items()}
    if pp > 1:
        name = par.get("pipeline_parallel_schedule", "1F1B")
        if name not in schedules:
            raise SpecError("parallelism.pipeline_parallel_schedule", f"{name!r} is not modelled", list(schedules))
        for k in ("pipeline_parallel_first_stage_less_layers", "pipeline_parallel_last_stage_less_layers"):
            if par.get(k, 1) != 1:
                raise SpecError(f"parallelism.{k}", "only 1 (torchtitan's default) is modelled")
        sched = schedules[name]
        lps = par.get("pipeline_parallel_layers_per_stage")
        stages = -(-(model.layers + 2) // int(lps)) if lps else pp * (1 if sched == "1f1b" else 2)
        if stages % pp:
            raise SpecError("parallelism.pipeline_parallel_layers_per_stage", f"{stages} stages do not divide over pp = {pp}")
        vpp, mbs = stages // pp, int(par.get("pipeline_parallel_microbatch_size", 1))
        if sched in ("zb-v", "dualpipev"):  # two stages per rank in a V: one chunk in gigafactory's plans
            if vpp != 2:
                raise SpecError("parallelism.pipeline_parallel_layers_per_stage", f"{name} runs two stages per "
                                f"rank, these layers per stage make {vpp}")
            vpp = 1
    else:
        sched, vpp, mbs = "1f1b", 1, int(tr.get("local_batch_size", 8))
    local = int(tr.get("local_batch_size", 8))
    gbs = int(tr.get("global_batch_size", -1))
    gbs = local * dp if gbs == -1 else gbs
    steps = int(tr.get("steps", 10000))
    seq = int(tr.get("seq_len", 2048))
    job = Job(model=model, tokens=float(steps) * gbs * seq, seq_len=seq, global_batch=gbs, precision=precision,
              framework="torchtitan", moe_routing="force-balanced" if force and model.moe else "dropless")
    plan = Plan(tp=tp, pp=pp, vpp=vpp, cp=cp, ep=ep, dp=dp, mbs=mbs, recompute=ac, zero=zero,
                sequence_parallel=bool(par.get("enable_sequence_parallel", True)) or tp == 1,
                tp_comm_overlap=bool(comp.get("enable_async_tensor_parallel", False)) and tp > 1,
                schedule=sched, cp_comm_type="allgather" if cp > 1 else "p2p",
                compile=bool(comp.get("enable", False)) and "model" in comp.get("components", ["model", "loss"]))
    unmodelled = skipped + [f"{s}.{k}" for s, fs in sections.items() for k in fs if k in _TITAN_UNMODELLED]
    # torchtitan 0.3 captures the forward and backward step in one CUDA graph unless told not to (it refuses
    # to with PP, or with an EP dispatcher that syncs on the host); gigafactory runs torchtitan eagerly
    graphed = not tr.get("disable_cuda_graphs", False) and pp == 1 and ep == 1
    assumed = ("torchtitan captures this step in one CUDA graph (training.disable_cuda_graphs is False); "
               "gigafactory models it launching eagerly, so its host-launch floor is an upper bound",) if graphed else ()
    return Launch(job=job, plan=plan, gpus=world, catalog_model=True, unmodelled=tuple(unmodelled), assumed=assumed)
