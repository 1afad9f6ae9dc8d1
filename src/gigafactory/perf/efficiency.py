"""The few fitted parameters of the step engine, and the sourced kernel ceilings they scale.

Fitted (catalog/calibration.yaml, written by scripts/fit_calibration.py on train.csv; each has a
physically plausible range, :data:`RANGES`, which the fit prints and never needs to leave):

* ``gemm_scale[family]``: in-training GEMM rate over the Maximum Achievable Matmul FLOPS measured at
  the best shape (catalog/perf.yaml ``gemm-mamf``), per GPU family (Blackwell Ultra shares
  Blackwell's): clock under sustained load, L2 misses, launch gaps between a layer's GEMMs;
* ``lowp_ratio[recipe]`` for the recipes without a measured ceiling: torchao's row-wise fp8 and
  NVFP4, GEMM rate over the fp8 ceiling (per-tensor fp8 and MXFP8 use the measured fp8 MAMF as is);
* ``attn_scale[family]``: in-training attention rate over the kernels' published rates, per family
  (Blackwell's kernel rates are estimates; Blackwell Ultra shares them);
* ``grouped_gemm_scale``: the MoE experts' grouped GEMMs over a dense GEMM of the same shape
  (Transformer Engine's GroupedLinear runs one cuBLAS GEMM per local expert on several streams, with
  per-expert quantisation and bookkeeping between them);
* ``host_kernel_s``: host time per launched kernel (the launch floor, perf/launch.py);
* ``overlap_dp``, ``overlap_tp``: the fractions of DP and TP communication hidden behind compute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from .. import catalog
from ..specs import Gpu

#: Blackwell Ultra has Blackwell's 5th-generation tensor cores: one in-training GEMM scale
GEMM_FAMILY = {"blackwell-ultra": "blackwell"}
#: recipes whose GEMM rate is the measured fp8 ceiling times a fitted ratio
FITTED_RECIPES = ("fp8-rowwise", "nvfp4")
#: the input precision whose MAMF bounds a recipe's GEMMs
MAMF_KEY = {"bf16": "bf16", "fp16": "bf16", "fp8": "fp8", "mxfp8": "fp8", "fp8-rowwise": "fp8", "nvfp4": "fp8"}
#: bytes per GEMM input element of a recipe (NVFP4: 4-bit values plus an fp8 scale per 16)
INPUT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "mxfp8": 1.03, "fp8-rowwise": 1.0, "nvfp4": 0.5625}

#: plausible range of each fitted parameter (printed by the fit beside its value)
RANGES: dict[str, tuple[float, float]] = {
    "gemm_scale": (0.70, 1.05),
    "lowp_ratio": (0.30, 1.00),
    "attn_scale": (0.50, 1.30),
    "grouped_gemm_scale": (0.40, 1.00),
    "host_kernel_s": (2e-6, 40e-6),
    "overlap_dp": (0.0, 1.0),
    "overlap_tp": (0.0, 1.0),
}


@dataclass(frozen=True)
class Calibration:
    gemm_scale: dict[str, float]
    lowp_ratio: dict[str, float]
    attn_scale: dict[str, float]
    grouped_gemm_scale: float
    host_kernel_s: float
    overlap_dp: float
    overlap_tp: float

    def gemm_fraction(self, gpu: Gpu, precision: str) -> float:
        """A large GEMM's rate over the dense peak of `precision`: MAMF x scale (x recipe ratio)."""
        fam = GEMM_FAMILY.get(gpu.family, gpu.family)
        scale = self.gemm_scale.get(fam, float(np.median(list(self.gemm_scale.values()))))
        ratio = self.lowp_ratio.get(precision, 1.0) if precision in FITTED_RECIPES else 1.0
        return mamf(gpu, MAMF_KEY.get(precision, "bf16")) * scale * ratio

    def attention_scale(self, gpu: Gpu) -> float:
        """In-training attention rate over the kernels' published rates for the GPU's family."""
        fam = GEMM_FAMILY.get(gpu.family, gpu.family)
        return self.attn_scale.get(fam, float(np.median(list(self.attn_scale.values()))))

    def replace(self, **kw: Any) -> Calibration:
        return replace(self, **kw)


@cache
def calibration() -> Calibration:
    c = catalog.entry("calibration", "compute")
    o = catalog.entry("calibration", "overlap")
    return Calibration(
        gemm_scale={k: float(v) for k, v in c["gemm_scale"].items()},
        lowp_ratio={k: float(v) for k, v in c["lowp_ratio"].items()},
        attn_scale={k: float(v) for k, v in c["attn_scale"].items()},
        grouped_gemm_scale=float(c["grouped_gemm_scale"]),
        host_kernel_s=float(c["host_kernel_us"]) * 1e-6,
        overlap_dp=float(o["dp"]),
        overlap_tp=float(o["tp"]),
    )


@cache
def const(entry: str, key: str) -> float:
    """A physical constant from catalog/perf.yaml."""
    return float(catalog.entry("perf", entry)[key])


def mamf(gpu: Gpu, key: str) -> float:
    """Maximum Achievable Matmul FLOPS over the dense peak (catalog ``gemm-mamf``) for `gpu` at input
    precision `key`; a GPU not in the table takes the median of its family's (of all, if none)."""
    return _mamf(gpu.id, gpu.family, key)


@cache
def _mamf(gpu_id: str, family: str, key: str) -> float:
    table = catalog.entry("perf", "gemm-mamf")
    row = table.get(gpu_id)
    if isinstance(row, dict) and key in row:
        return float(row[key])
    same = [float(v[key]) for k, v in table.items() if isinstance(v, dict) and key in v
            and k in catalog.ids("gpus") and catalog.entry("gpus", k)["family"] == family]
    every = [float(v[key]) for v in table.values() if isinstance(v, dict) and key in v]
    return float(np.median(same or every))


def sms(gpu: Gpu) -> int:
    """Streaming multiprocessors of the GPU's family (catalog ``gemm-sms``)."""
    return int(const("gemm-sms", gpu.family))


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
    best = None
    for gid in catalog.ids("gpus"):
        e = catalog.entry("gpus", gid)
        if e["family"] == family and abs(float(e["peak_tflops"]["bf16"]) - bf16) < 1e-6 and not e.get("power_cap_w"):
            if best is None or e["tdp_w"] > best["tdp_w"]:
                best = e
    return Gpu.model_validate(best) if best else None
