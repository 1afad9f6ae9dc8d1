"""`gigafactory serve`: a FastAPI app with a JSON API (OpenAPI at /openapi.json, docs at /docs) and
one offline web page (/) whose scripts are served from the package.

Endpoints for optional layers (plan, goodput, power, claims) are added when those layers are
installed. Bad input gets the CLI's one-line error with status 422; work per request is bounded
(see :mod:`gigafactory.web.api`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar

import anyio
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..contract import ErrorOut, power_in_mw, simulate_shape
from ..errors import GigafactoryError, SpecError, error_json
from . import api, api_compare
from .api import GoodputRequest, PlanRequest, ScenarioRequest, SweepRequest

T = TypeVar("T")
MAX_BODY_BYTES = 64 * 1024
STATIC = resources.files("gigafactory.web").joinpath("static")


ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut, "description": "bad input or over a work limit"}}


def create_app() -> FastAPI:
    app = FastAPI(title="gigafactory", version=__version__,
                  description="A digital twin of AI training supercomputers: simulate, plan, goodput, power, "
                              "claims and small sweeps. Every request names a built-in scenario plus dotted overrides.")
    limiter = anyio.CapacityLimiter(api.CONCURRENT_WORK)

    async def work(fn: Callable[..., T], *args: Any) -> T:
        """Run CPU work in a worker thread: at most CONCURRENT_WORK at once, WORK_TIMEOUT_S each."""
        try:
            with anyio.fail_after(api.WORK_TIMEOUT_S):
                return await anyio.to_thread.run_sync(fn, *args, limiter=limiter, abandon_on_cancel=True)
        except TimeoutError:
            raise SpecError("request", f"ran past the web limit of {api.WORK_TIMEOUT_S:g} s; use the CLI for "
                                       "bigger runs") from None

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[..., Any]) -> Any:
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY_BYTES):
            return JSONResponse(error_json(SpecError("request", f"request body over {MAX_BODY_BYTES:,} bytes")),
                                status_code=413)
        return await call_next(request)

    @app.exception_handler(GigafactoryError)
    async def on_error(_: Request, exc: GigafactoryError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        body = error_json(SpecError(field, str(first.get("msg", "invalid request")).lower()))
        body["detail"] = jsonable_encoder(errs, custom_encoder={Exception: str})
        return JSONResponse(body, status_code=422)

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
        def run() -> dict[str, Any]:
            t0 = time.perf_counter()
            scen = api.resolve(req)
            return simulate_shape(scen.name, api.headline(scen), time.perf_counter() - t0)
        return await work(run)

    @app.post("/api/sweep", tags=["twin"], responses=ERRORS)
    async def sweep(req: SweepRequest) -> dict[str, Any]:
        """A small grid (at most 12 points) around a scenario, with its Pareto frontier."""
        return await work(api.sweep, req)

    @app.post("/api/plan", tags=["layers"], responses=ERRORS)
    async def plan(req: PlanRequest) -> Any:
        """The best parallel plans for the scenario's job on its cluster."""
        def run() -> Any:
            from ..perf.planner import plan as search

            s = api.resolve(req)
            return api.jsonable(search(s.job, s.cluster, top=req.top))
        return await work(run)

    @app.post("/api/goodput", tags=["layers"], responses=ERRORS)
    async def goodput(req: GoodputRequest) -> Any:
        """Monte Carlo goodput under failures and checkpoints for `days` of failure-free compute."""
        def run() -> Any:
            from ..fleet.goodput import goodput as gp

            return api.jsonable(gp(api.resolve(req), days=req.days, optimize=False))
        return await work(run)

    @app.post("/api/power", tags=["layers"], responses=ERRORS)
    async def power(req: ScenarioRequest) -> Any:
        """Power budget, waveform and site verdict."""
        def run() -> Any:
            from ..twin import scenario_power

            return power_in_mw(api.jsonable(scenario_power(api.resolve(req))))
        return await work(run)

    @app.get("/api/claims", tags=["layers"], responses=ERRORS)
    async def claims() -> Any:
        """Public claims about real clusters, each checked against the twin."""
        return await work(api.claims)

    return app


def error_body(exc: GigafactoryError) -> dict[str, Any]:
    """The contract's error shape (gigafactory.contract.ErrorOut), as every `--json` command prints it."""
    return error_json(exc)
