"""Masks: box-fill rasterisation (by hand and brute force), mask IoU, tight boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from regionreasoner.geometry.masks import (
    mask_intersection_union,
    mask_iou,
    mask_to_xyxy,
    xyxy_to_mask,
)


def pixels(mask: np.ndarray) -> set[tuple[int, int]]:
    """Set pixels as ``(x, y)``."""
    ys, xs = np.nonzero(mask)
    return {(int(x), int(y)) for x, y in zip(xs, ys, strict=True)}


# (boxes, image_wh (W, H), expected set pixels (x, y)), all worked out by hand
BOX_FILL_CASES = [
    pytest.param([[1, 1, 3, 2]], (4, 3), {(1, 1), (2, 1)}, id="basic"),
    pytest.param([[0, 0, 4, 3]], (4, 3), {(x, y) for x in range(4) for y in range(3)}, id="full"),
    # 0.5 -> 1, 0.5 -> 1, 2.4 -> 2, 1.5 -> 2: x in [1, 2), y in [1, 2)
    pytest.param([[0.5, 0.5, 2.4, 1.5]], (4, 3), {(1, 1)}, id="round-half-up"),
    # 1.49 -> 1, 0.49 -> 0, 2.5 -> 3, 1.49 -> 1
    pytest.param([[1.49, 0.49, 2.5, 1.49]], (4, 3), {(1, 0), (2, 0)}, id="round-below-half"),
    pytest.param([[-5, -5, 2, 2]], (4, 3), {(0, 0), (1, 0), (0, 1), (1, 1)}, id="clip-low"),
    pytest.param([[3, 0, 100, 100]], (4, 3), {(3, 0), (3, 1), (3, 2)}, id="clip-high"),
    pytest.param([[-0.6, 0, 1, 1]], (4, 3), {(0, 0)}, id="negative-rounds-then-clips"),
    pytest.param([[2, 2, 2, 3]], (4, 3), set(), id="zero-width"),
    pytest.param([[3, 2, 1, 3]], (4, 3), set(), id="inverted"),
    pytest.param([[1.2, 1, 1.4, 2]], (4, 3), set(), id="collapses-after-rounding"),
    pytest.param([[10, 10, 20, 20]], (4, 3), set(), id="outside"),
    pytest.param([[math.nan, 0, 2, 2]], (4, 3), set(), id="nan-skipped"),
    pytest.param([[0, 0, math.inf, 1]], (4, 3), set(), id="inf-skipped"),
    pytest.param(
        [[0, 0, 2, 1], [1, 0, 3, 1], [math.nan, 0, 1, 1]],
        (4, 3),
        {(0, 0), (1, 0), (2, 0)},
        id="union-with-a-bad-box",
    ),
    pytest.param(np.zeros((0, 4)), (4, 3), set(), id="no-boxes"),
]


@pytest.mark.parametrize(("boxes", "image_wh", "expected"), BOX_FILL_CASES)
def test_xyxy_to_mask_hand_cases(boxes, image_wh, expected):
    mask = xyxy_to_mask(boxes, image_wh)
    assert mask.shape == (image_wh[1], image_wh[0])
    assert mask.dtype == bool
    assert pixels(mask) == expected


def _brute_force_fill(boxes: np.ndarray, image_wh: tuple[int, int]) -> np.ndarray:
    """Reference: test every pixel against the rounded, clipped box."""
    width, height = image_wh
    out = np.zeros((height, width), dtype=bool)
    for box in boxes:
        x1, y1, x2, y2 = (math.floor(v + 0.5) for v in box)  # equals int(v+.5) once clipped >= 0
        x1, x2 = min(max(x1, 0), width), min(max(x2, 0), width)
        y1, y2 = min(max(y1, 0), height), min(max(y2, 0), height)
        for y in range(height):
            for x in range(width):
                if x1 <= x < x2 and y1 <= y < y2:
                    out[y, x] = True
    return out


def test_xyxy_to_mask_matches_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(30):
        image_wh = (int(rng.integers(1, 13)), int(rng.integers(1, 13)))
        n = int(rng.integers(0, 4))
        boxes = rng.uniform(-4, 16, size=(n, 4)).round(2)
        np.testing.assert_array_equal(
            xyxy_to_mask(boxes, image_wh), _brute_force_fill(boxes, image_wh)
        )


@pytest.mark.parametrize(
    ("pred", "gt", "inter", "union", "iou"),
    [
        ([[1, 1], [0, 0]], [[1, 0], [0, 0]], 1, 2, 0.5),
        ([[1, 1], [1, 1]], [[1, 1], [1, 1]], 4, 4, 1.0),
        ([[0, 0], [0, 0]], [[0, 0], [0, 0]], 0, 0, 0.0),  # both empty -> 0 by definition
        ([[1, 0], [0, 0]], [[0, 0], [0, 1]], 0, 2, 0.0),
    ],
)
def test_mask_intersection_union_and_iou(pred, gt, inter, union, iou):
    p, g = np.array(pred, dtype=bool), np.array(gt, dtype=bool)
    assert mask_intersection_union(p, g) == (inter, union)
    assert mask_iou(p, g) == pytest.approx(iou)


def test_mask_intersection_union_accepts_uint8():
    p = np.array([[2, 0]], dtype=np.uint8)  # nonzero counts as set
    g = np.array([[1, 1]], dtype=np.uint8)
    assert mask_intersection_union(p, g) == (1, 2)


def test_mask_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        mask_intersection_union(np.zeros((2, 2), bool), np.zeros((2, 3), bool))


def test_mask_to_xyxy():
    mask = np.zeros((5, 6), dtype=bool)
    mask[1:3, 2:5] = True
    mask[4, 0] = True
    assert mask_to_xyxy(mask).tolist() == [0.0, 1.0, 5.0, 5.0]
    assert mask_to_xyxy(np.zeros((3, 3), dtype=bool)) is None


def test_box_fill_and_tight_box_round_trip():
    box = [2, 1, 5, 4]
    mask = xyxy_to_mask([box], (8, 6))
    assert mask.sum() == 3 * 3
    assert mask_to_xyxy(mask).tolist() == [float(v) for v in box]
