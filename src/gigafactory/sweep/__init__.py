"""Design-space sweeps: axes over any scenario field, run on a process pool or Ray, stored in Parquet.

::

    from gigafactory.sweep import run_sweep, query
    res = run_sweep("examples/sweep-gpus.yaml", "sweeps/gpus")
    query("SELECT cluster_gpu, min(days_to_model_p50) FROM ok GROUP BY 1", res.results)
"""

from __future__ import annotations

from .pareto import pareto_mask
from .results import find_results, frontier, query
from .run import SweepResult, run_sweep
from .spec import SweepSpec, load_spec, parse_spec, point_id

__all__ = ["SweepResult", "SweepSpec", "find_results", "frontier", "load_spec", "parse_spec", "pareto_mask",
           "point_id", "query", "run_sweep"]
