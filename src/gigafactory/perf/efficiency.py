"""Achieved fractions of peak: GEMMs by GPU family x precision and shape, attention, overheads.

The fitted numbers live in ``catalog/calibration.yaml`` (written by scripts/fit_calibration.py).
A GEMM whose smallest dimension is ``d`` runs at ``eff(family, precision) * d / (d + d_half)`` of
the dense peak: small TP-split or per-expert GEMMs fill fewer SMs and reuse operands less.
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


@dataclass(frozen=True)
class Calibration:
    gemm_eff: dict[str, float]
    attn_eff: dict[str, float]
    gemm_dim_half: float
    layer_overhead_s: float
    moe_overhead_s: float
    overlap_dp: float
    overlap_tp: float
    overlap_ep: float
    extra: dict[str, Any] = field(default_factory=dict)

    def gemm(self, gpu: Gpu, precision: str) -> float:
        fam, pc = gpu.family, precision_class(precision)
        for key in (f"{fam}-{pc}", f"{fam}-fp8" if pc.startswith("fp8") else "", f"{fam}-bf16"):
            if key in self.gemm_eff:
                return self.gemm_eff[key]
        return max(self.gemm_eff.values())

    def attn(self, gpu: Gpu) -> float:
        return self.attn_eff.get(gpu.family, float(np.median(list(self.attn_eff.values()))))

    def replace(self, **kw: Any) -> Calibration:
        d = {**self.__dict__, **kw}
        return Calibration(**d)


@cache
def calibration() -> Calibration:
    c = catalog.entry("calibration", "compute")
    o = catalog.entry("calibration", "overlap")
    return Calibration(
        gemm_eff={k: float(v) for k, v in c["gemm_eff"].items()},
        attn_eff={k: float(v) for k, v in c["attn_eff"].items()},
        gemm_dim_half=float(c["gemm_dim_half"]),
        layer_overhead_s=float(c["layer_overhead_us"]) * 1e-6,
        moe_overhead_s=float(c["moe_layer_overhead_us"]) * 1e-6,
        overlap_dp=float(o["dp"]),
        overlap_tp=float(o["tp"]),
        overlap_ep=float(o["ep"]),
    )


@cache
def const(entry: str, key: str) -> float:
    """A physical constant from catalog/perf.yaml."""
    return float(catalog.entry("perf", entry)[key])


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
