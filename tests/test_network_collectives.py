"""The collective model (network.collectives): hand-worked cases, NCCL's choices, the fabric as built,
invariants under hypothesis."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigafactory.errors import SpecError
from gigafactory.network import collectives as C
from gigafactory.network.collectives import comm_fabric
from gigafactory.resolve import cluster

NCCL_POINTS = list(csv.DictReader((Path(__file__).parent / "data" / "nccl_busbw.csv").open()))


def fab_of(name):
    """The collective model of a catalog cluster (name or override mapping), resolved here at the edge."""
    from gigafactory.resolve import cluster as resolve_cluster

    return comm_fabric(resolve_cluster(name))


def _model_busbw(row: dict[str, str]) -> float:
    """The model's nccl-tests busbw for one published point (tests/data/nccl_busbw.csv, each row citing
    its source); where the run forced an algorithm (NCCL_ALGO), the fastest protocol of that algorithm."""
    spec: dict[str, object] = {"use": row["cluster"]}
    for item in filter(None, row["overrides"].split(";")):  # cluster fields the measured system differs in
        key, value = item.split("=")
        spec[key] = float(value) if value.replace(".", "").isdigit() else value
    fab = fab_of(spec)
    S, n, s, alg = float(row["bytes"]), int(row["ranks"]), int(row["stride"]), row["algorithm"]
    co = C._coeffs(fab, row["op"], n, s)
    t = C._times(co, S)
    picks = [float(t[i]) for i, name in enumerate(co.names) if not alg or name == alg or name.startswith(alg + "/")]
    factor = 2 * (n - 1) / n if row["op"] == "all-reduce" else (n - 1) / n
    return S / min(picks) * factor / 1e9


@pytest.mark.parametrize("row", NCCL_POINTS, ids=lambda r: f"{r['system']}-{r['bytes']}")
def test_published_nccl_bus_bandwidth(row: dict[str, str]) -> None:
    # bandwidth regime (>= 32 MB, what gradient and activation collectives move): within 15%;
    # latency-bound sizes within 65% (docs/network.md lists every point's error)
    err = _model_busbw(row) / float(row["busbw_gbs"]) - 1
    assert abs(err) <= (0.15 if float(row["bytes"]) >= 32 * 2**20 else 0.65), f"{err:+.0%}"


def test_bandwidth_bound_ring_does_not_grow_with_rank_count() -> None:
    # one 400 Gb/s NIC per rank, ranks one per server: about 2 S / B = 80 ms at any scale
    fab = fab_of("colossus")
    b = fab.nic_eff_gbs * 1e9  # what one 400 Gb/s NIC delivers to NCCL
    times = [float(C.all_reduce(fab, 2e9, n, 8)) for n in (64, 1024, 4096, 12500)]
    for t in times:
        assert 2 * 2e9 / b <= t <= 1.15 * 2 * 2e9 / b
    assert max(times) / min(times) < 1.10  # ring at 64 ranks, tree beyond: same bandwidth term


def test_tensor_parallel_all_reduce_stays_on_nvlink_by_hand() -> None:
    # 8 ranks stride 1 on HGX H100: one domain; large buffer -> NVLS: 25 us + S / (NVLink usable x NVLS
    # efficiency x 31/32), the bandwidth term stretched by the pipeline ramp
    fab = fab_of("colossus")
    S, k = 1e9, C._k()
    nv = 450 * 0.824 * 0.76 * 31 / 32
    ramp = 1 + (k["ramp_bytes"] / S) ** k["ramp_power"]
    assert float(C.all_reduce(fab, S, 8, 1)) == pytest.approx(25e-6 + S / (nv * 1e9) * ramp, rel=1e-6)
    assert str(C.algorithm(fab, "all-reduce", S, 8, 1)) == "nvls"
    # A100 has no NVLS: the ring, 2 (n-1)/n S / B_nvl + latency
    a100 = fab_of("selene")
    assert str(C.algorithm(a100, "all-reduce", S, 8, 1)) == "ring/Simple"


def test_oversubscription_slows_an_all_to_all_that_crosses_spines() -> None:
    # Meta's RoCE pods: 3,072 GPUs under 7:1 oversubscribed uplinks. EP all-to-all, 8 GB per rank:
    # 256 ranks stride 8 fit one pod (2,048 GPUs); 512 ranks span two, 384 per pod, so 128/512 of each
    # rank's bytes leave its pod at 1/7 of the NIC rate: 1.75 x the bytes-on-NIC time of 511/512.
    fab = fab_of("meta-llama3-roce")
    assert fab.pod_gpus[-1] == 3072 and fab.pod_over[-1] == 7.0
    S = 8e9
    bw = fab.nic_gbs * fab.nic_eff * fab.a2a_frac * 1e9
    k = C._k()
    ramp = 1 + (k["ramp_bytes"] / S) ** k["ramp_power"]
    for n, worst, extra in ((256, 255 / 256, fab.net_latency_us[1] - fab.net_latency_us[0]),
                            (512, 128 / 512 * 7, fab.net_latency_us[2] - fab.net_latency_us[0])):
        lat = (k["a2a_base_us"] + (n - 1) * k["a2a_per_peer_us"] + extra) * 1e-6
        assert float(C.all_to_all(fab, S, n, 8)) == pytest.approx(lat + S * worst / bw * ramp, rel=1e-6)
    assert float(C.scale_out_gbs(fab, 512, 8, "all-to-all")) == pytest.approx(
        fab.nic_gbs * fab.nic_eff * fab.a2a_frac * (511 / 512) / 1.75, rel=1e-9)


def test_oversubscription_does_not_slow_a_ring_in_topology_order() -> None:
    # the same 512 ranks as a ring: consecutive ranks share a pod; one hop per pod boundary crosses the
    # spine, so the ring runs at the NIC rate: same as on the non-blocking twin fabric
    over = fab_of("meta-llama3-roce")
    flat = fab_of({"use": "meta-llama3-roce", "oversubscription": 1.0})
    assert flat.pod_over[-1] == 1.0
    t_over = float(C.reduce_scatter(over, 8e9, 512, 8))
    t_flat = float(C.reduce_scatter(flat, 8e9, 512, 8))
    assert t_over == pytest.approx(t_flat, rel=0.02)
    assert float(C.scale_out_gbs(over, 512, 8, "ring")) == pytest.approx(50 * over.nic_eff * over.ring_frac)


def test_point_to_point_across_an_oversubscribed_tier() -> None:
    # pipeline stages 4,096 GPUs apart on Meta's RoCE pods: every GPU of a pod sends out of it at once,
    # through 7:1 uplinks; stages 512 apart stay in the pod (non-blocking below it)
    fab = fab_of("meta-llama3-roce")
    k, S = C._k(), 1e9
    lat = fab.net_latency_us
    inside = k["p2p_net_latency_us"] + lat[1] - lat[0]
    across = k["p2p_net_latency_us"] + lat[2] - lat[0]
    assert float(C.send_recv(fab, S, 512)) == pytest.approx(inside * 1e-6 + S / (fab.nic_eff_gbs * 1e9))
    assert float(C.send_recv(fab, S, 4096)) == pytest.approx(across * 1e-6 + 7 * S / (fab.nic_eff_gbs * 1e9))
    assert float(C.send_recv(fab, S, 4)) == pytest.approx(k["p2p_nvlink_latency_us"] * 1e-6 + S / (fab.nvl_gbs * 1e9))


def test_sharp_and_nvls_where_the_hardware_offers_them() -> None:
    eos, colossus = fab_of("eos"), fab_of("colossus")
    assert eos.sharp and not colossus.sharp and eos.nvls and not fab_of("selene").nvls
    # in-network reduction halves the bytes each domain moves: faster than the best host algorithm
    assert float(C.all_reduce(eos, 2e9, 1024, 8)) < 0.7 * float(C.all_reduce(colossus, 2e9, 1024, 8))
    assert str(C.algorithm(eos, "all-reduce", 2e9, 1024, 8)) == "collnet"


def test_algorithm_choice_by_size_and_scale() -> None:
    fab = fab_of("colossus")
    small, big = C.algorithm(fab, "all-reduce", np.array([1e3, 4e9]), 4096, 8)
    assert small.endswith("/LL") and big == "tree/Simple"
    assert str(C.algorithm(fab, "all-gather", 1e9, 4096, 8)) == "pat"  # one GPU per domain, NCCL 2.23+


def test_bus_bandwidth_convention() -> None:
    fab = fab_of("colossus")
    t = float(C.all_reduce(fab, 1e9, 16, 1))
    assert float(C.bus_bandwidth(fab, "all-reduce", 1e9, 16, 1)) == pytest.approx(1e9 / t * 2 * 15 / 16 / 1e9)
    t = float(C.all_gather(fab, 1e9, 16, 1))
    assert float(C.bus_bandwidth(fab, "allgather", 1e9, 16, 1)) == pytest.approx(1e9 / t * 15 / 16 / 1e9)


def test_unbuildable_fabric_falls_back_to_line_rate() -> None:
    fab = fab_of({"use": "eos", "tiers": 2})
    assert not fab.built and fab.ring_frac == 1.0
    assert float(C.all_reduce(fab, 2e9, 1024, 8)) > 0


def test_bad_inputs() -> None:
    fab = fab_of("eos")
    with pytest.raises(SpecError, match="unknown collective"):
        C.algorithm(fab, "allsum", 1.0, 8)
    with pytest.raises(SpecError, match="pattern"):
        C.scale_out_gbs(fab, 8, 8, "mesh")
    assert float(C.all_reduce(fab, 1e6, 1)) == 0.0
    assert float(C.all_reduce(fab, 0.0, 8)) == 0.0


sizes = st.floats(min_value=1.0, max_value=1e10)
ranks = st.sampled_from([2, 4, 8, 16, 64, 72, 256, 1024, 4096])
strides = st.sampled_from([1, 2, 4, 8, 16, 64, 512])
clusters = st.sampled_from(["colossus", "eos", "meta-llama3-roce", "abilene", "selene"])


@settings(max_examples=60, deadline=None)
@given(clusters, sizes, sizes, ranks, strides)
def test_monotone_in_bytes(name: str, a: float, b: float, n: int, s: int) -> None:
    fab = fab_of(name)
    lo, hi = min(a, b), max(a, b)
    for fn in (C.all_reduce, C.reduce_scatter, C.all_gather, C.all_to_all):
        assert float(fn(fab, lo, n, s)) <= float(fn(fab, hi, n, s)) * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(clusters, sizes, ranks, strides)
def test_all_reduce_no_slower_than_reduce_scatter_plus_all_gather_and_latency(name: str, S: float, n: int, s: int) -> None:
    fab = fab_of(name)
    ar = float(C.all_reduce(fab, S, n, s))
    # NCCL's multi-node ring all-reduce carries a 1.4x latency plateau; bandwidth terms add up exactly
    assert ar <= 1.4 * (float(C.reduce_scatter(fab, S, n, s)) + float(C.all_gather(fab, S, n, s))) + 1e-9
    assert ar > 0 and np.isfinite(ar)


@settings(max_examples=40, deadline=None)
@given(sizes, ranks, strides)
def test_oversubscription_never_speeds_anything_up(S: float, n: int, s: int) -> None:
    over, flat = fab_of("meta-llama3-roce"), fab_of({"use": "meta-llama3-roce", "oversubscription": 1.0})
    assert float(C.all_to_all(over, S, n, s)) >= float(C.all_to_all(flat, S, n, s)) * (1 - 1e-9)
    assert float(C.send_recv(over, S, s * n)) >= float(C.send_recv(flat, S, s * n)) * (1 - 1e-9)
    for fab in (over, flat):
        for pattern in C.PATTERNS:
            assert 0 < float(C.scale_out_gbs(fab, n, s, pattern)) <= fab.nic_eff_gbs * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(clusters, sizes, ranks, strides)
def test_vectorised_equals_scalar(name: str, S: float, n: int, s: int) -> None:
    fab = fab_of(name)
    arr = C.all_reduce(fab, np.array([S, 2 * S]), np.array([n, n]), np.array([s, s]))
    assert arr[0] == float(C.all_reduce(fab, S, n, s))
    # one size over many groups, and a 2-D grid of sizes over one group, broadcast like numpy
    groups = C.all_reduce(fab, S, np.array([n, 2 * n]), np.array([s, s]))
    assert groups[1] == pytest.approx(float(C.all_reduce(fab, S, 2 * n, s)), rel=1e-12)
    grid = C.all_reduce(fab, np.full((2, 3), S), n, s)
    assert grid.shape == (2, 3) and np.all(grid == arr[0])


def test_catalog_cluster_resolves_once() -> None:
    assert comm_fabric(cluster("eos")) is comm_fabric(cluster("eos"))


def test_memoised_groups_follow_the_arrays_contents() -> None:
    fab = fab_of("colossus")
    rng = np.random.default_rng(1)
    n = rng.choice([2.0, 8, 64, 1024], 4096)
    s = rng.choice([1.0, 8, 64], 4096)
    S = rng.uniform(1e3, 1e9, 4096)
    first = C.all_reduce(fab, S, n, s)
    assert np.array_equal(first, C.all_reduce(fab, S, n.copy(), s.copy()))  # a hit by content
    each = [float(C.all_reduce(fab, S[i], n[i], s[i])) for i in range(0, 4096, 257)]
    assert np.allclose(first[::257], each, rtol=1e-12)
    n[:] = 2.0  # mutated in place: not served from the memo
    assert np.allclose(C.all_reduce(fab, S, n, s), C.all_reduce(fab, S, np.full(4096, 2.0), s))


def test_threads_do_not_share_memo_or_work_arrays() -> None:
    from concurrent.futures import ThreadPoolExecutor

    fab = fab_of("eos")
    rng = np.random.default_rng(2)
    jobs = [(rng.uniform(1e3, 1e9, 2048), rng.choice([2.0, 16, 512], 2048), rng.choice([1.0, 8], 2048))
            for _ in range(12)]
    serial = [C.all_reduce(fab, *j) for j in jobs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda j: C.all_reduce(fab, *j), jobs))
    assert all(np.array_equal(a, b) for a, b in zip(serial, threaded, strict=True))


def test_distinct_groups_path_equals_per_entry_path() -> None:
    # large integer columns are costed once per distinct (n, stride); a non-integer column takes the
    # per-entry path: both must agree with scalar calls
    fab = fab_of("meta-llama3-roce")
    rng = np.random.default_rng(3)
    n = rng.choice([2.0, 8, 64, 512, 1024], 3000)
    s = rng.choice([1.0, 2, 8, 64], 3000)
    S = rng.uniform(1e2, 1e10, 3000)
    idx = range(0, 3000, 211)
    for fn in (C.all_reduce, C.reduce_scatter, C.all_gather, C.all_to_all):
        for stride in (s, s + 0.5):
            got = fn(fab, S, n, stride)
            assert np.allclose(got[list(idx)], [float(fn(fab, S[i], n[i], stride[i])) for i in idx], rtol=1e-12)


def test_fabric_memo_ignores_the_gpu_power_cap() -> None:
    from gigafactory.perf.validate import row_cluster

    c = row_cluster("h100-sxm", 1024)
    capped = c.model_copy(update={"gpu": c.gpu.model_copy(update={"power_cap_w": 500.0})})
    assert comm_fabric(capped) is comm_fabric(c)
