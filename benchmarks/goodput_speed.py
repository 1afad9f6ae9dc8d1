"""Speed of the goodput Monte Carlo: 1,000 trials of a 100,000-GPU, 90-day run (target < 2 s on 2 cores).

Run: .venv/bin/python benchmarks/goodput_speed.py
Times the bare simulation (one checkpoint interval) in a fresh process, first call included, and then
the full `goodput()` with the simulated-optimum search and the what-if table.
"""

from __future__ import annotations

import time

from gigafactory import resolve
from gigafactory.fleet.goodput import goodput
from gigafactory.specs import Policies


def main() -> None:
    cluster = resolve.cluster("colossus")  # 100,000 H100
    model = resolve.model("gpt4-moe-1.8t")
    pol = Policies(trials=1000, seed=0)
    goodput(cluster, model, 1.0, Policies(trials=2), whatifs=False, optimize=False)  # imports, catalog
    t0 = time.perf_counter()
    r = goodput(cluster, model, 90.0, pol, whatifs=False, optimize=False)
    sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = goodput(cluster, model, 90.0, pol)
    total = time.perf_counter() - t0
    events = sum(r.interruptions.values())
    print(f"goodput_speed: 1,000 trials x 100,000 GPUs x 90 days ({events:,.0f} interruptions per trial): "
          f"{sim:.2f} s; with optimum search + 4 what-ifs: {total:.2f} s")
    print(f"  wall days p10/p50/p90 {r.wall_days.p10:.1f}/{r.wall_days.p50:.1f}/{r.wall_days.p90:.1f}, "
          f"goodput p50 {100 * r.goodput.p50:.1f}% (full run p50 {100 * full.goodput.p50:.1f}%)")


if __name__ == "__main__":
    main()
