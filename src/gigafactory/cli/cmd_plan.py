"""`gigafactory plan`: the fastest parallel plans for a model on a cluster."""

from __future__ import annotations

from typing import Any

import typer

from ..units import Column
from .common import console, fmt, friendly, print_json
from .format import choose_format, emit_rows, format_option

#: most plans a table shows
MAX_TOP = 100
#: CLI option for each Job / Plan field these options set
OPTION = {"seq_len": "--seq", "global_batch": "--gbs", "precision": "--precision", "moe_routing": "--moe-routing"}


def _option(validate: Any, model: Any, raw: dict[str, Any], flag: str) -> Any:
    """Validate CLI options as their spec; errors name the option (--gbs), not the field."""
    from ..errors import SpecError, SpecErrors

    try:
        return validate(model, raw, "")
    except SpecError as exc:
        name = flag or OPTION.get(exc.field, exc.field)
        raise SpecError(name, exc.problem, exc.allowed, exc.suggestion) from None
    except SpecErrors as exc:
        first = exc.errors[0]
        raise SpecError(flag or OPTION.get(first.field, first.field), first.problem, first.allowed,
                        first.suggestion) from None


def register(app: typer.Typer) -> None:
    @app.command("plan")
    @friendly
    def plan_cmd(
        model: str = typer.Option(None, "--model", help="catalog model id, e.g. llama3-70b"),
        gpus: int = typer.Option(None, "--gpus", help="GPU count (default: the cluster's)"),
        gbs: int = typer.Option(None, "--gbs", help="global batch, sequences"),
        seq: int = typer.Option(None, "--seq", help="sequence length, tokens"),
        gpu: str = typer.Option(None, "--gpu", help="GPU id (its reference system) when no --cluster"),
        cluster: str = typer.Option(None, "--cluster", help="catalog cluster id"),
        precision: str = typer.Option("bf16", "--precision", help="bf16, fp8, fp8-rowwise, mxfp8, nvfp4"),
        moe_routing: str = typer.Option("dropless", "--moe-routing", help="MoE routing: dropless, capacity (token "
                                        "drop, experts padded to capacity factor 1.0) or force-balanced (benchmarks)"),
        top: int = typer.Option(5, "--top", help="how many plans to show"),
        tp: int = typer.Option(None, "--tp", help="fix tensor parallelism"),
        pp: int = typer.Option(None, "--pp", help="fix pipeline parallelism"),
        cp: int = typer.Option(None, "--cp", help="fix context parallelism"),
        ep: int = typer.Option(None, "--ep", help="fix expert parallelism"),
        recompute: str = typer.Option(None, "--recompute", help="none, selective or full"),
        etp: int = typer.Option(None, "--etp", help="fix expert tensor parallelism (Megatron --expert-tensor-parallel-size)"),
        schedule: str = typer.Option(None, "--schedule", help="fix the pipeline schedule: 1f1b, interleaved, zb-h1, zb-v, "
                                     "dualpipe, dualpipev"),
        cp_comm_type: str = typer.Option(None, "--cp-comm-type", help="fix the context-parallel exchange: p2p, a2a, allgather"),
        dispatcher: str = typer.Option(None, "--dispatcher", help="fix the MoE token dispatcher: alltoall, allgather, flex"),
        tp_overlap: bool = typer.Option(False, "--tp-overlap", help="overlap TP communication (Megatron --tp-comm-overlap)"),
        ep_overlap: bool = typer.Option(False, "--ep-overlap", help="overlap the MoE all-to-all with another micro-batch's compute (Megatron --overlap-moe-expert-parallel-comm, DeepSeek DualPipe)"),
        cuda_graphs: bool = typer.Option(False, "--cuda-graphs", help="replay the attention block and the MoE router "
                                         "as CUDA graphs (Megatron --cuda-graph-impl transformer_engine; not with "
                                         "full recompute)"),
        graph_scope: str = typer.Option(None, "--cuda-graph-scope", help="what --cuda-graphs capture: attn+moe_router "
                                        "(default), moe_router, attn, mlp, layer (each whole layer), or full_iteration (the whole iteration, "
                                        "Megatron --cuda-graph-impl local; allows full recompute)"),
        offload_layers: int = typer.Option(None, "--offload-layers", help="offload this many layers' activations to "
                                           "host memory (Megatron --cpu-offloading-num-layers; no PP, no recompute)"),
        cross_domain_tp: bool = typer.Option(False, "--cross-domain-tp", help="allow TP beyond the NVLink domain"),
        framework: str = typer.Option(None, "--framework", help="search only what this stack runs: megatron, nemo, "
                                      "torchtitan or other (default: the --emit format's, else megatron)"),
        emit: str = typer.Option(None, "--emit", help="print the best plan as a Megatron-LM pretrain_gpt.py command "
                                 "(megatron) or a torchtitan 0.3 config module (torchtitan)"),
        from_megatron: str = typer.Option(None, "--from-megatron", help="predict your own Megatron-LM launch: its "
                                          "flags in quotes, or a file holding the launch command"),
        from_torchtitan: str = typer.Option(None, "--from-torchtitan", help="predict your own torchtitan 0.3 job: "
                                            "a config module file with one config function"),
        fmt: str = format_option(),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output (= --format json)"),
    ) -> None:
        """Search every parallel plan (vectorised) and print the fastest that fit."""
        from ..errors import SpecError, excerpt, unknown
        from ..perf.emit import emit as emit_plan
        from ..perf.frameworks import capabilities, check_precision, check_routing
        from ..perf.planner import plan
        from ..resolve import model as get_model
        from ..resolve import validate_spec as validate
        from ..specs import FRAMEWORKS, MAX_GPUS, Job, Plan

        if from_megatron or from_torchtitan:
            if from_megatron and from_torchtitan:
                raise SpecError("--from-megatron", "give --from-megatron or --from-torchtitan, not both")
            given = {"--model": model, "--gbs": gbs, "--seq": seq, "--emit": emit, "--tp": tp, "--pp": pp,
                     "--moe-routing": None if moe_routing == "dropless" else moe_routing,
                     "--cp": cp, "--ep": ep, "--recompute": recompute, "--etp": etp, "--schedule": schedule,
                     "--cp-comm-type": cp_comm_type, "--dispatcher": dispatcher}
            clash = next((k for k, v in given.items() if v is not None), None)
            if clash:
                raise SpecError(clash, "the launch read by --from-megatron / --from-torchtitan sets it already")
            _predict_launch(from_megatron, from_torchtitan, gpus, gpu, cluster, as_json)
            return
        for flag, v in (("--model", model), ("--gbs", gbs), ("--seq", seq)):
            if v is None:
                raise SpecError(flag, "is required (or read a launch with --from-megatron / --from-torchtitan)")
        if not 1 <= top <= MAX_TOP:
            raise SpecError("--top", f"must be an integer from 1 to {MAX_TOP} (got {excerpt(top)})")
        if gpus is not None and not 1 <= gpus <= MAX_GPUS:
            raise SpecError("--gpus", f"must be an integer from 1 to {MAX_GPUS:,} (got {excerpt(gpus)})")
        for flag, value in (("--tp", tp), ("--pp", pp), ("--cp", cp), ("--ep", ep), ("--etp", etp)):
            if value is not None:
                _option(validate, Plan, {flag[2:]: value}, flag)
        framework = framework or (emit if emit in ("megatron", "torchtitan") else "megatron")
        if framework not in FRAMEWORKS:
            raise unknown("--framework", "framework", framework, FRAMEWORKS)
        cap = capabilities(framework)
        for flag, v, ok in (("--schedule", schedule, cap.schedules), ("--cp-comm-type", cp_comm_type, cap.cp_comm_types),
                            ("--dispatcher", dispatcher, cap.dispatchers), ("--recompute", recompute, cap.recompute)):
            if v is not None and v not in ok:
                raise SpecError(flag, f"{framework} does not run {v!r} (perf/frameworks.py)", ok)
        if etp and etp > 1 and not cap.expert_tp:
            raise SpecError("--etp", f"{framework} has no expert tensor parallelism", ["1"])
        cl = _cluster(cluster, gpu, gpus)
        job = _option(validate, Job, {"model": get_model(model), "tokens": 1e12, "seq_len": seq,
                                      "global_batch": gbs, "precision": precision, "framework": framework,
                                      "moe_routing": moe_routing}, "")
        cl.gpu.peak(precision)  # clear error for unsupported precisions
        if graph_scope is not None:
            from ..perf.columns import choices

            scopes = choices("cuda_graph_scope")
            if graph_scope not in scopes:
                raise unknown("--cuda-graph-scope", "CUDA graph scope", graph_scope, scopes)
            moe = job.model.moe is not None
            if graph_scope == "moe_router" and not moe:
                raise SpecError("--cuda-graph-scope", f"{job.model.name} has no MoE router to graph", ["attn", "mlp", "full_iteration"])
            if graph_scope in ("layer", "full_iteration") and moe:
                raise SpecError("--cuda-graph-scope", f"one graph of the whole {graph_scope.replace('full_', '')} cannot hold "
                                "the dropless MoE dispatcher's copy of the token counts", ["attn+moe_router", "moe_router", "attn"])
        if offload_layers is not None:
            n_layers = job.model.layers
            if not 0 <= offload_layers < n_layers:
                raise SpecError("--offload-layers", f"must be an integer from 0 to {n_layers - 1} (the model has "
                                f"{n_layers} layers; got {excerpt(offload_layers)})")
            if offload_layers and not cl.gpu.host_link_gbs:
                raise SpecError("--offload-layers", f"{cl.gpu.id} has no host link in the catalog (host_link_gbs)")
            if offload_layers and not cap.offload:
                raise SpecError("--offload-layers", f"{framework} has no layer-level activation offload", ["0"])
            clash = ([f"--pp {pp}"] if pp not in (None, 1) else []) + (
                [f"--recompute {recompute}"] if recompute not in (None, "none") else [])
            if offload_layers and clash:
                raise SpecError("--offload-layers", "offload runs without pipeline parallelism or recompute "
                                f"(Megatron-Core's rule): drop {' and '.join(clash)}")
        check_precision(job)
        try:
            check_routing(job)
        except SpecError as exc:
            raise SpecError("--moe-routing", exc.problem, exc.allowed) from None
        con = {k: v for k, v in dict(tp=tp, pp=pp, cp=cp, ep=ep, recompute=recompute, etp=etp, schedule=schedule,
                                     cp_comm_type=cp_comm_type, moe_dispatcher=dispatcher,
                                     cuda_graphs=True if cuda_graphs or graph_scope else None,
                                     cuda_graph_scope=graph_scope,
                                     offload_layers=offload_layers or None).items() if v is not None}
        if offload_layers:
            con.update(pp=1, recompute="none")
        res = plan(job, cl, top=top, tp_comm_overlap=tp_overlap, ep_comm_overlap=ep_overlap, tp_cross_domain=cross_domain_tp, **con)
        if emit:
            typer.echo(emit_plan(job, res.best.plan, emit, cl), nl=False)
            return
        how = choose_format(fmt, as_json)
        if how == "json":
            print_json(res.to_dict())
            return
        emit_rows([plan_row(r) for r in res.top], PLAN_COLUMNS, how,
                  f"{model} ({framework}) on {cl.num_gpus:,} x {cl.gpu.id}, gbs {gbs}, seq {seq}, {precision}")
        if how == "csv":
            return
        b = res.best.terms or res.best.breakdown
        console.print("best plan, exposed seconds per step by term: " + ", ".join(f"{k} {v:.3f}" for k, v in b.items()),
                      soft_wrap=True)
        rej = ", ".join(f"{r}: {n:,}" for r, n in res.rejected.items())
        console.print(f"searched {res.configs_evaluated:,} plans ({res.costed:,} costed in full) in {res.search_seconds:.2f} s; "
                      f"ruled out: {rej}", soft_wrap=True)


