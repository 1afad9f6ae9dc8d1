"""Numbers with units for people: one notation for every surface (CLI tables, the report, compare).

The unit of a figure is read from its name (``capex_usd`` is dollars, ``peak_mw`` megawatts,
``step_s`` seconds, ``mfu`` a fraction shown as a percentage); :data:`LABELS` gives the headline
figures a label a planner reads. Large values are scaled by a suffix (k, M, B, T) to three
significant digits, never written in e-notation; a column of values shares one scale, written in
its header, so a reader compares digits, not exponents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: field-name suffix -> unit shown to a reader (longest suffix wins)
SUFFIX_UNITS: dict[str, str] = {
    "_usd": "$", "_usd_per_year": "$/year", "_usd_per_run": "$", "_usd_per_gpu_hour": "$/GPU-h",
    "_usd_per_mwh": "$/MWh", "_per_day": "/day", "_per_s": "/s", "_per_gpu": "/GPU",
    "_s": "s", "_ms": "ms", "_us": "µs", "_ns": "ns", "_h": "h", "_days": "days", "_day": "day",
    "_w": "W", "_kw": "kW", "_mw": "MW", "_gw": "GW", "_mwh": "MWh", "_gwh": "GWh", "_kwh": "kWh",
    "_hz": "Hz", "_gb": "GB", "_tb": "TB", "_gbs": "GB/s", "_tbps": "TB/s", "_gbps": "Gb/s",
    "_pct": "%", "_pp": "points", "_mmbtu": "MMBtu", "_t": "t",
    "_tflops": "TFLOP/s", "_tflops_per_gpu": "TFLOP/s", "_tokens": "tokens", "_gpus": "GPUs",
    "_mw_per_s": "MW/s",
}
#: names (or name prefixes before a percentile suffix) that are fractions of one, shown as %
FRACTIONS = ("mfu", "goodput", "band_frac", "utilisation", "efficiency", "share")
#: whole names with a unit their suffix does not say
NAMED_UNITS: dict[str, str] = {
    "usd_per_run": "$", "usd_per_run_rented": "$", "usd_per_million_tokens": "$/M tokens",
    "usd_per_gpu_hour": "$/GPU-h", "opex_usd_per_year": "$/year", "tokens": "tokens",
    "tokens_per_s": "tokens/s", "tokens_per_s_per_gpu": "tokens/s/GPU", "num_gpus": "GPUs",
    "gpus_used": "GPUs", "model_tflops_per_gpu": "TFLOP/s", "interruptions_per_day": "/day",
    "days_to_model_p50": "days", "days_to_model_p90": "days", "training_days_p50": "days",
    "training_days_p90": "days", "first_training_day_p50": "day", "full_size_day_p50": "day",
    "failure_free_training_days": "days", "capex_per_gpu_usd": "$",
}

#: headline figures: key -> (label, unit); also the order a headline is shown in
LABELS: dict[str, tuple[str, str]] = {
    "days_to_model_p50": ("Days from ground-breaking to trained model, p50", "days"),
    "days_to_model_p90": ("Days from ground-breaking to trained model, p90", "days"),
    "first_training_day_p50": ("First training day, p50", "day"),
    "full_size_day_p50": ("Cluster at full size, p50", "day"),
    "training_days_p50": ("Of which training, p50", "days"),
    "training_days_p90": ("Of which training, p90", "days"),
    "failure_free_training_days": ("Failure-free training time at full size", "days"),
    "plan": ("Chosen parallel plan (full size)", ""),
    "gpus_used": ("GPUs the plan uses", "GPUs"),
    "step_s": ("Step time", "s"),
    "tokens_per_s": ("Training throughput", "tokens/s"),
    "mfu": ("Model FLOPs utilisation (MFU)", "%"),
    "model_tflops_per_gpu": ("Model TFLOP/s per GPU", "TFLOP/s"),
    "goodput_p50": ("Goodput (useful / wall time), p50", "%"),
    "goodput_p10": ("Goodput, p10", "%"),
    "interruptions_per_day": ("Interruptions per day", "/day"),
    "it_mw": ("Critical IT load (nameplate)", "MW"),
    "facility_mw": ("Facility load (nameplate x PUE)", "MW"),
    "peak_mw": ("Peak facility draw while training", "MW"),
    "avg_mw": ("Average facility draw", "MW"),
    "swing_mw": ("Per-step IT power swing", "MW"),
    "swing_hz": ("Swing frequency", "Hz"),
    "site_fits": ("Site supply verdict", ""),
    "buildings_used": ("Buildings the cluster spans (their check is in the site verdict)", ""),
    "site_verdict": ("Site verdict: reason and smallest fix", ""),
    "energy_mwh": ("Energy of the training run", "MWh"),
    "capex_usd": ("Capital cost (capex)", "$"),
    "capex_per_gpu_usd": ("Capex per GPU, all in", "$"),
    "opex_usd_per_year": ("Operating cost (opex)", "$/year"),
    "usd_contract": ("Rental contract, billed in full", "$"),
    "usd_per_gpu_hour": ("Cost per GPU-hour at cost", "$/GPU-h"),
    "usd_per_run": ("Cost of the run at cost (capex share + opex)", "$"),
    "usd_per_run_rented": ("Same run rented (reserved rates)", "$"),
    "usd_per_million_tokens": ("Cost per million trained tokens", "$/M tokens"),
}

#: rented capacity (headline "capacity" == "rented"): the clock starts at contract signature
RENTED_LABELS: dict[str, str] = {
    "days_to_model_p50": "Days from contract signature to trained model, p50",
    "days_to_model_p90": "Days from contract signature to trained model, p90",
    "first_training_day_p50": "First training day (capacity ready)",
    "full_size_day_p50": "Cluster at full size",
    "usd_per_run": "Rent of the run's GPU-hours",
}

SCALES: tuple[tuple[float, str], ...] = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))
#: values at or above this are scaled (k is only used inside a column that needs it)
SCALE_FROM = 1e6


def unit_of(name: str) -> str:
    """The unit a field's name says it is in ("" when it says none)."""
    key = name.rsplit(".", 1)[-1].lower()
    if key in NAMED_UNITS:
        return NAMED_UNITS[key]
    if key in LABELS:
        return LABELS[key][1]
    if is_fraction(key):
        return "%"
    hits = [s for s in SUFFIX_UNITS if key.endswith(s)]
    return SUFFIX_UNITS[max(hits, key=len)] if hits else ""


