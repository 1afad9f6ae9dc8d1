"""Benchmark: the power stage on the 100k-H100 Colossus scenario (budget + waveform + day series + site
verdict, given the twin's step and goodput) and the raw step waveform speed."""

from __future__ import annotations

import time

import gigafactory as gf
from gigafactory import resolve
from gigafactory.fleet import waveform as wv
from gigafactory.fleet.power import budget, consts
from gigafactory.twin import power_stage


def main() -> None:
    scen = gf.load_scenario()
    res = gf.simulate(scen, detail=False)  # the step and goodput the power stage takes
    t = time.perf_counter()
    r = power_stage(scen, res.step, res.goodput)
    dt = time.perf_counter() - t
    print(f"power stage (colossus-gpt4): {dt * 1e3:.0f} ms; IT {r.budget.it_mw:.1f} MW, facility {r.budget.facility_mw:.1f} MW, "
          f"swing {r.step_it.swing_mw:.1f} MW at {r.step_it.dominant_hz:.3g} Hz, fits={r.verdict.fits}")
    load = budget(resolve.cluster("colossus")).load
    d = consts("default-step")
    bd = {k: float(d[k]) * float(d["step_s"]) for k in ("compute", "tp", "pp", "dp", "bubble", "optimizer")}
    t = time.perf_counter()
    n = 0
    for _ in range(20):
        wf = wv.step_waveform(load, bd, steps=64)
        wv.swing_stats(wf)
        n += len(wf.it_w)
    dt = time.perf_counter() - t
    print(f"step waveform + FFT: {n / dt / 1e6:.1f} M samples/s ({len(wf.it_w):,} samples of {wf.dt_s * 1e3:.0f} ms "
          f"per call, {dt / 20 * 1e3:.1f} ms per call)")


if __name__ == "__main__":
    main()
