"""Achieved fractions of peak: GEMMs by GPU family and shape, attention, overheads.

The fitted numbers live in ``catalog/calibration.yaml`` (written by scripts/fit_calibration.py).
A GEMM whose smallest dimension is ``d`` runs at ``eff(family) * d / (d + d_half)`` of the dense
peak of its precision: small TP-split or per-expert GEMMs fill fewer SMs and reuse operands less
(one shape curve for every family). Low-precision GEMMs reach ``lowp_ratio[recipe]`` of the bf16
efficiency of their family (fp8 and mxfp8 share one ratio, fp8-rowwise and nvfp4 have their own:
the same tensor cores at a higher peak, with the scaling/epilogue work of each recipe's kernels);
their casts are counted as HBM bytes in batch.py. The host launch time of an MoE layer pass
(``host_moe_layer_s`` plus ``host_expert_s`` per local expert) bounds that pass from below in
batch.py (the dispatcher's sync on the token counts keeps the CPU from running ahead).
FlashAttention runs at ``attn_eff`` of the bf16 peak per architecture plus one softmax exp per score
on the SFUs (catalog/perf.yaml sfu-exp, batch.py); Blackwell Ultra shares Blackwell's kernels (and its
GEMM efficiency: GEMM_FAMILY); Ampere's FA-2 figure is sourced, not fitted (no fused-attention Ampere runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from .. import catalog
from ..specs import Gpu


def precision_class(precision: str) -> str:
    return "bf16" if precision in ("bf16", "fp16") else precision


# low-precision recipes sharing one GEMM efficiency ratio: per-tensor fp8 and MX-fp8 (32-element
# block scales applied inside the tensor-core instruction) run the same kernels class
LOWP_RECIPE = {"mxfp8": "fp8"}
ATTN_FAMILY = {"blackwell-ultra": "blackwell"}  # same tcgen05 FlashAttention kernels (cuDNN / FA-4)
# Blackwell Ultra has Blackwell's 5th-generation tensor cores at the same dense bf16/fp8 peak: one GEMM
# efficiency; its gains (2x SFU exponentials, 288 GB HBM) enter through the attention and memory terms
GEMM_FAMILY = {"blackwell-ultra": "blackwell"}


@dataclass(frozen=True)
class Calibration:
    gemm_eff: dict[str, float]  # bf16 GEMM efficiency per GPU family (large shapes)
    attn_eff: dict[str, float]  # FlashAttention efficiency per architecture, of the bf16 peak
    gemm_dim_half: float
    host_moe_layer_s: float  # CPU time to launch an MoE layer's kernels after its dispatch sync, per pass
    host_expert_s: float  # extra launch time per local expert (E/ep) of an MoE layer, per pass
    overlap_dp: float
    overlap_tp: float
    lowp_ratio: dict[str, float] = field(default_factory=dict)  # per LOWP_RECIPE: GEMM efficiency over bf16
    fa2_slowdown: dict[str, float] = field(default_factory=dict)  # best kernel's speed over FlashAttention-2
    extra: dict[str, Any] = field(default_factory=dict)

    def gemm(self, gpu: Gpu, precision: str) -> float:
        """Efficiency of a large GEMM at `precision` (of that precision's dense peak)."""
        fam = GEMM_FAMILY.get(gpu.family, gpu.family)
        eff = self.gemm_eff.get(fam, float(np.median(list(self.gemm_eff.values()))))
        if precision_class(precision) == "bf16":
            return eff
        return eff * self.lowp_ratio[LOWP_RECIPE.get(precision, precision)]

    def attn(self, gpu: Gpu, kernel: str = "best") -> float:
        """FlashAttention efficiency: the family's best kernel (cuDNN / FA-3 class), or ``kernel="fa2"``
        (PyTorch SDPA's FlashAttention-2, which does not use Hopper's wgmma/TMA) where sourced."""
        fam = ATTN_FAMILY.get(gpu.family, gpu.family)
        eff = self.attn_eff.get(fam, float(np.median(list(self.attn_eff.values()))))
        if kernel == "fa2":
            eff /= self.fa2_slowdown.get(fam, 1.0)
        return eff

    def replace(self, **kw: Any) -> Calibration:
        d = {**self.__dict__, **kw}
        return Calibration(**d)


@cache
def calibration() -> Calibration:
    c = catalog.entry("calibration", "compute")
    o = catalog.entry("calibration", "overlap")
    fixed = catalog.entry("calibration", "attention-sourced")
    return Calibration(
        gemm_eff={k: float(v) for k, v in c["gemm_eff"].items()},
        attn_eff={**{k: float(v) for k, v in fixed["attn_eff"].items()}, **{k: float(v) for k, v in c["attn_eff"].items()}},
        gemm_dim_half=float(c["gemm_dim_half"]),
        host_moe_layer_s=float(c["host_moe_layer_us"]) * 1e-6,
        host_expert_s=float(c["host_expert_us"]) * 1e-6,
        lowp_ratio={k: float(v) for k, v in c["lowp_ratio"].items()},
        fa2_slowdown={k: float(v) for k, v in fixed["fa3_speedup_over_fa2"].items()},
        overlap_dp=float(o["dp"]),
        overlap_tp=float(o["tp"]),
    )


@cache
def const(entry: str, key: str) -> float:
    """A physical constant from catalog/perf.yaml."""
    return float(catalog.entry("perf", entry)[key])


def exp_rate(gpu: Gpu) -> float:
    """Softmax exponentials per second of the special function units (catalog/perf.yaml: sfu-exp),
    at the rated clock (scale by :func:`compute_clock_factor` for capped boards)."""
    return const("sfu-exp", gpu.family)


def compute_clock_factor(gpu: Gpu) -> float:
    """Compute throughput factor (<= 1) of a board run below the power its peak was rated at.

    A set ``power_cap_w`` slows compute by :func:`gigafactory.perf.powercap.perf_scale_at_cap`. A
    board whose TDP is lower than that of the catalog part of the same family with the same peak
    (e.g. the 500 W H100 96GB, whose peak is the 700 W H100 SXM's) is treated as that part capped
    at its TDP.
    """
    from .powercap import perf_scale_at_cap

    if gpu.power_cap_w is not None:
        return float(perf_scale_at_cap(gpu))
    ref = _rated_part(gpu.family, gpu.peak_tflops["bf16"])
    if ref is None or ref.tdp_w <= gpu.tdp_w:
        return 1.0
    return float(perf_scale_at_cap(ref, gpu.tdp_w))


@cache
def _rated_part(family: str, bf16: float) -> Gpu | None:
    from ..resolve import gpu as build_gpu

    best = None
    for gid in catalog.ids("gpus"):
        e = catalog.entry("gpus", gid)
        if e["family"] == family and abs(float(e["peak_tflops"]["bf16"]) - bf16) < 1e-6 and not e.get("power_cap_w"):
            if best is None or e["tdp_w"] > best[1]:
                best = (gid, e["tdp_w"])
    return build_gpu(best[0]) if best else None
