"""What activation recompute redoes in the backward, per training stack.

Full recompute reruns the whole forward of the recomputed layers (``rcf`` of a stage's layers, the
rest keep their activations), its tensor-parallel collectives included. *Selective* means different
things in different stacks (catalog/perf.yaml ``selective-recompute``):

* Megatron-Core / NeMo: the core attention only (Korthikanti et al. 2022), so with flash attention
  the attention forward runs twice and nothing else does;
* torchtitan's per-op selective checkpointing saves every second matmul, the SDPA outputs and the
  reduce-scatters, and recomputes the rest: half the forward GEMMs, every memory-bound op, and the
  forward all-gathers of tensor parallelism (two of a layer's four forward TP collectives).

:func:`recompute_shares` gives, per plan, the share of each forward term that runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from .. import catalog
from .columns import code

FULL, SELECTIVE = code("recompute", "full"), code("recompute", "selective")


@dataclass(frozen=True)
class RecomputeShares:
    """Per plan: the share of a stage's layers under full recompute; the share of the forward GEMMs,
    attention core and memory-bound ops run again; and the number of a layer's forward TP collectives
    run again (where there is TP)."""

    full: np.ndarray
    gemm: np.ndarray
    attention: np.ndarray
    memory_bound: np.ndarray
    tp_collectives: np.ndarray


@cache
def selective_policy(framework: str) -> tuple[float, float, float, float]:
    """(gemm, attention, memory-bound, TP all-gather) forward shares selective recompute redoes."""
    e = catalog.entry("perf", "selective-recompute")
    row = e.get(framework, e["other"])
    return (float(row["gemm_fwd"]), float(row["attention_fwd"]), float(row["memory_bound_fwd"]),
            float(row["tp_allgathers_fwd"]))


def recompute_shares(framework: str, rc, rcf) -> RecomputeShares:
    """Shares of one layer's forward that the backward reruns, for recompute codes `rc` and the share
    `rcf` of a stage's layers under full recompute. A full-recompute layer reruns its 4 forward TP
    collectives (2 all-gathers, 2 reduce-scatters)."""
    rc, rcf = (np.asarray(x, dtype=float) for x in (rc, rcf))
    g, a, m, ag = selective_policy(framework)
    full = np.where(rc == FULL, rcf, 0.0)
    sel = (rc == SELECTIVE).astype(float)
    return RecomputeShares(
        full=full,
        gemm=full + sel * g,
        attention=full + sel * a,
        memory_bound=full + sel * m,
        tp_collectives=4.0 * full + 2.0 * sel * ag,
    )


__all__ = ["RecomputeShares", "recompute_shares", "selective_policy"]
