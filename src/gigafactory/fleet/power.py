"""Bottom-up IT and facility power of a cluster, and ``power()``: budget, waveform, day and site.

The budget is a tree, GPUs -> servers -> racks -> scale-out fabric -> storage -> facility, with
two figures per node: ``nameplate_w`` (design/provisioned power: GPU TDP or cap, server
nameplate, switch max) and ``draw_w`` (what it draws in the compute phase of a training step,
the peak of the running job). Constants and their sources are in catalog/power.yaml.

    IT nameplate = servers x (GPUs x board power + server_overhead_w)
                 + NVLink switch trays (rack-scale domains) + switches x switch_w
                 + transceivers x optic W + storage W/(TB/s) x storage_tbps
    facility     = IT x PUE,  PUE = 1 + cooling(type) + distribution losses + misc
                   (the site's PUE when a site is given)

``power()`` takes what the other layers computed — the step engine's result (its exposed-time
breakdown) and the failures the job sees (:class:`Interruptions`, from the goodput model) — and
never plans or simulates reliability itself; :func:`gigafactory.twin.scenario_power` chains them
for a scenario. Without a step it uses the sourced default breakdown of catalog/power.yaml and
says so in the notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

from ..errors import SpecError
from ..network.optics import power_w
from ..network.topology import build_topology
from ..perf.powercap import capped_draw_w
from ..perf.step import StepResult
from ..specs import Cluster, Site
from . import waveform as wv
from .goodput import GoodputResult
from .load import PHASES, LoadModel, consts
from .reliability import failure_model
from .site import RunEnergy, SiteLoad, SiteVerdict, run_energy, verdict


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
    net = consts("network")
    topo = build_topology(cluster)
    fab = cluster.fabric
    sw_w, op_frac, sw_frac = fab.switch_w, float(net["optic_active_frac"]), float(net["switch_active_frac"])
    tiers = [Item(name, n, n * sw_w, n * sw_w * sw_frac) for name, n in topo.switches_by_name.items()]
    n_sw = float(topo.total_switches)
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
    try:
        return power_w(kind)
    except KeyError:  # a kind optics.yaml does not list
        return default


def budget(cluster: Cluster, *, site_pue: float | None = None, smoothing: bool = False) -> Budget:
    """The bottom-up power budget of `cluster` (a validated Cluster); memoised per design. With
    `smoothing`, the load model has GPU power smoothing's floor and ramp limit (catalog smoothing)."""
    b = _budget(cluster.model_dump_json(), site_pue)
    if not smoothing:
        return b
    g, sm = cluster.gpu, consts("smoothing")
    load = replace(b.load, gpu_floor_w=min(float(sm["floor_frac"]) * g.tdp_w, b.load.gpu_phase_w["compute"]),
                   gpu_ramp_w_per_s=float(sm["ramp_frac_per_s"]) * g.tdp_w)
    return replace(b, load=load)


def facility_mw(cluster: Cluster, site: Site | None) -> float:
    """The facility power a cluster is provisioned for: IT nameplate x PUE (the site's, else the
    cooling model's). The one figure the scenario gate, ``power``, ``simulate`` and ``cost`` use."""
    return budget(cluster, site_pue=site.pue if site else None).facility_mw


