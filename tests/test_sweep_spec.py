"""Sweep specs: grids, linked axes, seeded random samples, stable point ids, errors naming the axis."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gigafactory.errors import SpecError
from gigafactory.resolve import scenario_from_dict
from gigafactory.sweep.spec import column_name, parse_spec, point_id


def spec(axes: dict, **kw) -> object:
    return parse_spec({"name": "t", "axes": axes, **kw})


def test_grid_is_every_combination_with_stable_ids() -> None:
    s = spec({"cluster.num_gpus": {"start": 8192, "stop": 32768, "step": 8192},
              "cluster.gpu.power_cap_w": [500, 600, 700]})
    pts = list(s.points())
    assert s.size == 12 and len(pts) == 12
    assert {p[1]["cluster.num_gpus"] for p in pts} == {8192, 16384, 24576, 32768}
    assert len({p[0] for p in pts}) == 12
    again = spec({"cluster.gpu.power_cap_w": [500, 600, 700],
                  "cluster.num_gpus": {"start": 8192, "stop": 32768, "step": 8192}})
    assert {p[0] for p in again.points()} == {p[0] for p in pts}  # ids do not depend on axis order


def test_point_id_is_a_hash_of_the_overrides() -> None:
    a = point_id({"cluster.num_gpus": 8192, "cluster.gpu": "b200"})
    assert a == point_id({"cluster.gpu": "b200", "cluster.num_gpus": 8192})
    assert a != point_id({"cluster.gpu": "b200", "cluster.num_gpus": 16384})
    assert len(a) == 16 and int(a, 16) >= 0


def test_linked_axes_move_together() -> None:
    s = spec({"platform": {"cluster.gpu": ["h100-sxm", "b200"], "cluster.scale_up": ["hgx-h100", "hgx-b200"]},
              "cluster.num_gpus": [8192, 16384]})
    pts = [o for _, o in s.points()]
    assert s.size == 4 and len(pts) == 4
    assert {(o["cluster.gpu"], o["cluster.scale_up"]) for o in pts} == {("h100-sxm", "hgx-h100"), ("b200", "hgx-b200")}
    scen = scenario_from_dict(s.point_raw(pts[-1]))
    assert (scen.cluster.gpu.id, scen.cluster.scale_up.id, scen.cluster.num_gpus) == ("b200", "hgx-b200", 16384)


def test_linked_axes_need_equal_lengths() -> None:
    with pytest.raises(SpecError, match="axes.platform"):
        spec({"platform": {"cluster.gpu": ["h100-sxm", "b200"], "cluster.scale_up": ["hgx-h100"]}})


def test_shallow_paths_are_applied_first() -> None:
    # cluster.gpu=h200-sxm must not wipe the deeper power cap, whatever the axis order
    s = spec({"cluster.gpu.power_cap_w": [600], "cluster.gpu": ["h200-sxm"]})
    (_, over), = s.points()
    g = scenario_from_dict(s.point_raw(over)).cluster.gpu
    assert (g.id, g.power_cap_w) == ("h200-sxm", 600)


def test_random_sample_is_seeded_and_respects_bounds() -> None:
    axes = {"cluster.num_gpus": {"low": 8192, "high": 65536, "step": 8}, "job.tokens": {"low": 1e12, "high": 2e13, "log": True},
            "cluster.gpu": ["h100-sxm", "h200-sxm"]}
    a = list(spec(axes, sample="random", samples=200, seed=7).points())
    b = list(spec(axes, sample="random", samples=200, seed=7).points())
    c = list(spec(axes, sample="random", samples=200, seed=8).points())
    assert a == b and a != c and len(a) == 200
    n = [o["cluster.num_gpus"] for _, o in a]
    t = [o["job.tokens"] for _, o in a]
    assert all(isinstance(x, int) and x % 8 == 0 and 8192 <= x <= 65536 for x in n)
    assert all(1e12 <= x <= 2e13 for x in t)
    # log-uniform: about half the draws fall below the geometric midpoint
    below = sum(x < math.sqrt(1e12 * 2e13) for x in t) / len(t)
    assert 0.35 < below < 0.65


def test_random_discrete_duplicates_are_dropped() -> None:
    s = spec({"cluster.gpu.power_cap_w": [500, 600]}, sample="random", samples=50, seed=1)
    assert len(list(s.points())) == 2


def test_grid_low_high_num() -> None:
    s = spec({"job.tokens": {"low": 1e12, "high": 1e14, "num": 3, "log": True}})
    assert [o["job.tokens"] for _, o in s.points()] == pytest.approx([1e12, 1e13, 1e14])


@pytest.mark.parametrize(
    ("axes", "field", "words"),
    [
        ({"cluster.num_gpu": [8]}, "axes.cluster.num_gpu", "num_gpus"),
        ({"clutser.num_gpus": [8]}, "axes.clutser.num_gpus", "cluster"),
        ({"cluster.gpu": ["H100"]}, "axes.cluster.gpu", "h100-sxm"),
        ({"cluster.num_gpus": [-8]}, "axes.cluster.num_gpus", "greater than or equal to 1"),
        ({"job.precision": ["fp7"]}, "axes.job.precision", "fp7"),
        ({"cluster.num_gpus": {"low": 10}}, "axes.cluster.num_gpus", "low/high"),
        ({"cluster.num_gpus": {"start": 8, "stop": 64, "stpe": 8}}, "axes.cluster.num_gpus.stpe", "step"),
        ({"cluster.num_gpus": 8}, "axes.cluster.num_gpus", "expected a list"),
    ],
)
def test_errors_name_the_axis(axes: dict, field: str, words: str) -> None:
    with pytest.raises(SpecError) as ei:
        spec(axes)
    assert ei.value.field == field
    assert words in str(ei.value)


def test_spec_level_errors() -> None:
    with pytest.raises(SpecError, match="did you mean 'axes'"):
        parse_spec({"axis": {"cluster.num_gpus": [8]}})
    with pytest.raises(SpecError, match="samples"):
        spec({"cluster.num_gpus": [8]}, sample="random")
    with pytest.raises(SpecError, match="sample"):
        spec({"cluster.num_gpus": [8]}, sample="latin")
    with pytest.raises(SpecError, match="set.cluster.num_gpus"):
        spec({"cluster.gpu": ["b200"]}, set={"cluster.num_gpus": "many"})


@given(st.lists(st.sampled_from(["cluster.num_gpus", "cluster.gpu.power_cap_w", "job.tokens", "policies.seed"]),
                min_size=1, max_size=4, unique=True))
def test_column_names_are_distinct_and_sql_friendly(paths: list[str]) -> None:
    cols = [column_name(p) for p in paths]
    assert len(set(cols)) == len(cols)
    assert all(c.replace("_", "").isalnum() for c in cols)
