"""The sweep store keeps one writer, leaves no worker behind its parent, and recovers from damaged chunks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gigafactory.errors import SpecError
from gigafactory.sweep import query, run_sweep
from gigafactory.sweep.store import LOCK, ResultStore
from procs import descendants
from test_sweep_resume import cli, env, wait_for_parts

SPEC = {"name": "store", "evaluator": "spec", "objectives": ["ideal_days", "gpu_capex_usd"],
        "axes": {"cluster.num_gpus": [8192, 16384, 24576, 32768], "cluster.gpu.power_cap_w": [500, 700]}}


def test_a_second_writer_is_refused_and_named(tmp_path: Path) -> None:
    out = tmp_path / "r"
    owner = ResultStore(out)
    owner.lock()
    try:
        with pytest.raises(SpecError, match=rf"being written by another sweep \(pid {os.getpid()}"):
            run_sweep(SPEC, out, workers=1)
    finally:
        owner.unlock()
    assert not (out / LOCK).exists()
    res = run_sweep(SPEC, out, workers=1)  # the lock is free again
    assert res.complete and len(query("SELECT * FROM results", out)) == 8


def test_a_stale_lock_of_a_dead_sweep_is_retaken(tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / LOCK).write_text(json.dumps({"pid": int(dead.stdout), "host": "here", "since": "then"}))
    res = run_sweep(SPEC, out, workers=1)
    assert res.complete and res.evaluated == 8


def test_two_concurrent_sweeps_store_each_point_once(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    many = {"cluster.num_gpus": list(range(8192, 8192 * 31, 8192)), "cluster.gpu.power_cap_w": [500, 700]}
    spec.write_text(yaml.safe_dump({**SPEC, "evaluator": "slow", "axes": many}))  # 60 points, ~3 s
    out = tmp_path / "r"
    args = cli("sweep", str(spec), "-o", str(out), "--json", "-j", "1", "--chunk-size", "2")
    first = subprocess.Popen(args, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_parts(out, 1, first)
        second = subprocess.run(args, env=env(tmp_path), capture_output=True, text=True, timeout=60)
    finally:
        first.communicate(timeout=60)
    assert first.returncode == 0
    assert second.returncode == 2 and "being written by another sweep" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    ids = [r["point_id"] for r in query("SELECT point_id FROM results", out).to_pylist()]
    assert len(ids) == len(set(ids)) == 60




def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "evaluator": "slow"}))
    out = tmp_path / "r"
    proc = subprocess.Popen(cli("sweep", str(spec), "-o", str(out), "--json", "-j", "2", "--chunk-size", "1"),
                            env=env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_parts(out, 1, proc)
        kids = descendants(proc.pid)
        assert len(kids) >= 2  # forkserver and workers (and the resource tracker)
    finally:
        proc.send_signal(signal.SIGKILL)  # the coordinator alone, as the OOM killer would
        proc.wait()
    deadline = time.monotonic() + 15
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [k for k in kids if _alive(k)]
    for k in left:  # do not leave them to the rest of the suite
        os.kill(k, signal.SIGKILL)
    assert not left, f"{len(left)} processes outlived the sweep"


def test_a_damaged_chunk_is_named_set_aside_and_recomputed(tmp_path: Path) -> None:
    out = tmp_path / "r"
    run_sweep(SPEC, out, workers=1, chunk_size=2)
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 4
    parts[1].write_bytes(parts[1].read_bytes()[:100])  # truncated
    with pytest.raises(SpecError, match=parts[1].name):
        query("SELECT * FROM results", out)
    res = run_sweep(SPEC, out, workers=1, chunk_size=2)
    assert res.set_aside == (parts[1].name,) and res.evaluated == 2 and res.complete
    assert (out / "damaged" / parts[1].name).is_file()
    ids = [r["point_id"] for r in query("SELECT point_id FROM results", out).to_pylist()]
    assert len(ids) == len(set(ids)) == 8
