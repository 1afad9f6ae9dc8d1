"""Take the README's screenshots with headless Chromium (Playwright): the web workbench after pinning
two designs and exploring a sweep, and the HTML report of the default scenario.

    .venv/bin/python scripts/screenshots.py [OUT_DIR]      (default: docs/img)

Needs Chromium (scripts/install-browser.sh) and the dev extra (playwright, uvicorn).
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from gigafactory.report import from_twin, write_report
from gigafactory.resolve import load_scenario
from gigafactory.twin import simulate
from gigafactory.web.app import create_app

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
WAIT_MS = 120_000


def chromium() -> str:
    for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(p).exists():
            return p
    found = shutil.which("chromium")
    if not found:
        sys.exit("no Chromium: run scripts/install-browser.sh")
    return found


def serve() -> tuple[uvicorn.Server, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    return srv, f"http://127.0.0.1:{port}/"


def page_shot(browser: object, url: str, out: Path) -> None:
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    pg.set_default_timeout(WAIT_MS)
    pg.goto(url)
    pg.wait_for_function("document.querySelectorAll('#plot-days circle.pt').length >= 3")
    pg.click("#pin")
    before = pg.locator("#days_to_model_p50").inner_text()
    pg.fill("#tokens", "6.5e12")
    pg.wait_for_function("prev => document.getElementById('days_to_model_p50').textContent !== prev", arg=before)
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('updated')")
    pg.click("#pin")
    pg.wait_for_function("document.querySelectorAll('#compare-table tbody tr').length > 10")
    pg.fill("#tokens", "1.3e13")
    pg.fill("#values1", "25000, 50000, 75000, 100000, 150000")  # the sizes the page's plot has simulated
    pg.click("#run-sweep")
    pg.wait_for_function("document.querySelectorAll('#pareto-plot circle.pick').length >= 5 || "
                         "!document.getElementById('sweep-status').textContent.startsWith('sweeping')")
    if pg.locator("#pareto-plot circle.pick").count() < 5:
        sys.exit("sweep failed: " + pg.locator("#sweep-status").inner_text())
    pg.locator("#pareto-plot circle.front").first.click()
    pg.wait_for_selector("#open-point")
    # the plots fill in one GPU count at a time: wait for all six sizes (two series each)
    pg.wait_for_function("document.querySelectorAll('#plot-days circle.pt').length >= 12")
    pg.screenshot(path=str(out), full_page=True)
    pg.close()


def report_shot(browser: object, out: Path) -> None:
    tmp = Path(tempfile.mkdtemp()) / "report.html"
    write_report(from_twin(simulate(load_scenario())), tmp)
    pg = browser.new_page(viewport={"width": 1200, "height": 900})
    pg.goto(tmp.as_uri())
    pg.wait_for_timeout(1500)
    pg.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": 0, "width": 1200, "height": 2600})
    pg.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
    out.mkdir(parents=True, exist_ok=True)
    srv, url = serve()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium(), args=ARGS, headless=True)
            page_shot(browser, url, out / "page.png")
            report_shot(browser, out / "report.png")
            browser.close()
    finally:
        srv.should_exit = True
    print(f"wrote {out / 'page.png'} and {out / 'report.png'}")


if __name__ == "__main__":
    main()
