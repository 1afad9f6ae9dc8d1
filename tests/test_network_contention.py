"""Max-min fair sharing, ECMP balls in bins, adaptive routing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigafactory.network.contention import balls_in_bins, effective_fraction, maxmin, route_flows
from gigafactory.network.topology import build_topology
from gigafactory.resolve import cluster


def naive_maxmin(paths: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Textbook progressive filling, one bottleneck level at a time (Bertsekas & Gallager 6.5.2)."""
    rate = np.zeros(len(paths))
    rem = cap.astype(float).copy()
    active = np.ones(len(paths), bool)
    while active.any():
        cnt = np.zeros(len(cap))
        for f in np.flatnonzero(active):
            for link in set(paths[f]):
                cnt[link] += 1
        cnt[-1] = 0
        share = np.where(cnt > 0, rem / np.maximum(cnt, 1), np.inf)
        d = share.min()
        rate[active] += d
        rem -= d * cnt
        sat = (cnt > 0) & (rem <= 1e-9)
        for f in np.flatnonzero(active):
            if sat[list(paths[f])].any():
                active[f] = False
    return rate


def test_maxmin_textbook_example() -> None:
    # f0 on A; f1 on A and B; f2 on B. cap A = 1, B = 2 -> f0 = f1 = 0.5, f2 = 1.5
    paths = np.array([[0, 2], [0, 1], [1, 2]])
    rate, _ = maxmin(paths, np.array([1.0, 2.0, np.inf]))
    assert rate == pytest.approx([0.5, 0.5, 1.5])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), flows=st.integers(1, 40), links=st.integers(3, 12))
def test_bulk_rounds_equal_progressive_filling(seed, flows, links) -> None:
    rng = np.random.default_rng(seed)
    # distinct links per path (as in a fat tree); id `links` is the padding dummy
    paths = np.argsort(rng.random((flows, links + 1)), axis=1)[:, :3]
    cap = np.append(rng.choice([0.5, 1.0, 2.0, 3.0], links), np.inf)
    fast, _ = maxmin(paths, cap)
    assert fast == pytest.approx(naive_maxmin(paths, cap), rel=1e-9, abs=1e-12)


def test_ecmp_uses_one_minus_one_over_e_of_uplinks() -> None:
    # Colossus leaves send 64 flows onto 64 uplinks (random permutation): balls in bins
    r = route_flows(build_topology(cluster("colossus")), "permutation", "ecmp", seed=1)
    assert r.uplink_used == pytest.approx(1 - 1 / math.e, abs=0.02)
    assert r.uplink_used == pytest.approx(r.uplink_used_expected, rel=0.01)
    assert balls_in_bins(64, 64) == pytest.approx(1 - (63 / 64) ** 64)


def test_adaptive_is_lossless_on_nonblocking_and_ecmp_is_not() -> None:
    t = build_topology(cluster("eos"))
    ecmp = effective_fraction(t, "permutation", "ecmp")
    assert effective_fraction(t, "permutation", "adaptive") == pytest.approx(1.0)
    assert 0.3 < ecmp < 1 - 1 / math.e  # compounding collisions over four hashed hops
    # more queue pairs per connection give the hash more entropy
    fr = [route_flows(t, "permutation", "ecmp", qps=q).throughput for q in (1, 4, 16)]
    assert fr[0] < fr[1] < fr[2] < 1.0


def test_topology_aware_ring_barely_collides() -> None:
    t = build_topology(cluster("colossus"))
    assert effective_fraction(t, "dp-allreduce", "ecmp") > 0.99
    assert route_flows(t, "dp-allreduce", "ecmp", placement="random").throughput < 0.5


def test_oversubscription_caps_adaptive() -> None:
    t = build_topology(cluster("meta-llama3-roce"))  # 7:1 between 3,072-GPU pods
    a = route_flows(t, "permutation", "adaptive")
    # 7/8 of flows leave their pod through 1/7 of its bandwidth; the rest run at line rate
    assert a.throughput == pytest.approx(1 / 8 + 7 / 8 / 7 * 8 / 7, rel=0.1)
    assert route_flows(t, "permutation", "ecmp").throughput < a.throughput


def test_seeded() -> None:
    t = build_topology(cluster("eos"))
    assert effective_fraction(t, "permutation", seed=3) == effective_fraction(t, "permutation", seed=3)
    assert effective_fraction(t, "permutation", seed=3) != effective_fraction(t, "permutation", seed=4)
