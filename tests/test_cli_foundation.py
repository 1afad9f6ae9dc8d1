"""The CLI end to end through typer's runner: catalog, scenario, simulate, errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gigafactory import catalog
from gigafactory.cli.main import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize("kind", list(catalog.KINDS))
def test_catalog_list_every_kind(kind: str) -> None:
    r = run("catalog", "list", kind, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert {e["id"] for e in data[kind]} == set(catalog.ids(kind))
    r = run("catalog", "list", kind)
    assert r.exit_code == 0


@pytest.mark.parametrize("name", [catalog.ids(k)[0] for k in catalog.KINDS])
def test_catalog_show_one_of_every_kind(name: str) -> None:
    r = run("catalog", "show", name, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["entry"]["id"] == name
    assert all(v["source"] for v in data["sources"].values())
    assert run("catalog", "show", name).exit_code == 0


def test_catalog_show_unknown_is_one_line_exit_2() -> None:
    r = run("catalog", "show", "H100")
    assert r.exit_code == 2
    assert "did you mean 'h100-sxm'" in r.stderr
    assert "Traceback" not in r.output


def test_scenario_show_default_and_override() -> None:
    r = run("scenario", "show", "--json", "--set", "cluster.num_gpus=50000")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["cluster"]["num_gpus"] == 50000 and d["job"]["model"]["id"] == "gpt4-moe-1.8t"
    assert run("scenario", "show").exit_code == 0


def test_scenario_show_bad_override_exit_2() -> None:
    r = run("scenario", "show", "--set", "cluster.num_gpus=7")
    assert r.exit_code == 2
    assert "num_gpus=7" in r.stderr


def test_simulate_runs_on_default() -> None:
    r = run("simulate")
    assert r.exit_code == 0, r.output
    assert "100,000" in r.stdout


def test_main_entry_point_exits_2_on_bad_input(capsys) -> None:
    from gigafactory.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["catalog", "list", "gpuz"])
    assert e.value.code == 2
    assert "did you mean 'gpus'" in capsys.readouterr().err


def test_plan_unknown_gpu_is_one_line_exit_2() -> None:
    r = run("plan", "--model", "llama3-8b", "--gpu", "h10", "--gpus", "8", "--gbs", "16", "--seq", "8192")
    assert r.exit_code == 2
    assert "did you mean 'h100-sxm'" in r.stderr and "storage_tbps" not in r.stderr
