"""Where chunks run: a local process pool (all cores by default) or a Ray cluster.

Both take an iterator of chunks and yield each chunk's rows as it finishes (in any order), with a
bounded number of chunks in flight so that a million-point sweep never sits in memory at once.
The results are identical: the same chunks through the same pure evaluator.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import GigafactoryError, SpecError
from .worker import run_chunk

Chunk = list[tuple[str, dict[str, Any]]]
Rows = list[dict[str, Any]]
#: how often a local pool is rebuilt after a worker dies (killed, out of memory) before giving up
MAX_POOL_RESTARTS = 3
BACKENDS = ("local", "ray")


class SweepAborted(GigafactoryError):
    """The backend cannot go on (workers keep dying); what finished is kept for the re-run."""


#: how often a worker checks that its coordinator is alive where pidfd is not available, s
WATCH_INTERVAL_S = 0.5
#: how often the coordinator looks at its stop flag (Ctrl-C) while chunks run, s
POLL_S = 0.1


def _worker_init(coordinator: int) -> None:
    """Set up a pool worker: it ignores Ctrl-C and dies with the coordinator that started the pool."""
    # Ctrl-C is the coordinator's to handle: it stops scheduling, keeps finished chunks, and ends workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(coordinator)


def watch_parent(pid: int) -> None:
    """Exit this process as soon as process `pid` (the one that asked for it) is gone."""
    threading.Thread(target=_watch, args=(pid,), name="parent-watch", daemon=True).start()


def _watch(coordinator: int) -> None:
    """Exit the worker as soon as the coordinator is gone (killed, OOM): a forkserver worker is not
    the coordinator's child, and would otherwise wait for tasks, holding the forkserver open, for ever."""
    try:
        fd = os.pidfd_open(coordinator)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])  # readable when the process has exited
    else:  # pragma: no cover - no pidfd (old kernels, not Linux)
        while True:
            try:
                os.kill(coordinator, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            time.sleep(WATCH_INTERVAL_S)
    os._exit(1)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class LocalBackend:
    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()

    def _pool(self) -> ProcessPoolExecutor:
        # forkserver: workers fork from a clean, thread-free server (the coordinator runs a progress thread)
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["gigafactory.sweep.worker"])
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),))

    def run(self, chunks: Iterator[Chunk], args: tuple[Any, ...], stop: threading.Event | None = None
            ) -> Iterator[Rows]:
        """Each chunk's rows as it finishes; returns early (chunks in flight cancelled) once `stop` is set."""
        stop = stop or threading.Event()
        pool = self._pool()
        inflight: dict[Future[Rows], Chunk] = {}
        retry: deque[Chunk] = deque()
        restarts = 0
        exhausted = False

        def fill() -> None:
            nonlocal exhausted
            while len(inflight) < 2 * self.workers:
                if retry:
                    c = retry.popleft()
                elif not exhausted:
                    c = next(chunks, None)
                    if c is None:
                        exhausted = True
                        continue
                else:
                    return
                inflight[pool.submit(run_chunk, *args, c)] = c

        try:
            fill()
            while inflight and not stop.is_set():
                done, _ = wait(list(inflight), timeout=POLL_S, return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    chunk = inflight.pop(fut)
                    try:
                        rows = fut.result()
                    except BrokenProcessPool:
                        retry.append(chunk)
                        broken = True
                        continue
                    yield rows
                    if stop.is_set():
                        return
                if broken:
                    restarts += 1
                    if restarts > MAX_POOL_RESTARTS:
                        raise SweepAborted(f"sweep workers died {restarts} times; finished chunks are kept, "
                                           "re-run the same command to resume")
                    retry.extend(inflight.values())
                    inflight.clear()
                    _terminate(pool)
                    pool = self._pool()
                fill()
        finally:
            _terminate(pool)


def _terminate(pool: ProcessPoolExecutor) -> None:
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)


class RayBackend:
    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers = workers
        self.address = address

    def run(self, chunks: Iterator[Chunk], args: tuple[Any, ...], stop: threading.Event | None = None
            ) -> Iterator[Rows]:
        stop = stop or threading.Event()
        try:
            import ray
        except ImportError:
            raise SpecError("--backend", "ray is not installed (pip install 'ray>=2.9'), or use --backend local",
                            list(BACKENDS)) from None
        started = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                kw["address"] = self.address
            elif self.workers:
                kw["num_cpus"] = self.workers
            try:
                ray.init(**kw)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                where = self.address or "a local instance"
                raise SpecError("--address", f"cannot connect to Ray at {where}: {str(exc).splitlines()[0]}") from None
            started = True
        remote = ray.remote(max_retries=3)(run_chunk)
        slots = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        inflight: dict[Any, Chunk] = {}
        try:
            for c in chunks:
                if stop.is_set():
                    return
                inflight[remote.remote(*args, c)] = c
                while len(inflight) >= slots and not stop.is_set():
                    yield from self._collect(ray, inflight)
            while inflight and not stop.is_set():
                yield from self._collect(ray, inflight)
        finally:
            for ref in inflight:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()

    @staticmethod
    def _collect(ray: Any, inflight: dict[Any, Chunk]) -> Iterator[Rows]:
        done, _ = ray.wait(list(inflight), num_returns=1, timeout=POLL_S)
        for ref in done:
            inflight.pop(ref)
            try:
                rows = ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise SweepAborted(f"a Ray task failed after retries ({type(exc).__name__}); finished chunks "
                                   "are kept, re-run the same command to resume") from None
            yield rows


def make_backend(name: str, workers: int | None = None, address: str | None = None) -> LocalBackend | RayBackend:
    if name == "local":
        if address:
            raise SpecError("--address", "only applies to --backend ray")
        return LocalBackend(workers)
    if name == "ray":
        return RayBackend(workers, address)
    from ..errors import closest

    raise SpecError("--backend", f"unknown backend {name!r}", list(BACKENDS), closest(name, BACKENDS))
