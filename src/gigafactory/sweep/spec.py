"""Sweep specs: axes over any scenario field, as a grid or a seeded random sample.

A spec is a YAML mapping::

    name: gpu-generations
    scenario: colossus-gpt4          # base: a scenario file (relative to the spec) or a built-in name
    set: {policies.trials: 100}      # fixed dotted overrides applied to every point
    sample: grid                     # grid (every combination) | random (seeded sample)
    samples: 1000                    # random only: how many points
    seed: 0                          # random only
    objectives: [days_to_model_p50, capex_usd, peak_mw]   # minimised by the Pareto frontier
    axes:
      cluster.gpu: [h100-sxm, b200]                           # a list of values
      cluster.num_gpus: {start: 32768, stop: 131072, step: 32768}   # inclusive range
      job.tokens: {low: 5e12, high: 2e13, num: 4, log: true}  # grid: num points; random: uniform draw
      cluster.gpu.power_cap_w: {values: [500, 600, 700]}

Every axis path is checked against the scenario's fields, and every listed value against the
field's type, before anything runs; errors name the axis. A point's id is a hash of its axis
values, so a results store can tell which points are done.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import yamlio
from ..errors import SpecError, closest
from ..resolve import read_scenario_file
from .evaluate import evaluator_label, evaluator_name
from .fields import check_value as _check_value

DEFAULT_OBJECTIVES = ("days_to_model_p50", "capex_usd", "peak_mw")
DEFAULT_EVALUATOR = "twin"
SPEC_KEYS = {"name", "description", "scenario", "set", "sample", "samples", "seed", "axes", "objectives",
             "evaluator", "output", "chunk_size"}
#: the largest sweep one spec may describe (a million points is a cluster's afternoon)
MAX_POINTS = 50_000_000


@dataclass(frozen=True)
class Axis:
    path: str
    column: str
    values: tuple[Any, ...] | None = None  # discrete values (grid, or random choice)
    low: float | None = None               # continuous range (random draw)
    high: float | None = None
    log: bool = False
    step: float | None = None              # random draws rounded to a multiple of step
    integer: bool = False
    group: str | None = None               # linked axes (same group) move together, value by value

    def grid(self) -> tuple[Any, ...]:
        assert self.values is not None
        return self.values

    def draw(self, rng: np.random.Generator, n: int) -> list[Any]:
        if self.values is not None:
            idx = rng.integers(0, len(self.values), size=n)
            return [self.values[i] for i in idx]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        x = np.exp(rng.uniform(np.log(lo), np.log(hi), n)) if self.log else rng.uniform(lo, hi, n)
        if self.step:
            x = np.clip(np.round(x / self.step) * self.step, math.ceil(lo / self.step) * self.step,
                        math.floor(hi / self.step) * self.step)
        if self.integer:
            return [int(v) for v in np.rint(x)]
        return [float(v) for v in x]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    base: dict[str, Any]
    axes: tuple[Axis, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    sample: str = "grid"
    samples: int = 0
    seed: int = 0
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    evaluator: Any = DEFAULT_EVALUATOR  # a registered name, or (from Python code) a top-level function
    output: str | None = None
    chunk_size: int | None = None

    def dimensions(self) -> list[list[Axis]]:
        """Axes grouped into independent dimensions (a linked group is one dimension)."""
        dims: dict[str, list[Axis]] = {}
        for a in self.axes:
            dims.setdefault(a.group or a.path, []).append(a)
        return list(dims.values())

    @property
    def size(self) -> int:
        """Points the spec describes (random: before duplicates are dropped)."""
        if self.sample == "random":
            return self.samples
        return math.prod(len(d[0].grid()) for d in self.dimensions())

    def identity(self) -> str:
        """Hash of everything that determines the results (not where or how fast they run)."""
        doc = {"base": self.base, "fixed": self.fixed, "evaluator": evaluator_label(self.evaluator), "sample": self.sample,
               "samples": self.samples, "seed": self.seed,
               "axes": [[a.path, a.values, a.low, a.high, a.log, a.step, a.integer, a.group] for a in self.axes]}
        return hashlib.sha256(_canon(doc).encode()).hexdigest()[:16]

    def points(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(point id, axis overrides) for every distinct point, in a fixed order."""
        dims = self.dimensions()
        if self.sample == "random":
            rng = np.random.default_rng(self.seed)
            cols = []
            for d in dims:
                if len(d) == 1:
                    cols.append([{d[0].path: v} for v in d[0].draw(rng, self.samples)])
                else:
                    idx = rng.integers(0, len(d[0].grid()), size=self.samples)
                    cols.append([{a.path: a.grid()[i] for a in d} for i in idx])
            combos: Iterator[tuple[dict[str, Any], ...]] = zip(*cols, strict=True)
        else:
            combos = itertools.product(*([{a.path: a.grid()[i] for a in d} for i in range(len(d[0].grid()))]
                                         for d in dims))
        order = [a.path for a in self.axes]
        seen: set[str] = set()
        for combo in combos:
            merged: dict[str, Any] = {}
            for part in combo:
                merged.update(part)
            over = {p: merged[p] for p in order}
            pid = point_id(over)
            if pid in seen:
                continue
            seen.add(pid)
            yield pid, over

    def point_raw(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The raw scenario of one point: base, fixed overrides, then its axis values."""
        from .worker import point_raw

        return point_raw(self.base, self.fixed, overrides)


def pin_site(raw: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Name the site explicitly when overrides touch ``site.*`` but the scenario inherits the
    cluster's site (else ``site.grid_mw`` would start an empty inline site)."""
    if "site" in raw or not any(p.startswith("site.") for p in paths):
        return raw
    from ..resolve import scenario_from_dict

    return {**raw, "site": scenario_from_dict(raw).site.id}


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def point_id(overrides: dict[str, Any]) -> str:
    """Stable id of a point: the first 16 hex digits of the SHA-256 of its canonical overrides."""
    return hashlib.sha256(_canon(overrides).encode()).hexdigest()[:16]


def column_name(path: str) -> str:
    """Results column of an axis: ``cluster.gpu.power_cap_w`` -> ``cluster_gpu_power_cap_w``."""
    return path.replace(".", "_").replace("-", "_")


# --------------------------------------------------------------------------- parsing


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> SweepSpec:
    """Read and validate a sweep spec YAML file (``overrides`` replace top-level keys)."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("spec", f"no such sweep spec file {str(path)!r}")
    doc = yamlio.load_file(p, "spec")
    if not isinstance(doc, dict):
        raise SpecError("spec", f"{p.name} must hold a YAML mapping")
    doc = {**doc, **(overrides or {})}
    doc.setdefault("name", p.stem)
    return parse_spec(doc, base_dir=p.parent)


def parse_spec(doc: dict[str, Any], base_dir: Path | None = None) -> SweepSpec:
    """Validate a sweep spec mapping; every error names the key or axis at fault."""
    for k in doc:
        if k not in SPEC_KEYS:
            raise SpecError(str(k), "unknown sweep spec key", sorted(SPEC_KEYS), closest(str(k), SPEC_KEYS))
    base = _base(doc.get("scenario"), base_dir)
    fixed = doc.get("set") or {}
    if not isinstance(fixed, dict):
        raise SpecError("set", "must map dotted scenario paths to values")
    axes_doc = doc.get("axes")
    if isinstance(axes_doc, dict):
        paths = [str(k) for k in fixed] + [str(k) for k in axes_doc]
        paths += [str(p) for v in axes_doc.values() if isinstance(v, dict) for p in v]
        base = pin_site(base, paths)
    for path, value in fixed.items():
        _check_value(f"set.{path}", str(path), value)
    sample = doc.get("sample", "grid")
    if sample not in ("grid", "random"):
        raise SpecError("sample", f"{sample!r} is not allowed", ["grid", "random"], closest(str(sample), ["grid", "random"]))
    samples, seed = doc.get("samples", 0), doc.get("seed", 0)
    if sample == "random" and (not isinstance(samples, int) or isinstance(samples, bool) or samples < 1):
        raise SpecError("samples", f"a random sweep needs a positive whole number of samples (got {samples!r})")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SpecError("seed", f"must be a whole number (got {seed!r})")
    if not isinstance(axes_doc, dict) or not axes_doc:
        raise SpecError("axes", "a sweep needs at least one axis: a mapping of dotted scenario paths to values")
    axes = tuple(a for path, val in axes_doc.items() for a in _axes(str(path), val, sample))
    cols = [a.column for a in axes]
    if len(set(cols)) != len(cols):
        raise SpecError("axes", "two axes map to the same results column")
    objectives = doc.get("objectives", list(DEFAULT_OBJECTIVES))
    if not isinstance(objectives, list) or not all(isinstance(o, str) for o in objectives) or not objectives:
        raise SpecError("objectives", "must be a list of output names to minimise")
    evaluator = evaluator_name(doc.get("evaluator", DEFAULT_EVALUATOR))
    chunk = doc.get("chunk_size")
    if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
        raise SpecError("chunk_size", f"must be a positive whole number (got {chunk!r})")
    spec = SweepSpec(name=str(doc.get("name", "sweep")), base=base, axes=axes, fixed=dict(fixed), sample=sample,
                     samples=samples if sample == "random" else 0, seed=seed, objectives=tuple(objectives),
                     evaluator=evaluator, output=doc.get("output"), chunk_size=chunk)
    if spec.size > MAX_POINTS:
        raise SpecError("axes", f"the sweep has {spec.size:,} points; at most {MAX_POINTS:,} per spec")
    return spec


def _base(ref: Any, base_dir: Path | None) -> dict[str, Any]:
    if ref is None:
        return read_scenario_file(None)
    if isinstance(ref, dict):
        return ref
    if not isinstance(ref, str):
        raise SpecError("scenario", f"must be a scenario file, a built-in name or a mapping (got {ref!r})")
    p = Path(ref)
    if base_dir is not None and not p.is_absolute() and (base_dir / p).is_file():
        p = base_dir / p
    return read_scenario_file(p if p.is_file() else ref)


def _axes(key: str, val: Any, sample: str) -> list[Axis]:
    """One axis, or a linked group: a name (no dots) mapping several paths to equally long lists."""
    if "." in key or not isinstance(val, dict) or not val or not all(
            isinstance(k, str) and "." in k for k in val):
        return [_axis(key, val, sample)]
    axes = [_axis(str(p), v, sample, group=key) for p, v in val.items()]
    lens = {len(a.values) for a in axes if a.values is not None}
    if any(a.values is None for a in axes) or len(lens) != 1:
        raise SpecError(f"axes.{key}", "linked axes need value lists of the same length, one per design")
    return axes


_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _yaml_num(x: Any) -> Any:
    """PyYAML (YAML 1.1) reads ``5.0e12`` as a string; take it as the number it is."""
    return float(x) if isinstance(x, str) and _FLOAT.match(x.strip()) else x


def _axis(path: str, val: Any, sample: str, group: str | None = None) -> Axis:
    where = f"axes.{path}"
    col = column_name(path)
    if isinstance(val, list):
        val = {"values": val}
    if isinstance(val, dict):
        val = {k: ([_yaml_num(x) for x in v] if k == "values" and isinstance(v, list) else _yaml_num(v))
               for k, v in val.items()}
    if not isinstance(val, dict):
        raise SpecError(where, f"expected a list of values or a mapping (values | start/stop/step | low/high), got {val!r}")
    keys = set(val)
    if "values" in keys:
        _only(where, keys, {"values"})
        values = val["values"]
        if not isinstance(values, list) or not values:
            raise SpecError(where, "values must be a non-empty list")
        for v in values:
            _check_value(where, path, v)
        return Axis(path, col, values=tuple(values) if group else tuple(_dedupe(values)), group=group)
    if keys & {"start", "stop"}:
        _only(where, keys, {"start", "stop", "step"})
        start, stop, step = val.get("start"), val.get("stop"), val.get("step", 1)
        if not all(_num(x) for x in (start, stop, step)) or step <= 0 or stop < start:
            raise SpecError(where, f"start/stop/step must be numbers with step > 0 and stop >= start (got {val})")
        n = int(math.floor((stop - start) / step + 1e-9)) + 1
        if n > MAX_POINTS:
            raise SpecError(where, f"{n:,} values; at most {MAX_POINTS:,}")
        ints = all(isinstance(x, int) for x in (start, stop, step))
        values = [start + i * step for i in range(n)] if ints else [float(start + i * step) for i in range(n)]
        for v in (values[0], values[-1]):
            _check_value(where, path, v)
        return Axis(path, col, values=tuple(values), group=group)
    if keys & {"low", "high"}:
        _only(where, keys, {"low", "high", "num", "log", "step", "integer"})
        low, high, log = val.get("low"), val.get("high"), bool(val.get("log", False))
        step, integer = val.get("step"), bool(val.get("integer", False))
        if not (_num(low) and _num(high)) or high < low or (log and low <= 0):
            raise SpecError(where, f"low/high must be numbers with high >= low (and low > 0 for log) (got {val})")
        if step is not None and (not _num(step) or step <= 0):
            raise SpecError(where, f"step must be a positive number (got {step!r})")
        integer = integer or (step is not None and float(step).is_integer() and isinstance(low, int))
        for v in (low, high):
            _check_value(where, path, int(v) if integer else v)
        if sample == "grid":
            num = val.get("num")
            if not isinstance(num, int) or isinstance(num, bool) or num < 1:
                raise SpecError(where, "a grid axis with low/high needs num: how many values")
            xs = np.geomspace(low, high, num) if log else np.linspace(low, high, num)
            if step:
                xs = np.round(xs / step) * step
            values = [int(x) for x in np.rint(xs)] if integer else [float(x) for x in xs]
            return Axis(path, col, values=tuple(values) if group else tuple(_dedupe(values)), group=group)
        return Axis(path, col, low=float(low), high=float(high), log=log, step=step, integer=integer, group=group)
    raise SpecError(where, f"expected values, start/stop/step or low/high (got keys {sorted(keys)})")


def _only(where: str, keys: set[str], allowed: set[str]) -> None:
    extra = keys - allowed
    if extra:
        k = sorted(extra)[0]
        raise SpecError(f"{where}.{k}", "unknown axis key", sorted(allowed), closest(k, allowed))


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _dedupe(values: list[Any]) -> list[Any]:
    seen, out = set(), []
    for v in values:
        key = _canon(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out
