"""The attention core (softmax(QK^T) V) per layer and micro-batch: which kernel, and its time.

Which kernel runs is an attribute of the job's stack (`Job.framework`), never guessed from a source:

* ``megatron`` / ``nemo``: Transformer Engine's fused attention (cuDNN; FlashAttention-3 class on Hopper,
  the tcgen05 kernels on Blackwell, FlashAttention-2 on Ampere): kernel ``fused``;
* ``torchtitan`` / ``other``: PyTorch SDPA's flash backend or the flash-attn package, FlashAttention-2
  (no wgmma / TMA on Hopper): kernel ``fa2``;
* ``unfused`` (pre-2022 Megatron, Korthikanti et al. 2022): batched GEMMs over the whole score matrix
  plus softmax and dropout traffic.

A flash kernel's tensor-core work is ``4 T s_kv h (d_qk + d_v) / 2`` forward per causal layer
(``T`` query tokens, each attending to ``s_kv / 2`` keys on average with a causal mask; a banded
sliding-window layer only to the key blocks its band touches, :func:`window_factor`) at

    eff(kernel, family, pass) * attn_scale * s_chunk / (s_chunk + s_half)

of the bf16 peak times the kernel's head-dimension factor (:func:`head_dim_factor`; catalog/perf.yaml
``attention-kernels``; ``attn_scale`` fitted), plus one softmax
exponential per score on the special function units, which the kernels do not hide fully behind the
MMAs (``sfu-exp``); the backward recomputes the exponentials and runs 2.5x the forward's matmuls.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .. import catalog
from ..specs import Gpu

FAMILY = {"blackwell-ultra": "blackwell"}  # same tcgen05 attention kernels


def kernel_for(framework: str, flash: bool = True) -> str:
    """The attention kernel a stack runs."""
    if not flash:
        return "unfused"
    return "fused" if framework in ("megatron", "nemo") else "fa2"


@cache
def kernel_efficiency(kernel: str, family: str) -> tuple[float, float]:
    """(forward, backward) fraction of the bf16 peak at long chunks."""
    e = catalog.entry("perf", "attention-kernels")[kernel]
    fam = FAMILY.get(family, family)
    k = e.get(fam) or e["hopper"]
    return float(k["fwd"]), float(k["bwd"])


@cache
def _const(key: str) -> float:
    return float(catalog.entry("perf", "attention-kernels")[key])


def attention_bwd_factor() -> float:
    """Backward matmul FLOPs over the forward's (the backward recomputes the scores)."""
    return _const("bwd_flops_factor")


@cache
def head_dim_factor(kernel: str, head_dim: float) -> float:
    """A flash kernel's rate at `head_dim` over its rate at 128 (narrower heads give each block less
    matmul work per softmax and per load): the catalog's measured points, interpolated in log2 of the
    head dim, flat above 128 and below the narrowest point."""
    e = catalog.entry("perf", "attention-kernels")["head_dim_factor"]
    pts = e.get(kernel)
    if not pts:
        return 1.0
    d = sorted((float(k[1:]), float(v)) for k, v in pts.items() if k.startswith("d"))
    x = np.log2(np.clip(head_dim, d[0][0], d[-1][0]))
    return float(np.interp(x, [np.log2(k) for k, _ in d], [v for _, v in d]))


def window_factor(s_kv, window: int, window_share: float):
    """The attention work of a model's layers over that of full causal attention at the same length:
    a banded layer of `window` tokens computes the key blocks its band touches (``window + block``
    keys per query), against the ``s_kv / 2`` of a causal one; `window_share` of the layers are banded."""
    if not window or not window_share:
        return 1.0
    s = np.asarray(s_kv, dtype=float)
    banded = np.minimum(1.0, (window + _const("block_tokens")) / np.maximum(s / 2.0, 1.0))
    return 1.0 - window_share + window_share * banded


def core_flops(T, s_kv, heads_local, d_qk: float, d_v: float, causal: bool = True):
    """Forward matmul FLOPs of the attention core: QK^T and PV over the (causal half of the) scores."""
    return 2.0 * np.asarray(T, dtype=float) * s_kv * heads_local * (d_qk + d_v) * (0.5 if causal else 1.0)


def flash_times(gpu: Gpu, kernel: str, flops, scores, chunk, peak16: float, exp_rate: float, attn_scale: float,
                head_dim: float = 128.0):
    """(forward, backward) seconds of a flash kernel: tensor-core time at the kernel's efficiency for
    that chunk length plus one exponential per score on the SFUs (the backward recomputes them)."""
    fwd_eff, bwd_eff = kernel_efficiency(kernel, gpu.family)
    fill = np.asarray(chunk, dtype=float) / (np.asarray(chunk, dtype=float) + _const("half_chunk_tokens"))
    fill = fill * head_dim_factor(kernel, head_dim)
    t_exp = scores / exp_rate
    fwd = flops / (peak16 * fwd_eff * attn_scale * fill) + t_exp
    bwd = _const("bwd_flops_factor") * flops / (peak16 * bwd_eff * attn_scale * fill) + t_exp
    return fwd, bwd


def unfused_times(gemm_rate: float, flops, scores, hbm: float, score_bytes: float):
    """(forward, backward) seconds of unfused attention: two batched GEMMs over the full score matrix
    (twice the causal FLOPs) plus the softmax / dropout traffic of every score."""
    fwd = 2.0 * flops / gemm_rate + scores * score_bytes / hbm
    bwd = 2.0 * 2.0 * flops / gemm_rate + 2.0 * scores * score_bytes / hbm
    return fwd, bwd
