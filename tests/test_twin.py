"""The twin end to end: the default scenario, overrides, the HTML report, the CLI."""

from __future__ import annotations

import json
import re
import time
from functools import cache

import pytest
from typer.testing import CliRunner

import gigafactory as gf
from gigafactory import simulate
from gigafactory.cli.main import app
from gigafactory.report import PLOTS


@cache
def default():
    return simulate()


def test_default_scenario_runs_end_to_end_in_seconds() -> None:
    t0 = time.perf_counter()
    res = simulate(seed=1)
    assert time.perf_counter() - t0 < 30
    h = res.headline()
    assert h["num_gpus"] == 100_000 and h["model"] == "gpt4-moe-1.8t"
    # the days from ground-breaking = bring-up + training; p90 is never before p50
    assert h["days_to_model_p50"] > h["first_training_day_p50"]
    assert h["days_to_model_p90"] >= h["days_to_model_p50"]
    assert 0 < h["mfu"] < 0.7 and 0 < h["goodput_p50"] < 1
    assert h["training_days_p50"] >= h["failure_free_training_days"] * 0.95
    assert h["capex_usd"] > 1e9 and h["energy_mwh"] > 0


def test_same_seed_same_answer() -> None:
    assert simulate(seed=3).headline() == simulate(seed=3).headline()


def test_tokens_add_up_to_the_job() -> None:
    res = default()
    for label, tokens in res.growth.tokens.items():
        assert tokens[-1] == pytest.approx(res.scenario.job.tokens, rel=1e-6), label
        assert (tokens[1:] >= tokens[:-1]).all()


def test_more_gpus_train_faster_and_cost_more() -> None:
    # a batch large enough for 100k GPUs to be used (GPT-4's 7,680 sequences caps a plan near 61k) and a
    # run long enough that it is not over before the bigger cluster is fully built
    over = {"job.global_batch": 16_384, "job.tokens": 1e14}
    small = simulate(None, {**over, "cluster.num_gpus": 50_000}).headline()
    big = simulate(None, over).headline()
    assert big["failure_free_training_days"] < small["failure_free_training_days"]
    assert big["training_days_p50"] < small["training_days_p50"]
    assert big["capex_usd"] > small["capex_usd"]
    assert big["it_mw"] > small["it_mw"]


def test_power_cap_lowers_power_and_slows_training() -> None:
    capped = simulate(None, {"cluster.gpu.power_cap_w": 500}).headline()
    base = default().headline()
    assert capped["it_mw"] < base["it_mw"]
    assert capped["failure_free_training_days"] > base["failure_free_training_days"]


def test_report_is_self_contained_html_with_every_plot(tmp_path) -> None:
    from gigafactory.report import from_twin, write_report

    path = write_report(from_twin(default()), tmp_path / "r.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not re.search(r'<script[^>]+src=["\']https?://', text), "no CDN scripts"
    assert not re.search(r'<link[^>]+href=["\']https?://', text), "no external stylesheets"
    assert len(text) > 1_000_000, "plotly.js is embedded in the file"
    assert "Plotly.newPlot" in text or "Plotly.react" in text
    for key in PLOTS:
        assert f'id="{key}"' in text, key
    assert text.count("<html") == 1


def test_cli_simulate_json_and_report(tmp_path) -> None:
    r = CliRunner().invoke(app, ["simulate", "--json", "--report", str(tmp_path / "x.html"),
                                 "--set", "cluster.num_gpus=50000"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["headline"]["num_gpus"] == 50_000
    assert (tmp_path / "x.html").stat().st_size > 1_000_000  # plotly.js embedded


def test_cli_simulate_table() -> None:
    r = CliRunner().invoke(app, ["simulate"])
    assert r.exit_code == 0, r.output
    assert "days from ground-breaking" in r.stdout.lower() and "MFU" in r.stdout


def test_simulate_bad_override_is_one_line() -> None:
    r = CliRunner().invoke(app, ["simulate", "--set", "job.model=gpt5"])
    assert r.exit_code == 2 and "did you mean" in r.stderr


def test_public_api_resolves_and_the_twin_takes_specs() -> None:
    from gigafactory import twin

    assert gf.simulate is simulate
    with pytest.raises(gf.SpecError, match="resolved Scenario"):
        twin.simulate("colossus-gpt4")  # names are resolved at the surfaces, not in the twin
    assert twin.simulate(gf.load_scenario(), seed=5, detail=False).headline() == simulate(seed=5).headline()


def test_detail_off_gives_the_same_headline() -> None:
    assert simulate(seed=5, detail=False).headline() == simulate(seed=5).headline()


def test_growth_keeps_the_plan_shape_and_narrows_data_parallelism() -> None:
    """A growth size re-plans only where the size changes the plan: same TP/PP/CP/EP/mbs, the widest DP
    that fits and divides the global batch; at or above the plan's GPUs, the full-size plan itself."""
    from gigafactory import twin

    res = default()
    scen, full = res.scenario, res.step
    p = full.plan
    assert twin.step_at(scen, full, p.gpus).plan == p
    n = scen.cluster.num_gpus // 3
    st = twin.step_at(scen, full, n)
    q = st.plan
    assert (q.tp, q.pp, q.cp, q.ep, q.mbs, q.recompute) == (p.tp, p.pp, p.cp, p.ep, p.mbs, p.recompute)
    assert q.gpus <= n and scen.job.global_batch % (q.dp * q.mbs) == 0
    wider = [d for d in range(q.dp + 1, n // (p.tp * p.pp * p.cp) + 1)
             if scen.job.global_batch % (d * p.mbs) == 0 and (p.tp * p.cp * d) % p.ep == 0]
    assert not wider  # no wider DP would have fitted
    assert st.tokens_per_s < full.tokens_per_s


def test_growth_sizes_in_one_pass_equal_one_at_a_time() -> None:
    from gigafactory import twin
    from gigafactory.perf.step import evaluate

    res = default()
    scen, full = res.scenario, res.step
    sizes = [scen.cluster.num_gpus // k for k in (5, 3, 2)] + [full.plan.gpus]
    together = twin.steps_at(scen, full, sizes)
    assert [s.plan for s in together] == [twin.step_at(scen, full, n).plan for n in sizes]
    assert [s.step_s for s in together] == [evaluate(scen.job, scen.cluster, s.plan).step_s for s in together]


def test_the_twin_picks_the_plan_whose_run_ends_soonest() -> None:
    """Of the planner's fastest plans the twin keeps the one with the shortest wall time once failures
    are counted (same seed for each): more GPUs in the job are interrupted more often."""
    from gigafactory import twin
    from gigafactory.report import explain_plan

    res = default()
    top, chosen = res.search.top, res.step
    assert any(r is chosen for r in top) and res.search.best is chosen
    days = [r.extra["wall_days_p50"] for r in top]
    assert chosen.extra["wall_days_p50"] == min(days)
    assert days == [float(twin.reliability(res.scenario, r, detail=False).wall_days.p50) for r in top]
    fastest = min(top, key=lambda r: r.step_s)
    if fastest is not chosen:  # the report says why the faster step lost
        assert any("faster per step" in line for line in explain_plan(res.search, chosen))
