"""Box/point hits of predictions against the ground truth, best one-to-one matching.

Shared by both profiles. Small problems (the usual one to a few boxes) run in pure
Python through :mod:`regionreasoner.geometry.pairs`, larger ones through the batch
functions; both give identical hits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from regionreasoner.geometry.boxes import box_iou_batch, box_iou_plus_one_batch, box_l1_batch
from regionreasoner.geometry.matching import hungarian_match
from regionreasoner.geometry.pairs import (
    box_iou_pair,
    box_l1_pair,
    point_distance_pair,
    point_in_box,
)
from regionreasoner.geometry.points import point_distance_batch, points_in_boxes
from regionreasoner.rewards.thresholds import (
    ACCURACY_TERMS,
    BOX_L1_HIT_PX,
    IOU_HIT,
    POINT_HIT_PX,
)

PAIRWISE_LIMIT = 64
"""Up to this many prediction/GT pairs, hits are computed pair by pair in Python."""

EXHAUSTIVE_LIMIT = 120
"""Up to this many one-to-one assignments, the best is found by enumeration (no scipy)."""

Rows = Sequence[Sequence[float]] | npt.NDArray[np.float64]


def hit_matrix(
    pred_xyxy: Rows,
    pred_points: Rows,
    gt_xyxy: Rows,
    gt_points: Rows,
    *,
    plus_one_iou: bool,
) -> npt.NDArray[np.int64]:
    """Number of binary hits (0-3) of every prediction/GT pair (batch functions).

    The three terms: IoU > :data:`IOU_HIT`; mean absolute coordinate difference <
    :data:`BOX_L1_HIT_PX`; point distance < :data:`POINT_HIT_PX` with the predicted point
    inside its OWN predicted box. NaN coordinates never hit.

    Args:
        pred_xyxy: ``(M, 4)`` predicted boxes; pred_points: ``(M, 2)``.
        gt_xyxy: ``(N, 4)`` GT boxes; gt_points: ``(N, 2)``. One frame for all.
        plus_one_iou: the released code's inclusive-pixel IoU (official profile)
            instead of the continuous IoU.

    Returns:
        ``(M, N)`` int array.

    >>> hit_matrix([[0, 0, 10, 10]], [[5, 5]], [[0, 0, 10, 10]], [[5, 5]], plus_one_iou=False)
    array([[3]])
    """
    iou = box_iou_plus_one_batch if plus_one_iou else box_iou_batch
    with np.errstate(invalid="ignore", over="ignore"):
        hits = (iou(pred_xyxy, gt_xyxy) > IOU_HIT).astype(np.int64)
        hits += box_l1_batch(pred_xyxy, gt_xyxy) < BOX_L1_HIT_PX
        inside = points_in_boxes(pred_points, pred_xyxy)
        hits += (point_distance_batch(pred_points, gt_points) < POINT_HIT_PX) & inside[:, None]
    return hits


def _hit_rows(
    pred_xyxy: Rows, pred_points: Rows, gt_xyxy: Rows, gt_points: Rows, plus_one_iou: bool
) -> list[list[int]]:
    rows = []
    for box, point in zip(pred_xyxy, pred_points, strict=True):
        inside = point_in_box(point, box)
        row = []
        for gt_box, gt_point in zip(gt_xyxy, gt_points, strict=True):
            hits = int(box_iou_pair(box, gt_box, plus_one=plus_one_iou) > IOU_HIT)
            hits += box_l1_pair(box, gt_box) < BOX_L1_HIT_PX
            hits += inside and point_distance_pair(point, gt_point) < POINT_HIT_PX
            row.append(hits)
        rows.append(row)
    return rows


def _max_assignment_small(rows: list[list[int]]) -> int:
    """Exhaustive optimum for tiny matrices (at most :data:`EXHAUSTIVE_LIMIT` orders)."""
    n_rows, n_cols = len(rows), len(rows[0])
    if n_rows <= n_cols:
        return max(
            sum(row[col] for row, col in zip(rows, cols, strict=False))
            for cols in itertools.permutations(range(n_cols), n_rows)
        )
    return max(
        sum(rows[r][c] for c, r in enumerate(order))
        for order in itertools.permutations(range(n_rows), n_cols)
    )


def max_matched_hits(hits: npt.ArrayLike) -> int:
    """Largest total of hits over one-to-one matchings (Hungarian on ``3 - hits``).

    The total is unique even when several matchings reach it, so a single row or column
    needs no solver.

    >>> max_matched_hits([[3, 1], [3, 0]])
    4
    """
    matrix = np.asarray(hits, dtype=np.int64)
    if matrix.size == 0:
        return 0
    rows, cols = matrix.shape
    if rows == 1 or cols == 1:
        return int(matrix.max())
    matching = hungarian_match(ACCURACY_TERMS - matrix)
    return round(float((ACCURACY_TERMS - matching.cost).sum()))


def matched_hits(
    pred_xyxy: Rows,
    pred_points: Rows,
    gt_xyxy: Rows,
    gt_points: Rows,
    *,
    plus_one_iou: bool,
) -> int:
    """Best one-to-one total of hits (0 to ``3 * min(M, N)``); see :func:`hit_matrix`.

    >>> matched_hits([[0, 0, 10, 10], [50, 50, 60, 60]], [[5, 5], [55, 55]],
    ...              [[50, 50, 60, 60]], [[55, 55]], plus_one_iou=True)
    3
    """
    pairs = len(pred_xyxy) * len(gt_xyxy)
    if pairs == 0:
        return 0
    if pairs > PAIRWISE_LIMIT:
        return max_matched_hits(
            hit_matrix(pred_xyxy, pred_points, gt_xyxy, gt_points, plus_one_iou=plus_one_iou)
        )
    pred_xyxy, pred_points, gt_xyxy, gt_points = (
        a.tolist() if isinstance(a, np.ndarray) else a
        for a in (pred_xyxy, pred_points, gt_xyxy, gt_points)
    )
    rows = _hit_rows(pred_xyxy, pred_points, gt_xyxy, gt_points, plus_one_iou)
    if len(rows) == 1:
        return max(rows[0])
    if len(rows[0]) == 1:
        return max(row[0] for row in rows)
    if math.perm(max(len(rows), len(rows[0])), min(len(rows), len(rows[0]))) <= EXHAUSTIVE_LIMIT:
        return _max_assignment_small(rows)
    return max_matched_hits(rows)
