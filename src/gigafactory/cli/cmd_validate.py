"""`gigafactory validate --data FILE.csv`: predicted vs measured training throughput."""

from __future__ import annotations

import typer

from ..errors import SpecError, excerpt
from ..units import Column
from .common import console, friendly, print_json
from .format import choose_format, emit_rows, format_option

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
        fmt: str = format_option(),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output (= --format json)"),
    ) -> None:
        """Predict each row's measured metric for its own configuration and report the errors."""
        from ..perf.validate import validate

        how = choose_format(fmt, as_json)
        check_text_file(data, "--data")
        res = validate(data)
        if not res["n"] and (res["skipped"] == [] or how != "json"):  # JSON still lists why rows were skipped
            why = f"; {len(res['skipped'])} skipped, first: {res['skipped'][0]['reason']}" if res["skipped"] else ""
            raise SpecError("--data", f"{excerpt(data)} has no row that can be predicted{why}")
        if how == "json":
            print_json({
                "n": res["n"], "mape_pct": res["mape_pct"],
                "rows": [{k: r[k] for k in ("id", "metric", "measured", "predicted", "error_pct", "gpu", "source", "plan", "notes")}
                         for r in res["rows"]],
                "skipped": res["skipped"], "by_gpu": res["by_gpu"], "by_source": res["by_source"],
            })
            return
        cols = [Column("id"), Column("gpu"), Column("metric"), Column("measured", unit=""),
                Column("predicted", unit=""), Column("error_pct", "error", "%pt"), Column("plan"), Column("notes")]
        rows = [{**r, "error_pct": r["error_pct"] / 100.0} if how == "table" else r for r in res["rows"]]
        if how == "csv":
            emit_rows(res["rows"], cols, "csv")
            return
        emit_rows(rows, [c if c.key != "error_pct" else Column("error_pct", "error", "%") for c in cols], how,
                  f"{data}: predicted vs measured")
        for name in ("by_gpu", "by_source"):
            emit_rows([{name[3:]: k, "n": v["n"], "mape": v["mape_pct"] / 100.0} for k, v in res[name].items()],
                      [Column(name[3:]), Column("n", unit=""), Column("mape", "MAPE", "%")], how,
                      f"MAPE {name.replace('_', ' ')}")
        console.print(f"[bold]overall: n={res['n']}, MAPE {res['mape_pct']:.1f}%[/]")
        for sk in res["skipped"]:
            console.print(f"[yellow]skipped {sk['id']}: {sk['reason']}[/]", soft_wrap=True)
