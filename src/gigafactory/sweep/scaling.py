"""The scale study's evaluator: the twin's headline plus what a bigger cluster runs into.

``scaling_point(raw)`` adds to the twin's headline, for one cluster size:

* **batch**: the job's tokens per step against the compute-optimal batch of its training budget,
  ``B_opt = a C^b`` tokens with ``C = model FLOPs per token x tokens`` (DeepSeek LLM 2024, in
  ``catalog/scaling.yaml``), and the GPUs the planner could use at the job's batch;
* **failures**: mean time between interruptions (min), the checkpoint stall and interval, goodput;
* **fabric**: the fewest tiers that fit, the switch count, and the fewest planes that keep three
  tiers (a plane is one copy of the fabric on a share of each server's NICs);
* **power**: facility MW and the gas turbines of the site's unit size that would carry all of it
  (N + the spares of ``catalog/power.yaml``), the buildings it spans and the links between them.

Run it from a sweep spec (``evaluator: scaling``), e.g.
``examples/sweep-scaling.yaml``.
"""

from __future__ import annotations

import math
from typing import Any

from .. import catalog
from ..errors import SpecError
from ..resolve import scenario_from_dict


def optimal_batch_tokens(flops: float) -> float:
    """Compute-optimal batch in tokens for a training budget of `flops` (DeepSeek LLM 2024)."""
    law = catalog.entry("scaling", "batch-size-law")
    return float(law["coefficient"]) * flops ** float(law["exponent"])


def planes_for_tiers(cluster: Any, tiers: int) -> int | None:
    """The fewest fabric planes that build the cluster in `tiers` tiers (None: no divisor does)."""
    from ..network.topology import build_topology

    ports = cluster.scale_up.gpus_per_server * cluster.nics_per_gpu
    for p in range(1, ports + 1):
        if ports % p:
            continue
        try:
            build_topology(cluster, tiers=tiers, planes=p)
        except SpecError:
            continue
        return p
    return None


def scaling_point(raw: dict[str, Any]) -> dict[str, Any]:
    """The twin's headline for one raw scenario plus the scale study's columns."""
    from ..fleet.power import consts
    from ..network.topology import build_topology
    from ..perf.params import model_flops_per_token
    from ..twin import simulate

    scen = scenario_from_dict(raw)
    res = simulate(scen, detail=False)
    out = dict(res.headline())
    c, j, gp = scen.cluster, scen.job, res.goodput
    flops = model_flops_per_token(j.model, j.seq_len) * j.tokens
    topo = build_topology(c)
    unit = scen.site.generation[0].mw_each if scen.site.generation else float(consts("default-turbine")["mw_each"])
    spares = int(consts("supply")["turbine_spares"])
    lay = res.schedule.layout if res.schedule is not None else None
    out.update({
        "train_flops": flops,
        "batch_tokens": float(j.tokens_per_step),
        "optimal_batch_tokens": optimal_batch_tokens(flops),
        "gpus_idle": c.num_gpus - out["gpus_used"],
        "mttf_min": gp.mttf_h * 60.0,
        "checkpoint_stall_s": gp.checkpoint_stall_s,
        "checkpoint_interval_min": gp.interval_min,
        "fabric_tiers": topo.tiers,
        "fabric_switches": topo.total_switches,
        "planes_for_3_tiers": planes_for_tiers(c, 3),
        "turbine_mw_each": unit,
        "turbines_for_all_load": math.ceil(out["facility_mw"] / unit - 1e-9) + spares,
        "links_between_buildings": lay.links_between_buildings if lay else 0,
    })
    return out
