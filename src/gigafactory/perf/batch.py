"""The step-time model of many plans at once: every quantity is a numpy array (one entry per plan).

This is the single implementation of the cost model; :func:`gigafactory.perf.step.evaluate`
calls it with one plan and the planner with hundreds of thousands. Formulas and sources are in
docs/perf.md; the pieces: GEMM/attention/elementwise time per layer (perf.efficiency), TP/CP/EP/PP/DP
collectives (perf.comm), pipeline bubble (perf.pipeline), memory (perf.memory).
"""

from __future__ import annotations

import numpy as np

from ..specs import Cluster, Job
from .columns import PLAN_COLUMNS
from .comm import Hierarchy, all_gather_time, all_reduce_time, hierarchy, moe_a2a_time, p2p_time
from .comm import reduce_scatter_time as rs_time
from .efficiency import Calibration, calibration, compute_clock_factor, const, exp_rate
from .memory import memory_bytes
from .params import Arch, arch, matmul_params_per_token, model_flops_per_token
from .pipeline import bubble_time, stage_layers

RECOMPUTE = ("none", "selective", "full")
LOW_PRECISION = ("fp8", "fp8-rowwise", "mxfp8", "nvfp4")
BREAKDOWN = ("compute", "host", "tp", "cp", "ep", "pp", "dp", "bubble", "optimizer")


