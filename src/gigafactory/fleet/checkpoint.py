"""Checkpoint size and cost, and the Young/Daly optimum interval.

Size: every parameter's training state, bf16 weights (2 B) + fp32 master weights, Adam momentum and
variance (12 B) = 14 B per parameter (Rajbhandari et al. 2020, ZeRO, Sec. 3.1; gradients are not
saved). A synchronous checkpoint stalls training for size / storage bandwidth plus a fixed
coordination cost; an asynchronous one stalls only for the copy of each GPU's shard to host memory,
then persists in the background for the synchronous write time (a checkpoint only protects work once
it is persisted). Restores read at the write bandwidth times the profile's read factor.

Young (1974): tau = sqrt(2 delta M). Daly (2006), higher order:
tau = sqrt(2 delta M) [1 + (1/3) sqrt(delta / 2M) + (1/9) (delta / 2M)] - delta for delta < 2M, else M,
with delta the checkpoint stall and M the mean time between work-losing interruptions; tau is compute
time between checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..perf.params import total_params
from ..specs import Cluster, Model
from .reliability import constants


@dataclass(frozen=True)
class CheckpointCost:
    bytes: float
    per_gpu_bytes: float
    write_s: float
    """synchronous stall: size / storage bandwidth + fixed cost"""
    async_stall_s: float
    """asynchronous stall: shard copy to host + fixed cost"""
    load_s: float
    """restore: size / (storage bandwidth x read factor)"""

    def stall_s(self, asynchronous: bool) -> float:
        return self.async_stall_s if asynchronous else self.write_s

    def persist_s(self, asynchronous: bool) -> float:
        """Lag from a snapshot to it being safe on storage (0 for synchronous: the stall covers it)."""
        return self.write_s if asynchronous else 0.0


def checkpoint_bytes(model: Model) -> float:
    return total_params(model) * float(constants("checkpoint")["bytes_per_param"])


def checkpoint_cost(model: Model, cluster: Cluster, gpus: int | None = None, read_factor: float = 1.0,
                    state_bytes: float | None = None) -> CheckpointCost:
    """Stall, persist and restore times of one full checkpoint of `model` on `cluster`."""
    k = constants("checkpoint")
    n = gpus or cluster.num_gpus
    size = state_bytes if state_bytes is not None else checkpoint_bytes(model)
    bw = cluster.storage_tbps * 1e12
    fixed = float(k["fixed_s"])
    per_gpu = size / n
    return CheckpointCost(
        bytes=size,
        per_gpu_bytes=per_gpu,
        write_s=size / bw + fixed,
        async_stall_s=per_gpu / (float(k["d2h_gbs"]) * 1e9) + fixed,
        load_s=size / (bw * read_factor),
    )


def young_interval(delta: float, mtbf: float) -> float:
    """Young's first-order optimum compute time between checkpoints (same units as the inputs)."""
    return math.sqrt(2.0 * delta * mtbf)


def daly_interval(delta: float, mtbf: float) -> float:
    """Daly's higher-order optimum compute time between checkpoints (same units as the inputs)."""
    if delta >= 2.0 * mtbf:
        return mtbf
    x = delta / (2.0 * mtbf)
    return math.sqrt(2.0 * delta * mtbf) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - delta


__all__ = ["CheckpointCost", "checkpoint_cost", "checkpoint_bytes", "total_params", "young_interval",
           "daly_interval"]
