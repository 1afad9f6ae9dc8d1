"""A site's buildings: rack positions, floor, cooling and feed; clusters over several buildings,
one build schedule per building."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigafactory.errors import SpecError
from gigafactory.fleet.buildings import layout, m2_per_rack, schedule
from gigafactory.fleet.power import budget
from gigafactory.resolve import load_scenario

HALLS = {"count": 2, "floor_m2": 3000, "rack_positions": 1000, "cooling_mw": 50}


def colossus(**halls):
    return load_scenario(None, {"site.buildings": {**HALLS, **halls}})


def rack_kw(scen) -> float:
    return budget(scen.cluster, site_pue=scen.site.pue).it_mw * 1e3 / scen.cluster.num_racks


def test_footprint_by_cooling_from_the_catalog() -> None:
    assert m2_per_rack("direct-liquid") == 3.0 and m2_per_rack("air") == 2.6
    assert m2_per_rack("immersion") > m2_per_rack("direct-liquid") > m2_per_rack("air")


def test_the_tightest_limit_sets_the_racks_per_building() -> None:
    s = colossus()
    lay = layout(s)
    kw = rack_kw(s)
    # positions 1,000; floor 3,000 m2 / 3 m2 = 1,000; cooling 50 MW / ~91.7 kW = 545 racks
    by = {lim.name: lim.racks for lim in lay.limits}
    assert by == {"rack positions": 1000, "floor space": 1000, "cooling": math.floor(50e3 / kw)}
    assert lay.binding == "cooling" and lay.racks_max_per_building == by["cooling"] == 545
    assert lay.racks == 1563 and lay.buildings_needed == 3  # ceil(1,563 / 545)
    assert not lay.fits
    assert "add 1 building(s)" in lay.reason and "bound by cooling" in lay.reason
    assert "cut to 69,760 GPUs" in lay.reason  # 2 x 545 racks x 64 GPUs, whole 8-GPU domains


def test_a_feed_limit_counts_the_pue() -> None:
    s = colossus(feed_mw=30)
    lay = layout(s)
    feed = next(lim for lim in lay.limits if lim.name == "electrical feed")
    assert feed.racks == math.floor(30e3 / (rack_kw(s) * s.site.pue))
    assert lay.binding == "electrical feed"


def test_enough_buildings_fit_and_share_the_racks_evenly() -> None:
    lay = layout(colossus(count=3))
    assert lay.fits and lay.reason == ""
    assert sum(lay.racks_per_building) == 1563 and max(lay.racks_per_building) <= 545
    assert max(lay.racks_per_building) - min(lay.racks_per_building) <= 1
    assert sum(lay.gpus_per_building) == 100_000
    assert lay.joining_tier is not None and lay.links_between_buildings > 0


def test_one_building_has_no_links_between_buildings() -> None:
    lay = layout(load_scenario())
    assert lay.fits and lay.buildings_needed == 1 and lay.joining_tier is None
    assert lay.links_between_buildings == 0


def test_site_without_buildings_is_not_laid_out() -> None:
    assert layout(load_scenario("gpt4-a100")) is None


def test_start_days_must_match_the_buildings() -> None:
    with pytest.raises(SpecError, match="start_days lists 1 days for 2 buildings"):
        colossus(start_days=[0])
    with pytest.raises(SpecError, match="0 or later"):
        colossus(start_days=[0, -5])


def test_stargate_spans_twenty_buildings_on_a_four_tier_fabric() -> None:
    lay = layout(load_scenario("stargate-1m"))
    assert lay.fits and lay.buildings_needed == len(lay.racks_per_building) == 20
    assert lay.fabric_tiers == 4
    # a building (~50k GPUs) is larger than a spine pod (64 x 64 ports) and smaller than a core pod
    assert lay.joining_tier == "spine-core" and lay.links_between_buildings > 1_000_000


def test_one_build_schedule_per_building() -> None:
    s = load_scenario("stargate-1m")
    sc = schedule(s)
    starts = s.site.buildings.start_days
    assert [b.start_day for b in sc.buildings] == starts
    assert len(sc.buildings) == 20 and sum(b.racks for b in sc.buildings) == s.cluster.num_racks
    for b in sc.buildings:
        assert b.first_rack_day["p50"] > b.start_day and b.full_size_day["p50"] > b.first_rack_day["p50"]
    bu = sc.bringup
    assert bu.full_size_day["p50"] == pytest.approx(max(b.full_size_day["p50"] for b in sc.buildings), abs=0.2)
    assert bu.first_rack_day["p50"] == pytest.approx(min(b.first_rack_day["p50"] for b in sc.buildings), abs=0.2)
    curve = bu.racks_online["p50"]
    assert np.all(np.diff(curve) >= -1e-9) and curve[-1] == pytest.approx(s.cluster.num_racks)
    # before the second wave's first rack only the first wave's racks can be online
    wave1 = sum(b.racks for b in sc.buildings if b.start_day == 0)
    second = min(b.first_rack_day["p10"] for b in sc.buildings if b.start_day == 90)
    assert bu.racks_at(second - 1) <= wave1


def test_rented_capacity_is_ready_at_once() -> None:
    s = load_scenario("oracle-grok2")
    bu = schedule(s).bringup
    ready = s.capacity.ready_days
    assert bu.gpus_at(ready - 0.5).item() == 0 and bu.gpus_at(ready).item() == s.cluster.num_gpus
    assert bu.first_training_day["p90"] == bu.full_size_day["p50"] == ready


def test_the_site_verdict_carries_the_buildings_check() -> None:
    from gigafactory.twin import scenario_power, simulate

    s = load_scenario(None, {"site.buildings": HALLS})  # 2 buildings of 545 racks for 1,563 racks
    res = simulate(s, detail=False)
    chk = res.power.verdict.checks[-1]
    assert chk.name == "buildings" and not chk.ok and chk.fix == "add 1 building(s) or cut to 69,760 GPUs"
    assert not res.headline()["site_fits"] and "buildings: add 1 building(s)" in res.headline()["site_verdict"]
    assert scenario_power(s).verdict.checks[-1] == chk  # `power --scenario` sees the same check
    ok = simulate(load_scenario("stargate-1m"), detail=False).power.verdict.checks[-1]
    assert ok.name == "buildings" and ok.ok and ok.fix == "" and "spine-core" in ok.detail


def test_rented_capacity_skips_the_buildings_check() -> None:
    from gigafactory.twin import simulate

    res = simulate(load_scenario("abilene-gb200"), detail=False)
    assert all(c.name != "buildings" for c in res.power.verdict.checks)


@settings(max_examples=25, deadline=None)
@given(count=st.integers(1, 6), positions=st.integers(100, 3000), cooling=st.floats(10, 400),
       floor=st.floats(500, 20000))
def test_layout_invariants(count: int, positions: int, cooling: float, floor: float) -> None:
    lay = layout(colossus(count=count, rack_positions=positions, cooling_mw=cooling, floor_m2=floor))
    assert lay.racks_max_per_building == min(lim.racks for lim in lay.limits)
    assert lay.fits == (lay.buildings_needed <= count)
    assert sum(lay.racks_per_building) == lay.racks and sum(lay.gpus_per_building) == 100_000
    assert max(lay.racks_per_building) - min(lay.racks_per_building) <= 1
    if lay.fits:
        assert max(lay.racks_per_building) <= lay.racks_max_per_building and lay.fix == ""
    else:
        assert lay.fix and lay.racks_max_per_building * count < lay.racks