#: the columns of the plan table (the field names are those of plan_row)
PLAN_COLUMNS = [Column("plan", "plan", ""), Column("gpus", "GPUs", ""), Column("step_s", "step", "s"),
                Column("tokens_per_s_per_gpu", "tok/s/GPU", ""), Column("model_tflops_per_gpu", "TFLOP/s/GPU", ""),
                Column("mfu", "MFU", "%"), Column("memory_gb", "mem", "GB"), Column("capacity_gb", "of", "GB"),
                Column("exposed_comm_s", "exposed comm", "s"), Column("bubble_s", "bubble", "s")]


def plan_text(p: Any) -> str:
    return (f"tp{p.tp} pp{p.pp}" + (f"x{p.vpp}" if p.vpp > 1 else "")
            + f" cp{p.cp} ep{p.ep} dp{p.dp} mbs{p.mbs} {p.recompute} zero{p.zero}"
            + (f" offload{p.offload_layers}" if p.offload_layers else ""))


def plan_row(r: Any) -> dict[str, Any]:
    """One searched plan as a flat row with units in its field names."""
    p = r.plan
    return {"plan": plan_text(p), "gpus": p.gpus, "step_s": r.step_s, "tokens_per_s_per_gpu": r.tokens_per_s_per_gpu,
            "model_tflops_per_gpu": r.model_tflops_per_gpu, "mfu": r.mfu, "memory_gb": r.memory["total"],
            "capacity_gb": r.memory["capacity"],
            "exposed_comm_s": sum(r.breakdown[k] for k in ("tp", "cp", "ep", "pp", "dp") if k in r.breakdown),
            "bubble_s": r.breakdown.get("bubble", 0.0)}


