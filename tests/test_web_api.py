"""The JSON API: headline numbers, the CLI's one-line errors as 422, work bounds, and a fuzz run of
every operation in its OpenAPI spec (schemathesis) that must never produce a 5xx."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from gigafactory.web import api
from gigafactory.web.app import create_app

APP = create_app()
client = TestClient(APP, base_url="http://127.0.0.1")


def days_key(res: dict) -> str:
    return "days_to_model_p50" if res["evaluator"] == "twin" else "ideal_days"


def test_health_catalog_and_openapi() -> None:
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and "/api/simulate" in h["endpoints"]
    cat = client.get("/api/catalog").json()
    assert "colossus-gpt4" in cat["scenarios"] and any(g["id"] == "h100-sxm" for g in cat["gpus"])
    assert any("gb200" in s["gpus"] for s in cat["scaleups"])
    spec = client.get("/openapi.json").json()
    assert {"/api/simulate", "/api/sweep", "/api/catalog"} <= set(spec["paths"])
    form = client.get("/api/scenarios/colossus-gpt4").json()["form"]
    assert (form["gpu"], form["num_gpus"], form["model"]) == ("h100-sxm", 100000, "gpt4-moe-1.8t")


def test_page_and_its_scripts_are_served_locally() -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    for src in ("/static/app.js", "/static/plot.js", "/static/style.css"):
        r = client.get(src)
        assert r.status_code == 200 and "https://" not in r.text


def test_simulate_more_gpus_is_faster() -> None:
    a = client.post("/api/simulate", json={"overrides": {"cluster.num_gpus": 32768}}).json()
    b = client.post("/api/simulate", json={"overrides": {"cluster.num_gpus": 65536}}).json()
    # the twin: training time on the full cluster (days to model also count a longer build for more racks)
    k = "failure_free_training_days" if "failure_free_training_days" in a["headline"] else days_key(a)
    assert a["headline"][k] > b["headline"][k] > 0
    if a["evaluator"] == "spec":  # ideal days at peak scale exactly with 1/GPUs
        assert a["headline"][k] == pytest.approx(2 * b["headline"][k])


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"overrides": {"cluster.gpu": "H100"}}, 422, "did you mean 'h100-sxm'"),
        ({"scenario": "/etc/passwd"}, 422, "unknown built-in scenario"),
        ({"scenario": "../../pyproject"}, 422, "unknown built-in scenario"),
        ({"overrides": {"cluster.num_gpus": -8}}, 422, "cluster.num_gpus"),
        ({"overrides": {"cluster.num_gpu": 8}}, 422, "num_gpus"),
        ({"overrides": {"__import__": 1}}, 422, "not a scenario field"),
        ({"overrides": {"cluster.num_gpus": 2_000_000, "site.grid_mw": 5e4}}, 422, "web limit"),
        ({"overrides": {"policies.trials": 100_000}}, 422, "web limit"),
        ({"evaluator": "os:system"}, 422, "evaluator"),
    ],
)
def test_bad_input_gets_the_cli_error_as_422(body: dict, status: int, words: str) -> None:
    r = client.post("/api/simulate", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]


def test_sweep_is_bounded_and_returns_a_frontier() -> None:
    r = client.post("/api/sweep", json={"axes": {"cluster.num_gpus": [16384, 32768]}})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [x["cluster.num_gpus"] for x in rows] == [16384, 32768] and all(x["error"] is None for x in rows)
    big = {"cluster.num_gpus": [8192 * i for i in range(1, 5)], "cluster.gpu.power_cap_w": [400, 500, 600, 700]}
    r = client.post("/api/sweep", json={"axes": big})
    assert r.status_code == 422 and "web limit" in r.json()["error"]["message"]


def test_body_size_and_time_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    r = client.post("/api/simulate", content=b"{" + b" " * 100_000 + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413

    monkeypatch.setattr(api, "WORK_TIMEOUT_S", 0.05)  # the twin takes longer than this: its process is killed
    t0 = time.perf_counter()
    r = client.post("/api/simulate", json={})
    assert r.status_code == 422 and "web limit" in r.json()["error"]["message"]
    assert time.perf_counter() - t0 < 5


schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install -e '.[dev]')")
# schemathesis' in-process client sends "Host: testserver": this instance trusts that name (and only it)
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", create_app(allowed_hosts=["testserver"]))
# the generative phase only, max_examples cases per operation (the coverage phase enumerates every
# boundary of every one of the ~130 override fields: thousands of cases, too many for CI)
SCHEMA.config.phases.update(phases=["examples", "fuzzing"])


#: per-case work limit while fuzzing: heavier valid cases end as 422 "over the web limit" (an allowed outcome)
FUZZ_WORK_S = 1.5


@SCHEMA.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
def test_fuzz_no_server_errors(case, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001 - schemathesis' Case
    monkeypatch.setattr(api, "WORK_TIMEOUT_S", FUZZ_WORK_S)
    t0 = time.perf_counter()
    response = case.call(timeout=FUZZ_WORK_S + 15)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    assert time.perf_counter() - t0 < 2 * FUZZ_WORK_S + 10
    if response.status_code == 422:
        assert "\n" not in response.json()["error"]["message"]
