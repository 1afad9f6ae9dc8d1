"""`gigafactory serve`: a FastAPI app with a JSON API (OpenAPI at /openapi.json, docs at /docs) and
one offline web page (/) whose scripts are served from the package.

Endpoints for optional layers (plan, goodput, power, claims) are added when those layers are
installed. Bad input gets the CLI's one-line error with status 422. The server keeps its limits:

* work runs in worker processes (:mod:`gigafactory.web.worker`), one killed when its request
  passes ``WORK_TIMEOUT_S``; at most ``CONCURRENT_WORK`` run at once and a slot is freed only when its
  process has exited; at most ``MAX_WAITING`` requests wait for a slot (429 beyond);
* request bodies are counted while they stream in (chunked ones too) and cut at ``MAX_BODY_BYTES``;
* error replies quote at most a short excerpt of the input; NaN, Infinity and huge numbers are 422;
* only requests whose Host header names this server are answered (DNS rebinding).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, TypeVar

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..contract import ErrorOut, power_in_mw
from ..errors import GigafactoryError, SpecError, closest, error_json, excerpt
from . import api, api_compare
from .api import GoodputRequest, PlanRequest, ScenarioRequest, SweepRequest
from .worker import WorkerPool, WorkFailed, WorkRejected, error_body

T = TypeVar("T")
MAX_BODY_BYTES = 64 * 1024
#: requests that may wait for a work slot; more get 429 at once
MAX_WAITING = 16
#: Host names a local server answers to (plus the interface it listens on)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
STATIC = resources.files("gigafactory.web").joinpath("static")


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"request body over {MAX_BODY_BYTES:,} bytes")


class BodyLimit:
    """ASGI middleware: refuse a body over the limit by its Content-Length, or by counting the bytes
    as they arrive (a chunked body has no length); nothing over the limit is ever buffered."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = dict(scope.get("headers") or []).get(b"content-length")
        if size is not None and (not size.isdigit() or len(size) > 12 or int(size) > self.limit):
            await _too_large(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return msg

        async def watched(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await _too_large(send)


async def _too_large(send: Send) -> None:
    await JSONResponse(error_json(SpecError("request", f"body over {MAX_BODY_BYTES:,} bytes")), status_code=413)(
        {"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a JSONResponse does not read the request
    return {"type": "http.disconnect"}



ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut, "description": "bad input or over a work limit"}}


def create_app(allowed_hosts: list[str] | None = None) -> FastAPI:
    """The app. `allowed_hosts`: Host header values it answers (default: this machine's loopback names)."""
    pool = WorkerPool()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.close()  # the workers end with the server

    app = FastAPI(title="gigafactory", version=__version__, lifespan=lifespan,
                  description="A digital twin of AI training supercomputers: simulate, plan, goodput, power, "
                              "claims and small sweeps. Every request names a built-in scenario plus dotted overrides.")
    limiter = anyio.CapacityLimiter(api.CONCURRENT_WORK)
    waiting = 0
    claims_cache: list[Any] = []

    async def work(fn: Callable[..., T], *args: Any) -> T:
        """Run CPU work in a worker process: at most CONCURRENT_WORK at once, killed at WORK_TIMEOUT_S;
        the slot is held until the process has exited."""
        nonlocal waiting
        if waiting >= MAX_WAITING:
            raise HTTPException(429, f"server busy: {waiting} requests already wait for a work slot; retry later")
        waiting += 1
        try:
            with anyio.fail_after(api.WORK_TIMEOUT_S):
                await limiter.acquire()
        except TimeoutError:
            raise _over_time() from None
        finally:
            waiting -= 1
        try:
            return await pool.run(fn, *args, timeout_s=api.WORK_TIMEOUT_S)
        except TimeoutError:
            raise _over_time() from None
        finally:
            limiter.release()

    app.add_middleware(BodyLimit)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts or LOCAL_HOSTS))

    @app.exception_handler(GigafactoryError)
    async def on_error(_: Request, exc: GigafactoryError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=422)

    @app.exception_handler(WorkRejected)
    async def on_rejected(_: Request, exc: WorkRejected) -> JSONResponse:
        return JSONResponse(exc.body, status_code=422)

    @app.exception_handler(WorkFailed)
    async def on_failed(_: Request, exc: WorkFailed) -> JSONResponse:
        return JSONResponse({"error": {"field": None, "message": f"internal error: {str(exc)[:300]}", "allowed": None,
                                       "suggestion": None}}, status_code=500)

    @app.exception_handler(HTTPException)
    async def on_http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": {"field": None, "message": str(exc.detail)[:300], "allowed": None,
                                       "suggestion": None}}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(exc.errors()), status_code=422)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(STATIC.joinpath("index.html")), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(api_compare.router)

    @app.get("/api/health", tags=["meta"])
    async def health() -> dict[str, Any]:
        """Liveness, version, the API endpoints and the work limits."""
        return {"status": "ok", "version": __version__, "twin": True,
                "endpoints": sorted(r.path for r in app.routes if getattr(r, "path", "").startswith("/api/")),
                "limits": {"max_gpus": api.MAX_GPUS, "max_trials": api.MAX_TRIALS,
                           "max_sweep_points": api.MAX_SWEEP_POINTS, "work_timeout_s": api.WORK_TIMEOUT_S}}

    @app.get("/api/catalog", tags=["catalog"])
    async def catalog_ids() -> dict[str, Any]:
        """Built-in scenarios and the catalog's GPUs, models, clusters, sites, platforms and fabrics."""
        return api.catalog_summary()

    @app.get("/api/scenarios/{name}", tags=["catalog"], responses=ERRORS)
    async def scenario(name: str) -> dict[str, Any]:
        """A built-in scenario: its YAML data and the headline inputs the page's form shows."""
        return api.jsonable(api.scenario_form(name))

    @app.post("/api/simulate", tags=["twin"], responses=ERRORS)
    async def simulate(req: ScenarioRequest) -> dict[str, Any]:
        """The twin end to end: days to model, MFU, goodput, power, energy and cost."""
        return await work(api.simulate_work, req)

    @app.post("/api/sweep", tags=["twin"], responses=ERRORS)
    async def sweep(req: SweepRequest) -> dict[str, Any]:
        """A small grid (at most 12 points) around a scenario, with its Pareto frontier."""
        return await work(api.sweep, req)

    @app.post("/api/plan", tags=["layers"], responses=ERRORS)
    async def plan(req: PlanRequest) -> Any:
        """The best parallel plans for the scenario's job on its cluster."""
        return await work(api.plan_work, req)

    @app.post("/api/goodput", tags=["layers"], responses=ERRORS)
    async def goodput(req: GoodputRequest) -> Any:
        """Monte Carlo goodput under failures and checkpoints for `days` of failure-free compute."""
        return await work(api.goodput_work, req)

    @app.post("/api/power", tags=["layers"], responses=ERRORS)
    async def power(req: ScenarioRequest) -> Any:
        """Power budget, waveform and site verdict."""
        return power_in_mw(await work(api.power_work, req))

    @app.get("/api/claims", tags=["layers"], responses=ERRORS)
    async def claims() -> dict[str, Any]:
        """Public claims about real clusters, each checked against the twin (computed once per server)."""
        if not claims_cache:
            claims_cache.append(await work(api.claims))
        return claims_cache[0]

    return app


