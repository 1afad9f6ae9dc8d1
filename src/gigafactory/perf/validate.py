"""Predict published training measurements and report the error (`gigafactory validate`).

Each CSV row (schema: shared/groundtruth/README.md) becomes a job, a cluster (the GPU's reference
system, catalog/perf.yaml) and a plan. Knobs the source did not publish are searched as the
framework's user would tune them (micro-batch, recompute, virtual stages, TP communication overlap,
the MoE dispatcher): every option is evaluated and the fastest that fits memory is taken, and
reported per row. Knobs the notes state (schedule, async TP, torch.compile, CUDA graphs,
force-balanced routing) are taken as published, and so are those of the recipe behind a
Megatron-Bridge table row (catalog ``recipes``: CUDA-graph scope, MoE dispatcher, all-to-all and TP
overlap; recompute and activation offload where the recipe's parallelism is the row's, and then the
memory model does not overrule them: the run fitted). The stack (``Job.framework``) is the source's:
torchtitan, NeMo or Megatron. Conventions honoured per source (docs/perf.md):

* GPU count = tp*pp*cp*dp when the published count disagrees (NeMo's B200 long-sequence rows);
* model FLOPs count causal attention for Megatron-Bridge, the full score matrix for NeMo 24.x and
  Megatron-LM (Narayanan et al. 2021); achieved FLOPs follow Narayanan's recompute formula;
* torchtitan: ``mbs`` is the local batch; with PP it is split into as many micro-batches as PP stages
  and a looped schedule builds 2 stages per rank (the defaults at the 2024-12 benchmark's commit,
  9dec370); no gradient accumulation without PP; empty global batch = dp x local batch;
* Megatron-LM 2021 rows predate sequence parallelism and the distributed optimizer; 2021/2022
  Megatron rows use unfused attention (Korthikanti et al. 2022, Table 5 'selective' = attention core);
"""

from __future__ import annotations

import csv
import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import catalog
from ..errors import GigafactoryError, SpecError, unknown
from ..resolve import build
from ..resolve import model as catalog_model
from ..specs import Cluster, Job, Model, Plan
from .batch import RECOMPUTE, evaluate_batch
from .columns import plan_arrays
from .efficiency import Calibration
from .params import hardware_flops_per_token, model_flops_per_token
from .rules import REASONS, reject_codes
from .schedules import stage_layers

METRICS = ("tokens_per_sec_per_gpu", "model_tflops_per_gpu", "achieved_tflops_per_gpu", "step_time_s", "MFU_pct")


@dataclass
class Prepared:
    id: str
    gpu: str
    source: str
    metric: str
    measured: float
    job: Job
    cluster: Cluster
    plans: list[Plan]
    P: dict[str, np.ndarray]
    flash: bool
    causal: bool
    notes: list[str] = field(default_factory=list)
    rc_auto: bool = False  # recompute unpublished: full recompute may cover only the layers memory needs
    rc_layers: int | None = None  # full recompute of this many layers per stage, as the recipe publishes
    memory_published: bool = False  # recompute and offload as the run's recipe set them: the run fitted
    cache: tuple[dict[str, np.ndarray], np.ndarray] | None = None  # (columns with rcf, rule codes)


def source_group(src: str) -> str:
    m = re.match(r"^([\w.-]+/[\w.-]+)", src)
    if m:
        return m.group(1)
    return " ".join(src.split()[:3]).rstrip(",")


def _num(x: str) -> float | None:
    x = (x or "").strip()
    return float(x) if x else None


def _int(x: str) -> int | None:
    v = _num(x)
    return int(v) if v is not None else None


