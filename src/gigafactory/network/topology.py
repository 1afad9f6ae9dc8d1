"""The scale-out fabric as built: a folded-Clos (fat-tree) counted by arithmetic, O(tiers^2).

A switch of radix k at tier i < L has ``down[i]`` ports facing the endpoints and ``up[i]`` facing tier
i+1 (``down/up`` is the oversubscription of that tier); the top tier uses all k ports downward. A
level-i *pod* is the set of endpoints a tier-i switch column can reach: a leaf is a level-1 pod, a
level-i pod holds ``down[i]`` level-(i-1) pods and ``prod(up[1..i-1])`` tier-i switches. A partial
pod is packed: its tier-i switches are ``ceil(uplinks arriving / down[i])``. The top tier joins all
level-(L-1) pods, so a design fits when there are at most k of them: capacity ``k * prod(down[<L])``
endpoints per plane (k^2/2 for two non-blocking tiers, k^3/4 for three).

Rail-optimised leaves take NIC r of ``down[1]`` servers (NVIDIA DGX SuperPOD); otherwise a leaf takes
all NICs of ``down[1] // rails`` servers (top-of-rack). ``planes`` splits each server's rails among
independent copies of the fabric (DeepSeek's multi-plane fat tree, Alibaba HPN dual plane).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import SpecError
from ..specs import Cluster
from . import optics

SWITCH_NAMES = ("leaf", "spine", "core", "super-core")
LINK_NAMES = ("nic-leaf", "leaf-spine", "spine-core", "core-super")
MAX_TIERS = 8


def tier_names(n: int, names: tuple[str, ...] = SWITCH_NAMES) -> list[str]:
    """Names of `n` tiers, leaf first (``tier5`` and up past the named ones)."""
    return [names[i] if i < len(names) else f"tier{i + 1}" for i in range(n)]


def tiers_needed(ports: int | Cluster, radix: int | None = None) -> int:
    """Fewest tiers of a non-blocking fat tree of radix-`radix` switches that joins `ports` endpoints.

    Each tier below the top uses half its ports downward, the top tier all of them, so t tiers join
    ``k (k/2)^(t-1) = 2 (k/2)^t`` endpoints (k^2/2 for two tiers, k^3/4 for three). Given a Cluster:
    its own ``tiers`` when set, else the tiers of its fabric as built (:func:`build_topology`, which
    also counts oversubscription and rail-optimised leaves), else (a fabric that cannot be built) the
    formula on its NIC ports and switch radix.
    """
    if isinstance(ports, Cluster):
        c = ports
        if c.tiers is not None:
            return c.tiers
        try:
            return build_topology(c).tiers
        except SpecError:
            return tiers_needed(c.num_gpus * c.nics_per_gpu, c.fabric.switch_radix)
    if radix is None or radix < 2:
        raise SpecError("radix", f"a fat tree needs switches of at least 2 ports, got {radix}")
    t = 1
    while 2 * (radix / 2) ** t < ports and t < 64:
        t += 1
    return t


@dataclass(frozen=True)
class Topology:
    """Counts, bandwidths and latencies of one built scale-out fabric (all planes together)."""

    name: str
    gpus: int
    gpus_per_server: int
    gpus_per_domain: int
    gpus_per_rack: int
    nics_per_gpu: int
    link_gbps: float
    radix: int
    tiers: int
    planes: int
    rails: int  # rails (NIC ports per server) in each plane
    rail_optimized: bool
    endpoints: int  # NIC ports, all planes
    down_ports: tuple[int, ...]  # per tier, top tier = radix
    up_ports: tuple[int, ...]  # per tier, top tier = 0
    branch_by_tier: tuple[int, ...]  # [0] endpoints per leaf, [i] level-i pods per level-(i+1) pod
    pods_by_tier: tuple[int, ...]  # level-i pods per plane (1 at the top)
    switches_by_tier: tuple[int, ...]  # all planes, leaf first
    links_by_tier: tuple[int, ...]  # [0] NIC-leaf, [i] tier i to tier i+1, all planes
    run_m_by_tier: tuple[float, ...]  # longest cable run of each link tier
    medium_by_tier: tuple[str, ...]
    transceivers_by_kind: dict[str, int]  # active ends (pluggables, AOC/AEC ends), 2 per link
    cables_by_kind: dict[str, int]  # passive DAC and fibre runs, 1 per link
    oversubscription_by_tier: tuple[float, ...]  # down/up at tiers 1..L-1
    hop_latency_us: float
    nic_latency_us: float
    scale_up_gbs: float
    scale_up_latency_us: float
    nic_gbs_per_gpu: float  # scale-out GB/s per GPU per direction (all its NICs)
    switch_w: float
    adaptive_routing: bool
    sharp: bool
    fabric: str

    @property
    def key(self) -> tuple[Any, ...]:
        """Every field, hashable: two fabrics with equal keys are the same fabric."""
        return tuple(tuple(sorted(v.items())) if isinstance(v, dict) else v
                     for v in (getattr(self, f.name) for f in fields(self)))

    @property
    def bisection_tbps(self) -> float:
        """TB/s, one direction, through the worst cut into halves."""
        return self.endpoints * self.link_gbps / 8.0 / 1000.0 / 2.0 / self.cum_oversubscription(self.tiers - 1)

    @property
    def max_hops(self) -> int:
        """Switches crossed between the two farthest GPUs."""
        return 2 * self._top_level() - 1

    @property
    def switches_by_name(self) -> dict[str, int]:
        """Switches per tier by tier name (leaf, spine, core, ...)."""
        return dict(zip(tier_names(self.tiers), self.switches_by_tier, strict=True))

    @property
    def links_by_name(self) -> dict[str, int]:
        """Links per tier by name (nic-leaf, leaf-spine, ...)."""
        return dict(zip(tier_names(self.tiers, LINK_NAMES), self.links_by_tier, strict=True))

    @property
    def total_switches(self) -> int:
        return int(sum(self.switches_by_tier))

    @property
    def total_links(self) -> int:
        return int(sum(self.links_by_tier))

    @property
    def servers(self) -> int:
        return self.gpus // self.gpus_per_server

    @property
    def optics_power_w(self) -> float:
        return sum(n * optics.power_w(k) for k, n in self.transceivers_by_kind.items())

    @property
    def optics_price_usd(self) -> float:
        kinds = {**self.transceivers_by_kind, **self.cables_by_kind}
        return sum(n * optics.price_usd(k) for k, n in kinds.items())

    @property
    def switch_power_w(self) -> float:
        return self.total_switches * self.switch_w

    def cum_oversubscription(self, level: int) -> float:
        """Endpoint bandwidth over uplink bandwidth of a level-`level` pod (>= 1 means a bottleneck)."""
        cum, worst = 1.0, 1.0
        for o in self.oversubscription_by_tier[: max(level, 0)]:
            cum *= o
            worst = max(worst, cum)
        return worst

    def tier_bw_gbs(self, level: int) -> float:
        """Per-GPU GB/s, one direction, when every GPU talks to a peer whose nearest common switch is at
        tier `level` (0: same NVLink domain; 1: same leaf; ... L: across the top tier)."""
        if level == 0:
            return self.scale_up_gbs
        if not 1 <= level <= self.tiers:
            raise SpecError("level", f"must be 0..{self.tiers} for a {self.tiers}-tier fabric, got {level}")
        return self.nic_gbs_per_gpu / self.cum_oversubscription(level - 1)

    def leaf_of(self, gpus: Any, rail_of: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(plane, leaf-within-plane) of each GPU's NIC on rail `rail_of` (default: its own first NIC)."""
        g = np.asarray(gpus, dtype=np.int64)
        s = g // self.gpus_per_server
        rail = (g % self.gpus_per_server) * self.nics_per_gpu if rail_of is None else np.asarray(rail_of)
        plane, r = rail // self.rails, rail % self.rails
        d1 = self.down_ports[0]
        if self.tiers == 1:
            return plane, np.zeros_like(s)
        if self.rail_optimized:
            return plane, (s // d1) * self.rails + r
        spl = d1 // self.rails
        return plane, (s // spl if spl >= 1 else (s * self.rails + r) // d1)

    def level_between(self, a: Any, b: Any) -> np.ndarray:
        """Tier of the nearest common switch between GPUs a and b (0 when they share an NVLink domain).
        Traffic leaves on the destination's rail (NCCL PXN moves it over NVLink first)."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        rail = (b % self.gpus_per_server) * self.nics_per_gpu
        _, la = self.leaf_of(a, rail)
        _, lb = self.leaf_of(b, rail)
        level = np.ones(np.broadcast(la, lb).shape, dtype=np.int64)
        span = 1
        for i in range(1, self.tiers):
            level = np.where(la // span != lb // span, i + 1, level)
            span *= self.branch_by_tier[i]
        same_dom = a // self.gpus_per_domain == b // self.gpus_per_domain
        return np.where(same_dom, 0, level)

    def latency_us(self, a: int | None = None, b: int | None = None) -> float:
        """One-way latency between two GPUs (default: the farthest pair): NIC, switch hops, fibre."""
        level = self._top_level() if a is None or b is None else int(self.level_between(a, b))
        if level == 0:
            return self.scale_up_latency_us
        hops = 2 * level - 1
        prop = 2 * sum(self.run_m_by_tier[:level]) * optics.ns_per_m() / 1000.0
        return self.nic_latency_us + hops * self.hop_latency_us + prop

    def _top_level(self) -> int:
        used = [i + 1 for i, n in enumerate(self.pods_by_tier) if n > 1]
        return min(self.tiers, (max(used) + 1) if used else 1)

    def summary(self) -> dict[str, Any]:
        """Plain data for reports and --json."""
        return {
            "name": self.name, "gpus": self.gpus, "endpoints": self.endpoints, "tiers": self.tiers,
            "radix": self.radix, "link_gbps": self.link_gbps, "planes": self.planes, "rails": self.rails,
            "rail_optimized": self.rail_optimized, "switches_by_tier": self.switches_by_name,
            "total_switches": self.total_switches, "links_by_tier": self.links_by_name,
            "run_m_by_tier": [round(x, 1) for x in self.run_m_by_tier], "medium_by_tier": list(self.medium_by_tier),
            "transceivers_by_kind": self.transceivers_by_kind, "cables_by_kind": self.cables_by_kind,
            "oversubscription_by_tier": [round(o, 3) for o in self.oversubscription_by_tier],
            "bisection_tbps": self.bisection_tbps, "max_hops": self.max_hops,
            "latency_us": round(self.latency_us(), 3),
            "tier_bw_gbs": [self.tier_bw_gbs(i) for i in range(self.tiers + 1)],
            "optics_power_kw": self.optics_power_w / 1e3, "switch_power_kw": self.switch_power_w / 1e3,
            "optics_price_musd": self.optics_price_usd / 1e6,
        }


# --------------------------------------------------------------------------- counting


def _ports(k: int, o: float) -> tuple[int, int]:
    """(down, up) ports of a radix-k switch at oversubscription o = down/up."""
    down = max(1, min(k - 1, math.floor(k * o / (1.0 + o) + 1e-9)))
    up = max(1, min(k - down, math.ceil(down / o - 1e-9)))
    return down, up


def _leaves(servers: int, rails: int, d1: int, rail_opt: bool) -> int:
    if rail_opt:
        return -(-servers // d1) * rails
    spl = d1 // rails
    return -(-servers // spl) if spl >= 1 else -(-(servers * rails) // d1)


def _count(leaves: int, down: list[int], up: list[int], branch: list[int]) -> tuple[list[int], list[int]] | None:
    """Switches per tier and pods per level for one plane, or None if the top tier cannot join them.
    branch[i]: level-i pods per level-(i+1) pod; a pod's tier-(i+1) switches are packed by ports."""
    tiers = len(down)
    npods, full, last = [leaves], [1], [1]
    for i in range(1, tiers):
        di, bi, prev = down[i], branch[i], npods[-1]
        n = -(-prev // bi)
        if i == tiers - 1 and n > 1:
            return None
        m = prev - (n - 1) * bi
        new_full = [bi * f for f in full] + [-(-bi * full[-1] * up[i - 1] // di)]
        new_last = [(m - 1) * f + x for f, x in zip(full, last, strict=True)]
        new_last.append(-(-new_last[-1] * up[i - 1] // di))
        full, last = new_full, new_last
        npods.append(n)
    return last, npods


def _design(servers, rails, k, tiers, over, rail_opt, pod_eps):
    """down/up ports per tier and the per-plane counts (None if it does not fit)."""
    down, up = [], []
    for i in range(tiers - 1):
        d, u = _ports(k, over[i])
        down.append(d)
        up.append(u)
    down.append(k)
    up.append(0)
    branch = list(down)
    if tiers == 1:
        return down, up, branch, (([1], [1]) if servers * rails <= k else None)
    if pod_eps:  # a pod (level L-1) holds at most pod_eps endpoints: fewer sub-pods per pod
        i = tiers - 2
        branch[i] = min(branch[i], max(1, pod_eps // math.prod(branch[:i])))
    leaves = _leaves(servers, rails, down[0], rail_opt)
    return down, up, branch, _count(leaves, down, up, branch)


def build_topology(cluster: Cluster, **overrides: Any) -> Topology:
    """Build the scale-out fabric of `cluster`. Overrides: tiers, radix, link_gbps, nics_per_gpu,
    oversubscription (top tier), oversubscription_by_tier (tiers 1..L-1), rail_optimized, pod_gpus,
    planes, num_gpus. Raises SpecError with the smallest fix when the design cannot be built.
    Memoised per cluster (without overrides): a scenario builds each fabric once."""
    if not isinstance(cluster, Cluster):
        raise SpecError("cluster", f"expected a Cluster spec, got {type(cluster).__name__}")
    if not overrides:
        return _built(cluster.model_dump_json())
    return _build(cluster, overrides)


@lru_cache(maxsize=256)
def _built(cluster_json: str) -> Topology:
    return _build(Cluster.model_validate_json(cluster_json), {})


def _build(cluster: Cluster, overrides: dict[str, Any]) -> Topology:
    known = {"tiers", "radix", "link_gbps", "nics_per_gpu", "oversubscription", "oversubscription_by_tier",
             "rail_optimized", "pod_gpus", "planes", "num_gpus"}
    for key in overrides:
        if key not in known:
            from ..errors import closest

            raise SpecError(key, "unknown topology override", sorted(known), closest(key, known))
    c, su, fab = cluster, cluster.scale_up, cluster.fabric
    gpus = int(overrides.get("num_gpus", c.num_gpus))
    nics = int(overrides.get("nics_per_gpu", c.nics_per_gpu))
    gbps = float(overrides.get("link_gbps", c.nic_speed_gbps))
    k = int(overrides.get("radix", math.floor(fab.switch_radix * fab.port_gbps / gbps)))
    planes = int(overrides.get("planes", 1))
    rail_opt = bool(overrides.get("rail_optimized", c.rail_optimized))
    pod_gpus = overrides.get("pod_gpus", c.pod_gpus)
    gps = su.gpus_per_server
    servers = -(-gpus // gps)
    per_server = gps * nics
    if k < 2:
        raise SpecError("radix", f"a switch needs at least 2 ports at {gbps:g} Gb/s, got {k}")
    if planes < 1 or per_server % planes:
        raise SpecError("planes", f"must divide the {per_server} NIC ports of a server, got {planes}")
    rails = per_server // planes
    tiers = overrides.get("tiers", c.tiers)
    top_o = float(overrides.get("oversubscription", c.oversubscription))
    by_tier = overrides.get("oversubscription_by_tier")
    pod_eps = int(pod_gpus) * nics // planes if pod_gpus else None

    def over_for(t: int) -> list[float]:
        if by_tier is not None:
            if len(by_tier) != t - 1:
                raise SpecError("oversubscription_by_tier", f"needs {t - 1} ratios for {t} tiers, got {len(by_tier)}")
            return [float(o) for o in by_tier]
        return [1.0] * max(t - 2, 0) + ([top_o] if t >= 2 else [])

    def fits(t, kk=k, ov=None, pl=planes):
        rl = per_server // pl
        pe = int(pod_gpus) * nics // pl if pod_gpus else None
        return _design(servers, rl, kk, t, ov if ov is not None else over_for(t), rail_opt, pe)[3] is not None

    if tiers is None:
        tiers = next((t for t in range(1, MAX_TIERS + 1) if fits(t)), None)
        if tiers is None:
            raise SpecError("cluster.num_gpus", f"{gpus:,} GPUs do not fit {MAX_TIERS} tiers of radix-{k} switches")
    tiers = int(tiers)
    over = over_for(tiers)
    down, up, branch, counted = _design(servers, rails, k, tiers, over, rail_opt, pod_eps)
    if counted is None:
        raise SpecError("cluster.tiers", _why_not(servers, rails, k, tiers, over, rail_opt, fits, per_server, gpus))
    sw_plane, pods = counted
    eps_plane = servers * rails
    links_plane = [eps_plane] + [sw_plane[i] * up[i] for i in range(tiers - 1)]
    ratios = [down[i] / up[i] for i in range(tiers - 1)]
    # cable runs: tier 0 spans the servers of one leaf, tier i the level-(i+1) pod
    gpr = gps * su.servers_per_rack
    leaf_servers = down[0] if rail_opt else max(1, down[0] // rails)
    pod_servers = [leaf_servers] + [max(leaf_servers, leaf_servers * math.prod(branch[1 : i + 1]) // (rails if rail_opt else 1))
                                    for i in range(1, tiers)]
    runs = [optics.run_length_m(min(servers, ps) * gps / gpr) for ps in pod_servers]
    meds = [optics.pick(r, gbps) for r in runs]
    xcv: dict[str, int] = {}
    cab: dict[str, int] = {}
    for m, n in zip(meds, links_plane, strict=True):
        if m.end:
            xcv[m.end] = xcv.get(m.end, 0) + 2 * n * planes
        if m.cable:
            cab[m.cable] = cab.get(m.cable, 0) + n * planes
    return Topology(
        name=c.id, gpus=gpus, gpus_per_server=gps, gpus_per_domain=min(su.gpus_per_domain, gpus),
        gpus_per_rack=gpr, nics_per_gpu=nics, link_gbps=gbps, radix=k, tiers=tiers, planes=planes, rails=rails,
        rail_optimized=rail_opt, endpoints=eps_plane * planes, down_ports=tuple(down), up_ports=tuple(up),
        branch_by_tier=tuple(branch),
        pods_by_tier=tuple(pods), switches_by_tier=tuple(s * planes for s in sw_plane),
        links_by_tier=tuple(n * planes for n in links_plane), run_m_by_tier=tuple(runs),
        medium_by_tier=tuple(m.name for m in meds), transceivers_by_kind=xcv, cables_by_kind=cab,
        oversubscription_by_tier=tuple(ratios),
        hop_latency_us=fab.hop_latency_ns / 1000.0, nic_latency_us=fab.nic_latency_us,
        scale_up_gbs=su.bw_gbs, scale_up_latency_us=su.latency_us, nic_gbs_per_gpu=nics * gbps / 8.0,
        switch_w=fab.switch_w, adaptive_routing=fab.adaptive_routing, sharp=fab.sharp, fabric=fab.id,
    )


def _why_not(servers, rails, k, tiers, over, rail_opt, fits, per_server, gpus) -> str:
    """The reason a design does not fit and the smallest changes that make it fit."""
    cap_plane = k * math.prod(_ports(k, o)[0] for o in over)
    need = servers * rails
    fixes = []
    more = next((t for t in range(tiers + 1, MAX_TIERS + 1) if fits(t, ov=over + [1.0] * (t - tiers))), None)
    if more:
        fixes.append(f"tiers={more}")
    lo, hi = k, k
    while not fits(tiers, kk=hi) and hi < 1 << 20:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(tiers, kk=mid) else (mid, hi)
    if fits(tiers, kk=hi):
        std = next((r for r in (64, 128, 256, 512, 1024, 2048) if r >= hi), hi)
        fixes.append(f"switch radix >= {hi} (e.g. {std}-port)")
    if tiers >= 2:
        for d in range(_ports(k, over[-1])[0] + 1, k):
            o = d / (k - d)
            if fits(tiers, ov=over[:-1] + [o]):
                fixes.append(f"oversubscription >= {o:.3g}:1 at tier {tiers - 1}")
                break
    pl = next((p for p in range(2, per_server + 1) if per_server % p == 0 and fits(tiers, pl=p)), None)
    if pl:
        fixes.append(f"planes={pl}")
    return (f"{gpus:,} GPUs ({need:,} NIC ports per plane) cannot be built as a {tiers}-tier fat tree of "
            f"radix-{k} switches, which holds at most {cap_plane:,} ports per plane"
            f"{' (rail-optimised leaves round up per rail)' if rail_opt else ''}; smallest fixes: "
            + (", or ".join(fixes) if fixes else "none found"))
