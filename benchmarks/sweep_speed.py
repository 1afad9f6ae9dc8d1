"""Sweep throughput: points per second for a 10,000-point random sweep of the default scenario,
local process pool on every core, results written to Parquet chunks as in a real run.

Run: .venv/bin/python benchmarks/sweep_speed.py [--points 10000] [--evaluator twin|spec] [--workers N]
The default evaluator is the full twin (gigafactory.twin.simulate(...).headline()); `--evaluator
spec` uses the first-order `spec_point` (scenario resolution + first-order figures), which measures
the sweep machinery itself. Axes: GPU count (16 sizes, 16k-139k), power cap (6
values) and training tokens (log-uniform): a random sample, so designs repeat and the planner's memo
in each worker serves repeats.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from gigafactory.sweep import run_sweep

EVALUATORS = {"twin": "gigafactory.sweep.evaluate:twin_point", "spec": "gigafactory.sweep.evaluate:spec_point"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--evaluator", choices=sorted(EVALUATORS), default="twin")
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args()
    ev = a.evaluator
    spec = {
        "name": "bench", "sample": "random", "samples": a.points, "seed": 0, "evaluator": EVALUATORS[ev],
        "objectives": ["days_to_model_p50", "capex_usd", "peak_mw"] if ev == "twin"
        else ["ideal_days", "gpu_capex_usd", "facility_mw"],
        "set": {"site.grid_mw": 600},
        # the sizes and caps a planner compares (16 x 6 designs), each at a random token budget
        "axes": {"cluster.num_gpus": [8192 * k for k in range(2, 18)],
                 "cluster.gpu.power_cap_w": [450, 500, 550, 600, 650, 700],
                 "job.tokens": {"low": 5e12, "high": 2e13, "log": True}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_sweep(spec, tmp, workers=a.workers)
        wall = time.perf_counter() - t0
    print(f"sweep_speed: {res.evaluated:,} points of the default scenario with {ev}_point on {res.workers} local "
          f"workers: {res.evaluated / wall:,.0f} points/s end to end ({wall:.1f} s incl. pool start and Parquet "
          f"writes; {res.errors} rejected)")


if __name__ == "__main__":
    main()
