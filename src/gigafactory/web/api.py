"""The web API's request models, bounds and work functions (no FastAPI here: plain, testable code).

Every request names a *built-in* scenario (never a path) plus dotted overrides with scalar values;
nothing from a request is imported, evaluated or used as a file name. Work is bounded: GPU count,
Monte Carlo trials, overrides, sweep points and time per request.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .. import catalog
from ..errors import SpecError, closest
from ..resolve import builtin_scenarios, check_site_power, read_scenario_file, scenario_from_dict
from ..specs import Scenario
from ..sweep.spec import pin_site

#: bounds on the work one request may ask for (the CLI has none of these)
MAX_GPUS = 1_000_000
MAX_TRIALS = 500
MAX_OVERRIDES = 32
MAX_SWEEP_POINTS = 12
MAX_AXES = 2
MAX_DAYS = 365.0
WORK_TIMEOUT_S = 30.0
CONCURRENT_WORK = 2

Path_ = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,5}$", max_length=120)]
Scalar = (Annotated[str, StringConstraints(max_length=100)] | Annotated[float, Field(allow_inf_nan=False)]
          | int | bool | None)
ScenarioName = Annotated[str, StringConstraints(max_length=80)]


class ScenarioRequest(BaseModel):
    """A built-in scenario and dotted overrides, e.g. ``{"cluster.num_gpus": 50000}``."""

    model_config = ConfigDict(extra="forbid")
    scenario: ScenarioName | None = Field(default=None, description="built-in scenario name (default: the default)")
    overrides: dict[Path_, Scalar] = Field(default_factory=dict, max_length=MAX_OVERRIDES,
                                           description="dotted scenario path -> value")


class GoodputRequest(ScenarioRequest):
    days: Annotated[float, Field(gt=0, le=MAX_DAYS, allow_inf_nan=False)] = Field(
        default=90.0, description="failure-free compute days the run needs")


class PlanRequest(ScenarioRequest):
    top: Annotated[int, Field(ge=1, le=10)] = 5


class SweepRequest(ScenarioRequest):
    axes: dict[Path_, Annotated[list[Scalar], Field(min_length=1, max_length=MAX_SWEEP_POINTS)]] = Field(
        min_length=1, max_length=MAX_AXES, description="dotted path -> values (at most 12 points in all)")


def resolve(req: ScenarioRequest, extra: dict[str, Any] | None = None) -> Scenario:
    """Resolve a request's scenario and check the work bounds."""
    over = {**req.overrides, **(extra or {})}
    return bounded(scenario_from_dict(base_raw(req, list(over)), over, check_site=False))


def base_raw(req: ScenarioRequest, paths: list[str]) -> dict[str, Any]:
    """The request's built-in scenario as raw data, its site pinned when `paths` override site fields."""
    names = builtin_scenarios()
    name = req.scenario or None
    if name is not None and name not in names:
        raise SpecError("scenario", f"unknown built-in scenario {name!r}", names, closest(name, names))
    return pin_site(read_scenario_file(name), paths)


def bounded(scen: Scenario) -> Scenario:
    """The scenario, if it is inside the work bounds of one request (checked before the site gate,
    which builds the fabric)."""
    if scen.cluster.num_gpus > MAX_GPUS:
        raise SpecError("cluster.num_gpus", f"{scen.cluster.num_gpus:,} GPUs is over the web limit of {MAX_GPUS:,}; "
                        "use the CLI for larger clusters")
    if scen.policies.trials > MAX_TRIALS:
        raise SpecError("policies.trials", f"{scen.policies.trials:,} trials is over the web limit of {MAX_TRIALS:,}")
    check_site_power(scen)
    return scen


def headline(scen: Scenario) -> dict[str, Any]:
    """The twin's headline figures for a scenario."""
    from ..twin import simulate

    return jsonable(simulate(scen, detail=False).headline())


