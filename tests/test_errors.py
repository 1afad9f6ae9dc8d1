"""Bad input gets one clear line naming the field, what is wrong and what is allowed."""

from __future__ import annotations

import pytest

import gigafactory as gf
from gigafactory.errors import GigafactoryError, SpecError, SpecErrors

JOB = {"model": "llama3-70b", "tokens": 1e12, "seq_len": 8192, "global_batch": 1024}


def scen(**kw):
    raw = {"name": "t", "cluster": "colossus", "job": dict(JOB)}
    raw.update(kw)
    return raw


CASES = [
    ("misspelt GPU", lambda: gf.build("gpus", "H10"), ["gpu", "unknown GPU 'H10'", "did you mean 'h100-sxm'"]),
    ("misspelt model", lambda: gf.scenario_from_dict(scen(job={**JOB, "model": "llama3-70"})),
     ["job.model", "unknown model", "did you mean 'llama3-70b'"]),
    ("unknown cluster", lambda: gf.scenario_from_dict(scen(cluster="colosus")),
     ["cluster", "unknown cluster", "did you mean 'colossus'"]),
    ("7 GPUs on an 8-GPU board", lambda: gf.scenario_from_dict(scen(cluster={"use": "colossus", "num_gpus": 7})),
     ["cluster", "num_gpus=7", "8-GPU"]),
    ("more GPUs than the site can power",
     lambda: gf.scenario_from_dict(scen(cluster={"use": "colossus", "num_gpus": 1_000_000})),
     ["cluster.num_gpus", "MW", "at most"]),
    ("unknown precision", lambda: gf.scenario_from_dict(scen(job={**JOB, "precision": "fp6"})),
     ["job.precision", "'fp6'", "allowed: bf16", "nvfp4"]),
    ("power cap above TDP", lambda: gf.build("gpus", {"use": "h100-sxm", "power_cap_w": 900}),
     ["power_cap_w=900", "TDP"]),
    ("unknown scenario field", lambda: gf.scenario_from_dict(scen(clustr="colossus")),
     ["clustr", "unknown scenario field", "did you mean 'cluster'"]),
    ("misspelt override field", lambda: gf.scenario_from_dict(scen(), {"cluster.num_gpu": 8}),
     ["cluster.num_gpu", "unknown field", "did you mean 'num_gpus'"]),
    ("negative tokens", lambda: gf.scenario_from_dict(scen(job={**JOB, "tokens": -5})),
     ["job.tokens", "from 1e+06 to 1e+15"]),
    ("GPU that does not fit the platform",
     lambda: gf.scenario_from_dict(scen(cluster={"use": "colossus", "gpu": "gb200"})),
     ["cluster", "gb200", "does not fit"]),
    ("precision the GPU lacks", lambda: gf.build("gpus", "a100-sxm-80gb").peak("fp8"),
     ["precision", "no fp8 tensor cores", "allowed: bf16"]),
    ("missing job", lambda: gf.scenario_from_dict({"cluster": "colossus"}), ["job", "required"]),
    ("no such scenario file", lambda: gf.load_scenario("nope.yaml"), ["scenario", "no such file", "colossus-gpt4"]),
    ("heads not a multiple of kv heads",
     lambda: gf.build("models", {"use": "llama3-8b", "kv_heads": 7}), ["model", "kv_heads=7"]),
]


@pytest.mark.parametrize(("name", "call", "expect"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(name, call, expect) -> None:
    with pytest.raises(GigafactoryError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert "Traceback" not in msg
    for part in expect:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_invalid_yaml_names_the_line(tmp_path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("cluster: colossus\njob: [unclosed\n")
    with pytest.raises(GigafactoryError, match=r"not valid YAML at line \d"):
        gf.load_scenario(f)


def test_a_control_character_in_a_field_name_stays_on_one_line() -> None:
    # hypothesis found it: a scenario override keyed "\n" made the error two lines
    e = SpecError("cluster.gpu.\n", "unknown field", allowed=["hbm_gb", "tdp_w"])
    assert str(e) == "cluster.gpu.\\n: unknown field (allowed: hbm_gb, tdp_w)"
    both = SpecErrors([e, SpecError("job.\tx", "unknown field")])
    assert "\n" not in str(both) and "\t" not in str(both) and str(both).endswith("(and 1 more: job.\\tx)")
