"""The step-time model of many plans at once: named terms over numpy arrays (one entry per plan).

This is the single implementation of the cost model; :func:`gigafactory.perf.step.evaluate` calls it
with one plan and the planner with hundreds of thousands. One micro-batch on the slowest pipeline
stage is built from its layers, each a sum of terms with their own module and formula:

* ``gemm`` -- every linear layer's forward, input-gradient and weight-gradient GEMM at its own shape
  (:mod:`.gemm`: tensor-core rate with wave quantisation against HBM traffic); the MoE experts as
  grouped GEMMs of the tokens each local expert receives; the LM head;
* ``attention`` -- the attention core by the stack's kernel (:mod:`.attention`);
* ``memory_bound`` -- norms, residual adds, RoPE, activations, casts, router, permutes, the loss
  (:mod:`.memory_bound`);
* ``launch`` -- the GPU's gaps between kernels, and host launch time beyond the GPU's work (:mod:`.launch`);
* ``tp``, ``cp``, ``ep`` -- exposed collectives of each layer (:mod:`.communication`).

The step is ``m`` micro-batches of that stage plus the schedule's bubble (:mod:`.schedules`), the
exposed pipeline sends (``pp``), the exposed data-parallel gradient and parameter traffic (``dp``)
the optimizer step and the activation offload copies that outlast their neighbour layer's compute
(``offload``). Every key of :data:`TERMS` is exposed seconds; they add up to the step.
:data:`BREAKDOWN` groups them into the phases the power model draws (``compute`` = GEMM + attention
+ memory-bound, ``host`` = launch).
"""

from __future__ import annotations

import numpy as np

from ..network import collectives as nc
from ..specs import Cluster, Job
from .attention import (
    attention_bwd_factor,
    core_flops,
    flash_times,
    head_dim_factor,
    kernel_efficiency,
    kernel_for,
    unfused_times,
    window_factor,
)
from .columns import PLAN_COLUMNS, code
from .communication import (
    A2A,
    cp_variants,
    dispatch_variants,
    dp_times,
    etp_collectives,
    pp_send,
    tp_collective,
    tp_exposed,
)
from .efficiency import INPUT_BYTES, Calibration, calibration, compute_clock_factor, const, exp_rate, sms
from .frameworks import capabilities
from .gemm import GemmDevice, linear_times
from .launch import layer_gap_s, layer_host_s
from .memory import memory_bytes
from .memory_bound import LOW_PRECISION, cross_entropy_bytes, layer_bytes, optimizer_bytes
from .params import Arch, arch, matmul_params_per_token, model_flops_per_token
from .recompute import SELECTIVE, recompute_shares, selective_policy
from .schedules import (
    DUALPIPE,
    DUALPIPE_V,
    INTERLEAVED,
    ONE_F_ONE_B,
    bubble_time,
    chunks_per_stage,
    last_stage_layers,
    stage_layers,
)

RECOMPUTE = ("none", "selective", "full")
TERMS = ("gemm", "attention", "memory_bound", "launch", "tp", "cp", "ep", "pp", "dp", "bubble", "optimizer", "offload")
BREAKDOWN = ("compute", "host", "tp", "cp", "ep", "pp", "dp", "bubble", "optimizer", "offload")


def devices(job: Job, cluster: Cluster, c: Calibration) -> tuple[GemmDevice, GemmDevice, float]:
    """The GEMM device at the job's precision, the bf16 one (LM head, router) and the HBM rate."""
    gpu = cluster.gpu
    clock = compute_clock_factor(gpu)
    hbm = gpu.hbm_tbps * 1e12 * const("hbm", "eff")
    n_sm = sms(gpu)
    low = GemmDevice(gpu.peak(job.precision) * 1e12 * clock * c.gemm_fraction(gpu, job.precision), n_sm, hbm,
                     INPUT_BYTES.get(job.precision, 2.0))
    bf16 = GemmDevice(gpu.peak("bf16") * 1e12 * clock * c.gemm_fraction(gpu, "bf16"), n_sm, hbm, 2.0)
    return low, bf16, hbm


def _sum3(*triples):
    return tuple(sum(t[i] for t in triples) for i in range(3))


