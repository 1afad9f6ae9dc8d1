"""The web page in a real headless Chromium (Playwright): load it, change the GPU count, see the days
change; a bad count shows the CLI's one-line error; nothing is fetched from outside the server."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
uvicorn = pytest.importorskip("uvicorn")

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()),
                shutil.which("chromium"))
if CHROMIUM is None:
    pytest.skip("no Chromium found (/usr/bin/chromium): run scripts/install-browser.sh, which does "
                "`apt-get install -y chromium`, to run the UI tests", allow_module_level=True)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    from gigafactory.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    t0 = time.monotonic()
    while not srv.started:
        assert time.monotonic() - t0 < 30, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.set_default_timeout(TIMEOUT_MS)
        outside: list[str] = []

        def only_loopback(route: object) -> None:
            url = route.request.url
            if url.startswith(server) or url.startswith("data:"):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        pg.route("**/*", only_loopback)
        pg.outside = outside  # type: ignore[attr-defined]
        yield pg
        browser.close()


def days(pg: object) -> float:
    return float(pg.locator("#days_to_model_p50").inner_text().replace(",", ""))


def wait_days(pg: object, not_equal: str | None = None) -> None:
    pg.wait_for_function(
        """prev => { const t = document.getElementById('days_to_model_p50').textContent;
                     return /^[0-9.,]+$/.test(t) && t !== prev; }""", arg=not_equal, timeout=TIMEOUT_MS)


def test_load_change_gpu_count_and_see_days_change(page: object, server: str, tmp_path: Path) -> None:
    pg = page
    pg.goto(server + "/")
    wait_days(pg)
    assert pg.locator("#num_gpus").input_value() == "100000"
    full = days(pg)
    assert full > 0
    before = pg.locator("#days_to_model_p50").inner_text()
    pg.fill("#num_gpus", "25000")
    wait_days(pg, before)
    quarter = days(pg)
    # a quarter of the GPUs: built sooner but trained more slowly; the headline moves either way
    assert quarter != full
    pg.wait_for_function("document.querySelectorAll('#plot-days circle.pt').length >= 3", timeout=TIMEOUT_MS)
    pg.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert pg.locator("#error").inner_text() == ""
    assert pg.outside == []  # type: ignore[attr-defined]  # the page works offline


def test_bad_gpu_count_shows_the_one_line_error(page: object, server: str) -> None:
    pg = page
    pg.goto(server + "/")
    wait_days(pg)
    pg.fill("#num_gpus", "50001")
    pg.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=TIMEOUT_MS)
    err = pg.locator("#error").inner_text()
    assert "cluster" in err and "50001" in err and "whole number" in err
