"""Build the 100,000-GPU Colossus fabric, derive its collective model (contention included) and cost
collectives for 65,536 plans at once (targets: fabric < 1 s, < 2 ms of CPU per collective call).

Run: .venv/bin/python benchmarks/fabric_speed.py
"""

from __future__ import annotations

import time

import numpy as np

from gigafactory.network import collectives, fabric_view
from gigafactory.network.contention import route_flows
from gigafactory.network.topology import build_topology
from gigafactory.resolve import cluster


def main() -> None:
    c = cluster("colossus")
    t0 = time.perf_counter()
    topo = build_topology(c)
    t1 = time.perf_counter()
    fab = fabric_view._fabric.__wrapped__(c.model_dump_json())  # uncached: topology, pods, contention
    t2 = time.perf_counter()
    sec = float(collectives.all_reduce(fab, 2e9, topo.gpus // 8, 8))
    print(f"colossus (100,000 GPUs): build {(t1 - t0) * 1e3:.2f} ms, collective model with ECMP/adaptive "
          f"contention {(t2 - t1) * 1e3:.0f} ms (target < 1000 ms); 2 GB all-reduce over 12,500 ranks = "
          f"{sec * 1e3:.1f} ms ({collectives.algorithm(fab, 'all-reduce', 2e9, topo.gpus // 8, 8)})")
    rng = np.random.default_rng(0)
    N = 65_536
    nbytes = rng.uniform(1e3, 1e10, N)
    n = rng.choice([2.0, 4, 8, 16, 32, 64, 128, 512, 4096], N)
    stride = rng.choice([1.0, 2, 4, 8, 16, 64], N)
    columns = [(rng.choice([2.0, 4, 8, 16, 32, 64, 128, 512, 4096], N), rng.choice([1.0, 2, 4, 8, 16, 64], N))
               for _ in range(12)]  # fresh group columns: memo misses, as in the engine's chunks
    for fn in (collectives.all_reduce, collectives.reduce_scatter, collectives.all_gather, collectives.all_to_all):
        fn(fab, nbytes, n, stride)
        reps = 20
        t0 = time.process_time()  # CPU time: the shared box's wall clock mostly measures its neighbours
        for _ in range(reps):
            fn(fab, nbytes, n, stride)
        hit = (time.process_time() - t0) / reps
        t0 = time.process_time()
        for nn, ss in columns:
            fn(fab, nbytes, nn, ss)
        miss = (time.process_time() - t0) / len(columns)
        print(f"{fn.__name__:15s} {N:,} plans: {hit * 1e3:.2f} ms per call on memoised groups, {miss * 1e3:.2f} ms on "
              f"new ones (CPU; target < 2 ms)")
    t0 = time.perf_counter()
    p = route_flows(build_topology(cluster("colossus")), "permutation", "ecmp")
    print(f"random permutation, ECMP, 100k flows: {(time.perf_counter() - t0) * 1e3:.0f} ms "
          f"(throughput {p.throughput:.3f}, {p.iterations} max-min rounds)")
    t0 = time.perf_counter()
    big = build_topology(cluster("colossus"), num_gpus=4_000_000, tiers=None)
    print(f"4,000,000 GPUs: {big.tiers} tiers, {big.total_switches:,} switches, built in "
          f"{(time.perf_counter() - t0) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
