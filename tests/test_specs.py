"""Scenarios resolve, round-trip and take overrides; property tests on the specs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gigafactory as gf
from gigafactory.errors import SpecError
from gigafactory.resolve import scenario_from_dict, scenario_to_dict
from gigafactory.specs import Plan


def test_default_scenario_is_colossus_class() -> None:
    s = gf.load_scenario()
    assert s.cluster.num_gpus == 100_000
    assert s.cluster.gpu.id == "h100-sxm"
    assert s.job.model.id == "gpt4-moe-1.8t"
    assert s.site.id == s.cluster.site


def test_scenario_round_trips() -> None:
    s = gf.load_scenario()
    again = scenario_from_dict(scenario_to_dict(s))
    assert again == s
    assert scenario_to_dict(again) == scenario_to_dict(s)


def test_overrides_change_only_their_field() -> None:
    base = gf.load_scenario()
    s = gf.load_scenario(None, {"cluster.num_gpus": 50_000, "cluster.gpu.power_cap_w": 600})
    assert s.cluster.num_gpus == 50_000
    assert s.cluster.gpu.power_cap_w == 600
    assert s.cluster.gpu.board_power_w == 600
    assert s.cluster.gpu.tdp_w == base.cluster.gpu.tdp_w
    assert s.job == base.job


def test_use_syntax_in_yaml(tmp_path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: half\ncluster: {use: colossus, num_gpus: 50000, gpu: {use: h100-sxm, power_cap_w: 500}}\n"
        "job: {model: llama3-70b, tokens: 1.5e13, seq_len: 8192, global_batch: 2048, precision: fp8}\n"
    )
    s = gf.load_scenario(f)
    assert s.cluster.num_gpus == 50_000 and s.cluster.gpu.power_cap_w == 500
    assert s.job.model.id == "llama3-70b" and s.job.precision == "fp8"


@given(st.integers(1, 8), st.integers(1, 16), st.integers(1, 8), st.integers(1, 512))
def test_plan_gpus_is_the_product(tp: int, pp: int, cp: int, dp: int) -> None:
    assert Plan(tp=tp, pp=pp, cp=cp, dp=dp).gpus == tp * pp * cp * dp


@given(st.floats(min_value=100, max_value=1000))
@settings(max_examples=50)
def test_power_cap_accepted_only_between_idle_and_tdp(cap: float) -> None:
    g = gf.resolve.gpu("h100-sxm")
    ok = g.idle_w < cap <= g.tdp_w
    try:
        capped = gf.build("gpus", {"use": "h100-sxm", "power_cap_w": cap})
        assert ok and capped.board_power_w == cap
    except SpecError as e:
        assert not ok and "power_cap_w" in str(e)


@given(st.integers(min_value=1, max_value=400_000))
@settings(max_examples=60, deadline=None)
def test_cluster_sizes_must_be_whole_servers(n: int) -> None:
    try:
        c = gf.build("clusters", {"use": "colossus", "num_gpus": n})
        assert n % 8 == 0 and c.num_servers * 8 == n
    except SpecError as e:
        assert n % 8 != 0
        assert "num_gpus" in str(e)


@given(st.sampled_from(gf.catalog.ids("models")), st.integers(1, 4), st.integers(1, 8))
@settings(max_examples=30, deadline=None)
def test_job_steps_times_tokens_per_step_is_tokens(model: str, k: int, b: int) -> None:
    job = gf.build("job", {"model": model, "tokens": 1e12 * k, "seq_len": 1024 * k, "global_batch": 64 * b})
    assert job.steps * job.tokens_per_step == pytest.approx(job.tokens)


def test_override_a_field_of_the_clusters_own_site() -> None:
    s = gf.load_scenario(None, {"site.grid_mw": 300})
    assert s.site.id == s.cluster.site and s.site.grid_mw == 300
    assert s.site.pue == gf.load_scenario().site.pue
