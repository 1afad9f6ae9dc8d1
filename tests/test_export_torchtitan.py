"""`--emit torchtitan` checked by torchtitan 0.3 itself: its ConfigManager loads the emitted config module
(``--module M --config gigafactory_plan``, as ``torchtitan.train`` does), ParallelDims validates the degrees
on the plan's GPU count, the pipeline splitter places the layers, and the model is built on the meta
device with the parameter count compared with gigafactory's. The float8 converter refuses to run below
SM89; on this CPU machine its capability check is told it runs on an H100.
"""

from __future__ import annotations

import os
import sys

import pytest

from gigafactory.launch_reader import read_torchtitan
from gigafactory.perf.emit import emit
from gigafactory.perf.params import total_params
from gigafactory.resolve import model
from gigafactory.specs import Job, Plan

if os.environ.get("CI"):  # `make test` installs the test extra: there these tests must run, not skip
    import torchtitan  # noqa: F401
pytest.importorskip("torchtitan")
torch = pytest.importorskip("torch")
# the frameworks warn about what a CPU machine lacks (Apex, Transformer Engine, CUDA); not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")

CASES = {
    # dense, GQA, FSDP + TP8 + PP8 over 126 layers (stages of 16 layer units, embedding and head one each),
    # row-wise float8 under torch.compile with async TP
    "llama3.1-405b": (Job(model=model("llama3.1-405b"), tokens=15e12, seq_len=8192, global_batch=2048,
                          precision="fp8-rowwise", framework="torchtitan"),
                      Plan(tp=8, pp=8, dp=16, mbs=1, recompute="full", zero=3, compile=True, tp_comm_overlap=True)),
    # MoE with MLA: EP32 over FSDP, 61 layers on PP8 in DualPipeV (two stages per rank: 16 stages of 4 units)
    "deepseek-v3": (Job(model=model("deepseek-v3"), tokens=14.8e12, seq_len=4096, global_batch=4096,
                        framework="torchtitan"),
                    Plan(tp=1, pp=8, ep=32, dp=64, mbs=1, recompute="selective", zero=2, schedule="dualpipev")),
    # MoE on FSDP x EP8 with the benchmarks' force-balanced router (DebugConfig.moe_force_load_balance)
    "qwen3-30b-a3b": (Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096, global_batch=512,
                          framework="torchtitan", moe_routing="force-balanced"),
                      Plan(tp=1, ep=8, dp=8, mbs=1, recompute="none", zero=3)),
    # replicated data parallel with TP2 x CP2, gradient accumulation (local batch 2)
    "llama3-8b": (Job(model=model("llama3-8b"), tokens=15e12, seq_len=8192, global_batch=512, framework="torchtitan"),
                  Plan(tp=2, cp=2, dp=16, mbs=2, recompute="selective", zero=0, cp_comm_type="allgather")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_emitted_torchtitan_config_loads_and_builds(name: str, tmp_path, monkeypatch) -> None:
    import torchtitan.components.quantization.float8 as f8
    from torchtitan.config.manager import ConfigManager
    from torchtitan.distributed.parallel_dims import ParallelDims
    from torchtitan.distributed.pipeline_parallel import (
        _generate_llm_fqn_per_model_part,
        _get_pipeline_metadata,
    )

    monkeypatch.setattr(f8, "has_cuda_capability", lambda major, minor: (major, minor) <= (9, 0))
    job, plan = CASES[name]
    module = "gf_plan_" + name.replace(".", "_").replace("-", "_")
    (tmp_path / f"{module}.py").write_text(emit(job, plan, "torchtitan"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    cfg = ConfigManager().parse_args(["--module", module, "--config", "gigafactory_plan"])
    sys.modules.pop(module, None)
    dims = ParallelDims.from_config(cfg.parallelism, world_size=plan.gpus)  # asserts the degrees multiply out
    assert (dims.tp, dims.pp, dims.cp, dims.ep) == (plan.tp, plan.pp, plan.cp, plan.ep)
    assert dims.dp_replicate * dims.dp_shard == plan.dp
    assert cfg.training.global_batch_size == job.global_batch and cfg.training.seq_len == job.seq_len
    assert cfg.debug.moe_force_load_balance == (job.moe_routing == "force-balanced")
    if plan.pp > 1:
        stages, layers, first, last = _get_pipeline_metadata(dims, cfg.parallelism, cfg.model_spec.model)
        assert stages == plan.pp * (2 if plan.schedule == "dualpipev" else plan.vpp) and layers == job.model.layers
        parts = _generate_llm_fqn_per_model_part(stages, layers, first, last)
        per_stage = [sum(p.startswith("layers.") for p in part) for part in parts]
        assert sum(per_stage) == job.model.layers
        assert max(per_stage) == -(-job.model.layers // stages)  # the engine's most loaded stage
    if job.precision == "fp8-rowwise":  # the converter swapped the layers' linears for float8 ones
        assert type(cfg.model_spec.model.layers[0].attention.wo).__qualname__.startswith("Float8")
    with torch.device("meta"):
        m = cfg.model_spec.model.build()
    n = sum(p.numel() for p in m.parameters())
    print(f"{name}: torchtitan {n:,} parameters, gigafactory {total_params(job.model):,.0f}")
    assert n == pytest.approx(total_params(job.model), rel=0.005)
    back = read_torchtitan(emit(job, plan, "torchtitan"))  # and gigafactory reads it back to the same plan
    assert back.plan == plan and back.gpus == plan.gpus and back.job.moe_routing == job.moe_routing


@pytest.mark.parametrize("fn,gpus,want", [
    # FSDP over what TP8 leaves, full AC, compile with async TP, row-wise float8 (filter_fqns: lm_head)
    ("llama3_405b", 512, dict(tp=8, dp=64, mbs=2, recompute="full", zero=3, compile=True, tp_comm_overlap=True)),
    ("llama3_8b", 8, dict(tp=1, dp=8, mbs=1, recompute="selective", zero=3)),
    # compile of the loss only: the model runs eager
    ("deepseek_v3_671b", 64, dict(ep=2, dp=64, mbs=4, recompute="selective", zero=3, compile=False)),
])
def test_torchtitans_own_registry_configs_read_as_plans(fn: str, gpus: int, want: dict) -> None:
    import importlib
    import inspect

    from gigafactory.perf.step import evaluate
    from gigafactory.perf.validate import row_cluster

    module = "llama3" if fn.startswith("llama3") else "deepseek_v3"
    src = inspect.getsource(getattr(importlib.import_module(f"torchtitan.models.{module}.config_registry"), fn))
    got = read_torchtitan(src, gpus=gpus)
    assert got.plan.model_dump(include=set(want)) == want and got.gpus == gpus
    assert got.job.precision == ("fp8-rowwise" if fn == "llama3_405b" else "bf16")
    assert "optimizer" in got.unmodelled and "dataloader" in got.unmodelled
    assert evaluate(got.job, row_cluster("h100-sxm", gpus), got.plan, check_memory=False).step_s > 0


def test_torchtitan_refuses_capacity_routing_in_one_line() -> None:
    """torchtitan's token-choice MoE is dropless: it has no capacity factor to drop tokens at."""
    from gigafactory.errors import SpecError

    job = Job(model=model("qwen3-30b-a3b"), tokens=1e12, seq_len=4096, global_batch=512, framework="torchtitan",
              moe_routing="capacity")
    with pytest.raises(SpecError, match="torchtitan cannot run 'capacity' MoE routing"):
        emit(job, Plan(tp=1, ep=8, dp=8, mbs=1, zero=3), "torchtitan")
    from gigafactory.perf.planner import plan
    from gigafactory.perf.validate import row_cluster

    with pytest.raises(SpecError, match="allowed: dropless, force-balanced"):
        plan(job, row_cluster("h100-sxm", 64))
