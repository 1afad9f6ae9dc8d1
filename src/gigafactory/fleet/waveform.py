"""Power over time for a synchronous training job: per-step waveform, day series, swing metrics.

Every GPU of the job runs the same phases at the same moment, so the job's IT power is

    P(t) = N_gpu * max(p_gpu(phase(t)), floor) + P_other

with the phase sequence of one step (from the step engine's exposed-time breakdown) repeated:
half the pipeline bubble (warm-up), ``interleave`` chunks of [compute, tp, cp, ep, pp], the other
half of the bubble (drain), exposed data-parallel communication, optimizer. Fleet-level edges are
smeared over ``gpu_edge_ms`` (rank skew, VR response); GPU power smoothing adds a power floor and a
ramp limit (a boxcar of width swing/ramp). Samples are bin averages of the piecewise-constant
power, so the sampled energy equals the phase energy exactly (the energy-balance check). The day
series (1 s) adds checkpoint stalls (all GPUs wait) and failure drops (job down to idle for the
restart time, Poisson arrivals, seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .load import PHASES, LoadModel, consts

COMM = ("host", "tp", "cp", "ep", "pp")  # exposed between the compute kernels of every micro-batch


@dataclass(frozen=True)
class Waveform:
    t_s: np.ndarray  # sample start times
    it_w: np.ndarray  # IT power, bin-averaged over [t, t + dt)
    dt_s: float
    facility_w: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        return self.dt_s * len(self.it_w)

    @property
    def energy_j(self) -> float:
        return float(self.it_w.sum() * self.dt_s)


@dataclass(frozen=True)
class SwingStats:
    peak_mw: float
    mean_mw: float
    trough_mw: float
    swing_mw: float  # peak - trough
    ramp_up_mw_per_s: float
    ramp_down_mw_per_s: float
    dominant_hz: float
    band_frac: float  # share of fluctuation energy inside the utility critical band
    duration_s: float
    energy_mwh: float


def segments(breakdown: dict[str, float], interleave: int = 8) -> list[tuple[str, float]]:
    """The ordered (phase, seconds) sequence of one step from an exposed-time breakdown."""
    bd = {k: float(v) for k, v in breakdown.items() if float(v) > 0}
    unknown = [k for k in bd if k not in PHASES]
    segs: list[tuple[str, float]] = []
    half_bubble = bd.get("bubble", 0.0) / 2
    if half_bubble:
        segs.append(("bubble", half_bubble))
    k = max(1, int(interleave))
    for _ in range(k):
        for ph in ("compute", *COMM):
            if bd.get(ph):
                segs.append((ph, bd[ph] / k))
    if half_bubble:
        segs.append(("bubble", half_bubble))
    for ph in ("dp", "optimizer", *unknown):
        if bd.get(ph):
            segs.append((ph if ph in PHASES else "other", bd[ph]))
    if not segs:
        raise ValueError("step breakdown has no positive phase time")
    return segs


def gpu_level_w(load: LoadModel, phase: str) -> float:
    return max(load.gpu_w(phase), load.gpu_floor_w)


def step_energy_j(load: LoadModel, breakdown: dict[str, float]) -> float:
    """Analytic IT energy of one step: sum over phases of seconds x IT power."""
    return sum(sec * (load.num_gpus * gpu_level_w(load, ph) + load.other_active_w) for ph, sec in segments(breakdown))


def _bin_average(bounds_s: np.ndarray, levels: np.ndarray, edges_s: np.ndarray) -> np.ndarray:
    """Average of a piecewise-constant function (levels on [bounds[i], bounds[i+1])) over sample bins."""
    cum = np.concatenate([[0.0], np.cumsum(levels * np.diff(bounds_s))])
    e = np.interp(edges_s, bounds_s, cum)
    return np.diff(e) / np.diff(edges_s)


def _circular_boxcar(x: np.ndarray, width: int) -> np.ndarray:
    """Periodic moving average over `width` samples (keeps the sum: energy-preserving)."""
    if width <= 1:
        return x
    width = min(width, len(x))
    c = np.cumsum(np.concatenate([x[-width:], x]))
    return (c[width:] - c[:-width]) / width


def step_waveform(
    load: LoadModel,
    breakdown: dict[str, float],
    *,
    steps: int = 16,
    dt_s: float | None = None,
    interleave: int = 8,
    max_samples: int = 400_000,
) -> Waveform:
    """IT power of the job over `steps` identical steps at `dt_s` resolution (default ~5 ms)."""
    segs = segments(breakdown, interleave)
    step_s = sum(s for _, s in segs)
    edge_s = float(consts("supply")["gpu_edge_ms"]) / 1e3
    if dt_s is None:
        dt_s = max(0.005, steps * step_s / max_samples)
    n = max(8, int(round(steps * step_s / dt_s)))
    dt = steps * step_s / n
    gpu = np.array([gpu_level_w(load, ph) for ph, _ in segs] * steps)
    bounds = np.concatenate([[0.0], np.cumsum(np.array([s for _, s in segs] * steps))])
    edges = np.linspace(0.0, bounds[-1], n + 1)
    g = _bin_average(bounds, gpu, edges)
    g = _circular_boxcar(g, int(round(edge_s / dt)))
    if load.gpu_ramp_w_per_s:
        swing = float(g.max() - g.min())
        g = _circular_boxcar(g, int(round(swing / load.gpu_ramp_w_per_s / dt)))
    it = load.num_gpus * g + load.other_active_w
    return Waveform(edges[:-1], it, dt, load.facility_w(it, float(it.mean())))


def swing_stats(wf: Waveform, *, facility: bool = False) -> SwingStats:
    """Peak, mean, trough, swing, ramp rates, dominant frequency and critical-band share."""
    p = wf.facility_w if facility and wf.facility_w is not None else wf.it_w
    d = np.diff(np.concatenate([p, p[:1]])) / wf.dt_s
    x = p - p.mean()
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), wf.dt_s)
    spec[0] = 0.0
    total = float(spec.sum())
    sup = consts("supply")
    band = (freqs >= float(sup["critical_band_lo_hz"])) & (freqs <= float(sup["critical_band_hi_hz"]))
    return SwingStats(
        peak_mw=float(p.max()) / 1e6,
        mean_mw=float(np.clip(p.mean(), p.min(), p.max())) / 1e6,  # a flat waveform's mean can round past its max
        trough_mw=float(p.min()) / 1e6,
        swing_mw=float(p.max() - p.min()) / 1e6,
        ramp_up_mw_per_s=float(max(d.max(), 0.0)) / 1e6,
        ramp_down_mw_per_s=float(max(-d.min(), 0.0)) / 1e6,
        dominant_hz=float(freqs[int(np.argmax(spec))]) if total > 0 else 0.0,
        band_frac=float(spec[band].sum() / total) if total > 0 else 0.0,
        duration_s=wf.duration_s,
        energy_mwh=float(p.sum() * wf.dt_s) / 3.6e9,
    )


@dataclass(frozen=True)
class DayEvents:
    checkpoints: int
    failures: int
    checkpoint_dip_mw: float  # IT drop during a checkpoint stall
    failure_drop_mw: float  # IT drop when the job goes down


def day_series(
    load: LoadModel,
    running_w: float,
    *,
    checkpoint_interval_s: float,
    checkpoint_stall_s: float,
    interruptions_per_day: float,
    restart_s: float,
    seed: int = 0,
    duration_s: float = 86_400.0,
    dt_s: float = 1.0,
) -> tuple[Waveform, DayEvents]:
    """IT power over a day at `dt_s`: the step-averaged running level with checkpoint stalls and
    failure drops (job down at idle for `restart_s`, Poisson arrivals). Stalls are dropped while
    the job is down."""
    n = int(round(duration_s / dt_s))
    rng = np.random.default_rng(seed)
    ck_w = load.it_w("checkpoint")
    idle_w = load.it_idle_w
    # checkpoint stalls
    ck = np.zeros(n + 1)
    starts = np.arange(checkpoint_interval_s, duration_s, checkpoint_interval_s) if checkpoint_interval_s > 0 else []
    si = (np.asarray(starts) / dt_s).astype(int)
    np.add.at(ck, si, 1)
    np.add.at(ck, np.minimum(si + max(1, int(round(checkpoint_stall_s / dt_s))), n), -1)
    in_ck = np.cumsum(ck)[:n] > 0
    # failures
    nf = int(rng.poisson(interruptions_per_day * duration_s / 86_400.0))
    fi = np.sort((rng.random(nf) * n).astype(int))
    down = np.zeros(n + 1)
    np.add.at(down, fi, 1)
    np.add.at(down, np.minimum(fi + max(1, int(round(restart_s / dt_s))), n), -1)
    is_down = np.cumsum(down)[:n] > 0
    p = np.full(n, float(running_w))
    p[in_ck] = ck_w
    p[is_down] = idle_w
    t = np.arange(n) * dt_s
    wf = Waveform(t, p, dt_s, load.facility_w(p, float(p.mean())))
    ev = DayEvents(int(len(si)), nf, (running_w - ck_w) / 1e6, (running_w - idle_w) / 1e6)
    return wf, ev
