"""Fit the step engine's few global parameters on measured runs and write catalog/calibration.yaml.

    .venv/bin/python scripts/fit_calibration.py [--data ../shared/groundtruth/train.csv] [--write] [--cv]

Parameters (all global, none per row or per model; 13 on train.csv): bf16 GEMM efficiency per GPU
family (Blackwell Ultra shares Blackwell's), the low-precision/bf16 GEMM efficiency ratio per recipe
(fp8 and mxfp8 share one; fp8-rowwise; nvfp4), FlashAttention efficiency per architecture (Hopper,
Blackwell; Ampere is sourced), the GEMM size at half efficiency (one shape curve), the host launch
time of an MoE layer pass and per local expert (an MoE pass takes the longer of its GPU work and
its launches: the dispatcher syncs on the token counts), and the overlap fractions of DP and TP communication (no EP overlap fraction:
left free it fitted at ~0.0015, so the all-to-all is overlapped only in plans that set ep_comm_overlap). Objective: mean absolute percentage error plus a quarter of the worst per-GPU
MAPE (so no GPU type is sacrificed). ``--cv`` (``--cv-gpu``) refits with each source (each GPU type) held out
and reports the MAPE on the held-out rows: the out-of-sample figure. Needs scipy (dev dependency).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from gigafactory.perf.efficiency import (
    ATTN_FAMILY,
    GEMM_FAMILY,
    LOWP_RECIPE,
    Calibration,
    calibration,
    precision_class,
)
from gigafactory.perf.validate import predict, prepare_all, read_rows

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "groundtruth" / "train.csv"
OUT = REPO / "src" / "gigafactory" / "catalog" / "calibration.yaml"

SCALARS = {  # name: (lower, upper)
    "gemm_dim_half": (0.0, 2048.0),
    "host_moe_layer_s": (0.0, 5e-3),
    "host_expert_s": (0.0, 1e-3),  # per local expert
    "overlap_dp": (0.0, 1.0),
    "overlap_tp": (0.0, 1.0),
}
EFF_BOUNDS = (0.2, 0.95)


LOWP_BOUNDS = (0.3, 1.0)


def keys_in_data(prepared) -> tuple[list[str], list[str], list[str]]:
    """The GEMM families, FlashAttention architectures and low-precision recipes the rows exercise."""
    fams = [p.cluster.gpu.family for p in prepared]
    g = sorted({GEMM_FAMILY.get(f, f) for f in fams})
    a = sorted({ATTN_FAMILY.get(f, f) for f, p in zip(fams, prepared, strict=True) if p.flash})
    lp = sorted({LOWP_RECIPE.get(p.job.precision, p.job.precision) for p in prepared if precision_class(p.job.precision) != "bf16"})
    return g, a, lp


def unpack(x: np.ndarray, base: Calibration, keys) -> Calibration:
    gk, ak, lk = keys
    ge, ae, le = dict(base.gemm_eff), dict(base.attn_eff), dict(base.lowp_ratio)
    i = 0
    for d, ks in ((ge, gk), (ae, ak), (le, lk)):
        d.update({k: float(v) for k, v in zip(ks, x[i: i + len(ks)], strict=True)})
        i += len(ks)
    kw = {n: float(v) for n, v in zip(SCALARS, x[i:], strict=True)}
    return base.replace(gemm_eff=ge, attn_eff=ae, lowp_ratio=le, **kw)


def errors(prepared, calib: Calibration) -> tuple[np.ndarray, list[str], list[str]]:
    errs = [100.0 * (predict(p, calib)[0] - p.measured) / p.measured for p in prepared]
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


def objective(x, prepared, base, keys) -> float:
    errs, gpus, _ = errors(prepared, unpack(x, base, keys))
    errs = np.abs(np.clip(errs, -300, 300))
    worst = max(np.mean([e for e, g in zip(errs, gpus, strict=True) if g == k]) for k in set(gpus))
    return float(np.mean(errs) + 0.25 * worst)


def _scaled(u, prepared, base, keys, lo, hi) -> float:
    return objective(lo + np.asarray(u) * (hi - lo), prepared, base, keys)


def fit(prepared, base: Calibration, maxfev: int, x0: np.ndarray | None = None) -> tuple[Calibration, list[str]]:
    """Powell on every parameter rescaled to [0, 1] over its bounds (the raw parameters span 1e-4 s to
    hundreds, and Powell's tolerances are absolute)."""
    keys = keys_in_data(prepared)
    gk, ak, lk = keys
    if x0 is None:
        x0 = [base.gemm_eff.get(k, 0.6) for k in gk] + [base.attn_eff.get(k, 0.5) for k in ak]
        x0 += [base.lowp_ratio.get(k, 0.9) for k in lk]
        x0 = np.asarray(x0 + [getattr(base, n) for n in SCALARS], dtype=float)
    bounds = [EFF_BOUNDS] * (len(gk) + len(ak)) + [LOWP_BOUNDS] * len(lk) + list(SCALARS.values())
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    u0 = (np.clip(x0, lo, hi) - lo) / (hi - lo)
    res = minimize(_scaled, u0, args=(prepared, base, keys, lo, hi), method="Powell", bounds=[(0.0, 1.0)] * lo.size,
                   options={"maxfev": maxfev, "xtol": 1e-3, "ftol": 1e-4})
    x = lo + np.clip(res.x, 0.0, 1.0) * (hi - lo)
    if _scaled(np.clip(res.x, 0, 1), prepared, base, keys, lo, hi) > objective(np.clip(x0, lo, hi), prepared, base, keys):
        x = np.clip(x0, lo, hi)  # never return a worse point than the start
    names = [f"gemm_eff.{k}" for k in gk] + [f"attn_eff.{k}" for k in ak] + [f"lowp_ratio.{k}" for k in lk] + list(SCALARS)
    return unpack(x, base, keys), names


PARENT = {"blackwell-ultra": "blackwell", "blackwell": "hopper", "hopper": "ampere"}


def _fold(args) -> tuple[str, list[float], list[str], list[str]]:
    label, train, test, base, maxfev = args
    c, _ = fit(train, base, maxfev)
    # a family (or attention architecture) absent from the training rows takes its predecessor's
    # fitted value, as a new GPU would, and a low-precision recipe absent from them the plain fp8
    # ratio, as a new recipe would: nothing fitted on the held-out rows leaks into the test
    gk, ak, lk = keys_in_data(train)
    tg, ta, tl = keys_in_data(test)
    ge, ae, le = dict(c.gemm_eff), dict(c.attn_eff), dict(c.lowp_ratio)
    for fam in set(tg) - set(gk):
        par = PARENT.get(fam)
        while par and par not in gk:
            par = PARENT.get(par)
        ge[fam] = ge[par] if par else float(np.median([ge[k] for k in gk]))
    for fam in set(ta) - set(ak):
        ae[fam] = ae[PARENT[fam]] if PARENT.get(fam) in ak else float(np.median([ae[k] for k in ak]))
    for recipe in set(tl) - set(lk):
        le[recipe] = le["fp8"] if "fp8" in lk else float(np.median([le[k] for k in lk]))
    c = c.replace(gemm_eff=ge, attn_eff=ae, lowp_ratio=le)
    e, g, s = errors(test, c)
    return label, list(e), g, s


def cross_validate(prepared, base: Calibration, maxfev: int, by: str) -> str:
    """Refit without each group (source or GPU type); MAPE of the held-out rows."""
    keyf = (lambda p: p.source) if by == "source" else (lambda p: p.gpu)
    groups = sorted({keyf(p) for p in prepared})
    jobs = [(k, [p for p in prepared if keyf(p) != k], [p for p in prepared if keyf(p) == k], base, maxfev)
            for k in groups]
    errs, gpus, srcs = [], [], []
    with ProcessPoolExecutor(max_workers=2) as ex:
        for _, e, g, s in ex.map(_fold, jobs):
            errs += e
            gpus += g
            srcs += s
    return report(np.asarray(errs), gpus, srcs)


def write_yaml(c: Calibration, n: int, summary: str, names: list[str], cv: str) -> None:
    src = f"fitted by scripts/fit_calibration.py on shared/groundtruth/train.csv ({n} rows)"
    fitted_attn = sorted(k.split(".", 1)[1] for k in names if k.startswith("attn_eff."))
    lines = [
        "# Global parameters of the step-time engine, fitted on measured runs. Regenerate with",
        "#   .venv/bin/python scripts/fit_calibration.py --write [--cv]",
        f"# {len(names)} fitted parameters: {', '.join(names)}",
        "# in-sample:",
        *[f"#   {s}" for s in summary.splitlines()],
        *(["# cross-validated (refit without the held-out group):", *[f"#   {s}" for s in cv.splitlines()]] if cv else []),
        "compute:",
        f'  source: "{src}"',
        "  gemm_eff:  # bf16, large GEMMs, per GPU family",
        *[f"    {k}: {v:.4f}" for k, v in sorted(c.gemm_eff.items()) if k not in GEMM_FAMILY],
        "  lowp_ratio:  # GEMM efficiency over bf16 per low-precision recipe (mxfp8 shares fp8's: LOWP_RECIPE)",
        *[f"    {k}: {v:.4f}" for k, v in sorted(c.lowp_ratio.items())],
        "  attn_eff:  # FlashAttention, of the bf16 peak",
        *[f"    {k}: {c.attn_eff[k]:.4f}" for k in fitted_attn],
        f"  gemm_dim_half: {c.gemm_dim_half:.1f}",
        f"  host_moe_layer_us: {c.host_moe_layer_s * 1e6:.2f}  # CPU launch time of an MoE layer pass after its dispatch sync",
        f"  host_expert_us: {c.host_expert_s * 1e6:.2f}  # extra launch time per local expert (E/ep) of an MoE layer pass",
        "overlap:",
        f'  source: "{src}"',
        f"  dp: {c.overlap_dp:.4f}",
        f"  tp: {c.overlap_tp:.4f}",
        "attention-sourced:",
        '  source: "Dao 2023, \'FlashAttention-2\' (abstract and Sec. 4.1): forward+backward reach 50-73% of the A100\'s '
        '312 TFLOP/s bf16 peak at head dimension 64-128; not fitted (the Ampere rows of train.csv run unfused attention)"',
        "  attn_eff:",
        "    ampere: {value: 0.55, estimate: true}",
        "  fa3_speedup_over_fa2:",
        '    hopper: {value: 1.75, source: "Shah et al. 2024, \'FlashAttention-3\' (abstract): 1.5-2.0x faster than '
        'FlashAttention-2 on H100 (FA-2 reaches 35% of the H100 peak, FA-3 up to 75%); midpoint"}',
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--write", action="store_true", help="write catalog/calibration.yaml")
    ap.add_argument("--cv", action="store_true", help="also report leave-one-source-out MAPE")
    ap.add_argument("--cv-gpu", action="store_true", help="also report leave-one-GPU-type-out MAPE")
    ap.add_argument("--maxfev", type=int, default=1500)
    args = ap.parse_args()
    prepared, skipped = prepare_all(read_rows(args.data))
    if skipped:
        print(f"skipped {len(skipped)} rows: {skipped[:3]}")
    base = calibration()
    print("before:\n" + report(*errors(prepared, base)))
    fitted, names = fit(prepared, base, args.maxfev)
    summary = report(*errors(prepared, fitted))
    print("after (in-sample):\n" + summary)
    print(f"{len(names)} fitted parameters:")
    flat = {**{f"gemm_eff.{k}": v for k, v in fitted.gemm_eff.items()}, **{f"attn_eff.{k}": v for k, v in fitted.attn_eff.items()},
            **{f"lowp_ratio.{k}": v for k, v in fitted.lowp_ratio.items()}}
    for n in names:
        print(f"  {n} = {flat[n] if n in flat else getattr(fitted, n):.4g}")
    cv = ""
    if args.cv:
        cv_maxfev = max(200, args.maxfev // 3)
        cv = "leave-one-source-out: " + cross_validate(prepared, fitted, cv_maxfev, "source")
    if args.cv_gpu:
        cv_maxfev = max(200, args.maxfev // 3)
        cv += "\nleave-one-GPU-out: " + cross_validate(prepared, fitted, cv_maxfev, "gpu")
    if cv:
        print("cross-validated:\n" + cv)
    if args.write:
        write_yaml(fitted, len(prepared), summary, names, cv)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
