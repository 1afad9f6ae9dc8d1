"""`gigafactory plan`: the fastest parallel plans for a model on a cluster."""

from __future__ import annotations

import typer
from rich.table import Table

from .common import console, fmt, friendly, print_json


def register(app: typer.Typer) -> None:
    @app.command("plan")
    @friendly
    def plan_cmd(
        model: str = typer.Option(..., "--model", help="catalog model id, e.g. llama3-70b"),
        gpus: int = typer.Option(None, "--gpus", help="GPU count (default: the cluster's)"),
        gbs: int = typer.Option(..., "--gbs", help="global batch, sequences"),
        seq: int = typer.Option(..., "--seq", help="sequence length, tokens"),
        gpu: str = typer.Option(None, "--gpu", help="GPU id (its reference system) when no --cluster"),
        cluster: str = typer.Option(None, "--cluster", help="catalog cluster id"),
        precision: str = typer.Option("bf16", "--precision", help="bf16, fp8, fp8-rowwise, mxfp8, nvfp4"),
        top: int = typer.Option(5, "--top", help="how many plans to show"),
        tp: int = typer.Option(None, "--tp", help="fix tensor parallelism"),
        pp: int = typer.Option(None, "--pp", help="fix pipeline parallelism"),
        cp: int = typer.Option(None, "--cp", help="fix context parallelism"),
        ep: int = typer.Option(None, "--ep", help="fix expert parallelism"),
        recompute: str = typer.Option(None, "--recompute", help="none, selective or full"),
        tp_overlap: bool = typer.Option(False, "--tp-overlap", help="overlap TP communication (Megatron --tp-comm-overlap)"),
        ep_overlap: bool = typer.Option(False, "--ep-overlap", help="overlap the MoE all-to-all with another micro-batch's compute (Megatron --overlap-moe-expert-parallel-comm, DeepSeek DualPipe)"),
        cross_domain_tp: bool = typer.Option(False, "--cross-domain-tp", help="allow TP beyond the NVLink domain"),
        emit: str = typer.Option(None, "--emit", help="print the best plan as megatron flags or torchtitan TOML"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Search every parallel plan (vectorised) and print the fastest that fit."""
        from ..errors import SpecError
        from ..perf.emit import emit as emit_plan
        from ..perf.planner import plan
        from ..perf.validate import row_cluster
        from ..resolve import build
        from ..resolve import model as get_model
        from ..specs import Job

        if cluster:
            raw: dict = {"use": cluster}
            if gpus:
                raw["num_gpus"] = gpus
            if gpu:
                raw["gpu"] = gpu
            cl = build("clusters", raw, "cluster")
        else:
            if not gpu or not gpus:
                raise SpecError("--gpu", "give --gpu and --gpus, or --cluster")
            cl = row_cluster(gpu, gpus)
        job = Job(model=get_model(model), tokens=1e12, seq_len=seq, global_batch=gbs, precision=precision)
        cl.gpu.peak(precision)  # clear error for unsupported precisions
        con = {k: v for k, v in dict(tp=tp, pp=pp, cp=cp, ep=ep, recompute=recompute).items() if v is not None}
        res = plan(job, cl, top=top, tp_comm_overlap=tp_overlap, ep_comm_overlap=ep_overlap, tp_cross_domain=cross_domain_tp, **con)
        if emit:
            typer.echo(emit_plan(job, res.best.plan, emit), nl=False)
            return
        if as_json:
            print_json(res.to_dict())
            return
        t = Table(title=f"{model} on {cl.num_gpus:,} x {cl.gpu.id}, gbs {gbs}, seq {seq}, {precision}",
                  title_justify="left")
        for col in ("plan", "GPUs", "step s", "tok/s/GPU", "TFLOP/s/GPU", "MFU", "mem GB", "exposed comm s", "bubble s"):
            t.add_column(col, justify="right" if col != "plan" else "left")
        for r in res.top:
            p = r.plan
            desc = f"tp{p.tp} pp{p.pp}" + (f"x{p.vpp}" if p.vpp > 1 else "") + f" cp{p.cp} ep{p.ep} dp{p.dp} mbs{p.mbs} {p.recompute} zero{p.zero}"
            comm = sum(r.breakdown[k] for k in ("tp", "cp", "ep", "pp", "dp"))
            t.add_row(desc, fmt(p.gpus), f"{r.step_s:.3f}", fmt(r.tokens_per_s_per_gpu), f"{r.model_tflops_per_gpu:.0f}",
                      f"{r.mfu:.1%}", f"{r.memory['total']:.0f}/{r.memory['capacity']:.0f}", f"{comm:.3f}",
                      f"{r.breakdown['bubble']:.3f}")
        console.print(t)
        b = res.best.breakdown
        console.print("best plan breakdown (s): " + ", ".join(f"{k} {v:.3f}" for k, v in b.items()))
        rej = ", ".join(f"{r}: {n:,}" for r, n in res.rejected.items())
        console.print(f"searched {res.configs_evaluated:,} plans ({res.costed:,} costed in full) in {res.search_seconds:.2f} s; "
                      f"ruled out: {rej}")
