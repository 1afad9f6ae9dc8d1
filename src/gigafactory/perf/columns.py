"""Plans as the column arrays the vectorised engine takes: the columns are :class:`~gigafactory.specs.Plan`'s fields.

Every field of ``Plan`` (its provenance fields aside) is one int64 column under its own name: integers as
they are, booleans as 0/1, a ``Literal`` choice as its index in the literal's values (``recompute``:
0 none, 1 selective, 2 full). Adding a field to ``Plan`` adds a column; nothing here lists them by hand.
"""

from __future__ import annotations

import typing
from functools import cache

import numpy as np

from ..specs import Plan

_PROVENANCE = ("source", "sources", "note")


@cache
def choices(name: str) -> tuple | None:
    """The allowed values of a ``Literal`` field of Plan (its column holds their index), else None."""
    ann = typing.get_type_hints(Plan)[name]
    return typing.get_args(ann) if typing.get_origin(ann) is typing.Literal and name != "zero" else None


PLAN_COLUMNS: tuple[str, ...] = tuple(n for n in Plan.model_fields if n not in _PROVENANCE)


def encode(name: str, value) -> int:
    """One field value as its column entry."""
    opts = choices(name)
    return opts.index(value) if opts is not None else int(value)


def decode(name: str, value: int):
    """A column entry back as the field value."""
    opts = choices(name)
    if opts is not None:
        return opts[int(value)]
    if Plan.model_fields[name].annotation is bool:
        return bool(value)
    return int(value)


def code(name: str, value: str) -> int:
    """The column code of one choice, e.g. ``code("recompute", "full") == 2``."""
    return choices(name).index(value)


def plan_arrays(plans: list[Plan]) -> dict[str, np.ndarray]:
    """Plans as column arrays, one entry per plan."""
    return {n: np.asarray([encode(n, getattr(p, n)) for p in plans], dtype=np.int64) for n in PLAN_COLUMNS}


def default_columns(n: int, **given: np.ndarray) -> dict[str, np.ndarray]:
    """Columns for `n` plans: the arrays `given`, every other field at Plan's default."""
    d = Plan()
    out = {k: np.full(n, encode(k, getattr(d, k)), dtype=np.int64) for k in PLAN_COLUMNS}
    out.update({k: np.asarray(v, dtype=np.int64) for k, v in given.items()})
    return out


def plan_at(V: dict[str, np.ndarray], i: int) -> Plan:
    """The i-th plan of a set of columns."""
    return Plan(**{k: decode(k, V[k][i]) for k in PLAN_COLUMNS if k in V})
