"""Run a sweep: enumerate points, skip those already stored, evaluate the rest in chunks, store them."""

from __future__ import annotations

import contextlib
import itertools
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from .backends import Chunk, default_workers, make_backend
from .evaluate import Evaluator, check_function, evaluator_label, evaluator_name
from .spec import SweepSpec, load_spec, parse_spec
from .store import ResultStore, axis_type
from .worker import ERROR

#: the largest chunk of points one task evaluates
MAX_CHUNK = 500
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SweepResult:
    name: str
    results: str          # the results directory
    total: int            # distinct points in the spec
    already_done: int     # found in the store when the run began
    evaluated: int        # evaluated by this run
    errors: int           # rows of this run whose scenario the twin rejected
    elapsed_s: float
    backend: str
    workers: int
    interrupted: bool = False
    set_aside: tuple[str, ...] = ()  # damaged chunks moved to RESULTS/damaged/ (their points recomputed)

    @property
    def points_per_s(self) -> float:
        return self.evaluated / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def complete(self) -> bool:
        return self.already_done + self.evaluated >= self.total and not self.interrupted


def run_sweep(
    spec: SweepSpec | str | Path | dict[str, Any],
    out: str | Path | None = None,
    *,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    fresh: bool = False,
    evaluator: str | Evaluator | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run (or resume) a sweep; every point's inputs and outputs end up as one Parquet row in `out`.

    `spec` is a :class:`SweepSpec`, a spec YAML path or a spec mapping. Points already in `out` are
    skipped. Ctrl-C stops scheduling, keeps every finished chunk and returns with
    ``interrupted=True``; re-running resumes.
    """
    if isinstance(spec, dict):
        spec = parse_spec(spec)
    elif not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    if evaluator is not None:
        from dataclasses import replace

        spec = replace(spec, evaluator=evaluator_name(evaluator, "--evaluator") if isinstance(evaluator, str)
                       else check_function(evaluator))
    out_dir = Path(out or spec.output or Path("sweeps") / spec.name)
    store = ResultStore(out_dir)
    columns = {a.path: a.column for a in spec.axes}
    axis_types = {a.column: _axis_type(a) for a in spec.axes}
    be = make_backend(backend, workers, address)
    store.lock()
    try:
        return _run(spec, store, be, columns, axis_types, fresh, chunk_size, progress)
    finally:
        store.unlock()


def _run(spec: SweepSpec, store: ResultStore, be: Any, columns: dict[str, str], axis_types: dict[str, pa.DataType],
         fresh: bool, chunk_size: int | None, progress: Progress | None) -> SweepResult:
    store.open(_manifest(spec, columns), fresh=fresh)
    out_dir = store.root
    nworkers = getattr(be, "workers", None) or default_workers()

    done = store.done_ids()
    todo: list[tuple[str, dict[str, Any]]] = []
    total = 0
    for pid, over in spec.points():
        total += 1
        if pid not in done:
            todo.append((pid, over))
    already = total - len(todo)
    size = chunk_size or spec.chunk_size or max(1, min(MAX_CHUNK, math.ceil(len(todo) / (4 * nworkers))))
    args = (spec.evaluator, spec.base, spec.fixed, columns)

    evaluated = errors = 0
    interrupted = False
    t0 = time.perf_counter()
    if progress:
        progress(already, total)
    stop = threading.Event()
    with _ctrl_c_sets(stop):
        gen = be.run(_chunks(todo, size), args, stop)
        try:
            for rows in gen:
                store.write_chunk(rows, axis_types)
                evaluated += len(rows)
                errors += sum(1 for r in rows if r.get(ERROR))
                if progress:
                    progress(already + evaluated, total)
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the main thread's handler
            interrupted = True
        finally:
            gen.close()  # ends workers and cancels chunks still in flight
    interrupted = interrupted or stop.is_set()
    elapsed = time.perf_counter() - t0
    res = SweepResult(spec.name, str(out_dir), total, already, evaluated, errors, elapsed, be.name, nworkers,
                      interrupted, tuple(store.set_aside))
    if res.complete:
        store.update_manifest(complete=True, points=total)
    return res


@contextlib.contextmanager
def _ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """While a sweep runs, Ctrl-C sets `stop` instead of raising: the backend then stops scheduling
    at its next poll and ends its workers in an orderly way. A KeyboardInterrupt raised at an arbitrary
    point inside the process pool's machinery (a future's lock held, a queue half fed) can leave its
    manager thread blocked, and the interpreter's exit waiting on it for ever. A second Ctrl-C raises
    as usual. Outside the main thread (no signal handlers there) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _chunks(todo: list[tuple[str, dict[str, Any]]], size: int) -> Iterator[Chunk]:
    it = iter(todo)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _axis_type(axis: Any) -> pa.DataType:
    if axis.values is not None:
        return axis_type(list(axis.values))
    return pa.int64() if axis.integer else pa.float64()


def _manifest(spec: SweepSpec, columns: dict[str, str]) -> dict[str, Any]:
    return {
        "name": spec.name,
        "identity": spec.identity(),
        "evaluator": evaluator_label(spec.evaluator),
        "sample": spec.sample,
        "samples": spec.samples,
        "seed": spec.seed,
        "size": spec.size,
        "objectives": list(spec.objectives),
        "columns": columns,
        "fixed": spec.fixed,
        "base": spec.base,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
