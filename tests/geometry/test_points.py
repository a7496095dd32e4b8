"""Points: array coercion, pairwise distances, point-in-box."""

from __future__ import annotations

import numpy as np
import pytest

from regionreasoner.geometry.points import as_points_array, point_distance_batch, points_in_boxes


@pytest.mark.parametrize(
    ("points", "shape", "error"),
    [
        ([1, 2], (1, 2), None),
        ([[1, 2], [3, 4]], (2, 2), None),
        ([], (0, 2), None),
        ([1, 2, 3], None, ValueError),
        ([[1, 2, 3]], None, ValueError),
    ],
)
def test_as_points_array(points, shape, error):
    if error is not None:
        with pytest.raises(error):
            as_points_array(points)
        return
    assert as_points_array(points).shape == shape


def test_point_distance_batch_hand_values():
    d = point_distance_batch([[0, 0], [1, 1]], [[3, 4], [1, 1], [-2, 1]])
    expected = np.array([[5.0, np.sqrt(2), np.sqrt(5)], [np.sqrt(13), 0.0, 3.0]])
    np.testing.assert_allclose(d, expected, atol=1e-12)


def test_point_distance_batch_empty_and_nan():
    assert point_distance_batch([], [[1, 1]]).shape == (0, 1)
    d = point_distance_batch([[np.nan, np.nan]], [[0, 0]])
    assert np.isnan(d[0, 0])  # a missing point is never "close"; callers test < threshold


@pytest.mark.parametrize(
    ("point", "box", "inside"),
    [
        ([5, 5], [0, 0, 10, 10], True),
        ([0, 0], [0, 0, 10, 10], True),  # borders included
        ([10, 10], [0, 0, 10, 10], True),
        ([10.01, 5], [0, 0, 10, 10], False),
        ([-0.01, 5], [0, 0, 10, 10], False),
        ([5, 11], [0, 0, 10, 10], False),
        ([np.nan, np.nan], [0, 0, 10, 10], False),
    ],
)
def test_points_in_boxes_single(point, box, inside):
    assert points_in_boxes([point], [box]).tolist() == [inside]


def test_points_in_boxes_pairs_are_aligned():
    points = [[1, 1], [50, 50]]
    boxes = [[0, 0, 2, 2], [0, 0, 2, 2]]
    assert points_in_boxes(points, boxes).tolist() == [True, False]


def test_points_in_boxes_length_mismatch():
    with pytest.raises(ValueError, match="2 points for 1 boxes"):
        points_in_boxes([[1, 1], [2, 2]], [[0, 0, 5, 5]])
