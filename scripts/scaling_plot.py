"""Plot the scale study: docs/scaling.png and the markdown table of docs/scaling.md.

    gigafactory sweep examples/sweep-scaling.yaml      # the sweep (results in sweeps/sweep-scaling)
    python scripts/scaling_plot.py [RESULTS_DIR] [--png docs/scaling.png]

Reads the sweep's Parquet rows, draws four panels against cluster size (wall-clock and failure-free
training days; goodput and the mean time between interruptions; MFU and GPUs the plan uses; facility
power and turbines, with the fabric's tiers) for each global batch, and prints the table.
Needs matplotlib (a dev dependency: ``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
TABLE_COLUMNS = [
    ("cluster_num_gpus", "GPUs", "{:,.0f}"),
    ("job_global_batch", "batch (seq)", "{:,.0f}"),
    ("gpus_used", "GPUs used", "{:,.0f}"),
    ("failure_free_training_days", "failure-free days", "{:.1f}"),
    ("training_days_p50", "wall days p50", "{:.1f}"),
    ("mfu", "MFU", "{:.1%}"),
    ("goodput_p50", "goodput", "{:.0%}"),
    ("mttf_min", "MTTF min", "{:.1f}"),
    ("checkpoint_interval_min", "ckpt every min", "{:.2f}"),
    ("fabric_tiers", "tiers", "{:.0f}"),
    ("planes_for_3_tiers", "planes for 3 tiers", "{:.0f}"),
    ("facility_mw", "facility MW", "{:,.0f}"),
    ("swing_mw", "swing MW", "{:,.0f}"),
    ("turbines_for_all_load", "turbines (all gas)", "{:.0f}"),
    ("buildings_used", "buildings", "{:.0f}"),
]


def load(results: Path) -> list[dict]:
    files = sorted(glob.glob(str(results / "*.parquet")))
    if not files:
        raise SystemExit(f"no results in {results}: run `gigafactory sweep examples/sweep-scaling.yaml` first")
    rows = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default").to_pylist()
    bad = [r for r in rows if r.get("error")]
    if bad:
        raise SystemExit(f"{len(bad)} points failed, e.g. {bad[0]['error']}")
    return sorted(rows, key=lambda r: (r["job_global_batch"], r["cluster_num_gpus"]))


def table(rows: list[dict]) -> str:
    head = "| " + " | ".join(h for _, h, _ in TABLE_COLUMNS) + " |"
    rule = "|" + "---|" * len(TABLE_COLUMNS)
    body = ["| " + " | ".join(f.format(r[k]) for k, _, f in TABLE_COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def plot(rows: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = sorted({r["job_global_batch"] for r in rows})
    fig, ax = plt.subplots(2, 2, figsize=(12, 8.5), constrained_layout=True)
    for b in batches:
        sel = [r for r in rows if r["job_global_batch"] == b]
        n = [r["cluster_num_gpus"] for r in sel]
        tok = sel[0]["job_global_batch"] * 8192 / 1e6
        lab = f"batch {b:,} seq ({tok:,.0f}M tokens)"
        ax[0, 0].plot(n, [r["training_days_p50"] for r in sel], "o-", label=f"wall, {lab}")
        ax[0, 0].plot(n, [r["failure_free_training_days"] for r in sel], "x--", label=f"failure-free, {lab}")
        ax[1, 0].plot(n, [r["mfu"] * 100 for r in sel], "o-", label=f"MFU %, {lab}")
        ax[1, 0].plot(n, [100 * r["gpus_used"] / r["cluster_num_gpus"] for r in sel], "x--",
                      label=f"GPUs used %, {lab}")
    one = [r for r in rows if r["job_global_batch"] == batches[-1]]
    n = [r["cluster_num_gpus"] for r in one]
    ax[0, 1].plot(n, [r["goodput_p50"] * 100 for r in one], "o-", color="C3", label="goodput %")
    tw = ax[0, 1].twinx()
    tw.plot(n, [r["mttf_min"] for r in one], "s--", color="C4", label="MTTF (min)")
    tw.plot(n, [r["checkpoint_interval_min"] for r in one], "^:", color="C5", label="checkpoint interval (min)")
    tw.set_yscale("log")
    tw.set_ylabel("minutes")
    ax[1, 1].plot(n, [r["facility_mw"] for r in one], "o-", color="C2", label="facility MW (nameplate)")
    ax[1, 1].plot(n, [r["swing_mw"] for r in one], "x--", color="C6", label="per-step swing MW")
    for r in one:
        ax[1, 1].annotate(f"{int(r['fabric_tiers'])}T/{int(r['turbines_for_all_load'])}gt", (r["cluster_num_gpus"], r["facility_mw"]),
                          textcoords="offset points", xytext=(-12, 8), fontsize=7)
    titles = ["Training days (p50) for the ~7e26-FLOP run", "Goodput falls as MTTF nears restart cost",
              "The batch caps the GPUs a job can use", "Power; labels: fabric tiers / turbines (384 MW, N+1)"]
    for a, t in zip(ax.flat, titles, strict=True):
        a.set_xscale("log")
        a.set_xlabel("GPUs in the cluster (GB200 NVL72)")
        a.set_title(t)
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7, loc="best")
    ax[0, 0].set_yscale("log")
    ax[0, 0].set_ylabel("days")
    ax[0, 1].set_ylabel("%")
    ax[1, 0].set_ylabel("%")
    ax[1, 1].set_yscale("log")
    ax[1, 1].set_ylabel("MW")
    tw.legend(fontsize=7, loc="center right")
    fig.suptitle("What a million GPUs buy (gigafactory sweep examples/sweep-scaling.yaml)")
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", default=str(ROOT / "sweeps" / "sweep-scaling"))
    ap.add_argument("--png", default=str(ROOT / "docs" / "scaling.png"))
    args = ap.parse_args()
    rows = load(Path(args.results))
    plot(rows, Path(args.png))
    print(table(rows))
    print(f"\nplot written to {args.png}")


if __name__ == "__main__":
    main()
