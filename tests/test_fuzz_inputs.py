"""Fuzzed inputs: every scenario field with negative, zero, huge, NaN, infinite, wrongly typed and
400-digit values, through `scenario show`, `simulate`, `plan` and the API. Each case is bounded in
time, and the only outcomes allowed are success with finite, physically consistent figures, or one
clear line and exit 2 (422 on the web). Then a bounded loopback load test: requests that run past the
web limit leave no process computing.

In-process calls (the CLI through typer's runner, the API through its test client) keep this to
well under a minute of suite time.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gigafactory.cli.main import app as cli
from gigafactory.errors import GigafactoryError
from gigafactory.resolve import load_scenario, scenario_to_dict
from gigafactory.web import api
from gigafactory.web.app import create_app
from procs import descendants

runner = CliRunner()
FIELDS = sorted(api.OVERRIDE_PATHS)
#: wall-clock bound of one fuzz case (a hang fails the test instead of stalling CI)
CASE_S = 60.0

HOSTILE = st.one_of(
    st.integers(min_value=-(10**6), max_value=0),
    st.integers(min_value=10**12, max_value=10**40),
    st.integers(min_value=10**399, max_value=10**400),  # 400-digit integers
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 2.5e-300, 1e30, 5e16, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@contextmanager
def bounded(seconds: float = CASE_S) -> Iterator[None]:
    """Fail a case that runs past `seconds` (SIGALRM interrupts the main thread)."""

    def expire(*_: Any) -> None:
        raise TimeoutError(f"a fuzz case ran past {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def yaml_token(v: Any) -> str:
    """A value as a --set token would spell it (YAML)."""
    if isinstance(v, float):
        return ".nan" if math.isnan(v) else (".inf" if v > 0 else "-.inf") if math.isinf(v) else repr(v)
    return json.dumps(v)


def finite(obj: Any) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(finite(v) for v in obj)
    return True


def one_line_error(text: str) -> None:
    assert "Traceback" not in text, text[-2000:]
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert lines and all(ln.startswith("error:") for ln in lines), text[-2000:]
    assert len(lines) == 1 and len(lines[0]) <= 700, text[:2000]


# ---------------------------------------------------------------------------- scenario show
@given(path=st.sampled_from(FIELDS), value=HOSTILE)
@settings(max_examples=250, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_scenario_fields_give_a_scenario_or_one_line(path: str, value: Any) -> None:
    with bounded():
        try:
            s = load_scenario(None, {path: value})
        except GigafactoryError as exc:
            one_line_error("\n".join(f"error: {ln}" for ln in str(exc).splitlines()))
            return
    d = scenario_to_dict(s)
    assert finite(d)
    c = s.cluster
    assert 1 <= c.num_gpus and c.gpu.idle_w < c.gpu.tdp_w
    assert c.scale_up.servers_per_rack * (c.scale_up.gpus_per_server * c.gpu.board_power_w
                                          + c.scale_up.server_overhead_w) <= c.scale_up.rack_limit_kw * 1e3 * (1 + 1e-9)


@given(path=st.sampled_from(FIELDS), value=HOSTILE)
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_scenario_show_cli_exits_0_or_2_with_one_line(path: str, value: Any) -> None:
    with bounded():
        r = runner.invoke(cli, ["scenario", "show", "--json", "--set", f"{path}={yaml_token(value)}"])
    assert r.exit_code in (0, 2), r.output[-2000:]
    if r.exit_code == 0:
        assert finite(json.loads(r.stdout))
    else:
        one_line_error(r.stderr)


# ---------------------------------------------------------------------------- simulate
def _scaled(path: str) -> st.SearchStrategy[Any]:
    """Plausible values near the default scenario's (so that some cases run the whole twin)."""
    base = {"cluster.num_gpus": 100_000, "job.tokens": 1.3e13, "job.global_batch": 4096, "policies.seed": 3,
            "cluster.gpu.power_cap_w": 600, "site.pue": 1.3, "job.seq_len": 8192, "policies.trials": 50}
    if path not in base:
        return HOSTILE
    v = base[path]
    return st.sampled_from([v, v // 4 if isinstance(v, int) else v / 4, v * 2])


@given(data=st.data())
@settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_simulate_gives_finite_consistent_figures_or_one_line(data: st.DataObject) -> None:
    from gigafactory.twin import simulate

    plausible = ["cluster.num_gpus", "job.tokens", "job.global_batch", "cluster.gpu.power_cap_w", "site.pue",
                 "policies.trials"]
    path = data.draw(st.sampled_from(plausible) if data.draw(st.booleans()) else st.sampled_from(FIELDS))
    value = data.draw(_scaled(path))
    over = {path: value, "policies.trials": 50} if path != "policies.trials" else {path: value}
    with bounded():
        try:
            h = simulate(load_scenario(None, over), detail=False).headline()
        except GigafactoryError as exc:
            one_line_error("\n".join(f"error: {ln}" for ln in str(exc).splitlines()))
            return
    assert finite(h)
    assert h["days_to_model_p90"] >= h["days_to_model_p50"] > 0
    assert 0 < h["mfu"] <= 1 and 0 < h["goodput_p50"] <= 1
    assert 0 < h["avg_mw"] <= h["peak_mw"] * (1 + 1e-6) and h["energy_mwh"] > 0 and h["capex_usd"] > 0


# ---------------------------------------------------------------------------- plan
GOOD = st.sampled_from([8, 64, 512, 2048, 8192])
PLAN_INT = st.one_of(GOOD, GOOD, GOOD, GOOD, st.integers(-5, 0), st.integers(1, 9000),
                     st.integers(10**9, 10**13), st.integers(10**399, 10**400))


@given(gpus=PLAN_INT, gbs=PLAN_INT, seq=PLAN_INT, top=st.one_of(st.none(), st.none(), PLAN_INT),
       tp=st.one_of(st.none(), st.none(), PLAN_INT), precision=st.sampled_from(["bf16", "bf16", "fp8", "fp4", "FP8", ""]))
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_plan_cli_exits_0_or_2_with_one_line(gpus: int, gbs: int, seq: int, top: int | None, tp: int | None,
                                             precision: str) -> None:
    args = ["plan", "--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", str(gpus), "--gbs", str(gbs),
            "--seq", str(seq), "--precision", precision, "--json"]
    args += ["--top", str(top)] if top is not None else []
    args += ["--tp", str(tp)] if tp is not None else []
    with bounded():
        r = runner.invoke(cli, args)
    assert r.exit_code in (0, 2), r.output[-2000:]
    if r.exit_code == 0:
        res = json.loads(r.stdout)
        assert finite(res)
    else:
        one_line_error(r.stderr)


# ---------------------------------------------------------------------------- API
JSON_TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 400, "-" + "9" * 400, "-1", "0", "true",
               "false", "null", '"x"', '""', "[1]", "{}", "1e-320", "1e30", "5e16", "0.5", "7", "100000"]


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), base_url="http://127.0.0.1")


