"""How a board power cap slows a GPU (importable by the step engine without importing fleet/).

Model (constants in catalog/power.yaml, entry ``power-cap``): in the DVFS range board power is

    P(f) = P_idle + (P_compute - P_idle) * (f / f0) ** k

where ``P_compute`` is the uncapped compute-phase draw (``compute_draw_frac`` x TDP), ``f0`` the
clock it runs at, and ``k`` the DVFS exponent (CMOS dynamic power ~ C V^2 f with V rising with f,
so 2 <= k <= 3). A cap below ``P_compute`` forces the clock down to
``f/f0 = ((cap - P_idle) / (P_compute - P_idle)) ** (1/k)``; compute-bound kernels slow in
proportion to the clock. Memory- and network-bound time barely changes (HBM and NVLink clocks
are not lowered by a board cap), so the step engine should scale only its compute seconds.

For an H100 (700 W, idle 90 W, compute draw 651 W, k = 2.6): 600 W -> 0.964, 500 W -> 0.886.
"""

from __future__ import annotations

from functools import cache

from .. import catalog
from ..specs import Gpu


@cache
def _constants() -> tuple[float, float]:
    e = catalog.entry("power", "power-cap")
    return float(e["dvfs_exponent"]), float(e["compute_draw_frac"])


def compute_draw_w(gpu: Gpu) -> float:
    """Uncapped compute-phase board draw of a GPU (W)."""
    return _constants()[1] * gpu.tdp_w


def perf_scale_at_cap(gpu: Gpu, cap_w: float | None = None) -> float:
    """Compute-throughput factor (<= 1) of `gpu` under a board cap (default: ``gpu.power_cap_w``).

    1.0 when uncapped or when the cap is above the compute-phase draw. Divide compute-bound
    seconds by this factor.
    """
    cap = gpu.power_cap_w if cap_w is None else cap_w
    if cap is None:
        return 1.0
    k, _ = _constants()
    p_full = compute_draw_w(gpu)
    if cap >= p_full:
        return 1.0
    if cap <= gpu.idle_w:
        raise ValueError(f"power cap {cap:g} W is at or below the idle draw ({gpu.idle_w:g} W)")
    return float(((cap - gpu.idle_w) / (p_full - gpu.idle_w)) ** (1.0 / k))


def capped_draw_w(gpu: Gpu, uncapped_w: float) -> float:
    """Board draw in a phase once the cap (if any) is applied."""
    return min(uncapped_w, gpu.board_power_w)
