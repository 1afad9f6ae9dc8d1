"""Bring-up Monte Carlo: calibration to Colossus and Jensen's 3+1 years, determinism, properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigafactory import resolve
from gigafactory.errors import SpecError
from gigafactory.fleet import build as bm
from gigafactory.fleet.build import bringup


@pytest.fixture(scope="module")
def colossus():
    return resolve.cluster("colossus")


@pytest.fixture(scope="module")
def fast(colossus):
    return bringup(colossus, "colossus-fast", seed=0, trials=2000)


@pytest.fixture(scope="module")
def slow(colossus):
    return bringup(colossus, "conventional", seed=0, trials=1000)


def test_colossus_122_days_and_19_days(fast):
    ref = bm.reference()
    assert ref["colossus_total_days"] == 122 and ref["colossus_rack_to_training_days"] == 19
    assert fast.full_size_day["p50"] == pytest.approx(122, abs=4)
    assert fast.training_after_first_rack["p50"] == pytest.approx(19, abs=1.5)
    assert fast.full_size_day["p10"] < fast.full_size_day["p50"] < fast.full_size_day["p90"]
    # 100,000 H100 / 64 per rack = 1,563 racks
    assert fast.racks == 1563


def test_conventional_about_four_years(slow):
    years = slow.first_training_day["p50"] / 365.25
    assert 3.6 < years < 4.4  # Jensen: ~3 years to plan + 1 year to get it working
    assert 2.5 < slow.first_rack_day["p50"] / 365.25 < 3.5
    assert slow.full_size_day["p90"] > slow.full_size_day["p50"]


def test_phase_dependencies_respected(fast, slow):
    for b in (fast, slow):
        ends = {p.name: p for p in b.phases}
        for p in b.phases:
            for dep in p.after:
                assert p.start_p50 >= ends[dep].end_p50 - 1e-9
        assert b.first_rack_day["p50"] >= max(ends[n].end_p50 for n in ("power", "cooling", "network")) - 1e-9


def test_racks_online_curve_and_gpus(fast):
    for q in ("p10", "p50", "p90"):
        curve = fast.racks_online[q]
        assert np.all(np.diff(curve) >= 0) and curve[0] == 0 and curve[-1] <= fast.racks
    assert np.all(fast.racks_online["p10"] >= fast.racks_online["p90"])  # p90 = slow schedule
    start = fast.first_training_day["p50"]
    assert fast.gpus_at(start - 1) == 0
    g = fast.gpus_at(start)
    assert 0 < g < 100_000 and g % 8 == 0
    assert fast.gpus_at(fast.full_size_day["p50"] + 30) == 100_000
    days = np.arange(0, 200)
    assert np.all(np.diff(fast.gpus_at(days)) >= 0)


def test_deterministic(colossus):
    a, b = bringup(colossus, seed=3, trials=300), bringup(colossus, seed=3, trials=300)
    assert a.full_size_day == b.full_size_day and np.array_equal(a.racks_online["p50"], b.racks_online["p50"])
    c = bringup(colossus, seed=4, trials=300)
    assert c.full_size_day != a.full_size_day


@settings(max_examples=15, deadline=None)
@given(st.floats(2, 60), st.floats(2, 60))
def test_more_racks_per_day_earlier_full_size(r1: float, r2: float):
    lo, hi = sorted((r1, r2))
    c = resolve.cluster("colossus")
    slow_b = bringup(c, "colossus-fast", seed=1, trials=200, racks_per_day=lo)
    fast_b = bringup(c, "colossus-fast", seed=1, trials=200, racks_per_day=hi)
    assert fast_b.full_size_day["p50"] <= slow_b.full_size_day["p50"]
    assert fast_b.first_training_day["p50"] <= slow_b.first_training_day["p50"]


def test_scenario_profile_and_errors(colossus):
    s = resolve.load_scenario(None, {"policies.build_profile": "conventional"})
    assert bringup(s, trials=50).profile == "conventional"
    with pytest.raises(SpecError, match="unknown build profile"):
        bringup(colossus, "colosus-fast", trials=10)
    with pytest.raises(SpecError, match="racks_per_day"):
        bringup(colossus, racks_per_day=0, trials=10)
    tri = bm.Tri(1, 1, 1)
    cyc = [bm.Phase("a", ("b",), tri), bm.Phase("b", ("a",), tri)]
    with pytest.raises(SpecError, match="cycle"):
        bm._topological(cyc)


def test_cli_build():
    import json

    from typer.testing import CliRunner

    from gigafactory.cli.main import app

    runner = CliRunner()
    r = runner.invoke(app, ["build", "--cluster", "colossus", "--json", "--trials", "200"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["profile"] == "colossus-fast" and data["racks"] == 1563
    r = runner.invoke(app, ["build", "-p", "conventional", "--trials", "200"], catch_exceptions=False)
    assert r.exit_code == 0 and "first training" in r.stdout
    r = runner.invoke(app, ["build", "-p", "fast"])
    assert r.exit_code == 2 and "unknown build profile" in r.output
