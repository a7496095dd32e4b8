"""Minimum-cost bipartite matching (Hungarian algorithm, through scipy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True, slots=True)
class Matching:
    """Result of :func:`hungarian_match`: aligned index arrays and their costs."""

    pred_idx: npt.NDArray[np.int64]
    gt_idx: npt.NDArray[np.int64]
    cost: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.pred_idx)


def hungarian_match(cost: npt.ArrayLike) -> Matching:
    """Match rows (predictions) to columns (ground truth) at minimum total cost.

    Args:
        cost: ``(M, N)`` cost matrix; an empty dimension gives an empty matching.

    Returns:
        ``min(M, N)`` pairs.
    """
    matrix = np.asarray(cost, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D cost matrix, got shape {matrix.shape}")
    if matrix.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Matching(empty, empty, np.zeros(0, dtype=np.float64))
    rows, cols = linear_sum_assignment(matrix)
    return Matching(rows.astype(np.int64), cols.astype(np.int64), matrix[rows, cols])
