"""The JSON contract: the typed shapes every command's ``--json`` and the web API return.

One shape per answer, the same from the CLI and the API (``gigafactory simulate --json`` prints a
:class:`SimulateOut`, ``POST /api/simulate`` returns one); errors are an :class:`ErrorOut` from both.
Units are in the field names: ``_s``, ``_days``, ``_mw``, ``_mwh``, ``_usd``, ``_gb``; fractions of
one (``mfu``, ``goodput_p50``) carry no suffix. Power in command output is always in megawatts
(``_mw``): :func:`power_in_mw` converts the engine's watts and kilowatts. Catalog entries
(``catalog list/show --json``) keep the sourced data's own field names (``tdp_w``, ``rack_limit_kw``).

The schema is published in ``docs/json.md`` (regenerate it with ``python scripts/json_schema.py``;
a test keeps the two in step).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    field: str | None = Field(description="the input that is wrong (a scenario path, an option, a request field)")
    message: str = Field(description="one line for a person, naming the field and what is allowed")
    allowed: list[str] | None = Field(default=None, description="the valid values, where there is a finite set")
    suggestion: str | None = Field(default=None, description="the closest valid value ('did you mean ...?')")


class ErrorOut(BaseModel):
    """Every error, from every ``--json`` command (exit status 2) and every API call (status 422)."""

    error: ErrorDetail


class Headline(BaseModel):
    """The twin's headline figures for one scenario (units in the names; fractions of one unitless)."""

    model_config = ConfigDict(extra="allow")
    scenario: str
    gpu: str
    num_gpus: int
    model: str
    tokens: float
    precision: str
    days_to_model_p50: float | None = None
    days_to_model_p90: float | None = None
    training_days_p50: float | None = None
    training_days_p90: float | None = None
    first_training_day_p50: float | None = None
    full_size_day_p50: float | None = None
    failure_free_training_days: float | None = None
    plan: str | None = None
    gpus_used: int | None = None
    step_s: float | None = None
    tokens_per_s: float | None = None
    mfu: float | None = Field(default=None, description="model FLOPs utilisation, a fraction of one")
    model_tflops_per_gpu: float | None = None
    goodput_p50: float | None = Field(default=None, description="useful / wall time, a fraction of one")
    goodput_p10: float | None = None
    interruptions_per_day: float | None = None
    it_mw: float | None = None
    facility_mw: float | None = None
    peak_mw: float | None = None
    avg_mw: float | None = None
    swing_mw: float | None = None
    swing_hz: float | None = None
    site_fits: bool | None = None
    energy_mwh: float | None = None
    capex_usd: float | None = None
    capex_per_gpu_usd: float | None = None
    opex_usd_per_year: float | None = None
    usd_per_gpu_hour: float | None = None
    usd_per_run: float | None = None
    usd_per_run_rented: float | None = None
    usd_per_million_tokens: float | None = None


class SimulateOut(BaseModel):
    """``gigafactory simulate --json`` and ``POST /api/simulate``."""

    scenario: str
    evaluator: str = Field(default="twin", description="what computed the figures")
    headline: Headline
    elapsed_s: float
    report: str | None = Field(default=None, description="the HTML report written (CLI --report), else null")
    buildings: dict[str, Any] | None = Field(default=None, description="the site's building layout (CLI), else null")
    build_per_building: list[dict[str, Any]] = Field(default_factory=list,
                                                     description="bring-up per building (CLI), else empty")


class CompareOut(BaseModel):
    """``gigafactory compare A B ... --json`` and ``POST /api/compare``: one headline per design."""

    designs: list[str] = Field(description="each design's label, in the order given")
    headlines: list[Headline]
    elapsed_s: float


class SweepRowOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    point_id: str
    error: str | None = None


class SweepOut(BaseModel):
    """``POST /api/sweep``: a bounded grid's rows (axis values plus headline figures) and its frontier."""

    rows: list[SweepRowOut]
    pareto: list[str] = Field(description="point_id of each point on the Pareto frontier")
    objectives: list[str] = Field(description="the figures minimised")


#: the shapes published in docs/json.md, in order
SHAPES: tuple[type[BaseModel], ...] = (ErrorOut, SimulateOut, CompareOut, SweepOut)


def simulate_out(res: Any, elapsed_s: float, report: str | None = None, **extra: Any) -> dict[str, Any]:
    """A twin result as the contract's :class:`SimulateOut` (plain JSON data)."""
    return simulate_shape(res.scenario.name, res.headline(), elapsed_s, report, **extra)


