"""Memory per GPU: weights, gradients, Adam state (DDP / ZeRO-1 / ZeRO-2 / FSDP) and activations.

Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
Transformer Models", Sec. 4), generalised to GQA, gated MLPs and MoE. Per layer and token, bytes:

* kept whole without sequence parallelism, split by ``t`` with it: LayerNorm inputs (4h), the
  normalised inputs of the QKV and FC1 GEMMs (4h), GPT-style dropout masks (2h)  -> 10h;
* split by ``t``: Q (2 q), K and V (4 kv), attention output (2 q_v), FC1 output (2 ffn_in),
  activation output (2 ffn)  -> 24h for GPT;
* unfused attention only: scores ``5 a s`` (softmax 2, dropout mask 1, dropout output 2 bytes).

So GPT-3 keeps ``s b h (34/t + 5 a s / (h t))`` per layer with SP and no recompute; selective
recompute drops the score term, full recompute keeps only the layer input ``2 s b h / t``.

The first pipeline stage holds the micro-batches in flight of its schedule
(:func:`gigafactory.perf.schedules.in_flight`: ``min(p, m)`` for 1F1B, ``(1 + (p-1)/(p v))`` times more
interleaved, Narayanan et al. 2021 Sec. 2.2.2; ``p + 1`` for DualPipe); DualPipe keeps two copies of a
stage's parameters. Expert weights are split over ``ep x etp`` GPUs.

Under a low-precision recipe, Transformer Engine keeps a GEMM's input for the weight gradient in its
quantized form with the column-wise usage only (``Linear`` and ``GroupedLinear`` forward:
``update_usage(rowwise_usage=False)`` before ``save_for_backward``; :func:`saved_input_bytes`): 1 byte
an element for fp8, 1 + 1/32 for MXFP8, 0.5625 for NVFP4. So the normalised inputs of QKV and FC1,
the MoE experts' permuted inputs and every activation output (FC2's input) shrink. ``LayerNormLinear``
keeps the row-wise copy too where sequence parallelism all-gathers a per-tensor fp8 or NVFP4 input
(only MXFP8's column-wise data can be all-gathered), and the attention output, kept in bf16 for the
attention backward, gains the projection's quantized copy (Megatron-LM's DeepSeek-V3 GB200 guide,
sec. 2.2.2: "1.5 times the size"). torchao's float8 (torchtitan) keeps its inputs in bf16.
"""

from __future__ import annotations

import numpy as np

from ..specs import Cluster, Job
from .efficiency import INPUT_BYTES, const
from .memory_bound import LOW_PRECISION
from .params import Arch
from .schedules import in_flight, parameter_copies


def saved_input_bytes(precision: str, framework: str) -> float:
    """Bytes per element of a GEMM input kept for the weight gradient: Transformer Engine (Megatron,
    NeMo) keeps a low-precision recipe's quantized column-wise copy only; bf16, and torchao's float8
    (torchtitan), keep bf16."""
    if framework in ("megatron", "nemo") and precision in LOW_PRECISION:
        return INPUT_BYTES[precision]
    return 2.0


def activation_bytes_per_token(a: Arch, tp, sp, rc, flash: bool, s: float, moe: bool = False, rcf=1.0,
                               precision: str = "bf16", framework: str = "megatron"):
    """Bytes kept for backward per token per layer (before multiplying by tokens in flight); under full
    recompute a fraction ``rcf`` of the layers is recomputed (Megatron ``--recompute-num-layers``), the
    rest keep everything. `precision` and `framework` set how the GEMM inputs are kept
    (:func:`saved_input_bytes`)."""
    tp = np.asarray(tp, dtype=float)
    H = a.hidden
    g = saved_input_bytes(precision, framework)
    sp_on = np.asarray(sp) > 0
    # the norm outputs feeding QKV and FC1: all-gathered under SP, a per-tensor fp8 or NVFP4 copy keeps its
    # row-wise data too (only MXFP8's column-wise data can be all-gathered)
    ln = np.where(sp_on & (tp > 1) & (precision in ("fp8", "nvfp4")) & (g < 2.0), 2.0 * g, g)
    normed = 2 * ln * H
    whole = 4 * H + normed + (2 * H if a.gpt_style else 0)
    ffn_in = (2 if a.gated else 1)
    if moe:
        mlp = a.top_k * (g * H + 2 * ffn_in * a.expert_ffn + g * a.expert_ffn) + a.shared * (2 * ffn_in + g) * a.expert_ffn
    else:
        mlp = 2 * ffn_in * a.ffn_dense + g * a.ffn_dense
    attn_out = (2 + (g if g < 2.0 else 0.0)) * a.heads * a.d_v  # bf16 for the attention backward (+ proj's copy)
    split = 2 * a.q_dim + 4 * a.kv_dim + attn_out + mlp
    scores = 0.0 if flash else const("memory", "attn_score_bytes") * a.heads * s
    sp_div = np.where(sp_on, tp, 1.0)
    rc = np.asarray(rc)
    none = whole / sp_div + split / tp + scores / tp
    if flash:  # Megatron-core recompute_modules: core_attn, layernorm, moe_act (cheap to redo)
        act_out = (a.top_k + a.shared) * g * a.expert_ffn if moe else 0.0
        up = (2 * a.q_dim + 4 * a.kv_dim - 2 * a.latent_dim) if a.mla else 0.0  # mla_up_proj
        selective = (whole - normed) / sp_div + (split - act_out - up) / tp
    else:  # Korthikanti et al. 2022: attention core only
        selective = whole / sp_div + split / tp
    full = rcf * 2 * H / sp_div + (1 - np.asarray(rcf)) * none
    return np.where(rc == 2, full, np.where(rc == 1, selective, none))


