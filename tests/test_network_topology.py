"""Fat-tree counts: endpoint limits, a published SuperPOD table, Colossus by hand, fixes, scale."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigafactory.errors import SpecError
from gigafactory.network.topology import build_topology
from gigafactory.resolve import cluster


def eos(n: int, **kw):
    """An IB NDR (radix-64, 400G) rail-optimised HGX H100 cluster of n GPUs."""
    return build_topology(cluster({"use": "eos", "num_gpus": n, "tiers": None}), **kw)


def test_two_tier_limit_is_k_squared_over_2() -> None:
    assert eos(64 * 64 // 2).tiers == 2  # 2,048
    assert eos(64 * 64 // 2 + 8).tiers == 3
    with pytest.raises(SpecError, match="tiers=3"):
        eos(2056, tiers=2)


def test_three_tier_limit_is_k_cubed_over_4() -> None:
    t = eos(64**3 // 4)  # 65,536: the full k-ary fat tree
    assert t.tiers == 3
    assert list(t.switches_by_tier) == [2048, 2048, 1024]  # k^2/2, k^2/2, k^2/4 = 5N/k
    assert eos(64**3 // 4 + 8).tiers == 4
    with pytest.raises(SpecError, match=r"radix >= \d+ \(e\.g\. 128-port\)"):
        eos(65544, tiers=3)


# NVIDIA DGX SuperPOD B200 reference architecture, compute-fabric switch table (cluster-facts 2.2):
# SUs of 32 DGX B200 (256 GPUs), QM9700 64-port NDR switches, rail-optimised.
SUPERPOD_B200 = [  # SUs, leaf, spine, core, cables per tier
    (2, 16, 8, 0, 512), (4, 32, 16, 0, 1024), (8, 64, 32, 0, 2048),
    (16, 128, 128, 64, 4096), (32, 256, 256, 128, 8192), (64, 512, 512, 256, 16384),
]


@pytest.mark.parametrize(("sus", "leaf", "spine", "core", "cables"), SUPERPOD_B200)
def test_superpod_b200_switch_counts_exactly(sus, leaf, spine, core, cables) -> None:
    t = build_topology(cluster({"use": "eos", "gpu": "b200", "scale_up": "hgx-b200", "num_gpus": 256 * sus, "tiers": None}))
    assert list(t.switches_by_tier) == [leaf, spine] + ([core] if core else [])
    assert set(t.links_by_tier) == {cables}


def test_colossus_by_hand() -> None:
    # 12,500 servers x 8 rails; SN5600 at 400G: radix 128 -> 64 down / 64 up.
    # leaves: ceil(12500/64)=196 groups x 8 rails = 1568; level-2 pods of 64 leaves: 24 full + one of 32
    # -> spines 24*64 + 32 = 1568; cores ceil(1568*64/128) = 784.
    t = build_topology(cluster("colossus"))
    assert (t.tiers, t.radix) == (3, 128)
    assert list(t.switches_by_tier) == [1568, 1568, 784]
    assert t.switches_by_name == {"leaf": 1568, "spine": 1568, "core": 784}
    assert list(t.links_by_tier) == [100_000, 1568 * 64, 1568 * 64]
    assert sum(t.transceivers_by_kind.values()) + sum(
        n for k, n in t.cables_by_kind.items() if k.startswith("dac")) * 2 == 2 * t.total_links
    assert t.bisection_tbps == pytest.approx(100_000 * 50 / 2 / 1000)
    assert t.max_hops == 5
    # the top tier spans the hall: single-mode; leaf links stay multimode
    assert t.medium_by_tier[2].startswith(("dr", "fr"))
    assert not t.medium_by_tier[0].startswith(("dr", "fr"))


def test_meta_pods_and_oversubscription() -> None:
    t = build_topology(cluster("meta-llama3-roce"))  # 8 pods of 3,072, 7:1 above the pods, ToR leaves
    assert t.pods_by_tier[1] == 8
    assert t.oversubscription_by_tier[-1] == pytest.approx(7.0)
    assert t.tier_bw_gbs(2) == pytest.approx(50.0)
    assert t.tier_bw_gbs(3) == pytest.approx(50.0 / 7)
    assert t.tier_bw_gbs(0) == 450.0
    assert t.medium_by_tier[0].startswith("dac")  # in-rack top-of-rack copper


def test_deepseek_multiplane_two_tier() -> None:
    # DeepSeek-V3 paper: 8 planes of 2-tier fat trees on 64-port 400G switches reach 16,384 GPUs.
    t = eos(16384, planes=8, tiers=2)
    assert t.tiers == 2 and t.planes == 8
    assert t.switches_by_tier[0] == 8 * 64
    with pytest.raises(SpecError, match="planes=8"):
        eos(16384, tiers=2)


def test_oversubscription_fix_is_named() -> None:
    with pytest.raises(SpecError, match=r"oversubscription >= 1\.67:1 at tier 1"):
        eos(2560, tiers=2)


def test_latency_far_pair() -> None:
    t = build_topology(cluster("colossus"))
    prop = 2 * sum(t.run_m_by_tier) * 5.0 / 1000
    assert t.latency_us() == pytest.approx(t.nic_latency_us + 5 * t.hop_latency_us + prop)
    assert t.latency_us(0, 1) == t.scale_up_latency_us  # same HGX board
    assert int(t.level_between(0, 8)) == 1  # next server, same rail: one leaf
    assert int(t.level_between(0, 64 * 8)) == 2  # next leaf group: spine
    assert int(t.level_between(0, 99_992)) == 3


def test_millions_of_gpus_in_milliseconds() -> None:
    t0 = time.perf_counter()
    t = build_topology(cluster("colossus"), num_gpus=4_000_000, tiers=None)
    assert time.perf_counter() - t0 < 0.05
    assert t.tiers == 4
    assert t.total_switches == pytest.approx(7 * 4_000_000 / 128, rel=0.02)  # (2L-1) N/k


@settings(max_examples=60, deadline=None)
@given(servers=st.integers(1, 40_000), over=st.sampled_from([1.0, 2.0, 3.0, 7.0]),
       rail=st.booleans(), radix=st.sampled_from([32, 64, 128]))
def test_ports_are_conserved(servers, over, rail, radix) -> None:
    t = build_topology(cluster("colossus"), num_gpus=8 * servers, tiers=None, radix=radix, oversubscription=over,
                       rail_optimized=rail)
    sw, ln, L = t.switches_by_tier, t.links_by_tier, t.tiers
    assert ln[0] == t.endpoints <= sw[0] * t.down_ports[0]
    for i in range(1, L):
        assert ln[i] == sw[i - 1] * t.up_ports[i - 1]  # every uplink cabled
        assert ln[i] <= sw[i] * t.down_ports[i]  # and lands on a down port above
    assert t.transceivers_by_kind or t.cables_by_kind


def test_tiers_needed_by_hand() -> None:
    from gigafactory.network.topology import tiers_needed

    # radix 64: one tier joins 64 ports, two 2 x 32^2 = 2,048, three 2 x 32^3 = 65,536
    assert [tiers_needed(p, 64) for p in (64, 65, 2048, 2049, 65_536, 65_537)] == [1, 2, 2, 3, 3, 4]
    c = cluster("colossus")
    assert tiers_needed(c) == build_topology(c).tiers  # a cluster: the fabric as built decides
    assert tiers_needed(cluster({"use": "eos", "tiers": 2})) == 2
