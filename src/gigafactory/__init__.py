"""gigafactory: a digital twin of AI training supercomputers.

The public API is a set of pure functions over immutable specs; the CLI is a thin layer over it::

    import gigafactory as gf
    scen = gf.load_scenario()              # the built-in Colossus-class default
    scen = gf.load_scenario("my.yaml", {"cluster.num_gpus": 50_000})

Later layers add ``gf.plan``, ``gf.step``, ``gf.goodput``, ``gf.power``, ``gf.network``,
``gf.simulate`` (imported lazily so that ``import gigafactory`` stays fast).
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import GigafactoryError, InfeasiblePlan, SpecError
from .resolve import build, load_scenario, scenario_from_dict, scenario_to_dict
from .specs import Cluster, Fabric, Gpu, Job, Model, Plan, Policies, ScaleUp, Scenario, Site

__version__ = "0.1.0"

#: public functions provided by later layers: name -> "module:attribute"
_LAZY: dict[str, str] = {
    "simulate": ".twin:simulate",
    "evaluate_claims": ".claims:evaluate_claims",
    "power": ".fleet.power_report:power",
    "run_sweep": ".sweep:run_sweep",
    "goodput": ".fleet.goodput:goodput",
    "cost": ".fleet.cost:cost",
    "bringup": ".fleet.build:bringup",
    "network": ".network:network",
    "plan": ".perf.planner:plan",
    "step": ".perf.step:evaluate",
    "validate": ".perf.validate:validate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod, _, attr = _LAZY[name].partition(":")
        return getattr(importlib.import_module(mod, __name__), attr)
    raise AttributeError(f"module 'gigafactory' has no attribute {name!r}")


__all__ = [
    "GigafactoryError",
    "InfeasiblePlan",
    "SpecError",
    "build",
    "load_scenario",
    "scenario_from_dict",
    "scenario_to_dict",
    "Cluster",
    "Fabric",
    "Gpu",
    "Job",
    "Model",
    "Plan",
    "Policies",
    "ScaleUp",
    "Scenario",
    "Site",
    *_LAZY,
]