def sweep_point(raw: dict[str, Any]) -> dict[str, Any]:
    """The sweep evaluator of the web API: one raw scenario, inside the web bounds, through the twin."""
    from ..twin import simulate

    return jsonable(simulate(bounded(scenario_from_dict(raw, check_site=False)), detail=False).headline())


def sweep(req: SweepRequest) -> dict[str, Any]:
    """A small grid around a scenario (bounded to MAX_SWEEP_POINTS), evaluated in the request by the
    sweep machinery's own point loop (:func:`gigafactory.sweep.worker.run_chunk`), with its frontier."""
    import itertools

    from ..sweep.fields import check_value
    from ..sweep.pareto import pareto_mask
    from ..sweep.spec import point_id
    from ..sweep.worker import run_chunk

    n = math.prod(len(v) for v in req.axes.values())
    if n > MAX_SWEEP_POINTS:
        raise SpecError("axes", f"{n} points is over the web limit of {MAX_SWEEP_POINTS}; use `gigafactory sweep`")
    for path, values in req.axes.items():
        for v in values:
            check_value(f"axes.{path}", path, v)
    points = [dict(zip(req.axes, combo, strict=True)) for combo in itertools.product(*req.axes.values())]
    base = base_raw(req, [*req.overrides, *req.axes])
    rows = run_chunk(f"{__name__}:sweep_point", base, dict(req.overrides), {p: p for p in req.axes},
                     [(point_id(over), over) for over in points])
    objs = ["days_to_model_p50", "capex_usd", "peak_mw"]
    ok = [r for r in rows if r["error"] is None and all(isinstance(r.get(o), int | float) for o in objs)]
    front: list[str] = []
    if ok:
        import numpy as np

        mask = pareto_mask(np.array([[float(r[o]) for o in objs] for r in ok]))
        front = [r["point_id"] for r, m in zip(ok, mask, strict=True) if m]
    return {"rows": rows, "pareto": front, "objectives": objs}


@cache
def claims() -> Any:
    """The claims check (no input: computed once per process)."""
    from ..claims import evaluate_claims

    return jsonable(evaluate_claims())


def catalog_summary() -> dict[str, Any]:
    out: dict[str, Any] = {"scenarios": builtin_scenarios()}
    for kind in ("gpus", "models", "clusters", "sites", "scaleups", "fabrics"):
        out[kind] = [{"id": i, "name": catalog.entry(kind, i).get("name", i)} for i in catalog.ids(kind)]
    for e in out["scaleups"]:
        ent = catalog.entry("scaleups", e["id"])
        e["gpus"] = ent.get("gpus", [])
        e["gpus_per_domain"] = ent.get("gpus_per_domain")
    return out


def scenario_form(name: str) -> dict[str, Any]:
    """A built-in scenario as raw YAML data plus the values the page's form shows."""
    names = builtin_scenarios()
    if name not in names:
        raise SpecError("scenario", f"unknown built-in scenario {name!r}", names, closest(name, names))
    raw = read_scenario_file(name)
    s = scenario_from_dict(raw)
    form = {"gpu": s.cluster.gpu.id, "scale_up": s.cluster.scale_up.id, "num_gpus": s.cluster.num_gpus,
            "model": s.job.model.id, "tokens": s.job.tokens, "grid_mw": s.site.grid_mw,
            "domain": s.cluster.scale_up.gpus_per_domain}
    return {"name": name, "raw": raw, "form": form}


def jsonable(obj: Any, depth: int = 0) -> Any:
    """Plain JSON data from results: pydantic models, dataclasses, numpy; NaN and inf become null."""
    if depth > 12:
        return str(obj)
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict(), depth + 1)
    if hasattr(obj, "model_dump"):
        return jsonable(obj.model_dump(mode="json"), depth + 1)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name), depth + 1) for f in dataclasses.fields(obj)
                if not f.name.startswith("_")}
    if isinstance(obj, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in obj]
    if hasattr(obj, "tolist"):
        return jsonable(obj.tolist(), depth + 1)
    return str(obj)