def evaluate_batch(
    job: Job,
    cluster: Cluster,
    P: dict[str, np.ndarray],
    calib: Calibration | None = None,
    flash: bool = True,
    hier: Hierarchy | None = None,
    attn_kernel: str = "best",
) -> dict[str, np.ndarray]:
    """Step time, breakdown, throughput and memory for the plans in `P` (arrays keyed by FIELDS)."""
    c = calib or calibration()
    a = arch(job.model)
    gpu = cluster.gpu
    h = hier or hierarchy(cluster)
    f = {k: np.asarray(P[k], dtype=float) for k in PLAN_COLUMNS}
    # optional: fraction of a stage's layers recomputed under full recompute (Megatron block method,
    # --recompute-num-layers); 1 = every layer, as the planner's plans and torchtitan's full AC
    rcf = f["rcf"] = np.asarray(P.get("rcf", 1.0), dtype=float)
    # optional: the MoE all-to-all of one micro-batch runs under another's compute (batch-level overlap)
    epo = f["ep_comm_overlap"] > 0
    tp, pp, v, cp, ep, dp, mbs, rc = (f[k] for k in ("tp", "pp", "vpp", "cp", "ep", "dp", "mbs", "recompute"))
    zero, sp, tpo = f["zero"], f["sequence_parallel"] > 0, f["tp_comm_overlap"] > 0
    s, B, H = float(job.seq_len), float(job.global_batch), float(a.hidden)
    m = B / (dp * mbs)  # micro-batches per pipeline per step
    T = mbs * s / cp  # tokens per GPU group per micro-batch

    clock = compute_clock_factor(gpu)
    peak = gpu.peak(job.precision) * 1e12 * clock
    peak16 = gpu.peak("bf16") * 1e12 * clock
    hbm = gpu.hbm_tbps * 1e12 * const("hbm", "eff")
    low = job.precision in LOW_PRECISION
    bpe = 1.0 if low else 2.0
    eg, d0 = c.gemm(gpu, job.precision), c.gemm_dim_half

    def gemm(flops, d, wbytes):
        return np.maximum(flops / (peak * eg * d / (d + d0)), wbytes / hbm)

    # ---- one layer, one micro-batch, forward (per GPU)
    t_attn_lin = gemm(2 * T * a.p_attn / tp, np.minimum(np.minimum(H, a.q_dim / tp), T), a.p_attn / tp * bpe)
    attn_flops = 2 * T * s * a.heads * (a.d_qk + a.d_v) * 0.5 / tp  # causal, as FlashAttention runs it
    if flash:  # tensor-core work at the kernel's efficiency + one softmax exponential per causal score on
        # the SFUs (not hidden behind the MMAs: FA-3/FA-4 overlap only part of it; Blackwell Ultra doubles it)
        t_core = attn_flops / (peak16 * c.attn(gpu, attn_kernel))
        t_sfu = T * s * a.heads * 0.5 / tp / (exp_rate(gpu) * clock)
    else:  # unfused (pre-2022 Megatron): batched GEMMs over the whole score matrix + softmax traffic
        scores = T * s * a.heads / tp
        t_sfu = 0.0
        t_core = gemm(2 * attn_flops, float(a.d_qk), 0.0) + scores * const("attention", "unfused_score_bytes") / hbm
    t_mlp = gemm(2 * T * a.p_mlp_dense / tp, np.minimum(np.minimum(H, a.ffn_dense / tp), T), a.p_mlp_dense / tp * bpe)
    tok_sp = np.where(sp, T / tp, T)
    ffn_pass = const("elementwise", "ffn_passes_gated" if a.gated else "ffn_passes_plain")
    e_common = 2 * (
        tok_sp * (const("elementwise", "hidden_passes") + (const("elementwise", "dropout_hidden_passes") if a.gpt_style else 0)) * H
        + T / tp * const("elementwise", "qkv_passes") * (a.q_dim + a.kv_dim)
    )
    cast = const("elementwise", "cast_bytes_rowwise" if job.precision == "fp8-rowwise" else "cast_bytes") if low else 0.0
    e_dense = e_common + 2 * T * ffn_pass * a.ffn_dense / tp + cast * T * (2 * H + (a.q_dim + a.ffn_dense) / tp)
    if a.moe_layers:
        E, k = a.experts, a.top_k
        m_e = ep * T * k / (tp * E)  # tokens per local expert (balanced routing)
        t_exp = gemm(2 * T * k * a.p_expert / tp, np.minimum(np.minimum(H, a.expert_ffn), m_e), E / ep * a.p_expert * bpe)
        t_sh = gemm(2 * T * a.shared * a.p_expert / tp, np.minimum(H, a.expert_ffn / tp), a.shared * a.p_expert / tp * bpe) if a.shared else 0.0
        t_moe_mlp = t_exp + t_sh + 2 * T * H * E / tp / (peak16 * eg)
        tk = T * k / tp
        e_moe = (e_common + 2 * tk * (const("elementwise", "moe_hidden_passes") * H + ffn_pass * a.expert_ffn)
                 + cast * (T * (2 * H + a.q_dim / tp) + tk * (H + a.expert_ffn)))
    else:
        t_moe_mlp, e_moe = 0.0, 0.0
    bwd_e, bwd_a = const("elementwise", "bwd_factor"), const("attention", "bwd_flops_factor")

    def layer(t_mlp_f, e_bytes):
        fwd_gemm = t_attn_lin + t_mlp_f
        fwd = fwd_gemm + t_core + t_sfu + e_bytes / hbm
        bwd = 2 * fwd_gemm + bwd_a * t_core + t_sfu + bwd_e * e_bytes / hbm  # backward recomputes P = exp(S - L)
        re = np.where(rc == 2, rcf * fwd, np.where(rc == 1, t_core + t_sfu, 0.0))
        return fwd, bwd + re

    fd, bd = layer(t_mlp, e_dense)
    fm, bm = layer(t_moe_mlp, e_moe) if a.moe_layers else (0.0, 0.0)

    # ---- communication per layer per micro-batch
    S_tp = T * H * 2.0
    rc_full = np.where(rc == 2, rcf, 0.0)  # forward passes recomputed in the backward
    t_tp1 = rs_time(h, S_tp, tp, 1) * (1 - c.overlap_tp * tpo)  # one exposed TP collective
    t_tp = (8 + 4 * rc_full) * t_tp1
    kv_local = a.kv_dim * np.maximum(1.0, tp / max(a.kv_heads, 1)) / tp
    t_cp_step = p2p_time(h, T * 2 * kv_local * 2.0, tp)
    t_cp = np.where(cp > 1, np.maximum(0, (cp - 1) * t_cp_step - t_core - t_sfu) + np.maximum(0, 2 * (cp - 1) * t_cp_step - bwd_a * t_core - t_sfu), 0.0)
    if a.moe_layers:
        t_a2a = moe_a2a_time(h, T / tp * H * 2.0, ep, a.top_k)  # overlapped only under ep_comm_overlap (below)
        t_ep = (4 + 2 * rc_full) * t_a2a
    else:
        t_a2a = t_ep = 0.0

    # ---- host: the CPU launches each layer's kernels. Dense layers queue ahead of the GPU (their launch
    # time hides behind earlier work); an MoE layer's dispatcher waits on the GPU for the token counts
    # per expert (dropless routing; DeepEP README: "the CPU will wait for GPU's signal"), so the
    # launches after it are exposed whenever they take longer than the layer's GPU work (compute and
    # the collectives in its stream: 4 TP collectives and 2 all-to-alls a pass), per pass (forward,
    # backward, and the recomputed forward that full recompute adds to the backward)
    if a.moe_layers:
        gap = c.host_moe_layer_s + c.host_expert_s * a.experts / ep - 4 * t_tp1 - 2 * t_a2a  # launches beyond a pass's collectives
        hx_moe = np.maximum(0.0, gap - fm) + np.maximum(0.0, (1 + rc_full) * gap - bm)
    else:
        hx_moe = 0.0

    # ---- the slowest pipeline stage, one micro-batch (all its virtual chunks)
    Ls = stage_layers(a.layers, pp, v)
    n_moe = np.minimum(Ls, a.moe_layers)
    n_dense = Ls - n_moe
    head_flops = 2 * T * a.vocab * H / tp
    t_head = 3 * gemm(head_flops, np.minimum(np.minimum(H, a.vocab / tp), T), a.vocab * H / tp * bpe)
    t_head = t_head + T / tp * a.vocab * const("elementwise", "logits_bytes") / hbm
    comp_f = n_dense * fd + n_moe * fm
    comp_b = n_dense * bd + n_moe * bm
    compute_mb = comp_f + comp_b + t_head
    tp_mb = Ls * t_tp
    cp_mb = Ls * t_cp
    # overlapped, an MoE layer's all-to-alls show only where they outlast its compute (forward + backward)
    ep_mb = n_moe * np.where(epo, np.maximum(0.0, t_ep - (fm + bm)), t_ep)
    host_mb = n_moe * hx_moe
    t_mb = compute_mb + host_mb + tp_mb + cp_mb + ep_mb

    # ---- pipeline
    S_pp = np.where(sp, T * H * 2.0 / tp, T * H * 2.0)
    t_p2p = p2p_time(h, S_pp, tp * cp * dp)
    pp_exp = np.where(pp > 1, 2 * t_p2p * np.where(v > 1, pp - 1, m + pp - 1), 0.0)
    bubble = bubble_time(pp, v, t_mb)

    # ---- data parallel: gradients and parameters of the stage
    mem = memory_bytes(a, job, cluster, f, m, T, Ls, n_moe, n_dense, flash)
    Pd, Pe = mem["params_dense"], mem["params_expert"]
    n_d, n_e = dp * cp, dp * cp * tp / ep
    gb = const("grad-reduce", "bytes")
    rs = rs_time(h, Pd * gb, n_d, tp) + rs_time(h, Pe * gb, n_e, ep)
    ag = all_gather_time(h, Pd * 2.0, n_d, tp) + all_gather_time(h, Pe * 2.0, n_e, ep)
    ar = all_reduce_time(h, Pd * gb, n_d, tp) + all_reduce_time(h, Pe * gb, n_e, ep)
    od = c.overlap_dp
    win_f, win_b = comp_f, comp_b + t_head
    dp_z0 = np.maximum(0, ar - od * win_b)
    dp_z12 = np.maximum(0, rs - od * win_b) + np.maximum(0, ag - od * win_f)
    per_mb3 = np.maximum(0, 2 * ag + rs - od * (win_f + win_b))
    dp_z3 = np.where(pp > 1, np.maximum(0, ag + rs - od * win_b), m * per_mb3)
    dp_exp = np.where(zero == 0, dp_z0, np.where(zero == 3, dp_z3, dp_z12))

    # ---- optimizer (memory-bound Adam on the local shard)
    shard_d = np.where(zero >= 1, n_d, 1.0)
    shard_e = np.where(zero >= 1, n_e, 1.0)
    t_opt = (Pd / shard_d + Pe / shard_e) * const("optimizer", "bytes_per_param") / hbm

    step = m * t_mb + bubble + pp_exp + dp_exp + t_opt
    N = tp * pp * cp * dp
    tok = B * s / step
    out: dict[str, np.ndarray] = {
        "step_s": step,
        "compute": m * compute_mb,
        "host": m * host_mb,
        "tp": m * tp_mb,
        "cp": m * cp_mb,
        "ep": m * ep_mb,
        "pp": pp_exp,
        "dp": dp_exp,
        "bubble": bubble,
        "optimizer": t_opt,
        "tokens_per_s": tok,
        "tokens_per_s_per_gpu": tok / N,
        "microbatches": m,
        "gpus": N,
    }
    mf = model_flops_per_token(job.model, job.seq_len, causal=True)
    out["model_tflops_per_gpu"] = mf * tok / N / 1e12
    out["mfu"] = out["model_tflops_per_gpu"] * 1e12 / (gpu.peak(job.precision) * 1e12)
    extra = np.where(rc == 2, rcf * _recompute_flops(a, s, "full"), np.where(rc == 1, _recompute_flops(a, s, "selective"), 0.0))
    out["hfu"] = out["mfu"] * (mf + extra) / mf
    for key in ("weights", "grads", "optimizer", "activations", "total", "capacity"):
        out[f"mem_{key}"] = mem[key] / 1e9
    return out


