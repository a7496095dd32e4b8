"""An independent re-implementation of the relation rules of ``docs/benchmark.md``.

Written from the documented formulas (thresholds copied from the document, not imported
from the code) so the builders' relation labels are checked by a second implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

TOL = 2.0  # touching / inside / direction tolerance, px
SHARED = 0.25  # touching: shared edge >= 0.25 * smaller side
AREA = 0.8  # inside: inner area <= 0.8 * outer area
ROW = 0.5  # next_to: vertical overlap >= 0.5 * smaller height
GAP = 0.75  # next_to: horizontal gap <= 0.75 * mean width
MARGIN = 1.25  # superlatives: centre-distance ratio


def oracle_relation(
    name: str, a: Sequence[float], b: Sequence[float], distractors: Sequence[Sequence[float]] = ()
) -> bool:
    ax1, ay1, ax2, ay2 = map(float, a)
    bx1, by1, bx2, by2 = map(float, b)
    wa, ha, wb, hb = ax2 - ax1, ay2 - ay1, bx2 - bx1, by2 - by1
    overlap_x = min(ax2, bx2) - max(ax1, bx1)  # negative: a gap
    overlap_y = min(ay2, by2) - max(ay1, by1)

    def within(p: tuple[float, ...], q: tuple[float, ...]) -> bool:
        return (
            p[0] >= q[0] - TOL and p[1] >= q[1] - TOL and p[2] <= q[2] + TOL and p[3] <= q[3] + TOL
        )

    a_in_b = within((ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2)) and wa * ha <= AREA * wb * hb
    b_in_a = within((bx1, by1, bx2, by2), (ax1, ay1, ax2, ay2)) and wb * hb <= AREA * wa * ha
    nested = a_in_b or b_in_a
    axis_x = overlap_x > TOL or 0 < min(wa, wb) <= overlap_x
    axis_y = overlap_y > TOL or 0 < min(ha, hb) <= overlap_y
    overlapping = not nested and axis_x and axis_y
    touching = (
        not nested
        and not overlapping
        and (
            (abs(overlap_x) <= TOL and overlap_y >= SHARED * min(ha, hb))
            or (abs(overlap_y) <= TOL and overlap_x >= SHARED * min(wa, wb))
        )
    )

    def centre(box: Sequence[float]) -> tuple[float, float]:
        return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2

    def dist(p: Sequence[float], q: Sequence[float]) -> float:
        (px, py), (qx, qy) = centre(p), centre(q)
        return math.sqrt((px - qx) ** 2 + (py - qy) ** 2)

    d_target = dist(a, b)
    rules: dict[str, Callable[[], bool]] = {
        "inside": lambda: a_in_b,
        "contains": lambda: b_in_a and not a_in_b,
        "overlapping": lambda: overlapping,
        "touching": lambda: touching,
        "next_to": lambda: (
            TOL < -overlap_x <= GAP * (wa + wb) / 2 and overlap_y >= ROW * min(ha, hb)
        ),
        "left_of": lambda: ax2 <= bx1 + TOL and bx1 - ax2 >= -overlap_y,
        "right_of": lambda: ax1 >= bx2 - TOL and ax1 - bx2 >= -overlap_y,
        "above": lambda: ay2 <= by1 + TOL and by1 - ay2 >= -overlap_x,
        "below": lambda: ay1 >= by2 - TOL and ay1 - by2 >= -overlap_x,
        "closest_to": lambda: (
            bool(distractors)
            and all(dist(c, b) > d_target and dist(c, b) >= MARGIN * d_target for c in distractors)
        ),
        "farthest_from": lambda: (
            bool(distractors)
            and all(d_target > dist(c, b) and d_target >= MARGIN * dist(c, b) for c in distractors)
        ),
    }
    return rules[name]()


@pytest.fixture
def relation_oracle() -> Callable[..., bool]:
    """``relation_oracle(name, target_xyxy, reference_xyxy, distractors=()) -> bool``."""
    return oracle_relation
