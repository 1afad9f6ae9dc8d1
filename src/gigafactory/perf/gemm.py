"""GEMM time by shape: tensor-core rate with wave quantisation over the SMs, against HBM traffic.

A GEMM ``C[M, N] = A[M, K] B[K, N]`` runs as ``ceil(M / tm) * ceil(N / tn)`` output tiles, one per
SM at a time. The tiles take ``waves = ceil(tiles / SMs)`` rounds, so the SMs are busy a fraction
``tiles / (waves * SMs)`` of the time (wave quantisation: why small TP-split and per-expert GEMMs
are slow). Each tile's main loop amortises its prologue and epilogue over K: ``K / (K + k_half)``.
The library picks the tile shape that finishes first (catalog/perf.yaml ``gemm-tiles``); a smaller
tile fills more SMs but reuses operands less (its ``rate``). So, with ``R`` the large-GEMM rate

    t_math = 2 M N K / (R * max_tile(rate * tiles / (waves * SMs)) * K / (K + k_half))
    t_hbm  = (M K + K N) * in_bytes + M N * out_bytes) / HBM bandwidth
    t      = max(t_math, t_hbm)

``R = peak(precision) * MAMF(gpu, precision) * gemm_scale(family)``: the Maximum Achievable Matmul
FLOPS measured at the best shape (catalog ``gemm-mamf``) times the fitted in-training fraction of it
(calibration.yaml). A grouped GEMM (MoE experts) of ``groups`` equal problems shares the waves.

Hand-worked (tests): H100, bf16, M = N = K = 8192, 132 SMs: the 128x256 tile gives 64 x 32 = 2048
tiles in 16 waves (2048 / 2112 = 0.970 busy), K / (K + 128) = 0.985, so at R = 989.4 x 0.803 TFLOP/s
the GEMM takes 1.0995e12 / (794.5e12 x 0.970 x 0.985) = 1.449 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from .. import catalog

TILE_SHAPES = ("large", "medium", "small")


@dataclass(frozen=True)
class GemmDevice:
    """What the GEMM time of one GPU at one precision depends on."""

    rate: float  # FLOP/s of a large GEMM in training (peak x MAMF x fitted scale x clock factor)
    sms: int
    hbm: float  # achieved HBM bytes/s
    in_bytes: float  # bytes per input element (2 bf16, 1 fp8, 0.5 fp4 plus its scales)
    out_bytes: float = 2.0


@cache
def tiles() -> tuple[tuple[float, float, float], ...]:
    """(tile_m, tile_n, relative rate) of the tile shapes the library chooses among."""
    e = catalog.entry("perf", "gemm-tiles")
    return tuple((float(e[k]["tile_m"]), float(e[k]["tile_n"]), float(e[k]["rate"])) for k in TILE_SHAPES)


@cache
def k_half() -> float:
    return float(catalog.entry("perf", "gemm-tiles")["k_half"])


def busy_fraction(sms: int, M, N, groups=1.0):
    """Best over the tile shapes of rate x (tiles / (waves x SMs)): the SMs' useful fraction."""
    M, N, groups = np.asarray(M, dtype=float), np.asarray(N, dtype=float), np.asarray(groups, dtype=float)
    best = np.zeros(np.broadcast(M, N, groups).shape)
    for tm, tn, rate in tiles():
        t = groups * np.ceil(np.maximum(M, 1.0) / tm) * np.ceil(np.maximum(N, 1.0) / tn)
        best = np.maximum(best, rate * t / (np.ceil(t / sms) * sms))
    return best


def gemm_time(dev: GemmDevice, M, N, K, groups=1.0):
    """Seconds for `groups` GEMMs of M x N x K each (a grouped GEMM shares its waves)."""
    M, N, K = (np.asarray(x, dtype=float) for x in (M, N, K))
    flops = 2.0 * M * N * K * groups
    t_math = flops / (dev.rate * busy_fraction(dev.sms, M, N, groups) * K / (K + k_half()))
    t_hbm = groups * ((M * K + K * N) * dev.in_bytes + M * N * dev.out_bytes) / dev.hbm
    return np.where(M * N * K > 0, np.maximum(t_math, t_hbm), 0.0)


def linear_times(dev: GemmDevice, tokens, d_in, d_out, groups=1.0):
    """Forward, input-gradient (dgrad) and weight-gradient (wgrad) GEMMs of one linear layer
    y[tokens, d_out] = x[tokens, d_in] W: forward M=tokens, N=d_out, K=d_in; dgrad M=tokens,
    N=d_in, K=d_out; wgrad M=d_in, N=d_out, K=tokens. Each has its own shape and so its own waves."""
    fwd = gemm_time(dev, tokens, d_out, d_in, groups)
    dgrad = gemm_time(dev, tokens, d_in, d_out, groups)
    wgrad = gemm_time(dev, d_in, d_out, tokens, groups)
    return fwd, dgrad, wgrad