def memory_bytes(a: Arch, job: Job, cluster: Cluster, f, m, T, Ls, n_moe, n_dense, flash: bool):
    """Per-GPU memory of the most loaded stage (bytes), and its parameter counts."""
    tp, pp, v, cp, ep, dp, etp = (f[k] for k in ("tp", "pp", "vpp", "cp", "ep", "dp", "etp"))
    zero, rc, sp = f["zero"], f["recompute"], f["sequence_parallel"]
    H, V = a.hidden, a.vocab
    emb = np.where(pp > 1, max(a.p_embed, V * H), a.p_embed + a.p_head) / tp
    Pd = (Ls * (a.p_attn + a.p_small_layer) / tp + n_dense * a.p_mlp_dense / tp
          + n_moe * (a.shared * a.p_expert / tp + a.p_router) + emb)
    Pe = n_moe * (a.experts / np.maximum(ep, 1)) * a.p_expert / etp if a.moe_layers else np.zeros_like(Pd)
    copies = parameter_copies(f["schedule"])
    Pd, Pe = Pd * copies, Pe * copies
    sd, se = dp * cp, dp * cp * tp / (ep * etp)
    wb, gb, ob = (const("memory", k) for k in ("weight_bytes", "grad_bytes", "optimizer_bytes"))
    weights = wb * (np.where(zero >= 3, Pd / sd, Pd) + np.where(zero >= 3, Pe / se, Pe))
    grads = gb * (np.where(zero >= 2, Pd / sd, Pd) + np.where(zero >= 2, Pe / se, Pe))
    opt = ob * (np.where(zero >= 1, Pd / sd, Pd) + np.where(zero >= 1, Pe / se, Pe))

    s = float(job.seq_len)
    rcf = f.get("rcf", 1.0)
    kept = {"precision": job.precision, "framework": job.framework}
    per_d = activation_bytes_per_token(a, tp, sp, rc, flash, s, False, rcf, **kept)
    per_m = activation_bytes_per_token(a, tp, sp, rc, flash, s, True, rcf, **kept) if a.moe_layers else 0.0
    layer_tokens = T * (n_dense * per_d + n_moe * per_m) / np.maximum(Ls, 1)  # mean layer of the stage
    # full recompute re-materialises one layer's activations during its backward
    work = np.where(rc == 2, T * np.maximum(activation_bytes_per_token(a, tp, sp, 1, flash, s, a.moe_layers > 0, **kept), 0), 0.0)
    inflight = in_flight(f["schedule"], pp, v, m)
    logits = const("memory", "logits_bytes") * T * V / tp
    # activation offload (no PP, no recompute): the offloaded layers' activations live in host memory
    # but for the two layers' worth being copied out and back (double buffering)
    off = np.minimum(np.asarray(f["offload_layers"], dtype=float), Ls)
    act_first = (Ls - off) * layer_tokens * inflight + np.minimum(off, 2.0) * layer_tokens + work
    act_last = Ls * layer_tokens + work + logits
    act = np.where(pp > 1, np.maximum(act_first, act_last), act_first + logits)
    reserved = const("memory", "reserved_gb") * 1e9
    total = weights + grads + opt + act + reserved
    return {
        "params_dense": Pd,
        "params_expert": Pe,
        "layer_activations": layer_tokens,
        "weights": weights,
        "grads": grads,
        "optimizer": opt,
        "activations": act,
        "total": total,
        "capacity": np.full_like(total, cluster.gpu.hbm_gb * 1e9),
    }