@lru_cache(maxsize=256)
def _budget(cluster_json: str, site_pue: float | None) -> Budget:
    cluster = Cluster.model_validate_json(cluster_json)
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
    other_active = it_draw - c.num_gpus * phase["compute"]
    host_np = c.num_servers * su.server_overhead_w
    other_idle = other_active - host_np * act + host_np * float(host["idle_frac"])
    load = LoadModel(
        num_gpus=c.num_gpus,
        gpu_phase_w=phase,
        gpu_idle_w=g.idle_w,
        gpu_floor_w=0.0,  # no smoothing: see budget()
        gpu_ramp_w_per_s=None,
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


# --------------------------------------------------------------------------- the power report


@dataclass(frozen=True)
class Interruptions:
    """The failures and checkpoints the day series draws: what the reliability model says."""

    per_day: float  # job interruptions per day
    down_s: float  # the job is down this long per interruption (detect + restart + checkpoint load)
    checkpoint_interval_s: float
    checkpoint_stall_s: float  # every GPU waits this long at each checkpoint
    source: str

    @classmethod
    def from_goodput(cls, gp: GoodputResult) -> Interruptions:
        """The interruptions of the goodput Monte Carlo (the same rates, restart and checkpoints)."""
        down_s = (gp.detect_min + gp.restart_min) * 60.0 + gp.checkpoint_load_s
        return cls(gp.interruptions_per_day, down_s, gp.interval_min * 60.0, gp.checkpoint_stall_s,
                   f"goodput model ({gp.profile}, {gp.gpus:,} GPUs)")

    @classmethod
    def of_cluster(cls, cluster: Cluster, profile: str = "llama3-405b") -> Interruptions:
        """A bare cluster (no job): the profile's failure rates on all its GPUs, recovery times from the
        profile, the default checkpoint stall of catalog/power.yaml."""
        fm = failure_model(cluster, profile)
        rec = fm.recovery
        stall = float(consts("supply")["default_checkpoint_stall_s"])
        return cls(fm.per_day, (rec.detect_min + rec.restart_min) * 60.0, rec.checkpoint_interval_min * 60.0,
                   stall, f"failure model {profile} on all {cluster.num_gpus:,} GPUs, default checkpoint stall")


@dataclass(frozen=True)
class PowerReport:
    budget: Budget
    step_s: float
    breakdown: dict[str, float]
    breakdown_source: str
    step_it: wv.SwingStats  # IT waveform over many steps
    step_facility: wv.SwingStats
    smoothed_it: wv.SwingStats | None  # the same with GPU power smoothing (when not already on)
    smoothing: bool
    day_facility: wv.SwingStats  # 1 s day series, checkpoints and failures included
    day_events: wv.DayEvents
    daily_it_mwh: float
    failure_drop_it_mw: float  # step peak -> job down (idle), IT
    interruptions: Interruptions
    site_load: SiteLoad | None
    verdict: SiteVerdict | None
    run: RunEnergy | None  # the whole training run, when its length is known
    notes: tuple[str, ...] = field(default_factory=tuple)
    site: Site | None = None
    step_wave: wv.Waveform | None = field(default=None, repr=False, compare=False)  # for plots
    day_wave: wv.Waveform | None = field(default=None, repr=False, compare=False)

    @property
    def interruptions_per_day(self) -> float:
        return self.interruptions.per_day

    def energy(self, hours: float) -> RunEnergy:
        """Energy, fuel, CO2 and cost of running this job for `hours` on the report's site."""
        if self.site is None:
            raise SpecError("site", "no site to price energy on")
        return run_energy(self.site, self.day_facility.mean_mw, hours)

    def summary(self) -> dict[str, float | bool | None]:
        """Headline figures."""
        return {
            "it_mw": round(self.budget.it_mw, 2),
            "facility_mw": round(self.budget.facility_mw, 2),
            "peak_mw": round(self.step_facility.peak_mw, 2),
            "average_mw": round(self.day_facility.mean_mw, 2),
            "swing_mw": round(self.step_it.swing_mw, 2),
            "swing_hz": round(self.step_it.dominant_hz, 3),
            "failure_drops_per_day": round(self.interruptions.per_day, 3),
            "daily_mwh": round(self.day_facility.energy_mwh, 1),
            "run_mwh": round(self.run.facility_mwh, 0) if self.run else None,
            "site_fits": self.verdict.fits if self.verdict else None,
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, step_wave=None, day_wave=None))
        d.pop("step_wave", None)
        d.pop("day_wave", None)
        d["summary"] = self.summary()
        return d


def default_step() -> tuple[float, dict[str, float]]:
    """The sourced default step (catalog/power.yaml default-step): (step s, exposed s by phase)."""
    d = consts("default-step")
    step_s = float(d["step_s"])
    return step_s, {k: float(d[k]) * step_s for k in PHASES if k in d}


def _with_active(b: Budget, active_gpus: int | None, notes: list[str]) -> Budget:
    """The job runs on `active_gpus` of the cluster's GPUs: the rest sit at idle draw and do not swing."""
    load = b.load
    if active_gpus is None or active_gpus >= load.num_gpus:
        return b
    if active_gpus < 1:
        raise SpecError("active_gpus", f"must be at least 1, got {active_gpus}")
    idle = (load.num_gpus - active_gpus) * load.gpu_idle_w
    notes.append(f"the job runs on {active_gpus:,} of {load.num_gpus:,} GPUs; the rest draw idle power")
    return replace(b, load=replace(load, num_gpus=active_gpus, other_active_w=load.other_active_w + idle,
                                   other_idle_w=load.other_idle_w + idle))


