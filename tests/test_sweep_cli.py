"""`gigafactory sweep` and `gigafactory query` through typer's runner; `serve` is registered."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from gigafactory.cli.main import app

runner = CliRunner()
SPEC = {"name": "cli", "evaluator": "gigafactory.sweep.evaluate:spec_point",
        "objectives": ["ideal_days", "gpu_capex_usd", "facility_mw"],
        "axes": {"cluster.num_gpus": [16384, 32768, 65536], "cluster.gpu.power_cap_w": [500, 700]}}


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_sweep_json_query_and_report(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "r"
    r = run("sweep", str(spec), "-o", str(out), "--json", "-j", "1")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert (s["total"], s["evaluated"], s["complete"]) == (6, 6, True)
    # fewer GPUs cost less and draw less but take longer: every 500 W design is on the frontier
    assert sorted(p["cluster_num_gpus"] for p in s["frontier"]) == [16384, 32768, 65536]
    assert {p["cluster_gpu_power_cap_w"] for p in s["frontier"]} == {500}
    html = Path(s["report"]).read_text()
    assert "<svg" in html and "Pareto frontier" in html and "https://" not in html
    r = run("query", "SELECT cluster_num_gpus AS n, ideal_days FROM ok WHERE cluster_gpu_power_cap_w = 500 "
            "ORDER BY n", "-r", str(out), "--json")
    rows = json.loads(r.stdout)
    assert [x["n"] for x in rows] == [16384, 32768, 65536]
    assert rows[0]["ideal_days"] == 2 * rows[1]["ideal_days"] == 4 * rows[2]["ideal_days"]
    r = run("query", "SELECT count(*) AS n FROM pareto", "-r", str(out), "--csv")
    assert r.stdout.split() == ["n", "3"]
    r = run("sweep", str(spec), "-o", str(out))  # resume: nothing left to do, human output
    assert r.exit_code == 0 and "6 already stored" in r.stdout.replace("\n", " ")


def test_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "axes": {"cluster.num_gpu": [8]}}))
    r = run("sweep", str(spec), "-o", str(tmp_path / "r"))
    assert r.exit_code == 2
    assert "axes.cluster.num_gpu" in r.stderr and "did you mean 'num_gpus'" in r.stderr
    assert "Traceback" not in r.output
    r = run("query", "SELECT 1", "-r", str(tmp_path / "nothing"))
    assert r.exit_code == 2 and "not a sweep results directory" in r.stderr


def test_serve_is_a_command() -> None:
    r = run("serve", "--help")
    assert r.exit_code == 0 and "--port" in r.stdout
