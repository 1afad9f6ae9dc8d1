"""The scale study: its evaluator's own figures and the sweep spec in examples/."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigafactory.resolve import build
from gigafactory.sweep.scaling import optimal_batch_tokens, planes_for_tiers, scaling_point
from gigafactory.sweep.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweep-scaling.yaml"


def test_compute_optimal_batch_is_deepseeks_power_law() -> None:
    # B = 0.2920 C^0.3271 (DeepSeek LLM 2024): 1e26 FLOP -> 10^(26 x 0.3271) x 0.292 = 9.33e7 tokens
    assert optimal_batch_tokens(1e26) == pytest.approx(0.2920 * 10 ** (26 * 0.3271), rel=1e-12)
    assert optimal_batch_tokens(1e26) == pytest.approx(9.33e7, rel=1e-3)
    # ten times the compute: 10^0.3271 = 2.12x the batch
    assert optimal_batch_tokens(1e27) / optimal_batch_tokens(1e26) == pytest.approx(10**0.3271)


def test_planes_keep_a_million_gpus_on_three_tiers() -> None:
    # radix 128 at 400G: 3 tiers hold 128^3/4 = 524,288 ports per plane
    assert planes_for_tiers(build("clusters", "abilene"), 3) == 1
    assert planes_for_tiers(build("clusters", "stargate-1m"), 3) == 2  # 1,000,008 ports / 2 planes
    assert planes_for_tiers(build("clusters", {"use": "stargate-1m", "num_gpus": 2000016}), 3) == 4
    assert planes_for_tiers(build("clusters", {"use": "stargate-1m", "num_gpus": 2000016}), 2) is None


def test_the_sweep_spec_spans_10k_to_2m_gpus() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.evaluator == "scaling"
    sizes = sorted({o["cluster.num_gpus"] for _, o in spec.points()})
    assert sizes[0] >= 10_000 and sizes[0] < 11_000 and sizes[-1] >= 2_000_000
    assert all(n % 72 == 0 for n in sizes) and spec.size == 16


def test_scaling_point_adds_the_study_columns() -> None:
    spec = load_spec(EXAMPLE)
    pid, over = next(spec.points())  # the smallest cluster at the first batch
    row = scaling_point(spec.point_raw(over))
    assert row["num_gpus"] == over["cluster.num_gpus"] and row["fabric_tiers"] == 3
    assert row["planes_for_3_tiers"] == 1 and row["gpus_idle"] == row["num_gpus"] - row["gpus_used"] >= 0
    assert row["mttf_min"] > row["checkpoint_interval_min"] > 0
    # turbines of the site's 384 MW unit carry the facility load with one spare
    assert (row["turbines_for_all_load"] - 1) * 384 >= row["facility_mw"] > (row["turbines_for_all_load"] - 2) * 384
    assert row["optimal_batch_tokens"] == pytest.approx(optimal_batch_tokens(row["train_flops"]))
