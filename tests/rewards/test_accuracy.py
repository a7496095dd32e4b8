"""Hit matrices and matching: the pure-Python pair path equals the numpy batch path,
the matching equals a brute-force optimum, and rewards share evaluation's IoU."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionreasoner.geometry import box_iou_batch, box_iou_plus_one_batch, box_l1_batch
from regionreasoner.geometry.pairs import (
    box_iou_pair,
    box_l1_pair,
    point_distance_pair,
    point_in_box,
)
from regionreasoner.geometry.points import point_distance_batch, points_in_boxes
from regionreasoner.rewards.accuracy import (
    PAIRWISE_LIMIT,
    hit_matrix,
    matched_hits,
    max_matched_hits,
)

SPECIAL = [math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0, -0.0, 0.5, 1e-300]
coordinate = st.one_of(
    st.integers(-50, 900).map(float),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.sampled_from(SPECIAL),
)
box = st.lists(coordinate, min_size=4, max_size=4)
point = st.lists(coordinate, min_size=2, max_size=2)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=300)
@given(box, box)
def test_box_iou_pair_equals_batch_bit_for_bit(a, b):
    assert same(box_iou_pair(a, b), float(box_iou_batch([a], [b])[0, 0]))
    assert same(box_iou_pair(a, b, plus_one=True), float(box_iou_plus_one_batch([a], [b])[0, 0]))


@settings(max_examples=300)
@given(box, box, point, point)
def test_l1_distance_and_inside_pairs_equal_batch(a, b, p, q):
    with np.errstate(invalid="ignore", over="ignore"):
        assert same(box_l1_pair(a, b), float(box_l1_batch([a], [b])[0, 0]))
        assert same(point_distance_pair(p, q), float(point_distance_batch([p], [q])[0, 0]))
        assert point_in_box(p, a) == bool(points_in_boxes([p], [a])[0])


@settings(max_examples=150)
@given(
    st.lists(st.tuples(box, point), min_size=1, max_size=6),
    st.lists(st.tuples(box, point), min_size=1, max_size=6),
    st.booleans(),
)
def test_matched_hits_pair_path_equals_batch_path_and_brute_force(preds, gts, plus_one):
    pred_xyxy, pred_points = [p[0] for p in preds], [p[1] for p in preds]
    gt_xyxy, gt_points = [g[0] for g in gts], [g[1] for g in gts]
    hits = hit_matrix(
        np.array(pred_xyxy), np.array(pred_points), np.array(gt_xyxy), np.array(gt_points),
        plus_one_iou=plus_one,
    )  # fmt: skip
    fast = matched_hits(pred_xyxy, pred_points, gt_xyxy, gt_points, plus_one_iou=plus_one)
    rows, cols = hits.shape
    best = max(
        sum(hits[r, c] for r, c in zip(perm, range(cols), strict=False))
        if rows >= cols
        else sum(hits[r, c] for r, c in zip(range(rows), perm, strict=False))
        for perm in itertools.permutations(range(max(rows, cols)), min(rows, cols))
    )
    assert fast == max_matched_hits(hits) == best


def test_matched_hits_large_inputs_use_batch_path_with_same_result():
    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 500, (40, 2))
    pred = np.concatenate([corner, corner + rng.uniform(50, 200, (40, 2))], axis=1)
    points = pred[:, :2] + 5
    gt, gt_points = pred[:3] + 2, points[:3]
    assert len(pred) * len(gt) > PAIRWISE_LIMIT
    batch = matched_hits(pred, points, gt, gt_points, plus_one_iou=False)
    pairwise = matched_hits(pred[:21], points[:21], gt, gt_points, plus_one_iou=False)
    assert batch == pairwise == 9  # the three near-copies are among the first 21


def test_reward_iou_is_evaluation_iou():
    from regionreasoner.evaluation.metrics import box_hit_any

    pred, gt = [100.0, 100.0, 150.0, 200.0], [100.0, 100.0, 200.0, 200.0]  # IoU exactly 0.5
    assert box_iou_pair(pred, gt) == 0.5
    assert box_hit_any([pred], gt) is False
    hits = matched_hits([pred], [[0.0, 0.0]], [gt], [[999.0, 999.0]], plus_one_iou=False)
    assert hits == 0  # same "> 0.5" rule: no IoU hit


@pytest.mark.parametrize(
    ("hits", "expected"),
    [
        ([[3, 1], [3, 0]], 4),
        ([[0, 0, 3], [3, 0, 0]], 6),
        ([[1], [2], [0]], 2),
        ([[2, 3]], 3),
    ],
)
def test_max_matched_hits_table(hits, expected):
    assert max_matched_hits(hits) == expected


GT_BOX, GT_POINT = [100.0, 100.0, 200.0, 200.0], [150.0, 150.0]


@pytest.mark.parametrize(
    ("box", "point", "expected"),
    [
        # every side moved by 10 px: mean L1 exactly 10 (no hit), IoU 8100/11900, point hit
        ([110, 110, 210, 210], [150, 150], 2),
        ([109.5, 109.5, 209.5, 209.5], [150, 150], 3),  # L1 = 9.5 < 10
        # point exactly 30 px away (18, 24): no point hit; inside its own box
        ([100, 100, 200, 200], [168, 174], 2),
        ([100, 100, 200, 200], [168, 173.9], 3),
        # IoU exactly 0.5 (100 x 50 of 100 x 100): no IoU hit; L1 12.5; point inside, 25 px
        ([100, 100, 200, 150], [150, 125], 1),
        # a point on the target but outside its own predicted box: no point hit
        ([100, 100, 140, 200], [150, 150], 0),
    ],
)
@pytest.mark.parametrize("path", ["pair", "batch"])
def test_each_hit_term_is_strict_at_its_threshold(box, point, expected, path):
    """IoU > 0.5, mean L1 < 10 px, point < 30 px and inside its own box (docs/rewards.md);
    the batch path (above PAIRWISE_LIMIT pairs) is forced with far-away extra GT objects."""
    n_far = 0 if path == "pair" else PAIRWISE_LIMIT
    gt_xyxy = [GT_BOX] + [[1000.0 + 20 * i, 1000.0, 1010.0 + 20 * i, 1010.0] for i in range(n_far)]
    gt_points = [GT_POINT] + [[1005.0 + 20 * i, 1005.0] for i in range(n_far)]
    assert (len(gt_xyxy) > PAIRWISE_LIMIT) == (path == "batch")
    hits = matched_hits([box], [point], gt_xyxy, gt_points, plus_one_iou=False)
    assert hits == expected
