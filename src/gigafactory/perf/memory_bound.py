"""Memory-bound work, op by op: bytes through HBM per layer and micro-batch, and the optimizer step.

Every op of a pre-norm decoder layer that is not a GEMM or the attention core streams its tensors
through HBM once per kernel (catalog/perf.yaml ``memory-bound-ops``: bytes per element as the
stack runs it, ``fused`` under Transformer Engine or torch.compile, ``eager`` in plain PyTorch).
Per layer and micro-batch of ``T`` tokens on a GPU (``T_h = T / tp`` where sequence parallelism
shards the hidden-width ops, else ``T``):

* two RMSNorms and two residual adds over ``T_h x hidden`` (GPT-style models: two dropouts too);
* RoPE over the local query and key widths ``T x (q + k) / tp`` (not for learned positions);
* SwiGLU (or GeLU) over ``T x ffn / tp``;
* low-precision recipes: each GEMM input is cast (``cast_fp8``: read bf16, write fp8; fp8 on Hopper
  and MXFP8 / NVFP4 on Blackwell also write a column-wise copy for the backward GEMMs), row-wise fp8
  more (``cast_fp8_rowwise``);
* MoE layers: the router over ``T_h x experts``, permute and unpermute of the ``T_h x top_k`` token
  copies, the activation over their ``expert_ffn`` width, and the shared experts' activation;
* separate projections (torchtitan: ``wq, wk, wv`` and ``w1, w3`` are their own linears), backward: the
  sums of the input gradients of the linears that share an input, over ``T x hidden`` (the gathered
  input under sequence parallelism): three for the attention's, two for a gated dense MLP's.

The cross-entropy over the vocabulary runs on the last stage: ``T x vocab / tp`` fp32 entries.
Time is bytes over the achieved HBM bandwidth (``hbm.eff`` of the peak).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .. import catalog
from .params import Arch

LOW_PRECISION = ("fp8", "fp8-rowwise", "mxfp8", "nvfp4")


@cache
def op_bytes(op: str, fused: bool, direction: str) -> float:
    """Bytes per element of one op, forward (``fwd``) or backward (``bwd``)."""
    e = catalog.entry("perf", "memory-bound-ops")[op]
    return float(e[f"{'fused' if fused else 'eager'}_{direction}"])


def _op(op, fused, elements):
    """(forward, backward) bytes of `op` over `elements`; `fused` is a per-plan boolean array."""
    f = np.where(fused, op_bytes(op, True, "fwd"), op_bytes(op, False, "fwd"))
    b = np.where(fused, op_bytes(op, True, "bwd"), op_bytes(op, False, "bwd"))
    return f * elements, b * elements


def _cast(precision: str, fused, elements, transposed_copy: bool):
    if precision not in LOW_PRECISION:
        return 0.0, 0.0
    f, b = _op("cast_fp8_rowwise" if precision == "fp8-rowwise" else "cast_fp8", fused, elements)
    if transposed_copy and precision != "fp8-rowwise":
        tf, tb = _op("cast_fp8_transpose", fused, elements)
        f, b = f + tf, b + tb
    return f, b


def layer_bytes(a: Arch, T, tp, sp, fused, precision: str, moe: bool, transposed_copy: bool,
                separate: bool = False):
    """(forward, backward) HBM bytes of one layer's memory-bound ops for one micro-batch; `separate`:
    the stack runs q, k, v (and gate, up) as separate linears, whose input gradients the backward sums."""
    T = np.asarray(T, dtype=float)
    tp = np.asarray(tp, dtype=float)
    T_h = np.where(np.asarray(sp) > 0, T / tp, T)
    H = float(a.hidden)
    parts = [_op("rmsnorm", fused, 2 * T_h * H), _op("residual_add", fused, 2 * T_h * H)]
    if a.gpt_style:
        parts.append(_op("dropout", fused, 2 * T_h * H))
    else:
        parts.append(_op("rope", fused, T * (a.q_dim + a.kv_dim) / tp))
    act = "swiglu" if a.gated else "gelu"
    if moe:
        tk = T_h * a.top_k
        parts += [_op("router", fused, T_h * a.experts), _op("moe_permute", fused, 2 * tk * H),
                  _op(act, fused, (tk + T_h * a.shared) * a.expert_ffn)]
        gemm_inputs = 2 * T_h * H + T * a.q_dim / tp + 2 * tk * H + (tk + T_h * a.shared) * a.expert_ffn
    else:
        parts.append(_op(act, fused, T * a.ffn_dense / tp))
        gemm_inputs = 2 * T_h * H + T * (a.q_dim + a.ffn_dense) / tp
    parts.append(_cast(precision, fused, gemm_inputs, transposed_copy))
    if separate:
        parts.append((0.0, _op("grad_sum_3", fused, T * H)[1]))
        if a.gated and not moe:
            parts.append((0.0, _op("grad_sum_2", fused, T * H)[1]))
    fwd = sum(p[0] for p in parts)
    bwd = sum(p[1] for p in parts)
    return fwd, bwd


def cross_entropy_bytes(a: Arch, T, tp, fused):
    """(forward, backward) bytes of the loss over the vocabulary (fp32 logits), last stage."""
    return _op("cross_entropy", fused, np.asarray(T, dtype=float) * a.vocab / np.asarray(tp, dtype=float))


@cache
def _opt(key: str) -> float:
    return float(catalog.entry("perf", "optimizer-step")[key])


def optimizer_bytes(local_shard_params, stage_params):
    """HBM bytes of one optimizer step: Adam and gradient clipping over the local shard, the
    gradient buffer zeroed over the whole stage."""
    return local_shard_params * (_opt("adam_bytes") + _opt("clip_bytes")) + stage_params * _opt("zero_grad_bytes")
