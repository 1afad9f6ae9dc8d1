"""Fit the step engine's few global parameters on measured runs and write catalog/calibration.yaml.

    .venv/bin/python scripts/fit_calibration.py [--data ../shared/groundtruth/train.csv] [--write] [--cv] [--cv-gpu]

Parameters (all global, none per row or per model; the list and their plausible ranges are
``gigafactory.perf.efficiency.RANGES``): the in-training GEMM rate over the measured Maximum
Achievable Matmul FLOPS per GPU family (Blackwell Ultra shares Blackwell's), the GEMM rate over the
fp8 ceiling of the two recipes without a measured one (row-wise fp8, NVFP4), the in-training
attention rate over the kernels' published rates, the host time per launched kernel, and the
overlap fractions of DP and TP communication. The fit is bounded by each plausible range and prints
every value beside it, flagging any that ends on a bound (a term is missing there).

Objective: mean absolute percentage error plus a quarter of the worst per-GPU MAPE (so no GPU type
is sacrificed). ``--cv`` (``--cv-gpu``) refits with each source (each GPU type) held out and
reports the MAPE on the held-out rows; a family, or a recipe, absent from a fold's training rows
takes its predecessor's fitted value (a recipe: the median of the fitted recipes, else 1), and a
fold without MoE rows sets the two MoE-only parameters to neutral values (``NEUTRAL``), so nothing
fitted on the held-out rows leaks into its test. Needs scipy (dev dependency).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from gigafactory.perf.efficiency import FITTED_RECIPES, GEMM_FAMILY, RANGES, Calibration, calibration
from gigafactory.perf.validate import predict, prepare_all, read_rows

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "groundtruth" / "train.csv"
OUT = REPO / "src" / "gigafactory" / "catalog" / "calibration.yaml"
SCALARS = ("grouped_gemm_scale", "host_kernel_s", "overlap_dp", "overlap_tp")
#: where a fold's training rows cannot identify a parameter (no MoE rows: the grouped GEMMs and the
#: launch floor, which only MoE rows exercise), it takes this neutral value instead of the full fit's.
#: Grouped GEMMs at the dense rate is also what is measured: Megatron-LM's DeepSeek-V3 GB200 guide
#: times Transformer Engine's MXFP8 grouped GEMM at 2,672 TFLOP/s (K 7,168, N 2,048), about this
#: model's in-training dense rate at that shape; the full fit's 0.48 carries a missing MoE term
NEUTRAL = {"grouped_gemm_scale": 1.0, "host_kernel_s": 10e-6}
PARENT = {"blackwell": "hopper", "hopper": "ampere"}


def keys_in_data(prepared) -> tuple[list[str], list[str], list[str]]:
    """The GEMM families, the families whose rows run flash attention, and the fitted low-precision
    recipes the rows exercise."""
    fams = sorted({GEMM_FAMILY.get(p.cluster.gpu.family, p.cluster.gpu.family) for p in prepared})
    attn = sorted({GEMM_FAMILY.get(p.cluster.gpu.family, p.cluster.gpu.family) for p in prepared if p.flash})
    recipes = sorted({p.job.precision for p in prepared if p.job.precision in FITTED_RECIPES})
    return fams, attn, recipes


def names_of(keys) -> list[str]:
    fams, attn, recipes = keys
    return ([f"gemm_scale.{k}" for k in fams] + [f"attn_scale.{k}" for k in attn] + [f"lowp_ratio.{k}" for k in recipes]
            + list(SCALARS))


def bounds_of(names: list[str]) -> list[tuple[float, float]]:
    return [RANGES[n.split(".")[0]] for n in names]


def unpack(x: np.ndarray, base: Calibration, keys) -> Calibration:
    fams, attn, recipes = keys
    gs, at, lr = dict(base.gemm_scale), dict(base.attn_scale), dict(base.lowp_ratio)
    i = 0
    for d, ks in ((gs, fams), (at, attn), (lr, recipes)):
        d.update({k: float(v) for k, v in zip(ks, x[i: i + len(ks)], strict=True)})
        i += len(ks)
    return base.replace(gemm_scale=gs, attn_scale=at, lowp_ratio=lr,
                        **{n: float(v) for n, v in zip(SCALARS, x[i:], strict=True)})


def pack(c: Calibration, keys) -> np.ndarray:
    fams, attn, recipes = keys
    return np.asarray([c.gemm_scale.get(k, 0.9) for k in fams] + [c.attn_scale.get(k, 0.7) for k in attn]
                      + [c.lowp_ratio.get(k, 0.7) for k in recipes] + [getattr(c, n) for n in SCALARS], dtype=float)


def errors(prepared, calib: Calibration) -> tuple[np.ndarray, list[str], list[str]]:
    errs = [100.0 * (predict(p, calib)[0] - p.measured) / p.measured for p in prepared]
    return np.asarray(errs), [p.gpu for p in prepared], [p.source for p in prepared]


def report(errs: np.ndarray, gpus: list[str], srcs: list[str], moe: list[bool] | None = None) -> str:
    lines = [f"overall: n={len(errs)} MAPE {np.mean(np.abs(errs)):.1f}%"]
    if moe is not None and any(moe):
        e = np.abs(errs)[np.asarray(moe)]
        lines.append(f"  MoE rows: n={e.size} MAPE {e.mean():.1f}%; dense rows: n={len(errs) - e.size} "
                     f"MAPE {np.abs(errs)[~np.asarray(moe)].mean():.1f}%")
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


def fit(prepared, base: Calibration, maxfev: int) -> tuple[Calibration, list[str]]:
    """Powell on every parameter rescaled to [0, 1] over its plausible range."""
    keys = keys_in_data(prepared)
    names = names_of(keys)
    b = bounds_of(names)
    lo, hi = np.array([x[0] for x in b]), np.array([x[1] for x in b])
    x0 = np.clip(pack(base, keys), lo, hi)

    def f(u):
        return objective(lo + np.clip(u, 0, 1) * (hi - lo), prepared, base, keys)

    u0 = (x0 - lo) / (hi - lo)
    res = minimize(f, u0, method="Powell", bounds=[(0.0, 1.0)] * lo.size,
                   options={"maxfev": maxfev, "xtol": 1e-3, "ftol": 1e-4})
    u = np.clip(res.x, 0.0, 1.0)
    x = lo + u * (hi - lo) if f(u) <= f(u0) else x0  # never return a worse point than the start
    return unpack(x, base, keys), names


def value_of(c: Calibration, name: str) -> float:
    head, _, key = name.partition(".")
    return float(getattr(c, head)[key]) if key else float(getattr(c, head))


def print_ranges(c: Calibration, names: list[str]) -> None:
    for n in names:
        lo, hi = RANGES[n.split(".")[0]]
        v = value_of(c, n)
        edge = "  <- ON A BOUND: a term is missing" if min(v - lo, hi - v) <= 1e-3 * (hi - lo) else ""
        unit, k = ("us", 1e6) if n == "host_kernel_s" else ("", 1.0)
        print(f"  {n:24s} = {v * k:8.4g}{unit}   plausible range [{lo * k:g}, {hi * k:g}]{edge}")


def _fold(args) -> tuple[str, list[float], list[str], list[str], list[bool]]:
    label, train, test, base, maxfev = args
    c, _ = fit(train, base, maxfev)
    fams, attn, recipes = keys_in_data(train)
    tf, ta, tr = keys_in_data(test)
    gs, at, lr = dict(c.gemm_scale), dict(c.attn_scale), dict(c.lowp_ratio)
    for d, have, need in ((gs, fams, tf), (at, attn, ta)):
        for fam in set(need) - set(have):  # a new family takes its predecessor's value, as a new GPU would
            par = PARENT.get(fam)
            while par and par not in have:
                par = PARENT.get(par)
            d[fam] = d[par] if par else float(np.median([d[k] for k in have]))
    for r in set(tr) - set(recipes):  # a recipe absent from training: the fitted recipes' median, else 1
        lr[r] = float(np.median([lr[k] for k in recipes])) if recipes else 1.0
    c = c.replace(gemm_scale=gs, attn_scale=at, lowp_ratio=lr)
    if not any(p.job.model.moe is not None for p in train):
        c = c.replace(**NEUTRAL)
    e, g, s = errors(test, c)
    return label, list(e), g, s, [p.job.model.moe is not None for p in test]


def cross_validate(prepared, base: Calibration, maxfev: int, by: str, workers: int) -> str:
    """Refit without each group (source or GPU type); MAPE of the held-out rows."""
    keyf = (lambda p: p.source) if by == "source" else (lambda p: p.gpu)
    groups = sorted({keyf(p) for p in prepared})
    jobs = [(k, [p for p in prepared if keyf(p) != k], [p for p in prepared if keyf(p) == k], base, maxfev)
            for k in groups]
    errs, gpus, srcs, moe = [], [], [], []
    with ProcessPoolExecutor(max_workers=workers) as ex:
        for _, e, g, s, mo in ex.map(_fold, jobs):
            errs += e
            gpus += g
            srcs += s
            moe += mo
    return report(np.asarray(errs), gpus, srcs, moe)


def write_yaml(c: Calibration, n: int, summary: str, names: list[str], cv: str) -> None:
    src = f"fitted by scripts/fit_calibration.py on shared/groundtruth/train.csv ({n} rows)"
    rng = {k: f"[{lo:g}, {hi:g}]" for k, (lo, hi) in RANGES.items()}
    lines = [
        "# Global parameters of the step-time engine, fitted on measured runs. Regenerate with",
        "#   .venv/bin/python scripts/fit_calibration.py --write [--cv] [--cv-gpu]",
        f"# {len(names)} fitted parameters (plausible ranges: gigafactory.perf.efficiency.RANGES): {', '.join(names)}",
        "# in-sample:",
        *[f"#   {s}" for s in summary.splitlines()],
        *(["# cross-validated (refit without the held-out group):", *[f"#   {s}" for s in cv.splitlines()]] if cv else []),
        "compute:",
        f'  source: "{src}"',
        f"  gemm_scale:  # in-training GEMM rate over the measured MAMF (perf.yaml gemm-mamf), per family; range {rng['gemm_scale']}",
        *[f"    {k}: {v:.4f}" for k, v in sorted(c.gemm_scale.items()) if k not in GEMM_FAMILY],
        f"  lowp_ratio:  # GEMM rate over the fp8 MAMF, recipes without a measured ceiling; range {rng['lowp_ratio']}",
        *[f"    {k}: {v:.4f}" for k, v in sorted(c.lowp_ratio.items())],
        f"  attn_scale:  # in-training attention over the kernels' published rates, per family; range {rng['attn_scale']}",
        *[f"    {k}: {v:.4f}" for k, v in sorted(c.attn_scale.items()) if k not in GEMM_FAMILY],
        f"  grouped_gemm_scale: {c.grouped_gemm_scale:.4f}  # MoE grouped GEMMs over dense ones; range {rng['grouped_gemm_scale']}",
        f"  host_kernel_us: {c.host_kernel_s * 1e6:.3f}  # host time per launched kernel; range [2, 40] us",
        "overlap:",
        f'  source: "{src}"',
        f"  dp: {c.overlap_dp:.4f}  # range {rng['overlap_dp']}",
        f"  tp: {c.overlap_tp:.4f}  # range {rng['overlap_tp']}",
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--write", action="store_true", help="write catalog/calibration.yaml")
    ap.add_argument("--cv", action="store_true", help="also report leave-one-source-out MAPE")
    ap.add_argument("--cv-gpu", action="store_true", help="also report leave-one-GPU-type-out MAPE")
    ap.add_argument("--maxfev", type=int, default=1200)
    ap.add_argument("--workers", type=int, default=2, help="processes for the cross-validation folds")
    args = ap.parse_args()
    t0 = time.perf_counter()
    prepared, skipped = prepare_all(read_rows(args.data))
    if skipped:
        print(f"skipped {len(skipped)} rows: {skipped[:3]}")
    moe = [p.job.model.moe is not None for p in prepared]
    base = calibration()
    print("before:\n" + report(*errors(prepared, base), moe))
    fitted, names = fit(prepared, base, args.maxfev)
    summary = report(*errors(prepared, fitted), moe)
    print("after (in-sample):\n" + summary)
    print(f"{len(names)} fitted parameters, each beside its plausible range:")
    print_ranges(fitted, names)
    cv = ""
    cv_maxfev = max(200, args.maxfev // 3)
    if args.cv:
        cv = "leave-one-source-out: " + cross_validate(prepared, fitted, cv_maxfev, "source", args.workers)
    if args.cv_gpu:
        cv += ("\n" if cv else "") + "leave-one-GPU-out: " + cross_validate(prepared, fitted, cv_maxfev, "gpu", args.workers)
    if cv:
        print("cross-validated:\n" + cv)
    if args.write:
        write_yaml(fitted, len(prepared), summary, names, cv)
        print(f"wrote {OUT}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
