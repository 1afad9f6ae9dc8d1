"""Collective times on a built fabric against hand-computed alpha-beta figures."""

from __future__ import annotations

import pytest

from gigafactory.errors import SpecError
from gigafactory.network.collectives import collective_time
from gigafactory.network.topology import build_topology


def test_ring_all_reduce_by_hand() -> None:
    # Eos (IB NDR, 400G, hop 'hop_latency_ns', HGX H100): DP group of 16 GPUs, one per server, same rail,
    # all under one rail leaf (32 servers per leaf) -> one switch hop, NIC-bound at 50 GB/s.
    t = build_topology("eos")
    S, n = 1e9, 16
    alpha = (t.nic_latency_us + 1 * t.hop_latency_us + 2 * t.run_m_by_tier[0] * 5.0 / 1000) * 1e-6
    want = 2 * (n - 1) / n * S / 50e9 + 2 * (n - 1) * alpha
    assert collective_time(t, "all-reduce", S, (16, 8), "ring") == pytest.approx(want, rel=1e-9)
    assert collective_time(t, "reduce-scatter", S, (16, 8), "ring") == pytest.approx(want / 2, rel=1e-9)


def test_tensor_parallel_stays_on_nvlink() -> None:
    t = build_topology("colossus")
    want = 2 * 7 / 8 * 1e8 / 450e9 + 14 * t.scale_up_latency_us * 1e-6
    assert collective_time(t, "all-reduce", 1e8, 8, "ring") == pytest.approx(want)


def test_sharp_halves_the_bandwidth_term_where_the_fabric_has_it() -> None:
    eos = build_topology("eos")
    ring = collective_time(eos, "all-reduce", 4e9, (1024, 8), "ring")
    sharp = collective_time(eos, "all-reduce", 4e9, (1024, 8), "sharp")
    assert sharp < 0.6 * ring
    with pytest.raises(SpecError, match="in-network"):
        collective_time(build_topology("colossus"), "all-reduce", 1e9, (64, 8), "sharp")


def test_oversubscription_slows_cross_pod_steps() -> None:
    meta = build_topology("meta-llama3-roce")
    inside = collective_time(meta, "all-to-all", 1e9, (384, 8))  # one 3,072-GPU pod, rail 0
    across = collective_time(meta, "all-to-all", 1e9, (3072, 8))  # all 8 pods: 7/8 leaves at 1/7
    assert across == pytest.approx(inside * (7 / 8 * 7) / (383 / 384), rel=0.05)


def test_bad_inputs() -> None:
    t = build_topology("eos")
    with pytest.raises(SpecError, match="unknown collective"):
        collective_time(t, "allsum", 1.0, 8)
    with pytest.raises(SpecError, match="ranks must lie"):
        collective_time(t, "all-reduce", 1.0, [0, 10**7])
    assert collective_time(t, "all_reduce", 1e6, 1) == 0.0
