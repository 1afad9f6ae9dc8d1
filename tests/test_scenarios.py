"""Built-in scenarios: listed, run by name, sourced; rented capacity; the two-year Abilene rental."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import pytest
from typer.testing import CliRunner

from gigafactory import catalog, yamlio
from gigafactory.catalog import _unwrap
from gigafactory.cli.main import app
from gigafactory.errors import SpecError
from gigafactory.fleet.cost import HOURS_PER_YEAR, rental_cost
from gigafactory.resolve import builtin_scenarios, load_scenario
from gigafactory.twin import simulate

BUILTIN = ["colossus-gpt4", "abilene-gb200", "colossus-grok3", "gpt4-a100", "oracle-grok2", "stargate-1m"]  # default first


@cache
def run(name: str):
    return simulate(load_scenario(name), detail=False)


def test_every_issue_scenario_is_built_in() -> None:
    assert builtin_scenarios() == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_scenario_is_sourced(name: str) -> None:
    """Like the catalog: every number in the file has a source in reach (its own or the scenario's)."""
    text = resources.files("gigafactory.catalog").joinpath("scenarios", f"{name}.yaml").read_text()
    raw = yamlio.load(text)
    assert raw.get("source") or name == "colossus-gpt4"
    if raw.get("source"):
        _unwrap(raw, "", raw["source"], {}, f"scenarios/{name}.yaml")  # raises on an unsourced number
    s = load_scenario(name)
    assert s.name == name and s.description


def test_scenarios_sit_on_their_own_sites() -> None:
    sites = {n: load_scenario(n).site.id for n in BUILTIN}
    assert sites["stargate-1m"] == "stargate-campus" and "Electrolux" not in load_scenario("stargate-1m").site.name
    assert sites["oracle-grok2"] == "oci-undisclosed" and sites["abilene-gb200"] == "abilene"
    assert sites["gpt4-a100"] == "azure-gpt4"
    assert sites["colossus-grok3"] == sites["colossus-gpt4"] == "memphis"  # Colossus grown in place


def test_scenario_sizes_match_the_public_record() -> None:
    n = {name: load_scenario(name).cluster.num_gpus for name in BUILTIN}
    assert n["colossus-grok3"] == 2 * n["colossus-gpt4"] == 200_000
    assert n["oracle-grok2"] == 24_000 and n["gpt4-a100"] == 25_000
    assert n["abilene-gb200"] == 100_008 and n["stargate-1m"] >= 1_000_000
    assert load_scenario("stargate-1m").cluster.gpu.id in ("gb200", "gb300")


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_scenario_simulates_by_name(name: str) -> None:
    h = run(name).headline()
    assert h["scenario"] == name and h["days_to_model_p90"] >= h["days_to_model_p50"] > 0
    assert 0 < h["gpus_used"] <= h["num_gpus"] and 0 < h["goodput_p50"] <= 1


def test_rented_scenario_has_no_capex_and_no_build() -> None:
    res = run("oracle-grok2")
    h, cap = res.headline(), res.scenario.capacity
    assert h["capacity"] == "rented" and h["days_counted_from"] == "contract signature"
    assert h["capex_usd"] is None and h["capex_per_gpu_usd"] is None
    assert res.cost.capex == [] and res.cost.capex_total_usd == 0.0 and res.cost.mode == "rented"
    # no build: the whole cluster is there on the ready day, and training starts then
    assert res.bringup.profile == "rented"
    assert h["first_training_day_p50"] == h["full_size_day_p50"] == cap.ready_days
    assert h["days_to_model_p50"] == pytest.approx(cap.ready_days + h["training_days_p50"])
    # the run's bill is GPUs x hours x the catalog's reserved rate
    rate = rental_cost("h100-sxm", 1, 1.0, cap.term).usd_per_gpu_hour
    assert h["usd_per_run"] == pytest.approx(24_000 * h["training_days_p50"] * 24 * rate)
    assert h["usd_per_gpu_hour"] == rate


def test_rented_cli_headline_says_so() -> None:
    r = CliRunner().invoke(app, ["simulate", "oracle-grok2"], env={"COLUMNS": "160"})
    assert r.exit_code == 0, r.output
    assert "contract signature" in r.output and "rented from Oracle" in r.output
    assert "capex" not in r.output and "ground-breaking" not in r.output


def test_abilene_contract_is_billed_in_full() -> None:
    res = run("abilene-gb200")
    h = res.headline()
    rate = rental_cost("gb200", 1, 1.0, "reserved").usd_per_gpu_hour
    assert h["usd_contract"] == pytest.approx(100_008 * 2 * HOURS_PER_YEAR * rate)
    assert h["usd_contract"] > h["usd_per_run"] > 0


def test_owned_scenario_keeps_capex_and_build() -> None:
    h = run("gpt4-a100").headline()
    assert h["capacity"] == "owned" and h["capex_usd"] > 0 and h["first_training_day_p50"] > 365


def test_capacity_fields_are_checked() -> None:
    with pytest.raises(SpecError, match="capacity.mode"):
        load_scenario(None, {"capacity.mode": "leased"})
    with pytest.raises(SpecError, match="rented only"):
        load_scenario(None, {"capacity.contract_years": 2})
    with pytest.raises(SpecError, match="ready_days"):
        load_scenario("oracle-grok2", {"capacity.ready_days": -1})


def test_claims_print_the_two_year_abilene_rental() -> None:
    r = CliRunner().invoke(app, ["claims", "e", "--json"])
    assert r.exit_code == 0, r.output
    (c,) = json.loads(r.output)
    hours = 2 * HOURS_PER_YEAR
    rate = rental_cost("gb200", 1, 1.0, "reserved").usd_per_gpu_hour
    assert c["numbers"]["contract_usd"] == pytest.approx(100_008 * hours * rate)
    assert "two-year Abilene rental" in c["figure"] and "abilene-gb200" in c["figure"]


def test_scenario_list_cli() -> None:
    r = CliRunner().invoke(app, ["scenario", "list", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["name"] for x in rows] == BUILTIN
    assert {x["name"]: x["capacity"] for x in rows}["oracle-grok2"] == "rented"
    assert sum(x["default"] for x in rows) == 1
    r = CliRunner().invoke(app, ["scenario", "list"], env={"COLUMNS": "160"})
    assert r.exit_code == 0 and "stargate-1m" in r.output


def test_unknown_scenario_name_suggests_the_closest() -> None:
    r = CliRunner().invoke(app, ["simulate", "oracle-grok"])
    assert r.exit_code == 2
    assert "did you mean 'oracle-grok2'" in r.output and "Traceback" not in r.output


def test_sourced_wrappers_in_user_files(tmp_path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("name: mine\ncluster: colossus\njob:\n  model: llama3-70b\n"
                 "  tokens: {value: 1.0e12, source: mine, estimate: true}\n  seq_len: 8192\n  global_batch: 512\n")
    assert load_scenario(str(f)).job.tokens == 1e12


def test_new_catalog_entries_carry_estimate_flags() -> None:
    prov = catalog.provenance("models", "grok3-class-3t")
    assert prov["params_b"].estimate and prov["hidden"].estimate
    assert not catalog.provenance("models", "grok-2")["hidden"].estimate


def test_readme_lists_every_built_in_scenario() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in builtin_scenarios())


def test_owning_a_rented_scenario_brings_back_build_and_capex() -> None:
    with pytest.raises(SpecError, match="capacity=\\{mode: owned\\}"):
        load_scenario("oracle-grok2", {"capacity.mode": "owned"})
    owned = simulate(load_scenario("oracle-grok2", {"capacity": {"mode": "owned"}}), detail=False).headline()
    rented = run("oracle-grok2").headline()
    assert owned["capex_usd"] > 1e9 and owned["days_counted_from"] == "ground-breaking"
    assert owned["first_training_day_p50"] > rented["first_training_day_p50"]
    # owned, the job starts on the first racks and grows: never faster than on the whole rented cluster
    assert owned["training_days_p50"] >= rented["training_days_p50"]


def test_rented_report_has_a_rental_bill_and_no_build() -> None:
    from gigafactory.report import from_twin, render

    page = render(from_twin(run("oracle-grok2")))
    assert "Rental bill" in page and "contract signature" in page
    assert "ground-breaking" not in page and "Capital cost" not in page
