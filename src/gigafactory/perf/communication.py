"""Exposed communication of one training step, term by term: TP, CP, EP, PP and DP.

Every time comes from the one collective model (:mod:`gigafactory.network.collectives`) over the
group the framework forms, in Megatron rank order (TP innermost, then CP, DP; PP outermost; MoE
layers re-partition TP x CP x DP into ETP (innermost) x EP x expert-DP). Per layer and micro-batch:

* **TP** (sequence parallel): all-gather before and reduce-scatter after the attention and MLP
  blocks, ``T x hidden x 2`` bytes each, 4 forward and 4 backward. TP overlap (``tp_comm_overlap``:
  Transformer Engine's userbuffers, torchtitan's async TP) splits each collective into ``tp`` chunks
  pipelined with the GEMM it feeds or follows (QKV, proj, FC1, FC2 forward; their dgrads backward),
  so a collective hides only behind its own GEMM, and only a fitted fraction ``overlap_tp`` of that
  GEMM's time (chunking, copy-engine and SM contention); one chunk of ``tp`` always shows.
* **CP** (``cp_comm_type``): ``p2p`` sends the K/V chunk around the ring, ``cp - 1`` steps of
  ``T x 2 x kv_local x 2`` bytes forward (K/V and their gradients backward: twice), each under the
  attention of the chunk before, so only what outlasts the attention shows; ``a2a`` (Ulysses) swaps
  sequence for heads with four all-to-alls of the local Q/K/V/O widths, not overlapped;
  ``allgather`` gathers K/V over the group (reduce-scatters their gradients), not overlapped.
* **EP** dispatch and combine (``moe_dispatcher``): ``alltoall`` sends each of the ``T_h x top_k``
  token copies to its expert's rank; ``allgather`` gathers every token to every EP rank and
  reduce-scatters the outputs; ``flex`` (DeepEP) sends a token over the scale-out network once per
  destination domain and forwards it over NVLink there. Dispatch is fp8 where the recipe is and the
  dispatcher supports it (flex), combine bf16. ``ep_comm_overlap`` (or DualPipe) hides the
  all-to-alls behind the other micro-batch's compute.
* **ETP**: an all-gather of the routed tokens and a reduce-scatter of the expert outputs over the
  ``etp`` ranks that split each expert.
* **PP**: one activation of ``T x hidden x 2`` (``/ tp`` with SP) per micro-batch boundary each way.
* **DP**: gradients reduce-scattered (ZeRO >= 1) or all-reduced (DDP) over ``dp x cp`` ranks (expert
  gradients over the expert-DP ranks), parameters all-gathered (ZeRO >= 1); overlapped with the
  backward (and forward) of the last micro-batch up to a fitted fraction ``overlap_dp``; FSDP under
  PP repeats the gathers per micro-batch.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .. import catalog
from ..network import collectives as nc
from .columns import code

P2P, A2A, ALLGATHER = (code("cp_comm_type", s) for s in ("p2p", "a2a", "allgather"))
DISPATCH_A2A, DISPATCH_AG, DISPATCH_FLEX = (code("moe_dispatcher", s) for s in ("alltoall", "allgather", "flex"))


@cache
def _moe(key: str) -> float:
    return float(catalog.entry("perf", "moe-dispatch")[key])


def tp_collective(fab, T, hidden: float, tp):
    """One TP all-gather / reduce-scatter of the ``T x hidden`` bf16 activations."""
    return nc.reduce_scatter(fab, np.asarray(T, dtype=float) * hidden * 2.0, tp, 1)


def tp_exposed(t_coll, paired_gemms, tp, overlap: float, on):
    """Exposed seconds of one TP collective per GEMM in `paired_gemms` (the GEMM each overlaps):
    all of it without overlap; with it (`on`), what outlasts ``overlap`` x its GEMM, never less than
    the one chunk of ``tp`` that the pipeline cannot hide."""
    t = np.asarray(t_coll, dtype=float)
    if not np.any(on):  # nothing overlapped: every collective shows whole
        return len(paired_gemms) * t
    tp = np.maximum(np.asarray(tp, dtype=float), 1.0)
    total = 0.0
    for g in paired_gemms:
        hidden = np.maximum(t / tp, t - overlap * np.asarray(g, dtype=float))
        total = total + np.where(on, hidden, t)
    return total


def cp_variants(fab, T, kv_local, q_local, tp, cp, attn_f, attn_b, domain: int) -> dict[int, tuple]:
    """(forward, backward) exposed seconds of each ``cp_comm_type``, by its column code.

    Every rank of the ring sends at once, so a ring step lasts as long as its slowest hop: a ring
    whose ``tp x cp`` ranks span NVLink domains waits for the hop that leaves the domain."""
    kv_bytes = np.asarray(T, dtype=float) * 2.0 * kv_local * 2.0
    hop = np.where(tp * cp > domain, float(domain), tp)
    step = nc.send_recv(fab, kv_bytes, hop)
    step_b = nc.send_recv(fab, 2.0 * kv_bytes, hop)
    ring_f = np.maximum(0.0, (cp - 1) * step - attn_f)
    ring_b = np.maximum(0.0, (cp - 1) * step_b - attn_b)
    qkvo = np.asarray(T, dtype=float) * (2.0 * q_local + 2.0 * kv_local) * 2.0
    a2a = nc.all_to_all(fab, qkvo, cp, tp)
    ag = nc.all_gather(fab, kv_bytes * cp, cp, tp)
    on = np.asarray(cp) > 1
    return {P2P: (np.where(on, ring_f, 0.0), np.where(on, ring_b, 0.0)), A2A: (np.where(on, a2a, 0.0), np.where(on, a2a, 0.0)),
            ALLGATHER: (np.where(on, ag, 0.0), np.where(on, ag, 0.0))}


def dispatch_variants(fab, cluster, T_h, hidden: float, top_k: int, ep, etp, low_precision: bool) -> dict[int, np.ndarray]:
    """Seconds of one dispatch plus one combine under each dispatcher, by its column code."""
    T_h = np.asarray(T_h, dtype=float)
    ep = np.asarray(ep, dtype=float)
    copy_bytes = T_h * top_k * hidden
    d_bytes = _moe("fp8_dispatch_bytes") if low_precision else 2.0  # DeepEP dispatches fp8 where the recipe is
    a2a = 2.0 * nc.all_to_all(fab, copy_bytes * 2.0, ep, etp)
    gather = 2.0 * nc.all_gather(fab, T_h * hidden * 2.0 * ep, ep, etp)
    # DeepEP: ranks of the group per NVLink domain and the domains it spans
    g = np.minimum(ep, np.maximum(1.0, np.floor(cluster.domain_size / np.maximum(etp, 1))))
    d = ep / g
    nvl = cluster.scale_up.bw_gbs * 1e9 * _moe("deepep_nvlink_eff")
    rdma = nc.scale_out_gbs(fab, ep, etp, "all-to-all") * 1e9 * _moe("deepep_rdma_eff")
    per_token = T_h * hidden
    intra = per_token * top_k * (g - 1) / ep
    remote = per_token * (d - 1) * (1 - (1 - 1 / d) ** top_k)
    one_way = lambda b: np.maximum(intra * b / nvl, remote * b / rdma)  # noqa: E731
    flex = one_way(d_bytes) + one_way(2.0) + np.where(d > 1, 2 * nc.send_recv(fab, 1.0, cluster.domain_size), 0.0)
    on = ep > 1
    return {DISPATCH_A2A: np.where(on, a2a, 0.0), DISPATCH_AG: np.where(on, gather, 0.0), DISPATCH_FLEX: np.where(on, flex, 0.0)}


def etp_collectives(fab, tokens_routed, hidden: float, etp):
    """One all-gather of the routed tokens plus one reduce-scatter of the outputs over ETP ranks."""
    nbytes = np.asarray(tokens_routed, dtype=float) * hidden * 2.0 * np.asarray(etp, dtype=float)
    return np.where(np.asarray(etp) > 1, 2.0 * nc.all_gather(fab, nbytes, etp, 1), 0.0)


def pp_send(fab, T, hidden: float, tp, sp, stride):
    """One point-to-point activation send between neighbouring stages."""
    nbytes = np.where(np.asarray(sp) > 0, np.asarray(T, dtype=float) * hidden * 2.0 / tp, np.asarray(T, dtype=float) * hidden * 2.0)
    return nc.send_recv(fab, nbytes, stride)


def dp_times(fab, params_dense, params_expert, grad_bytes: float, dp, cp, tp, ep, etp):
    """(all-reduce, reduce-scatter, all-gather) seconds of the stage's gradients / parameters."""
    n_d = dp * cp
    n_e = dp * cp * tp / (ep * etp)
    rs = nc.reduce_scatter(fab, params_dense * grad_bytes, n_d, tp) + nc.reduce_scatter(fab, params_expert * grad_bytes, n_e, ep * etp)
    ag = nc.all_gather(fab, params_dense * 2.0, n_d, tp) + nc.all_gather(fab, params_expert * 2.0, n_e, ep * etp)
    ar = nc.all_reduce(fab, params_dense * grad_bytes, n_d, tp) + nc.all_reduce(fab, params_expert * grad_bytes, n_e, ep * etp)
    return ar, rs, ag
