"""Power over time: per-step waveform, energy balance, swing figures, day series."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigafactory import resolve
from gigafactory.fleet import waveform as wv
from gigafactory.fleet.power import budget, consts, power


def _cluster(n: int):
    return resolve.spec("clusters", {"use": "colossus", "num_gpus": n}, "cluster")


def _default_breakdown() -> dict[str, float]:
    d = consts("default-step")
    return {k: float(d[k]) * float(d["step_s"]) for k in ("compute", "tp", "pp", "dp", "bubble", "optimizer")}


phase_times = st.dictionaries(
    st.sampled_from(["compute", "tp", "cp", "ep", "pp", "dp", "bubble", "optimizer"]),
    st.floats(0.01, 5.0), min_size=1,
)


@settings(max_examples=30, deadline=None)
@given(bd=phase_times, smooth=st.booleans(), steps=st.integers(1, 6))
def test_energy_balance(bd, smooth, steps):
    """Integral of the sampled waveform = sum of phase seconds x phase power (= mean x time)."""
    load = budget(_cluster(1024), smoothing=smooth).load
    wf = wv.step_waveform(load, bd, steps=steps, dt_s=0.003)
    assert wf.energy_j == pytest.approx(steps * wv.step_energy_j(load, bd), rel=1e-9)
    s = wv.swing_stats(wf)
    assert s.energy_mwh * 3.6e9 == pytest.approx(s.mean_mw * 1e6 * wf.duration_s, rel=1e-9)
    assert s.trough_mw <= s.mean_mw <= s.peak_mw


def test_two_phase_step_levels_and_frequency():
    """1 s compute + 1 s exposed dp: levels are N x phase draw + other; fundamental 0.5 Hz."""
    load = budget(_cluster(8192)).load
    wf = wv.step_waveform(load, {"compute": 1.0, "dp": 1.0}, steps=20, dt_s=0.002)
    s = wv.swing_stats(wf)
    hi = 8192 * load.gpu_w("compute") + load.other_active_w
    lo = 8192 * load.gpu_w("dp") + load.other_active_w
    assert s.peak_mw == pytest.approx(hi / 1e6, rel=1e-6)
    assert s.trough_mw == pytest.approx(lo / 1e6, rel=1e-6)
    assert s.dominant_hz == pytest.approx(0.5, rel=1e-3)
    edge = float(consts("supply")["gpu_edge_ms"]) / 1e3
    assert s.ramp_up_mw_per_s == pytest.approx((hi - lo) / 1e6 / edge, rel=0.05)
    assert s.band_frac > 0.9  # Choukse et al.: the energy sits in the 0.1-20 Hz critical band


def test_16k_h100_swing_is_tens_of_megawatts():
    """Llama 3 (16k H100): synchronous swings 'on the order of tens of megawatts'."""
    r = power(_cluster(16_384), resolve.site("meta-dc"))
    assert 5 <= r.step_it.swing_mw <= 50
    assert 5 <= r.failure_drop_it_mw <= 50
    assert 0.1 <= r.step_it.dominant_hz <= 3  # Choukse et al.: 0.2-3 Hz
    # checkpoint stalls dip almost the whole GPU load
    assert r.day_events.checkpoint_dip_mw > 0.7 * r.step_it.swing_mw


def test_smoothing_cuts_swing_and_ramp_at_an_energy_cost():
    load0 = budget(_cluster(16_384)).load
    load1 = budget(_cluster(16_384), smoothing=True).load
    bd = _default_breakdown()
    s0 = wv.swing_stats(wv.step_waveform(load0, bd))
    s1 = wv.swing_stats(wv.step_waveform(load1, bd))
    assert s1.swing_mw < 0.4 * s0.swing_mw
    assert s1.mean_mw > s0.mean_mw  # the floor burns energy
    ramp_cap = 16_384 * load1.gpu_ramp_w_per_s / 1e6
    assert s1.ramp_up_mw_per_s <= 1.05 * ramp_cap


def test_day_series_energy_matches_events():
    load = budget(_cluster(4096)).load
    run = 3.0e6
    wf, ev = wv.day_series(load, run, checkpoint_interval_s=3600, checkpoint_stall_s=20,
                           interruptions_per_day=0.0, restart_s=600, seed=1)
    expect = run * 86_400 - ev.checkpoints * 20 * (run - load.it_w("checkpoint"))
    assert ev.checkpoints == 23
    assert wf.energy_j == pytest.approx(expect, rel=1e-12)
    wf2, ev2 = wv.day_series(load, run, checkpoint_interval_s=0, checkpoint_stall_s=0,
                             interruptions_per_day=5.0, restart_s=300, seed=3)
    down = int((wf2.it_w == load.it_idle_w).sum())
    assert 0 < ev2.failures and down <= ev2.failures * 300
    assert wf2.energy_j == pytest.approx(run * (86_400 - down) + load.it_idle_w * down, rel=1e-12)
    # same seed, same day
    wf3, _ = wv.day_series(load, run, checkpoint_interval_s=0, checkpoint_stall_s=0,
                           interruptions_per_day=5.0, restart_s=300, seed=3)
    assert np.array_equal(wf2.it_w, wf3.it_w)


def test_step_waveform_is_fast():
    import time

    load = budget(_cluster(100_000)).load
    t = time.perf_counter()
    wv.swing_stats(wv.step_waveform(load, _default_breakdown(), steps=64))
    assert time.perf_counter() - t < 1.0
