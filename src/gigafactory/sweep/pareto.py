"""The Pareto frontier: designs that no other design beats on every objective at once.

All objectives are minimised (days to model, capex, peak power). Point ``a`` dominates ``b`` when
``a <= b`` in every objective and ``a < b`` in at least one. The filter sorts by the objectives'
sum (a point can only be dominated by one with a smaller sum) and sweeps once, each step a
vectorised comparison of one frontier candidate against all points still standing, so the cost
is O(n · frontier size) rather than O(n²).
"""

from __future__ import annotations

import numpy as np


def pareto_mask(costs: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, k) array (minimise every column).

    Rows with a NaN in any column are never on the frontier. Exact duplicates of a frontier point
    are all kept (none dominates the others).
    """
    c = np.asarray(costs, dtype=float)
    if c.ndim != 2:
        raise ValueError("costs must be a 2-D array (points x objectives)")
    n = c.shape[0]
    mask = np.zeros(n, dtype=bool)
    ok = ~np.isnan(c).any(axis=1)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return mask
    # normalise so that the sum ordering is not dominated by the objective with the largest units
    sub = c[idx]
    span = np.ptp(sub, axis=0)
    span[span == 0] = 1.0
    order = np.argsort(((sub - sub.min(axis=0)) / span).sum(axis=1), kind="stable")
    idx, sub = idx[order], sub[order]
    # every point reached in sum order is on the frontier (a dominator has a strictly smaller sum and
    # would have removed it), so the loop runs once per frontier point
    k = 0
    while k < len(idx):
        p = sub[k]
        keep = ~(np.all(sub >= p, axis=1) & np.any(sub > p, axis=1))
        k = int(keep[:k].sum()) + 1
        idx, sub = idx[keep], sub[keep]
    mask[idx] = True
    return mask


def dominated_by_any(costs: np.ndarray) -> np.ndarray:
    """Reference O(n²) check (for tests): True where some other row dominates the row."""
    c = np.asarray(costs, dtype=float)
    le = np.all(c[:, None, :] <= c[None, :, :], axis=2)
    lt = np.any(c[:, None, :] < c[None, :, :], axis=2)
    return (le & lt).any(axis=0)
