"""Pipeline schedules: layers per stage, 1F1B and interleaved bubbles.

Narayanan et al. 2021, Sec. 2.2: with ``p`` stages and ``m`` micro-batches, 1F1B idles for
``(p-1)`` micro-batch times per step, a bubble fraction ``(p-1)/m`` of the ideal time; the
interleaved schedule with ``v`` model chunks per stage cuts it to ``(p-1)/(v m)``.
"""

from __future__ import annotations

import numpy as np


def bubble_fraction(pp, m, vpp=1):
    """Bubble time over ideal compute time: (p-1)/(v m)."""
    return (np.asarray(pp, dtype=float) - 1) / (np.asarray(vpp, dtype=float) * np.asarray(m, dtype=float))


def bubble_time(pp, vpp, t_microbatch):
    """Idle seconds per step: (p-1)/v micro-batch times (forward + backward) of a stage."""
    return (np.asarray(pp, dtype=float) - 1) / np.asarray(vpp, dtype=float) * t_microbatch


def stage_layers(layers: int, pp, vpp):
    """Transformer layers on the most loaded stage: v chunks of ceil(L / (p v)) layers each."""
    pv = np.asarray(pp, dtype=float) * np.asarray(vpp, dtype=float)
    return np.ceil(layers / pv) * np.asarray(vpp, dtype=float)
