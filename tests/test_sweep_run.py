"""Running sweeps on the local pool: one row per point, hand-checked values, resume, store checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigafactory.errors import SpecError
from gigafactory.fleet.power import budget
from gigafactory.resolve import load_scenario
from gigafactory.sweep import frontier, query, run_sweep
from gigafactory.sweep.store import ResultStore

SPEC = {
    "name": "t",
    "evaluator": "gigafactory.sweep.evaluate:spec_point",
    "objectives": ["ideal_days", "gpu_capex_usd", "facility_mw"],
    "axes": {
        "platform": {"cluster.gpu": ["h100-sxm", "b200", "b200"],
                     "cluster.scale_up": ["hgx-h100", "hgx-b200", "hgx-h100"]},
        "cluster.num_gpus": [16384, 32768],
        "cluster.gpu.power_cap_w": [500, 700],
    },
}


def rows(out: Path) -> list[dict]:
    return query("SELECT * FROM results ORDER BY point_id", out).to_pylist()


def test_grid_sweep_rows_and_hand_checked_values(tmp_path: Path) -> None:
    res = run_sweep(SPEC, tmp_path / "r", workers=2, chunk_size=3)
    assert (res.total, res.evaluated, res.already_done, res.complete) == (12, 12, 0, True)
    assert res.errors == 4  # b200 does not fit an HGX H100 board
    got = rows(tmp_path / "r")
    assert len(got) == 12 and len({r["point_id"] for r in got}) == 12
    bad = [r for r in got if r["error"]]
    assert {(r["cluster_gpu"], r["cluster_scale_up"]) for r in bad} == {("b200", "hgx-h100")}
    assert all("does not fit" in r["error"] and r["ideal_days"] is None for r in bad)
    h = next(r for r in got if (r["cluster_gpu"], r["cluster_num_gpus"], r["cluster_gpu_power_cap_w"])
             == ("h100-sxm", 16384, 700))
    # 16,384 H100 x 989.4 dense bf16 TFLOP/s = 16.21 EFLOP/s; 6 x 280e9 active x 13e12 tokens at peak = 15.59 days
    assert h["peak_eflops"] == pytest.approx(16.2103, rel=1e-4)
    assert h["ideal_days"] == pytest.approx(6 * 280e9 * 13e12 / (16384 * 989.4e12) / 86400)
    # the twin's power budget: 2,048 HGX servers x (8 x 700 W + 4,575 W) = 20.84 MW, plus fabric and storage
    scen = load_scenario(None, {"cluster.num_gpus": 16384, "cluster.gpu.power_cap_w": 700})
    b = budget(scen.cluster, site_pue=scen.site.pue)
    servers = b.tree.find("IT load").children[0]
    assert servers.nameplate_w == pytest.approx(2048 * (8 * 700 + 4575))
    assert h["it_mw"] == pytest.approx(b.it_mw) and h["it_mw"] > servers.nameplate_w / 1e6
    assert h["facility_mw"] == pytest.approx(b.facility_mw)


def test_rerun_skips_done_points_and_restores_a_lost_chunk(tmp_path: Path) -> None:
    out = tmp_path / "r"
    run_sweep(SPEC, out, workers=2, chunk_size=5)
    again = run_sweep(SPEC, out, workers=2)
    assert (again.already_done, again.evaluated) == (12, 0)
    store = ResultStore(out)
    parts = store.parts()
    assert len(parts) == 3  # 12 points in chunks of 5: 5 + 5 + 2
    lost = parts[0]
    import pyarrow.parquet as pq

    n_lost = pq.read_table(lost).num_rows
    before = {r["point_id"]: r["ideal_days"] for r in rows(out)}
    lost.unlink()
    (out / "part-junk.parquet.1234.tmp").write_bytes(b"half a chunk")  # a write cut short
    res = run_sweep(SPEC, out, workers=2)
    assert (res.already_done, res.evaluated) == (12 - n_lost, n_lost)
    after = rows(out)
    assert len(after) == 12 and {r["point_id"]: r["ideal_days"] for r in after} == before
    assert not list(out.glob("*.tmp"))


def test_a_different_sweep_is_refused_unless_fresh(tmp_path: Path) -> None:
    out = tmp_path / "r"
    run_sweep(SPEC, out, workers=1)
    other = {**SPEC, "set": {"job.tokens": 1e12}}
    with pytest.raises(SpecError, match="different sweep"):
        run_sweep(other, out, workers=1)
    res = run_sweep(other, out, workers=1, fresh=True)
    assert res.evaluated == 12
    days = query("SELECT max(ideal_days) AS d FROM ok", out).column("d")[0].as_py()
    assert days < 2  # 1e12 tokens instead of 13e12


def test_frontier_and_query_views(tmp_path: Path) -> None:
    out = tmp_path / "r"
    run_sweep(SPEC, out, workers=1)
    front = frontier(ResultStore(out))
    # ideal days fall and capex/power rise with GPU count; a 500 W cap always beats 700 W on power
    # at equal days and capex, so every frontier point is capped at 500 W
    assert front.num_rows > 0
    assert set(front.column("cluster_gpu_power_cap_w").to_pylist()) == {500}
    n = query("SELECT count(*) AS n FROM pareto", out).column("n")[0].as_py()
    assert n == front.num_rows
    with pytest.raises(SpecError, match="query"):
        query("SELEC 1", out)


def test_unknown_backend_and_missing_ray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SpecError, match="did you mean 'ray'"):
        run_sweep(SPEC, tmp_path / "a", backend="rya")
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(SpecError, match="ray is not installed"):
        run_sweep(SPEC, tmp_path / "b", backend="ray")


def test_twin_evaluator_rejects_nothing_silently() -> None:
    from gigafactory.sweep.evaluate import load_evaluator

    with pytest.raises(SpecError, match="unknown evaluator"):
        load_evaluator("gigafactory.sweep.evaluate:nope")
