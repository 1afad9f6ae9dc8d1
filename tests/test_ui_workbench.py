"""The workbench in a real headless Chromium (Playwright): pin two designs and read them side by side;
run a bounded sweep, click a point of its Pareto frontier, read its design and open it.

The server and browser fixtures are those of test_ui_page (the same skips apply: no Playwright or no
Chromium skips the module with the reason). A screenshot of each state is taken; set
GIGAFACTORY_SCREENSHOTS=DIR to keep them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from test_ui_page import TIMEOUT_MS, page, server, wait_days  # noqa: F401 - fixtures

PNG = b"\x89PNG\r\n\x1a\n"


def shot(pg: object, tmp_path: Path, name: str) -> Path:
    keep = os.environ.get("GIGAFACTORY_SCREENSHOTS")
    path = (Path(keep) if keep else tmp_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 20_000  # a real picture, not a blank page
    return path


def cells(pg: object, key: str) -> list[str]:
    return pg.locator(f'#compare-table tr[data-key="{key}"] td').all_inner_texts()


def test_pin_two_designs_and_compare_them_side_by_side(page: object, server: str, tmp_path: Path) -> None:  # noqa: F811
    pg = page
    pg.goto(server + "/")
    wait_days(pg)
    pg.click("#pin")
    assert "pin one more" in pg.locator("#compare-status").inner_text()
    before = pg.locator("#days_to_model_p50").inner_text()
    pg.fill("#tokens", "6.5e12")  # half the tokens: the same cluster, a shorter run
    wait_days(pg, before)
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('updated')", timeout=TIMEOUT_MS)
    pg.click("#pin")
    pg.wait_for_function("document.querySelectorAll('#compare-table tbody tr').length > 10", timeout=TIMEOUT_MS)
    heads = pg.locator("#compare-table thead th").all_inner_texts()
    assert heads[0] == "figure" and heads[-1] == "unit" and len(heads) == 4
    assert heads[1].startswith("#1 colossus-gpt4") and "tokens=6.50T" in heads[2]
    days = cells(pg, "days_to_model_p50")
    assert days[0].startswith("Days from ground-breaking") and days[-1] == "days"
    assert float(days[2]) < float(days[1])  # half the tokens trains sooner
    capex = cells(pg, "capex_usd")
    assert capex[1] == capex[2] and capex[1].startswith("$")  # same cluster, same capital cost
    mfu = cells(pg, "mfu")
    assert mfu[-1] == "%" and 0 < float(mfu[1]) < 100
    assert "2 designs side by side" in pg.locator("#compare-status").inner_text()
    # the plots above are labelled: y-axis titles with units, the right axis too
    pg.wait_for_function("document.querySelectorAll('#plot-power circle.pt').length >= 3", timeout=TIMEOUT_MS)

    def ylabels(plot: str) -> list[str]:
        return pg.evaluate(f"[...document.querySelectorAll('#{plot} svg text')]"
                           ".filter(t => t.getAttribute('class') === 'ylabel').map(t => t.textContent)")

    assert ylabels("plot-power") == ["peak facility power (MW)", "capex ($B)"]
    assert ylabels("plot-days") == ["days from ground-breaking"]
    shot(pg, tmp_path, "ui-compare.png")
    assert pg.locator("#error").inner_text() == ""
    assert pg.outside == []  # type: ignore[attr-defined]


def test_sweep_pareto_explorer_shows_and_opens_a_design(page: object, server: str, tmp_path: Path) -> None:  # noqa: F811
    pg = page
    pg.goto(server + "/")
    wait_days(pg)
    assert pg.locator("#axis1").input_value() == "cluster.num_gpus"
    pg.fill("#values1", "25000, 50000, 100000")
    pg.click("#run-sweep")
    pg.wait_for_function("document.querySelectorAll('#pareto-plot circle.pick').length >= 3", timeout=TIMEOUT_MS)
    status = pg.locator("#sweep-status").inner_text()
    m = re.match(r"3 designs, (\d) on the Pareto frontier", status)
    assert m, status
    n_front = int(m.group(1))
    assert 1 <= n_front <= 3
    assert pg.locator("#pareto-plot circle.front").count() == n_front
    assert pg.locator("#pareto-table tbody tr.front").count() == n_front
    # axes are titled with units
    svg_text = pg.locator("#pareto-plot").inner_text() + " ".join(
        pg.locator("#pareto-plot text").all_text_contents())
    assert "days to model, p50 (days)" in svg_text and "capex ($B)" in svg_text
    # the design with the fewest GPUs costs least: it is on the frontier whatever the engine's numbers
    rows = pg.locator("#pareto-table tbody tr").all()
    by_gpus = {r.locator("td").first.inner_text(): r for r in rows}
    assert set(by_gpus) == {"25,000", "50,000", "100,000"}
    assert "front" in (by_gpus["25,000"].get_attribute("class") or "")
    point = pg.locator("#pareto-plot circle.front", has=pg.locator("title", has_text="GPU count 25,000 GPUs"))
    point.click()
    pg.wait_for_selector("#open-point", timeout=TIMEOUT_MS)
    detail = pg.locator("#point").inner_text()
    assert "on the frontier" in detail and "cluster.num_gpus" in detail and "25,000 GPUs" in detail
    assert "Capital cost (capex)" in detail and "$" in detail
    assert pg.locator("#pareto-table tbody tr.sel").first.locator("td").first.inner_text() == "25,000"
    shot(pg, tmp_path, "ui-pareto.png")
    before = pg.locator("#days_to_model_p50").inner_text()
    pg.click("#open-point")
    wait_days(pg, before)
    assert pg.locator("#num_gpus").input_value() == "25000"
    assert pg.locator("#error").inner_text() == ""
    assert pg.outside == []  # type: ignore[attr-defined]
