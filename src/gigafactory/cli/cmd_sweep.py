"""`gigafactory sweep SPEC.yaml` and `gigafactory query "SELECT ..."`."""

from __future__ import annotations

from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .common import console, err_console, friendly, print_json, writable_path
from .format import ProgressLog, choose_format, emit_rows, format_option

FRONTIER_SHOWN = 15
PROGRESS_EVERY_S = 10.0  # off a terminal: one progress line this often


class RateColumn(ProgressColumn):
    """Points per second, averaged over the run."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} pts/s" if speed else "- pts/s", style="cyan")


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    @friendly
    def sweep_cmd(
        spec: str = typer.Argument(..., help="sweep spec YAML: axes over scenario fields (see docs/sweep-web.md)"),
        out: str = typer.Option(None, "--out", "-o", help="results directory (default: the spec's output, else sweeps/NAME)"),
        backend: str = typer.Option("local", "--backend", help="local (a process pool) | ray"),
        address: str = typer.Option(None, "--address", help="Ray cluster address HOST:PORT (default: a local Ray)"),
        workers: int = typer.Option(None, "--workers", "-j", min=1, help="local processes (default: all cores)"),
        chunk_size: int = typer.Option(None, "--chunk-size", min=1, help="points per task and per Parquet chunk"),
        fresh: bool = typer.Option(False, "--fresh", help="discard results already in the directory"),
        evaluator: str = typer.Option(None, "--evaluator", help="registered evaluator: twin (default), spec, or an installed plug-in's name"),
        samples: int = typer.Option(None, "--samples", min=1, help="override the spec's random sample size"),
        report: str = typer.Option(None, "--report", help="HTML report path (default: RESULTS/report.html)"),
        fmt: str = format_option(),
        json_out: bool = typer.Option(False, "--json", help="machine-readable summary (= --format json)"),
    ) -> None:
        """Run (or resume) a design-space sweep; one Parquet row per point, then the Pareto frontier."""
        from ..sweep import frontier, load_spec, run_sweep
        from ..sweep.report import write_sweep_report
        from ..sweep.store import ResultStore

        writable_path(report, "--report")
        how = choose_format(fmt, json_out)
        s = load_spec(spec, {"samples": samples} if samples else None)
        run = dict(backend=backend, address=address, workers=workers, chunk_size=chunk_size, fresh=fresh,
                   evaluator=evaluator)
        if how == "table" and err_console.is_terminal:
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                          TextColumn("ETA"), TimeRemainingColumn(), console=err_console, transient=False) as bar:
                task = bar.add_task(s.name, total=s.size)
                first: list[int] = []

                def progress(done: int, total: int) -> None:
                    if not first:  # points already stored count as done, not towards the rate
                        first.append(done)
                        bar.update(task, total=total - done, completed=0)
                        return
                    bar.update(task, total=total - first[0], completed=done - first[0])

                res = run_sweep(s, out, progress=progress, **run)
        else:  # a log, a pipe, CI: a line every PROGRESS_EVERY_S on stderr
            res = run_sweep(s, out, progress=ProgressLog(s.name, every_s=PROGRESS_EVERY_S), **run)
        store = ResultStore(res.results)
        if res.set_aside:
            err_console.print(f"damaged chunk{'s' if len(res.set_aside) > 1 else ''} set aside in "
                              f"{res.results}/damaged/: {', '.join(res.set_aside[:5])}"
                              f"{' ...' if len(res.set_aside) > 5 else ''}; their points were recomputed", highlight=False)
        front = frontier(store)
        page = write_sweep_report(store, report) if res.complete else None
        objs = list(s.objectives)
        axes = [a.column for a in s.axes]
        shown = [c for c in ["point_id", *axes, *objs] if c in front.column_names]
        summary = (f"{res.name}: {res.total:,} points, {res.already_done:,} already stored, "
                   f"{res.evaluated:,} evaluated ({res.errors:,} rejected) in {res.elapsed_s:.1f} s "
                   f"= {res.points_per_s:,.0f} points/s on {res.workers} {res.backend} workers")
        if how == "json":
            print_json({"name": res.name, "results": res.results, "total": res.total,
                        "already_done": res.already_done, "evaluated": res.evaluated, "errors": res.errors,
                        "elapsed_s": res.elapsed_s, "points_per_s": res.points_per_s, "backend": res.backend,
                        "workers": res.workers, "complete": res.complete, "interrupted": res.interrupted,
                        "set_aside": list(res.set_aside),
                        "report": str(page) if page else None, "objectives": objs,
                        "frontier": front.select(shown).to_pylist() if front.num_rows else []})
        elif how == "csv":
            err_console.print(summary, highlight=False, soft_wrap=True)
            emit_rows(front.select(shown).to_pylist() if front.num_rows else [], shown, "csv")
        else:
            console.print(f"[bold]{res.name}[/]" + summary[len(res.name):], soft_wrap=True)
            console.print(f"results: {res.results}  (gigafactory query \"SELECT * FROM ok LIMIT 5\" "
                          f"--results {res.results})", soft_wrap=True)
            if front.num_rows:
                _print_table(front.slice(0, FRONTIER_SHOWN).to_pylist(), [*axes, *objs],
                             f"Pareto frontier ({front.num_rows:,} points; minimising {', '.join(objs)})")
            if page:
                console.print(f"report: {page}", soft_wrap=True)
        if res.interrupted:
            err_console.print(f"interrupted: {res.already_done + res.evaluated:,} of {res.total:,} points stored; "
                              "re-run the same command to resume")
            raise typer.Exit(130)

    @app.command("query")
    @friendly
    def query_cmd(
        sql: str = typer.Argument(..., help='DuckDB SQL over views results, ok, pareto: "SELECT * FROM pareto"'),
        results: str = typer.Option(None, "--results", "-r", help="results directory (default: newest under ./sweeps)"),
        fmt: str = format_option(),
        json_out: bool = typer.Option(False, "--json", help="rows as JSON (= --format json)"),
        csv_out: bool = typer.Option(False, "--csv", help="rows as CSV (= --format csv)"),
        limit: int = typer.Option(200, "--limit", min=1, help="rows shown in the table view"),
    ) -> None:
        """Run SQL over a sweep's Parquet results with DuckDB."""
        from ..sweep import query

        how = choose_format(fmt, json_out, csv_out)
        table = query(sql, results)
        rows = table.to_pylist()
        if how == "table":
            emit_rows(rows[:limit], table.column_names, how,
                      f"{len(rows):,} rows" + (f" (first {limit})" if len(rows) > limit else ""))
        else:
            emit_rows(rows, table.column_names, how)


def _print_table(rows: list[dict[str, Any]], cols: list[str], title: str, how: str = "table") -> None:
    emit_rows(rows, [c for c in cols if not rows or c in rows[0]], how, title)
