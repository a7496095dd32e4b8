"""Hungarian matching through scipy, checked by hand and by brute force over permutations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from regionreasoner.geometry.matching import Matching, hungarian_match


@pytest.mark.parametrize(
    ("cost", "pairs", "total"),
    [
        ([[1, 2], [2, 1]], {(0, 0), (1, 1)}, 2),
        ([[4, 1], [2, 8]], {(0, 1), (1, 0)}, 3),
        ([[5]], {(0, 0)}, 5),
        # 2 predictions, 3 ground truths: pred 0 -> gt 2, pred 1 -> gt 0
        ([[9, 9, 1], [2, 9, 9]], {(0, 2), (1, 0)}, 3),
        # 3 predictions, 2 ground truths: pred 2 unmatched
        ([[1, 9], [9, 1], [5, 5]], {(0, 0), (1, 1)}, 2),
        ([[-1, 0], [0, -3]], {(0, 0), (1, 1)}, -4),
    ],
)
def test_hungarian_hand_cases(cost, pairs, total):
    m = hungarian_match(cost)
    assert isinstance(m, Matching)
    assert set(zip(m.pred_idx.tolist(), m.gt_idx.tolist(), strict=True)) == pairs
    assert float(m.cost.sum()) == pytest.approx(total)
    assert len(m) == min(np.shape(cost))


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_hungarian_empty(shape):
    m = hungarian_match(np.zeros(shape))
    assert len(m) == 0
    assert m.pred_idx.dtype == np.int64 and m.gt_idx.dtype == np.int64


def test_hungarian_rejects_non_matrix():
    with pytest.raises(ValueError, match="2-D"):
        hungarian_match([1.0, 2.0])


def brute_force_min(cost: np.ndarray) -> float:
    rows, cols = cost.shape
    if rows <= cols:
        return min(
            sum(cost[i, p[i]] for i in range(rows))
            for p in itertools.permutations(range(cols), rows)
        )
    return min(
        sum(cost[p[j], j] for j in range(cols)) for p in itertools.permutations(range(rows), cols)
    )


@settings(max_examples=60)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 4)),
        elements=st.floats(-100, 100, allow_nan=False, width=32),
    )
)
def test_hungarian_is_optimal_vs_brute_force(cost):
    m = hungarian_match(cost)
    assert len(m) == min(cost.shape)
    assert len(set(m.pred_idx.tolist())) == len(m)  # each row used once
    assert len(set(m.gt_idx.tolist())) == len(m)  # each column used once
    np.testing.assert_array_equal(m.cost, cost[m.pred_idx, m.gt_idx])
    assert float(m.cost.sum()) == pytest.approx(brute_force_min(cost), abs=1e-9)
