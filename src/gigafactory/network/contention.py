"""Flow-level contention on the built fat tree: ECMP hashing vs adaptive routing, max-min fair sharing.

Every flow is a long-lived transfer between two NIC ports of one plane. Links are explicit arrays:
NIC up/down, and at each tier i < L the uplinks of every switch *column* of every level-i pod (the
column model of :mod:`.topology`; packed partial pods are approximated by full columns with the same
down/up ratio). Routing:

* ``ecmp``: at each tier going up, a flow takes uplink ``hash(flow) mod up[i]`` (a seeded uniform draw
  stands in for the 5-tuple hash); the way down is then fixed by the destination. ``qps`` flows per
  connection (RoCE queue pairs, each with its own UDP source port) are hashed independently.
* ``adaptive``: per-packet adaptive routing / spraying in its fluid limit: each flow is spread evenly
  over all equal-cost paths, so the links of a pod's tier act as one link of their summed capacity.

Rates are max-min fair (progressive filling, vectorised over links with numpy). The effective fraction
is the aggregate rate over the aggregate rate of the same flows on an ideal crossbar (NIC links only):
``metric="throughput"``. ``metric="completion"`` is instead the ideal over the actual finishing time of
equal-sized flows, set by the most loaded link (bulk-synchronous collectives wait for the last flow).

Sampling: one plane is simulated (planes are identical copies). Fabrics with more than
``contention.max_sim_endpoints`` ports per plane keep their first servers, i.e. whole leaves and whole
pods with the real port counts and ECMP fan-outs; only the number of top-level pods shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from .. import catalog
from ..errors import SpecError
from .topology import Topology

PATTERNS = ("dp-allreduce", "permutation", "all-to-all")
ROUTINGS = ("ecmp", "adaptive")
METRICS = ("throughput", "completion")


@cache
def _consts() -> dict[str, float]:
    return {k: float(v) for k, v in catalog.entry("network", "contention").items() if isinstance(v, int | float)}


@dataclass(frozen=True)
class Contention:
    pattern: str
    routing: str
    flows: int  # connections simulated
    sim_endpoints: int
    sampled: bool
    throughput: float  # aggregate max-min rate / ideal crossbar
    completion: float  # ideal / actual finishing time of equal-sized flows
    uplink_used: float  # fraction of leaf uplinks carrying >= 1 flow (ECMP balls in bins)
    uplink_used_expected: float  # balls-in-bins expectation for the same per-leaf flow counts
    iterations: int


def balls_in_bins(balls: Any, bins: int) -> Any:
    """Expected fraction of `bins` links used when `balls` flows are hashed onto them: 1-(1-1/m)^n."""
    return 1.0 - (1.0 - 1.0 / bins) ** np.asarray(balls, dtype=float)


def maxmin(paths: np.ndarray, cap: np.ndarray) -> tuple[np.ndarray, int]:
    """Max-min fair rates of flows on `paths` (F x H link ids; id len(cap)-1 is a dummy of infinite
    capacity padding short paths). Returns (rates, rounds).

    Progressive filling done in bulk: each round, a link whose fair share (remaining capacity over its
    unfrozen flows) is the smallest share on the path of every one of its flows is a bottleneck; all
    such links saturate at their share in the same round (shares only grow as flows freeze, so this is
    the allocation progressive filling reaches), their flows freeze, and capacities are reduced."""
    rate = np.zeros(paths.shape[0])
    rem = cap.astype(float).copy()
    dummy = rem.size - 1
    idx = np.arange(paths.shape[0])
    p = paths
    rounds = 0
    while idx.size:
        rounds += 1
        cnt = np.bincount(p.ravel(), minlength=rem.size)
        share = np.full(rem.size, np.inf)
        used = cnt > 0
        used[dummy] = False
        share[used] = rem[used] / cnt[used]
        fmin = share[p].min(axis=1)
        lmin = np.full(rem.size, np.inf)
        np.minimum.at(lmin, p.ravel(), np.repeat(fmin, p.shape[1]))
        bott = used & (share <= lmin * (1 + 1e-12))
        frozen = bott[p].any(axis=1) | np.isinf(fmin)  # a path of dummies only is unconstrained
        r = fmin[frozen]
        rate[idx[frozen]] = r
        pf = p[frozen]
        fin = np.isfinite(r)
        rem -= np.bincount(pf[fin].ravel(), weights=np.repeat(r[fin], pf.shape[1]), minlength=rem.size)
        rem[dummy] = np.inf
        np.maximum(rem, 0.0, out=rem)
        idx, p = idx[~frozen], p[~frozen]
    return rate, rounds


def _flows(t: Topology, pattern: str, servers: int, rng: np.random.Generator, placement: str, group: int):
    """(src_server, src_rail, dst_server, dst_rail) of the pattern's connections in plane 0."""
    R, gps, gpd = t.rails, t.gpus_per_server, t.gpus_per_domain
    spd = max(1, gpd // gps)  # servers per NVLink domain
    if pattern == "permutation":
        e = np.arange(servers * R)
        d = rng.permutation(e.size)
        keep = (e // R) // spd != (d // R) // spd
        return e[keep] // R, e[keep] % R, d[keep] // R, d[keep] % R
    doms = servers // spd
    per_dom = spd * gps  # GPUs per domain (the ones in the simulated servers)
    j = np.arange(per_dom)
    nic = np.arange(t.nics_per_gpu)
    rails = ((j % gps)[:, None] * t.nics_per_gpu + nic[None, :]).ravel()
    jj = np.repeat(j, t.nics_per_gpu)
    on = rails < R  # plane 0
    rails, jj = rails[on], jj[on]
    if pattern == "dp-allreduce":
        order = rng.permutation(doms) if placement == "random" else np.arange(doms)
        a, b = order, np.roll(order, -1)
    elif pattern == "all-to-all":
        g = max(2, min(group, doms))
        base = (np.arange(doms) // g) * g
        src = np.repeat(np.arange(doms), g)
        dst = np.repeat(base, g) + np.tile(np.arange(g), doms)
        ok = (dst < doms) & (dst != src)
        a, b = src[ok], dst[ok]
    else:
        raise SpecError("pattern", f"unknown traffic pattern {pattern!r}", PATTERNS)
    if doms < 2:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z
    ss = (a[:, None] * spd + jj[None, :] // gps).ravel()
    ds = (b[:, None] * spd + jj[None, :] // gps).ravel()
    rr = np.broadcast_to(rails[None, :], (a.size, rails.size)).ravel()
    return ss, rr, ds, rr


def route_flows(topology: Topology, pattern: str = "dp-allreduce", routing: str = "ecmp",
             seed: int = 0, *, qps: int | None = None, placement: str = "topology",
             a2a_group: int | None = None) -> Contention:
    """Route the pattern's flows on (a sample of) the fabric and share links max-min fairly."""
    if not isinstance(topology, Topology):
        raise SpecError("topology", f"expected a built Topology, got {type(topology).__name__}")
    t = topology
    if routing not in ROUTINGS:
        raise SpecError("routing", f"unknown routing {routing!r}", ROUTINGS)
    if placement not in ("topology", "random"):
        raise SpecError("placement", f"unknown placement {placement!r}", ["topology", "random"])
    k = _consts()
    qps = int(qps if qps is not None else k["qps_per_connection"])
    group = int(a2a_group if a2a_group is not None else k["a2a_group_domains"])
    rng = np.random.default_rng(seed)
    R, L = t.rails, t.tiers
    spd = max(1, t.gpus_per_domain // t.gpus_per_server)
    fan = max(1, min(group, t.servers // spd) - 1) if pattern == "all-to-all" else 1
    servers = min(t.servers, max(spd, int(k["max_sim_endpoints"]) // (R * fan) // spd * spd))
    ss, sr, ds, dr = _flows(t, pattern, servers, rng, placement, group)
    E = servers * R
    if ss.size == 0:
        return Contention(pattern, routing, 0, E, servers < t.servers, 1.0, 1.0, 1.0, 1.0, 0)
    ls, lt = _leaf(t, ss, sr), _leaf(t, ds, dr)
    es, et = ss * R + sr, ds * R + dr
    # ideal crossbar: NIC links only
    nic_paths = np.stack([es, E + et], axis=1)
    ideal_cap = np.append(np.ones(2 * E), np.inf)
    ideal, _ = maxmin(nic_paths, ideal_cap)
    ideal_load = np.bincount(nic_paths.ravel(), minlength=2 * E).max()
    # common level and the per-tier pod of each end
    br = list(t.branch_by_tier)
    upn = [max(1, round(t.up_ports[i] * br[i] / t.down_ports[i])) if i else t.up_ports[0] for i in range(L - 1)]
    span = np.cumprod([1] + br[1:L])  # leaves per level-(i+1) pod
    h = np.ones(ls.size, dtype=np.int64)
    for i in range(1, L):
        h = np.where(ls // span[i - 1] != lt // span[i - 1], i + 1, h)
    nleaves = int(_leaf(t, np.array([servers - 1]), np.array([R - 1]))[0]) + 1
    if routing == "adaptive" or qps == 1:
        F = ls.size
        rep = np.arange(F)
    else:
        rep = np.repeat(np.arange(ls.size), qps)
        F = rep.size
    cols = [np.zeros(F, dtype=np.int64)]
    base, cap_parts, up_cols, dn_cols = 2 * E, [np.ones(2 * E)], [], []
    ucum = 1
    for i in range(1, L):
        npods = -(-nleaves // int(span[i - 1]))
        ps, pt = ls[rep] // span[i - 1], lt[rep] // span[i - 1]
        valid = h[rep] > i
        if routing == "ecmp":
            x = rng.integers(0, upn[i - 1], F)
            n = npods * ucum * upn[i - 1]
            up = base + (ps * ucum + cols[-1]) * upn[i - 1] + x
            dn = base + n + (pt * ucum + cols[-1]) * upn[i - 1] + x
            cols.append(cols[-1] * upn[i - 1] + x)
            cap_parts.append(np.ones(2 * n))
        else:
            n = npods
            up, dn = base + ps, base + n + pt
            cap_parts.append(np.full(2 * n, float(ucum * upn[i - 1])))
        ucum *= upn[i - 1]
        up_cols.append(np.where(valid, up, -1))
        dn_cols.append(np.where(valid, dn, -1))
        base += 2 * n
    cap = np.append(np.concatenate(cap_parts), np.inf)
    paths = np.stack([es[rep], *up_cols, *dn_cols, E + et[rep]], axis=1)
    paths[paths < 0] = cap.size - 1
    rates, iters = maxmin(paths, cap)
    thr = float(np.bincount(rep, weights=rates).sum() / ideal.sum())
    w = 1.0 / qps if (routing == "ecmp" and qps > 1) else 1.0
    load = np.bincount(paths.ravel(), minlength=cap.size)[:-1] * w / cap[:-1]
    comp = float(ideal_load / load.max())
    used, expect = 1.0, 1.0
    if L > 1 and routing == "ecmp":
        first = paths[:, 1]
        ok = first < cap.size - 1
        n_up = nleaves * upn[0]
        used_links = np.unique(first[ok]).size
        out = np.bincount(ls[rep][ok], minlength=nleaves)
        expect_n = float((upn[0] * balls_in_bins(out, upn[0])).sum())
        used = used_links / max(1, int((out > 0).sum()) * upn[0])
        expect = expect_n / max(1, int((out > 0).sum()) * upn[0])
        del n_up
    return Contention(pattern, routing, int(ls.size), E, servers < t.servers, thr, min(1.0, comp), used, expect,
                      iters)


def _leaf(t: Topology, server: np.ndarray, rail: np.ndarray) -> np.ndarray:
    d1 = t.down_ports[0]
    if t.tiers == 1:
        return np.zeros_like(server)
    if t.rail_optimized:
        return (server // d1) * t.rails + rail
    spl = d1 // t.rails
    return server // spl if spl >= 1 else (server * t.rails + rail) // d1


def effective_fraction(topology: Topology, pattern: str = "dp-allreduce", routing: str = "ecmp",
                       seed: int = 0, *, metric: str = "throughput", **kw: Any) -> float:
    """Effective fraction of the crossbar bandwidth the pattern gets on this fabric (see module doc).
    Memoised per fabric: clusters that differ only in GPUs or power share their fabric's figure."""
    if metric not in METRICS:
        raise SpecError("metric", f"unknown metric {metric!r}", METRICS)
    key = (topology.key, pattern, routing, seed, tuple(sorted(kw.items())))
    r = _ROUTED.get(key)
    if r is None:
        r = route_flows(topology, pattern, routing, seed, **kw)
        while len(_ROUTED) >= ROUTED_MEMO:
            _ROUTED.pop(next(iter(_ROUTED)))
        _ROUTED[key] = r
    return r.throughput if metric == "throughput" else r.completion


_ROUTED: dict[tuple[Any, ...], Contention] = {}
ROUTED_MEMO = 512


__all__ = ["Contention", "balls_in_bins", "effective_fraction", "maxmin", "route_flows"]
