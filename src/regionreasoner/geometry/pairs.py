"""Pure-Python per-pair twins of the batch box/point functions, for hot loops.

Rewards score thousands of completions per second, almost all with one to three boxes;
there numpy's per-call overhead dominates. Each function here performs the same IEEE
operations in the same order as its batch counterpart, so the results are identical
(checked in ``tests/rewards/test_accuracy.py``):

* :func:`box_iou_pair` = ``box_iou_batch`` / ``box_iou_plus_one_batch`` for one pair;
* :func:`box_l1_pair` = ``box_l1_batch``; :func:`point_distance_pair` =
  ``point_distance_batch``; :func:`point_in_box` = ``points_in_boxes``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _positive_part(value: float) -> float:
    # np.clip(value, 0, None): NaN stays NaN.
    return 0.0 if value < 0.0 else value


def box_iou_pair(
    box_a: Sequence[float], box_b: Sequence[float], *, plus_one: bool = False
) -> float:
    """IoU of two xyxy boxes (continuous areas, or the legacy inclusive-pixel areas).

    Continuous: inverted sides are clamped to zero length first, as in
    ``box_iou_batch``; plus-one: no clamping, as in ``box_iou_plus_one_batch``. A union
    that is not positive (or NaN) gives 0.

    >>> round(box_iou_pair([0, 0, 10, 10], [5, 0, 15, 10]), 4)
    0.3333
    """
    ax1, ay1, ax2, ay2 = map(float, box_a)
    bx1, by1, bx2, by2 = map(float, box_b)
    # NaN -> 0, as in the batch functions (v != v only for NaN)
    if ax1 != ax1 or ay1 != ay1 or ax2 != ax2 or ay2 != ay2:
        return 0.0
    if bx1 != bx1 or by1 != by1 or bx2 != bx2 or by2 != by2:
        return 0.0
    offset = 1.0 if plus_one else 0.0
    if not plus_one:  # inverted sides get zero length
        ax2 = ax2 if ax2 >= ax1 else ax1
        ay2 = ay2 if ay2 >= ay1 else ay1
        bx2 = bx2 if bx2 >= bx1 else bx1
        by2 = by2 if by2 >= by1 else by1
    area_a = (ax2 - ax1 + offset) * (ay2 - ay1 + offset)
    area_b = (bx2 - bx1 + offset) * (by2 - by1 + offset)
    inter_w = (ax2 if ax2 <= bx2 else bx2) - (ax1 if ax1 >= bx1 else bx1) + offset
    inter_h = (ay2 if ay2 <= by2 else by2) - (ay1 if ay1 >= by1 else by1) + offset
    inter = _positive_part(inter_w) * _positive_part(inter_h)
    union = area_a + area_b - inter
    if not union > 0.0:
        return 0.0
    iou = inter / union
    return iou if math.isfinite(iou) else 0.0


def box_l1_pair(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """Mean absolute coordinate difference of two boxes (pixels).

    >>> box_l1_pair([0, 0, 10, 10], [2, 0, 10, 14])
    1.5
    """
    total = abs(float(box_a[0]) - float(box_b[0]))
    total += abs(float(box_a[1]) - float(box_b[1]))
    total += abs(float(box_a[2]) - float(box_b[2]))
    total += abs(float(box_a[3]) - float(box_b[3]))
    return total / 4.0


def point_distance_pair(point_a: Sequence[float], point_b: Sequence[float]) -> float:
    """Euclidean distance of two points (pixels); NaN propagates.

    >>> point_distance_pair([0, 0], [3, 4])
    5.0
    """
    dx = float(point_a[0]) - float(point_b[0])
    dy = float(point_a[1]) - float(point_b[1])
    return math.sqrt(dx * dx + dy * dy)


def point_in_box(point: Sequence[float], box: Sequence[float]) -> bool:
    """Whether ``point`` lies inside ``box`` (borders included; NaN never does).

    >>> point_in_box([10, 5], [0, 0, 10, 10]), point_in_box([11, 5], [0, 0, 10, 10])
    (True, False)
    """
    x, y = float(point[0]), float(point[1])
    return float(box[0]) <= x <= float(box[2]) and float(box[1]) <= y <= float(box[3])
