"""Evaluators: picklable top-level functions ``evaluate(raw_scenario: dict) -> dict`` of flat outputs.

A sweep names its evaluator as ``"module:function"`` so that local worker processes and Ray
workers import it themselves; nothing but that reference crosses the wire.

* :func:`twin_point` (the default): the whole twin, ``gigafactory.twin.simulate(...).headline()``.
* :func:`spec_point`: the scenario resolved and its first-order figures, no performance model:
  peak compute, ideal days at 100% of peak (6·N·D training FLOPs, Kaplan et al. 2020,
  arXiv:2001.08361), nameplate IT and facility power (the power budget the twin uses,
  :func:`gigafactory.fleet.power.budget`), GPU capex. Fast; used to test the sweep machinery itself.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from functools import cache
from typing import Any

from ..errors import SpecError
from ..resolve import scenario_from_dict

Evaluator = Callable[[dict[str, Any]], dict[str, Any]]
SECONDS_PER_DAY = 86_400.0
#: training FLOPs per parameter per token, forward + backward (Kaplan et al. 2020, arXiv:2001.08361)
FLOPS_PER_PARAM_TOKEN = 6.0


def twin_point(raw: dict[str, Any]) -> dict[str, Any]:
    """The twin's headline numbers for one raw scenario."""
    from ..twin import simulate

    return dict(simulate(scenario_from_dict(raw), detail=False).headline())


def spec_point(raw: dict[str, Any]) -> dict[str, Any]:
    """First-order figures straight from the resolved scenario (no performance model)."""
    s = scenario_from_dict(raw)
    c, j = s.cluster, s.job
    peak_tflops = c.gpu.peak(j.precision)
    params = (j.model.active_params_b or j.model.params_b) * 1e9
    cluster_flops = c.num_gpus * peak_tflops * 1e12
    from ..fleet.power import budget

    b = budget(c, site_pue=s.site.pue)
    return {
        "gpu": c.gpu.id,
        "num_gpus": float(c.num_gpus),
        "model": j.model.id,
        "tokens": float(j.tokens),
        "peak_eflops": cluster_flops / 1e18,
        "ideal_days": FLOPS_PER_PARAM_TOKEN * params * j.tokens / cluster_flops / SECONDS_PER_DAY,
        "it_mw": b.it_mw,
        "facility_mw": b.facility_mw,
        "gpu_capex_usd": c.num_gpus * c.gpu.price_usd,
    }


def evaluator_ref(fn: str | Evaluator) -> str:
    """``"module:function"`` for an evaluator given as a reference or a top-level function."""
    if isinstance(fn, str):
        return fn
    mod, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not mod or "<" in name or "." in name:
        raise SpecError("evaluator", f"{fn!r} is not a top-level function that workers can import")
    return f"{mod}:{name}"


@cache
def load_evaluator(ref: str) -> Evaluator:
    """Import an evaluator from ``"module:function"``."""
    mod, _, attr = ref.partition(":")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise SpecError("evaluator", f"cannot import {ref!r} ({exc})",
                        ["gigafactory.sweep.evaluate:twin_point", "gigafactory.sweep.evaluate:spec_point"]) from None
    if not callable(fn):
        raise SpecError("evaluator", f"{ref!r} is not callable")
    return fn


def twin_available() -> bool:
    return importlib.util.find_spec("gigafactory.twin") is not None