def _cluster(cluster: str | None, gpu: str | None, gpus: int | None):
    from ..errors import SpecError
    from ..perf.validate import row_cluster
    from ..resolve import build

    if cluster:
        raw: dict = {"use": cluster}
        if gpus:
            raw["num_gpus"] = gpus
        if gpu:
            raw["gpu"] = gpu
        return build("clusters", raw, "cluster")
    if not gpu or not gpus:
        raise SpecError("--gpu", "give --gpu and --gpus, or --cluster")
    return row_cluster(gpu, gpus)


def _predict_launch(from_megatron: str | None, from_torchtitan: str | None, gpus: int | None, gpu: str | None,
                    cluster: str | None, as_json: bool) -> None:
    """Read the user's launch, predict its step on the cluster and print it (as `validate` does for a row)."""
    from pathlib import Path

    from ..errors import SpecError
    from ..launch_reader import read_megatron, read_torchtitan
    from ..perf.columns import plan_arrays
    from ..perf.frameworks import framework_reject
    from ..perf.step import evaluate

    if from_torchtitan:
        path = Path(from_torchtitan)
        if not path.is_file():
            raise SpecError("--from-torchtitan", f"{from_torchtitan!r} is not a file")
        launch = read_torchtitan(path.read_text(), gpus)
    else:
        try:
            is_file = Path(from_megatron).is_file()
        except OSError:  # flags longer than a file name can be
            is_file = False
        text = Path(from_megatron).read_text() if is_file else from_megatron
        launch = read_megatron(text, gpus)
    if gpus and gpus != launch.gpus:
        raise SpecError("--gpus", f"{gpus} GPUs, but the launch runs on {launch.gpus}")
    cl = _cluster(cluster, gpu, launch.gpus)
    if cl.num_gpus < launch.gpus:
        raise SpecError("--cluster", f"{cl.id} has {cl.num_gpus:,} GPUs; the launch needs {launch.gpus:,}")
    job, p = launch.job, launch.plan
    cl.gpu.peak(job.precision)
    refused = bool(framework_reject(job, plan_arrays([p]))[0])
    r = evaluate(job, cl, p, flash=launch.flash, check_memory=False)  # a launch that runs out of memory is an answer
    fits = r.memory["total"] <= r.memory["capacity"]
    if as_json:
        print_json({"model": {"id": job.model.id, "catalog": launch.catalog_model, "params_b": job.model.params_b},
                    "job": job.model_dump(mode="json", exclude={"model"}), "gpus": launch.gpus,
                    "unmodelled": list(launch.unmodelled), "assumed": list(launch.assumed), "fits_memory": fits,
                    "framework_accepts": not refused,
                    **r.to_dict()})
        return
    m = job.model
    console.print(f"{m.name if launch.catalog_model else f'inline model ({m.params_b:.1f}B parameters)'} "
                  f"({job.framework}) on {launch.gpus:,} x {cl.gpu.id}, gbs {job.global_batch}, seq {job.seq_len}, "
                  f"{job.precision}", highlight=False)
    console.print(f"plan: tp{p.tp} pp{p.pp}" + (f"x{p.vpp}" if p.vpp > 1 else "")
                  + f" cp{p.cp} ep{p.ep} etp{p.etp} dp{p.dp} mbs{p.mbs} {p.recompute} zero{p.zero} {p.schedule}"
                  + (" compile" if p.compile else "") + (f" cuda-graphs:{p.cuda_graph_scope}" if p.cuda_graphs else "")
                  + (f" offload {p.offload_layers} layers" if p.offload_layers else ""), highlight=False)
    console.print(f"step {r.step_s:.3f} s, {fmt(r.tokens_per_s_per_gpu)} tok/s/GPU, {r.model_tflops_per_gpu:.0f} "
                  f"TFLOP/s/GPU, MFU {r.mfu:.1%}, memory {r.memory['total']:.0f}/{r.memory['capacity']:.0f} GB",
                  highlight=False)
    console.print("exposed seconds per step by term: " + ", ".join(f"{k} {v:.3f}" for k, v in (r.terms or r.breakdown).items()),
                  highlight=False)
    if launch.unmodelled:
        console.print("read, not modelled (no effect on the step): " + " ".join(launch.unmodelled), highlight=False)
    for a in launch.assumed:
        console.print(f"assumed: {a}", highlight=False)
    if refused:
        console.print(f"[bold red]{job.framework} would refuse this launch[/] (its rules: perf/frameworks.py)",
                      highlight=False)
    if not fits:
        mem = ", ".join(f"{k} {r.memory[k]:.1f}" for k in ("weights", "grads", "optimizer", "activations"))
        console.print(f"[bold red]does not fit:[/] needs {r.memory['total']:.1f} of {r.memory['capacity']:.0f} GB "
                      f"per GPU ({mem} GB)", highlight=False)
