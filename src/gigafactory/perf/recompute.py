"""What activation recompute redoes in the backward, per training stack.

Full recompute reruns the whole forward of the recomputed layers (``rcf`` of a stage's layers, the
rest keep their activations), its tensor-parallel collectives included. *Selective* means different
things in different stacks (catalog/perf.yaml ``selective-recompute``):

* Megatron-Core / NeMo: the core attention only (Korthikanti et al. 2022), so with flash attention
  the attention forward runs twice and nothing else does;
* torchtitan's per-op selective checkpointing saves the odd-numbered ``aten.mm`` calls of a layer's
  forward (its policy counts them and recomputes every second one), the SDPA outputs and the
  reduce-scatters, and recomputes the rest: every memory-bound op, the forward all-gathers of tensor
  parallelism (two of a layer's four forward TP collectives) and the even-numbered matmuls. A dense
  layer runs ``wq, wk, wv, wo, w1, w3, w2`` (torchtitan's Llama modules, in that order), so ``wk``,
  ``wo`` and ``w3`` rerun: 36.5% of Llama 3 8B's forward GEMM FLOPs, not half
  (:func:`every_second_mm_share`).

:func:`recompute_shares` gives, per plan, the share of each forward term that runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from .. import catalog
from .columns import code
from .params import Arch

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


EVERY_SECOND_MM = "every_second_mm"


def every_second_mm_share(a: Arch | None) -> float:
    """Share of a dense layer's forward GEMM FLOPs in its even-numbered matmuls, in torchtitan's module
    order ``wq, wk, wv, wo`` then ``w1, w3, w2`` (gated) or ``w1, w2``: what per-op SAC recomputes. Each
    linear's FLOPs are proportional to its width times the hidden size. MoE and MLA layers run other
    modules (router, shared and grouped experts, latent projections), counted here as half (estimate),
    and so is an unknown model (``a`` None)."""
    if a is None or a.mla or a.moe_layers:
        return 0.5
    widths = [a.q_dim, a.kv_dim, a.kv_dim, a.heads * a.d_v] + (
        [a.ffn_dense] * 3 if a.gated else [a.ffn_dense] * 2)
    return sum(w for i, w in enumerate(widths, start=1) if i % 2 == 0) / sum(widths)


@cache
def _policy_row(framework: str) -> tuple[float | str, float, float, float]:
    e = catalog.entry("perf", "selective-recompute")
    row = e.get(framework, e["other"])
    g = row["gemm_fwd"]
    return (g if g == EVERY_SECOND_MM else float(g), float(row["attention_fwd"]), float(row["memory_bound_fwd"]),
            float(row["tp_allgathers_fwd"]))


def selective_policy(framework: str, a: Arch | None = None) -> tuple[float, float, float, float]:
    """(gemm, attention, memory-bound, TP all-gather) forward shares selective recompute redoes, for the
    layers of model `a` where the share depends on them (torchtitan's every second matmul)."""
    g, at, m, ag = _policy_row(framework)
    return (every_second_mm_share(a) if g == EVERY_SECOND_MM else float(g)), at, m, ag


def recompute_shares(framework: str, rc, rcf, a: Arch | None = None) -> RecomputeShares:
    """Shares of one layer's forward that the backward reruns, for recompute codes `rc` and the share
    `rcf` of a stage's layers under full recompute, for the layers of model `a`. A full-recompute layer
    reruns its 4 forward TP collectives (2 all-gathers, 2 reduce-scatters)."""
    rc, rcf = (np.asarray(x, dtype=float) for x in (rc, rcf))
    g, a_, m, ag = selective_policy(framework, a)
    full = np.where(rc == FULL, rcf, 0.0)
    sel = (rc == SELECTIVE).astype(float)
    return RecomputeShares(
        full=full,
        gemm=full + sel * g,
        attention=full + sel * a_,
        memory_bound=full + sel * m,
        tp_collectives=4.0 * full + 2.0 * sel * ag,
    )


__all__ = ["RecomputeShares", "every_second_mm_share", "recompute_shares", "selective_policy"]
