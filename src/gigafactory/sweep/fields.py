"""Checking a dotted scenario path and a value for it before a sweep runs (errors name the axis)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from .. import catalog
from ..errors import SpecError, closest, excerpt
from ..specs import Scenario

#: dotted-path fields that name a catalog entry (value: catalog kind)
REF_FIELDS = {
    "cluster": "clusters", "site": "sites", "cluster.gpu": "gpus", "cluster.scale_up": "scaleups",
    "cluster.fabric": "fabrics", "job.model": "models",
}
def field_annotation(path: str) -> Any:
    """The type annotation of a dotted scenario path, or raise a SpecError naming the bad part."""
    model: Any = Scenario
    parts = path.split(".")
    ann: Any = None
    for i, part in enumerate(parts):
        here = ".".join(parts[: i + 1])
        if model is dict:  # e.g. cluster.gpu.peak_tflops.bf16: any key of a mapping
            return ann.__args__[1] if getattr(ann, "__args__", None) else Any
        if part == "use" and ".".join(parts[:i]) in REF_FIELDS:
            return str
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            allowed = sorted(fields) if fields else None
            raise SpecError(here, "is not a scenario field", allowed, closest(part, fields or []))
        info = fields[part]
        ann = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        args = getattr(info.annotation, "__args__", (info.annotation,))
        sub = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is None and (getattr(info.annotation, "__origin__", None) is dict):
            ann = info.annotation
            model = dict
            continue
        model = sub
    return ann


def check_value(where: str, path: str, value: Any) -> None:
    """Check one value for a dotted path: known field, right type, known catalog name."""
    try:
        ann = field_annotation(path)
    except SpecError as exc:
        raise SpecError(where, exc.problem if exc.field == path else f"{exc.field}: {exc.problem}",
                        exc.allowed, exc.suggestion) from None
    kind = REF_FIELDS.get(path)
    if kind is not None or path.endswith(".use"):
        kind = kind or REF_FIELDS.get(path[: -len(".use")])
        name = value.get("use") if isinstance(value, dict) else value
        if isinstance(name, str):
            if kind and name not in catalog.ids(kind):
                raise SpecError(where, f"unknown {catalog.KINDS[kind]} {excerpt(name)}", catalog.ids(kind),
                                closest(name, catalog.ids(kind)))
            return
        if isinstance(value, dict):
            return  # an inline definition: validated when the point runs
        raise SpecError(where, f"expected a {catalog.KINDS[kind]} name, got {excerpt(value)}" if kind else f"got {excerpt(value)}")
    if isinstance(value, dict) and (not isinstance(ann, type) or issubclass(ann, BaseModel)):
        return
    try:
        TypeAdapter(ann).validate_python(value)
    except ValidationError as exc:
        msg = exc.errors(include_url=False)[0]["msg"].lower()
        raise SpecError(where, f"value {excerpt(value)}: {msg}") from None
    except Exception:  # noqa: BLE001 - an annotation pydantic cannot adapt: checked when the point runs
        return
