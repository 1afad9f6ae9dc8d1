"""What a read launch becomes (:class:`Launch`), and what both readers share: the catalog match of an
architecture and one-line errors for values the schemas reject."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from .. import catalog
from ..errors import SpecError
from ..perf.params import arch, total_params
from ..resolve import model as catalog_model
from ..specs import Job, Model, Plan

#: tokens the job trains when the launch does not say (they do not change a step)
DEFAULT_TOKENS = 1e12


@dataclass(frozen=True)
class Launch:
    job: Job
    plan: Plan
    gpus: int
    catalog_model: bool  # True: the architecture is a catalog model's
    unmodelled: tuple[str, ...] = ()  # settings read that do not change the step time
    flash: bool = True  # attention through a fused flash kernel
    assumed: tuple[str, ...] = ()  # what the engine assumes where the launch differs or is silent


def match_catalog(m: Model) -> tuple[Model, bool]:
    """The catalog model with the same architecture, else `m` with its parameter count."""
    a = arch(m)
    for mid in catalog.ids("models"):
        c = catalog_model(mid)
        if arch(c) == a and (a.gpt_style is False or c.max_seq == m.max_seq):
            return c, True
    return m.model_copy(update={"params_b": total_params(m) / 1e9}), False


def _validated(field: str, fn, *args):
    """Run a reader; a value the schema rejects becomes one line naming the setting."""
    try:
        return fn(*args)
    except ValidationError as e:
        err = e.errors()[0]
        raise SpecError(field, f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from None
