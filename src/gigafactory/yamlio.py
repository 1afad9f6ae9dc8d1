"""YAML reading with the number syntax people write: ``13e12`` and ``5.0e9`` are floats.

PyYAML follows YAML 1.1, where a float's exponent needs a sign (``1.0e+9``) and ``1e9`` or
``5.0e9`` load as *strings*. Every YAML the package reads (catalog, scenarios, sweep specs,
``--set`` values) goes through :func:`load` so that such numbers are numbers.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

#: libyaml's parser when PyYAML was built with it (about 10x faster on the catalog), else pure Python
_SafeBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_SafeBase):  # type: ignore[misc, valid-type]
    """SafeLoader that also resolves YAML 1.2 floats (exponent without a sign, no dot)."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load(text: str | bytes | Any) -> Any:
    """Parse YAML text (or a stream) safely, with YAML 1.2 float syntax."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