@given(path=st.sampled_from(FIELDS), token=st.sampled_from(JSON_TOKENS),
       endpoint=st.sampled_from(["/api/simulate", "/api/power", "/api/plan", "/api/goodput"]))
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_gives_finite_figures_or_one_line_422(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                  path: str, token: str, endpoint: str) -> None:
    monkeypatch.setattr(api, "WORK_TIMEOUT_S", 2.0)  # heavier valid cases end as 422 "over the web limit"
    body = '{"overrides": {' + json.dumps(path) + ": " + token + "}}"
    with bounded():
        r = client.post(endpoint, content=body, headers={"content-type": "application/json"})
    assert r.status_code in (200, 422), f"{endpoint} {body[:120]}: {r.status_code} {r.text[:300]}"
    out = r.json()
    if r.status_code == 200:
        assert finite(out)
    else:
        assert "\n" not in out["error"]["message"] and len(out["error"]["message"]) <= 700 and len(r.content) < 8_000


def test_api_refuses_foreign_hosts_chunked_bodies_and_nan() -> None:
    c = TestClient(create_app(), base_url="http://evil.example")
    assert c.get("/api/health").status_code == 400  # DNS rebinding: a foreign Host header
    local = TestClient(create_app(), base_url="http://127.0.0.1")

    def chunks() -> Iterator[bytes]:
        yield b'{"overrides": {"name": "'
        for _ in range(200):
            yield b"x" * 1024
        yield b'"}}'

    r = local.post("/api/simulate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 500  # cut while streaming, nothing echoed
    r = local.post("/api/simulate", content='{"overrides": {"cluster.num_gpus": NaN}}',
                   headers={"content-type": "application/json"})
    assert r.status_code == 422 and "cluster.num_gpus" in r.json()["error"]["message"]
    r = local.post("/api/simulate", json={"overrides": {"cluster.num_gpu": 8}})
    assert r.status_code == 422 and "did you mean 'cluster.num_gpus'" in r.json()["error"]["message"]


# ---------------------------------------------------------------------------- loopback load test


def _cpu_s(pids: set[int]) -> float:
    total = 0.0
    for p in pids:
        try:
            f = (Path("/proc") / str(p) / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / 100.0  # utime + stime in clock ticks (USER_HZ = 100)
        except (OSError, IndexError, ValueError):
            continue
    return total


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_timed_out_requests_leave_no_cpu_spinning(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx
    import uvicorn

    monkeypatch.setattr(api, "WORK_TIMEOUT_S", 0.5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning",
                                        limit_concurrency=64))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    try:
        t0 = time.monotonic()
        while not srv.started:
            assert time.monotonic() - t0 < 30, "uvicorn did not start"
            time.sleep(0.05)
        # 12 heavy requests at once (a 1M-GPU twin takes seconds): 2 run, 10 wait, all past the limit
        body = {"overrides": {"cluster.num_gpus": 1_000_000, "site.grid_mw": 50_000}}
        codes: list[int] = []

        def hit() -> None:
            r = httpx.post(f"http://127.0.0.1:{port}/api/simulate", json=body, timeout=30)
            codes.append(r.status_code)

        started = time.monotonic()
        threads = [threading.Thread(target=hit) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=40)
        assert len(codes) == 12 and set(codes) <= {422, 429}, codes
        assert time.monotonic() - started < 20
        # every worker process is gone, and nothing is left computing
        deadline = time.monotonic() + 5
        busy = 1.0
        while time.monotonic() < deadline:
            procs = descendants(os.getpid())
            before = _cpu_s(procs)
            time.sleep(0.5)
            busy = _cpu_s(procs) - before
            if busy < 0.1:
                break
        assert busy < 0.1, f"{busy:.2f} CPU-s in 0.5 s after the requests ended"
    finally:
        srv.should_exit = True
        th.join(timeout=10)