def evaluate_batch(
    job: Job,
    cluster: Cluster,
    P: dict[str, np.ndarray],
    calib: Calibration | None = None,
    flash: bool = True,
    fabric=None,
    choose: tuple[str, ...] = (),
    dispatchers: tuple[str, ...] = ("alltoall", "flex"),
    cp_types: tuple[str, ...] = ("p2p", "a2a", "allgather"),
    terms: bool = True,
) -> dict[str, np.ndarray]:
    """Step time, terms, throughput and memory for the plans in `P` (column arrays, perf/columns.py);
    with ``terms=False`` only what a search ranks by: ``step_s``, ``mem_total``, ``mem_capacity`` and
    the chosen columns (the planner evaluates the plans it keeps again, in full).

    `flash=False` runs unfused attention (pre-2022 Megatron). ``job.moe_routing`` decides the MoE
    expert load (:func:`moe_imbalance`) and whether MoE layers sync on their token counts (dropless).
    Columns named in `choose` (``cp_comm_type``, ``moe_dispatcher``: each changes only its own term)
    are not read but chosen per plan, the fastest valid option among `cp_types` / `dispatchers`;
    the choice comes back in the output under the column's name."""
    c = calib or calibration()
    a = arch(job.model)
    gpu = cluster.gpu
    fab = fabric or nc.comm_fabric(cluster)
    imbalance = moe_imbalance(job.moe_routing)
    dropless = job.moe_routing != "capacity"
    f = {k: np.asarray(P[k], dtype=float) for k in PLAN_COLUMNS}
    rcf = np.asarray(P.get("rcf", 1.0), dtype=float)  # share of a stage's layers under full recompute
    tp, pp, v, cp, ep, dp, mbs, etp = (f[k] for k in ("tp", "pp", "vpp", "cp", "ep", "dp", "mbs", "etp"))
    rc, zero, sched = f["recompute"], f["zero"], f["schedule"]
    sp, tpo = f["sequence_parallel"] > 0, f["tp_comm_overlap"] > 0
    epo = (f["ep_comm_overlap"] > 0) | (sched == DUALPIPE) | (sched == DUALPIPE_V)
    fused = (f["compile"] > 0) | (job.framework in ("megatron", "nemo"))
    low = job.precision in LOW_PRECISION
    s, B, H = float(job.seq_len), float(job.global_batch), float(a.hidden)
    m = B / (dp * mbs)  # micro-batches per pipeline per step
    T = mbs * s / cp  # tokens per GPU per micro-batch (before the TP split)
    T_h = np.where(sp, T / tp, T)  # tokens of the hidden-width ops
    dev, dev16, hbm = devices(job, cluster, c)
    clock = compute_clock_factor(gpu)
    redo = recompute_shares(job.framework, rc, rcf, a)  # what the backward reruns of each forward term
    rc_full = redo.full

    # ---- GEMMs of one layer, one micro-batch: (forward, dgrad, wgrad)
    kv_rep = np.maximum(1.0, tp / max(a.kv_heads, 1))  # KV heads replicate when tp > groups
    kv_local = a.kv_dim * kv_rep / tp
    qkv_out = (a.p_attn / H - a.heads * a.d_v) / tp
    separate = capabilities(job.framework).separate_projections and not a.mla  # torchtitan's wq, wk, wv, w1, w3
    if separate:
        g_qkv = _sum3(linear_times(dev, T, H, a.q_dim / tp), linear_times(dev, T, H, kv_local),
                      linear_times(dev, T, H, a.kv_heads * a.d_v * kv_rep / tp))
    else:
        g_qkv = linear_times(dev, T, H, qkv_out)
    g_proj = linear_times(dev, T, a.heads * a.d_v / tp, H)
    g_attn = _sum3(g_qkv, g_proj)
    mult_in = 2.0 if a.gated else 1.0
    if separate and a.gated:  # gate (w1) and up (w3): two GEMMs of ffn / tp columns each
        g_gate = linear_times(dev, T, H, a.ffn_dense / tp)
        g_fc1 = _sum3(g_gate, g_gate)
    else:
        g_fc1 = linear_times(dev, T, H, mult_in * a.ffn_dense / tp)
    g_fc2 = linear_times(dev, T, a.ffn_dense / tp, H)
    g_mlp = _sum3(g_fc1, g_fc2)
    if a.moe_layers:
        local = a.experts / ep
        per_expert = ep * etp * T_h * a.top_k / a.experts * imbalance  # tokens of the busiest local expert
        grouped = GemmDevice(dev.rate * c.grouped_gemm_scale, dev.sms, dev.hbm, dev.in_bytes)
        g_exp = _sum3(linear_times(grouped, per_expert, H, mult_in * a.expert_ffn / etp, local),
                      linear_times(grouped, per_expert, a.expert_ffn / etp, H, local))
        g_sh_in, g_sh_out = ((linear_times(dev, T, H, mult_in * a.shared * a.expert_ffn / tp),
                              linear_times(dev, T, a.shared * a.expert_ffn / tp, H)) if a.shared
                             else ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)))
        g_sh = _sum3(g_sh_in, g_sh_out)
        g_router = linear_times(dev16, T_h, H, float(a.experts))
        g_moe = _sum3(g_exp, g_sh, g_router)
    else:
        local, per_expert, g_moe = 0.0, 0.0, (0.0, 0.0, 0.0)
        g_sh_in = g_sh_out = (0.0, 0.0, 0.0)

    # ---- attention core
    if flash:
        kernel = kernel_for(job.framework)
        band = window_factor(s, a.window, a.window_share)  # sliding-window layers touch fewer key blocks
        flops = core_flops(T, s, a.heads / tp, a.d_qk, a.d_v) * band
        att_f, att_b = flash_times(gpu, kernel, flops, T * s * a.heads / tp * 0.5 * band, s / cp,
                                   gpu.peak("bf16") * 1e12 * clock, exp_rate(gpu) * clock, c.attention_scale(gpu),
                                   head_dim=(a.d_qk + a.d_v) / 2)
    else:
        flops = core_flops(T, s, a.heads / tp, a.d_qk, a.d_v)
        att_f, att_b = unfused_times(dev16.rate, flops, T * s * a.heads / tp, hbm, const("attention", "unfused_score_bytes"))

    # ---- memory-bound ops
    # a second, column-wise quantised copy of each GEMM input for the transposed backward GEMMs: Hopper's
    # fp8 GEMMs take only TN layouts, and MXFP8 / NVFP4 scale 1 x 32 (1 x 16) blocks along one axis
    column_copy = (gpu.family == "hopper") | (job.precision in ("mxfp8", "nvfp4"))
    mb_d = [x / hbm for x in layer_bytes(a, T, tp, sp, fused, job.precision, False, column_copy, separate)]
    mb_m = ([x / hbm for x in layer_bytes(a, T, tp, sp, fused, job.precision, True, column_copy, separate)]
            if a.moe_layers else [0.0, 0.0])

    # GPU time between a layer pass's kernels (forward, backward); a full-recompute layer pays its forward's twice
    gap_d = layer_gap_s(fused, False, 0.0)
    gap_m = layer_gap_s(fused, True, a.experts / ep) if a.moe_layers else (0.0, 0.0)

    def passes(g, mb, gap):
        """(forward, input-backward, weight-backward) GPU seconds of a layer, recompute and kernel gaps included."""
        fwd = g[0] + att_f + mb[0] + gap[0]
        re = redo.gemm * g[0] + redo.attention * att_f + redo.memory_bound * mb[0] + rc_full * gap[0]
        return fwd, g[1] + att_b + mb[1] + gap[1] + re, g[2]

    def split(g, mb):
        """(gemm, attention, memory-bound) seconds of a layer's forward + backward + recompute."""
        return (g[0] * (1 + redo.gemm) + g[1] + g[2], att_f * (1 + redo.attention) + att_b,
                mb[0] * (1 + redo.memory_bound) + mb[1])

    dF, dB, dW = passes(_sum3(g_attn, g_mlp), mb_d, gap_d)
    mF, mB, mW = passes(_sum3(g_attn, g_moe), mb_m, gap_m) if a.moe_layers else (0.0, 0.0, 0.0)
    gaps_d = gap_d[0] * (1 + rc_full) + gap_d[1]
    gaps_m = gap_m[0] * (1 + rc_full) + gap_m[1] if a.moe_layers else 0.0
    d_parts = split(_sum3(g_attn, g_mlp), mb_d)
    m_parts = split(_sum3(g_attn, g_moe), mb_m) if a.moe_layers else (0.0, 0.0, 0.0)

    # ---- communication in a layer's stream
    # each of a layer's 8 TP collectives hides (with overlap) behind its own GEMM: forward QKV, proj,
    # FC1, FC2 and their dgrads backward (an MoE layer's MLP-side pair behind its shared experts'
    # GEMMs, none if it has none); recomputed forwards rerun theirs as the forward's average
    t_tp1 = tp_collective(fab, T, H, tp)
    on_tp = tp > 1

    def tp_pass(g_mlp_in, g_mlp_out):
        fwd = tp_exposed(t_tp1, (g_qkv[0], g_proj[0], g_mlp_in[0], g_mlp_out[0]), tp, c.overlap_tp, tpo)
        bwd = tp_exposed(t_tp1, (g_qkv[1], g_proj[1], g_mlp_in[1], g_mlp_out[1]), tp, c.overlap_tp, tpo)
        return np.where(on_tp, fwd + bwd + redo.tp_collectives * fwd / 4.0, 0.0)

    tp_layer = tp_pass(g_fc1, g_fc2)
    tp_moe = tp_pass(g_sh_in, g_sh_out) if a.moe_layers else 0.0
    cpv = cp_variants(fab, T, kv_local, a.q_dim / tp, tp, cp, att_f, att_b, cluster.domain_size)
    cp_cost = {k: fv * (1 + rc_full) + bv for k, (fv, bv) in cpv.items()}
    if "cp_comm_type" in choose:  # Ulysses (a2a) needs the local heads divisible by cp
        ok_a2a = np.floor(a.heads / tp) % cp == 0
        cp_cost[A2A] = np.where(ok_a2a, cp_cost[A2A], np.inf)
        keys = sorted(code("cp_comm_type", t) for t in cp_types)
        # the cheapest variant per plan (the first of equals, as argmin), and its cost, in one pass
        cp_layer, pick = np.broadcast_arrays(cp_cost[keys[0]], tp)[0], np.full(np.shape(tp), keys[0], dtype=float)
        for k in keys[1:]:
            better = cp_cost[k] < cp_layer
            cp_layer, pick = np.where(better, cp_cost[k], cp_layer), np.where(better, float(k), pick)
        f["cp_comm_type"] = pick
    else:
        cp_type = f["cp_comm_type"]
        cp_layer = np.select([cp_type == k for k in cp_cost], list(cp_cost.values()))
    if a.moe_layers:
        dv = dispatch_variants(fab, cluster, T_h, H, a.top_k, ep, etp, low)
        if "moe_dispatcher" in choose:
            keys = [code("moe_dispatcher", d) for d in dispatchers]
            pick = np.argmin(np.stack([dv[k] * np.ones_like(tp) for k in keys]), axis=0)
            f["moe_dispatcher"] = np.asarray(keys, dtype=float)[pick]
        disp = np.select([f["moe_dispatcher"] == k for k in dv], list(dv.values()))
        disp = disp + etp_collectives(fab, per_expert * local / np.maximum(etp, 1), H, etp)
        ep_all = disp * (2 + rc_full)  # forward, backward, recomputed forward
        moe_compute = mF + mB + mW
        # hidden behind the other micro-batch's layer, the all-to-all's kernels hold comm_sms SMs (catalog
        # ep-overlap), so the compute under it runs on the rest: it stretches by sms / (sms - comm_sms)
        busy = const("ep-overlap", "comm_sms") / dev.sms
        stretch = np.minimum(ep_all, moe_compute) * busy / (1.0 - busy)
        ep_layer = np.where(epo, np.maximum(0.0, ep_all - moe_compute) + stretch, ep_all)
    else:
        disp, ep_layer = 0.0, 0.0

    # ---- launch floor. A dropless MoE layer's forward syncs on its token counts (the host needs them
    # to size the all-to-all): the GPU drains, and everything launched after the copy -- permutes,
    # all-to-alls, every local expert's kernels, unpermute -- runs only as fast as the host launches it,
    # in series with the GPU work (the backward reuses the forward's splits: no sync).
    host = c.host_kernel_s
    graphs = f["cuda_graphs"] > 0
    scope = f["cuda_graph_scope"]
    hd_q, _, hd_b = layer_host_s(fused, False, 0.0, graphs, host, scope=scope)
    if a.moe_layers:
        hm_q, hm_after, hm_b = layer_host_s(fused, True, local, graphs, host, padded=not dropless, scope=scope)
        launch_moe = np.where(dropless, (1 + rc_full) * hm_after, 0.0)
    else:
        launch_moe = 0.0

    # ---- the slowest pipeline stage, one micro-batch
    chunks = chunks_per_stage(sched, v)
    Ls = stage_layers(a.layers, pp, chunks)
    L_last = last_stage_layers(a.layers, pp, chunks)
    head_fwd, head_dgrad, head_wgrad = linear_times(dev16, T, H, a.vocab / tp)
    ce_f, ce_b = (x / hbm for x in cross_entropy_bytes(a, T, tp, fused))
    head_F, head_B, head_W = head_fwd + ce_f, head_dgrad + ce_b, head_wgrad

    def stage(n_layers, with_head):
        n_moe = np.minimum(n_layers, a.moe_layers)
        n_dense = n_layers - n_moe
        h = np.asarray(with_head, dtype=float)
        F = n_dense * dF + n_moe * mF + h * head_F
        Bi = n_dense * dB + n_moe * mB + h * head_B
        W = n_dense * dW + n_moe * mW + h * head_W
        comm = n_dense * tp_layer + n_moe * tp_moe + n_layers * cp_layer + n_moe * (ep_layer + launch_moe)
        return F, Bi, W, comm, n_dense, n_moe

    mid = stage(Ls, pp <= 1)
    last = stage(L_last, True)
    use_last = (pp > 1) & (last[0] + last[1] + last[2] + last[3] > mid[0] + mid[1] + mid[2] + mid[3])
    pick = [np.where(use_last, lx, mx) for lx, mx in zip(last, mid, strict=True)]
    F, Bi, W, comm, n_dense, n_moe = pick
    t_mb = F + Bi + W + comm
    bubble = bubble_time(sched, pp, v, F + comm / 2, Bi + comm / 2, W)

    # named terms of one micro-batch on that stage
    h_on = np.where(use_last | (pp <= 1), 1.0, 0.0)
    gemm_mb = n_dense * d_parts[0] + n_moe * m_parts[0] + h_on * (head_fwd + head_dgrad + head_wgrad)
    attn_mb = n_dense * d_parts[1] + n_moe * m_parts[1]
    mbw_mb = n_dense * d_parts[2] + n_moe * m_parts[2] + h_on * (ce_f + ce_b)
    n_all = n_dense + n_moe
    gaps_mb = n_dense * gaps_d + n_moe * gaps_m  # kernel gaps of one micro-batch: reported under launch

    # ---- launch floor of the layers that queue ahead (dense, and MoE without the sync) over the step
    if a.moe_layers:  # MoE layers queue too, but for their serial post-sync launches when dropless
        moe_q = (hm_q + np.where(dropless, 0.0, hm_after)) * (1 + rc_full) + hm_b
        host_moe_q = m * n_moe * moe_q
        gpu_moe_q = m * n_moe * (mF + mB + mW)
    else:
        host_moe_q = gpu_moe_q = 0.0
    host_dense = m * n_dense * (hd_q * (1 + rc_full) + hd_b) + host_moe_q
    gpu_dense = m * n_dense * (dF + dB + dW) + gpu_moe_q
    launch_dense = np.maximum(0.0, host_dense - gpu_dense)

    # ---- pipeline sends
    t_p2p = pp_send(fab, T, H, tp, sp, tp * cp * dp)
    sends = np.where(sched == ONE_F_ONE_B, m + pp - 1, pp - 1)
    pp_exp = np.where(pp > 1, 2 * t_p2p * sends, 0.0)

    # ---- data parallel: gradients and parameters of the stage
    mem = memory_bytes(a, job, cluster, f, m, T, Ls, np.minimum(Ls, a.moe_layers), Ls - np.minimum(Ls, a.moe_layers), flash)
    Pd, Pe = mem["params_dense"], mem["params_expert"]
    ar, rs, ag = dp_times(fab, Pd, Pe, const("grad-reduce", "bytes"), dp, cp, tp, ep, etp)
    od = c.overlap_dp
    win_f, win_b = F, Bi + W
    dp_z0 = np.maximum(0, ar - od * win_b)
    dp_z12 = np.maximum(0, rs - od * win_b) + np.maximum(0, ag - od * win_f)
    per_mb3 = np.maximum(0, 2 * ag + rs - od * (win_f + win_b))
    dp_z3 = np.where(pp > 1, np.maximum(0, ag + rs - od * win_b), m * per_mb3)  # FSDP without PP re-gathers per micro-batch
    dp_exp = np.where(zero == 0, dp_z0, np.where(zero == 3, dp_z3, dp_z12))

    # ---- activation offload: each offloaded layer's activations go to host memory during its forward and
    # come back for its backward over the host link, behind the compute of the layer next to it
    offload = 0.0
    if np.any(f["offload_layers"]):
        off = np.minimum(f["offload_layers"], Ls)
        link = (cluster.gpu.host_link_gbs or 0.0) * 1e9 * const("host-link", "eff")
        t_copy = mem["layer_activations"] / link if link > 0 else np.where(off > 0, np.inf, 0.0)
        layer_f, layer_b = F / np.maximum(Ls, 1), (Bi + W) / np.maximum(Ls, 1)
        offload = np.where(off > 0, m * off * (np.maximum(0.0, t_copy - layer_f) + np.maximum(0.0, t_copy - layer_b)), 0.0)

    # ---- optimizer (memory-bound Adam on the local shard, clipping, zeroing the gradient buffer)
    shard = np.where(zero >= 1, Pd / (dp * cp) + Pe / (dp * cp * tp / (ep * etp)), Pd + Pe)
    t_opt = optimizer_bytes(shard, Pd + Pe) / hbm

    step = m * t_mb + launch_dense + bubble + pp_exp + dp_exp + t_opt + offload
    if not terms:
        ranked = {"step_s": step, "mem_total": mem["total"] / 1e9, "mem_capacity": mem["capacity"] / 1e9}
        return {**ranked, **{k: f[k].astype(np.int64) for k in choose}}
    N = tp * pp * cp * dp
    tok = B * s / step
    out: dict[str, np.ndarray] = {
        "step_s": step,
        "gemm": m * gemm_mb,
        "attention": m * attn_mb,
        "memory_bound": m * mbw_mb,
        "launch": m * (n_moe * launch_moe + gaps_mb) + launch_dense,
        "tp": m * (n_dense * tp_layer + n_moe * tp_moe),
        "cp": m * n_all * cp_layer,
        "ep": m * n_moe * ep_layer,
        "pp": pp_exp,
        "dp": dp_exp,
        "bubble": bubble,
        "optimizer": t_opt,
        "offload": offload * np.ones_like(step),
        "tokens_per_s": tok,
        "tokens_per_s_per_gpu": tok / N,
        "microbatches": m,
        "gpus": N,
    }
    for k in choose:
        out[k] = f[k].astype(np.int64)
    out["compute"] = out["gemm"] + out["attention"] + out["memory_bound"]
    out["host"] = out["launch"]
    mf = model_flops_per_token(job.model, job.seq_len, causal=True)
    out["model_tflops_per_gpu"] = mf * tok / N / 1e12
    out["mfu"] = out["model_tflops_per_gpu"] * 1e12 / (gpu.peak(job.precision) * 1e12)
    extra = redo.full * _recompute_flops(a, s, "full") + np.where(
        rc == SELECTIVE, _recompute_flops(a, s, "selective", job.framework), 0.0)
    out["hfu"] = out["mfu"] * (mf + extra) / mf
    for key in ("weights", "grads", "optimizer", "activations", "total", "capacity"):
        out[f"mem_{key}"] = mem[key] / 1e9
    return out


