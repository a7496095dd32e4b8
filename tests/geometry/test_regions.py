"""``Regions``: aligned boxes, points and labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionreasoner.geometry.regions import Regions


def test_defaults_fill_points_with_nan_and_labels_with_none():
    r = Regions([[0, 0, 1, 1], [2, 2, 3, 3]])
    assert r.xyxy.shape == (2, 4) and r.xyxy.dtype == np.float64
    assert r.points.shape == (2, 2) and np.isnan(r.points).all()
    assert r.labels == (None, None)
    assert r.has_point.tolist() == [False, False]


def test_single_box_and_point_are_promoted():
    r = Regions([0, 0, 4, 4], [1, 2], ("dog",))
    assert r.xyxy.tolist() == [[0, 0, 4, 4]]
    assert r.points.tolist() == [[1, 2]]
    assert r.labels == ("dog",)


@pytest.mark.parametrize(
    ("xyxy", "points", "labels", "match"),
    [
        ([[0, 0, 1, 1]], [[0, 0], [1, 1]], (), "2 points for 1 boxes"),
        ([[0, 0, 1, 1], [0, 0, 2, 2]], [], (), "0 points for 2 boxes"),
        ([[0, 0, 1, 1]], None, ("a", "b"), "2 labels for 1 boxes"),
        ([[0, 0, 1]], None, (), "shape"),
    ],
)
def test_misaligned_inputs_raise(xyxy, points, labels, match):
    with pytest.raises(ValueError, match=match):
        Regions(xyxy, points, labels)


def test_empty():
    r = Regions.empty()
    assert len(r) == 0 and r.is_empty()
    assert r.xyxy.shape == (0, 4) and r.points.shape == (0, 2) and r.labels == ()
    assert not Regions([[0, 0, 1, 1]]).is_empty()


def test_has_point_mixed():
    r = Regions(
        [[0, 0, 1, 1], [0, 0, 2, 2], [0, 0, 3, 3]], [[0.5, 0.5], [np.nan, np.nan], [1, np.inf]]
    )
    assert r.has_point.tolist() == [True, False, False]


@pytest.fixture
def three() -> Regions:
    return Regions(
        [[0, 0, 1, 1], [10, 10, 12, 12], [20, 20, 23, 23]],
        [[0.5, 0.5], [np.nan, np.nan], [21, 21]],
        ("a", None, "c"),
    )


@pytest.mark.parametrize(
    ("index", "rows"),
    [
        (0, [0]),
        (-1, [2]),
        (slice(1, None), [1, 2]),
        (slice(0, 0), []),
        (np.array([True, False, True]), [0, 2]),
        (np.array([2, 0]), [2, 0]),
    ],
)
def test_getitem_keeps_alignment(three, index, rows):
    sub = three[index]
    assert isinstance(sub, Regions)
    assert len(sub) == len(rows)
    np.testing.assert_array_equal(sub.xyxy, three.xyxy[rows].reshape(-1, 4))
    np.testing.assert_array_equal(sub.points, three.points[rows].reshape(-1, 2))
    assert sub.labels == tuple(three.labels[i] for i in rows)


def test_regions_is_frozen(three):
    with pytest.raises(AttributeError):
        three.xyxy = np.zeros((0, 4))  # type: ignore[misc]


finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@st.composite
def regions_and_mask(draw):
    n = draw(st.integers(0, 6))
    boxes = draw(st.lists(st.lists(finite, min_size=4, max_size=4), min_size=n, max_size=n))
    points = draw(
        st.lists(
            st.one_of(st.lists(finite, min_size=2, max_size=2), st.just([np.nan, np.nan])),
            min_size=n,
            max_size=n,
        )
    )
    labels = draw(st.lists(st.sampled_from([None, "a", "dog"]), min_size=n, max_size=n))
    keep = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return boxes, points, labels, keep


@settings(max_examples=40)
@given(regions_and_mask())
def test_regions_invariants(data):
    boxes, points, labels, keep = data
    n = len(boxes)
    r = Regions(np.array(boxes).reshape(-1, 4), np.array(points).reshape(-1, 2), tuple(labels))
    assert len(r) == n == len(r.points) == len(r.labels) == len(r.has_point)
    sub = r[np.array(keep, dtype=bool)]
    assert len(sub) == sum(keep) == len(sub.points) == len(sub.labels)
    kept = [i for i, k in enumerate(keep) if k]
    np.testing.assert_array_equal(sub.xyxy, np.array(boxes).reshape(-1, 4)[kept])
    np.testing.assert_array_equal(sub.points, np.array(points, dtype=float).reshape(-1, 2)[kept])
    assert sub.labels == tuple(labels[i] for i in kept)
    assert sub.has_point.tolist() == [bool(np.isfinite(points[i]).all()) for i in kept]
