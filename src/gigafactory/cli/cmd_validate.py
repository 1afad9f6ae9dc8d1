"""`gigafactory validate --data FILE.csv`: predicted vs measured training throughput."""

from __future__ import annotations

import typer
from rich.table import Table

from ..errors import SpecError, excerpt
from .common import console, friendly, print_json

#: the largest measurement CSV read (shared/groundtruth/train.csv is ~100 kB)
MAX_CSV_BYTES = 20_000_000


def check_text_file(path: str, flag: str) -> None:
    """A readable UTF-8 text file of sane size, or one clear line."""
    import os

    if not os.path.isfile(path):
        raise SpecError(flag, f"no such file {excerpt(path)}")
    if os.path.getsize(path) > MAX_CSV_BYTES:
        raise SpecError(flag, f"{excerpt(path)} is over {MAX_CSV_BYTES:,} bytes")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise SpecError(flag, f"cannot read {excerpt(path)}: {exc.strerror}") from None
    if b"\x00" in data:
        raise SpecError(flag, f"{excerpt(path)} is a binary file, not CSV text")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(flag, f"{excerpt(path)} is not UTF-8 text (byte {exc.start:,})") from None


def register(app: typer.Typer) -> None:
    @app.command("validate")
    @friendly
    def validate_cmd(
        data: str = typer.Option(..., "--data", help="CSV in the schema of shared/groundtruth/train.csv"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Predict each row's measured metric for its own configuration and report the errors."""
        from ..perf.validate import validate

        check_text_file(data, "--data")
        res = validate(data)
        if not res["n"] and (res["skipped"] == [] or not as_json):  # JSON still lists why rows were skipped
            why = f"; {len(res['skipped'])} skipped, first: {res['skipped'][0]['reason']}" if res["skipped"] else ""
            raise SpecError("--data", f"{excerpt(data)} has no row that can be predicted{why}")
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
