"""`gigafactory compare A B ...`: two or more scenarios side by side, figures in columns."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import typer

from .common import err_console, friendly, parse_sets, print_json
from .format import choose_format, emit_cells, format_option

#: the fields that say what a design is, before its figures (CSV rows)
IDENTITY = ("scenario", "gpu", "num_gpus", "model", "tokens", "precision")


def labels_for(names: list[str], scenario_names: list[str]) -> list[str]:
    """Each design's column label: its scenario name, or what was typed where names repeat."""
    if len(set(scenario_names)) == len(scenario_names):
        return scenario_names
    return [Path(n).stem if Path(n).suffix in (".yaml", ".yml") and len(set(names)) == len(names) else f"{n} #{i}"
            for i, n in enumerate(names, 1)]


def register(app: typer.Typer) -> None:
    @app.command("compare")
    @friendly
    def compare_cmd(
        scenarios: list[str] = typer.Argument(..., help="two or more built-in scenario names or YAML files"),
        set_: list[str] = typer.Option([], "--set", help="override a field in every design: --set policies.trials=100"),
        seed: int = typer.Option(None, "--seed", help="seed for every Monte Carlo (default: each scenario's)"),
        report: Path = typer.Option(None, "--report", help="write a side-by-side HTML report here"),
        fmt: str = format_option(),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output (= --format json)"),
    ) -> None:
        """Put two or more designs side by side: the headline in columns, plots overlaid in --report."""
        from ..contract import CompareOut, Headline
        from ..errors import SpecError
        from ..report import compare_rows, from_twin, write_compare
        from ..resolve import load_scenario
        from ..twin import simulate
        from ..web.api import jsonable

        how = choose_format(fmt, json_out)
        if len(scenarios) < 2:
            raise SpecError("SCENARIOS", f"compare needs two or more scenarios, got {len(scenarios)}")
        t0 = time.perf_counter()
        over = parse_sets(set_)
        results = []
        for name in scenarios:
            if how == "table":
                err_console.print(f"simulating {name} ...", highlight=False)
            results.append(simulate(load_scenario(name, over), seed=seed))
        labels = labels_for(scenarios, [r.scenario.name for r in results])
        heads = [r.headline() for r in results]
        if report is not None:
            datas = [from_twin(r) for r in results]
            datas = [d.__class__(**{**d.__dict__, "label": lab}) for d, lab in zip(datas, labels, strict=True)]
            write_compare(datas, report)
        if how == "json":
            print_json(CompareOut(designs=labels, headlines=[Headline(**jsonable(h)) for h in heads],
                                  elapsed_s=time.perf_counter() - t0).model_dump(mode="json"))
            return
        if how == "csv":
            from ..units import LABELS, unit_of

            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow(["field", "unit", *labels])
            for key in dict.fromkeys([*IDENTITY, *LABELS]):
                if any(h.get(key) is not None for h in heads):
                    w.writerow([key, unit_of(key), *("" if h.get(key) is None else h.get(key) for h in heads)])
            return
        rows = compare_rows(heads)
        emit_cells(["figure", *labels, "unit"], [[lab, *cells, u] for lab, u, cells in rows],
                   [False, *[True] * len(labels), False], "side by side")
        if report is not None:
            err_console.print(f"report written to {report}", highlight=False)