def row_model(r: dict[str, str]) -> Model:
    mid = (r.get("model_id") or "").strip()
    vocab = _int(r.get("vocab", ""))
    if mid and mid in catalog.ids("models"):
        m = catalog_model(mid)
        if vocab and vocab != m.vocab:  # the run's (padded) vocabulary
            m = m.model_copy(update={"vocab": vocab})
        return m
    h, heads = _int(r["hidden"]), _int(r["heads"])
    if not (h and heads and _int(r["layers"]) and _int(r["ffn"]) and vocab):
        raise SpecError("model", "neither a catalog model_id nor full architecture columns")
    gated = r.get("mlp", "plain") == "gated"
    raw: dict[str, Any] = {
        "id": f"row-{r['id']}", "name": r.get("model") or f"row {r['id']}", "layers": _int(r["layers"]),
        "hidden": h, "heads": heads, "kv_heads": _int(r.get("kv_heads", "")) or heads, "head_dim": h // heads,
        "ffn": _int(r["ffn"]), "mlp": "gated" if gated else "plain", "activation": "swiglu" if gated else "gelu",
        "vocab": vocab, "tied_embeddings": not gated, "max_seq": _int(r["seq_len"]),
        "params_b": _num(r.get("params_b", "")) or 1.0,
    }
    if _int(r.get("moe_experts", "")):
        raw["moe"] = {"experts": _int(r["moe_experts"]), "top_k": _int(r["moe_topk"]) or 1, "expert_ffn": _int(r["ffn"])}
    return build("models", raw, "model")


def _domain(n: int, per_domain: int, per_server: int) -> int:
    if n <= per_domain or n % per_domain == 0:
        return per_domain
    for d in range(per_domain, 0, -1):  # racks partly filled: the largest whole-server divisor
        if n % d == 0 and d % per_server == 0:
            return d
    return per_server


def row_cluster(gpu_id: str, n: int) -> Cluster:
    ref = catalog.entry("perf", "reference-systems")
    systems = {k: v for k, v in ref.items() if isinstance(v, dict) and "scale_up" in v}
    if gpu_id not in systems:
        raise unknown("gpu", "GPU (with a reference system)", gpu_id, systems)
    sys_ = systems[gpu_id]
    su = catalog.entry("scaleups", sys_["scale_up"])
    per_server = min(su["gpus_per_server"], n)
    dom = _domain(n, su["gpus_per_domain"], per_server)
    raw = {
        "id": f"{gpu_id}-x{n}", "name": f"{n} x {gpu_id}", "gpu": gpu_id, "num_gpus": n,
        "scale_up": {"use": sys_["scale_up"], "gpus_per_server": per_server, "gpus_per_domain": max(dom, per_server)},
        "fabric": sys_["fabric"], "nics_per_gpu": sys_["nics_per_gpu"], "storage_tbps": ref["storage_tbps"], "cooling": ref["cooling"],
    }
    return build("clusters", raw, "cluster")


#: the stack each source's runs used (a published fact of the source, not a guess from its name)
SOURCE_FRAMEWORK = {"pytorch/torchtitan": "torchtitan", "NVIDIA/NeMo": "nemo", "NVIDIA-NeMo/Megatron-Bridge": "megatron",
                    "NVIDIA/Megatron-LM": "megatron", "Korthikanti et al.": "megatron"}


def _published(notes: str) -> dict[str, Any]:
    """Knobs a row's notes state as published facts (schedule, async TP, compile, CUDA graphs, routing)."""
    low = notes.lower()
    squashed = low.replace(" ", "").replace("-", "").replace("_", "")
    out: dict[str, Any] = {}
    if "dualpipe" in squashed:
        out["schedule"] = "dualpipe"
    elif "interleaved 1f1b" in low:
        out["schedule"] = "interleaved"
    elif "1f1b" in low:
        out["schedule"] = "1f1b"
    if "asynctp" in squashed or "tpcommoverlap" in squashed:
        out["tp_comm_overlap"] = True
    if "vanilla tp" in low:
        out["tp_comm_overlap"] = False
    if "torch.compile" in low or "+compile" in squashed:
        out["compile"] = True
    out["cuda_graphs"] = "cudagraph" in squashed
    if out["cuda_graphs"]:  # the scopes a row's notes name, the Megatron export's by default
        out["cuda_graph_scope"] = ("full_iteration" if "fulliteration" in squashed else
                                   "moe_router" if "moerouter" in squashed and "attn" not in low else
                                   "attn+moe_router")
    out["force_balanced"] = "force-balanced" in low
    out["token_drop"] = "tokendrop" in squashed and "notdropless" in squashed
    return out


