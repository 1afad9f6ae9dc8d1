"""Pipeline schedules: layers per stage, bubble, activations in flight, parameter copies.

Per micro-batch on one pipeline stage (all its virtual chunks), ``F`` is the forward time, ``B``
the input-gradient backward and ``W`` the weight-gradient backward (GEMM wgrads; ``B + W`` is the
full backward). With ``p`` stages and ``m`` micro-batches, the idle time per step is:

==============  ===================================================  ==========================
schedule        bubble                                               source
==============  ===================================================  ==========================
1f1b            (p - 1) (F + B + W)                                  Narayanan et al. 2021 §2.2
interleaved     (p - 1) (F + B + W) / v                              Narayanan et al. 2021 §2.2
zb-h1           (p - 1) (F + B - W)                                  Qi et al. 2024 (ZB-H1) §3
zb-v            (p - 1) (F + B - 2 W) / 2, two chunks per stage      Qi et al. 2024 (ZB-V)
dualpipe        (p/2 - 1) (F&B + b - 3 w), chunks of half a stage    DeepSeek-AI 2024, Table 2
dualpipev       (p - 1) (F&B + b - 3 w), chunks of half a stage      deepseek-ai/DualPipe README
==============  ===================================================  ==========================

(a bubble never goes below zero). In DualPipe's row ``F&B`` is a forward and a backward chunk run
overlapped (their sum of compute; the communication hides under it), ``b`` a chunk's full backward
and ``w`` its weight-gradient part; each device of DualPipe holds two chunks of two stages (twice the
parameters), DualPipeV one V of two chunks. Activations in flight on the first stage: ``min(p, m)``
micro-batches for 1F1B, ZB-H1 and ZB-V; ``(1 + (p - 1) / (p v))`` times that interleaved; ``p + 1``
for DualPipe and DualPipeV.
"""

from __future__ import annotations

import numpy as np

from .columns import code

ONE_F_ONE_B, INTERLEAVED, ZB_H1, ZB_V, DUALPIPE, DUALPIPE_V = (code("schedule", s) for s in (
    "1f1b", "interleaved", "zb-h1", "zb-v", "dualpipe", "dualpipev"))


def bubble_time(schedule, pp, vpp, F, B, W):
    """Idle seconds per step of the slowest stage (formulas in the module docstring)."""
    p = np.asarray(pp, dtype=float)
    v = np.asarray(vpp, dtype=float)
    sched = np.asarray(schedule)
    full = F + B + W
    fb = F + B + W  # F&B: a forward and a backward chunk overlapped (compute adds up)
    chunk_b, chunk_w = (B + W) / 2, W / 2
    out = np.select(
        [sched == INTERLEAVED, sched == ZB_H1, sched == ZB_V, sched == DUALPIPE, sched == DUALPIPE_V],
        [(p - 1) * full / v, (p - 1) * (F + B - W), (p - 1) * (F + B - 2 * W) / 2,
         (p / 2 - 1) * (fb / 2 + chunk_b - 3 * chunk_w), (p - 1) * (fb / 2 + chunk_b - 3 * chunk_w)],
        default=(p - 1) * full,
    )
    return np.where(p > 1, np.maximum(out, 0.0), 0.0)


def bubble_fraction(pp, m, vpp=1):
    """1F1B / interleaved bubble over ideal compute: (p - 1) / (v m)."""
    return (np.asarray(pp, dtype=float) - 1) / (np.asarray(vpp, dtype=float) * np.asarray(m, dtype=float))


def in_flight(schedule, pp, vpp, m):
    """Micro-batches of activations the first stage holds at its peak."""
    p, v = np.asarray(pp, dtype=float), np.asarray(vpp, dtype=float)
    sched = np.asarray(schedule)
    base = np.minimum(p, m)
    return np.select([sched == INTERLEAVED, (sched == DUALPIPE) | (sched == DUALPIPE_V)],
                     [base * (1 + (p - 1) / (p * v)), np.minimum(p + 1, np.maximum(m, 1))], default=base)


def parameter_copies(schedule):
    """Copies of a stage's parameters a device holds (DualPipe: two)."""
    return np.where(np.asarray(schedule) == DUALPIPE, 2.0, 1.0)


def chunks_per_stage(schedule, vpp):
    """Model chunks per pipeline rank: vpp when interleaved, two for the V schedules and DualPipe."""
    sched = np.asarray(schedule)
    return np.where((sched == ZB_V) | (sched == DUALPIPE) | (sched == DUALPIPE_V), 2.0,
                    np.where(sched == INTERLEAVED, np.asarray(vpp, dtype=float), 1.0))


def stage_layers(layers: int, pp, chunks):
    """Transformer layers on the most loaded stage: `chunks` chunks of ceil(L / (p chunks)) layers."""
    pv = np.asarray(pp, dtype=float) * np.asarray(chunks, dtype=float)
    return np.ceil(layers / pv) * np.asarray(chunks, dtype=float)


def last_stage_layers(layers: int, pp, chunks):
    """Layers left to the last stage when the others hold `stage_layers` each (the uneven split
    Megatron's --decoder-last-pipeline-num-layers makes legal): the slack of the rounding goes to the
    stage that also runs the LM head and the loss."""
    per = stage_layers(layers, pp, chunks)
    p = np.asarray(pp, dtype=float)
    return np.where(p > 1, np.maximum(layers - (p - 1) * per, 0.0), float(layers))
