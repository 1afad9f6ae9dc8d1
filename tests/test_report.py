"""The HTML report a planner forwards, and `gigafactory compare`: labels and units in the headline,
the site verdict with its reasons, the plan explained, formatted tables, a labelled cost breakdown,
titled plots with axis units; two designs side by side with plots overlaid."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from gigafactory.cli.main import app
from gigafactory.report import (
    AXES,
    PLOTS,
    ReportData,
    _figures,
    explain_plan,
    from_twin,
    render,
    render_compare,
    site_of,
)
from gigafactory.resolve import load_scenario
from gigafactory.specs import Plan
from gigafactory.twin import simulate


@pytest.fixture(scope="module")
def data() -> ReportData:
    return from_twin(simulate(load_scenario(None, {"policies.trials": 50})))


def test_headline_is_labelled_with_units(data: ReportData) -> None:
    text = render(data)
    assert "Capital cost (capex)" in text and "Model FLOPs utilisation (MFU)" in text
    assert "site_fits" not in text and "usd_per_run" not in text  # no raw keys
    row = re.search(r"Capital cost \(capex\)</td><td>([^<]+)</td>", text)
    assert row and re.fullmatch(r"\$[0-9.]+[kMBT]", row.group(1))
    row = re.search(r"Peak facility draw while training</td><td>([^<]+)</td><td[^>]*>([^<]+)<", text)
    assert row and row.group(2) == "MW" and "e+" not in row.group(1)
    assert not re.search(r"<td[^>]*>[^<]*\de[+-]\d", text), "no e-notation in any table"


def test_cost_breakdown_has_no_zero_slice_and_dollar_values(data: ReportData) -> None:
    zero = {"scale-up": 0.0, "compute": 3e9, "network": 5e8}
    d = replace(data, cost_usd=zero)
    pie = _figures([d])["cost"].data[0]
    assert list(pie.labels) == ["compute", "network"]  # the 0 $ category is not a slice
    assert list(pie.text) == ["$3.00B", "$500M"]
    html = render(d)
    assert "scale-up" not in html.split("<h2>Capital cost breakdown</h2>")[1].split("<h2>")[0]
    assert "capital cost ($B)" in html and ">3.50<" in html  # the total in the table's one scale


def test_every_plot_is_titled_with_axis_units(data: ReportData) -> None:
    figs = _figures([data])
    assert set(figs) == set(PLOTS)
    for key, fig in figs.items():
        assert fig.layout.title.text == PLOTS[key]
        if key != "cost":  # the pie has no axes
            assert fig.layout.xaxis.title.text == AXES[key][0] and fig.layout.yaxis.title.text == AXES[key][1]
    for _, y in AXES.values():
        assert "(" in y or y == "GPUs online" or y == "tokens trained"


def test_site_verdict_renders_the_reasons_it_carries() -> None:
    check = SimpleNamespace(name="sustained load", ok=False, detail="peak 700 MW vs firm 600 MW",
                            reasons=("the grid supplies 150 MW", "turbines add 450 MW"))
    verdict = SimpleNamespace(site="memphis", fits=False, checks=(check,), reasons=("peak over firm supply",))
    site = site_of(verdict)
    assert site["reasons"] == ["peak over firm supply"]
    assert site["checks"][0]["reasons"] == ["the grid supplies 150 MW", "turbines add 450 MW"]
    from gigafactory.report import _site

    html = _site(site)
    assert "does NOT fit" in html and "peak over firm supply" in html and "turbines add 450 MW" in html


def test_plan_explained_names_what_runners_up_lose() -> None:
    plan = Plan(tp=2, pp=4, vpp=1, cp=1, ep=1, dp=8, mbs=1, recompute="none", zero=1)
    best = SimpleNamespace(plan=plan, step_s=2.0, mfu=0.4, tokens_per_s_per_gpu=1000.0,
                           memory={"total": 60.0, "capacity": 80.0},
                           breakdown={"compute": 1.6, "bubble": 0.2, "dp": 0.2})
    slower = SimpleNamespace(plan=plan.model_copy(update={"pp": 8, "dp": 4}), step_s=2.3, mfu=0.35,
                             tokens_per_s_per_gpu=870.0, memory={"total": 40.0, "capacity": 80.0},
                             breakdown={"compute": 1.6, "bubble": 0.55, "dp": 0.15})
    search = SimpleNamespace(top=[best, slower], rejected={"does not fit in GPU memory": 12}, configs_evaluated=100)
    notes = explain_plan(search, best)
    assert notes[0].startswith("Chosen: TP2 PP4")
    # 0.3 s slower = 15.0 %: +0.350 s of bubble, and it saves 0.050 s of dp
    assert notes[1] == ("Runner-up 2: TP2 PP8 CP1 EP1 DP4 mbs1 recompute=none dist-opt is 15.0% slower "
                        "(+0.300 s per step): it loses +0.350 s bubble and saves 0.050 s dp.")
    assert "does not fit in GPU memory (12)" in notes[2]


def test_report_of_the_twin_explains_its_plan(data: ReportData) -> None:
    text = render(data)
    assert "The plan, explained" in text and "Chosen:" in text
    assert "Site verdict" in text and ("the cluster fits" in text or "does NOT fit" in text)


def test_compare_overlays_plots_and_puts_figures_in_columns(data: ReportData) -> None:
    other = replace(data, label="other", headline={**data.headline, "capex_usd": 1.0e9},
                    bringup_gpus=np.asarray(data.bringup_gpus) / 2)
    a = replace(data, label="base")
    figs = _figures([a, other])
    assert [t.name for t in figs["bringup"].data] == ["base", "other"]
    assert len(figs["cost"].data) == 2 and figs["cost"].layout.barmode == "group"
    html = render_compare([a, other])
    assert "<th>base</th><th>other</th>" in html and "$1.00B" in html
    for key in PLOTS:
        assert f'id="{key}"' in html


def test_cli_compare_two_scenarios(tmp_path: Path) -> None:
    half = tmp_path / "half-tokens.yaml"
    half.write_text("name: half-tokens\ncluster: colossus\njob:\n  model: gpt4-moe-1.8t\n  tokens: 6.5e12\n"
                    "  seq_len: 8192\n  global_batch: 7680\n  precision: bf16\n")
    args = ["compare", "colossus-gpt4", str(half), "--set", "policies.trials=50"]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["designs"] == ["colossus-gpt4", "half-tokens"]
    a, b = d["headlines"]
    assert b["tokens"] == a["tokens"] / 2 and b["training_days_p50"] < a["training_days_p50"]
    out = tmp_path / "cmp.html"
    r = CliRunner().invoke(app, [*args, "--report", str(out)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[1].split() == ["figure", "colossus-gpt4", "half-tokens", "unit"]
    assert any(ln.startswith("Capital cost (capex)") and ln.count("$") == 2 for ln in lines)
    html = out.read_text()
    assert "Headline, side by side" in html and html.count('class="plot"') == len(PLOTS)
    r = CliRunner().invoke(app, [*args, "--format", "csv"])
    rows = {ln.split(",")[0]: ln.split(",") for ln in r.stdout.splitlines()}
    assert rows["field"] == ["field", "unit", "colossus-gpt4", "half-tokens"]
    assert float(rows["tokens"][3]) == 6.5e12 and rows["capex_usd"][1] == "$"
    r = CliRunner().invoke(app, ["compare", "colossus-gpt4", "--json"])
    assert r.exit_code == 2 and "two or more" in json.loads(r.stdout)["error"]["message"]
