"""Where a web request's work runs: a fresh worker process per request, killed at the time limit.

A thread cannot be stopped, so a request that ran past its limit used to keep computing after its
422 while its concurrency slot was handed to the next request. Here each piece of work runs in a
process forked from a preloaded forkserver (a few milliseconds), and

* the time limit is real: at the deadline the process is sent SIGKILL;
* the concurrency slot is held until the process has exited (joined), never before;
* a client that disconnects cancels the request, which kills its process too;
* the process has an address-space limit, and exits if the server process dies.

The child sends back ``("ok", result)`` or ``("error", body)`` (a user error as its JSON body) over
a pipe; nothing but the request model and the name of a work function crosses.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import anyio
import anyio.to_thread

from ..errors import GigafactoryError, InfeasiblePlan, SpecError, SpecErrors

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
    """The JSON reply for a user error: the CLI's line, the field, the allowed values, a suggestion."""
    if isinstance(exc, SpecError):
        return {"error": exc.line(), "field": exc.field, "allowed": exc.allowed, "suggestion": exc.suggestion}
    if isinstance(exc, SpecErrors):
        return {"error": str(exc).replace("\n", "; ")[:MAX_ERROR_CHARS], "field": exc.errors[0].field}
    if isinstance(exc, InfeasiblePlan):
        return {"error": str(exc)[:MAX_ERROR_CHARS], "field": "plan"}
    return {"error": str(exc)[:MAX_ERROR_CHARS]}


def _context() -> Any:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _child(conn: Connection, server: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Worker process body: bounded memory, dies with the server, reports one outcome."""
    from ..sweep.backends import watch_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(server)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORK_MEMORY_BYTES, WORK_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not POSIX, or a lower hard limit
        pass
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
        conn.send(out)
    except Exception as exc:  # noqa: BLE001 - an unpicklable result is a bug, reported as such
        conn.send(("failed", f"result could not be sent ({type(exc).__name__})"))
    finally:
        conn.close()


async def run_bounded(fn: Callable[..., Any], *args: Any, timeout_s: float) -> Any:
    """Run ``fn(*args)`` in a new worker process; kill it at `timeout_s` (TimeoutError) or on cancel.

    Returns only after the process has exited, so a caller's concurrency slot is never freed early."""
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, os.getpid(), fn, args), daemon=True)
    try:
        await anyio.to_thread.run_sync(proc.start)
        send.close()
        ready = await anyio.to_thread.run_sync(recv.poll, timeout_s)  # a blocked wait, no spinning
        if not ready:
            raise TimeoutError
        try:
            kind, value = await anyio.to_thread.run_sync(recv.recv)
        except EOFError:
            raise WorkFailed(f"the worker process ended without a result (exit {proc.exitcode})") from None
    finally:
        with anyio.CancelScope(shield=True):  # the kill and join must happen even when cancelled
            if proc.pid is not None and proc.is_alive():
                proc.kill()
            if proc.pid is not None:
                await anyio.to_thread.run_sync(proc.join)
            recv.close()
    if kind == "ok":
        return value
    if kind == "error":
        raise WorkRejected(value)
    raise WorkFailed(str(value))
