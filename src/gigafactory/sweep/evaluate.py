"""Evaluators: picklable top-level functions ``evaluate(raw_scenario: dict) -> dict`` of flat outputs.

A sweep spec names its evaluator from a **registry of named evaluators**, never by an import
string: a spec file is data and must not be able to run code. The registry holds

* ``twin`` (the default, :func:`twin_point`): the whole twin, ``gigafactory.twin.simulate(...).headline()``;
* ``scaling`` (:mod:`gigafactory.sweep.scaling`): the twin's headline plus the scale study's columns;
* ``spec`` (:func:`spec_point`): the scenario resolved and its first-order figures, no performance
  model: peak compute, ideal days at 100% of peak (6·N·D training FLOPs, Kaplan et al. 2020,
  arXiv:2001.08361), nameplate IT and facility power (the power budget the twin uses,
  :func:`gigafactory.fleet.power.budget`), GPU capex. Fast; used to test the sweep machinery;
* plug-ins: the ``gigafactory.evaluators`` entry points of packages the user installed on purpose
  (``[project.entry-points."gigafactory.evaluators"] mine = "mypkg.evals:point"``).

Python code may also pass a top-level function to ``run_sweep(evaluator=fn)``: it is already
running in-process, and workers receive the function by reference (pickle), as it was given.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..errors import SpecError, closest, excerpt
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


#: the entry-point group plug-in evaluators register under
ENTRY_POINT_GROUP = "gigafactory.evaluators"
def scaling_point(raw: dict[str, Any]) -> dict[str, Any]:
    """The scale study's evaluator (:mod:`gigafactory.sweep.scaling`)."""
    from .scaling import scaling_point as point

    return point(raw)


BUILTIN: dict[str, Evaluator] = {"twin": twin_point, "spec": spec_point, "scaling": scaling_point}
#: the import strings older spec files named the built-ins by (read as the names, never imported)
LEGACY_NAMES = {"gigafactory.sweep.evaluate:twin_point": "twin", "gigafactory.sweep.evaluate:spec_point": "spec",
                "gigafactory.sweep.scaling:scaling_point": "scaling"}


def plugins() -> dict[str, EntryPoint]:
    """Installed plug-in evaluators by name (listing them imports nothing)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN}


def evaluator_names() -> list[str]:
    return sorted({*BUILTIN, *plugins()})


def evaluator_name(name: Any, field: str = "evaluator") -> str:
    """The registered name a spec's ``evaluator:`` value stands for, or a SpecError listing the names."""
    if not isinstance(name, str):
        raise SpecError(field, f"must be the name of a registered evaluator (got {excerpt(name)})", evaluator_names())
    name = LEGACY_NAMES.get(name, name)
    if name in BUILTIN or name in plugins():
        return name
    names = evaluator_names()
    hint = "; evaluators are named, not imported: install a plug-in that registers one" if ":" in name else ""
    raise SpecError(field, f"unknown evaluator {excerpt(name)}{hint}", names, closest(name, names))


def evaluator_label(fn: str | Evaluator) -> str:
    """What the manifest records: the registered name, or ``module:function`` of a function passed in code."""
    if isinstance(fn, str):
        return fn
    mod, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    return f"{mod}:{name}"


def check_function(fn: Evaluator) -> Evaluator:
    """A function passed in code must be top-level, so that worker processes can unpickle it."""
    mod, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not callable(fn) or not mod or "<" in name or "." in name:
        raise SpecError("evaluator", f"{excerpt(fn)} is not a top-level function that workers can import")
    return fn


def load_evaluator(ref: str | Evaluator) -> Evaluator:
    """The evaluator a registered name stands for (a function passed in code is returned as is)."""
    if not isinstance(ref, str):
        return check_function(ref)
    return _load(evaluator_name(ref))


@cache
def _load(name: str) -> Evaluator:
    if name in BUILTIN:
        return BUILTIN[name]
    try:
        fn = plugins()[name].load()
    except Exception as exc:  # noqa: BLE001 - a broken plug-in is the user's one-line problem
        raise SpecError("evaluator", f"plug-in {name!r} failed to load ({type(exc).__name__})") from None
    if not callable(fn):
        raise SpecError("evaluator", f"plug-in {name!r} is not callable")
    return fn


def twin_available() -> bool:
    return importlib.util.find_spec("gigafactory.twin") is not None
