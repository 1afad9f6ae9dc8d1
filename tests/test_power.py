"""Power budget: bottom-up IT load, facility overhead, rack limits, power caps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigafactory import catalog, resolve
from gigafactory.fleet.power import budget, pue_model
from gigafactory.perf.powercap import perf_scale_at_cap


def _cluster(**over):
    return resolve.spec("clusters", {"use": "colossus", **over}, "cluster")


def _nvl72(n_racks: int = 8):
    return _cluster(gpu="gb200", scale_up="gb200-nvl72", num_gpus=72 * n_racks)


def test_catalog_numbers_all_sourced():
    prov = catalog.provenance("power", "gpu-phase-draw")
    assert prov["compute"].source and prov["compute"].estimate
    assert set(catalog.table("power")) >= {"facility", "smoothing", "supply", "host", "storage"}


def test_colossus_critical_it_load_near_150_mw():
    """SemiAnalysis: a 100k-H100 cluster needs ~150 MW of critical IT (servers ~1,275 W/GPU + ~10%)."""
    pytest.importorskip("gigafactory.network.topology")
    b = budget(_cluster())
    assert abs(b.it_mw - 150) / 150 <= 0.10, b.it_mw
    fabric = b.tree.find("IT load").children[-2]
    assert fabric.nameplate_w > 0  # switches and optics counted from the topology


def test_colossus_servers_match_dgx_h100_nameplate():
    """Servers alone: 12,500 x (8 x 700 W + 4,575 W) = 127.2 MW (DGX H100 10.2 kW max each)."""
    b = budget(_cluster())
    servers = sum(i.nameplate_w for i in b.tree.find("IT load").children if "rack" in i.name)
    assert servers == pytest.approx(12_500 * 10_175, rel=1e-9)
    assert b.rack_kw == pytest.approx(8 * 10.175, rel=1e-9)
    assert b.rack_ok


def test_gb200_nvl72_rack_near_nvidia_figure():
    """GB200 NVL72 rack: ~120 kW commonly quoted (NVIDIA/Supermicro), 132 kW of power shelves."""
    b = budget(_nvl72())
    assert abs(b.rack_kw - 120) / 120 <= 0.10, b.rack_kw
    assert b.rack_kw <= 132 and b.rack_ok
    rack = b.tree.find("IT load").children[0]
    trays = [c for c in rack.children if c.name == "NVLink switch trays"]
    assert trays and trays[0].count == 8 * 18  # 9 trays x 2 chips per rack, 8 racks


def test_air_cooled_dense_rack_is_flagged():
    b = budget(_cluster(cooling="air"))
    assert not b.rack_ok and b.rack_limit_kw == 35
    assert any("cooling limit" in n for n in b.notes)


def test_pue_model_orders_cooling_types_and_site_pue_wins():
    pues = [pue_model(c)[0] for c in ("air", "rear-door", "direct-liquid", "immersion")]
    assert pues == sorted(pues, reverse=True)
    assert 1.05 <= pue_model("direct-liquid")[0] <= 1.2
    b = budget(_cluster(), site_pue=1.2)
    assert b.facility_nameplate_w == pytest.approx(1.2 * b.it_nameplate_w)
    assert b.tree.nameplate_w == pytest.approx(b.facility_nameplate_w)


def test_tree_sums():
    b = budget(_nvl72(3))

    def check(item):
        if item.children:
            assert item.nameplate_w == pytest.approx(sum(c.nameplate_w for c in item.children), rel=1e-9)
            for c in item.children:
                check(c)

    check(b.tree)


def test_power_cap_limits_draw_and_slows_compute():
    h100 = resolve.gpu("h100-sxm")
    capped = h100.model_copy(update={"power_cap_w": 500})
    assert perf_scale_at_cap(h100) == 1.0
    assert perf_scale_at_cap(capped) == pytest.approx(((500 - 90) / (651 - 90)) ** (1 / 2.6), rel=1e-9)  # 0.886
    assert perf_scale_at_cap(h100, 600) == pytest.approx(0.964, abs=0.002)
    b0 = budget(_cluster(num_gpus=8192))
    b1 = budget(_cluster(num_gpus=8192, gpu={"use": "h100-sxm", "power_cap_w": 500}))
    assert b1.load.gpu_phase_w["compute"] == 500
    assert b1.load.gpu_phase_w["bubble"] == b0.load.gpu_phase_w["bubble"]  # low phases sit under the cap
    assert b1.it_nameplate_w == pytest.approx(b0.it_nameplate_w - 8192 * 200)


@settings(max_examples=40, deadline=None)
@given(a=st.floats(100, 700), b=st.floats(100, 700))
def test_perf_scale_monotone_in_cap(a, b):
    h100 = resolve.gpu("h100-sxm")
    lo, hi = sorted((a, b))
    assert 0 < perf_scale_at_cap(h100, lo) <= perf_scale_at_cap(h100, hi) <= 1.0


def test_idle_gpus_draw_idle_power_and_do_not_swing() -> None:
    from gigafactory.fleet.power import power as full_power

    bd = {"compute": 4.0, "tp": 0.0, "cp": 0.0, "ep": 0.0, "pp": 0.3, "dp": 0.5, "bubble": 0.7, "optimizer": 0.1}
    c = resolve.cluster("colossus")
    all_ = full_power(c, step=bd)
    half = full_power(c, step=bd, active_gpus=50_000)
    # half the GPUs in the job: half the per-step swing, the same draw when the job is down
    assert half.step_it.swing_mw == pytest.approx(all_.step_it.swing_mw / 2, rel=0.02)
    assert half.budget.load.it_idle_w == pytest.approx(all_.budget.load.it_idle_w)
    assert half.step_it.peak_mw < all_.step_it.peak_mw
    assert half.budget.it_mw == all_.budget.it_mw  # nameplate budget is the whole cluster
