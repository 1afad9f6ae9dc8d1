"""The sweep's HTML report: the Pareto frontier as a table and as an inline SVG scatter plot.

Self-contained (no scripts, no network): every point is grey, frontier points are coloured by the
third objective (peak power), x = the first objective (days to model), y = the second (capex).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pyarrow as pa

from ..units import Column, format_rows, unit_of
from .results import connect, frontier, objectives_of
from .store import ResultStore

W, H, PAD = 720, 440, 64
MAX_BACKGROUND = 20_000  # points drawn in grey behind the frontier


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 1e9:
        return f"{x / 1e9:.3g}B"
    if ax >= 1e6:
        return f"{x / 1e6:.3g}M"
    if ax >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.3g}"


def scatter_svg(xs: list[float], ys: list[float], fx: list[float], fy: list[float], fc: list[float],
                xlabel: str, ylabel: str, clabel: str) -> str:
    allx, ally = xs + fx, ys + fy
    if not allx:
        return "<p>No successful points to plot.</p>"
    x0, x1, y0, y1 = min(allx), max(allx), min(ally), max(ally)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def sx(v: float) -> float:
        return PAD + (v - x0) / (x1 - x0) * (W - 2 * PAD)

    def sy(v: float) -> float:
        return H - PAD - (v - y0) / (y1 - y0) * (H - 2 * PAD)

    c0, c1 = (min(fc), max(fc)) if fc else (0.0, 1.0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">',
           f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" fill="#fafafa" stroke="#999"/>']
    for t in _ticks(x0, x1):
        out.append(f'<text x="{sx(t):.1f}" y="{H - PAD + 16}" font-size="11" text-anchor="middle">{_fmt(t)}</text>')
    for t in _ticks(y0, y1):
        out.append(f'<text x="{PAD - 6}" y="{sy(t) + 4:.1f}" font-size="11" text-anchor="end">{_fmt(t)}</text>')
    out.append(f'<text x="{W / 2}" y="{H - 18}" font-size="13" text-anchor="middle">{html.escape(xlabel)}</text>')
    out.append(f'<text x="16" y="{H / 2}" font-size="13" text-anchor="middle" '
               f'transform="rotate(-90 16 {H / 2})">{html.escape(ylabel)}</text>')
    for x, y in zip(xs, ys, strict=True):
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2" fill="#bbb"/>')
    for x, y, c in zip(fx, fy, fc, strict=True):
        t = 0.5 if c1 == c0 else (c - c0) / (c1 - c0)
        color = f"rgb({int(40 + 200 * t)},{int(90 + 60 * (1 - t))},{int(220 - 180 * t)})"
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="{color}" stroke="#222">'
                   f'<title>{xlabel}={x:.4g}, {ylabel}={y:.4g}, {clabel}={c:.4g}</title></circle>')
    out.append(f'<text x="{W - PAD}" y="{PAD - 10}" font-size="11" text-anchor="end">frontier colour: '
               f'{html.escape(clabel)} {_fmt(c0)} (blue) to {_fmt(c1)} (red)</text>')
    out.append("</svg>")
    return "\n".join(out)


def write_sweep_report(store: ResultStore, path: str | Path | None = None, limit: int = 50) -> Path:
    """Write ``report.html`` (or `path`) for a sweep: counts, frontier plot and frontier table."""
    path = Path(path or store.root / "report.html")
    m = store.manifest() or {}
    objs = objectives_of(store)
    con = connect(store, with_pareto=False)
    front = frontier(store, con)
    total, errors = con.execute("SELECT count(*), count(error) FROM results").fetchone()
    axes = list((m.get("columns") or {}).values())
    plot = "<p>No frontier: the objectives are not among the outputs.</p>"
    if len(objs) >= 2 and front.num_rows:
        xo, yo = objs[0], objs[1]
        co = objs[2] if len(objs) > 2 else objs[1]
        bg = con.execute(f'SELECT "{xo}", "{yo}" FROM ok USING SAMPLE {MAX_BACKGROUND} ROWS').fetchall()
        plot = scatter_svg([r[0] for r in bg], [r[1] for r in bg], _col(front, xo), _col(front, yo),
                           _col(front, co), _titled(xo), _titled(yo), _titled(co))
    cols = axes + [o for o in objs if o not in axes]
    heads, cells = format_rows(front.slice(0, limit).to_pylist(), [Column(c) for c in cols])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in heads)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells)
    doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>sweep {html.escape(str(m.get('name', '')))}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#eee}}</style></head><body>
<h1>Sweep {html.escape(str(m.get('name', '')))}</h1>
<p>{total:,} points ({errors:,} rejected by the twin); evaluator <code>{html.escape(str(m.get('evaluator')))}</code>;
objectives minimised: {html.escape(', '.join(objs))}. {front.num_rows:,} points on the Pareto frontier.</p>
<h2>Pareto frontier</h2>{plot}
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
</body></html>"""
    path.write_text(doc, encoding="utf-8")
    return path


def _col(t: pa.Table, name: str) -> list[float]:
    return [float(v) for v in t.column(name).to_pylist()]


def _titled(name: str) -> str:
    """An axis title with its unit: ``capex_usd ($)``."""
    unit = unit_of(name)
    return f"{name} ({unit})" if unit else name
