"""gigafactory: a digital twin of AI training supercomputers.

The public API is a set of pure functions over immutable specs; the CLI is a thin layer over it::

    import gigafactory as gf
    scen = gf.load_scenario()              # the built-in Colossus-class default
    scen = gf.load_scenario("my.yaml", {"cluster.num_gpus": 50_000})
    gf.simulate(scen).headline()           # the twin end to end (a name, path or mapping works too)

Names and YAML are resolved here and in the other surfaces (:mod:`gigafactory.resolve`); the layers
below take specs. Later layers (``gf.plan``, ``gf.step``, ``gf.goodput``, ``gf.network_report``, ...)
are imported lazily so that ``import gigafactory`` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import GigafactoryError, InfeasiblePlan, SpecError
from .resolve import load_scenario, scenario_from_dict, scenario_to_dict, spec
from .resolve import spec as build  # the former name of `spec`, kept for existing callers
from .specs import Cluster, Fabric, Gpu, Job, Model, Plan, Policies, ScaleUp, Scenario, Site

if TYPE_CHECKING:
    from .fleet.power import PowerReport
    from .twin import TwinResult

__version__ = "0.1.0"

#: public functions provided by later layers: name -> "module:attribute"
_LAZY: dict[str, str] = {
    "evaluate_claims": ".claims:evaluate_claims",
    "run_sweep": ".sweep:run_sweep",
    "goodput": ".fleet.goodput:goodput",
    "cost": ".fleet.cost:cost",
    "bringup": ".fleet.build:bringup",
    "network_report": ".network:network_report",
    "plan": ".perf.planner:plan",
    "step": ".perf.step:evaluate",
    "validate": ".perf.validate:validate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod, _, attr = _LAZY[name].partition(":")
        return getattr(importlib.import_module(mod, __name__), attr)
    raise AttributeError(f"module 'gigafactory' has no attribute {name!r}")


def simulate(
    scenario: Scenario | str | Path | dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    detail: bool = True,
) -> TwinResult:
    """Run a scenario end to end (the built-in Colossus-class default when none is given): a
    Scenario, a raw mapping, a YAML path or built-in name, plus dotted overrides."""
    from .resolve import scenario as resolve_scenario
    from .twin import simulate as run

    return run(resolve_scenario(scenario, overrides), seed=seed, progress=progress, detail=detail)


def power(target: Scenario | Cluster | str | None = None, *, site: Site | str | None = None,
          **kwargs: Any) -> PowerReport:
    """Power budget, waveform, day series and site verdict. A Scenario (or a scenario name / path,
    or None for the default): exactly what ``simulate`` reports. A Cluster or a catalog cluster
    name: at its own site (or `site`), with the default step and its failure model; keyword
    arguments go to :func:`gigafactory.fleet.power.power`."""
    from . import resolve
    from .fleet.power import power as cluster_power
    from .twin import scenario_power

    if isinstance(target, Cluster) or (isinstance(target, str) and target in _cluster_ids()):
        cluster = target if isinstance(target, Cluster) else resolve.cluster(target)
        st = resolve.site(site) if isinstance(site, str) else site or resolve.site_of(cluster)
        return cluster_power(cluster, st, **kwargs)
    if site is not None:
        raise SpecError("site", "a scenario brings its own site: override site fields instead")
    return scenario_power(resolve.scenario(target), **kwargs)


def _cluster_ids() -> list[str]:
    from . import catalog

    return catalog.ids("clusters")


__all__ = [
    "GigafactoryError",
    "InfeasiblePlan",
    "SpecError",
    "spec",
    "build",
    "load_scenario",
    "scenario_from_dict",
    "scenario_to_dict",
    "simulate",
    "power",
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
