"""Collective times on the built network: alpha-beta cost per algorithm, bandwidth from the bottleneck
link's load, latency from the switch hops the group spans.

`bytes` is the buffer per rank: all-reduce the tensor, reduce-scatter its input, all-gather its
output, all-to-all what each rank sends in total (its own share included), p2p the message.

A group of n ranks has g ranks in each NVLink domain and m = n/g domains. With NCCL's channels each
rank's NIC carries its share, so a ring crossing domains runs at the bus bandwidth
``B = min(B_nvl, g * B_nic)`` (B_nic: the GPU's NICs, times `efficiency` for contention). Steps whose
partners sit in other level-i pods while every rank of the fabric does the same (halving-doubling,
all-to-all) also share the pod's uplinks: bandwidth / cumulative oversubscription of that level.

* ring:            2(n-1)/n * S / B + 2(n-1) * alpha        (RS/AG: half of each term)
* tree:            2 S / B + 2 ceil(log2 m) * alpha + 2(g-1) * alpha_nvl   (pipelined double binary tree)
* hierarchical:    RS in the domain (NVLink), ring all-reduce of S/g across domains, AG in the domain
* halving-doubling: sum over steps k of S/2^(k+1) at the bandwidth of the tier the partner 2^k away is in
* sharp:           in-network reduction (SHARP): RS/AG in the domain, S/g up and down once, 2h hop latency
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import SpecError
from .topology import Topology

OPS = ("all-reduce", "reduce-scatter", "all-gather", "all-to-all", "p2p")
ALGORITHMS = ("auto", "ring", "tree", "hierarchical", "halving-doubling", "sharp")
_ALIASES = {"allreduce": "all-reduce", "reducescatter": "reduce-scatter", "allgather": "all-gather",
            "alltoall": "all-to-all", "sendrecv": "p2p", "point-to-point": "p2p"}


def group_ranks(group: Any) -> np.ndarray:
    """Global GPU ranks of a group given as ranks, an int n (ranks 0..n-1), (n, stride[, offset]) or
    {"size": n, "stride": s, "offset": o}."""
    if isinstance(group, dict):
        n, s, o = int(group["size"]), int(group.get("stride", 1)), int(group.get("offset", 0))
        return o + s * np.arange(n, dtype=np.int64)
    if isinstance(group, int | np.integer):
        return np.arange(int(group), dtype=np.int64)
    if isinstance(group, tuple) and len(group) in (2, 3) and all(isinstance(x, int | np.integer) for x in group):
        n, s, o = (*group, 0)[:3]
        return int(o) + int(s) * np.arange(int(n), dtype=np.int64)
    r = np.asarray(group, dtype=np.int64).ravel()
    if r.size == 0:
        raise SpecError("group", "is empty")
    return r


def collective_time(topology: Topology, op: str, nbytes: float, group: Any, algorithm: str = "auto", *,
                    efficiency: float = 1.0) -> float:
    """Seconds for one collective of `nbytes` per rank over `group` on `topology` (see module doc)."""
    op = _ALIASES.get(op.replace("_", "-").lower().replace("-", ""), op.replace("_", "-").lower())
    if op not in OPS:
        raise SpecError("op", f"unknown collective {op!r}", OPS)
    if algorithm not in ALGORITHMS:
        raise SpecError("algorithm", f"unknown algorithm {algorithm!r}", ALGORITHMS)
    if not 0 < efficiency <= 1:
        raise SpecError("efficiency", f"must be in (0, 1], got {efficiency}")
    t = topology
    ranks = group_ranks(group)
    if ranks.max() >= t.gpus or ranks.min() < 0:
        raise SpecError("group", f"ranks must lie in 0..{t.gpus - 1}")
    n = ranks.size
    S = float(nbytes)
    if n == 1 or S <= 0:
        return 0.0
    doms, per = np.unique(ranks // t.gpus_per_domain, return_counts=True)
    m, g = doms.size, int(per.max())
    level = int(t.level_between(ranks[0], ranks).max())  # tree levels are ultrametric: one row suffices
    b_nvl = t.scale_up_gbs * 1e9
    b_nic = t.nic_gbs_per_gpu * 1e9 * efficiency
    a_nvl = t.scale_up_latency_us * 1e-6
    a_net = t.latency_us(int(ranks[0]), int(ranks[-1])) * 1e-6 if level else a_nvl
    bus = b_nvl if m == 1 else min(b_nvl, g * b_nic)
    alpha = a_nvl if m == 1 else a_net
    if op == "p2p":
        lv = int(t.level_between(ranks[0], ranks[-1]))
        return t.latency_us(int(ranks[0]), int(ranks[-1])) * 1e-6 + S / (b_nvl if lv == 0 else b_nic)
    if op == "all-to-all":
        worst = (n - g) / n  # share of a rank's data leaving its domain, over its NICs
        for lv in range(1, level):  # share leaving each level-lv pod x that pod's oversubscription
            worst = max(worst, (n - _pod_ranks(t, ranks, lv)) / n * t.cum_oversubscription(lv))
        inter = S * worst / b_nic if m > 1 else 0.0
        return alpha + max(S * (g - 1) / n / b_nvl, inter)
    if op in ("reduce-scatter", "all-gather"):
        return _all_reduce(t, ranks, S, algorithm, n, m, g, bus, b_nvl, b_nic, a_nvl, alpha, level) / 2.0
    return _all_reduce(t, ranks, S, algorithm, n, m, g, bus, b_nvl, b_nic, a_nvl, alpha, level)


def _all_reduce(t, ranks, S, algorithm, n, m, g, bus, b_nvl, b_nic, a_nvl, alpha, level) -> float:
    def ring() -> float:
        return 2 * (n - 1) / n * S / bus + 2 * (n - 1) * alpha

    def tree() -> float:
        return 2 * S / bus + 2 * math.ceil(math.log2(max(m, 2))) * alpha + 2 * (g - 1) * a_nvl

    def hier() -> float:
        intra = 2 * (g - 1) / g * S / b_nvl + 2 * (g - 1) * a_nvl
        if m == 1:
            return intra
        return intra + 2 * (m - 1) / m * (S / g) / b_nic + 2 * (m - 1) * alpha

    def rhd() -> float:
        steps = int(math.floor(math.log2(n)))
        total = 0.0
        for k in range(steps):
            lv = int(t.level_between(ranks[0], ranks[min(n - 1, 1 << k)]))
            bw = b_nvl if lv == 0 else b_nic / t.cum_oversubscription(lv - 1)
            total += 2 * (S / 2 ** (k + 1) / bw + (a_nvl if lv == 0 else alpha))
        return total

    def sharp() -> float:
        intra = 2 * (g - 1) / g * S / b_nvl + 2 * (g - 1) * a_nvl
        return intra + (S / g) / b_nic + alpha + 2 * max(level - 1, 0) * t.hop_latency_us * 1e-6

    algs = {"ring": ring, "tree": tree, "hierarchical": hier, "halving-doubling": rhd}
    if t.sharp:
        algs["sharp"] = sharp
    if algorithm == "auto":
        return min(f() for f in algs.values())
    if algorithm not in algs:
        raise SpecError("algorithm", f"{algorithm!r} needs in-network reduction, which {t.fabric} lacks",
                        sorted(algs))
    return algs[algorithm]()


def _pod_ranks(t: Topology, ranks: np.ndarray, level: int) -> int:
    """Most group ranks sharing one level-`level` pod (on the first rank's rail)."""
    rail = np.full(ranks.shape, int(ranks[0] % t.gpus_per_server) * t.nics_per_gpu)
    _, leaf = t.leaf_of(ranks, rail)
    span = math.prod(t.branch_by_tier[1:level])
    return int(np.unique(leaf // span, return_counts=True)[1].max())
