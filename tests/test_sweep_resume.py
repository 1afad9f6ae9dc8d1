"""Interrupted sweeps resume with no lost and no duplicated rows: SIGKILL of the whole sweep,
Ctrl-C, and a worker process killed mid-chunk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from gigafactory.resolve import read_scenario_file
from gigafactory.sweep import query, run_sweep
from gigafactory.sweep.evaluate import spec_point
from gigafactory.sweep.worker import point_raw

TESTS = Path(__file__).resolve().parent
NUM_GPUS = list(range(8192, 8192 * 21, 8192))  # 20 values
CAPS = [500, 600, 700]  # x 3 = 60 points


def slow_point(raw: dict[str, Any]) -> dict[str, Any]:
    """spec_point, slowed down so that a test can interrupt the sweep half way."""
    time.sleep(0.05)
    return spec_point(raw)


def die_once_point(raw: dict[str, Any]) -> dict[str, Any]:
    """spec_point, but the first call of the sweep kills its own worker process (like the OOM killer)."""
    marker = Path(raw["description"])
    if not marker.exists():
        marker.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return spec_point(raw)


def install_plugins(tmp: Path) -> Path:
    """Register this module's evaluators as a plug-in package would (entry points), on purpose."""
    info = tmp / "plugins" / "gigafactory_test_evaluators-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gigafactory-test-evaluators\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[gigafactory.evaluators]\nslow = test_sweep_resume:slow_point\n"
                                           "die-once = test_sweep_resume:die_once_point\n")
    return info.parent


def write_spec(tmp: Path, evaluator: str) -> Path:
    doc = {"name": "resume", "evaluator": evaluator, "objectives": ["ideal_days", "gpu_capex_usd", "facility_mw"],
           "axes": {"cluster.num_gpus": NUM_GPUS, "cluster.gpu.power_cap_w": CAPS}}
    p = tmp / "spec.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "gigafactory.cli.main", *args]


def env(tmp: Path) -> dict[str, str]:
    paths = [str(TESTS), str(install_plugins(tmp)), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def wait_for_parts(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    t0 = time.monotonic()
    while len(list(out.glob("part-*.parquet"))) < n:
        assert proc.poll() is None, "the sweep finished before it could be interrupted"
        assert time.monotonic() - t0 < timeout, "no chunks were written"
        time.sleep(0.02)


def check_complete(out: Path) -> None:
    got = query("SELECT point_id, cluster_num_gpus AS n, cluster_gpu_power_cap_w AS cap, ideal_days, facility_mw, "
                "error FROM results", out).to_pylist()
    assert len(got) == 60
    assert len({r["point_id"] for r in got}) == 60  # no duplicates
    assert {(r["n"], r["cap"]) for r in got} == {(n, c) for n in NUM_GPUS for c in CAPS}  # none lost
    assert all(r["error"] is None for r in got)
    base = read_scenario_file(None)
    for r in got:  # the values are those of an uninterrupted, in-process evaluation
        want = spec_point(point_raw(base, {}, {"cluster.num_gpus": r["n"], "cluster.gpu.power_cap_w": r["cap"]}))
        assert (r["ideal_days"], r["facility_mw"]) == (want["ideal_days"], want["facility_mw"])


def test_sigkill_of_the_whole_sweep_then_resume(tmp_path: Path) -> None:
    spec, out = write_spec(tmp_path, "slow"), tmp_path / "r"
    args = cli("sweep", str(spec), "-o", str(out), "--json", "-j", "2", "--chunk-size", "4")
    proc = subprocess.Popen(args, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for_parts(out, 2, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # coordinator, forkserver and workers at once
        proc.wait()
    done = len(query("SELECT point_id FROM results", out))
    assert 8 <= done < 60
    r = subprocess.run(args, env=env(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["already_done"] == done and summary["evaluated"] == 60 - done and summary["complete"]
    check_complete(out)


def test_ctrl_c_keeps_finished_chunks_and_says_how_to_resume(tmp_path: Path) -> None:
    spec, out = write_spec(tmp_path, "slow"), tmp_path / "r"
    args = cli("sweep", str(spec), "-o", str(out), "-j", "2", "--chunk-size", "4")
    # a shell without job control starts background jobs with SIGINT ignored, and the child would inherit
    # that (CI runners may): restore the default so the sweep sees the Ctrl-C this test sends
    proc = subprocess.Popen(args, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_parts(out, 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "re-run the same command to resume" in err
    assert "Traceback" not in err
    r = subprocess.run([*args, "--json"], env=env(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    check_complete(out)


def test_a_killed_worker_is_replaced_and_no_point_is_lost(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "spec")
    doc = yaml.safe_load(spec.read_text())
    doc["set"] = {"description": str(tmp_path / "died")}
    res = run_sweep(doc, tmp_path / "r", workers=2, chunk_size=4, evaluator=die_once_point)  # a function, from code
    assert (tmp_path / "died").read_text() == "died"
    assert res.complete and res.evaluated == 60
    check_complete(tmp_path / "r")
