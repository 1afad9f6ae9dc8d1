"""Self-contained HTML report of a twin run (or of several, side by side): one file, works offline.

The plotting library's JavaScript (plotly.js) is embedded once in the page; no CDN is used. Each
plot is a ``<div class="plot" id="...">`` so tests (and readers) can find every one of them; every
plot has a title and axis titles with units. Numbers are written in the one notation of
:mod:`gigafactory.units`: a headline figure with its label and unit, a table column with one
scale in its header.

What a planner forwards: the headline, the site verdict with its reasons, the plan explained (the
runners-up and what they lose, and to what), every table formatted, cost as a labelled breakdown.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .units import LABELS, Column, format_rows, headline_rows, number, unit_of

#: the plots every report carries, in order: id -> title
PLOTS: dict[str, str] = {
    "bringup": "Bring-up: GPUs online since ground-breaking",
    "tokens": "Cumulative training tokens since ground-breaking",
    "power-step": "Site IT power over four training steps",
    "power-day": "Site IT power over a day (checkpoints, failures)",
    "goodput-loss": "Where the wall-clock time of the run goes",
    "cost": "Capital cost breakdown",
    "step": "The plan's step-time breakdown (exposed time)",
}
#: axis titles (x, y) of each plot, with units
AXES: dict[str, tuple[str, str]] = {
    "bringup": ("days since ground-breaking", "GPUs online"),
    "tokens": ("days since ground-breaking", "tokens trained"),
    "power-step": ("time (s)", "site IT power (MW)"),
    "power-day": ("time of day (h)", "site IT power (MW)"),
    "goodput-loss": ("where the time goes", "hours over the run (h)"),
    "cost": ("category", "capital cost ($)"),
    "step": ("phase of the step", "exposed time per step (s)"),
}
PALETTE = ("#1f6feb", "#d2691e", "#2ca02c", "#9467bd", "#c0392b", "#17becf", "#7f7f7f", "#bcbd22")


@dataclass(frozen=True)
class ReportData:
    """Everything a report plots, as plain arrays and dicts (built by :func:`from_twin`)."""

    title: str
    headline: dict[str, Any]
    bringup_days: np.ndarray
    bringup_gpus: np.ndarray
    tokens_days: dict[str, np.ndarray]  # label -> days axis
    tokens_cum: dict[str, np.ndarray]  # label -> cumulative tokens
    step_t_s: np.ndarray
    step_mw: np.ndarray
    day_t_h: np.ndarray
    day_mw: np.ndarray
    goodput_loss_h: dict[str, float]
    cost_usd: dict[str, float]
    step_breakdown_s: dict[str, float]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: site verdict: {"site", "fits", "reasons": [...], "checks": [{"check", "ok", "detail", "reasons"}]}
    site: dict[str, Any] | None = None
    #: the plan explained: one sentence per point
    plan_notes: list[str] = field(default_factory=list)
    #: a short label for this design in a comparison (the scenario name)
    label: str = ""
    days_from: str = "ground-breaking"  # rented capacity: "contract signature"
    cost_title: str = "Capital cost breakdown"  # rented capacity: the rental bill


# ---------------------------------------------------------------- figures

def _layout(fig: Any, key: str, legend: bool = False, d: ReportData | None = None) -> None:
    x, y = AXES[key]
    title = PLOTS[key]
    if d is not None:
        title = d.cost_title if key == "cost" else title.replace("ground-breaking", d.days_from)
        x = x.replace("ground-breaking", d.days_from)
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white", height=400,
                      margin=dict(l=70, r=20, t=60, b=90), showlegend=legend,
                      legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0))


def _nonzero(d: dict[str, float]) -> dict[str, float]:
    """Slices of a breakdown that are there (no 0 % slices, no negative ones)."""
    return {k: v for k, v in d.items() if v > 0 and np.isfinite(v)}


def _figures(ds: Sequence[ReportData]) -> dict[str, Any]:
    """The report's plots; with several designs every plot overlays (or groups) them."""
    import plotly.graph_objects as go

    many = len(ds) > 1
    figs: dict[str, Any] = {k: go.Figure() for k in PLOTS}
    for i, d in enumerate(ds):
        col = PALETTE[i % len(PALETTE)]
        who = (d.label or d.title) if many else ""
        figs["bringup"].add_trace(go.Scatter(x=d.bringup_days, y=d.bringup_gpus, mode="lines", line_shape="hv",
                                             name=who or "GPUs online (p50)", line=dict(color=col)))
        for j, (lab, days) in enumerate(d.tokens_days.items()):
            figs["tokens"].add_trace(go.Scatter(
                x=days, y=d.tokens_cum[lab], mode="lines", name=f"{who} {lab}".strip(),
                line=dict(color=col, dash="solid" if j == 0 else "dash")))
        figs["power-step"].add_trace(go.Scatter(x=d.step_t_s, y=d.step_mw, mode="lines", line_shape="hv",
                                                name=who or "IT power", line=dict(color=col)))
        figs["power-day"].add_trace(go.Scatter(x=d.day_t_h, y=d.day_mw, mode="lines", name=who or "IT power",
                                               line=dict(color=col)))
        loss = d.goodput_loss_h
        figs["goodput-loss"].add_trace(go.Bar(x=list(loss), y=list(loss.values()), name=who or "hours",
                                              marker_color=col, text=[number(v, "h") for v in loss.values()],
                                              textposition="outside"))
        br = d.step_breakdown_s
        figs["step"].add_trace(go.Bar(x=list(br), y=list(br.values()), name=who or "seconds", marker_color=col,
                                      text=[f"{v:.3f} s" for v in br.values()], textposition="outside"))
        cost = _nonzero(d.cost_usd)
        if many:
            figs["cost"].add_trace(go.Bar(x=list(cost), y=list(cost.values()), name=who, marker_color=col,
                                          text=[number(v, "$") for v in cost.values()], textposition="outside"))
    if not many:
        cost = _nonzero(ds[0].cost_usd)
        figs["cost"] = go.Figure(go.Pie(
            labels=list(cost), values=list(cost.values()), hole=0.4, sort=False,
            text=[number(v, "$") for v in cost.values()], textinfo="label+text+percent",
            texttemplate="%{label}<br>%{text} (%{percent})", hovertemplate="%{label}: %{text}<extra></extra>"))
    for k, fig in figs.items():
        _layout(fig, k, legend=many or k == "tokens", d=ds[0])
        if k in ("goodput-loss", "step", "cost") and many:
            fig.update_layout(barmode="group")
    return figs


