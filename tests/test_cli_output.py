"""CLI output that survives pipes and narrow terminals, and the one JSON contract.

Under typer's runner stdout is not a terminal: every listing command must print plain aligned text
with full ids, CSV that parses and JSON that loads; errors under --json are the contract's shape.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from gigafactory import catalog
from gigafactory.cli.format import ProgressLog, emit_rows, plain_table
from gigafactory.cli.main import app
from gigafactory.units import Column, column_cells, headline_rows, number, unit_of

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
SPEC = {"name": "out", "evaluator": "gigafactory.sweep.evaluate:spec_point",
        "objectives": ["ideal_days", "gpu_capex_usd", "facility_mw"],
        "axes": {"cluster.num_gpus": [16384, 32768, 65536], "cluster.gpu.power_cap_w": [500, 700]}}


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sweep")
    spec = d / "s.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    r = run("sweep", str(spec), "-o", str(d / "r"), "-j", "1")
    assert r.exit_code == 0, r.output
    return d / "r"


def aligned(text: str) -> list[str]:
    """The lines of a plain table; checks the header rule lines up with the header."""
    lines = text.rstrip("\n").splitlines()
    rule = next(i for i, ln in enumerate(lines) if re.fullmatch(r"[- ]+", ln))
    assert len(lines[rule]) >= len(lines[rule - 1].rstrip()) - 12  # rule as wide as the header (last col left)
    return lines


# ---------------------------------------------------------------- piped output of every listing command

@pytest.mark.parametrize("kind", list(catalog.KINDS))
def test_catalog_list_piped_keeps_every_id(kind: str) -> None:
    r = run("catalog", "list", kind)
    assert r.exit_code == 0, r.output
    assert "…" not in r.stdout and "┃" not in r.stdout  # plain text, nothing cut
    lines = aligned(r.stdout)
    ids = [ln.split()[0] for ln in lines[3:]]
    assert ids == list(catalog.ids(kind))


@pytest.mark.parametrize("kind", ["gpus", "sites"])
def test_catalog_list_csv_and_json(kind: str) -> None:
    rows = list(csv.DictReader(io.StringIO(run("catalog", "list", kind, "--format", "csv").stdout)))
    assert [r["id"] for r in rows] == list(catalog.ids(kind))
    data = json.loads(run("catalog", "list", kind, "--format", "json").stdout)
    assert [e["id"] for e in data[kind]] == list(catalog.ids(kind))
    if kind == "gpus":  # raw values in CSV: the H100's 989 bf16 TFLOP/s, unformatted
        h100 = next(r for r in rows if r["id"] == "h100-sxm")
        assert float(h100["peak_tflops.bf16"]) == catalog.entry("gpus", "h100-sxm")["peak_tflops"]["bf16"]


def test_query_pareto_prints_readably(results: Path) -> None:
    r = run("query", "SELECT * FROM pareto", "-r", str(results))
    assert r.exit_code == 0, r.output
    lines = aligned(r.stdout)
    header = lines[1]
    assert "gpu_capex_usd ($B)" in header and "cluster_num_gpus" in header
    for ln in lines[3:]:
        assert "e+" not in ln and "e-0" not in ln  # one notation, no exponents
    # the point ids (16 hex digits) are whole
    assert all(re.match(r"^[0-9a-f]{16}\s", ln) for ln in lines[3:])
    rows = list(csv.DictReader(io.StringIO(run("query", "SELECT * FROM pareto", "-r", str(results),
                                               "--format", "csv").stdout)))
    assert len(rows) == len(lines) - 3
    js = json.loads(run("query", "SELECT * FROM pareto", "-r", str(results), "--format", "json").stdout)
    assert [x["point_id"] for x in js] == [x["point_id"] for x in rows]


def test_sweep_off_a_terminal_logs_progress_and_prints_the_frontier(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    r = run("sweep", str(spec), "-o", str(tmp_path / "r"), "-j", "1")
    assert r.exit_code == 0, r.output
    assert re.search(r"out: 6/6 points \(100\.0%\), [0-9.,]+ points/s, .* elapsed, done", r.stderr)
    assert "Pareto frontier" in r.stdout and "gpu_capex_usd ($B)" in r.stdout
    r = run("sweep", str(spec), "-o", str(tmp_path / "r"), "--format", "csv")
    front = list(csv.DictReader(io.StringIO(r.stdout)))
    assert sorted(int(x["cluster_num_gpus"]) for x in front) == [16384, 32768, 65536]


PLAN = ["plan", "--model", "llama3-8b", "--gpus", "64", "--gpu", "h100-sxm", "--gbs", "64", "--seq", "4096",
        "--top", "3"]


def test_plan_top_list_in_every_format() -> None:
    r = run(*PLAN)
    assert r.exit_code == 0, r.output
    lines = aligned(r.stdout)
    assert "MFU (%)" in lines[1] and "step (s)" in lines[1]
    assert all(re.match(r"^tp\d+ pp\d+", ln) for ln in lines[3:6])
    rows = list(csv.DictReader(io.StringIO(run(*PLAN, "--format", "csv").stdout)))
    assert len(rows) == 3 and 0 < float(rows[0]["mfu"]) < 1 and float(rows[0]["step_s"]) > 0
    assert json.loads(run(*PLAN, "--format", "json").stdout)["top"][0]["step_s"] == pytest.approx(
        float(rows[0]["step_s"]))


def test_validate_tables_piped() -> None:
    data = str(REPO / "tests" / "data" / "external.csv")
    r = run("validate", "--data", data)
    assert r.exit_code == 0, r.output
    assert "error (%)" in r.stdout and "MAPE (%)" in r.stdout and "…" not in r.stdout
    rows = list(csv.DictReader(io.StringIO(run("validate", "--data", data, "--format", "csv").stdout)))
    assert rows and {"id", "measured", "predicted", "error_pct"} <= set(rows[0])


def test_narrow_terminal_never_cuts_an_id() -> None:
    rows = [{"id": "h100-96gb-hbm2e-500w", "name": "NVIDIA H100 96GB HBM2e (Meta Grand Teton, 500 W limit)",
             **{f"col{i}_mw": 1234.5 * i for i in range(1, 9)}}]
    cols = ["id", "name", *(f"col{i}_mw" for i in range(1, 9))]
    for width in (80, 200):
        out = io.StringIO()
        emit_rows(rows, cols, "table", "t", out=Console(file=out, width=width, force_terminal=True, color_system=None))
        text = out.getvalue()
        assert "h100-96gb-hbm2e-500w" in text and "…" not in text
        if width == 80:  # too many columns for 80: one record per block, a field per line
            assert "-- row 1 --" in text and "col8_mw (MW)" in text
        else:
            assert "-- row 1 --" not in text


def test_plain_table_is_aligned_by_hand() -> None:
    text = plain_table(["id", "n (MW)"], [["a", "1.5"], ["bbb", "12.0"]], [False, True], "T")
    assert text == "T\nid   n (MW)\n---  ------\na       1.5\nbbb    12.0\n"


# ---------------------------------------------------------------- one notation

def test_numbers_with_units_by_hand() -> None:
    assert number(6.19e9, "$") == "$6.19B"
    assert number(2.84e8, "$/year") == "$284M/year"
    assert number(8.7, "$") == "$8.70"
    assert number(61_900.0, "$") == "$61.9k"
    assert number(0.259, "%") == "25.9 %"
    assert number(135.24, "MW") == "135 MW"
    assert number(100_000, "GPUs") == "100,000 GPUs"
    assert number(13e12, "tokens") == "13.0T tokens"
    assert number(None) == "–" and number(True) == "yes"
    # one scale per column: 4.11e9 and 3,039,191,476 both in $B
    assert column_cells([4.11e9, 3_039_191_476], "$") == ("$B", ["4.11", "3.04"])
    assert column_cells([3, 16384], "GPUs") == ("GPUs", ["3", "16,384"])
    assert column_cells([0.25, 0.5], "%") == ("%", ["25.0", "50.0"])
    assert unit_of("peak_mw") == "MW" and unit_of("capex_usd") == "$" and unit_of("step_s") == "s"
    assert unit_of("goodput_p50") == "%" and unit_of("cluster.gpu.power_cap_w") == "W"


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e18, max_value=1e18),
       st.sampled_from(["", "$", "MW", "s"]))
def test_no_exponents_ever(x: float, unit: str) -> None:
    text = number(x, unit)
    assert "e+" not in text and "e-" not in text


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e15), min_size=1,
                max_size=8))
def test_a_column_shares_one_scale(xs: list[float]) -> None:
    scale, cells = column_cells(xs, "$")
    assert len(cells) == len(xs) and all("$" not in c and "e+" not in c for c in cells)
    assert scale in ("$", "$k", "$M", "$B", "$T")


def test_headline_rows_carry_labels_and_units() -> None:
    rows = {lab: (v, u) for lab, v, u in headline_rows({"mfu": 0.259, "capex_usd": 6.19e9, "peak_mw": 129.4,
                                                        "site_fits": True, "opex_usd_per_year": 2.84e8})}
    assert rows["Model FLOPs utilisation (MFU)"] == ("25.9", "%")
    assert rows["Capital cost (capex)"] == ("$6.19B", "")
    assert rows["Operating cost (opex)"] == ("$284M", "/year")
    assert rows["Peak facility draw while training"] == ("129", "MW")
    assert rows["Site supply verdict"] == ("fits", "")


def test_progress_log_lines_by_hand() -> None:
    lines: list[str] = []
    now = [100.0]
    log = ProgressLog("s", every_s=10.0, clock=lambda: now[0], write=lines.append)
    log(20, 120)  # 20 already stored: not counted in the rate
    for t, done in ((105.0, 40), (112.0, 60), (115.0, 70), (130.0, 120)):
        now[0] = t
        log(done, 120)
    assert lines[0] == "s: 120 points, 20 already stored"
    # at t=112: 40 new points in 12 s = 3.3/s; 60 left -> 18 s
    assert lines[1] == "s: 60/120 points (50.0%), 3.3 points/s, 12 s elapsed, ETA 18 s"
    assert lines[2] == "s: 120/120 points (100.0%), 3.3 points/s, 30 s elapsed, done"
    assert len(lines) == 3  # t=105 and t=115 were within 10 s of the previous line


# ---------------------------------------------------------------- the JSON contract

def test_json_errors_have_the_contract_shape() -> None:
    r = run("plan", "--model", "llama3-7b", "--gpus", "64", "--gpu", "h100-sxm", "--gbs", "64", "--seq", "4096",
            "--json")
    assert r.exit_code == 2
    err = json.loads(r.stdout)["error"]
    assert set(err) == {"field", "message", "allowed", "suggestion"}
    assert err["field"] == "model" and "llama3-7b" in err["message"]
    assert err["suggestion"].startswith("llama3") and err["suggestion"] in err["allowed"]
    assert "llama3-7b" in r.stderr  # the one line for a person too
    r = run("catalog", "list", "gpu5", "--format", "json")
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["suggestion"] == "gpus"
    r = run("catalog", "list", "gpus", "--format", "xml")
    assert r.exit_code == 2 and "table, csv, json" in r.stderr
    r = run("simulate", "--json", "--set", "job.model=gpt5")
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["field"]


def test_api_errors_have_the_same_shape() -> None:
    from fastapi.testclient import TestClient

    from gigafactory.web.app import create_app

    c = TestClient(create_app(), base_url="http://127.0.0.1")
    r = c.post("/api/simulate", json={"overrides": {"cluster.gpu": "H100"}})
    assert r.status_code == 422
    err = r.json()["error"]
    assert set(err) == {"field", "message", "allowed", "suggestion"}
    assert err["suggestion"] == "h100-sxm" and "h100-sxm" in err["allowed"]
    r = c.post("/api/compare", json={"designs": [{}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "designs"


def test_power_and_network_json_are_in_megawatts() -> None:
    for cmd in (["power", "--json"], ["network", "--json"]):
        r = run(*cmd)
        assert r.exit_code == 0, r.output
        keys = re.findall(r'"([a-z0-9_]+)":', r.stdout)
        assert not [k for k in keys if k.endswith(("_w", "_kw", "_w_per_s"))], cmd
    d = json.loads(run("power", "--json").stdout)
    assert d["budget"]["it_nameplate_mw"] > 10  # ~143 MW for 100k H100 (a watts value would be ~1.4e8)
    assert d["step_it"]["peak_mw"] <= d["budget"]["it_nameplate_mw"]


def test_help_shows_no_bool_after_flags() -> None:
    for cmd in (["plan", "--help"], ["sweep", "--help"], ["catalog", "list", "--help"]):
        r = run(*cmd)
        assert r.exit_code == 0 and "--json" in r.stdout and "<bool>" not in r.stdout, cmd


def test_json_schema_is_published_in_the_docs() -> None:
    from gigafactory.contract import schema_markdown

    assert (REPO / "docs" / "json.md").read_text(encoding="utf-8") == schema_markdown(), \
        "docs/json.md is stale: python scripts/json_schema.py > docs/json.md"


def test_listing_columns_have_units_in_headers() -> None:
    heads = [Column("capex_usd"), Column("peak_mw"), Column("step_s", "step")]
    from gigafactory.units import format_rows

    h, body = format_rows([{"capex_usd": 6.19e9, "peak_mw": 129.4, "step_s": 5.335}], heads)
    assert h == ["capex_usd ($B)", "peak_mw (MW)", "step (s)"] and body == [["6.19", "129", "5.33"]]


def test_usage_errors_under_json_have_the_contract_shape(capsys: pytest.CaptureFixture[str]) -> None:
    from gigafactory.cli.main import main

    with pytest.raises(SystemExit) as ex:
        main(["plan", "--model", "llama3-8b", "--gpus", "many", "--gpu", "h100-sxm", "--gbs", "64", "--seq", "4096",
              "--json"])
    assert ex.value.code == 2
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["field"] == "--gpus" and "integer" in err["message"]
    with pytest.raises(SystemExit) as ex:
        main(["catalog", "list", "gpu5", "--format", "json"])
    assert ex.value.code == 2 and json.loads(capsys.readouterr().out)["error"]["suggestion"] == "gpus"


@pytest.mark.parametrize("cmd", [["cost"], ["build"], ["network"], ["catalog", "show", "h100-96gb-hbm2e-500w"]])
def test_other_tables_piped_are_plain_and_uncut(cmd: list[str]) -> None:
    r = run(*cmd)
    assert r.exit_code == 0, r.output
    assert "…" not in r.stdout and "┃" not in r.stdout and "│" not in r.stdout


def test_plan_offload_layers_is_a_plan_choice_with_clear_errors() -> None:
    args = ["plan", "--model", "llama3-70b", "--gpu", "gb200", "--gpus", "64", "--gbs", "128", "--seq", "8192"]
    r = runner.invoke(app, [*args, "--precision", "fp8", "--offload-layers", "20", "--top", "1"])
    assert r.exit_code == 0, r.output
    assert "offload20" in r.output and " pp1 " in r.output
    assert float(re.search(r"offload (\d+\.\d+)", r.output).group(1)) > 0  # the exposed copies, a named term
    bad = runner.invoke(app, [*args, "--offload-layers", "80"])
    assert bad.exit_code == 2 and "--offload-layers" in bad.output and "0 to 79" in bad.output
    clash = runner.invoke(app, [*args, "--offload-layers", "20", "--pp", "2"])
    assert clash.exit_code == 2 and "--offload-layers" in clash.output and "--pp 2" in clash.output
    assert len(clash.output.strip().splitlines()) == 1
