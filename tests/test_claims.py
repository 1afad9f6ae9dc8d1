"""Each public claim's verdict, asserted with the twin's figure."""

from __future__ import annotations

import json
from functools import cache

import pytest
from typer.testing import CliRunner

from gigafactory.claims import FAILS, HOLDS, HOLDS_IF, evaluate_claims
from gigafactory.cli.main import app
from gigafactory.errors import SpecError


@cache
def claims() -> dict:
    return {c.id: c for c in evaluate_claims()}


def test_a_gpt4_on_25k_a100_takes_about_90_to_100_days() -> None:
    c = claims()["a"]
    # 2.15e25 FLOP: 6 x 280B active x 13T tokens = 2.18e25; the twin's wall-clock days with failures
    d = c.numbers["wall_days"]
    assert 55 <= d <= 160
    assert c.numbers["wall_days"] > c.numbers["free_days"]
    # the twin's plan lands below GPT-4's reported 32-36% MFU (SemiAnalysis): with the 2026-12 calibration
    # 26.9%, 130 failure-free and 146 wall-clock days (29.8% / 132 days before it), over the claim's
    # 100 days + 15%. The grouped-GEMM scale fitted on fine-grained MoE runs (0.48 of a dense GEMM,
    # small experts) is applied to GPT-4's 16 large experts too: a known pessimism, not a target
    assert 0.25 <= c.numbers["mfu"] <= 0.65
    # within 15% of 90-100 days it holds; faster means the twin's plan beats GPT-4's reported MFU;
    # slower than 115 days it does not hold
    if d > 100 * 1.15:
        assert c.verdict == FAILS
    elif d >= 90 * 0.85:
        assert c.verdict == HOLDS
    else:
        assert c.verdict.startswith(HOLDS_IF) and "MFU" in c.verdict


def test_b_under_two_days_on_100k_gb200_does_not_hold() -> None:
    c = claims()["b"]
    assert c.numbers["fp8_free_days"] > 2 and c.numbers["bf16_free_days"] > c.numbers["fp8_free_days"]
    assert c.numbers["fp8_wall_days"] > c.numbers["fp8_free_days"]
    # GPT-4's 60M-token batch cannot spread over all 100k GPUs
    assert c.numbers["bf16_gpus_used"] < c.numbers["bf16_gpus"]
    assert c.verdict == FAILS


def test_c_speedups_are_below_the_marketing_ratios_at_equal_precision() -> None:
    c = claims()["c"]
    assert 1.8 <= c.numbers["H100/A100"] <= 3.3  # bf16 peak ratio is 3.2x
    assert c.numbers["H100/A100_fp8"] > c.numbers["H100/A100"]
    assert 1.5 <= c.numbers["B200/H100"] <= 2.6  # fp8 peak ratio 2.27x
    assert c.numbers["GB200/H100"] > c.numbers["B200/H100"]  # 1200 W part + NVL72 domain
    assert c.verdict.startswith(HOLDS_IF)


def test_d_bringup_122_days_and_19_days_after_first_rack() -> None:
    c = claims()["d"]
    assert c.numbers["full_size_days"] == pytest.approx(122, rel=0.1)
    assert c.numbers["training_after_first_rack"] == pytest.approx(19, rel=0.15)
    assert c.numbers["conventional_years"] == pytest.approx(4, rel=0.15)
    assert c.verdict == HOLDS


def test_e_two_years_of_100k_gb200_rental() -> None:
    c = claims()["e"]
    # 100,000 GPUs x 17,520 h = 1.752e9 GPU-hours: $5B implies $2.85/GPU-h
    assert c.numbers["implied_rate"] == pytest.approx(5e9 / 1.752e9, rel=1e-9)
    assert c.numbers["reserved_usd"] > 5e9 and c.numbers["on_demand_usd"] > c.numbers["reserved_usd"]
    assert c.verdict.startswith(HOLDS_IF)


def test_f_100k_h100_needs_150_mw_and_onsite_generation() -> None:
    c = claims()["f"]
    assert c.numbers["it_mw"] == pytest.approx(150, rel=0.1)
    assert c.numbers["facility_mw"] > c.numbers["grid_mw"] == 150
    assert c.verdict == HOLDS


def test_unknown_claim_letter() -> None:
    with pytest.raises(SpecError, match="unknown claim 'z'"):
        evaluate_claims(["z"])


def test_cli_claims_json() -> None:
    r = CliRunner().invoke(app, ["claims", "d", "e", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [c["id"] for c in data] == ["d", "e"] and all(c["verdict"] for c in data)
