"""Bottom-up IT and facility power of a cluster, and the public ``power()`` entry point.

The budget is a tree, GPUs -> servers -> racks -> scale-out fabric -> storage -> facility, with
two figures per node: ``nameplate_w`` (design/provisioned power: GPU TDP or cap, server
nameplate, switch max) and ``draw_w`` (what it draws in the compute phase of a training step,
the peak of the running job). Constants and their sources are in catalog/power.yaml.

    IT nameplate = servers x (GPUs x board power + server_overhead_w)
                 + NVLink switch trays (rack-scale domains) + switches x switch_w
                 + transceivers x optic W + storage W/(TB/s) x storage_tbps
    facility     = IT x PUE,  PUE = 1 + cooling(type) + distribution losses + misc
                   (the site's PUE when a site is given)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .. import catalog
from ..perf.powercap import capped_draw_w
from ..specs import Cluster

PHASES = ("compute", "host", "tp", "cp", "ep", "pp", "dp", "bubble", "optimizer")


@cache
def consts(name: str) -> dict[str, Any]:
    """One entry of catalog/power.yaml (plain values)."""
    return catalog.entry("power", name)


@dataclass(frozen=True)
class Item:
    """A node of the power budget tree."""

    name: str
    count: float
    nameplate_w: float  # total for `count` units
    draw_w: float  # total drawn in the compute phase of a running job
    children: tuple[Item, ...] = ()
    note: str = ""

    def find(self, name: str) -> Item | None:
        if self.name == name:
            return self
        for c in self.children:
            hit = c.find(name)
            if hit is not None:
                return hit
        return None


@dataclass(frozen=True)
class LoadModel:
    """What the waveform needs: per-GPU draw by phase plus the non-GPU load, all IT watts."""

    num_gpus: int
    gpu_phase_w: dict[str, float]  # board draw per GPU in each phase (cap applied)
    gpu_idle_w: float
    gpu_floor_w: float  # board draw under GPU power smoothing's floor (0: no smoothing)
    gpu_ramp_w_per_s: float | None  # smoothing ramp limit per GPU (None: none)
    other_active_w: float  # hosts, switches, optics, storage while the job runs
    other_idle_w: float  # the same while the job is down
    loss_frac: float  # distribution losses: follow the IT load instantly
    pue: float

    def gpu_w(self, phase: str) -> float:
        return self.gpu_phase_w.get(phase, self.gpu_phase_w["other"])

    def it_w(self, phase: str) -> float:
        return self.num_gpus * max(self.gpu_w(phase), self.gpu_floor_w) + self.other_active_w

    @property
    def it_idle_w(self) -> float:
        return self.num_gpus * self.gpu_idle_w + self.other_idle_w

    def facility_w(self, it_inst_w: Any, it_mean_w: float) -> Any:
        """Instantaneous facility power: losses follow the load, cooling/misc follow its mean."""
        return it_inst_w * (1.0 + self.loss_frac) + (self.pue - 1.0 - self.loss_frac) * it_mean_w


@dataclass(frozen=True)
class Budget:
    cluster: str
    tree: Item
    it_nameplate_w: float
    it_draw_w: float  # compute-phase (peak) IT draw
    pue: float
    pue_source: str
    facility_nameplate_w: float
    rack_kw: float  # nameplate of one full rack
    rack_limit_kw: float  # min(platform limit, cooling limit)
    rack_ok: bool
    per_gpu_w: float  # IT nameplate per GPU
    load: LoadModel
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def it_mw(self) -> float:
        return self.it_nameplate_w / 1e6

    @property
    def facility_mw(self) -> float:
        return self.facility_nameplate_w / 1e6


def pue_model(cooling: str) -> tuple[float, dict[str, float]]:
    """PUE from the cooling type and its parts (cooling, distribution, misc) as fractions of IT."""
    f = consts("facility")
    parts = {
        "cooling": float(f["cooling_frac"][cooling]),
        "power distribution losses": float(f["distribution_loss_frac"]),
        "lighting, offices, misc": float(f["misc_frac"]),
    }
    return 1.0 + sum(parts.values()), parts


def gpu_phase_w(cluster: Cluster) -> dict[str, float]:
    """Board draw per GPU in each phase: fraction of TDP, at least idle, at most the cap."""
    g = cluster.gpu
    fr = consts("gpu-phase-draw")
    return {
        k: capped_draw_w(g, max(g.idle_w, float(v) * g.tdp_w))
        for k, v in fr.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _fabric(cluster: Cluster) -> tuple[list[Item], list[str]]:
    """Scale-out switches by tier and transceivers by kind, counted from the fabric topology."""
    from ..network.topology import build_topology

    net = consts("network")
    topo = build_topology(cluster)
    fab = cluster.fabric
    sw_w, op_frac, sw_frac = fab.switch_w, float(net["optic_active_frac"]), float(net["switch_active_frac"])
    by_tier = topo.switches_by_tier
    pairs = by_tier.items() if hasattr(by_tier, "items") else enumerate(by_tier, 1)
    tiers = [Item(f"{t}" if isinstance(t, str) else f"tier {t}", n, n * sw_w, n * sw_w * sw_frac) for t, n in pairs]
    n_sw = float(getattr(topo, "total_switches", sum(i.count for i in tiers)))
    sw = Item("switches", n_sw, n_sw * sw_w, n_sw * sw_w * sw_frac, tuple(tiers), f"{sw_w:g} W each")
    optics = []
    for kind, n in sorted(dict(topo.transceivers_by_kind).items()):
        w = _optic_w(str(kind), fab.optic_w)
        optics.append(Item(str(kind), n, n * w, n * w * op_frac, note=f"{w:g} W each"))
    n_op = float(sum(i.count for i in optics))
    op = Item("optics", n_op, sum(i.nameplate_w for i in optics), sum(i.draw_w for i in optics), tuple(optics))
    return [sw, op], []


def _optic_w(kind: str, default: float) -> float:
    """Power of one transceiver end of `kind` (catalog/optics.yaml), else the fabric's optic power."""
    from ..network.optics import power_w

    try:
        return power_w(kind)
    except KeyError:  # a kind optics.yaml does not list
        return default