def step_lower_bound(job: Job, cluster: Cluster, P: dict[str, np.ndarray], calib: Calibration | None = None) -> np.ndarray:
    """A floor under :func:`evaluate_batch`'s step time: the step's matmul FLOPs (6 x active matmul
    parameters per token, LM head included) spread evenly over the GPUs the plan uses, every GEMM at
    the highest efficiency :func:`evaluate_batch` ever grants. Attention, memory traffic,
    communication, bubble and recompute only add to it; the slowest stage carries at least the mean."""
    c = calib or calibration()
    gpu = cluster.gpu
    peak = gpu.peak(job.precision) * 1e12 * compute_clock_factor(gpu)
    flops = 6.0 * matmul_params_per_token(job.model) * job.global_batch * job.seq_len
    n = np.asarray(P["tp"], dtype=float) * np.asarray(P["pp"], dtype=float) * np.asarray(P["cp"], dtype=float) * np.asarray(P["dp"], dtype=float)
    return flops / (n * peak * c.gemm(gpu, job.precision))


def _recompute_flops(a: Arch, s: float, kind: str) -> float:
    attn = 2.0 * s * a.heads * (a.d_qk + a.d_v) * 0.5 * a.layers
    if kind == "selective":
        return attn
    lin = a.layers * a.p_attn + a.dense_layers * a.p_mlp_dense + a.moe_layers * a.p_moe_mlp_active
    return 2.0 * lin + attn
