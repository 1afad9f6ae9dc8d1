"""From names and YAML to validated specs.

A reference to a catalog entry is written three ways:

* a name: ``cluster: colossus``
* a name plus overrides: ``cluster: {use: colossus, num_gpus: 50000, gpu: {use: h100-sxm, power_cap_w: 600}}``
* an inline definition (a mapping without ``use``), validated like a catalog entry.

Dotted overrides (``{"cluster.num_gpus": 50000}``) are applied to the raw scenario before it is
resolved; sweeps and the CLI use them. Validation errors become :class:`SpecError` lines that name
the field, say what is wrong and list what is allowed.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from . import catalog, yamlio
from .errors import GigafactoryError, SpecError, SpecErrors, closest, excerpt, unknown
from .specs import Capacity, Cluster, Fabric, Gpu, Job, Model, Plan, Policies, ScaleUp, Scenario, Site

#: which field of which type refers to which catalog kind
REFS: dict[str, dict[str, str]] = {
    "scenario": {"site": "sites", "cluster": "clusters", "job": "job"},
    "clusters": {"gpu": "gpus", "scale_up": "scaleups", "fabric": "fabrics"},
    "job": {"model": "models"},
}
TYPES: dict[str, type[BaseModel]] = {
    "gpus": Gpu,
    "scaleups": ScaleUp,
    "fabrics": Fabric,
    "models": Model,
    "clusters": Cluster,
    "sites": Site,
    "job": Job,
    "scenario": Scenario,
    "plan": Plan,
    "policies": Policies,
    "capacity": Capacity,
}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and "use" not in v:
            out[k] = deep_merge(out[k], v)
        elif isinstance(v, dict) and isinstance(out.get(k), str) and "use" not in v:
            out[k] = {"use": out[k], **copy.deepcopy(v)}  # override fields of a named entry
        else:
            out[k] = copy.deepcopy(v)
    return out


def _expand(kind: str, value: Any, field: str) -> dict[str, Any]:
    """Turn a name / {use: name, ...} / inline mapping into a plain dict with refs expanded."""
    if kind in catalog.KINDS:
        if isinstance(value, str):
            raw = catalog.entry(kind, value, field)
        elif isinstance(value, dict) and "use" in value:
            name = value["use"]
            if not isinstance(name, str):
                raise SpecError(f"{field}.use", f"must be a catalog name, got {excerpt(name)}", catalog.ids(kind))
            raw = catalog.entry(kind, name, f"{field}.use")
            over = {k: v for k, v in value.items() if k != "use"}
            for k in over:
                if k in REFS.get(kind, {}) or k in raw or k in TYPES[kind].model_fields:
                    continue
                raise SpecError(
                    f"{field}.{k}",
                    "unknown field",
                    allowed=sorted(TYPES[kind].model_fields),
                    suggestion=closest(k, TYPES[kind].model_fields),
                )
            raw = deep_merge(raw, over)
        elif isinstance(value, dict):
            raw = copy.deepcopy(value)
        else:
            raise SpecError(
                field, f"expected a {catalog.KINDS[kind]} name or mapping, got {excerpt(value)}", catalog.ids(kind)
            )
    else:
        if not isinstance(value, dict):
            raise SpecError(field, f"expected a mapping, got {excerpt(value)}")
        raw = copy.deepcopy(value)
    for sub, subkind in REFS.get(kind, {}).items():
        if sub in raw and raw[sub] is not None:
            raw[sub] = _expand(subkind, raw[sub], f"{field}.{sub}")
    return raw


def spec(kind: str, value: Any, field: str | None = None) -> Any:
    """Resolve and validate one spec of a kind (a catalog name, {use: ...} or inline mapping)."""
    field = field or ("" if kind == "scenario" else kind.rstrip("s"))
    raw = _expand(kind, value, field)
    return validate_spec(TYPES[kind], raw, field)


#: the former name of :func:`spec`, still imported by perf/validate.py and cli/cmd_plan.py
build = spec


def validate_spec(model: type[BaseModel], raw: dict[str, Any], field: str = "") -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _convert(exc, field) from None


def _convert(exc: ValidationError, prefix: str) -> SpecErrors | SpecError:
    errs: list[SpecError] = []
    for e in exc.errors(include_url=False):
        loc = [str(p) for p in e["loc"]]
        path = ".".join(([prefix] if prefix else []) + loc)
        etype = e["type"]
        ctx = e.get("ctx") or {}
        inp = e.get("input")
        if etype == "literal_error":
            allowed = [a.strip().strip("'") for a in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")]
            allowed = [a for a in allowed if a]
            errs.append(SpecError(path, f"{excerpt(inp)} is not allowed", allowed, closest(str(inp)[:80], allowed)))
        elif etype == "extra_forbidden":
            errs.append(SpecError(path, "unknown field"))
        elif etype == "missing":
            errs.append(SpecError(path, "is required but missing"))
        elif etype == "value_error":
            msg = str(ctx.get("error", e["msg"]))
            errs.append(SpecError(path.rsplit(".", 0)[0], msg))
        elif etype in RANGE_ERRORS:
            errs.append(SpecError(path, f"must be {range_text(*field_range(exc.title, e['loc']))} (got {excerpt(inp)})"))
        else:
            errs.append(SpecError(path, f"{e['msg'].lower()} (got {excerpt(inp)})"))
    # name the nearest known field for unknown ones
    for err in errs:
        if err.problem == "unknown field":
            parent, _, leaf = err.field.rpartition(".")
            fields = _fields_at(exc.title, parent[len(prefix) + 1 :] if prefix else parent)
            if fields:
                err.allowed = sorted(fields)
                err.suggestion = closest(leaf, fields)
                err.args = (err.line(),)
    return errs[0] if len(errs) == 1 else SpecErrors(errs)


#: pydantic error types that mean "outside the field's range" (huge integers and floats included)
RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "int_parsing_size",
                "finite_number"}


def field_range(title: str, loc: tuple[Any, ...]) -> tuple[Any, Any, bool]:
    """(lower, upper, integer) bounds of the field at `loc` in model `title` (None where unbounded)."""
    model: Any = {t.__name__: t for t in TYPES.values()}.get(title)
    info = None
    for part in loc:
        if model is None or not hasattr(model, "model_fields") or part not in model.model_fields:
            break
        info = model.model_fields[part]
        ann = info.annotation
        model = next((a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), None)
    if info is None:
        return None, None, False
    metadata = list(info.metadata)
    ann = info.annotation
    if getattr(ann, "__origin__", None) is dict:  # dict values (peak_tflops) carry their own bounds
        value = ann.__args__[-1]
        ann = getattr(value, "__origin__", value)
        for m in getattr(value, "__metadata__", ()):
            metadata += list(getattr(m, "metadata", [m]))
    lo = next((getattr(m, k) for m in metadata for k in ("ge", "gt") if getattr(m, k, None) is not None), None)
    hi = next((getattr(m, k) for m in metadata for k in ("le", "lt") if getattr(m, k, None) is not None), None)
    integer = ann is int or int in getattr(ann, "__args__", ())
    return lo, hi, integer


def range_text(lo: Any, hi: Any, integer: bool = False) -> str:
    def num(x: Any) -> str:
        return f"{x:,}" if isinstance(x, int) else f"{x:,.6g}" if 1e-3 <= abs(x) < 1e7 or x == 0 else f"{x:.3g}"

    kind = "an integer" if integer else "a finite number"
    if lo is not None and hi is not None:
        return f"{kind} from {num(lo)} to {num(hi)}"
    if lo is not None:
        return f"{kind} of at least {num(lo)}"
    if hi is not None:
        return f"{kind} of at most {num(hi)}"
    return f"{kind} in range"


def _fields_at(title: str, dotted: str) -> list[str]:
    model: Any = {t.__name__: t for t in TYPES.values()}.get(title)
    for part in [p for p in dotted.split(".") if p]:
        if model is None or not hasattr(model, "model_fields") or part not in model.model_fields:
            return []
        ann = model.model_fields[part].annotation
        model = next((a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), None)
    return list(model.model_fields) if model is not None and hasattr(model, "model_fields") else []


# --------------------------------------------------------------------------- scenarios


def set_dotted(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a copy of a raw scenario with `path` (e.g. ``cluster.gpu.power_cap_w``) set."""
    out = copy.deepcopy(raw)
    node = out
    parts = path.split(".")
    for p in parts[:-1]:
        nxt = node.get(p)
        if isinstance(nxt, str):
            nxt = {"use": nxt}
        elif nxt is None:
            nxt = {}
        node[p] = nxt
        node = nxt
    node[parts[-1]] = value
    return out


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    for path, value in (overrides or {}).items():
        raw = set_dotted(raw, path, value)
    return raw