def recipe(r: dict[str, str]) -> dict[str, Any] | None:
    """The published recipe behind a Megatron-Bridge table row (catalog ``recipes``: its CUDA graphs, MoE
    dispatcher, all-to-all and TP overlap), found by the row's NeMo container, model, GPU and precision."""
    src = r.get("source", "")
    m = re.search(r"(\d\d\.\d\d) NeMo container", src)
    if "Megatron-Bridge" not in src or not m:
        return None
    key = (m.group(1), (r.get("model_id") or "").strip(), (r.get("gpu_id") or "").strip(),
           (r.get("precision_id") or "").strip())
    for x in catalog.entry("recipes", "megatron-bridge")["recipes"]:
        if (x["container"], x["model"], x["gpu"], x["precision"]) == key:
            return x
    return None


def _vpp_options(layers: int, pp: int, m: int) -> list[int]:
    """Virtual stages a user would try: every v with pp * v <= layers + 2 and m divisible by pp."""
    if pp <= 1 or m % pp:
        return [1]
    return [v for v in (1, 2, 3, 4, 5, 6, 8) if pp * v <= layers + 2]


def prepare(r: dict[str, str]) -> Prepared:
    """Turn one CSV row into a job, cluster and the candidate plans for its unpublished knobs.

    Published knobs are taken as published; the rest are searched as the framework's user would
    tune them (micro-batch, recompute, virtual stages, TP and EP communication overlap, the MoE
    dispatcher), and :func:`predict` takes the fastest candidate that fits memory."""
    src, notes_in = r.get("source", ""), r.get("notes", "")
    group = source_group(src)
    framework = SOURCE_FRAMEWORK.get(group, "megatron")
    titan = framework == "torchtitan"
    old_megatron = "Korthikanti" in src or "cases_april2021" in src
    pub = _published(notes_in)
    notes: list[str] = []
    metric = r["measured_metric"].strip()
    if metric not in METRICS:
        raise SpecError("measured_metric", f"unknown metric {metric!r}", METRICS)
    model = row_model(r)
    tp, pp = _int(r["tp"]) or 1, _int(r["pp"]) or 1
    cp, ep = _int(r["cp"]) or 1, _int(r["ep"]) or 1
    vpp_pub = _int(r["vpp"])
    n_pub = _int(r["num_gpus"])
    dp = _int(r["dp"]) or (n_pub // (tp * pp * cp) if n_pub else None)
    if not dp:
        raise SpecError("dp", "neither dp nor num_gpus given")
    n = tp * pp * cp * dp
    if n_pub and n != n_pub:
        notes.append(f"GPUs used = tp*pp*cp*dp = {n} (published {n_pub})")
    mbs_col, gbs = _int(r["mbs"]), _int(r["gbs"])
    mbs_opts: list[int]
    if titan:  # mbs column = local batch; no grad accumulation without PP, pp micro-batches of it with PP
        local = mbs_col or (gbs // dp if gbs else None)
        if pp > 1:  # torchtitan 2024-12 (9dec370): n_microbatches defaults to the PP degree
            if local is None or local % pp:
                raise SpecError("mbs", f"torchtitan PP row needs a local batch divisible by pp={pp}")
            mbs_opts = [local // pp]
            gbs = gbs or dp * local
            notes.append(f"torchtitan PP: local batch {local} as {pp} micro-batches of {local // pp} "
                         "(n_microbatches defaults to the PP degree)")
        elif local is not None:
            mbs_opts, gbs = [local], gbs or dp * local
        else:
            mbs_opts = [1, 2, 4, 8, 16]
            notes.append("local batch unpublished: fastest that fits")
    else:
        if gbs is None:
            raise SpecError("gbs", "global batch unpublished")
        mbs_opts = [mbs_col] if mbs_col else [b for b in (1, 2, 4, 8, 16) if gbs % (dp * b) == 0]
        if not mbs_col:
            notes.append("mbs unpublished: fastest that fits")
    rc_col = (r.get("recompute") or "").strip().split(" ")[0]
    rec = recipe(r)
    # recompute and activation offload as the recipe sets them, where its parallelism is the row's (they
    # depend on it); selective recompute of named modules (mla_up_proj, moe_act, layernorm) is not a Plan
    # choice, so those rows keep the search
    memory_published = rc_col not in RECOMPUTE and rec is not None and rec["matched"] and not (
        rec["recompute"].startswith("selective"))
    rc_layers = off_recipe = None
    if rc_col in RECOMPUTE:
        rc_opts = [rc_col]
    elif memory_published:
        kind, _, n_layers = rec["recompute"].partition(":")
        rc_opts, rc_layers, off_recipe = [kind], int(n_layers) if n_layers else None, int(rec["offload_layers"])
    elif metric == "achieved_tflops_per_gpu":
        rc_opts = ["full"]
        notes.append("recompute = full (Narayanan et al. 2021 runs, whose FLOP formula counts it)")
    else:
        rc_opts = list(RECOMPUTE)
        notes.append("recompute unpublished: fastest that fits")
    z = (r.get("zero_or_fsdp") or "").lower()
    zero = 3 if "fsdp" in z else 1 if "distributed" in z else 0 if old_megatron else 1
    precision = (r.get("precision_id") or "bf16").strip()
    sp = "cases_april2021" not in src
    # unpublished TP overlap: both settings where the framework has the feature (Transformer Engine's
    # userbuffers)
    tpo_opts = [pub["tp_comm_overlap"]] if "tp_comm_overlap" in pub else (
        [False, True] if tp > 1 and framework in ("megatron", "nemo") and not old_megatron else [False])
    # EP and TP overlap, the dispatcher and CUDA graphs: as the row's notes or its published recipe
    # (catalog recipes) set them; a row with neither runs without EP overlap or graphs, and TP overlap
    # and the dispatcher are searched
    epo_opts = [False]
    disp_opts = ["alltoall", "flex"] if ep > 1 and framework == "megatron" else ["alltoall"]
    compile_ = bool(pub.get("compile", False))
    graphs, scope = bool(pub["cuda_graphs"]), pub.get("cuda_graph_scope", "attn+moe_router")
    if rec is not None:
        if not graphs and rec["graphs"] != "none":
            graphs, scope = True, rec["graphs"]
        if ep > 1 and rec["dispatcher"] != "none":
            disp_opts, epo_opts = [rec["dispatcher"]], [bool(rec["ep_overlap"])]
        if tp > 1 and rec["tp_overlap"] != "none" and "tp_comm_overlap" not in pub:
            tpo_opts = [bool(rec["tp_overlap"])]
        notes.append(f"recipe {rec['preset']}{'' if rec['matched'] else ' (other parallelism)'}: graphs "
                     f"{scope if graphs else 'none'}, dispatcher {rec['dispatcher']}, ep overlap "
                     f"{'on' if rec['ep_overlap'] else 'off'}, tp overlap {rec['tp_overlap']}")
    if memory_published:
        notes.append(f"recipe recompute {rec['recompute']}, offload {off_recipe} layers")
    # unpublished recompute without PP on Megatron: activation offload of an eighth to three quarters of
    # the layers is the other way to fit memory (Megatron-Bridge's Llama 3 70B recipes on GB200 / GB300
    # offload 20-40 of 80 layers instead of recomputing)
    cluster = row_cluster(r["gpu_id"].strip(), n)
    off_opts = [0] + sorted({max(1, round(model.layers * k / 8)) for k in range(1, 7)}) if (
        len(rc_opts) > 1 and pp == 1 and framework in ("megatron", "nemo") and cluster.gpu.host_link_gbs) else [0]
    if memory_published:
        off_opts = [off_recipe]
    cands = []
    for mbs in mbs_opts:
        g = gbs if gbs else dp * mbs
        m = g // (dp * mbs)
        if vpp_pub:
            vpps = [vpp_pub]
        elif pub.get("schedule") in ("1f1b", "dualpipe"):
            vpps = [1]
        elif pub.get("schedule") == "interleaved" and titan:  # looped schedule without split points
            vpps = [2]
        elif pub.get("schedule") == "interleaved":
            vpps = [v for v in _vpp_options(model.layers, pp, m) if v > 1] or [1]
        else:
            vpps = _vpp_options(model.layers, pp, m)
        for vpp, rc, tpo, epo, disp, off in itertools.product(vpps, rc_opts, tpo_opts, epo_opts, disp_opts, off_opts):
            if off and rc != "none":
                continue
            cands.append((g, Plan(tp=tp, pp=pp, vpp=vpp, cp=cp, ep=ep, dp=dp, mbs=mbs, recompute=rc, zero=zero,
                                  sequence_parallel=sp, tp_comm_overlap=tpo, ep_comm_overlap=epo,
                                  moe_dispatcher=disp, compile=compile_,
                                  cuda_graphs=graphs, cuda_graph_scope=scope, offload_layers=off,
                                  schedule="dualpipe" if pub.get("schedule") == "dualpipe" else "1f1b")))
    if len(vpps) > 1 or (not vpp_pub and pp > 1):
        notes.append("vpp unpublished: fastest of " + ",".join(str(v) for v in sorted({p.vpp for _, p in cands})))
    gb_set = {g for g, _ in cands}
    if len(gb_set) > 1:  # unpublished torchtitan local batch: gbs follows mbs; keep throughput per plan
        gbs = max(gb_set)
        cands = [(g, p) for g, p in cands if g == gbs] or cands
    routing = "capacity" if pub["token_drop"] and "tokendrop" in (r.get("model") or "").lower() else (
        "force-balanced" if pub["force_balanced"] else "dropless")
    job = Job(model=model, tokens=1e12, seq_len=int(_int(r["seq_len"]) or model.max_seq), global_batch=cands[0][0],
              precision=precision, framework=framework, moe_routing=routing)
    plan_list = [p for _, p in cands]
    P = plan_arrays(plan_list)
    return Prepared(
        id=r["id"], gpu=r["gpu_id"].strip(), source=group, metric=metric, measured=float(r["measured_value"]),
        job=job, cluster=cluster, plans=plan_list, P=P, flash=not old_megatron,
        causal="Megatron-Bridge" in src, notes=notes, rc_auto=len(rc_opts) > 1, rc_layers=rc_layers,
        memory_published=memory_published,
    )


def _partial_recompute(p: Prepared, out: dict[str, np.ndarray]) -> np.ndarray:
    """Fraction of each full-recompute plan's stage layers that must be recomputed to fit memory
    (Megatron's block method, ``--recompute-num-layers``), rounded up to whole layers; 1 elsewhere.
    Activation memory is linear in that fraction, so it interpolates the no-recompute and full totals."""
    rcf = np.ones(len(p.plans))
    cap = out["mem_capacity"]
    key = {i: pl.model_copy(update={"recompute": "none"}) for i, pl in enumerate(p.plans)}
    none_at = {key[j]: j for j, q in enumerate(p.plans) if q.recompute == "none"}
    for i, pl in enumerate(p.plans):
        if pl.recompute != "full":
            continue
        j = none_at.get(key[i])
        if j is None:
            continue
        span = out["mem_total"][j] - out["mem_total"][i]
        frac = float(np.clip((out["mem_total"][j] - cap[i]) / span, 0.0, 1.0)) if span > 0 else 1.0
        layers = float(stage_layers(p.job.model.layers, pl.pp, pl.vpp))
        rcf[i] = max(1.0, np.ceil(frac * layers - 1e-9)) / layers
    return rcf


def _columns(p: Prepared) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The row's plan columns with the partial-recompute fraction, and the rule codes: neither
    depends on the calibration (memory does not), so they are worked out once per row."""
    if p.cache is None:
        codes = reject_codes(p.job, p.cluster, p.P)
        P = p.P
        if p.rc_auto:
            out = evaluate_batch(p.job, p.cluster, p.P, flash=p.flash)
            P = {**p.P, "rcf": _partial_recompute(p, out)}
        elif p.rc_layers:
            P = {**p.P, "rcf": np.array([min(1.0, p.rc_layers / stage_layers(p.job.model.layers, q.pp, q.vpp))
                                         for q in p.plans])}
        p.cache = (P, codes)
    return p.cache


def predict(p: Prepared, calib: Calibration | None = None) -> tuple[float, int, str]:
    """Predicted metric, index of the chosen plan, and a note on the choice."""
    P, codes = _columns(p)
    out = evaluate_batch(p.job, p.cluster, P, calib=calib, flash=p.flash)
    # a recipe's published memory settings ran: the memory model does not overrule them
    fits = ((out["mem_total"] <= out["mem_capacity"]) | p.memory_published) & (codes == 0)
    note = ""
    if len(p.plans) == 1:
        i = 0
    elif fits.any():
        i = int(np.argmax(np.where(fits, out["tokens_per_s_per_gpu"], -1)))
    else:
        i = int(np.argmin(out["mem_total"]))
        note = "no option fits the memory model; least-memory option taken"
    tok = float(out["tokens_per_s_per_gpu"][i])
    plan, s = p.plans[i], p.job.seq_len
    if p.metric == "tokens_per_sec_per_gpu":
        val = tok
    elif p.metric == "model_tflops_per_gpu":
        val = tok * model_flops_per_token(p.job.model, s, causal=p.causal) / 1e12
    elif p.metric == "achieved_tflops_per_gpu":
        val = tok * hardware_flops_per_token(p.job.model, s, plan.recompute, causal=False) / 1e12
    elif p.metric == "step_time_s":
        val = float(out["step_s"][i])
    else:
        val = tok * model_flops_per_token(p.job.model, s, causal=p.causal) / p.cluster.gpu.peak(p.job.precision) / 1e10
    if codes[i]:
        note = (note + "; " if note else "") + f"rule broken by the published plan: {REASONS[int(codes[i])]}"
    return val, i, note


def read_rows(path: str | Path) -> list[dict[str, str]]:
    p = Path(path)
    if not p.is_file():
        raise SpecError("--data", f"no such file {str(path)!r}")
    with p.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    need = {"id", "gpu_id", "measured_metric", "measured_value", "seq_len"}
    if rows and not need <= set(rows[0]):
        raise SpecError("--data", f"missing columns {sorted(need - set(rows[0]))}")
    return rows


def prepare_all(rows: list[dict[str, str]]) -> tuple[list[Prepared], list[dict[str, str]]]:
    prepared, skipped = [], []
    for r in rows:
        try:
            prepared.append(prepare(r))
        except (GigafactoryError, ValueError, KeyError) as exc:
            skipped.append({"id": r.get("id", "?"), "reason": str(exc).splitlines()[0]})
    return prepared, skipped


def _mape(errs: list[float]) -> float:
    return float(np.mean(np.abs(errs))) if errs else float("nan")


def validate(data: str | Path, calib: Calibration | None = None) -> dict[str, Any]:
    """Predict every row; returns {"n", "mape_pct", "rows", "skipped", "by_gpu", "by_source"}."""
    prepared, skipped = prepare_all(read_rows(data))
    rows = []
    by_gpu: dict[str, list[float]] = defaultdict(list)
    by_src: dict[str, list[float]] = defaultdict(list)
    for p in prepared:
        try:
            val, i, note = predict(p, calib)
        except GigafactoryError as exc:
            skipped.append({"id": p.id, "reason": str(exc)})
            continue
        err = 100.0 * (val - p.measured) / p.measured
        plan = p.plans[i]
        rows.append({
            "id": p.id, "metric": p.metric, "measured": p.measured, "predicted": val, "error_pct": err,
            "gpu": p.gpu, "source": p.source,
            "plan": f"tp{plan.tp} pp{plan.pp} vpp{plan.vpp} cp{plan.cp} ep{plan.ep} dp{plan.dp} mbs{plan.mbs} "
                    f"{plan.recompute} zero{plan.zero}" + (" tpo" if plan.tp_comm_overlap else "")
                    + (" epo" if plan.ep_comm_overlap else "") + (" flex" if plan.moe_dispatcher == "flex" else "")
                    + (f" graphs:{plan.cuda_graph_scope}" if plan.cuda_graphs else ""),
            "notes": "; ".join(p.notes + ([note] if note else [])),
        })
        by_gpu[p.gpu].append(err)
        by_src[p.source].append(err)
    return {
        "n": len(rows),
        "mape_pct": _mape([r["error_pct"] for r in rows]),
        "rows": rows,
        "skipped": skipped,
        "by_gpu": {k: {"n": len(v), "mape_pct": _mape(v)} for k, v in sorted(by_gpu.items())},
        "by_source": {k: {"n": len(v), "mape_pct": _mape(v)} for k, v in sorted(by_src.items())},
    }
