"""Collective times as NCCL runs them, on the fabric as built: one model for the engine, the network
command and the benchmarks.

NCCL predicts every (algorithm, protocol) pair as ``latency + bytes / algorithm bandwidth`` and runs the
fastest (``ncclTopoTuneModel`` / ``ncclTopoGetAlgoTime``); so does this module, with NCCL's latency and
protocol constants (catalog ``network.nccl``) and link rates from the cluster and its built fabric.

Placement. A group of ``n`` ranks ``stride`` apart in Megatron rank order (TP innermost, then CP,
DP/EP, PP outermost), global ranks filling servers, NVLink domains and the leaves of a rail-optimised
fabric in order, keeps ``g = clip(domain // stride, 1, n)`` ranks per NVLink domain and spans
``m = ceil(n / g)`` domains ("nodes" in NCCL's sense: an NVL72 rack is one). Its ranks in one
level-i pod (the GPUs under one tier-i switch column) are ``clip(pod_gpus[i] // stride, 1, n)``.

Bus bandwidth of rings and trees across domains: each of the domain's g GPUs drives its own NICs
(one NCCL channel pair per NIC), so ``bus = min(B_nvl, g * B_nic * nic_eff * ring_frac)``; inside one
domain ``bus = B_nvl`` (NCCL's usable NVLink rate). Protocols scale it: LL 0.5 (4 data bytes per
8-byte flagged word), LL128 0.92 (120 of 128 bytes), Simple 1, with NCCL's per-channel caps.

* ring:      ``base + (steps - inter) * lat_nvl + inter * lat_net + steps/n * S / bus``
             (all-reduce: steps 2(n-1), inter 2(m-1); reduce-scatter / all-gather: n-1, m-1)
* tree:      double binary tree (all-reduce): ``base + 2((g-1) lat_nvl + log2(m) lat_net) + 2 S / (0.92 bus)``
* nvls:      NVLink SHARP in one domain: every GPU sends S and receives S once, ``S / (B_nvl * eff_nvls)``
* nvls-tree: NVLS in the domain, tree between domains, pipelined: the slower of the two
* collnet:   SHARP in the InfiniBand switches: each domain sends S up once and gets S back
* pat:       parallel aggregated trees (reduce-scatter / all-gather, one GPU per domain, NCCL 2.23+)
* all-to-all: grouped send/receive; the share leaving each level-i pod crosses its uplinks at the
  pod's cumulative oversubscription, with the fabric's all-to-all routing contention.

Measured corrections (catalog, estimates): NVLS runs at 0.76 of NCCL's NVLink rate on Hopper (8x H100
busbw 480 GB/s; NCCL's tuner assumes 0.85), and a pipeline ramp stretches every bandwidth term by
``1 + (ramp_bytes / S) ** ramp_power`` (S: the op's bytes, never a ring step's, so it does not grow with
the rank count): NCCL's ``lat + S/bw`` is optimistic between ~256 KB and ~256 MB, where it runs fewer and
smaller chunks. Both are fitted to published nccl-tests curves (docs/network.md lists every point).

Latency across the fabric: NCCL's network latencies stand for a crossing of one leaf; a group whose
flows cross spines or cores adds the extra one-way latency of those tiers (switch hops and fibre,
:mod:`.topology`): trees and PAT on every tree level that spans pods; CollNet, NVLS-SHARP, all-to-all
and send/receive once; rings not at all (in topology order only one hop per pod crosses a boundary:
well under 1% of a ring's per-step latency). All time functions broadcast numpy arrays over ``nbytes``,
``n``, ``stride``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ..errors import SpecError, closest
from ..specs import Cluster
from .fabric_view import CommFabric, as_cluster, comm_fabric
from .fabric_view import nccl_constants as _k

OPS = ("all-reduce", "reduce-scatter", "all-gather", "all-to-all")
PATTERNS = ("ring", "all-to-all")
PROTOCOLS = ("LL", "LL128", "Simple")
_ALIASES = {"allreduce": "all-reduce", "reducescatter": "reduce-scatter", "allgather": "all-gather",
            "alltoall": "all-to-all"}


# --------------------------------------------------------------------------- placement

_OFF = 1e30  # added to the latency of an algorithm a group cannot run (finite: no inf * 0)


class _Group:
    """Geometry of groups of n ranks `stride` apart (arrays over plans). Indicators are 0/1 floats so
    the formulas stay arithmetic (no masked selects): multi (spans domains), many (three or more
    domains: NCCL's N4 row), one (one GPU per domain)."""

    def __init__(self, fab: CommFabric, n: Any, stride: Any) -> None:
        self.n = n = np.maximum(np.asarray(n, dtype=float), 1.0)
        self.s = s = np.maximum(np.asarray(stride, dtype=float), 1.0)
        self.g = g = np.minimum(np.maximum(np.floor(fab.domain / s), 1.0), n)
        self.m = m = np.ceil(n / g)
        self.multi = np.minimum(m - 1.0, 1.0)
        self.many = np.clip(m - 2.0, 0.0, 1.0)
        self.one = np.maximum(2.0 - g, 0.0)
        self.log2m = np.frexp(m)[1] - 1.0  # floor(log2 m): m = f * 2^e with f in [0.5, 1)
        self.active = np.minimum(n - 1.0, 1.0)
        # pods: the group (ranks 0, s, .., (n-1) s) crosses tier i+1 when its last GPU leaves the level-i
        # pod of the first; a tree spends floor(log2(last / pod)) of its levels above that tier
        last = (n - 1.0) * s
        ext = tex = 0.0
        if fab.pod_gpus:
            log2last = np.frexp(np.maximum(last, 1.0))[1] - 1.0
            lat = fab.net_latency_us
            for i, pod in enumerate(fab.pod_gpus):
                if not math.isfinite(pod):
                    break
                cd = np.minimum(np.floor(last / pod), 1.0) * (lat[i + 1] - lat[i])
                ext = ext + cd
                tex = tex + cd * np.maximum(log2last - math.log2(pod) + 1.0, 0.0)
        self.top_extra = ext  # one-way latency above a leaf crossing, to the highest tier crossed (us)
        self.tree_extra = tex  # the same summed over the tree levels that cross those tiers (us)

    def bus(self, fab: CommFabric) -> np.ndarray:
        """Ring/tree bus bandwidth (GB/s): NVLink inside a domain; across, min(NVLink, g NICs)."""
        return np.minimum(self.g * fab.ring_gbs + (1.0 - self.multi) * _OFF, fab.nvl_gbs)

    def a2a_worst(self, fab: CommFabric) -> np.ndarray:
        """Scale-out bytes per byte sent, weighted by the oversubscription of each pod boundary crossed:
        (n-g)/n leave the domain; (n - in_pod)/n leave each level-i pod over uplinks oversubscribed
        pod_over[i]:1, every GPU of the pod doing the same."""
        n, worst = self.n, (self.n - self.g) / self.n
        for pod, over in zip(fab.pod_gpus, fab.pod_over, strict=True):
            if over > 1.0 and math.isfinite(pod):
                inside = np.minimum(np.maximum(np.floor(pod / self.s), 1.0), n)
                worst = np.maximum(worst, (n - inside) / n * over)
        return worst


def _op(op: str) -> str:
    key = op.replace("_", "-").lower()
    key = _ALIASES.get(key.replace("-", ""), key)
    if key not in OPS:
        raise SpecError("op", f"unknown collective {op!r}", OPS, closest(op, OPS))
    return key


# --------------------------------------------------------------------------- candidates
# Each candidate is `latency (s) + nbytes * seconds-per-byte`, both depending on the group only; tree
# all-reduce rows also take NCCL's size correction. _Coeffs stacks them: lat, inv of shape (K, groups).


@dataclass(frozen=True)
class _Coeffs:
    names: tuple[str, ...]
    lat: np.ndarray  # (K, ...) seconds
    inv: np.ndarray  # (K, ...) seconds per byte
    tree: tuple[int, ...]  # rows of tree/LL, tree/LL128, tree/Simple (size-corrected), or ()
    active: np.ndarray  # 1 where the group has two or more ranks
    buffers: tuple[np.ndarray, np.ndarray]  # the full row buffers lat and inv are views of


_MAX_ROWS = 10  # ring x3, tree x3, nvls, nvls-sharp, nvls-tree, collnet


class _Rows:
    """Candidate rows written straight into (rows, groups) buffers, recycled from an evicted memo entry:
    few fresh large arrays per miss (new memory pages cost more here than the arithmetic)."""

    def __init__(self, G: _Group, buffers: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.G, self.shape = G, np.broadcast(G.n, G.s).shape
        full = (_MAX_ROWS, *self.shape)
        if buffers is not None and buffers[0].shape == full:
            self.lat, self.inv = buffers
        else:
            self.lat, self.inv = np.empty(full), np.empty(full)
        self.names: list[str] = []
        self.tree: tuple[int, ...] = ()

    def add(self, name: str, lat_s: Any, inv: Any) -> None:
        i = len(self.names)
        self.lat[i], self.inv[i] = lat_s, inv
        self.names.append(name)

    def done(self) -> _Coeffs:
        k = len(self.names)
        return _Coeffs(tuple(self.names), self.lat[:k], self.inv[:k], self.tree,
                       np.broadcast_to(self.G.active, self.shape), (self.lat, self.inv))


def _row(fab: CommFabric, name: str, G: _Group) -> float | np.ndarray:
    """NCCL per-channel cap row [N1, N2, N4+] of this family as GB/s for the group, times channels."""
    r = _k()[name].get(fab.family) or [0.0, 0.0, 0.0]
    return fab.channels * (r[0] + G.multi * (r[1] - r[0]) + G.many * (r[2] - r[1]))


def _capped(fab: CommFabric, bw: np.ndarray, name: str, G: _Group) -> np.ndarray:
    """min(bw, channels x per-channel cap) where the cap can bind on this fabric."""
    r = _k()[name].get(fab.family)
    if not r or fab.channels * min(r) >= fab.nvl_gbs:
        return bw
    return np.minimum(bw, _row(fab, name, G))


def _ll_max(fab: CommFabric, G: _Group) -> np.ndarray:
    k = _k()
    single, multi = k["ll_max_gbs_single"][fab.family], k["ll_max_gbs_multi"]
    return single + G.multi * (multi[1] - single) + G.many * (multi[2] - multi[1])


def _ring_rows(fab: CommFabric, G: _Group, rows: _Rows, allreduce: bool, ll_max: np.ndarray, bus: np.ndarray) -> None:
    """Ring latency and seconds per byte per protocol: steps 2(n-1) (all-reduce) or n-1, of which
    2(m-1) or m-1 cross the network; NCCL's net latency is the tree's with one GPU per domain."""
    k = _k()
    hw, net, tnet, base = (k["nvlink_latency_us"]["ring"], k["net_latency_us"]["ring"], k["net_latency_us"]["tree"],
                           k["base_latency_us"]["ring"])
    f = 2.0 if allreduce else 1.0
    intra_steps, inter_steps = f * (G.n - G.m), f * (G.m - 1.0)
    per_byte = f * (G.n - 1.0) / G.n * 1e-9
    for p, proto in enumerate(PROTOCOLS):
        overhead = k["net_overhead_us"] * (k["net_overhead_simple_factor"] if proto == "Simple" else 1.0)
        intra = hw[p] + G.multi * max(overhead - hw[p], 0.0)
        lat = base[p] + intra_steps * intra + inter_steps * (net[p] + G.one * (tnet[p] - net[p]))
        if proto == "Simple" and allreduce:  # NCCL's ring plateau on multi-node all-reduce
            lat = lat * (1.0 + G.multi * (k["ring_plateau_factor"] - 1.0))
        if proto == "LL":
            bw = np.minimum(bus * k["ring_ll_factor"], ll_max)
        elif proto == "LL128":
            bw = _capped(fab, bus * k["ring_ll128_factor"], "ring_ll128_per_channel_gbs", G)
        else:
            bw = bus
        rows.add(f"ring/{proto}", lat * 1e-6, per_byte / bw)


def _tree_rows(fab: CommFabric, G: _Group, rows: _Rows, ll_max: np.ndarray, bus: np.ndarray) -> None:
    """Double binary tree all-reduce: 2 S over the bus at 0.92 (algbw = bus / 2), latency
    2 ((g-1) NVLink hops + log2(m) network hops), NCCL's protocol factors and caps."""
    k = _k()
    hw, net, base = k["nvlink_latency_us"]["tree"], k["net_latency_us"]["tree"], k["base_latency_us"]["tree"]
    busbw = _capped(fab, bus * k["tree_allreduce_factor"], "tree_per_channel_gbs", G)
    ll128 = k["tree_ll128_factor_single"] + G.multi * (k["tree_ll128_factor_multi"] - k["tree_ll128_factor_single"])
    bws = (np.minimum(busbw * k["tree_ll_factor"], ll_max),
           _capped(fab, busbw * ll128, "tree_ll128_per_channel_gbs", G), busbw)
    first = len(rows.names)
    for p, proto in enumerate(PROTOCOLS):
        extra = G.tree_extra * (2.0 if proto == "Simple" else 1.0)
        lat = base[p] + 2.0 * ((G.g - 1.0) * hw[p] + G.log2m * net[p] + extra)
        rows.add(f"tree/{proto}", lat * 1e-6, 1e-9 / (bws[p] * k["tree_to_algbw"]))
    rows.tree = (first, first + 1, first + 2)


def _nvls_gbs(fab: CommFabric) -> float:
    """NVLS algorithm bandwidth in one domain: NVLink x NVLS efficiency, one channel kept for control."""
    return fab.nvl_gbs * fab.nvls_eff * (fab.channels - 1) / fab.channels


def _all_reduce_coeffs(fab: CommFabric, G: _Group, rows: _Rows) -> _Coeffs:
    k = _k()
    bus, ll_max = G.bus(fab), _ll_max(fab, G)
    _ring_rows(fab, G, rows, True, ll_max, bus)
    _tree_rows(fab, G, rows, ll_max, bus)
    net = G.g * fab.ring_gbs  # the domain's NICs, per GPU of it
    single, across = (1.0 - G.multi) * _OFF, G.multi * _OFF  # off across domains / inside one
    shared = G.one * _OFF  # NVLS reduces in the NVSwitch: it needs two or more ranks of the domain
    if fab.nvls:
        nv, lat = _nvls_gbs(fab), k["nvlink_latency_us"]["nvls"]
        rows.add("nvls", lat * 1e-6 + across + shared, 1e-9 / nv)  # one domain: each GPU sends and receives S once
        if fab.sharp:  # NVLS + CollNet: reduced in the NVSwitch, then once in the IB switches
            rows.add("nvls-sharp", (lat + k["net_latency_us"]["nvls"] + G.top_extra) * 1e-6 + single + shared,
                     1e-9 / np.minimum(nv, net))
        # NVLS in the domain, double binary tree between domains (two domains: one exchange, twice the rate)
        tree_gbs = net * k["tree_to_algbw"] * (2.0 - G.many)
        cap = _row(fab, "nvls_tree_per_channel_gbs", G) * k["tree_to_algbw"]
        bw = np.minimum(np.minimum(nv, tree_gbs), cap + (cap <= 0) * _OFF)
        lat = k["nvlink_latency_us"]["nvls_tree"] + 2.0 * G.log2m * k["net_latency_us"]["nvls_tree"] + 4.0 * G.tree_extra
        rows.add("nvls-tree", lat * 1e-6 + single + shared, 1e-9 / bw)
    if fab.sharp:  # CollNet direct: RS/AG in the domain, each domain's share reduced once in the switches
        factor = k["collnet_hopper_factor"] if fab.family != "ampere" else 1.0
        g1 = G.g - 1.0
        intra = fab.nvl_gbs * G.g / np.maximum(2.0 * g1, 1e-30)
        lat = (2.0 * (np.minimum(1.0, g1) * k["nvlink_latency_us"]["collnet_direct"] + g1 * k["collnet_arity_us"])
               + k["net_latency_us"]["collnet_direct"] + 2.0 * G.top_extra)
        rows.add("collnet", lat * 1e-6 + single, 1e-9 / np.minimum(net * factor, intra))
    return rows.done()


def _gather_coeffs(fab: CommFabric, G: _Group, rows: _Rows) -> _Coeffs:
    """Reduce-scatter and all-gather (same cost): ring, PAT at one GPU per domain, NVLS in one domain."""
    k = _k()
    bus = G.bus(fab)
    _ring_rows(fab, G, rows, False, _ll_max(fab, G), bus)
    lat = (k["base_latency_us"]["pat"][2] + G.log2m * (k["net_latency_us"]["pat"] + 2.0 * G.tree_extra)
           / k["pat_log_latency_divisor"] + G.n * k["pat_per_rank_us"])
    rows.add("pat", lat * 1e-6 + (1.0 - G.one) * _OFF, 1e-9 / (bus * k["pat_factor"]))
    if fab.nvls:  # multicast in the NVSwitch: each GPU moves (g-1)/g of the buffer once
        rows.add("nvls", k["nvlink_latency_us"]["nvls"] * 1e-6 + (G.multi + G.one) * _OFF,
                 (1.0 - 1.0 / G.g) * 1e-9 / _nvls_gbs(fab))
    return rows.done()


def _a2a_coeffs(fab: CommFabric, G: _Group, rows: _Rows) -> _Coeffs:
    """All-to-all as grouped send/receive: (g-1)/n of the bytes over NVLink, the rest over the NICs at
    the worst pod boundary's oversubscription and the fabric's all-to-all contention."""
    k = _k()
    lat = k["a2a_base_us"] + (G.n - 1.0) * k["a2a_per_peer_us"] + G.top_extra
    t_in = (G.g - 1.0) / G.n * 1e-9 / (fab.nvl_gbs * k["a2a_nvlink_efficiency"])
    t_out = G.multi * G.a2a_worst(fab) * 1e-9 / (fab.nic_eff_gbs * fab.a2a_frac)
    rows.add("p2p", lat * 1e-6, np.maximum(t_in, t_out))
    return rows.done()


_BUILD = {"all-reduce": _all_reduce_coeffs, "reduce-scatter": _gather_coeffs, "all-gather": _gather_coeffs,
          "all-to-all": _a2a_coeffs}
_LOCAL = threading.local()  # per-thread memo and work arrays: no state shared between threads
_CACHE_SIZE = 8
_CACHE_MIN = 256  # groups; fewer are cheaper to recompute than to look up


def _coeffs(fab: CommFabric, op: str, n: Any, stride: Any) -> _Coeffs:
    """Candidate coefficients for these groups; the last few large (n, stride) arrays are memoised by
    content, per thread (the engine costs several collectives over the same group columns)."""
    kind = "gather" if op in ("reduce-scatter", "all-gather") else op
    n_, s_ = np.asarray(n, dtype=float), np.asarray(stride, dtype=float)
    if max(n_.size, s_.size) < _CACHE_MIN:
        G = _Group(fab, n_, s_)
        return _BUILD[op](fab, G, _Rows(G))
    memo: dict[tuple, tuple[np.ndarray, np.ndarray, _Coeffs]] = _LOCAL.__dict__.setdefault("memo", {})
    key = (fab, kind, n_.shape, s_.shape, _fingerprint(n_), _fingerprint(s_))
    hit = memo.get(key)
    if hit is not None and np.array_equal(hit[0], n_) and np.array_equal(hit[1], s_):
        return hit[2]
    recycled = None
    if len(memo) >= _CACHE_SIZE:
        recycled = memo.pop(next(iter(memo)))[2].buffers
    co = _build_distinct(fab, op, n_, s_, recycled)
    if co is None:
        G = _Group(fab, n_, s_)
        co = _BUILD[op](fab, G, _Rows(G, recycled))
    memo[key] = (n_.copy(), s_.copy(), co)
    return co


_LUT_MAX = 1 << 22  # largest rank count or stride the distinct-value tables index directly


def _codes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(distinct values, code of each entry) of a non-negative integer-valued array, by a lookup table
    (O(size + max), no sort); None when the values are not such integers or too large."""
    xi = x.astype(np.intp)
    top = int(xi.max()) if xi.size else 0
    if top >= _LUT_MAX or int(xi.min()) < 0 or not np.array_equal(xi, x):
        return None
    lut = np.zeros(top + 1, dtype=np.intp)
    lut[xi] = 1
    values = np.flatnonzero(lut)
    lut[values] = np.arange(values.size)
    return values, lut[xi]


def _build_distinct(fab: CommFabric, op: str, n: np.ndarray, s: np.ndarray, recycled) -> _Coeffs | None:
    """The candidates computed once per distinct (n, stride) pair and spread to every plan (a plan
    column holds a few dozen distinct groups); None when the columns are not integer-valued or too
    varied, and the caller computes them per entry."""
    shape = np.broadcast_shapes(n.shape, s.shape)
    size = math.prod(shape)
    n_c, s_c = _codes(np.broadcast_to(n, shape).ravel()), _codes(np.broadcast_to(s, shape).ravel())
    if n_c is None or s_c is None:
        return None
    pair = n_c[1] * s_c[0].size + s_c[1]
    seen = np.bincount(pair, minlength=n_c[0].size * s_c[0].size)
    distinct = np.flatnonzero(seen)
    if distinct.size * 4 > size:
        return None
    lut = np.zeros(seen.size, dtype=np.intp)
    lut[distinct] = np.arange(distinct.size)
    where = lut[pair]
    G = _Group(fab, n_c[0][distinct // s_c[0].size].astype(float), s_c[0][distinct % s_c[0].size].astype(float))
    small = _BUILD[op](fab, G, _Rows(G))
    k = len(small.names)
    full = (_MAX_ROWS, *shape)
    lat, inv = recycled if recycled is not None and recycled[0].shape == full else (np.empty(full), np.empty(full))
    np.take(small.lat, where, axis=1, out=lat[:k].reshape(k, size), mode="clip")
    np.take(small.inv, where, axis=1, out=inv[:k].reshape(k, size), mode="clip")
    active = np.take(np.asarray(small.active), where).reshape(shape)
    return _Coeffs(small.names, lat[:k], inv[:k], small.tree, active, (lat, inv))


@cache
def _weights(size: int) -> np.ndarray:
    return np.random.default_rng(size).random(size)


def _fingerprint(x: np.ndarray) -> float:
    """A content hash good enough to find the cache entry (equality is checked on a hit)."""
    return float(np.add.reduce(x.ravel() * _weights(x.size))) if x.size else 0.0


@cache
def _tree_correction() -> np.ndarray:
    """NCCL's tree size correction per protocol indexed by the binary exponent of the size (frexp)."""
    corr = np.asarray(_k()["tree_correction"], dtype=float)
    out = np.ones((3, 80))
    e = np.arange(80)
    octave = e - 7  # frexp exponent e: floor(log2 S) = e - 1, octave = floor(log2(S / 64))
    ok = (octave >= 0) & (octave < corr.shape[1])
    out[:, ok] = 1.0 / corr[:, octave[ok]]
    return out


def _scratch(shape: tuple[int, ...]) -> np.ndarray:
    """A per-thread work array of this shape, reused across calls (fresh pages are the slow part)."""
    bufs = _LOCAL.__dict__.setdefault("bufs", {})
    buf = bufs.get(shape)
    if buf is None:
        if len(bufs) >= 8:
            bufs.pop(next(iter(bufs)))
        buf = bufs[shape] = np.empty(shape)
    return buf


def _times(co: _Coeffs, nbytes: Any) -> np.ndarray:
    """(K, ...) seconds of every candidate, in a per-thread work array valid until the next call."""
    S = np.maximum(np.asarray(nbytes, dtype=float), 0.0)
    inv, lat = co.inv, co.lat
    if S.ndim > inv.ndim - 1:  # sizes with more dimensions than the groups: align the group axes right
        pad = (inv.shape[0],) + (1,) * (S.ndim - inv.ndim + 1) + inv.shape[1:]
        inv, lat = inv.reshape(pad), lat.reshape(pad)
    # the pipeline ramp stretches every bandwidth term alike (module doc); float32 power: numpy's float64
    # power is ~20x slower here, and 1e-7 is plenty
    k = _k()
    ramp = np.power((k["ramp_bytes"] / np.maximum(S, 1.0)).astype(np.float32), np.float32(k["ramp_power"]))
    t = np.multiply(S * (1.0 + ramp), inv, out=_scratch(np.broadcast_shapes(S.shape, inv.shape)))
    if co.tree:
        e = np.clip(np.frexp(S)[1], 0, 79)
        corr = np.take(_tree_correction(), e, axis=1)  # (3, *S.shape): align S's axes right in t
        t[co.tree[0]:co.tree[-1] + 1] *= corr.reshape((3,) + (1,) * (t.ndim - 1 - S.ndim) + S.shape)
    t += lat
    return t


def _best(co: _Coeffs, nbytes: Any) -> np.ndarray:
    S = np.maximum(np.asarray(nbytes, dtype=float), 0.0)
    t = _times(co, S)
    return t.min(axis=0) * co.active * np.minimum(S, 1.0)  # nothing moves: 0 s (sub-byte sizes scale to 0)


# --------------------------------------------------------------------------- public API


def all_reduce(fab: CommFabric, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for an all-reduce of an `nbytes` buffer over n ranks `stride` apart (NCCL's fastest)."""
    return _best(_coeffs(fab, "all-reduce", n, stride), nbytes)


def reduce_scatter(fab: CommFabric, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for a reduce-scatter of an `nbytes` input (each rank keeps nbytes/n)."""
    return _best(_coeffs(fab, "reduce-scatter", n, stride), nbytes)


def all_gather(fab: CommFabric, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for an all-gather into an `nbytes` output (each rank contributes nbytes/n)."""
    return _best(_coeffs(fab, "all-gather", n, stride), nbytes)


def all_to_all(fab: CommFabric, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for an all-to-all where each rank sends `nbytes` in total (its own share included)."""
    return _best(_coeffs(fab, "all-to-all", n, stride), nbytes)


def collective(fab: CommFabric, op: str, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Seconds for `op` by name (one of OPS; aliases such as "allreduce" accepted)."""
    return _best(_coeffs(fab, _op(op), n, stride), nbytes)


def send_recv(fab: CommFabric, nbytes: Any, stride: Any) -> np.ndarray:
    """Seconds for one point-to-point message between ranks `stride` apart (pipeline stages, CP rings):
    NVLink inside a domain; across, the GPU's NICs and the latency of the tiers between the two. Every
    rank sends to its peer at once (a pipeline or CP step), so when the peer sits outside a level-i pod
    all the pod's GPUs push through its uplinks: the rate is divided by their oversubscription.
    Zero bytes cost zero (a term that moves nothing, like every function here); one byte gives the
    hop's latency."""
    k = _k()
    S = np.maximum(np.asarray(nbytes, dtype=float), 0.0)
    s = np.maximum(np.asarray(stride, dtype=float), 1.0)
    out = np.minimum(np.floor(s / fab.domain), 1.0)  # 1 when the peer is in another domain
    lat = fab.net_latency_us
    extra, over = 0.0, 1.0
    for i, (pod, o) in enumerate(zip(fab.pod_gpus, fab.pod_over, strict=True)):
        if math.isfinite(pod):
            cross = np.minimum(np.floor(s / pod), 1.0)
            extra = extra + cross * (lat[i + 1] - lat[i])
            over = np.maximum(over, 1.0 + cross * (o - 1.0))
    t_in = k["p2p_nvlink_latency_us"] * 1e-6 + S * (1e-9 / fab.nvl_gbs)
    t_out = (k["p2p_net_latency_us"] + extra) * 1e-6 + S * over * (1e-9 / fab.nic_eff_gbs)
    return (t_in + out * (t_out - t_in)) * np.minimum(S, 1.0)


def scale_out_gbs(fab: CommFabric, n: Any, stride: Any, pattern: str) -> np.ndarray:
    """Achieved scale-out GB/s per GPU for a group's `pattern` ("ring" or "all-to-all"): the bytes that
    leave its NVLink domain over the time they take, with the oversubscription of the pod boundaries
    crossed, rails (all NICs of the GPU) and the fabric's routing contention for that pattern. A ring
    in topology order crosses each boundary once per pod: it runs at the NIC rate."""
    if pattern not in PATTERNS:
        raise SpecError("pattern", f"unknown traffic pattern {pattern!r}", PATTERNS, closest(pattern, PATTERNS))
    G = _Group(fab, n, stride)
    if pattern == "ring":
        return np.full(np.broadcast(G.n, G.s).shape, fab.ring_gbs)
    leaving = (G.n - G.g) / G.n
    worst = G.a2a_worst(fab)
    return fab.nic_eff_gbs * fab.a2a_frac * np.where(leaving > 0, leaving / np.maximum(worst, 1e-30), 1.0)


def algorithm(fab: CommFabric, op: str, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """Names of the algorithm/protocol NCCL's model picks: "ring/LL", "ring/LL128", "ring/Simple",
    "tree/..." (all-reduce), "nvls", "nvls-tree", "nvls-sharp", "collnet", "pat", "p2p" (all-to-all);
    "none" where nothing moves."""
    co = _coeffs(fab, _op(op), n, stride)
    S = np.maximum(np.asarray(nbytes, dtype=float), 0.0)
    pick = np.argmin(_times(co, S), axis=0)
    names = np.array([*co.names, "none"])
    moving = (co.active * np.minimum(S, 1.0)) > 0
    return names[np.where(moving, pick, len(co.names))]


def bus_bandwidth(fab: CommFabric, op: str, nbytes: Any, n: Any, stride: Any = 1) -> np.ndarray:
    """GB/s in nccl-tests' busbw convention: all-reduce algbw * 2(n-1)/n, the others algbw * (n-1)/n."""
    key = _op(op)
    t = collective(fab, key, nbytes, n, stride)
    n_ = np.maximum(np.asarray(n, dtype=float), 1.0)
    factor = 2 * (n_ - 1) / n_ if key == "all-reduce" else (n_ - 1) / n_
    moved = np.asarray(nbytes, dtype=float) * factor / 1e9
    return np.where(t > 0, moved / np.where(t > 0, t, 1.0), 0.0)


def reference_collectives(cluster: Cluster) -> list[dict[str, Any]]:
    """The collectives the network command reports: a 2 GB gradient all-reduce inside one NVLink domain
    and over one rank per server of the whole cluster (data parallel behind TP = server), a 1 GB
    all-gather over the same ranks, and a 256 MB all-to-all over 64 consecutive ranks (expert parallel)."""
    cluster = as_cluster(cluster)
    fab, gpus = comm_fabric(cluster), cluster.num_gpus
    gps = fab.gpus_per_server
    cases = [("all-reduce", 2e9, fab.domain, 1), ("all-reduce", 2e9, max(gpus // gps, 1), gps),
             ("all-gather", 1e9, max(gpus // gps, 1), gps), ("all-to-all", 2.56e8, min(64, gpus), 1)]
    out = []
    for op, nbytes, n, stride in cases:
        out.append({"op": op, "bytes": nbytes, "ranks": int(n), "stride": int(stride),
                    "seconds": float(collective(fab, op, nbytes, n, stride)),
                    "busbw_gbs": float(bus_bandwidth(fab, op, nbytes, n, stride)),
                    "algorithm": str(algorithm(fab, op, nbytes, n, stride))})
    return out


__all__ = ["OPS", "PATTERNS", "PROTOCOLS", "CommFabric", "algorithm", "all_gather", "all_reduce", "all_to_all",
           "bus_bandwidth", "collective", "comm_fabric", "reference_collectives", "reduce_scatter", "scale_out_gbs", "send_recv"]
