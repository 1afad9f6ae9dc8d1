"""`gigafactory validate --data FILE.csv`: predicted vs measured training throughput."""

from __future__ import annotations

import typer
from rich.table import Table

from .common import console, friendly, print_json


def register(app: typer.Typer) -> None:
    @app.command("validate")
    @friendly
    def validate_cmd(
        data: str = typer.Option(..., "--data", help="CSV in the schema of shared/groundtruth/train.csv"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Predict each row's measured metric for its own configuration and report the errors."""
        from ..perf.validate import validate

        res = validate(data)
        if as_json:
            print_json({
                "n": res["n"], "mape_pct": res["mape_pct"],
                "rows": [{k: r[k] for k in ("id", "metric", "measured", "predicted", "error_pct", "gpu", "source", "plan", "notes")}
                         for r in res["rows"]],
                "skipped": res["skipped"], "by_gpu": res["by_gpu"], "by_source": res["by_source"],
            })
            return
        t = Table(title=f"{data}: predicted vs measured", title_justify="left")
        for col in ("id", "gpu", "metric", "measured", "predicted", "error %", "plan (filled knobs in notes)"):
            t.add_column(col, justify="right" if col in ("measured", "predicted", "error %") else "left")
        for r in res["rows"]:
            t.add_row(r["id"], r["gpu"], r["metric"], f"{r['measured']:,.4g}", f"{r['predicted']:,.4g}",
                      f"{r['error_pct']:+.1f}", r["plan"] + (f"  [dim]{r['notes']}[/]" if r["notes"] else ""))
        console.print(t)
        for name in ("by_gpu", "by_source"):
            s = Table(title=f"MAPE {name.replace('_', ' ')}", title_justify="left")
            s.add_column(name[3:])
            s.add_column("n", justify="right")
            s.add_column("MAPE %", justify="right")
            for k, v in res[name].items():
                s.add_row(k, str(v["n"]), f"{v['mape_pct']:.1f}")
            console.print(s)
        console.print(f"[bold]overall: n={res['n']}, MAPE {res['mape_pct']:.1f}%[/]")
        for sk in res["skipped"]:
            console.print(f"[yellow]skipped {sk['id']}: {sk['reason']}[/]")