def scenario_from_dict(raw: dict[str, Any], overrides: dict[str, Any] | None = None, *,
                       check_site: bool = True) -> Scenario:
    """Resolve a raw scenario mapping (names, overrides) into a validated :class:`Scenario`, checked
    against its site's firm supply (:func:`check_site_power`) unless `check_site` is False."""
    if not isinstance(raw, dict):
        raise SpecError("scenario", "a scenario file must be a YAML mapping")
    if "site" not in raw and any(k.split(".")[0] == "site" for k in overrides or {}) and "cluster" in raw:
        # overriding a field of the cluster's own site: name that site explicitly first
        site_id = _expand("clusters", raw["cluster"], "cluster").get("site")
        if site_id:
            raw = {**raw, "site": site_id}
    raw = apply_overrides(raw, overrides)
    allowed = set(Scenario.model_fields)
    for k in raw:
        if k not in allowed:
            raise SpecError(k, "unknown scenario field", sorted(allowed), closest(k, allowed))
    for req in ("cluster", "job"):
        if req not in raw:
            raise SpecError(req, "is required in a scenario")
    raw = dict(raw)
    raw.setdefault("name", "scenario")
    cluster = _expand("clusters", raw["cluster"], "cluster")
    if "site" not in raw:
        if not cluster.get("site"):
            raise SpecError("site", "is required: the cluster names no site")
        raw["site"] = cluster["site"]
    raw["cluster"] = cluster
    raw["site"] = _expand("sites", raw["site"], "site")
    raw["job"] = _expand("job", raw["job"], "job")
    scen = validate_spec(Scenario, raw)
    if check_site:
        check_site_power(scen)
    return scen


