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


def test_firm_supply_is_grid_plus_generation_never_the_battery():
    """The gate and the sustained check count grid + generation; a battery does not carry load."""
    from gigafactory.fleet.power import facility_mw

    scen = gf.load_scenario()
    need = facility_mw(scen.cluster, scen.site)
    res = gf.simulate(scen, detail=False)
    # one facility figure: the gate, power, simulate and cost
    assert res.power.budget.facility_mw == pytest.approx(need) and res.cost.facility_mw == pytest.approx(need)
    assert res.headline()["facility_mw"] == pytest.approx(need)
    # memphis: grid 150 + 35 x 12 MW turbines = 570 MW firm (+150 MW of Megapacks that do not count)
    over = {"site.generation": [], "site.grid_mw": need - 1.0}
    with pytest.raises(gf.SpecError) as exc:
        gf.load_scenario(None, over)
    msg = str(exc.value)
    short = need - (need - 1.0)
    assert f"needs {need:,.0f} MW firm, has {need - 1.0:,.0f}" in msg and "batteries do not count" in msg
    assert f"add {short:,.0f} MW of generation or grid" in msg
    # with the grid at the facility figure it passes, battery or not
    gf.load_scenario(None, {"site.generation": [], "site.grid_mw": need + 1.0, "site.battery": None})


def test_sustained_check_names_the_smallest_fix():
    site = resolve.site({"use": "memphis", "grid_mw": 100, "generation": []})
    v = verdict(site, _load(peak_mw=130.0))
    c = v.checks[0]
    assert not c.ok and c.fix == ("needs 130 MW firm, has 100 (grid 100 + generation 0; batteries do not count): "
                                  "add 30 MW of generation or grid")
    assert v.reasons[0] == f"sustained load: {c.fix}"
    assert all(ch.fix for ch in v.checks if not ch.ok) and all(not ch.fix for ch in v.checks if ch.ok)


def test_failure_drop_fix_is_the_missing_battery():
    """The drop check's fix is what the battery lacks: the need minus what it has."""
    from gigafactory.fleet.site import drop_energy_mwh

    site = resolve.site({"use": "memphis", "battery": None})
    load = _load()
    v = verdict(site, load)
    need_mw, need_mwh = drop_energy_mwh(site, load.peak_mw - load.idle_mw, load.mean_mw)
    drop = next(c for c in v.checks if c.name == "failure drop")
    assert not drop.ok and f"add {need_mw:,.1f} MW" in drop.fix
    from gigafactory.fleet.load import consts

    soc = float(consts("supply")["battery_soc_window"])
    assert f"/ {need_mwh / soc:,.2f} MWh of battery" in drop.fix


def test_zero_battery_or_generation_means_none():
    s = resolve.site({"use": "memphis", "battery": {"mw": 0, "mwh": 0, "round_trip_eff": 0.9}})
    assert s.battery is None
    scen = gf.load_scenario(None, {"site.battery.mw": 0})
    assert scen.site.battery is None
    no_gen = resolve.site({"use": "memphis", "generation": [{**resolve.site("memphis").generation[0]
                                                              .model_dump(exclude_none=True), "count": 0}]})
    assert no_gen.generation_mw == 0 and no_gen.firm_supply_mw == no_gen.grid_mw


def test_power_and_simulate_agree_on_one_scenario():
    """`power --scenario` and `simulate` on one scenario: the same swing and the same failure drops."""
    runner = CliRunner()
    over = ["--set", "cluster.num_gpus=32768", "--set", "policies.trials=100"]
    sim = json.loads(runner.invoke(app, ["simulate", "--json", *over]).stdout)["headline"]
    pw = json.loads(runner.invoke(app, ["power", "--json", *over]).stdout)
    assert pw["summary"]["swing_mw"] == pytest.approx(sim["swing_mw"], abs=0.01)
    assert pw["interruptions"]["per_day"] == pytest.approx(sim["interruptions_per_day"])
    assert pw["summary"]["facility_mw"] == pytest.approx(sim["facility_mw"], abs=0.01)
    assert pw["summary"]["site_fits"] == sim["site_fits"]
    assert pw["day_events"]["failures"] == gf.simulate(None, {"cluster.num_gpus": 32768, "policies.trials": 100},
                                                       detail=False).power.day_events.failures
