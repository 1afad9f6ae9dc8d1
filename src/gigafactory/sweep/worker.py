"""The unit of work a backend runs: one chunk of points through an evaluator, one row per point.

A point that the twin rejects (a bad or infeasible scenario) is a result, not a crash: its row
carries the one-line error and no outputs, so the sweep records it once and never retries it.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import GigafactoryError
from ..resolve import set_dotted
from .evaluate import load_evaluator

ERROR = "error"
POINT_ID = "point_id"
ELAPSED = "eval_ms"


def point_raw(base: dict[str, Any], fixed: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Base scenario + fixed overrides + axis values, shallower paths first (so that
    ``cluster.gpu=b200`` does not wipe ``cluster.gpu.power_cap_w=600``)."""
    merged = {**fixed, **overrides}
    raw = base
    for path in sorted(merged, key=lambda p: p.count(".")):
        raw = set_dotted(raw, path, merged[path])
    return raw


def run_chunk(evaluator: Any, base: dict[str, Any], fixed: dict[str, Any], columns: dict[str, str],
              chunk: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Evaluate points; ``columns`` maps axis path -> results column."""
    fn = load_evaluator(evaluator)
    rows = []
    for pid, over in chunk:
        row: dict[str, Any] = {POINT_ID: pid}
        for path, col in columns.items():
            row[col] = over[path]
        t0 = time.perf_counter()
        try:
            out = fn(point_raw(base, fixed, over))
            err = None
        except GigafactoryError as exc:
            out, err = {}, str(exc).replace("\n", "; ")
        except Exception as exc:  # noqa: BLE001 - a model bug at one point must not lose the sweep
            out, err = {}, f"{type(exc).__name__}: {exc}"
        row[ELAPSED] = (time.perf_counter() - t0) * 1e3
        row[ERROR] = err
        for k, v in out.items():
            if k in row:
                k = f"out_{k}"
            row[k] = v
        rows.append(row)
    return rows
