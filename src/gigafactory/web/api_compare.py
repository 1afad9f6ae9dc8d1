"""The workbench's endpoints: compare pinned designs side by side, and the labels and units every
figure is shown with (the page writes numbers in the notation of :mod:`gigafactory.units`).

``POST /api/compare`` returns the contract's :class:`~gigafactory.contract.CompareOut`, the shape
``gigafactory compare A B --json`` prints. Work is bounded like the rest of the API: at most
:data:`MAX_DESIGNS` designs, each a built-in scenario plus overrides, within the API's time limit.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..contract import CompareOut, ErrorOut, Headline
from ..errors import SpecError
from ..units import LABELS
from . import api

MAX_DESIGNS = 4
Label = Annotated[str, StringConstraints(max_length=60)]

router = APIRouter()
_limiter: anyio.CapacityLimiter | None = None


class Design(api.ScenarioRequest):
    """A pinned design: a built-in scenario, overrides and the label it is shown under."""

    label: Label | None = Field(default=None, description="column label (default: the scenario name)")


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    designs: list[Design] = Field(min_length=2, max_length=MAX_DESIGNS, description="two to four designs")


def compare(req: CompareRequest) -> dict[str, Any]:
    """Each design's headline, in the order given."""
    t0 = time.perf_counter()
    labels, heads = [], []
    for i, d in enumerate(req.designs):
        scen = api.resolve(d)
        labels.append(d.label or f"{scen.name} #{i + 1}")
        heads.append(Headline(**api.headline(scen)))
    if len(set(labels)) != len(labels):
        raise SpecError("designs", "two designs have the same label; give each its own `label`")
    return CompareOut(designs=labels, headlines=heads, elapsed_s=time.perf_counter() - t0).model_dump(mode="json")


async def _bounded(fn: Any, *args: Any) -> Any:
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(api.CONCURRENT_WORK)
    try:
        with anyio.fail_after(api.WORK_TIMEOUT_S * MAX_DESIGNS):
            return await anyio.to_thread.run_sync(fn, *args, limiter=_limiter, abandon_on_cancel=True)
    except TimeoutError:
        raise SpecError("request", f"ran past the web limit of {api.WORK_TIMEOUT_S * MAX_DESIGNS:g} s; "
                                   "use `gigafactory compare`") from None


@router.post("/api/compare", tags=["twin"], responses={422: {"model": ErrorOut, "description": "bad input"}})
async def compare_designs(req: CompareRequest) -> dict[str, Any]:
    """Two to four designs side by side: each one's headline (the shape `gigafactory compare --json` prints)."""
    return await _bounded(compare, req)


@router.get("/api/labels", tags=["meta"])
async def labels() -> dict[str, Any]:
    """The label and unit of each headline figure, in the order a headline is shown."""
    return {"figures": [{"key": k, "label": lab, "unit": unit} for k, (lab, unit) in LABELS.items()]}