def _over_time() -> GigafactoryError:
    from ..errors import SpecError

    return SpecError("request", f"ran past the web limit of {api.WORK_TIMEOUT_S:g} s; use the CLI for bigger runs")


def validation_body(errs: list[Any]) -> dict[str, Any]:
    """A 422 body for a request that does not match its model: the first problem as one line, and each
    problem's place and message; never the input itself (it may be huge, or NaN that JSON cannot carry)."""
    first = errs[0] if errs else {"loc": (), "msg": "invalid request", "type": "invalid"}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    field = ".".join(loc)
    msg = str(first.get("msg", "")).lower()
    suggestion = None
    if first.get("type") == "extra_forbidden" and len(loc) >= 2 and loc[0] == "overrides":
        suggestion = closest(".".join(loc[1:]), api.OVERRIDE_PATHS)
        msg = "is not a scenario field a request can set"
    text = f"{excerpt(field, 120)[1:-1] if len(field) > 118 else field}: {msg}" if field else msg
    if suggestion:
        text += f"; did you mean {suggestion!r}?"
    detail = [{"loc": [str(p)[:120] for p in e.get("loc", ())][:8], "msg": str(e.get("msg", ""))[:200],
               "type": str(e.get("type", ""))[:40]} for e in errs[:10]]
    return {"error": {"field": field[:120] or None, "message": text[:600], "allowed": None, "suggestion": suggestion},
            "detail": detail}