# ---------------------------------------------------------------- tables

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
    "th{background:#f4f4f4}td.t,th.t{text-align:left}.plot{margin:1.5em 0}"
    ".verdict{font-size:1.2em;font-weight:600}.ok{color:#1a7f37}.no{color:#b42318}"
    "ul.reasons{margin:.3em 0 1em 1.2em}.unit{color:#666}"
)


def _table(rows: list[dict[str, Any]], cols: Sequence[Column] | None = None) -> str:
    """An HTML table in the one notation: a header with each column's scale and unit."""
    if not rows:
        return ""
    cols = list(cols) if cols else [Column(k) for k in rows[0]]
    heads, body = format_rows(rows, cols)
    text = [not any(isinstance(r.get(c.key), int | float) and not isinstance(r.get(c.key), bool) for r in rows)
            for c in cols]
    th = "".join(f'<th class="{"t" if t else "n"}">{html.escape(h)}</th>' for h, t in zip(heads, text, strict=True))
    tb = "".join("<tr>" + "".join(f'<td class="{"t" if t else "n"}">{html.escape(c)}</td>'
                                  for c, t in zip(r, text, strict=True)) + "</tr>" for r in body)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{tb}</tbody></table>"


def _headline(head: dict[str, Any]) -> str:
    rows = "".join(f'<tr><td class="t">{html.escape(lab)}</td><td>{html.escape(v)}</td>'
                   f'<td class="t unit">{html.escape(u)}</td></tr>' for lab, v, u in headline_rows(head))
    return f'<table class="headline"><thead><tr><th class="t">figure</th><th>value</th><th class="t">unit</th>' \
           f"</tr></thead><tbody>{rows}</tbody></table>"


