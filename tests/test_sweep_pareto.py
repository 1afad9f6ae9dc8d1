"""The Pareto filter against the O(n^2) definition, and on hand-made cases."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gigafactory.sweep.pareto import dominated_by_any, pareto_mask


def test_hand_made_frontier() -> None:
    # (days, capex, MW): b is dominated by a; d equals a (kept); c trades days for capex; e has a NaN
    costs = np.array([[10, 5, 100], [11, 5, 100], [20, 3, 100], [10, 5, 100], [np.nan, 1, 1]], dtype=float)
    assert pareto_mask(costs).tolist() == [True, False, True, True, False]


def test_single_objective_is_the_minimum() -> None:
    x = np.array([[3.0], [1.0], [2.0], [1.0]])
    assert pareto_mask(x).tolist() == [False, True, False, True]


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 60), st.integers(1, 4)),
              elements=st.sampled_from([0.0, 1.0, 2.0, 3.5, 1e6, -4.0])))
def test_matches_the_definition(costs: np.ndarray) -> None:
    assert (pareto_mask(costs) == ~dominated_by_any(costs)).all()


def test_large_random_set_is_fast_and_right() -> None:
    rng = np.random.default_rng(0)
    costs = rng.random((3000, 3))
    mask = pareto_mask(costs)
    assert (mask == ~dominated_by_any(costs)).all()
    assert 10 < mask.sum() < 300  # 3 objectives: about ln(n)^2/2 = 32 expected
