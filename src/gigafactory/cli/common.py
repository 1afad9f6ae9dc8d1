"""Helpers shared by the CLI commands: consoles, JSON output, error exits."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from .. import yamlio
from ..errors import GigafactoryError, SpecError, error_json, excerpt

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


#: the parameter names through which commands ask for JSON output
JSON_FLAGS = ("json_out", "as_json")


def wants_json(kwargs: dict[str, Any]) -> bool:
    return any(kwargs.get(k) is True for k in JSON_FLAGS) or kwargs.get("fmt") == "json"


def friendly(fn: F) -> F:
    """Turn core errors into one line on stderr and exit status 2 (works under typer's runner); under
    ``--json`` / ``--format json`` the error is also printed on stdout in the JSON contract's shape."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GigafactoryError as exc:
            if wants_json(kwargs):
                print_json(error_json(exc))
            for line in str(exc).splitlines():
                err_console.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_default) + "\n")


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def fmt(x: float, digits: int = 3) -> str:
    """A number for a table, in the one notation of :func:`gigafactory.units.number`."""
    from ..units import number

    return number(x, "", digits)


def writable_path(path: Any, flag: str) -> None:
    """Refuse, before any work, an output file whose folder does not exist or cannot be written."""
    import os
    from pathlib import Path

    if path is None:
        return
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise SpecError(flag, f"{excerpt(str(p))} is a folder; give a file name")
    if not parent.is_dir():
        raise SpecError(flag, f"folder {excerpt(str(parent))} does not exist")
    if not os.access(parent, os.W_OK):
        raise SpecError(flag, f"folder {excerpt(str(parent))} is not writable")


def parse_sets(items: list[str]) -> dict[str, Any]:
    """Parse ``--set path=value`` options (values parsed as YAML scalars: 5e4 is a number)."""
    out: dict[str, Any] = {}
    for it in items:
        if "=" not in it:
            raise SpecError("--set", f"expected path=value, got {excerpt(it)}")
        k, v = it.split("=", 1)
        out[k.strip()] = yamlio.load(v, f"--set {excerpt(k.strip())}")
    return out


def design(scenario: str | None, cluster: str | None, sets: list[str]) -> Any:
    """What `--scenario FILE | --cluster NAME [--set ...]` name: a Scenario (the built-in default when
    neither is given) or a bare Cluster. With --cluster, --set takes cluster fields (``cluster.tiers=2`` or ``tiers=2``)."""
    from ..resolve import apply_overrides, load_scenario
    from ..resolve import cluster as build_cluster

    if scenario and cluster:
        raise SpecError("--cluster", "give either --scenario or --cluster, not both")
    over = parse_sets(sets)
    if not cluster:
        return load_scenario(scenario, over)
    bad = [k for k in over if k.split(".")[0] in ("site", "job", "plan", "policies", "name")]
    if bad:
        raise SpecError("--set", f"{bad[0]!r}: with --cluster only cluster fields can be set; use --scenario")
    sub = {k.removeprefix("cluster."): v for k, v in over.items()}
    return build_cluster(apply_overrides({"use": cluster}, sub) if sub else cluster)