def load_scenario(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load a scenario YAML file (or the built-in default when `path` is None)."""
    return scenario_from_dict(read_scenario_file(path), overrides)


def scenario(target: Scenario | str | Path | dict[str, Any] | None = None,
             overrides: dict[str, Any] | None = None) -> Scenario:
    """A Scenario from whatever a user hands the public API: a Scenario (overrides re-resolve it), a
    raw mapping, a YAML path or built-in name, or None (the built-in default)."""
    if isinstance(target, Scenario):
        return scenario_from_dict(scenario_to_dict(target), overrides) if overrides else target
    if isinstance(target, dict):
        return scenario_from_dict(target, overrides)
    return load_scenario(target, overrides)


def read_scenario_file(path: str | Path | None = None) -> dict[str, Any]:
    if path is None:
        return copy.deepcopy(_default_raw())
    p = Path(path)
    if not p.is_file():
        builtin = resources.files("gigafactory.catalog").joinpath("scenarios", f"{path}.yaml")
        if builtin.is_file():
            return strip_sources(yamlio.load(builtin.read_text(encoding="utf-8")))
        names = builtin_scenarios()
        raise SpecError("scenario", f"no such file or built-in scenario {excerpt(str(path))}", names,
                        closest(str(path)[:80], names))
    data = yamlio.load_file(p, "scenario")
    if not isinstance(data, dict):
        raise SpecError("scenario", f"{p.name} must hold a YAML mapping")
    return strip_sources(data)


_WRAPPER_KEYS = {"value", "source", "estimate", "note"}


def strip_sources(node: Any) -> Any:
    """A scenario may write a number as ``{value: 4.0e13, source: ..., estimate: true}`` like the
    catalog; the twin sees the plain value."""
    if isinstance(node, dict):
        if "value" in node and set(node) <= _WRAPPER_KEYS:
            return node["value"]
        return {k: strip_sources(v) for k, v in node.items()}
    if isinstance(node, list):
        return [strip_sources(v) for v in node]
    return node


DEFAULT_SCENARIO = "colossus-gpt4"


@cache
def _default_raw() -> dict[str, Any]:
    text = resources.files("gigafactory.catalog").joinpath("scenarios", f"{DEFAULT_SCENARIO}.yaml").read_text()
    return strip_sources(yamlio.load(text))


def builtin_scenarios() -> list[str]:
    """The built-in scenario names: the default first, then the rest by name."""
    root = resources.files("gigafactory.catalog").joinpath("scenarios")
    names = sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))
    return sorted(names, key=lambda n: n != DEFAULT_SCENARIO)


def builtin_scenario_text(name: str) -> str:
    """The YAML text of a built-in scenario, sources and all."""
    if name not in builtin_scenarios():
        raise unknown("scenario", "built-in scenario", name, builtin_scenarios())
    return resources.files("gigafactory.catalog").joinpath("scenarios", f"{name}.yaml").read_text(encoding="utf-8")


def scenario_to_dict(scen: Scenario) -> dict[str, Any]:
    """A fully resolved scenario as plain data; feeding it back gives an equal scenario."""
    return scen.model_dump(mode="json", exclude_none=True)


def check_site_power(scen: Scenario) -> None:
    """Reject clusters the site cannot power: the facility power the cluster is provisioned for
    (:func:`gigafactory.fleet.power.facility_mw`, the figure ``power`` and ``simulate`` report)
    against the site's firm supply, grid plus generation (batteries only buffer)."""
    from .fleet.power import facility_mw
    from .fleet.site import firm_shortfall

    c, s = scen.cluster, scen.site
    if s.firm_supply_mw <= 0:  # supply not modelled
        return
    try:
        need = facility_mw(c, s)
    except SpecError:  # the fabric cannot be built as given (power says why): count the one that can
        need = facility_mw(c.model_copy(update={"tiers": None}), s)
    short = firm_shortfall(need, s)
    if short:
        dom = c.scale_up.gpus_per_domain
        fit = int(s.firm_supply_mw / (need / c.num_gpus)) // dom * dom
        raise SpecError(
            "cluster.num_gpus",
            f"{c.num_gpus:,} GPUs at site {s.id} (PUE {s.pue:g}) {short}; or use at most ~{fit:,} GPUs",
        )


def model(name: str) -> Model:
    return spec("models", name, "model")


def gpu(name: str) -> Gpu:
    return spec("gpus", name, "gpu")


def cluster(name: str | dict[str, Any]) -> Cluster:
    return spec("clusters", name, "cluster")


def site(name: str | dict[str, Any]) -> Site:
    return spec("sites", name, "site")


def site_of(cluster: Cluster) -> Site | None:
    """The site a catalog cluster names (None when it names none)."""
    return site(cluster.site) if cluster.site else None


__all__ = [
    "GigafactoryError",
    "spec",
    "validate_spec",
    "load_scenario",
    "scenario_from_dict",
    "scenario_to_dict",
    "apply_overrides",
    "set_dotted",
    "check_site_power",
    "unknown",
]