def _site(site: dict[str, Any] | None) -> str:
    if not site:
        return "<p>No site was given: the supply was not checked.</p>"
    ok = site.get("fits")
    parts = [f'<p class="verdict {"ok" if ok else "no"}">Site {html.escape(str(site.get("site", "")))}: '
             f'{"the cluster fits" if ok else "the cluster does NOT fit"}</p>']
    reasons = [str(r) for r in site.get("reasons", ()) if r]
    if reasons:
        parts.append('<ul class="reasons">' + "".join(f"<li>{html.escape(r)}</li>" for r in reasons) + "</ul>")
    rows = [{"check": c["check"], "verdict": "ok" if c["ok"] else "NO",
             "detail": c.get("detail", ""), "smallest fix": c.get("fix", ""),
             "reasons": "; ".join(str(r) for r in c.get("reasons", ()) if r)}
            for c in site.get("checks", ())]
    if rows:
        for col in ("smallest fix", "reasons"):  # columns no check fills are left out
            if not any(r[col] for r in rows):
                for r in rows:
                    del r[col]
        parts.append(_table(rows))
    return "\n".join(parts)


def _cost_table(cost: dict[str, float]) -> str:
    nz = _nonzero(cost)
    total = sum(nz.values())
    rows = [{"category": k, "capital_cost_usd": v, "share": v / total if total else None} for k, v in nz.items()]
    rows.append({"category": "total", "capital_cost_usd": total, "share": 1.0 if total else None})
    return _table(rows, [Column("category", "category"), Column("capital_cost_usd", "capital cost", "$"),
                         Column("share", "share", "%")])


# ---------------------------------------------------------------- pages

def _page(title: str, body: list[str]) -> str:
    from plotly.offline import get_plotlyjs

    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *body,
        "<p><small>Generated by gigafactory. Every constant comes from the sourced catalog "
        "(<code>gigafactory catalog show NAME</code>).</small></p></body></html>",
    ])


def _plots(ds: Sequence[ReportData]) -> list[str]:
    import plotly.io as pio

    out = ["<h2>Plots</h2>"]
    for key, fig in _figures(ds).items():
        div = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=f"plot-{key}")
        out.append(f'<div class="plot" id="{key}">{div}</div>')
    return out


