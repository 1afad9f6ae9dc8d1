"""Vectorised discrete-event simulation of a checkpointed run under Poisson interruptions.

The run needs ``work_h`` hours of failure-free compute. While up, it computes ``interval_h`` then
stalls ``stall_h`` to snapshot a checkpoint (period P = interval + stall); an asynchronous snapshot is
safe only ``persist_h`` later. An interruption after u hours up loses everything since the last
*safe* checkpoint (planned ones checkpoint first and lose nothing), then the job is down for
detection + restart + checkpoint load (+ a spare swap or a repair wait when hardware must be replaced).

Interruptions arrive in up time, one Poisson process per cause (rates per hour); with burn-in the
hardware rates are multiplied by 1 + excess exp(-t / decay) and arrival times come from inverting
the cumulative hazard. Committed progress per segment depends only on that segment's u, so a trial's
progress is a cumulative sum and the finishing segment is the first whose u covers the remaining work
plus its checkpoint stalls. All trials advance together in chunks of events (numpy, no per-trial
loop); the random draws for an event depend only on its trial and index (common random numbers across
checkpoint intervals).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: most events per trial drawn at once (bounds memory: trials x CHUNK floats per array)
CHUNK = 512
LOSS_KINDS = ("rework", "detection", "restart", "checkpoint", "spares_wait")


@dataclass(frozen=True)
class SimInputs:
    work_h: float
    interval_h: float
    stall_h: float
    persist_h: float
    rates_h: np.ndarray
    """per cause, interruptions per up-hour"""
    hardware: np.ndarray
    """bool per cause: takes the burn-in excess"""
    planned: np.ndarray
    """bool per cause: checkpoint before stopping (no lost work)"""
    replace: np.ndarray
    """bool per cause: hardware must be replaced"""
    detect_h: float
    restart_h: float
    """re-schedule + re-initialise + checkpoint load"""
    planned_write_h: float
    """final checkpoint before a planned stop"""
    hot_spares: bool
    swap_h: float
    repair_h: float
    burn_excess: float = 0.0
    burn_decay_h: float = 1.0


@dataclass(frozen=True)
class SimResult:
    wall_h: np.ndarray
    counts: np.ndarray
    """trials x causes"""
    losses_h: dict[str, np.ndarray]


def _inverse_hazard(inp: SimInputs, lam_o: float, lam_h: float):
    """t(E): up time at which the cumulative hazard reaches E (burn-in on hardware causes)."""
    a, d = inp.burn_excess, inp.burn_decay_h
    grid = np.concatenate([np.linspace(0.0, 25.0 * d, 4001)])
    lam = lam_o + lam_h
    cum = lam * grid + lam_h * a * d * (1.0 - np.exp(-grid / d))
    end_t, end_c = grid[-1], cum[-1]

    def inv(e: np.ndarray) -> np.ndarray:
        return np.where(e <= end_c, np.interp(e, cum, grid), end_t + (e - end_c) / lam)

    return inv


def run_trials(inp: SimInputs, trials: int, seed: int, chunk: int | None = None) -> SimResult:
    """Run `trials` independent runs; returns wall-clock hours, interruption counts and losses."""
    rates = np.asarray(inp.rates_h, dtype=float)
    ncause = rates.size
    lam = float(rates.sum())
    W, tau, c = inp.work_h, inp.interval_h, inp.stall_h
    P = tau + c
    hw = np.asarray(inp.hardware, bool)
    lam_h, lam_o = float(rates[hw].sum()), float(rates[~hw].sum())
    burn = inp.burn_excess > 0 and lam_h > 0
    cdf_h = np.cumsum(rates * hw) / max(lam_h, 1e-300)
    cdf_o = np.cumsum(rates * ~hw) / max(lam_o, 1e-300)
    cdf_all = np.cumsum(rates) / lam
    planned = np.asarray(inp.planned, bool)
    replace = np.asarray(inp.replace, bool)
    # deterministic downtime by cause
    detect = np.where(planned, 0.0, inp.detect_h)
    down_fixed = detect + inp.restart_h + np.where(planned, inp.planned_write_h, 0.0)
    inv = _inverse_hazard(inp, lam_o, lam_h) if burn else None

    n_exp = lam * W * (1.0 + inp.burn_excess) * 1.2 + 1.0
    K = int(min(chunk or CHUNK, max(32, n_exp + 5.0 * np.sqrt(n_exp) + 16)))
    rng = np.random.default_rng(seed)

    wall = np.zeros(trials)
    prog = np.zeros(trials)
    clock = np.zeros(trials)  # up time so far (burn-in age)
    hazard = np.zeros(trials)  # cumulative hazard so far
    losses = {k: np.zeros(trials) for k in LOSS_KINDS}
    counts = np.zeros((trials, ncause), dtype=np.int64)
    active = np.arange(trials)
    cols = np.arange(K)
    while active.size:
        # draws for every trial (common random numbers), then keep the active ones
        e = rng.standard_exponential((trials, K))[active]
        uc = rng.random((trials, K))[active]
        wait = rng.standard_exponential((trials, K))[active] if not inp.hot_spares else None
        n = active.size
        if burn:
            ecum = hazard[active, None] + np.cumsum(e, axis=1)
            s = inv(ecum)
            u = np.diff(s, axis=1, prepend=clock[active, None])
            m = 1.0 + inp.burn_excess * np.exp(-s / inp.burn_decay_h)
            p_h = lam_h * m / (lam_h * m + lam_o)
        else:
            u = e / lam
        if burn:  # the hardware share of the hazard falls with age
            is_h = uc < p_h
            frac = np.where(is_h, uc / np.maximum(p_h, 1e-300), (uc - p_h) / np.maximum(1.0 - p_h, 1e-300))
            cause = np.where(is_h, np.searchsorted(cdf_h, frac * cdf_h[-1], side="right"),
                             np.searchsorted(cdf_o, frac * cdf_o[-1], side="right"))
        else:
            cause = np.searchsorted(cdf_all, uc, side="right")
        cause = np.minimum(cause, ncause - 1)
        pl = planned[cause]

        k = np.floor(u / P)
        r = u - k * P
        if inp.persist_h > 0:
            ksafe = np.clip(np.floor((u - inp.persist_h) / P), 0.0, k)
        else:
            ksafe = k
        ck = k * c + np.maximum(r - tau, 0.0)
        inc = np.where(pl, k * tau + np.minimum(r, tau), ksafe * tau)
        rework = u - inc - ck

        before = prog[active, None] + np.cumsum(inc, axis=1) - inc
        R = W - before
        nck = np.maximum(np.ceil(R / tau - 1e-12) - 1.0, 0.0)
        tfin = R + nck * c
        fin = u >= tfin
        has = fin.any(axis=1)
        f = np.where(has, fin.argmax(axis=1), K)
        mask = cols[None, :] < f[:, None]

        spare = np.where(replace[cause], inp.swap_h if inp.hot_spares else 0.0, 0.0)
        if wait is not None:
            spare = np.where(replace[cause], wait * inp.repair_h, 0.0)
        down = down_fixed[cause] + spare
        rows = np.arange(n)
        fidx = np.minimum(f, K - 1)
        tf = np.where(has, tfin[rows, fidx], 0.0)
        nf = np.where(has, nck[rows, fidx], 0.0)
        wall[active] += ((u + down) * mask).sum(axis=1) + tf
        losses["rework"][active] += (rework * mask).sum(axis=1)
        losses["checkpoint"][active] += ((ck + np.where(pl, inp.planned_write_h, 0.0)) * mask).sum(axis=1) + nf * c
        losses["detection"][active] += (detect[cause] * mask).sum(axis=1)
        losses["restart"][active] += (inp.restart_h * mask).sum(axis=1)
        losses["spares_wait"][active] += (spare * mask).sum(axis=1)
        flat = (rows[:, None] * ncause + cause)[mask]
        counts[active] += np.bincount(flat, minlength=n * ncause).reshape(n, ncause)
        # carry the unfinished trials into the next chunk
        prog[active] += inc.sum(axis=1)
        if burn:
            clock[active] = s[:, -1]
            hazard[active] = ecum[:, -1]
        active = active[~has]
    return SimResult(wall_h=wall, counts=counts, losses_h=losses)


__all__ = ["SimInputs", "SimResult", "run_trials", "LOSS_KINDS"]
