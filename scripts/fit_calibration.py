"""Fit the step engine's few global parameters on measured runs and write catalog/calibration.yaml.

    .venv/bin/python scripts/fit_calibration.py [--data ../shared/groundtruth/train.csv] [--write]

Parameters (all global, none per row or per model): GEMM efficiency per GPU family x precision,
FlashAttention efficiency per family, the GEMM size at half efficiency, a fixed overhead per layer
and per MoE layer, and the overlap fractions of DP, TP and EP communication. Objective: mean
absolute percentage error plus a quarter of the worst per-GPU MAPE (so no GPU type is sacrificed).
Needs scipy (dev dependency); the package itself does not.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from gigafactory.perf.efficiency import Calibration, calibration
from gigafactory.perf.validate import predict, prepare_all, read_rows

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "groundtruth" / "train.csv"
OUT = REPO / "src" / "gigafactory" / "catalog" / "calibration.yaml"

SCALARS = {  # name: (lower, upper)
    "gemm_dim_half": (0.0, 2048.0),
    "layer_overhead_s": (0.0, 3e-4),
    "moe_overhead_s": (0.0, 3e-3),
    "overlap_dp": (0.0, 1.0),
    "overlap_tp": (0.0, 1.0),
    "overlap_ep": (0.0, 0.9),
}


def keys_in_data(prepared) -> tuple[list[str], list[str]]:
    from gigafactory.perf.efficiency import precision_class

    g = sorted({f"{p.cluster.gpu.family}-{precision_class(p.job.precision)}" for p in prepared})
    a = sorted({p.cluster.gpu.family for p in prepared if p.flash})  # unfused rows do not use it
    return g, a


def unpack(x: np.ndarray, base: Calibration, gk: list[str], ak: list[str]) -> Calibration:
    i = 0
    ge = dict(base.gemm_eff)
    for k in gk:
        ge[k] = float(x[i])
        i += 1
    ae = dict(base.attn_eff)
    for k in ak:
        ae[k] = float(x[i])
        i += 1
    kw = {n: float(x[i + j]) for j, n in enumerate(SCALARS)}
    return base.replace(gemm_eff=ge, attn_eff=ae, **kw)


def errors(prepared, calib: Calibration) -> tuple[np.ndarray, list[str], list[str]]:
    errs = []
    for p in prepared:
        val, _, _ = predict(p, calib)
        errs.append(100.0 * (val - p.measured) / p.measured)
    return np.asarray(errs), [p.gpu for p in prepared], [p.source for p in prepared]


def report(errs: np.ndarray, gpus: list[str], srcs: list[str]) -> str:
    lines = [f"overall: n={len(errs)} MAPE {np.mean(np.abs(errs)):.1f}%"]
    for name, keys in (("gpu", gpus), ("source", srcs)):
        groups: dict[str, list[float]] = defaultdict(list)
        for e, k in zip(errs, keys, strict=True):
            groups[k].append(abs(e))
        for k in sorted(groups):
            lines.append(f"  {name} {k}: n={len(groups[k])} MAPE {np.mean(groups[k]):.1f}%")
    return "\n".join(lines)


def objective(x, prepared, base, gk, ak) -> float:
    errs, gpus, _ = errors(prepared, unpack(x, base, gk, ak))
    errs = np.abs(np.clip(errs, -300, 300))
    worst = max(np.mean([e for e, g in zip(errs, gpus, strict=True) if g == k]) for k in set(gpus))
    return float(np.mean(errs) + 0.25 * worst)


def write_yaml(c: Calibration, n: int, summary: str) -> None:
    src = f"fitted by scripts/fit_calibration.py on shared/groundtruth/train.csv ({n} rows)"
    lines = [
        "# Global parameters of the step-time engine, fitted on measured runs. Regenerate with",
        "#   .venv/bin/python scripts/fit_calibration.py --write",
        *[f"# {s}" for s in summary.splitlines()],
        "compute:",
        f'  source: "{src}"',
        "  gemm_eff:",
        *[f"    {k}: {v:.4f}" for k, v in sorted(c.gemm_eff.items())],
        "  attn_eff:",
        *[f"    {k}: {v:.4f}" for k, v in sorted(c.attn_eff.items())],
        f"  gemm_dim_half: {c.gemm_dim_half:.1f}",
        f"  layer_overhead_us: {c.layer_overhead_s * 1e6:.2f}",
        f"  moe_layer_overhead_us: {c.moe_overhead_s * 1e6:.2f}",
        "overlap:",
        f'  source: "{src}"',
        f"  dp: {c.overlap_dp:.4f}",
        f"  tp: {c.overlap_tp:.4f}",
        f"  ep: {c.overlap_ep:.4f}",
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--write", action="store_true", help="write catalog/calibration.yaml")
    ap.add_argument("--maxfev", type=int, default=4000)
    args = ap.parse_args()
    prepared, skipped = prepare_all(read_rows(args.data))
    if skipped:
        print(f"skipped {len(skipped)} rows: {skipped[:3]}")
    base = calibration()
    gk, ak = keys_in_data(prepared)
    x0 = [base.gemm_eff.get(k, 0.6) for k in gk]
    x0 += [base.attn_eff.get(k, 0.5) for k in ak]
    x0 += [getattr(base, n) for n in SCALARS]
    bounds = [(0.15, 0.98)] * (len(gk) + len(ak)) + list(SCALARS.values())
    x0 = np.clip(np.asarray(x0, dtype=float), [b[0] for b in bounds], [b[1] for b in bounds])
    print("before:\n" + report(*errors(prepared, unpack(x0, base, gk, ak))))
    res = minimize(objective, x0, args=(prepared, base, gk, ak), method="Powell", bounds=bounds,
                   options={"maxfev": args.maxfev, "xtol": 1e-3, "ftol": 1e-4})
    fitted = unpack(res.x, base, gk, ak)
    summary = report(*errors(prepared, fitted))
    print("after:\n" + summary)
    for k, v in zip(gk + ak + list(SCALARS), res.x, strict=True):
        print(f"  {k} = {v:.4g}")
    if args.write:
        write_yaml(fitted, len(prepared), summary)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
