"""YAML numbers as people write them: 13e12 and 5.0e9 are floats, not strings."""

from __future__ import annotations

import pytest

import gigafactory as gf
from gigafactory import yamlio


@pytest.mark.parametrize(("text", "value"), [("1e9", 1e9), ("5.0e9", 5e9), ("13.0e12", 13e12), ("-2.5E-3", -2.5e-3),
                                             ("1.0e+3", 1e3), ("7", 7), ("0.5", 0.5)])
def test_numbers_are_numbers(text: str, value: float) -> None:
    got = yamlio.load(f"x: {text}")["x"]
    assert not isinstance(got, str) and got == value


def test_strings_stay_strings() -> None:
    assert yamlio.load("a: h100-sxm\nb: 'e9'\nc: '1e9'") == {"a": "h100-sxm", "b": "e9", "c": "1e9"}


def test_scenario_tokens_in_exponent_form(tmp_path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("cluster: colossus\njob: {model: llama3-8b, tokens: 15e12, seq_len: 8192, global_batch: 512}\n")
    assert gf.load_scenario(f).job.tokens == 15e12
