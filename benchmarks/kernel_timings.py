"""Time real GEMMs, attention and RMSNorm on the GPU at hand and set them beside the step engine's terms.

    python benchmarks/kernel_timings.py [--gpu h100-sxm] [--out timings.csv]

Needs PyTorch with CUDA (not a project dependency: run it on a GPU machine). For each shape of the
engine's items (a Llama-class layer's linear GEMMs split over TP 1/2/4/8, per-expert grouped-GEMM
sizes, causal attention at 1k-16k tokens, RMSNorm over 8k x hidden) it prints the measured time
(CUDA events, median of 20 after 5 warm-up runs), the engine's prediction for the same shape
(perf.gemm.gemm_time / perf.attention.flash_times / perf.memory_bound at the fitted calibration) and
their ratio. The CSV it writes is the raw material for a sourced catalog entry (gpu, torch/CUDA
versions, date); it is never read by tests. Without a CUDA device it says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import sys

from gigafactory import catalog
from gigafactory.perf.attention import core_flops, flash_times
from gigafactory.perf.batch import devices
from gigafactory.perf.efficiency import calibration, compute_clock_factor, exp_rate
from gigafactory.perf.gemm import gemm_time
from gigafactory.perf.memory_bound import op_bytes
from gigafactory.resolve import model
from gigafactory.specs import Gpu, Job

GEMMS = [(8192, 4096 * 3 // tp, 4096) for tp in (1, 2, 4, 8)] + [(8192, 4096, 14336 // tp) for tp in (1, 2, 4, 8)] \
    + [(m, 768, 2048) for m in (256, 1024, 4096, 16384)]
ATTENTION = [(s, 32, 128) for s in (1024, 2048, 4096, 8192, 16384)]


def _median_ms(fn, torch) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(5):
        fn()
    times = []
    for _ in range(20):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", default="h100-sxm", help="catalog GPU id of the device")
    ap.add_argument("--out", default="kernel_timings.csv")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("kernel_timings: PyTorch is not installed; run on a GPU machine with torch", file=sys.stderr)
        return 0
    if not torch.cuda.is_available():
        print("kernel_timings: no CUDA device here; nothing timed", file=sys.stderr)
        return 0
    gpu = Gpu.model_validate(catalog.entry("gpus", args.gpu))
    from gigafactory.perf.validate import row_cluster

    cluster = row_cluster(args.gpu, 8)
    job = Job(model=model("llama3-8b"), tokens=1e12, seq_len=8192, global_batch=8)
    c = calibration()
    _, dev16, hbm = devices(job, cluster, c)
    rows = []
    for M, N, K in GEMMS:
        a = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(K, N, device="cuda", dtype=torch.bfloat16)
        t = _median_ms(lambda a=a, b=b: a @ b, torch) * 1e-3
        p = float(gemm_time(dev16, M, N, K))
        rows.append(("gemm-bf16", f"{M}x{N}x{K}", t, p))
    clock = compute_clock_factor(gpu)
    for s, heads, d in ATTENTION:
        q, k, v = (torch.randn(1, heads, s, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        t = _median_ms(lambda q=q, k=k, v=v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True),
                       torch) * 1e-3
        flops = core_flops(s, s, heads, d, d)
        p = float(flash_times(gpu, "fa2", flops, s * s * heads * 0.5, s, gpu.peak("bf16") * 1e12 * clock,
                              exp_rate(gpu) * clock, c.attention_scale(gpu))[0])
        rows.append(("attention-sdpa-causal-fwd", f"s{s} h{heads} d{d}", t, p))
    x = torch.randn(8192, 4096, device="cuda", dtype=torch.bfloat16)
    norm = torch.nn.RMSNorm(4096, device="cuda", dtype=torch.bfloat16)
    t = _median_ms(lambda: norm(x), torch) * 1e-3
    rows.append(("rmsnorm-eager-fwd", "8192x4096", t, 8192 * 4096 * op_bytes("rmsnorm", False, "fwd") / hbm))
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["kernel", "shape", "measured_s", "model_s", "model_over_measured", "gpu", "torch", "cuda"])
        for kind, shape, t, p in rows:
            w.writerow([kind, shape, f"{t:.6g}", f"{p:.6g}", f"{p / t:.3f}", args.gpu, torch.__version__, torch.version.cuda])
            print(f"{kind:28s} {shape:18s} measured {t * 1e3:9.3f} ms  model {p * 1e3:9.3f} ms  ratio {p / t:5.2f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
