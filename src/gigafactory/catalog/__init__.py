"""The catalog: sourced data files inside the package.

Each ``<kind>.yaml`` maps an entry id to its fields. Every number carries a source:

* an entry-level ``source:`` string is the source of the entry's bare numbers, and
* a number may instead be written ``{value: 989.4, source: "...", estimate: true, note: "..."}``
  to give it its own source, or to flag it as an estimate (not a published figure).

A bare number with no source in reach is a catalog bug, reported at load time. Loading strips the
wrappers: :func:`entry` returns plain values, :func:`provenance` the source of each number.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .. import yamlio
from ..errors import CatalogError, unknown

#: catalog kinds that name entries a scenario can refer to, and the word used in errors
KINDS: dict[str, str] = {
    "gpus": "GPU",
    "scaleups": "scale-up domain",
    "fabrics": "scale-out fabric",
    "models": "model",
    "clusters": "cluster",
    "sites": "site",
}


@dataclass(frozen=True)
class Provenance:
    value: float
    source: str
    estimate: bool = False
    note: str = ""


def _load_yaml(name: str) -> dict[str, Any]:
    path = resources.files(__package__).joinpath(f"{name}.yaml")
    if not path.is_file():
        raise CatalogError(f"catalog file {name}.yaml is missing from the package")
    with path.open("r", encoding="utf-8") as fh:
        data = yamlio.load(fh) or {}
    if not isinstance(data, dict):
        raise CatalogError(f"catalog file {name}.yaml must map ids to entries")
    return data


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _unwrap(node: Any, path: str, source: str | None, prov: dict[str, Provenance], where: str) -> Any:
    """Strip value wrappers, recording where each number came from."""
    if isinstance(node, dict):
        if "value" in node:
            value = node["value"]
            src = node.get("source", source)
            if src is None:
                raise CatalogError(f"{where}: {path} has no source")
            est = bool(node.get("estimate", False))
            if _is_number(value):
                prov[path] = Provenance(float(value), str(src), est, str(node.get("note", "")))
                return value
            if isinstance(value, list) and all(_is_number(v) for v in value):
                for i, v in enumerate(value):
                    prov[f"{path}[{i}]"] = Provenance(float(v), str(src), est, str(node.get("note", "")))
                return list(value)
            raise CatalogError(f"{where}: {path} wraps a non-number {value!r}")
        local = node.get("source", source) if path else source
        out = {}
        for k, v in node.items():
            if k in ("source", "note", "sources") and not path:
                out[k] = v
                continue
            if k in ("source", "note"):
                continue
            out[k] = _unwrap(v, f"{path}.{k}" if path else str(k), local, prov, where)
        return out
    if isinstance(node, list):
        return [_unwrap(v, f"{path}[{i}]", source, prov, where) for i, v in enumerate(node)]
    if _is_number(node):
        if source is None:
            raise CatalogError(f"{where}: {path} = {node} has no source")
        prov[path] = Provenance(float(node), source, False)
    return node


@cache
def _kind(kind: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Provenance]]]:
    raw = _load_yaml(kind)
    entries: dict[str, dict[str, Any]] = {}
    provs: dict[str, dict[str, Provenance]] = {}
    for eid, body in raw.items():
        if not isinstance(body, dict):
            raise CatalogError(f"{kind}.yaml: entry {eid!r} must be a mapping")
        prov: dict[str, Provenance] = {}
        src = body.get("source")
        plain = _unwrap({k: v for k, v in body.items()}, "", src, prov, f"{kind}.yaml:{eid}")
        plain["id"] = str(eid)
        entries[str(eid)] = plain
        provs[str(eid)] = prov
    return entries, provs


def ids(kind: str) -> list[str]:
    """All entry ids of a catalog kind."""
    return list(_kind(kind)[0])


def entry(kind: str, eid: str, field: str | None = None) -> dict[str, Any]:
    """A deep copy of one entry's plain values; unknown ids raise a SpecError naming `field`."""
    entries = _kind(kind)[0]
    if eid not in entries:
        raise unknown(field or kind, KINDS.get(kind, kind), eid, entries)
    return copy.deepcopy(entries[eid])


def provenance(kind: str, eid: str) -> dict[str, Provenance]:
    """Where each number of an entry comes from: dotted field path -> Provenance."""
    entry(kind, eid)
    return dict(_kind(kind)[1][eid])


def table(kind: str) -> dict[str, dict[str, Any]]:
    """All entries of a kind (deep copies), for data tables that are not named in scenarios."""
    return copy.deepcopy(_kind(kind)[0])


def all_kinds() -> list[str]:
    """Every catalog data file shipped in the package (without the .yaml suffix)."""
    root = resources.files(__package__)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))