def is_fraction(name: str) -> bool:
    key = name.rsplit(".", 1)[-1].lower()
    if key.endswith("_pct") or key.endswith("_pp"):
        return False
    return key.endswith("_frac") or any(key == f or key.startswith(f + "_") for f in FRACTIONS)


def label_of(name: str) -> str:
    """A headline label, or the name itself."""
    return LABELS[name][0] if name in LABELS else name


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _sig(x: float, digits: int = 3) -> str:
    """`x` to `digits` significant digits, fixed point, thousands separated (1,234 / 12.3 / 0.0123)."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    if abs(x) < 1e-3:  # tiny values: keep the significant digits without e-notation
        decimals = min(decimals, 9)
    return f"{x:,.{decimals}f}"


def scale_for(ax: float, money_: bool = False) -> tuple[float, str]:
    """The suffix scale for a magnitude: (1e9, "B") for 4.1e9; (1, "") below a million."""
    for s, suf in SCALES:
        if ax >= s and (ax >= SCALE_FROM or (money_ and ax >= 1e3)):
            return s, suf
    return 1.0, ""


def number(v: Any, unit: str = "", digits: int = 3) -> str:
    """One value with its unit: ``$6.19B``, ``135 MW``, ``25.9 %``, ``1.20T tokens``, ``1,024 GPUs``."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if not _is_number(v):
        return str(v)
    x = float(v)
    if not math.isfinite(x):
        return "–"
    if unit == "%":
        return f"{100 * x:.1f} %"
    money_ = unit.startswith("$")
    s, suf = scale_for(abs(x), money_)
    if isinstance(v, int) and s == 1.0:
        body = f"{v:,}"
    elif s == 1.0 and x.is_integer() and abs(x) < SCALE_FROM:
        body = f"{int(x):,}"
    else:
        body = _sig(x / s, digits) + suf
    if money_:
        sign = "-" if body.startswith("-") else ""
        rest = unit[1:]
        return f"{sign}${body.lstrip('-')}" + (rest if rest.startswith("/") else f" {rest}" if rest else "")
    return f"{body} {unit}" if unit else body