def budget(cluster: Cluster, *, site_pue: float | None = None, smoothing: bool = False) -> Budget:
    """The bottom-up power budget of `cluster` (a validated Cluster)."""
    c, su, g = cluster, cluster.scale_up, cluster.gpu
    host = consts("host")
    notes: list[str] = []
    phase = gpu_phase_w(c)
    board = g.board_power_w
    gps = su.gpus_per_server
    # --- one server
    nics = c.nics_per_gpu * gps
    nic_w = nics * c.fabric.nic_w
    in_server_switch = su.gpus_per_domain <= gps
    # NVSwitch power is inside server_overhead_w (scaleups.yaml); rack-scale domains put it in
    # switch trays, so each server carries its share and the rack shows the trays.
    nvs_share_w = su.nvswitch_chips * su.nvswitch_w * gps / su.gpus_per_domain
    nvs_chips = su.nvswitch_chips * (gps // su.gpus_per_domain) if in_server_switch else 0
    nvs_w = nvs_share_w if in_server_switch else 0.0
    rest_w = su.server_overhead_w - nic_w - nvs_share_w
    if rest_w < 0:
        notes.append(f"{su.id}: server_overhead_w {su.server_overhead_w:g} W is less than its NICs + NVSwitch "
                     f"({nic_w + nvs_share_w:g} W); host parts set to 0")
        rest_w = 0.0
    act = float(host["active_frac"])
    host_parts = [
        Item("CPUs", 1, rest_w * host["cpu_frac"], rest_w * host["cpu_frac"] * act),
        Item("memory", 1, rest_w * host["memory_frac"], rest_w * host["memory_frac"] * act),
        Item("PSU losses", 1, rest_w * host["psu_loss_frac"], rest_w * host["psu_loss_frac"] * act),
    ]
    other = rest_w - sum(i.nameplate_w for i in host_parts)
    host_parts.append(Item("fans, drives, PCIe, BMC", 1, other, other * act))
    server_children = [
        Item("GPUs", gps, gps * board, gps * phase["compute"], note=f"{g.name}, {board:g} W board power"
             + (f" (capped from {g.tdp_w:g} W)" if g.power_cap_w else "")),
        Item("NICs", nics, nic_w, nic_w * act, note=f"{c.fabric.nic_w:g} W each"),
    ]
    if nvs_chips:
        server_children.append(Item("NVSwitch", nvs_chips, nvs_w, nvs_w * act))
    server_children.append(Item("host", 1, rest_w, rest_w * act, tuple(host_parts)))
    server = Item("server", 1, sum(i.nameplate_w for i in server_children),
                  sum(i.draw_w for i in server_children), tuple(server_children))
    # --- one rack
    spr = su.servers_per_rack
    rack_children = [_scale(server, spr, f"servers ({su.name})")]
    if not in_server_switch:  # rack-scale NVLink domain: switch trays beside the compute trays
        chips = su.nvswitch_chips * spr * gps / su.gpus_per_domain
        rack_children.append(Item("NVLink switch trays", chips, nvs_share_w * spr, nvs_share_w * spr * act,
                                  note=f"{su.nvswitch_w:g} W per NVLink switch chip"))
    rack = Item("rack", 1, sum(i.nameplate_w for i in rack_children), sum(i.draw_w for i in rack_children),
                tuple(rack_children))
    n_racks_full, rem_servers = divmod(c.num_servers, spr)
    racks = _scale(rack, n_racks_full, f"racks ({spr} servers each)")
    compute_items = [racks]
    if rem_servers:
        part = _scale(server, rem_servers, f"partial rack ({rem_servers} servers)")
        compute_items.append(part)
    # --- fabric and storage
    fabric_items, fab_notes = _fabric(c)
    notes += fab_notes
    st = consts("storage")
    st_w = float(st["w_per_tbps"]) * c.storage_tbps
    storage = Item("storage", c.storage_tbps, st_w, st_w * float(st["active_frac"]),
                   note=f"{c.storage_tbps:g} TB/s at {float(st['w_per_tbps']) / 1e6:g} MW per TB/s")
    fabric = Item(f"scale-out fabric ({c.fabric.name})", 1, sum(i.nameplate_w for i in fabric_items),
                  sum(i.draw_w for i in fabric_items), tuple(fabric_items))
    it_children = (*compute_items, fabric, storage)
    it_np = sum(i.nameplate_w for i in it_children)
    it_draw = sum(i.draw_w for i in it_children)
    it = Item("IT load", 1, it_np, it_draw, it_children)
    # --- facility
    pue_m, parts = pue_model(c.cooling)
    if site_pue is not None:
        pue, pue_src = site_pue, f"site PUE {site_pue:g} (cooling model for {c.cooling}: {pue_m:.3f})"
        scale = (site_pue - 1.0) / (pue_m - 1.0) if pue_m > 1 else 1.0
        parts = {k: v * scale for k, v in parts.items()}
    else:
        pue, pue_src = pue_m, f"cooling model ({c.cooling})"
    fac_children = tuple(Item(k, 1, v * it_np, v * it_draw, note=f"{v:.3f} x IT") for k, v in parts.items())
    overhead = Item(f"facility overhead ({c.cooling} cooling)", 1, sum(i.nameplate_w for i in fac_children),
                    sum(i.draw_w for i in fac_children), fac_children)
    site = Item("site", 1, it_np + overhead.nameplate_w, it_draw + overhead.draw_w, (it, overhead),
                note=f"PUE {pue:.3f}")
    # --- rack check
    cool_lim = float(consts("facility")["rack_cooling_limit_kw"][c.cooling])
    rack_lim = min(su.rack_limit_kw, cool_lim)
    rack_kw = rack.nameplate_w / 1e3
    if rack_kw > rack_lim:
        why = "cooling" if cool_lim < su.rack_limit_kw else "rack power"
        notes.append(f"rack draws {rack_kw:.1f} kW nameplate, over the {why} limit of {rack_lim:g} kW")
    # --- load model for the waveform
    sm = consts("smoothing")
    other_active = it_draw - c.num_gpus * phase["compute"]
    host_np = c.num_servers * su.server_overhead_w
    other_idle = other_active - host_np * act + host_np * float(host["idle_frac"])
    load = LoadModel(
        num_gpus=c.num_gpus,
        gpu_phase_w=phase,
        gpu_idle_w=g.idle_w,
        gpu_floor_w=min(float(sm["floor_frac"]) * g.tdp_w, phase["compute"]) if smoothing else 0.0,
        gpu_ramp_w_per_s=float(sm["ramp_frac_per_s"]) * g.tdp_w if smoothing else None,
        other_active_w=other_active,
        other_idle_w=other_idle,
        loss_frac=float(consts("facility")["distribution_loss_frac"]),
        pue=pue,
    )
    return Budget(
        cluster=c.id, tree=site, it_nameplate_w=it_np, it_draw_w=it_draw, pue=pue, pue_source=pue_src,
        facility_nameplate_w=it_np * pue, rack_kw=rack_kw, rack_limit_kw=rack_lim, rack_ok=rack_kw <= rack_lim,
        per_gpu_w=it_np / c.num_gpus, load=load, notes=tuple(notes),
    )


def _scale(item: Item, n: float, name: str | None = None) -> Item:
    """`n` copies of `item` (children keep per-unit counts multiplied)."""
    return Item(
        name or item.name,
        item.count * n,
        item.nameplate_w * n,
        item.draw_w * n,
        tuple(_scale(ch, n) for ch in item.children),
        item.note,
    )


def power(*args: Any, **kwargs: Any) -> Any:
    """Budget, waveform, day series and site verdict: see :func:`gigafactory.fleet.power_report.power`."""
    from .power_report import power as _power

    return _power(*args, **kwargs)
