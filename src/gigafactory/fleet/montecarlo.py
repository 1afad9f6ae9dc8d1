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

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError

#: most events per trial drawn at once (bounds memory: trials x CHUNK floats per array)
CHUNK = 512
#: bound on the work of one simulation: trials x expected interruptions per trial, at ~5e6 per
#: second of numpy on one core (measured) ~10 s; 200 trials of a 1M-GPU run of a year are ~3e7
MAX_EVENT_DRAWS = 5e7
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


def expected_events(inp: SimInputs) -> float:
    """Interruptions one trial needs to finish, from a lower bound on the progress one commits.

    With the hazard at its highest (burn-in excess included), an unplanned interruption commits
    interval x E[floor((u - persist) / P)]+ = interval x exp(-lam persist) q / (1 - q), q = exp(-lam P);
    a planned one commits about interval / (lam P). Infinite when no interruption can commit work
    (checkpoint period far beyond the time between failures): such a run never finishes.
    """
    rates = np.asarray(inp.rates_h, dtype=float)
    hw = np.asarray(inp.hardware, bool)
    planned = np.asarray(inp.planned, bool)
    lam = float(rates.sum() + rates[hw].sum() * max(inp.burn_excess, 0.0))
    if lam <= 0:
        return 1.0
    f_pl = float(rates[planned].sum() / rates.sum())
    tau, P = inp.interval_h, inp.interval_h + inp.stall_h
    x = lam * P
    q_over = math.exp(-x) / -math.expm1(-x) if x < 700 else 0.0
    per_unplanned = tau * math.exp(-min(lam * inp.persist_h, 700.0)) * q_over
    per_event = (1.0 - f_pl) * per_unplanned + f_pl * tau / x
    if per_event <= 0:
        return math.inf
    return inp.work_h / per_event + 1.0


def check_bounded(inp: SimInputs, trials: int, runs: float = 1.0, bound: float = MAX_EVENT_DRAWS) -> float:
    """Refuse, before any work, `runs` simulations that would not finish or would run for minutes."""
    for name, v in (("work_h", inp.work_h), ("interval_h", inp.interval_h), ("stall_h", inp.stall_h),
                    ("persist_h", inp.persist_h), ("detect_h", inp.detect_h), ("restart_h", inp.restart_h)):
        if not math.isfinite(v) or v < 0:
            raise SpecError("goodput", f"{name}={v!r} must be a finite, non-negative number of hours")
    n = expected_events(inp)
    if n * trials * runs > bound:
        mtbf = 1.0 / max(float(np.sum(inp.rates_h)), 1e-300)
        raise SpecError(
            "goodput",
            f"the run would take ~{n:.3g} interruptions per trial to finish ({inp.work_h / 24:,.4g} days of work, "
            f"one interruption every {mtbf:.3g} h, checkpoint every {inp.interval_h:.3g} h) x {trials:,} trials"
            f"{f' x {runs:.3g} runs' if runs != 1 else ''}: over the bound of {bound:.3g}; checkpoint more often (policies.checkpoint_interval_min), "
            "train for less time (job.tokens, --days) or run fewer trials (policies.trials)",
        )
    return n


def run_trials(inp: SimInputs, trials: int, seed: int, chunk: int | None = None) -> SimResult:
    """Run `trials` independent runs; returns wall-clock hours, interruption counts and losses.

    Bounded: :func:`check_bounded` refuses runs that cannot finish, and the event loop stops with an
    error after several times the expected number of events (it never spins)."""
    n_bound = check_bounded(inp, trials)
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
    max_rounds = int(min(4.0 * n_bound + 64.0, MAX_EVENT_DRAWS) // K) + 8
    rounds = 0
    while active.size:
        rounds += 1
        if rounds > max_rounds:
            raise SpecError("goodput", f"{active.size:,} of {trials:,} trials had not finished after "
                                       f"{rounds * K:,} interruptions each; the run does not converge")
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


__all__ = ["SimInputs", "SimResult", "run_trials", "check_bounded", "expected_events", "LOSS_KINDS"]
