"""Cost model: hand-checked bill of materials, CRF, rental claims, properties, errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigafactory import resolve
from gigafactory.errors import SpecError
from gigafactory.fleet.cost import cost, crf, implied_rate, rental_cost


def small(**over):
    """A 1,024-GPU Colossus-style cluster with no site (default PUE, new building, no generation)."""
    spec = {"use": "colossus", "num_gpus": 1024, "site": None, "tiers": None, "storage_tbps": 0.05}
    spec.update(over)
    return resolve.cluster(spec)


def line(rep, category, contains=""):
    hits = [ln for ln in rep.capex if ln.category == category and contains in ln.item]
    assert len(hits) == 1, [ln.item for ln in rep.capex]
    return hits[0]


def test_small_cluster_line_by_line():
    rep = cost(small())
    # 1,024 H100 = 128 HGX servers at $270,000 (DGX H100 price, SemiAnalysis via Epoch)
    srv = line(rep, "compute")
    assert (srv.qty, srv.unit_usd, srv.total_usd) == (128, 270_000, 34_560_000)
    # 128 servers / 8 per rack = 16 racks at $50,000 of liquid-cooling rack infrastructure
    rk = line(rep, "racks")
    assert (rk.qty, rk.total_usd) == (16, 800_000)
    # 128 domains x 4 NVSwitch ASICs, priced inside the servers
    nv = line(rep, "scale-up")
    assert (nv.qty, nv.total_usd) == (512, 0)
    # storage: 0.05 TB/s x 120 PB per TB/s = 6 PB at $200k/PB
    sto = line(rep, "storage")
    assert sto.qty == pytest.approx(6) and sto.total_usd == pytest.approx(1_200_000)
    # plant and building per MW of IT load; no site -> new build at $5.5M/MW
    plant, bldg = line(rep, "facility"), line(rep, "building")
    assert plant.qty == pytest.approx(rep.it_mw) and plant.unit_usd == 6_800_000
    assert bldg.unit_usd == 5_500_000 and "new-build" in bldg.item
    assert not [ln for ln in rep.capex if ln.category in ("generation", "battery")]
    for ln in rep.capex:
        assert ln.total_usd == pytest.approx(ln.qty * ln.unit_usd)
        assert ln.source
    assert rep.capex_total_usd == pytest.approx(sum(ln.total_usd for ln in rep.capex))
    assert rep.capex_total_usd == pytest.approx(sum(rep.capex_by_category.values()))
    assert any("no site" in n for n in rep.notes)
    # IT MW is at least the GPU servers' nameplate: 128 x (8 x 700 + 4,575) W = 1.3024 MW
    assert rep.it_mw >= 1.3024 - 1e-9


def test_network_bom_counts_come_from_the_topology():
    # Colossus as built (network.topology): 1,568 leaf + 1,568 spine + 784 core switches
    rep = cost(resolve.cluster("colossus"))
    switches = sum(x.qty for x in rep.capex if x.category == "network" and x.unit == "switch")
    assert switches == 1568 + 1568 + 784


def test_crf_by_hand():
    # 8%, 5 years: 0.08 * 1.08^5 / (1.08^5 - 1) = 0.08 * 1.469328 / 0.469328 = 0.250456
    assert crf(0.08, 5) == pytest.approx(0.250456, abs=1e-6)
    assert crf(0.0, 4) == 0.25


def test_annualised_and_gpu_hour():
    rep = cost(small())
    life = {"compute": 5, "racks": 10, "network": 5, "storage": 5, "facility": 20, "building": 30}
    for cat, usd in rep.capex_by_category.items():
        assert rep.annualized_capex_by_category[cat] == pytest.approx(usd * crf(0.08, life.get(cat, 5)))
    per_h = (rep.annualized_capex_usd + rep.opex_per_year_usd) / (1024 * 8760)
    assert rep.usd_per_gpu_hour == pytest.approx(per_h)
    # owning is cheaper than renting at list prices for a fully used cluster
    assert rep.usd_per_gpu_hour < rep.rental_usd_per_gpu_hour["reserved"]


def test_claim_e_rent_100k_gb200_two_years():
    hours = 2 * 8760
    # "$5B for 2 years of 100,000 GB200" implies $2.85/GPU-h
    assert implied_rate(5e9, 100_000, hours) == pytest.approx(2.854, abs=1e-3)
    res = rental_cost("gb200", 100_000, hours, "reserved")
    od = rental_cost("gb200", 100_000, hours, "on-demand")
    assert res.total_usd == pytest.approx(res.usd_per_gpu_hour * 1.752e9)
    # catalog rates put the claim below both the reserved and on-demand rates
    assert 2.854 < res.usd_per_gpu_hour < od.usd_per_gpu_hour
    assert res.total_usd > 5e9 and res.estimate


def test_run_and_token_costs():
    s = resolve.load_scenario()
    rep = cost(s, training_days=90)
    r = rep.run
    assert r is not None and r.gpu_hours == 100_000 * 90 * 24
    assert r.at_cost_usd == pytest.approx(rep.usd_per_gpu_hour * r.gpu_hours)
    assert r.tokens == s.job.tokens
    assert r.usd_per_token == pytest.approx(r.at_cost_usd / 13e12)
    assert r.rental_reserved_usd == pytest.approx(2.35 * r.gpu_hours)
    # an explicit energy figure replaces the average-draw energy cost
    more = cost(s, training_days=90, energy_mwh=1e6)
    assert more.run.energy_usd == pytest.approx(1e6 * 78)  # all from the 150 MW grid at $78/MWh
    assert more.run.at_cost_usd != r.at_cost_usd


def test_colossus_site_lines():
    rep = cost(resolve.load_scenario())
    gen, bat = line(rep, "generation"), line(rep, "battery")
    assert gen.qty == 35 * 12 and bat.qty == 811  # SELC 35 turbines x 12 MW; 208 Megapacks
    assert bat.unit_usd == 327_900  # $1,278,860 / 3.9 MWh
    assert "existing-factory" in line(rep, "building").item
    # all-in capex per H100 in the published $47k-$65k band (tech-talk-cto $51.6k incl. facility)
    assert 45_000 < rep.capex_per_gpu_usd < 70_000
    assert rep.capex_by_category["compute"] == 12_500 * 270_000


def test_other_gpu_on_platform_adjusts_price():
    rep = cost(small(gpu="h200-sxm"))
    srv = line(rep, "compute")
    assert srv.unit_usd == 270_000 + 8 * (32_000 - 27_500) and srv.estimate


def test_rack_scale_system_priced_per_rack():
    rep = cost(small(gpu="gb200", scale_up="gb200-nvl72", num_gpus=72 * 16))
    sysl = line(rep, "compute")
    assert (sysl.qty, sysl.unit, sysl.unit_usd) == (16, "rack", 3_000_000)


def test_deterministic():
    assert cost(small()) == cost(small())


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 2000), st.integers(1, 2000))
def test_more_gpus_more_capex(a: int, b: int):
    lo, hi = sorted((a, b))
    if lo == hi:
        return
    c_lo, c_hi = cost(small(num_gpus=64 * lo)), cost(small(num_gpus=64 * hi))
    assert c_hi.capex_total_usd > c_lo.capex_total_usd
    assert c_hi.opex_per_year_usd > c_lo.opex_per_year_usd


def test_errors():
    with pytest.raises(SpecError, match="term"):
        rental_cost("h100-sxm", 8, 1, "spot")
    with pytest.raises(SpecError, match="no rental price"):
        rental_cost("tpu-v5", 8, 1)
    with pytest.raises(SpecError, match="training_days"):
        cost(small(), training_days=-1)
    assert math.isfinite(cost(small(), training_days=1).run.at_cost_usd)


def test_cli_cost():
    import json

    from typer.testing import CliRunner

    from gigafactory.cli.main import app

    runner = CliRunner()
    r = runner.invoke(app, ["cost", "--cluster", "colossus", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["num_gpus"] == 100_000 and data["capex_total_usd"] > 4e9
    r = runner.invoke(app, ["cost", "--days", "30"], catch_exceptions=False)
    assert r.exit_code == 0 and "capex bill of materials" in r.stdout and "per million tokens" in r.stdout
    r = runner.invoke(app, ["cost", "--cluster", "colosus"])
    assert r.exit_code == 2 and "did you mean 'colossus'" in r.output
