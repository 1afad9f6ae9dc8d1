"""The Ray backend on a local Ray instance started by the test gives the local pool's results."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigafactory.sweep import query, run_sweep

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[dev]')")

SPEC = {
    "name": "ray",
    "evaluator": "gigafactory.sweep.evaluate:spec_point",
    "objectives": ["ideal_days", "gpu_capex_usd", "facility_mw"],
    "sample": "random",
    "samples": 40,
    "seed": 3,
    "axes": {
        "cluster.num_gpus": {"low": 8192, "high": 98304, "step": 8},
        "cluster.gpu.power_cap_w": {"low": 400, "high": 700},
        "cluster.gpu": ["h100-sxm", "h200-sxm"],
    },
}
COLS = "point_id, cluster_num_gpus, cluster_gpu_power_cap_w, cluster_gpu, ideal_days, facility_mw, error"


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_and_local_give_identical_rows(tmp_path: Path, local_ray: None) -> None:
    r_ray = run_sweep(SPEC, tmp_path / "ray", backend="ray", chunk_size=7)
    r_loc = run_sweep(SPEC, tmp_path / "local", backend="local", workers=2, chunk_size=5)
    assert r_ray.backend == "ray" and r_ray.complete and r_loc.complete
    a = query(f"SELECT {COLS} FROM results ORDER BY point_id", tmp_path / "ray").to_pylist()
    b = query(f"SELECT {COLS} FROM results ORDER BY point_id", tmp_path / "local").to_pylist()
    assert len(a) == 40 and a == b
    # resume on Ray after losing a chunk
    part = sorted((tmp_path / "ray").glob("part-*.parquet"))[0]
    part.unlink()
    again = run_sweep(SPEC, tmp_path / "ray", backend="ray")
    assert 0 < again.evaluated <= 7 and again.already_done + again.evaluated == 40
    assert query(f"SELECT {COLS} FROM results ORDER BY point_id", tmp_path / "ray").to_pylist() == b
