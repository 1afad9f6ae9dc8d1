"""Failure model: profiles from the catalog, scaled to clusters, checked against the published figures."""

from __future__ import annotations

import math

import pytest

from gigafactory import resolve
from gigafactory.errors import SpecError
from gigafactory.fleet.checkpoint import checkpoint_cost, daly_interval, total_params, young_interval
from gigafactory.fleet.reliability import fabric_switches, failure_model, mttf_hours, profiles, unit_counts

# Dubey et al. 2024, Table 5: 54-day snapshot on 16,384 H100
LLAMA3_TABLE5 = {
    "faulty_gpu": 148, "gpu_hbm3": 72, "software_bug": 54, "network_switch_cable": 35, "host_maintenance": 32,
    "gpu_sram": 19, "gpu_system_processor": 17, "nic": 7, "nccl_watchdog": 7, "silent_data_corruption": 6,
    "gpu_thermal_sensor": 6, "ssd": 3, "power_supply": 3, "server_chassis": 2, "io_expansion_board": 2,
    "dependency": 2, "cpu": 2, "system_memory": 2,
}


@pytest.fixture(scope="module")
def llama_cluster():
    return resolve.cluster({"use": "colossus", "num_gpus": 16384})


def test_profiles_listed() -> None:
    assert {"llama3-405b", "kokolis-rsc1", "kokolis-rsc2"} <= set(profiles())
    assert not [p for p in profiles() if p.startswith("_")]


def test_llama3_consistency_54_days(llama_cluster) -> None:
    fm = failure_model(llama_cluster, "llama3-405b")
    counts = fm.expected_counts(54)
    assert sum(v for k, v in counts.items() if k != "planned") == pytest.approx(419)
    assert counts["planned"] == pytest.approx(47)
    for cause, n in LLAMA3_TABLE5.items():
        assert counts[cause] == pytest.approx(n), cause
    # the split by share: faulty GPU 148/419 = 35.3 %
    assert fm.split()["faulty_gpu"] == pytest.approx(148 / 419)
    # cluster MTBF 54 x 24 / 419 = 3.09 h (2.78 h counting planned work)
    assert fm.mttf_h == pytest.approx(54 * 24 / 419)
    assert fm.mtbi_h == pytest.approx(54 * 24 / 466)


def test_llama3_scales_hardware_not_software(llama_cluster) -> None:
    big = resolve.cluster({"use": "colossus", "num_gpus": 100000})
    small, large = failure_model(llama_cluster, "llama3-405b"), failure_model(big, "llama3-405b")
    s, lg = {c.id: c.per_day for c in small.causes}, {c.id: c.per_day for c in large.causes}
    assert lg["faulty_gpu"] / s["faulty_gpu"] == pytest.approx(100000 / 16384)
    assert lg["host_maintenance"] / s["host_maintenance"] == pytest.approx(100000 / 16384)
    assert lg["software_bug"] == pytest.approx(s["software_bug"])
    # 100k GPUs: (419 - 56) x 100000/16384 + 56 + 47 per 54 days = 42.9/day, one every ~34 min
    per_day = ((419 - 56) * 100000 / 16384 + 56 + 47) / 54
    assert large.per_day == pytest.approx(per_day)
    assert 30 < 24 * 60 / large.per_day < 40


# Kokolis et al. 2025 (arXiv 2410.21680), Sec. IV: MTTF = 1/(N_nodes r_f), r_f = 6.50 / 1000 node-days on
# RSC-1; projected MTTF 1.8 h for 16,384-GPU jobs and 0.23 h for 131,072-GPU jobs.
@pytest.mark.parametrize(("gpus", "paper_h", "digits"), [(16384, 1.8, 0.05), (131072, 0.23, 0.005)])
def test_kokolis_projected_mttf(gpus: int, paper_h: float, digits: float) -> None:
    # equal to the paper's figure within its rounding
    assert mttf_hours("kokolis-rsc1", gpus) == pytest.approx(paper_h, abs=digits)


def test_kokolis_mttf_inverse_in_gpus() -> None:
    a, b = mttf_hours("kokolis-rsc1", 1024), mttf_hours("kokolis-rsc1", 8192)
    assert a / b == pytest.approx(8.0)
    # RSC-2 fails 6.50 / 2.34 = 2.78x less often
    assert mttf_hours("kokolis-rsc2", 4096) / mttf_hours("kokolis-rsc1", 4096) == pytest.approx(6.50 / 2.34)
    # O(1e5) GPUs on RSC-1-like rates: ~15-20 min (the paper: "15 minutes")
    assert 14 < 60 * mttf_hours("kokolis-rsc1", 100000) < 20


def test_kokolis_profile_matches_cluster_model() -> None:
    c = resolve.cluster({"use": "colossus", "num_gpus": 16384})
    assert failure_model(c, "kokolis-rsc1").mttf_h == pytest.approx(mttf_hours("kokolis-rsc1", 16384))
    shares = sum(x.per_day for x in failure_model(c, "kokolis-rsc1").causes) / (2048 * 6.5e-3)
    assert shares == pytest.approx(1.0)


def test_unknown_profile_names_the_choices(llama_cluster) -> None:
    with pytest.raises(SpecError) as e:
        failure_model(llama_cluster, "llama3")
    assert "llama3-405b" in str(e.value) and "did you mean" in str(e.value)


def test_unit_counts_colossus() -> None:
    c = resolve.cluster("colossus")
    u = unit_counts(c)
    assert u["gpu"] == 100000 and u["node"] == 12500 and u["rack"] == math.ceil(12500 / 8)
    # 3 tiers of 128-port switches: (2*3-1) x 100,000 / 128 = 3,906
    assert fabric_switches(c, 100000) == pytest.approx(5 * 100000 / 128)


def test_checkpoint_cost_by_hand() -> None:
    c = resolve.cluster("colossus")  # 2 TB/s storage
    m = resolve.model("llama3.1-405b")
    ck = checkpoint_cost(m, c)
    assert ck.bytes == pytest.approx(total_params(m) * 14)
    assert ck.bytes == pytest.approx(405e9 * 14, rel=0.01)  # 5.67 TB
    assert ck.write_s == pytest.approx(ck.bytes / 2e12 + 2.0)  # + 2 s fixed
    assert ck.async_stall_s == pytest.approx(ck.bytes / 1e5 / 25e9 + 2.0)
    assert ck.persist_s(True) == ck.write_s and ck.persist_s(False) == 0.0


def test_young_daly_by_hand() -> None:
    # delta = 30 s, M = 30 min -> Young sqrt(2 * 0.5 * 30) = 5.48 min
    assert young_interval(0.5, 30.0) == pytest.approx(math.sqrt(30.0))
    x = 0.5 / 60.0
    assert daly_interval(0.5, 30.0) == pytest.approx(math.sqrt(30.0) * (1 + math.sqrt(x) / 3 + x / 9) - 0.5)
    assert daly_interval(70.0, 30.0) == 30.0  # delta >= 2M: checkpoint every MTBF
