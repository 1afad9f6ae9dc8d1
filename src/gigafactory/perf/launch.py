"""The host launch floor of a layer pass: kernels launched x host time per kernel.

The CPU launches every kernel of a layer (catalog/perf.yaml ``launch-kernels``: counted per stack);
each costs ``host_kernel_s`` of host time (PyTorch dispatch plus the CUDA launch; fitted, with a
plausible range of a few to a few tens of microseconds). A GPU pass shorter than its launches waits
for them. Dense layers queue ahead of the GPU, so their launches bound the step only in total
(``max(GPU time, host time)`` over the step); an MoE layer's dispatcher waits on the GPU for the
token counts per expert (dropless routing: the CPU needs them to size the all-to-all, DeepEP README
"the CPU will wait for GPU's signal"), so each MoE layer pass is bounded by its own launches.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .. import catalog


@cache
def _k(key: str) -> float:
    return float(catalog.entry("perf", "launch-kernels")[key])


def kernels_per_pass(fused, moe: bool, local_experts=0.0):
    """(forward, backward) kernels of one layer for one micro-batch."""
    fwd = np.where(fused, _k("dense_fused_fwd"), _k("dense_eager_fwd"))
    if moe:
        fwd = fwd + _k("moe_extra_fwd") + _k("per_local_expert_fwd") * np.asarray(local_experts, dtype=float)
    return fwd, _k("bwd_factor") * fwd
