"""The issue's hostile reproductions: each gives one line and exit 2 (or a sane result), quickly.
Sandboxed query, named evaluators, YAML limits and the Monte Carlo's progress guarantee."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from gigafactory import yamlio
from gigafactory.cli.main import app as cli
from gigafactory.errors import SpecError
from gigafactory.fleet.montecarlo import SimInputs, expected_events, run_trials
from gigafactory.sweep import query, run_sweep

runner = CliRunner()
PLAN = ["plan", "--model", "llama3-70b", "--gpu", "h100-sxm", "--gpus", "1024", "--gbs", "512", "--seq", "8192"]


@pytest.mark.parametrize(("args", "words"), [
    (["simulate", "--set", "job.model.moe.experts=1e30"], "job.model.moe.experts: must be an integer from 1 to 4,096"),
    (["simulate", "--set", "job.global_batch=1e30"], "job.global_batch: must be an integer from 1 to"),
    (["simulate", "--set", "job.model.layers=1e30"], "job.model.layers: must be an integer from 1 to 1,024"),
    (["simulate", "--set", "job.tokens=.inf"], "job.tokens: must be a finite number from 1e+06 to 1e+15"),
    (["simulate", "--set", "job.tokens=5e16"], "job.tokens: must be a finite number"),
    (["simulate", "--set", "job.model.ffn=5e16"], "job.model.ffn: must be an integer from 1 to"),
    (["simulate", "--set", "cluster.gpu.peak_tflops.bf16=2.5e-300"], "peak_tflops.bf16: must be a finite number from 1"),
    (["simulate", "--set", "cluster.nics_per_gpu=1e9"], "cluster.nics_per_gpu: must be an integer from 1 to 16"),
    (["simulate", "--set", "cluster.storage_tbps=2e-313"], "cluster.storage_tbps: must be a finite number"),
    (["simulate", "--set", "cluster.storage_tbps=1e308"], "cluster.storage_tbps"),
    (["goodput", "--days", "100000"], "days: must be failure-free compute days from above 0 to 3,650"),
    (["simulate", "--set", "cluster.gpu.tdp_w=7"], "cluster.gpu.tdp_w: must be a finite number from 50 to 5,000"),
    (["simulate", "--set", "policies.seed=-1"], "policies.seed: must be an integer from 0"),
    (["simulate", "--set", "policies.checkpoint_interval_min=.inf"], "policies.checkpoint_interval_min"),
    (["simulate", "--set", "policies.restart_min=1e30"], "policies.restart_min"),
    (["simulate", "--set", "cluster.fabric.switch_w=.inf"], "cluster.fabric.switch_w"),
    (["simulate", "--set", "cluster.fabric.port_gbps=1e400"], "cluster.fabric.port_gbps"),
    (["simulate", "--set", "cluster.gpu.idle_w=1e30"], "cluster.gpu.idle_w"),
    (["simulate", "--set", "cluster.gpu.idle_w=800"], "idle_w=800 W must be below tdp_w=700 W"),
    (["simulate", "--set", "cluster.scale_up.servers_per_rack=1e30"], "servers_per_rack"),
    (["simulate", "--set", "cluster.scale_up.servers_per_rack=30"], "over the rack limit of 100 kW"),
    (["simulate", "--set", "job.model.hidden=true"], "job.model.hidden: must be a number, not true"),
    (["simulate", "--set", "cluster.num_gpus=" + "9" * 400], "(got a 400-digit integer)"),
    (["simulate", "--set", "cluster.num_gpus=.nan"], "cluster.num_gpus"),
    ([*PLAN[:8], "0", "--seq", "8192"], "--gbs: must be an integer from 1"),
    ([*PLAN[:10], "100000000"], "--seq: must be an integer from 1 to 4,194,304"),
    ([*PLAN, "--precision", "fp4"], "did you mean 'nvfp4'"),
    ([*PLAN[:6], "1000000000000", *PLAN[7:]], "--gpus: must be an integer from 1 to 4,194,304"),
    ([*PLAN, "--top", "0"], "--top: must be an integer from 1 to 100"),
    (["simulate", "--report", "/nonexistent/dir/r.html"], "--report: folder '/nonexistent/dir' does not exist"),
])
def test_reproductions_give_one_line_and_exit_2(args: list[str], words: str) -> None:
    t0 = time.perf_counter()
    r = runner.invoke(cli, args)
    assert r.exit_code == 2, r.output[-1500:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.output, r.stderr
    assert words in lines[0]
    assert time.perf_counter() - t0 < 30


def test_alias_bomb_binary_and_broken_files(tmp_path: Path) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join([*levels, "name: x", "cluster: *i"]) + "\n")  # ~9^9 nodes expanded, ~400 bytes
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(bytes(range(256)) * 8)
    for f, words in ((bomb, "alias bomb"), (binary, "binary file")):
        t0 = time.perf_counter()
        r = runner.invoke(cli, ["scenario", "show", str(f)])
        assert r.exit_code == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
        assert time.perf_counter() - t0 < 5
    with pytest.raises(SpecError, match="recursive alias"):
        yamlio.load("a: &a [*a]")
    with pytest.raises(SpecError, match="over 1,000,000 bytes"):
        yamlio.load("x" * 1_000_001)
    csv = tmp_path / "broken.yaml"
    csv.write_text("id,foo\n: [\n")
    r = runner.invoke(cli, ["validate", "--data", str(binary)])
    assert r.exit_code == 2 and "binary file" in r.stderr


def test_error_lines_quote_short_excerpts() -> None:
    r = runner.invoke(cli, ["scenario", "show", "--set", "cluster.gpu=" + "[" + "1," * 5000 + "1]"])
    assert r.exit_code == 2 and len(r.stderr) < 800, r.stderr[:300]


def test_monte_carlo_refuses_runs_that_cannot_finish() -> None:
    def inp(interval_h: float, work_h: float = 24.0 * 90) -> SimInputs:
        return SimInputs(work_h=work_h, interval_h=interval_h, stall_h=0.01, persist_h=0.0,
                         rates_h=np.array([1.0]), hardware=np.array([True]), planned=np.array([False]),
                         replace=np.array([False]), detect_h=0.05, restart_h=0.1, planned_write_h=0.0,
                         hot_spares=True, swap_h=0.1, repair_h=1.0)
    # one interruption an hour: a checkpoint every 0.1 h commits 0.1 x e^-0.11/(1-e^-0.11) = 0.86 h a failure
    n = expected_events(inp(0.1))
    assert n == pytest.approx(24.0 * 90 * (1 - np.exp(-0.11)) / (0.1 * np.exp(-0.11)) + 1, rel=1e-9)
    res = run_trials(inp(0.1), trials=20, seed=0)
    assert res.counts.sum(axis=1).mean() == pytest.approx(n, rel=0.1)
    with pytest.raises(SpecError, match="interruptions per trial"):
        run_trials(inp(60.0), trials=20, seed=0)  # checkpoints every 60 h at a 1 h MTBF: never finishes


def test_query_is_sandboxed(tmp_path: Path) -> None:
    out = tmp_path / "r"
    spec = {"name": "q", "evaluator": "spec", "objectives": ["ideal_days", "gpu_capex_usd"],
            "axes": {"cluster.num_gpus": [8192, 16384]}}
    run_sweep(spec, out, workers=1)
    assert query("SELECT count(*) AS n FROM results", out).to_pylist() == [{"n": 2}]
    leak = tmp_path / "leak.csv"
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_text('/etc/passwd')",
                "SELECT * FROM glob('/root/*')", f"SELECT * FROM read_parquet('{out}/*.parquet')",
                f"COPY results TO '{leak}'", f"ATTACH '{tmp_path / 'x.db'}' AS x", "INSTALL httpfs",
                "LOAD httpfs", "SET enable_external_access = true", "CREATE TABLE t AS SELECT 1",
                "SELECT 1; SELECT 2"):
        with pytest.raises(SpecError):
            query(sql, out)
    assert not leak.exists() and not (tmp_path / "x.db").exists()
    from gigafactory.sweep.results import connect
    from gigafactory.sweep.store import ResultStore

    con = connect(ResultStore(out))  # the connection itself refuses, whatever statement reaches it
    for sql in (f"COPY results TO '{leak}'", f"ATTACH '{tmp_path / 'y.db'}' AS y", "INSTALL httpfs",
                "SET enable_external_access = true", "SET autoload_known_extensions = true",
                "CREATE TABLE t AS SELECT 1", "SELECT * FROM read_text('/etc/passwd')"):
        with pytest.raises(Exception):  # noqa: B017 - DuckDB's permission / read-only / locked errors
            con.execute(sql)
    names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert names == {"results", "pareto"}
    assert not leak.exists()


def test_a_spec_cannot_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    spec = tmp_path / "evil.yaml"
    spec.write_text(yaml.safe_dump({"name": "evil", "evaluator": "subprocess:run",
                                    "axes": {"cluster.num_gpus": [8192]}}))
    r = runner.invoke(cli, ["sweep", str(spec), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "unknown evaluator 'subprocess:run'" in r.stderr and "allowed: scaling, spec, twin" in r.stderr
    assert not (tmp_path / "out").exists() and not marker.exists()
    r = runner.invoke(cli, ["sweep", str(spec), "--evaluator", "os:system", "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "unknown evaluator" in r.stderr
