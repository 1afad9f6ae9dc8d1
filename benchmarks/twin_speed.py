"""The twin's three speed figures (issue targets in brackets):

1. the default ``simulate`` in-process after ``import gigafactory`` (cold: catalog, fabric, planner
   memo all empty) [<= 1.0 s], and a second one with a different seed (warm);
2. ``gigafactory sweep examples/sweep-gpus.yaml`` (54 designs, local pool on every core) [>= 10 designs/s];
3. the web page answering a change: POST /api/simulate with an override the page's form sends,
   after the page has loaded the default [<= 0.5 s each].

Run: .venv/bin/python benchmarks/twin_speed.py [--skip-sweep] [--profile]
Only public entry points are used, so the same script measures an older checkout side by side
(``PYTHONPATH=/path/to/old/src .venv/bin/python benchmarks/twin_speed.py``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what the page's form changes, one at a time
CHANGES = ({"cluster.num_gpus": 50_000}, {"cluster.gpu.power_cap_w": 600}, {"job.tokens": 2e13},
           {"site.grid_mw": 300})


def simulate_figures(profile: bool) -> tuple[float, float]:
    import gigafactory as gf

    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    gf.simulate()
    if prof:
        prof.disable()
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    gf.simulate(seed=7)
    warm = time.perf_counter() - t0
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return cold, warm


def sweep_figure() -> tuple[int, float]:
    from gigafactory.sweep import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_sweep(ROOT / "examples" / "sweep-gpus.yaml", tmp, fresh=True)
        wall = time.perf_counter() - t0
    return res.evaluated, wall


def web_figures() -> list[tuple[dict, float]]:
    from fastapi.testclient import TestClient

    from gigafactory.web.app import create_app

    client = TestClient(create_app())
    assert client.post("/api/simulate", json={}).status_code == 200  # the page loads the default
    out = []
    for change in CHANGES:
        t0 = time.perf_counter()
        r = client.post("/api/simulate", json={"overrides": change})
        out.append((change, time.perf_counter() - t0))
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
    cold, warm = simulate_figures(a.profile)
    print(f"twin_speed: default simulate {cold:.2f} s in-process after import ({imp:.2f} s import) "
          f"[target <= 1.0 s]; again with another seed {warm:.2f} s")
    web = web_figures()
    worst = max(dt for _, dt in web)
    print(f"twin_speed: web page answers a change in {worst:.2f} s at worst [target <= 0.5 s]: "
          + ", ".join(f"{next(iter(c))}={next(iter(c.values()))} {dt:.2f} s" for c, dt in web))
    if not a.skip_sweep:
        n, wall = sweep_figure()
        print(f"twin_speed: sweep examples/sweep-gpus.yaml: {n} designs in {wall:.1f} s = {n / wall:.1f} designs/s "
              "[target >= 10]")


if __name__ == "__main__":
    main()
