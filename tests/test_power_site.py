"""Site supply: verdict, sizing, energy/fuel/CO2/cost, the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import gigafactory as gf
from gigafactory import resolve
from gigafactory.cli.main import app
from gigafactory.fleet.site import SiteLoad, run_energy, verdict


def _load(**kw) -> SiteLoad:
    base = dict(peak_mw=130.0, mean_mw=118.0, trough_mw=78.0, idle_mw=55.0, period_s=6.0, cycle_mwh=0.02,
                dominant_hz=0.17)
    return SiteLoad(**{**base, **kw})


def test_colossus_fits_memphis_with_its_megapacks():
    r = gf.power(gf.load_scenario())
    v = r.verdict
    assert v is not None and v.fits, v.reasons
    assert 30 <= r.step_it.swing_mw <= 80  # 100k H100: tens of MW per step
    assert v.sizing.battery_mw <= 150  # the 150 MW of Megapacks covers it


def test_no_battery_fails_swings_and_drop_then_sizing_fixes_it():
    site = resolve.site({"use": "memphis", "battery": None})
    v = verdict(site, _load())
    assert not v.fits
    names = {c.name for c in v.checks if not c.ok}
    assert names == {"swings", "failure drop"}
    sized = resolve.site({"use": "memphis", "battery": {"mw": v.sizing.battery_mw, "mwh": v.sizing.battery_mwh,
                                                        "round_trip_eff": 0.9}})
    assert verdict(site=sized, load=_load()).fits
    smaller = resolve.site({"use": "memphis", "battery": {"mw": v.sizing.battery_mw * 0.9,
                                                          "mwh": v.sizing.battery_mwh, "round_trip_eff": 0.9}})
    assert not verdict(smaller, _load()).fits


def test_turbine_sizing_for_an_islanded_site():
    """No grid: ceil(130 / 12) = 11 turbines + 1 spare."""
    site = resolve.site({"use": "memphis", "grid_mw": 0, "generation": [
        {**resolve.site("memphis").generation[0].model_dump(exclude_none=True), "count": 5}]})
    v = verdict(site, _load())
    assert v.sizing.turbines == 12
    assert not v.checks[0].ok  # 5 x 12 MW cannot carry 130 MW


def test_fuel_co2_cost_by_hand():
    """10 MW above a 150 MW grid for 10 h: 100 MWh at 10,000 Btu/kWh = 1,000 MMBtu -> 53.06 t CO2, $3,500."""
    site = resolve.site("memphis")
    e = run_energy(site, 160.0, 10.0)
    assert e.grid_mwh == pytest.approx(1500) and e.generation_mwh == pytest.approx(100)
    assert e.fuel_mmbtu == pytest.approx(1000)
    assert e.co2_t == pytest.approx(53.06 + 1500 * 0.4)
    assert e.cost_usd == pytest.approx(1500 * 78 + 3500)
    assert e.unserved_mwh == 0


def test_cli_power_text_and_json():
    runner = CliRunner()
    out = runner.invoke(app, ["power"])
    assert out.exit_code == 0, out.output
    for word in ("GPUs", "servers", "racks", "scale-out fabric", "facility overhead", "swing", "site memphis", "sizing"):
        assert word in out.output
    js = runner.invoke(app, ["power", "--cluster", "colossus", "--json"])
    assert js.exit_code == 0
    d = json.loads(js.output)
    assert d["summary"]["swing_mw"] > 10 and d["verdict"]["site"] == "memphis"
    bad = runner.invoke(app, ["power", "--cluster", "colossos"])
    assert bad.exit_code == 2