def power(
    cluster: Cluster,
    site: Site | None = None,
    *,
    step: StepResult | Mapping[str, float] | None = None,
    interruptions: Interruptions | None = None,
    smoothing: bool = False,
    active_gpus: int | None = None,
    run_hours: float | None = None,
    steps: int = 16,
    seed: int = 0,
) -> PowerReport:
    """Power budget, waveform, day series and site verdict of a job on `cluster` at `site`.

    `step`: the step engine's result (its breakdown; the job runs on its plan's GPUs unless
    `active_gpus` says otherwise) or exposed seconds by phase; default: the sourced default step.
    `interruptions`: the failures the job sees (default: the cluster's failure model, all GPUs).
    `run_hours`: the run to price (energy, fuel, CO2, cost); none when not given.
    """
    if not isinstance(cluster, Cluster):
        raise SpecError("cluster", f"expected a Cluster spec, got {type(cluster).__name__}")
    notes: list[str] = []
    if isinstance(step, StepResult):
        step_s, bd, src = step.step_s, {k: float(v) for k, v in step.breakdown.items()}, "step engine"
        active_gpus = active_gpus if active_gpus is not None else step.plan.gpus
    elif step is not None:
        bd = {k: float(v) for k, v in step.items()}
        step_s, src = sum(bd.values()), "given"
    else:
        step_s, bd = default_step()
        src = "default"
        notes.append("no job given: default step breakdown (Llama 3 405B-like, catalog/power.yaml default-step)")
    if interruptions is None:
        interruptions = Interruptions.of_cluster(cluster)
    pue = site.pue if site else None
    b = budget(cluster, site_pue=pue, smoothing=smoothing)
    notes += list(b.notes)
    b = _with_active(b, active_gpus, notes)
    wf = wv.step_waveform(b.load, bd, steps=steps)
    it_stats = wv.swing_stats(wf)
    fac_stats = wv.swing_stats(wf, facility=True)
    smoothed = None
    if not smoothing:
        bs = _with_active(budget(cluster, site_pue=pue, smoothing=True), active_gpus, [])
        smoothed = wv.swing_stats(wv.step_waveform(bs.load, bd, steps=steps))
    ir = interruptions
    day, ev = wv.day_series(b.load, it_stats.mean_mw * 1e6, checkpoint_interval_s=ir.checkpoint_interval_s,
                            checkpoint_stall_s=ir.checkpoint_stall_s, interruptions_per_day=ir.per_day,
                            restart_s=ir.down_s, seed=seed)
    day_fac = wv.swing_stats(wv.Waveform(day.t_s, day.facility_w, day.dt_s))
    drop_it = it_stats.peak_mw - b.load.it_idle_w / 1e6
    sl = ver = run = None
    if site is not None:
        it_mean = it_stats.mean_mw * 1e6
        idle_fac = float(b.load.facility_w(b.load.it_idle_w, it_mean)) / 1e6
        above = (wf.facility_w - wf.facility_w.mean()).clip(min=0).sum() * wf.dt_s / steps / 3.6e9
        sl = SiteLoad(fac_stats.peak_mw, fac_stats.mean_mw, fac_stats.trough_mw, idle_fac, step_s, float(above),
                      it_stats.dominant_hz, b.facility_mw)
        ver = verdict(site, sl)
        if run_hours is not None:
            run = run_energy(site, day_fac.mean_mw, run_hours)
    return PowerReport(
        budget=b, step_s=step_s, breakdown=bd, breakdown_source=src, step_it=it_stats, step_facility=fac_stats,
        smoothed_it=smoothed, smoothing=smoothing, day_facility=day_fac, day_events=ev,
        daily_it_mwh=day.energy_j / 3.6e9, failure_drop_it_mw=drop_it, interruptions=interruptions,
        site_load=sl, verdict=ver, run=run, notes=tuple(notes), site=site, step_wave=wf, day_wave=day,
    )
