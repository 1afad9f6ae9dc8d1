"""Where a web request's work runs: worker processes that are killed at the time limit.

A thread cannot be stopped, so a request that ran past its limit used to keep computing after its
422 while its concurrency slot was handed to the next request. Here work runs in a small pool of
worker processes (forked from a preloaded forkserver), and

* the time limit is real: at the deadline the worker is sent SIGKILL and replaced by a fresh one;
* the caller's concurrency slot is held until the work has ended (result sent, or worker joined);
* a client that disconnects cancels the request, which kills its worker too;
* each worker has an address-space limit, and exits as soon as the server process dies;
* a worker that finished in time serves the next request, warm (the planner's memo, catalog caches).

The worker sends back ``("ok", result)`` or ``("error", body)`` (a user error as its JSON body) over
a pipe; nothing but the request model and a reference to a work function crosses.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import anyio
import anyio.to_thread

from ..errors import GigafactoryError, error_json

#: modules the forkserver imports once, so that each worker starts warm
PRELOAD = ["gigafactory.web.api", "gigafactory.twin", "gigafactory.perf.planner", "gigafactory.fleet.goodput",
           "gigafactory.fleet.power", "gigafactory.sweep.backends"]
#: address space of one worker process (the twin at the web's 1M-GPU limit needs well under 2 GB)
WORK_MEMORY_BYTES = 8 * 1024**3
#: longest error text a worker sends back
MAX_ERROR_CHARS = 600


class WorkRejected(Exception):
    """The work ended with a user error: `body` is the JSON reply (status 422)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.body = body


class WorkFailed(Exception):
    """The work process died or raised an unexpected error (a bug): `reason` is one short line."""


def error_body(exc: GigafactoryError) -> dict[str, Any]:
    """The JSON reply for a user error, the contract's shape (``{"error": {"field", "message", "allowed",
    "suggestion"}}``, as every ``--json`` command prints it), its message cut to a short length."""
    body = error_json(exc)
    body["error"]["message"] = str(body["error"]["message"])[:MAX_ERROR_CHARS]
    return body


def _context() -> Any:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _serve(conn: Connection, server: int) -> None:
    """Worker process body: bounded memory, dies with the server, one outcome per task received."""
    from ..sweep.backends import watch_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(server)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORK_MEMORY_BYTES, WORK_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not POSIX, or a lower hard limit
        pass
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(_outcome(fn, args))


def _outcome(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        out: tuple[str, Any] = ("ok", fn(*args))
    except GigafactoryError as exc:
        out = ("error", error_body(exc))
    except MemoryError:
        out = ("error", {"error": f"request: needs more than the web limit of {WORK_MEMORY_BYTES / 1024**3:g} GiB "
                                  "of memory; use the CLI for bigger runs", "field": "request"})
    except Exception as exc:  # noqa: BLE001 - reported as a short line, never a traceback
        out = ("failed", f"{type(exc).__name__}: {str(exc)[:200]}")
    try:
        pickle.dumps(out)
    except Exception as exc:  # noqa: BLE001 - an unpicklable result is a bug, reported as such
        out = ("failed", f"result could not be sent ({type(exc).__name__})")
    return out


class _Worker:
    def __init__(self) -> None:
        ctx = _context()
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_serve, args=(child, os.getpid()), daemon=True)
        self.proc.start()
        child.close()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


class WorkerPool:
    """Worker processes for the app's work; the app's limiter bounds how many run at once."""

    def __init__(self) -> None:
        self._idle: list[_Worker] = []

    async def run(self, fn: Callable[..., Any], *args: Any, timeout_s: float) -> Any:
        """``fn(*args)`` in a worker; killed at `timeout_s` (TimeoutError) or when cancelled. Returns
        only once the work has ended, so a caller's slot is never freed while it computes."""
        worker = self._idle.pop() if self._idle else None
        if worker is not None and not worker.proc.is_alive():
            await anyio.to_thread.run_sync(worker.stop)
            worker = None
        if worker is None:
            worker = await anyio.to_thread.run_sync(_Worker)
        healthy = False
        try:
            await anyio.to_thread.run_sync(worker.conn.send, (fn, args))
            ready = await anyio.to_thread.run_sync(worker.conn.poll, timeout_s)  # a blocked wait, no spinning
            if not ready:
                raise TimeoutError
            try:
                kind, value = await anyio.to_thread.run_sync(worker.conn.recv)
            except (EOFError, OSError):
                raise WorkFailed(f"the worker process ended without a result (exit {worker.proc.exitcode})") from None
            healthy = True
        finally:
            with anyio.CancelScope(shield=True):  # the kill and join must happen even when cancelled
                if healthy:
                    self._idle.append(worker)
                else:
                    await anyio.to_thread.run_sync(worker.stop)
        if kind == "ok":
            return value
        if kind == "error":
            raise WorkRejected(value)
        raise WorkFailed(str(value))

    def close(self) -> None:
        while self._idle:
            self._idle.pop().stop()
