"""The public claims about these clusters, each evaluated with the twin.

Every claim gets the twin's figure, a verdict — ``holds``, ``holds only if ...`` or ``does not
hold`` — and the assumptions behind the figure. Failures and goodput are included wherever the
claim is about elapsed time, not only peak FLOPs. The published figures being tested live in
``catalog/claims.yaml`` with their sources; the tolerances used for a verdict are stated there too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from . import catalog
from .resolve import scenario_from_dict, spec

HOLDS, HOLDS_IF, FAILS = "holds", "holds only if", "does not hold"


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    source: str
    figure: str  # the twin's figure, as text
    verdict: str  # holds | holds only if ... | does not hold
    assumptions: str
    numbers: dict[str, float]  # the figures behind the verdict, for tests and JSON

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _c(cid: str) -> dict[str, Any]:
    return catalog.entry("claims", cid)


def _training(cluster: Any, job: dict[str, Any], *, with_failures: bool = True) -> dict[str, float]:
    """Plan + goodput for a job on a cluster (the twin's first two stages): failure-free and
    wall-clock training days."""
    from .twin import training

    scen = scenario_from_dict({"name": "claim", "cluster": cluster, "job": job})
    tr = training(scen, with_failures=with_failures)
    best = tr.step
    out = {"free_days": tr.failure_free_days, "mfu": best.mfu, "tokens_per_s_per_gpu": best.tokens_per_s_per_gpu,
           "model_tflops_per_gpu": best.model_tflops_per_gpu, "wall_days": tr.wall_days, "goodput": 1.0,
           "gpus_used": best.plan.gpus, "gpus": scen.cluster.num_gpus}
    if tr.goodput is not None:
        out.update(wall_days_p90=tr.goodput.wall_days.p90, goodput=tr.goodput.goodput.p50)
    return out


def _job(c: dict[str, Any], precision: str) -> dict[str, Any]:
    return {"model": c["model"], "tokens": c["tokens"], "seq_len": c["seq_len"],
            "global_batch": c["global_batch"], "precision": precision}


def claim_gpt4_on_a100() -> Claim:
    c = _c("gpt4-a100-days")
    r = _training(c["cluster"], _job(c, "bf16"))
    lo, hi, tol = c["days_low"], c["days_high"], c["tolerance"]
    d = r["wall_days"]
    if lo * (1 - tol) <= d <= hi * (1 + tol):
        verdict = HOLDS
    elif d < lo:
        verdict = f"{HOLDS_IF} MFU was lower than the twin's best plan ({r['mfu']:.0%}) — e.g. an older software stack"
    else:
        verdict = FAILS
    return Claim(c["letter"], c["claim"], c["source"],
                 f"{d:.0f} wall-clock days (p50; {r['free_days']:.0f} failure-free) at {r['mfu']:.1%} MFU on "
                 f"{r['gpus_used']:,.0f} GPUs, goodput {r['goodput']:.1%}", verdict,
                 f"{c['model']} on {c['cluster']}, {c['tokens']:.3g} tokens, bf16, best plan, Llama 3 failure "
                 "profile with async checkpoints and hot spares", {"wall_days": d, **r})


def claim_gpt4_on_gb200() -> Claim:
    c = _c("gpt4-gb200-days")
    rows = {p: _training(c["cluster"], _job(c, p)) for p in c["precisions"]}
    limit = c["days"]
    ok = {p: r for p, r in rows.items() if r["free_days"] < limit}
    ok_wall = {p: r for p, r in rows.items() if r["wall_days"] < limit}
    if len(ok_wall) == len(rows):
        verdict = HOLDS
    elif ok:
        verdict = (f"{HOLDS_IF} {' or '.join(ok)} is used and no failures are counted ('ideally')"
                   if not ok_wall else f"{HOLDS_IF} {' or '.join(ok_wall)} is used")
    else:
        verdict = FAILS
    figure = "; ".join(f"{p}: {r['free_days']:.2f} failure-free / {r['wall_days']:.2f} wall days "
                       f"({r['mfu']:.0%} MFU on {r['gpus_used']:,.0f} of {r['gpus']:,.0f} GPUs)"
                       for p, r in rows.items())
    nums = {f"{p}_{k}": v for p, r in rows.items() for k, v in r.items()}
    return Claim(c["letter"], c["claim"], c["source"], figure, verdict,
                 f"{c['model']} {c['tokens']:.3g} tokens on {c['cluster']} at GPT-4's batch "
                 f"({c['global_batch']:,} x {c['seq_len']:,} tokens), which bounds the GPUs a plan can use; "
                 "best plan per precision; 'wall' adds failures and restarts",
                 nums)


def claim_speedups() -> Claim:
    c = _c("speedups")
    parts, nums, verdicts = [], {}, []
    for pair in c["pairs"]:
        new = _training(pair["new"], _job(c, pair["new_precision"]), with_failures=False)
        old = _training(pair["old"], _job(c, pair["old_precision"]), with_failures=False)
        ratio = new["tokens_per_s_per_gpu"] / old["tokens_per_s_per_gpu"]
        alt = None
        if "alt_precision" in pair:
            alt_r = _training(pair["new"], _job(c, pair["alt_precision"]), with_failures=False)
            alt = alt_r["tokens_per_s_per_gpu"] / old["tokens_per_s_per_gpu"]
        claimed, tol = pair["claimed"], c["tolerance"]
        name = pair["name"]
        nums[name] = ratio
        text = f"{name}: {ratio:.2f}x ({pair['new_precision']} vs {pair['old_precision']})"
        if alt is not None:
            nums[f"{name}_{pair['alt_precision']}"] = alt
            text += f", {alt:.2f}x with {pair['alt_precision']}"
        parts.append(text)
        if abs(ratio / claimed - 1) <= tol:
            verdicts.append(f"{name} holds")
        elif alt is not None and abs(alt / claimed - 1) <= tol:
            verdicts.append(f"{name} only with {pair['alt_precision']}")
        else:
            verdicts.append(f"{name} does not hold ({ratio:.1f}x, claimed {claimed:g}x)")
    if all(v.endswith("holds") for v in verdicts):
        verdict = HOLDS
    elif all("does not hold" in v for v in verdicts):
        verdict = FAILS
    else:
        verdict = f"{HOLDS_IF} read per pair: " + "; ".join(verdicts)
    return Claim(c["letter"], c["claim"], c["source"], "; ".join(parts), verdict,
                 f"per-GPU training throughput of {c['model']} (seq {c['seq_len']}, global batch "
                 f"{c['global_batch']}) on equal-size clusters, each with its best plan", nums)


def claim_bringup() -> Claim:
    from .fleet.build import bringup

    c = _c("bringup")
    cl = spec("clusters", c["cluster"])
    fast = bringup(cl, c["fast_profile"], seed=0)
    conv = bringup(cl, c["conventional_profile"], seed=0)
    full, after = fast.full_size_day["p50"], fast.training_after_first_rack["p50"]
    conv_years = conv.first_training_day["p50"] / 365.0
    tol = c["tolerance"]
    ok = (abs(full / c["full_size_days"] - 1) <= tol and abs(after / c["training_after_first_rack_days"] - 1) <= tol
          and abs(conv_years / c["conventional_years"] - 1) <= tol)
    verdict = HOLDS if ok else f"{HOLDS_IF} the build profile's phase durations are right"
    return Claim(c["letter"], c["claim"], c["source"],
                 f"fast build: full size day {full:.0f} (p90 {fast.full_size_day['p90']:.0f}), training "
                 f"{after:.0f} days after the first rack; conventional: training after {conv_years:.1f} years",
                 verdict,
                 "build profiles colossus-fast (existing factory, mobile turbines, parallel rack delivery) and "
                 "conventional (greenfield, grid interconnect, serial phases); p50 of the Monte Carlo",
                 {"full_size_days": full, "training_after_first_rack": after, "conventional_years": conv_years})


def claim_rental() -> Claim:
    from .fleet.cost import implied_rate, rental_cost

    c = _c("rental")
    hours = c["years"] * 8760.0
    reserved = rental_cost(c["gpu"], c["gpus"], hours, "reserved")
    ondemand = rental_cost(c["gpu"], c["gpus"], hours, "on-demand")
    implied = implied_rate(c["usd"], c["gpus"], hours)
    tol = c["tolerance"]
    if abs(reserved.total_usd / c["usd"] - 1) <= tol:
        verdict = HOLDS
    elif reserved.total_usd > c["usd"]:
        verdict = f"{HOLDS_IF} the rate is ${implied:.2f}/GPU-hour or less (a large multi-year contract near cost)"
    else:
        verdict = FAILS
    return Claim(c["letter"], c["claim"], c["source"],
                 f"${reserved.total_usd / 1e9:.2f}B reserved (${reserved.usd_per_gpu_hour:.2f}/GPU-h), "
                 f"${ondemand.total_usd / 1e9:.2f}B on demand; the claim implies ${implied:.2f}/GPU-h",
                 verdict, f"{c['gpus']:,} {c['gpu']} for {c['years']} years of {hours:,.0f} h, catalog rental rates",
                 {"reserved_usd": reserved.total_usd, "on_demand_usd": ondemand.total_usd, "implied_rate": implied})


def claim_site_power() -> Claim:
    from .twin import scenario_power

    c = _c("site-power")
    cl = spec("clusters", c["cluster"])
    st = spec("sites", cl.site)
    rep = scenario_power(scenario_from_dict({"name": "claim", "cluster": c["cluster"], "job": c["job"]}))
    it, fac = rep.budget.it_mw, rep.budget.facility_mw
    tol = c["tolerance"]
    needs_gen = fac > st.grid_mw
    if abs(it / c["mw"] - 1) <= tol and needs_gen:
        verdict = HOLDS
    elif needs_gen:
        verdict = f"{HOLDS_IF} '~{c['mw']} MW' means facility load, not IT load"
    else:
        verdict = FAILS
    return Claim(c["letter"], c["claim"], c["source"],
                 f"IT {it:.0f} MW, facility {fac:.0f} MW at PUE {st.pue:g}; grid {st.grid_mw:g} MW, so "
                 f"{max(fac - st.grid_mw, 0):.0f} MW must come from on-site generation",
                 verdict, f"bottom-up budget of {c['cluster']}: GPUs at board power, hosts, NVSwitch, NICs, "
                 "fabric switches and optics from the topology, storage; PUE of the site",
                 {"it_mw": it, "facility_mw": fac, "grid_mw": st.grid_mw})


CLAIMS: dict[str, Callable[[], Claim]] = {
    "a": claim_gpt4_on_a100,
    "b": claim_gpt4_on_gb200,
    "c": claim_speedups,
    "d": claim_bringup,
    "e": claim_rental,
    "f": claim_site_power,
}


def evaluate_claims(which: list[str] | None = None) -> list[Claim]:
    """Evaluate the public claims (all, or the letters given) with the twin."""
    from .errors import SpecError

    keys = which or list(CLAIMS)
    bad = [k for k in keys if k not in CLAIMS]
    if bad:
        raise SpecError("claim", f"unknown claim {bad[0]!r}", allowed=list(CLAIMS))
    return [CLAIMS[k]() for k in keys]
