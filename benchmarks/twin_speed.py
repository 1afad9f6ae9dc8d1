"""The twin's three speed figures (issue targets in brackets):

1. the default ``simulate`` in-process after ``import gigafactory`` (cold: catalog, fabric, planner
   memo all empty) [<= 1.0 s], and a second one with a different seed (warm);
2. ``gigafactory sweep examples/sweep-gpus.yaml`` (54 designs, local pool on every core) [>= 10 designs/s];
3. the web page answering a change: POST /api/simulate with an override the page's form sends,
   after the page has loaded the default [<= 0.5 s each].

Each figure is printed as wall time and as CPU time: on a shared, busy machine the wall time swings
with the load, the CPU time much less. For the sweep, the CPU time per design is measured in this
process on every 6th design of the spec (the pool's workers are not our children), and "designs/s on
2 idle cores" is 2 / (CPU s per design).

Run: .venv/bin/python benchmarks/twin_speed.py [--skip-sweep] [--profile]
Only public entry points are used, so the same script measures an older checkout side by side
(``PYTHONPATH=/path/to/old/src .venv/bin/python benchmarks/twin_speed.py``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path.cwd()  # run from the repository root
#: what the page's form changes, one at a time
CHANGES = ({"cluster.num_gpus": 50_000}, {"cluster.gpu.power_cap_w": 600}, {"job.tokens": 2e13},
           {"site.grid_mw": 300})


def cpu_s() -> float:
    """CPU seconds of this process and its reaped children (user + system)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def simulate_figures(profile: bool) -> tuple[float, float, float]:
    import gigafactory as gf

    prof = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), cpu_s()
    if prof:
        prof.enable()
    gf.simulate()
    if prof:
        prof.disable()
    cold, cold_cpu = time.perf_counter() - t0, cpu_s() - c0
    t0 = time.perf_counter()
    gf.simulate(seed=7)
    warm = time.perf_counter() - t0
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return cold, cold_cpu, warm


def sweep_figure() -> tuple[int, float, float]:
    """(designs, wall s of the real sweep, CPU s per design measured in-process)."""
    from gigafactory.sweep import run_sweep
    from gigafactory.sweep.evaluate import twin_point
    from gigafactory.sweep.spec import load_spec

    path = ROOT / "examples" / "sweep-gpus.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_sweep(path, tmp, fresh=True)
        wall = time.perf_counter() - t0
    spec = load_spec(path)
    sample = list(spec.points())[::6]
    c0 = time.process_time()
    for _pid, over in sample:
        twin_point(spec.point_raw(over))
    return res.evaluated, wall, (time.process_time() - c0) / len(sample)


def web_figures() -> list[tuple[dict, float, float]]:
    from fastapi.testclient import TestClient

    from gigafactory.web.app import create_app

    client = TestClient(create_app(), base_url="http://127.0.0.1")
    assert client.post("/api/simulate", json={}).status_code == 200  # the page loads the default
    out = []
    for change in CHANGES:
        t0, c0 = time.perf_counter(), time.process_time()
        r = client.post("/api/simulate", json={"overrides": change})
        out.append((change, time.perf_counter() - t0, time.process_time() - c0))
        assert r.status_code == 200, r.text
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile the cold simulate")
    a = ap.parse_args()
    t0 = time.perf_counter()
    import gigafactory  # noqa: F401

    imp = time.perf_counter() - t0
    cold, cold_cpu, warm = simulate_figures(a.profile)
    print(f"twin_speed: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"twin_speed: default simulate {cold:.2f} s ({cold_cpu:.2f} s CPU) in-process after import "
          f"({imp:.2f} s import) [target <= 1.0 s]; again with another seed {warm:.2f} s")
    web = web_figures()
    worst, worst_cpu = max(dt for _, dt, _ in web), max(dc for _, _, dc in web)
    print(f"twin_speed: web page answers a change in {worst:.2f} s at worst ({worst_cpu:.2f} s CPU) "
          "[target <= 0.5 s]: " + ", ".join(f"{next(iter(c))}={next(iter(c.values()))} {dt:.2f} s ({dc:.2f} s CPU)"
                                            for c, dt, dc in web))
    if not a.skip_sweep:
        n, wall, cpu = sweep_figure()
        print(f"twin_speed: sweep examples/sweep-gpus.yaml: {n} designs in {wall:.1f} s = {n / wall:.1f} designs/s; "
              f"{cpu:.2f} s CPU per design = {2 / cpu:.1f} designs/s on 2 idle cores [target >= 10]")


if __name__ == "__main__":
    main()