def moe_imbalance(routing: str) -> float:
    """The busiest expert's load over the mean: 1 when force-balanced; 1 under capacity routing, whose
    experts are padded to a capacity of exactly the mean (capacity factor 1.0 with
    ``--moe-pad-expert-input-to-capacity``, Megatron-Bridge's token-drop recipe: each source rank sends
    every expert ``ceil(tokens x top_k / experts)`` rows, dropping or padding to that); the router's
    measured excess when dropless (catalog ``moe-dispatch``)."""
    return 1.0 if routing in ("force-balanced", "capacity") else const("moe-dispatch", "imbalance_real_routing")


def step_lower_bound(job: Job, cluster: Cluster, P: dict[str, np.ndarray], calib: Calibration | None = None,
                     flash: bool = True) -> np.ndarray:
    """A floor under :func:`evaluate_batch`'s step time, per plan. Its parts only ever undercount:

    * the step's matmul FLOPs (6 x active matmul parameters per token, LM head included) spread evenly
      over the plan's GPUs at the large-GEMM rate (wave quantisation and the K loop only slow a GEMM),
      the routed experts' at the grouped-GEMM rate times the busiest expert's load over the mean;
    * plus the attention core's FLOPs at the kernel's long-chunk rate (short chunks only slow it);
    * times ``1 + (p - 1) / (v m)`` for 1F1B and interleaved plans: their bubble is at least that share
      of the slowest stage's micro-batch work, which is at least the mean stage's (zero-bubble and
      DualPipe schedules get no such factor).
    Communication, memory-bound work, launches and recompute only add to it."""
    c = calib or calibration()
    gpu = cluster.gpu
    dev, dev16, _ = devices(job, cluster, c)
    a = arch(job.model)
    tokens = float(job.global_batch) * job.seq_len
    # routed experts run as grouped GEMMs, each rank as slow as its busiest expert: their FLOPs at the
    # grouped rate times the load imbalance; every other weight at the large-GEMM rate
    routed = a.moe_layers * a.top_k * a.p_expert
    gemm = 6.0 * tokens * ((matmul_params_per_token(job.model) - routed) / max(dev.rate, dev16.rate)
                           + routed * moe_imbalance(job.moe_routing) / (dev.rate * c.grouped_gemm_scale))
    clock = compute_clock_factor(gpu)
    if not flash:  # unfused: two batched GEMMs over the full score matrix forward, twice that backward
        attn = 6.0 * float(core_flops(1.0, job.seq_len, a.heads, a.d_qk, a.d_v)) * a.layers * tokens / dev16.rate
    else:
        kern = kernel_for(job.framework)
        fwd_eff, bwd_eff = (e * head_dim_factor(kern, (a.d_qk + a.d_v) / 2) for e in kernel_efficiency(kern, gpu.family))
        band = float(window_factor(job.seq_len, a.window, a.window_share))
        flops = float(core_flops(1.0, job.seq_len, a.heads, a.d_qk, a.d_v)) * band * a.layers * tokens
        peak = gpu.peak("bf16") * 1e12 * clock * c.attention_scale(gpu)
        attn = flops / (peak * fwd_eff) + attention_bwd_factor() * flops / (peak * bwd_eff)
    col = {k: np.asarray(P[k], dtype=float) for k in ("tp", "pp", "cp", "dp")}
    n = col["tp"] * col["pp"] * col["cp"] * col["dp"]
    base = (gemm + attn) / n
    pp = col["pp"]
    v = np.asarray(P.get("vpp", 1.0), dtype=float)
    mbs = np.asarray(P.get("mbs", 1.0), dtype=float)
    m = job.global_batch / (col["dp"] * mbs)
    sched = np.asarray(P.get("schedule", ONE_F_ONE_B), dtype=float)
    bubbled = (sched == ONE_F_ONE_B) | (sched == INTERLEAVED)
    return base * np.where(bubbled, 1.0 + (pp - 1) / (np.maximum(v, 1.0) * m), 1.0)


def _recompute_flops(a: Arch, s: float, kind: str, framework: str = "megatron") -> float:
    """FLOPs per token the backward reruns: the whole forward (full), or what the stack's selective
    recompute redoes (:func:`.recompute.selective_policy`)."""
    attn = 2.0 * s * a.heads * (a.d_qk + a.d_v) * 0.5 * a.layers
    lin = 2.0 * (a.layers * a.p_attn + a.dense_layers * a.p_mlp_dense + a.moe_layers * a.p_moe_mlp_active)
    if kind == "selective":
        g, at, _, _ = selective_policy(framework, a)
        return g * lin + at * attn
    return lin + attn


__all__ = ["BREAKDOWN", "RECOMPUTE", "TERMS", "evaluate_batch", "step_lower_bound"]
