"""How listing commands print rows: ``--format table|csv|json``.

``table`` is a rich table on a terminal and plain aligned text anywhere else (a pipe, a file, a CI
log), so ids are never cut and nothing depends on the reader's terminal width. On a terminal too
narrow for every column the rows are shown one record per block (``field  value``) rather than in
one-character columns. ``csv`` and ``json`` carry the raw values (full precision, no scaling).

Sweeps report progress off a terminal as periodic log lines (:class:`ProgressLog`).
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import SpecError, closest
from ..units import Column, format_rows, numeric_column
from .common import console, err_console, print_json

FORMATS = ("table", "csv", "json")
FORMAT_HELP = "table (aligned text off a terminal) | csv | json"


def format_option() -> Any:
    return typer.Option(None, "--format", "-f", help=FORMAT_HELP, show_default=False)


def choose_format(fmt: str | None, json_out: bool = False, csv_out: bool = False) -> str:
    """The output format from ``--format`` and the older ``--json`` / ``--csv`` flags."""
    if fmt is not None and fmt not in FORMATS:
        raise SpecError("--format", f"unknown format {fmt!r}", FORMATS, closest(fmt, FORMATS))
    if json_out:
        return "json"
    if csv_out:
        return "csv"
    return fmt or "table"


def columns_of(keys: Sequence[str | Column]) -> list[Column]:
    return [k if isinstance(k, Column) else Column(k) for k in keys]


def emit_rows(rows: Sequence[dict[str, Any]], cols: Sequence[str | Column], fmt: str, title: str = "",
              out: Console | None = None) -> None:
    """Print `rows` (dicts) in `fmt`; `cols` choose and order the fields shown."""
    cols_ = columns_of(cols)
    if fmt == "json":
        print_json([{c.key: r.get(c.key) for c in cols_} for r in rows])
        return
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow([c.key for c in cols_])
        for r in rows:
            w.writerow(["" if r.get(c.key) is None else r.get(c.key) for c in cols_])
        return
    heads, body = format_rows(rows, cols_)
    emit_cells(heads, body, [numeric_column(rows, c.key) for c in cols_], title, out)


def emit_cells(heads: list[str], body: list[list[str]], right: list[bool], title: str = "",
               out: Console | None = None) -> None:
    """Print already formatted cells: a rich table on a terminal, aligned text elsewhere."""
    con = out or console
    if con.is_terminal:
        _rich(con, heads, body, right, title)
    else:
        sys.stdout.write(plain_table(heads, body, right, title))


def plain_table(heads: list[str], body: list[list[str]], right: list[bool], title: str = "") -> str:
    """Aligned text: a title line, a header, a rule, the rows; columns two spaces apart, never cut."""
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(heads)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if rt else c.ljust(w) for c, w, rt in zip(cells, widths, right, strict=True)
                         ).rstrip()

    out = [title] if title else []
    out += [line(heads), line(["-" * w for w in widths]), *(line(r) for r in body)]
    return "\n".join(out) + "\n"


def _rich(con: Console, heads: list[str], body: list[list[str]], right: list[bool], title: str) -> None:
    # ids (the first column) and numbers never wrap; other text and headers may wrap at spaces. If even
    # that does not fit the terminal, the rows are shown one record per block.
    def longest_word(s: str) -> int:
        return max((len(w) for w in s.split()), default=0)

    keep = [i == 0 or right[i] for i in range(len(heads))]
    cell_w = [max([0, *((len(r[i]) if keep[i] else longest_word(r[i])) for r in body)]) for i in range(len(heads))]
    head_w = [longest_word(h) for h in heads]
    need = sum(max(c, h) for c, h in zip(cell_w, head_w, strict=True)) + 2 * (len(heads) - 1)
    if need > con.width and len(heads) > 2:
        _records(con, heads, body, title)
        return
    t = Table(title=title or None, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              padding=(0, 1), title_style="bold")
    for i, h in enumerate(heads):
        t.add_column(h, justify="right" if right[i] else "left", no_wrap=keep[i], overflow="fold",
                     min_width=max(cell_w[i], head_w[i]), style="bold cyan" if i == 0 else None)
    for r in body:
        t.add_row(*r)
    con.print(t)


def _records(con: Console, heads: list[str], body: list[list[str]], title: str) -> None:
    if title:
        con.print(f"[bold]{title}[/]", highlight=False)
    w = max(len(h) for h in heads)
    for n, r in enumerate(body, 1):
        con.print(f"[dim]-- row {n} --[/]", highlight=False)
        for h, c in zip(heads, r, strict=True):
            con.print(f"[cyan]{h.ljust(w)}[/]  {c}", highlight=False, soft_wrap=True, markup=True)


class ProgressLog:
    """Progress as log lines on stderr, for runs off a terminal: at most one line per `every_s`
    seconds (and one at the end): points done of total, the rate since start and the ETA."""

    def __init__(self, name: str, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 write: Callable[[str], None] | None = None) -> None:
        self.name, self.every_s, self.clock = name, every_s, clock
        self.write = write or (lambda s: err_console.print(s, highlight=False, soft_wrap=True, markup=False))
        self.t0: float | None = None
        self.first = 0
        self.last_t = -float("inf")

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.t0 is None:  # points already stored count as done, not towards the rate
            self.t0, self.first, self.last_t = now, done, now
            self.write(f"{self.name}: {total:,} points, {done:,} already stored")
            return
        if done < total and now - self.last_t < self.every_s:
            return
        self.last_t = now
        self.write(self.line(done, total, now - self.t0))

    def line(self, done: int, total: int, elapsed_s: float) -> str:
        new = done - self.first
        rate = new / elapsed_s if elapsed_s > 0 else 0.0
        left = total - done
        eta = f"ETA {_duration(left / rate)}" if rate > 0 and left > 0 else ("done" if left <= 0 else "ETA -")
        pct = 100.0 * done / total if total else 100.0
        return (f"{self.name}: {done:,}/{total:,} points ({pct:.1f}%), {rate:,.1f} points/s, "
                f"{_duration(elapsed_s)} elapsed, {eta}")


def _duration(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def plain_flags_in_help() -> None:
    """Flags (``--json``, ``--fresh``) take no value: show no ``<bool>`` type after them in ``--help``."""
    from typer.core import TyperOption

    if getattr(TyperOption, "_gigafactory_flags", False):
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    TyperOption._gigafactory_flags = True  # type: ignore[attr-defined]


def print_table(t: Table, out: Console | None = None) -> None:
    """Print a rich table so that it survives pipes and narrow terminals: aligned plain text off a
    terminal; on one, cells fold instead of being cut with an ellipsis."""
    from rich.text import Text

    con = out or console
    if con.is_terminal:
        for c in t.columns:
            c.overflow = "fold"
        con.print(t)
        return

    def plain(cell: Any) -> str:
        if isinstance(cell, Text):
            return cell.plain
        return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)

    heads = [plain(c.header) for c in t.columns]
    cols = [[plain(x).replace("\n", " ") for x in c.cells] for c in t.columns]
    body = [list(r) for r in zip(*cols, strict=True)] if cols else []
    right = [c.justify == "right" for c in t.columns]
    title = plain(t.title) if t.title else ""
    if not t.show_header:
        sys.stdout.write((title + "\n" if title else "") + "".join(
            "  ".join(c.rjust(w) if rt else c.ljust(w) for c, w, rt in zip(
                r, [max(len(x[i]) for x in body) for i in range(len(heads))], right, strict=True)).rstrip() + "\n"
            for r in body))
        return
    sys.stdout.write(plain_table(heads, body, right, title))