def simulate_shape(scenario: str, headline: dict[str, Any], elapsed_s: float,
                   report: str | None = None, **extra: Any) -> dict[str, Any]:
    from .web.api import jsonable

    out = SimulateOut(scenario=scenario, headline=Headline(**jsonable(headline)), elapsed_s=elapsed_s, report=report,
                      **jsonable(extra))
    return out.model_dump(mode="json")


#: engine power units -> (megawatt suffix, factor to MW)
_TO_MW: tuple[tuple[str, str, float], ...] = (
    ("_w_per_s", "_mw_per_s", 1e-6), ("_kw", "_mw", 1e-3), ("_w", "_mw", 1e-6))


def power_in_mw(obj: Any) -> Any:
    """Rename every ``*_w`` / ``*_kw`` field to ``*_mw`` and convert its value (numbers, or a mapping or
    list of numbers) so that power has one unit, the megawatt, throughout a command's JSON. Results
    (dataclasses, numpy) are made plain JSON data first."""
    from .web.api import jsonable

    return _mw(jsonable(obj))


def _mw(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_mw(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for k, v in obj.items():
        for old, new, f in _TO_MW:
            if isinstance(k, str) and k.endswith(old):
                out[k[: -len(old)] + new] = _scale(v, f)
                break
        else:
            out[k] = _mw(v)
    return out


def _scale(v: Any, f: float) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int | float):
        return v * f
    if isinstance(v, dict):
        return {k: _scale(x, f) for k, x in v.items()}
    if isinstance(v, list):
        return [_scale(x, f) for x in v]
    return _mw(v)


def schema_markdown() -> str:
    """docs/json.md: the rules and each shape's JSON Schema."""
    parts = [DOC_HEAD]
    for m in SHAPES:
        doc = (m.__doc__ or "").strip()
        parts += [f"## {m.__name__}", "", doc, "", "```json",
                  json.dumps(m.model_json_schema(), indent=2, sort_keys=True), "```", ""]
    return "\n".join(parts)


DOC_HEAD = """# The JSON contract

Every command's `--json` (or `--format json`) and the web API (`gigafactory serve`) return the same
typed shapes. This page is generated from `src/gigafactory/contract.py`
(`python scripts/json_schema.py > docs/json.md`); a test fails when the two differ.

Rules:

- **Units are in the field names**: `_s` seconds, `_days`, `_h` hours, `_mw` megawatts, `_mwh`
  megawatt-hours, `_usd` dollars, `_usd_per_year`, `_gb` gigabytes, `_hz`, `_per_day`. Fractions of
  one (`mfu`, `goodput_p50`, `*_frac`) have no suffix; `_pct` values are percentages.
- **Power is in megawatts** in every command's output (`peak_mw`, `it_nameplate_mw`, `rack_mw`):
  the engine's watts and kilowatts are converted on the way out. Catalog entries
  (`catalog list/show --json`) keep the sourced data's field names (`tdp_w`, `rack_limit_kw`).
- **Errors** have one shape from the CLI (on stdout under `--json`, exit status 2; the one-line
  message also goes to stderr) and from the API (status 422):
  `{"error": {"field", "message", "allowed", "suggestion"}}`.
- **Bare objects**: the API returns the object a command prints, not wrapped (`POST /api/plan` returns
  what `gigafactory plan --json` prints). Numbers that are not finite are `null`.
- Listing commands (`catalog list`, `query`, `sweep`, `plan`, `validate`, `compare`) take
  `--format table|csv|json`; CSV and JSON carry full-precision raw values.

| command `--json` | API | shape |
|---|---|---|
| `simulate` | `POST /api/simulate` | `SimulateOut` (below) |
| `compare A B ...` | `POST /api/compare` | `CompareOut` (below) |
| `plan` | `POST /api/plan` | the plan search: `best`, `top` (each `step_s`, `breakdown` in s, `memory_gb`, `mfu`), `rejected` |
| `goodput` | `POST /api/goodput` | the Monte Carlo result (days, hours, fractions of one) |
| `power` | `POST /api/power` | budget tree, waveforms and site verdict, all power in MW |
| `claims` | `GET /api/claims` | a list of claims: `id`, `claim`, `source`, `figure`, `verdict`, `assumptions`, `numbers` |
| `sweep` (summary), `query` (rows) | `POST /api/sweep` (`SweepOut`, a bounded grid) | rows of axis values and headline figures |
| any error | any error (422) | `ErrorOut` (below) |

"""
