"""The web API's request models, bounds and work functions (no FastAPI here: plain, testable code).

Every request names a *built-in* scenario (never a path) plus dotted overrides with scalar values;
nothing from a request is imported, evaluated or used as a file name. Work is bounded: GPU count,
Monte Carlo trials, overrides, sweep points and time per request.
"""

from __future__ import annotations

import dataclasses
import math
import types
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model, model_validator

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

Text = Annotated[str, StringConstraints(max_length=100)]
Scalar = (Text | Annotated[float, Field(allow_inf_nan=False)]
          | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | bool | None)
ScenarioName = Annotated[str, StringConstraints(max_length=80)]
#: dotted paths that name a catalog entry (a string: the name, with "did you mean" on a typo)
REF_PATHS = ("site", "cluster", "cluster.gpu", "cluster.scale_up", "cluster.fabric", "job.model")
#: per-precision peaks, the one mapping field a request may set key by key
PEAK_PATHS = tuple(f"cluster.gpu.peak_tflops.{k}" for k in ("bf16", "fp8", "mxfp8", "nvfp4"))
_SKIP = {"source", "sources", "note"}


def _leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, annotation with its bounds) of every scalar field of the scenario."""
    out: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        if name in _SKIP:
            continue
        path = f"{prefix}{name}"
        args = get_args(info.annotation) if get_origin(info.annotation) in (Union, types.UnionType) else (info.annotation,)
        args = tuple(a for a in args if a is not type(None))
        sub = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is not None:
            out += _leaves(sub, path + ".")
            continue
        if len(args) != 1 or get_origin(args[0]) in (list, dict):
            continue
        out.append((path, Annotated[(args[0], *info.metadata)] if info.metadata else args[0]))
    return out


def _overrides_model() -> type[BaseModel]:
    """The overrides object: one optional property per scenario field, named by its dotted path and
    carrying the field's type and physical range (so the OpenAPI schema states them)."""
    from ..specs import MAX_PEAK_TFLOPS, MIN_PEAK_TFLOPS, Real

    fields: dict[str, Any] = {}
    for path, ann in _leaves(Scenario):
        if path.count(".") > 5 or path in REF_PATHS:
            continue
        fields[path.replace(".", "__")] = (ann | None, Field(default=None, alias=path))
    for path in REF_PATHS:
        fields[path.replace(".", "__")] = (Text | None, Field(default=None, alias=path, description="catalog name"))
    peak = Annotated[Real, Field(ge=MIN_PEAK_TFLOPS, le=MAX_PEAK_TFLOPS)]
    for path in PEAK_PATHS:
        fields[path.replace(".", "__")] = (peak | None, Field(default=None, alias=path))
    model = create_model("Overrides", __config__=ConfigDict(extra="forbid", allow_inf_nan=False,
                                                             populate_by_name=False), **fields)
    model.__doc__ = "Dotted scenario paths and their values, e.g. {\"cluster.num_gpus\": 50000}."
    return model


Overrides = _overrides_model()
OVERRIDE_PATHS: tuple[str, ...] = tuple(sorted(f.alias for f in Overrides.model_fields.values() if f.alias))
OverridePath = Literal[OVERRIDE_PATHS]  # type: ignore[valid-type]


class ScenarioRequest(BaseModel):
    """A built-in scenario and dotted overrides, e.g. ``{"cluster.num_gpus": 50000}``."""

    model_config = ConfigDict(extra="forbid")
    scenario: ScenarioName | None = Field(default=None, description="built-in scenario name (default: the default)")
    overrides: Overrides = Field(default_factory=Overrides, description="dotted scenario path -> value")  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _few(self) -> ScenarioRequest:
        n = len(self.overrides.model_fields_set)
        if n > MAX_OVERRIDES:
            raise ValueError(f"{n} overrides is over the web limit of {MAX_OVERRIDES}")
        return self

    def override_dict(self) -> dict[str, Any]:
        return self.overrides.model_dump(by_alias=True, exclude_unset=True)


class GoodputRequest(ScenarioRequest):
    days: Annotated[float, Field(gt=0, le=MAX_DAYS, allow_inf_nan=False)] = Field(
        default=90.0, description="failure-free compute days the run needs")


class PlanRequest(ScenarioRequest):
    top: Annotated[int, Field(ge=1, le=10)] = 5


class SweepRequest(ScenarioRequest):
    axes: dict[OverridePath, Annotated[list[Scalar], Field(min_length=1, max_length=MAX_SWEEP_POINTS)]] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=MAX_AXES, description="dotted path -> values (at most 12 points in all)")


def resolve(req: ScenarioRequest, extra: dict[str, Any] | None = None) -> Scenario:
    """Resolve a request's scenario and check the work bounds."""
    over = {**req.override_dict(), **(extra or {})}
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


# ------------------------------------------------------------------ work functions (run in a worker process)
def simulate_work(req: ScenarioRequest) -> dict[str, Any]:
    import time

    from ..contract import simulate_shape

    t0 = time.perf_counter()
    scen = resolve(req)
    return simulate_shape(scen.name, headline(scen), time.perf_counter() - t0)


def plan_work(req: PlanRequest) -> Any:
    from ..perf.planner import plan as search

    s = resolve(req)
    return jsonable(search(s.job, s.cluster, top=req.top))


def goodput_work(req: GoodputRequest) -> Any:
    from ..fleet.goodput import goodput

    return jsonable(goodput(resolve(req), days=req.days, optimize=False))


def power_work(req: ScenarioRequest) -> Any:
    from ..twin import scenario_power

    return jsonable(scenario_power(resolve(req)))


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
    base = base_raw(req, [*req.override_dict(), *req.axes])
    rows = run_chunk(sweep_point, base, req.override_dict(), {p: p for p in req.axes},
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
