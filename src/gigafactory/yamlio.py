"""YAML reading with the number syntax people write: ``13e12`` and ``5.0e9`` are floats.

PyYAML follows YAML 1.1, where a float's exponent needs a sign (``1.0e+9``) and ``1e9`` or
``5.0e9`` load as *strings*. Every YAML the package reads (catalog, scenarios, sweep specs,
``--set`` values) goes through :func:`load` so that such numbers are numbers.

Loading is bounded before any data is built: at most :data:`MAX_BYTES` of text, and at most
:data:`MAX_NODES` nodes once aliases are expanded (a 300-byte "billion laughs" file names ~10^9
nodes through nested aliases; it is refused after composing ~100 distinct nodes). Errors are one
:class:`YamlError` line that quotes at most a short excerpt.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

#: libyaml's parser when PyYAML was built with it (about 10x faster on the catalog), else pure Python
_SafeBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: the largest YAML text read (the packaged catalog's largest file is ~14 kB; a scenario ~2 kB)
MAX_BYTES = 1_000_000
#: the most nodes a document may hold with every alias expanded (the catalog's largest: ~2,000)
MAX_NODES = 200_000
#: deepest nesting of collections (PyYAML composes recursively)
MAX_DEPTH = 64


class YamlError(SpecError):
    """A YAML text that cannot be read: malformed, too big, too deep or an alias bomb."""



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


def expanded_size(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """Nodes in the document with every alias expanded (shared nodes counted at each use).

    Computed over the distinct nodes (memoised, iterative), so a bomb costs what its text costs.
    Raises YamlError for a recursive alias or a document over `limit`.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if depth > MAX_DEPTH:
            raise YamlError("yaml", f"nested deeper than {MAX_DEPTH} levels")
        if done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > limit:
                raise YamlError("yaml", f"expands to over {limit:,} nodes through aliases (an alias bomb?)")
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlError("yaml", "an alias refers to a node that contains it (recursive alias)")
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in _children(node) if id(c) not in size)
    return size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load(text: str | bytes | Any, where: str = "yaml") -> Any:
    """Parse YAML text (or a stream) safely, with YAML 1.2 float syntax, within the size limits."""
    if hasattr(text, "read"):
        text = text.read(MAX_BYTES + 1)
    if len(text) > MAX_BYTES:
        raise YamlError(where, f"is over {MAX_BYTES:,} bytes of YAML")
    if isinstance(text, bytes):
        text = _decode(text, where)
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node)
        return loader.construct_document(node)
    except YamlError as exc:
        raise YamlError(where, exc.problem) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(exc, "problem", None) or "malformed")[:80]
        raise YamlError(where, f"is not valid YAML{at}: {problem}") from None
    except RecursionError:
        raise YamlError(where, "is nested too deeply") from None
    finally:
        loader.dispose()


def load_file(path: str | Path, where: str = "yaml") -> Any:
    """Read and parse a YAML file: size checked before reading it all, bytes that are not UTF-8 refused."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise YamlError(where, f"cannot read {p.name!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise YamlError(where, f"{p.name} is over {MAX_BYTES:,} bytes of YAML")
    try:
        return load(_decode(data, where, p.name), where)
    except YamlError as exc:
        raise YamlError(where, exc.problem if exc.problem.startswith(p.name) else f"{p.name} {exc.problem}") from None


def _decode(data: bytes, where: str, name: str = "the input") -> str:
    if b"\x00" in data:
        raise YamlError(where, f"{name} is a binary file, not YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(where, f"{name} is not UTF-8 text (byte {exc.start:,})") from None
