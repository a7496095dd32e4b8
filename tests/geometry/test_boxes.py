"""Boxes: conversion, area, continuous IoU (vs hand values and torchvision), legacy +1 IoU, L1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from regionreasoner.geometry.boxes import (
    as_xyxy_array,
    box_area,
    box_iou,
    box_iou_batch,
    box_iou_plus_one_batch,
    box_l1_batch,
    clip_xyxy,
    is_valid_xyxy,
    xywh_to_xyxy,
    xyxy_to_xywh,
)

# (box_a, box_b, expected continuous IoU computed by hand)
IOU_CASES = [
    pytest.param([0, 0, 10, 10], [0, 0, 10, 10], 1.0, id="identical"),
    pytest.param([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150, id="half-shift"),
    pytest.param([0, 0, 10, 10], [20, 20, 30, 30], 0.0, id="disjoint"),
    pytest.param([0, 0, 10, 10], [10, 0, 20, 10], 0.0, id="touching-edge"),
    pytest.param([0, 0, 10, 10], [0, 0, 5, 5], 25 / 100, id="contained"),
    pytest.param([0, 0, 1.5, 1], [0.5, 0, 2, 1], 1 / 2, id="fractional"),
    pytest.param([0, 0, 10, 10], [5, 5, 15, 15], 25 / 175, id="corner-overlap"),
    pytest.param([0, 0, 0, 10], [0, 0, 10, 10], 0.0, id="zero-width"),
    pytest.param([3, 3, 3, 3], [3, 3, 3, 3], 0.0, id="both-degenerate-union-0"),
    pytest.param([10, 10, 0, 0], [0, 0, 10, 10], 0.0, id="inverted-has-area-0"),
    pytest.param([0, 0, math.nan, 10], [0, 0, 10, 10], 0.0, id="nan-gives-0"),
    pytest.param([0, 0, math.inf, 10], [0, 0, 10, 10], 0.0, id="inf-gives-0"),
    pytest.param([-5, -5, 5, 5], [0, 0, 10, 10], 25 / 175, id="negative-coords"),
]


@pytest.mark.parametrize(("box_a", "box_b", "expected"), IOU_CASES)
def test_box_iou_hand_values(box_a, box_b, expected):
    assert box_iou(box_a, box_b) == pytest.approx(expected, abs=1e-12)
    # symmetric
    assert box_iou(box_b, box_a) == pytest.approx(expected, abs=1e-12)


def test_box_iou_batch_matrix_layout():
    a = [[0, 0, 10, 10], [20, 20, 30, 30]]
    b = [[0, 0, 10, 10], [5, 0, 15, 10], [25, 20, 35, 30]]
    iou = box_iou_batch(a, b)
    assert iou.shape == (2, 3)
    expected = np.array([[1.0, 1 / 3, 0.0], [0.0, 0.0, 1 / 3]])
    np.testing.assert_allclose(iou, expected, atol=1e-12)


@pytest.mark.parametrize(
    ("a", "b", "shape"),
    [
        ([], [[0, 0, 1, 1]], (0, 1)),
        ([[0, 0, 1, 1]], np.zeros((0, 4)), (1, 0)),
        ([], [], (0, 0)),
        ([0, 0, 1, 1], [[0, 0, 1, 1], [0, 0, 2, 2]], (1, 2)),
    ],
)
def test_box_iou_batch_shapes(a, b, shape):
    assert box_iou_batch(a, b).shape == shape


@pytest.mark.slow  # imports torch
def test_box_iou_batch_matches_torchvision():
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, size=(40, 2))
    wh = rng.uniform(0.5, 200, size=(40, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    a, b = boxes[:25], boxes[25:]
    ours = box_iou_batch(a, b)
    ref = ops.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    assert (ours > 0).sum() > 0  # the sample really exercises overlaps


# legacy "+1 pixel" convention: w = x2 - x1 + 1
PLUS_ONE_CASES = [
    pytest.param([0, 0, 9, 9], [0, 0, 9, 9], 1.0, id="identical"),
    # areas 10x10 each, intersection x in [5, 9] -> 5 px wide, 10 tall
    pytest.param([0, 0, 9, 9], [5, 0, 14, 9], 50 / 150, id="half-shift"),
    pytest.param([0, 0, 9, 9], [10, 0, 19, 9], 0.0, id="adjacent"),
    # sharing the column x=10 counts as 1 px of overlap with +1 (continuous gives 0)
    pytest.param([0, 0, 10, 0], [10, 0, 20, 0], 1 / 21, id="shared-pixel-column"),
    # a zero-size box is a single pixel: 1 / (1 + 121 - 1)
    pytest.param([3, 3, 3, 3], [0, 0, 10, 10], 1 / 121, id="single-pixel"),
]


@pytest.mark.parametrize(("box_a", "box_b", "expected"), PLUS_ONE_CASES)
def test_box_iou_plus_one_hand_values(box_a, box_b, expected):
    assert box_iou_plus_one_batch(box_a, box_b)[0, 0] == pytest.approx(expected, abs=1e-12)


def test_plus_one_differs_from_continuous():
    # Same boxes, two conventions: continuous 25/175, +1 gives 36/206.
    a, b = [0, 0, 10, 10], [5, 5, 15, 15]
    assert box_iou(a, b) == pytest.approx(25 / 175)
    assert box_iou_plus_one_batch(a, b)[0, 0] == pytest.approx(36 / (121 + 121 - 36))


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([[0, 0, 10, 5]], [50.0]),
        ([[1.5, 2, 3, 4.5]], [1.5 * 2.5]),
        ([[10, 10, 0, 0]], [0.0]),  # inverted -> 0
        ([[0, 0, 10, 0]], [0.0]),
        ([0, 0, 2, 3], [6.0]),  # a single (4,) box
        ([], []),
    ],
)
def test_box_area(boxes, expected):
    np.testing.assert_allclose(box_area(boxes), expected)


def test_xywh_xyxy_conversion():
    np.testing.assert_array_equal(xywh_to_xyxy([1, 2, 3, 4]), [1, 2, 4, 6])
    np.testing.assert_array_equal(xyxy_to_xywh([1, 2, 4, 6]), [1, 2, 3, 4])
    batch = np.array([[0, 0, 10, 10], [5.5, 1, 2, 2]])
    np.testing.assert_allclose(xyxy_to_xywh(xywh_to_xyxy(batch)), batch)
    # input not modified in place
    before = batch.copy()
    xywh_to_xyxy(batch)
    np.testing.assert_array_equal(batch, before)


def test_clip_xyxy():
    clipped = clip_xyxy([[-5, -5, 700, 500], [10, 20, 30, 40]], (640, 480))
    np.testing.assert_array_equal(clipped, [[0, 0, 640, 480], [10, 20, 30, 40]])
    np.testing.assert_array_equal(clip_xyxy([650, 490, 660, 500], (640, 480)), [640, 480, 640, 480])


@pytest.mark.parametrize(
    ("box", "valid"),
    [
        ([0, 0, 1, 1], True),
        ([0.5, 0.5, 0.6, 0.6], True),
        (["1", "2", "3", "4"], True),  # numeric strings convert
        ([0, 0, 0, 1], False),  # zero width
        ([0, 0, 1, 0], False),
        ([2, 2, 1, 3], False),  # inverted
        ([0, 0, math.nan, 1], False),
        ([0, 0, math.inf, 1], False),
        ([0, 0, 1], False),
        ([0, 0, 1, 1, 1], False),
        (["a", 0, 1, 1], False),
        ([None, 0, 1, 1], False),
    ],
)
def test_is_valid_xyxy(box, valid):
    assert is_valid_xyxy(box) is valid


@pytest.mark.parametrize(
    ("boxes", "shape", "error"),
    [
        ([1, 2, 3, 4], (1, 4), None),
        ([[1, 2, 3, 4], [5, 6, 7, 8]], (2, 4), None),
        ([], (0, 4), None),
        (np.zeros((0, 3)), (0, 4), None),  # empty is empty whatever its shape
        ([1, 2, 3], None, ValueError),
        ([[1, 2, 3, 4, 5]], None, ValueError),
        (np.zeros((2, 2, 4)), None, ValueError),
    ],
)
def test_as_xyxy_array(boxes, shape, error):
    if error is not None:
        with pytest.raises(error):
            as_xyxy_array(boxes)
        return
    arr = as_xyxy_array(boxes)
    assert arr.shape == shape
    assert arr.dtype == np.float64


def test_box_l1_batch_hand_value():
    # |0-1| + |0-2| + |10-13| + |10-14| = 10 -> mean 2.5
    l1 = box_l1_batch([[0, 0, 10, 10]], [[1, 2, 13, 14], [0, 0, 10, 10]])
    np.testing.assert_allclose(l1, [[2.5, 0.0]])
    assert box_l1_batch([], [[0, 0, 1, 1]]).shape == (0, 1)