def headline_rows(head: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, value, unit) for each headline figure present, in :data:`LABELS` order; dollar values
    carry their sign in the value (``$6.19B``), other units go in the unit column."""
    out = []
    rented = head.get("capacity") == "rented"
    for key, (label, unit) in LABELS.items():
        v = head.get(key)
        if v is None or (rented and key == "usd_per_run_rented"):
            continue
        if rented:
            label = RENTED_LABELS.get(key, label)
        if key == "site_fits":
            out.append((label, "fits" if v else "DOES NOT FIT", ""))
            continue
        if unit.startswith("$"):
            out.append((label, number(v, "$"), unit[1:]))
        else:
            out.append((label, number(v, unit).removesuffix(f" {unit}") if unit else number(v), unit))
    return out


@dataclass(frozen=True)
class Column:
    """One column of a table: the field it shows, its header and unit."""

    key: str
    header: str = ""
    unit: str | None = None  # None: read it from the key

    @property
    def title(self) -> str:
        return self.header or self.key

    @property
    def the_unit(self) -> str:
        return unit_of(self.key) if self.unit is None else self.unit


def column_cells(values: Sequence[Any], unit: str = "") -> tuple[str, list[str]]:
    """Format a column in one notation: (the scale-and-unit for its header, the cells).

    Numbers share the scale of the largest (``("$B", ["4.11", "0.523"])``); integer columns under
    a million are written whole with separators; fractions as percentages; text is kept as is.
    """
    nums = [float(v) for v in values if _is_number(v) and math.isfinite(float(v))]
    if not nums:
        return unit, [number(v) if v is not None else "" for v in values]
    if unit == "%":
        return "%", [f"{100 * float(v):.1f}" if _is_number(v) else _text(v) for v in values]
    top = max(abs(x) for x in nums)
    money_ = unit.startswith("$")
    s, suf = scale_for(top, money_)
    whole = all(x.is_integer() for x in nums) and s == 1.0
    if whole:
        cells = [f"{int(float(v)):,}" if _is_number(v) and math.isfinite(float(v)) else _text(v) for v in values]
    else:
        # decimals so that the largest value shows `digits` significant digits, the same for all rows
        mag = math.floor(math.log10(top / s)) if top > 0 else 0
        decimals = max(0, 2 - mag)
        small = min((abs(x) / s for x in nums if abs(x) / s > 0), default=1.0)
        if small < 10 ** -decimals:  # keep a small value from rounding to zero
            decimals = min(6, max(decimals, 1 - math.floor(math.log10(small))))
        cells = [f"{float(v) / s:,.{decimals}f}" if _is_number(v) and math.isfinite(float(v)) else _text(v)
                 for v in values]
    if money_:
        scale = "$" + suf + unit[1:]
    else:
        scale = (suf + (" " if suf and unit else "") + unit) if (suf or unit) else ""
    return scale, cells


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return str(v)


def header(col: Column, scale: str) -> str:
    """A column header with its unit: ``capex_usd ($B)``; the unit is left out when the title has it."""
    words = col.title.replace("(", " ").replace(")", " ").split()
    if not scale or scale in words:
        return col.title
    return f"{col.title} ({scale})"


def format_rows(rows: Sequence[dict[str, Any]], cols: Sequence[Column]) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of a table, one notation per column."""
    heads: list[str] = []
    body: list[list[str]] = [[] for _ in rows]
    for c in cols:
        scale, cells = column_cells([r.get(c.key) for r in rows], c.the_unit)
        heads.append(header(c, scale))
        for line, cell in zip(body, cells, strict=True):
            line.append(cell)
    return heads, body


def numeric_column(rows: Sequence[dict[str, Any]], key: str) -> bool:
    return any(_is_number(r.get(key)) for r in rows)