def render(d: ReportData) -> str:
    """The report as one HTML string with plotly.js embedded."""
    body = ["<h2>Headline</h2>", _headline(d.headline), "<h2>Site verdict</h2>", _site(d.site)]
    if d.plan_notes:
        body += ["<h2>The plan, explained</h2>",
                 "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in d.plan_notes) + "</ul>"]
    body += [f"<h2>{html.escape(d.cost_title)}</h2>", _cost_table(d.cost_usd)]
    for name, rows in d.tables.items():
        body += [f"<h2>{html.escape(name)}</h2>", _table(rows, _columns(name, rows))]
    return _page(d.title, body + _plots([d]))


def render_compare(ds: Sequence[ReportData]) -> str:
    """Two or more designs side by side: figures in columns, plots overlaid."""
    labels = [d.label or d.title for d in ds]
    body = ["<h2>Headline, side by side</h2>", _compare_table(ds)]
    body.append("<h2>Site verdicts</h2>")
    for lab, d in zip(labels, ds, strict=True):
        body += [f"<h3>{html.escape(lab)}</h3>", _site(d.site)]
    body.append("<h2>The plans, explained</h2>")
    for lab, d in zip(labels, ds, strict=True):
        body += [f"<h3>{html.escape(lab)}</h3>",
                 "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in d.plan_notes) + "</ul>"]
    body.append("<h2>Cost breakdowns</h2>")
    cats = list(dict.fromkeys(k for d in ds for k in _nonzero(d.cost_usd)))
    rows = [{"category": c, **{lab: d.cost_usd.get(c) for lab, d in zip(labels, ds, strict=True)}} for c in cats]
    rows.append({"category": "total", **{lab: sum(_nonzero(d.cost_usd).values())
                                         for lab, d in zip(labels, ds, strict=True)}})
    body.append(_table(rows, [Column("category")] + [Column(lab, lab, "$") for lab in labels]))
    return _page("gigafactory: " + " vs ".join(labels), body + _plots(ds))


def compare_rows(heads: Sequence[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """(label, unit, one value per design) for each headline figure any of the designs has."""
    per = [{lab: (v, u) for lab, v, u in headline_rows(h)} for h in heads]
    out = []
    for label, _unit in LABELS.values():
        if not any(label in p for p in per):
            continue
        u = next(p[label][1] for p in per if label in p)
        out.append((label, u, [p[label][0] if label in p else "–" for p in per]))
    return out


def _compare_table(ds: Sequence[ReportData]) -> str:
    labels = [d.label or d.title for d in ds]
    th = '<th class="t">figure</th>' + "".join(f"<th>{html.escape(lab)}</th>" for lab in labels) + \
         '<th class="t">unit</th>'
    rows = "".join('<tr><td class="t">' + html.escape(lab) + "</td>" + "".join(f"<td>{html.escape(c)}</td>"
                                                                                 for c in cells)
                   + f'<td class="t unit">{html.escape(u)}</td></tr>'
                   for lab, u, cells in compare_rows([d.headline for d in ds]))
    return f'<table class="compare"><thead><tr>{th}</tr></thead><tbody>{rows}</tbody></table>'


def _columns(name: str, rows: list[dict[str, Any]]) -> list[Column]:
    return [Column(k, k.replace("_", " "), unit_of(k)) for k in rows[0]] if rows else []


def write_report(data: ReportData, path: str | Path) -> Path:
    """Write the report atomically and return its path."""
    return _write(render(data), path)


def write_compare(datas: Sequence[ReportData], path: str | Path) -> Path:
    return _write(render_compare(datas), path)


def _write(text: str, path: str | Path) -> Path:
    p = Path(path)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p


# ---------------------------------------------------------------- from the twin

def explain_plan(search: Any, best: Any) -> list[str]:
    """What the chosen plan is, what each runner-up loses against it (and to which phase of the
    step), and what the search ruled out."""
    if best is None:
        return []
    from .twin import plan_text

    out = [f"Chosen: {plan_text(best.plan)}, step {best.step_s:.3f} s, MFU {best.mfu:.1%}, "
           f"{best.tokens_per_s_per_gpu:,.0f} tokens/s per GPU, memory {best.memory['total']:.0f} of "
           f"{best.memory['capacity']:.0f} GB."]
    if search is None:
        return out + ["The scenario fixes this plan: no search was run."]
    for rank, r in enumerate((x for x in search.top if x is not best), 2):
        d = r.step_s - best.step_s
        name = plan_text(r.plan)
        if d < -1e-9 * best.step_s:  # faster per step, but the twin found its run ends later
            days = r.extra.get("wall_days_p50"), best.extra.get("wall_days_p50")
            out.append(f"Runner-up {rank}: {name} is {-d / best.step_s:.1%} faster per step on {r.plan.gpus:,} GPUs "
                       f"against {best.plan.gpus:,}, but with their failures its run takes "
                       + (f"{days[0]:.2f} against {days[1]:.2f} days at full size." if None not in days
                          else "longer."))
            continue
        if d <= 1e-9 * best.step_s:
            same = "" if r.plan.gpus == best.plan.gpus else f" on {r.plan.gpus:,} GPUs"
            out.append(f"Runner-up {rank}: {name} ties{same} (same step time, "
                       f"{r.memory['total']:.0f} GB of memory against {best.memory['total']:.0f} GB).")
            continue
        worse = sorted(((r.breakdown.get(k, 0.0) - v, k) for k, v in best.breakdown.items()), reverse=True)
        shown = 5e-4  # the sentence writes seconds to 3 decimals: smaller differences would read 0.000
        worse = [(x, k) for x, k in worse if x >= shown][:3]
        better = [(x, k) for x, k in sorted((r.breakdown.get(k, 0.0) - v, k) for k, v in best.breakdown.items())
                  if x <= -shown][:2]
        loses = ", ".join(f"+{x:.3f} s {k}" for x, k in worse) or "no single phase"
        gains = (" and saves " + ", ".join(f"{-x:.3f} s {k}" for x, k in better)) if better else ""
        out.append(f"Runner-up {rank}: {name} is {d / best.step_s:.1%} slower (+{d:.3f} s per step): it loses "
                   f"{loses}{gains}.")
    if search.rejected:
        top = sorted(search.rejected.items(), key=lambda kv: -kv[1])[:3]
        out.append(f"Searched {search.configs_evaluated:,} plans; most were ruled out because "
                   + "; ".join(f"{reason} ({n:,})" for reason, n in top) + ".")
    return out


def site_of(verdict: Any) -> dict[str, Any] | None:
    """The site verdict as plain data, with whatever reason strings the result carries."""
    if verdict is None:
        return None

    def reasons(obj: Any) -> list[str]:
        r = getattr(obj, "reasons", None)
        if r is None:
            r = getattr(obj, "reason", None)
        if r is None:
            return []
        return [r] if isinstance(r, str) else [str(x) for x in r]

    return {"site": verdict.site, "fits": bool(verdict.fits), "reasons": reasons(verdict),
            "checks": [{"check": c.name, "ok": bool(c.ok), "detail": c.detail, "fix": str(getattr(c, "fix", "") or ""),
                        "reasons": [] if c.ok else reasons(c)} for c in verdict.checks]}


def from_twin(res: Any) -> ReportData:
    """Collect a :class:`~gigafactory.twin.TwinResult`'s plots and tables."""
    pw, bu, g, st, gp = res.power, res.bringup, res.growth, res.step, res.goodput
    horizon = max(float(g.days_to_model["p90"]), float(bu.full_size_day["p90"])) + 10
    days = np.arange(0.0, horizon + 1.0)
    wave = pw.step_wave
    n = min(len(wave.t_s), int(4 * pw.step_s / wave.dt_s) + 1)  # four steps
    day = pw.day_wave
    stride = max(1, len(day.t_s) // 4000)
    loss = {"useful": gp.work_days * 24.0, **{k: float(v) for k, v in gp.losses_h.items()}}
    rented = getattr(res.cost, "mode", "owned") == "rented"
    if rented:  # no capex: the bill is the rent (the run's GPU-hours, the rest of a longer contract)
        run_usd = res.cost.run.at_cost_usd if res.cost.run else 0.0
        contract = res.cost.run.contract_usd if res.cost.run else None
        cost = {"rent of the run": run_usd}
        if contract and contract > run_usd:
            cost["rest of the contract"] = contract - run_usd
    else:
        cost = {k: float(v) for k, v in res.cost.capex_by_category.items()}
    head = {k: v for k, v in res.headline().items() if v is not None}
    tables = {
        "Plan at each size while the cluster grows": [
            {"gpus": n_, "tokens_per_s": r, "plan": p} for n_, r, p in zip(g.sizes, g.tokens_per_s, g.plans,
                                                                          strict=True)],
        "Reliability what-ifs": [{"lever": w.lever, "from": w.without, "to": w.with_,
                                  "goodput_with": w.goodput_with, "gain_pp": w.gain_pp,
                                  "days_saved": w.days_saved} for w in gp.whatifs],
    }
    sched = getattr(res, "schedule", None)
    if sched is not None and sched.layout is not None:
        lay = sched.layout
        tables["Buildings"] = [{"limit": lim.name, "racks per building": lim.racks, "detail": lim.detail}
                               for lim in lay.limits] + [
            {"limit": "needed", "racks per building": lay.racks_max_per_building,
             "detail": lay.reason or f"{lay.racks:,} racks in {len(lay.racks_per_building)} of "
                                     f"{lay.buildings_available} buildings; {lay.interconnect}"}]
    if sched is not None and sched.buildings:
        tables["Build schedule per building"] = [
            {"building": b.building, "start_day": b.start_day, "racks": b.racks, "gpus": b.gpus,
             "first_rack_day_p50": b.first_rack_day["p50"], "full_size_day_p50": b.full_size_day["p50"],
             "full_size_day_p90": b.full_size_day["p90"]} for b in sched.buildings]
    return ReportData(
        title=f"gigafactory: {res.scenario.name}",
        headline=head,
        bringup_days=days,
        bringup_gpus=bu.gpus_at(days, "p50", training=False),
        tokens_days=dict(g.days),
        tokens_cum=dict(g.tokens),
        step_t_s=wave.t_s[:n],
        step_mw=wave.it_w[:n] / 1e6,
        day_t_h=day.t_s[::stride] / 3600.0,
        day_mw=day.it_w[::stride] / 1e6,
        goodput_loss_h=loss,
        cost_usd=cost,
        step_breakdown_s={k: float(v) for k, v in st.breakdown.items()},
        tables=tables,
        site=site_of(pw.verdict),
        plan_notes=explain_plan(res.search, st),
        label=res.scenario.name,
        days_from="contract signature" if rented else "ground-breaking",
        cost_title="Rental bill" if rented else "Capital cost breakdown",
    )
