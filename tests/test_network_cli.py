"""`gigafactory network`: table, JSON, side by side, unbuildable designs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gigafactory.cli.main import app

runner = CliRunner()


def test_json_has_the_counts() -> None:
    r = runner.invoke(app, ["network", "--cluster", "eos", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["switches_by_tier"] == {"leaf": 336, "spine": 336, "core": 168}
    assert d["contention"]["permutation"]["adaptive"]["throughput"] == 1.0
    assert d["contention"]["permutation"]["ecmp"]["throughput"] < 0.7


def test_compare_side_by_side() -> None:
    r = runner.invoke(app, ["network", "--cluster", "eos", "--compare", "selene"])
    assert r.exit_code == 0, r.output
    assert "eos" in r.stdout and "selene" in r.stdout and "bisection" in r.stdout


def test_unbuildable_design_names_the_fix() -> None:
    r = runner.invoke(app, ["network", "--cluster", "eos", "--set", "tiers=2"])
    assert r.exit_code == 2
    assert "smallest fixes" in r.output and "tiers=3" in r.output


def test_gf_network_report_takes_a_cluster_spec() -> None:
    import gigafactory as gf
    import gigafactory.network.topology  # noqa: F401  (gf.network is the subpackage, nothing else)

    r = gf.network_report(gf.spec("clusters", "selene"), patterns=("permutation",))
    assert r.topology.tiers == 3 and "permutation" in r.contention
    assert gf.network.network_report is gf.network_report
