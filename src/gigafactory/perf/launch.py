"""The host launch floor of a layer pass: kernels launched x host time per kernel.

The CPU launches every kernel of a layer (catalog/perf.yaml ``launch-kernels``: counted per stack);
each PyTorch op costs ``host_kernel_s`` of host time (dispatch plus the CUDA launch; fitted, with a
plausible range of a few to a few tens of microseconds). With CUDA graphs (``Plan.cuda_graphs``, over
``Plan.cuda_graph_scope``: Transformer Engine's per-scope graphs of the attention block, the dense MLP or
the MoE router and preprocessing, or Megatron-Core's one graph of the whole iteration) a captured scope
costs one replay instead of its kernels, and a captured iteration costs the host nothing per layer.

Every kernel also costs the GPU a small gap beyond its work (:func:`layer_gap_s`: the next launch's
ramp and the last one's tail), which no queue hides. A GPU pass shorter than its launches waits for them. Dense layers queue ahead of the GPU, so their
launches bound the step only in total (``max(GPU time, host time)`` over the step); an MoE layer's
dispatcher waits on the GPU for the token counts per expert (dropless routing: the CPU needs them to
size the all-to-all, DeepEP README "the CPU will wait for GPU's signal"), so what an MoE layer
launches after that copy -- permutes, all-to-alls, experts, unpermute -- runs at the host's pace.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .. import catalog
from .columns import code


@cache
def _k(key: str) -> float:
    return float(catalog.entry("perf", "launch-kernels")[key])


def _dense_fwd(fused):
    """Kernels of a dense layer's forward, fused (Transformer Engine, torch.compile) or eager."""
    return np.where(fused, _k("dense_fused_fwd"), _k("dense_eager_fwd"))


def _experts_fwd(local_experts):
    """Kernels the local experts' grouped GEMMs add to an MoE layer's forward."""
    return _k("per_local_expert_fwd") * np.asarray(local_experts, dtype=float)


def layer_gap_s(fused, moe: bool, local_experts):
    """GPU seconds between one layer pass's kernels (forward, backward): every kernel it runs costs the
    GPU ``gpu_gap_us`` beyond its work, host ahead or not (catalog ``launch-kernels``)."""
    gap = _k("gpu_gap_us") * 1e-6
    n = _dense_fwd(fused) + ((_k("moe_extra_fwd") + _experts_fwd(local_experts)) if moe else 0.0)
    return n * gap, _k("bwd_factor") * n * gap


def graph_scopes(graphs, scope):
    """0/1 arrays of what the CUDA graphs capture: (attention block, dense MLP block, MoE router and
    preprocessing, whole layer, whole iteration), from ``Plan.cuda_graphs`` and the code of
    ``Plan.cuda_graph_scope``."""
    g = np.asarray(graphs, dtype=float)
    s = np.asarray(scope)

    def on(*names):
        hit = s == code("cuda_graph_scope", names[0])
        for n in names[1:]:
            hit = hit | (s == code("cuda_graph_scope", n))
        return g * hit

    return (on("attn+moe_router", "attn"), on("mlp"), on("attn+moe_router", "moe_router"), on("layer"),
            on("full_iteration"))


def layer_host_s(fused, moe: bool, local_experts, graphs, host_s: float, padded: bool = False,
                 scope=0):
    """Host seconds of one layer pass for one micro-batch: (forward queued ahead of the GPU, forward
    after the MoE token-count copy, backward). `padded`: capacity routing pads every expert to its
    capacity, so nothing waits for the counts and the whole MoE block queues ahead. `scope` is the code
    of ``Plan.cuda_graph_scope`` (default attn+moe_router): the per-scope graphs cover the attention
    block, a dense layer's MLP block or the MoE router and preprocessing, so the experts' kernels still
    launch one by one (Megatron-Core's drop-and-pad "moe" scope, which would capture them, is not
    modelled); a whole layer's graph costs one replay a pass; a whole-iteration graph leaves the host
    nothing to launch per layer."""
    replay = _k("graph_replay_ops") * host_s
    bwd = _k("bwd_factor")
    if not np.any(graphs):  # nothing graphed (the planner's default): the scope does not matter
        return _scoped(fused, moe, local_experts, 0.0, 0.0, 0.0, host_s, padded, replay, bwd)
    attn, mlp, router_g, layer, full = graph_scopes(graphs, scope)
    queued, after, back = _scoped(fused, moe, local_experts, attn, mlp, router_g, host_s, padded, replay, bwd)
    live = 1.0 - layer - full  # a whole layer's graph replays once a pass; a whole iteration's once a step
    return live * queued + layer * replay, live * after, live * back + layer * replay


def _scoped(fused, moe, local_experts, attn, mlp, router_g, host_s, padded, replay, bwd):
    """layer_host_s under the per-scope graphs (attention, dense MLP, MoE router) alone."""
    mlp_ops = _k("dense_fused_fwd") - _k("attn_scope_fwd")  # norm, FC1, activation, FC2, residual add
    # kernels outside the captured blocks (the MLP scope graphs dense layers only)
    ops = _dense_fwd(fused) - attn * _k("attn_scope_fwd") - (0.0 if moe else mlp * mlp_ops)
    n_replays = attn + (0.0 if moe else mlp)
    queued_f = ops * host_s + n_replays * replay
    back = bwd * ops * host_s + n_replays * replay
    if not moe:
        return queued_f, 0.0, back
    router = _k("router_scope_fwd") * host_s  # launched before the count copy
    after = (_k("moe_extra_fwd") - _k("router_scope_fwd") + _experts_fwd(local_experts)) * host_s
    queued_f = queued_f + (1 - router_g) * router + router_g * replay
    back = back + bwd * ((1 - router_g) * router + after) + router_g * replay
    if padded:  # nothing waits for the counts: the post-router launches queue ahead too
        return queued_f + after, 0.0, back
    return queued_f, after, back
