"""Frames: model frame <-> original image, the released rounding, Qwen's native size."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionreasoner.geometry.frames import (
    OFFICIAL_MODEL_SIZE,
    Frame,
    qwen_native_wh,
    round_half_up,
)


def released_round(v: float, f: float) -> int:
    """The released evaluation's rounding, written independently: ``int(v * f + 0.5)``."""
    return int(v * f + 0.5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, 0),
        (0.49, 0),
        (0.5, 1),  # half goes up
        (1.5, 2),
        (2.5, 3),  # not banker's rounding
        (2.4999, 2),
        (-0.4, 0),  # int() truncates toward zero: int(0.1) == 0
        (-0.6, 0),  # int(-0.1) == 0
        (-1.6, -1),  # int(-1.1) == -1
        (839.5, 840),
    ],
)
def test_round_half_up(value, expected):
    assert round_half_up([value]).tolist() == [expected]
    assert int(value + 0.5) == expected  # the table itself follows Python's rule


def test_official_model_size():
    assert OFFICIAL_MODEL_SIZE == 840


def test_square_frame_scale_and_corners():
    frame = Frame.square((640, 480))
    assert frame.model_wh == (840, 840)
    assert frame.scale_xy == (640 / 840, 480 / 840)
    np.testing.assert_allclose(frame.to_image_xyxy([[0, 0, 840, 840]]), [[0, 0, 640, 480]])
    np.testing.assert_allclose(frame.to_model_xyxy([[0, 0, 640, 480]]), [[0, 0, 840, 840]])
    np.testing.assert_allclose(frame.to_image_points([[420, 420]]), [[320, 240]])
    np.testing.assert_allclose(frame.to_model_points([[320, 240]]), [[420, 420]])


@pytest.mark.parametrize("image_wh", [(640, 480), (427, 640), (333, 500), (1000, 1000), (1, 7)])
@pytest.mark.parametrize(
    "model_xyxy", [[0, 0, 840, 840], [1, 2, 3, 4], [13, 417, 839, 421], [100.5, 3.25, 700.75, 9]]
)
def test_rounded_to_image_matches_int_v_times_f_plus_half(image_wh, model_xyxy):
    frame = Frame.square(image_wh)
    fx, fy = image_wh[0] / 840, image_wh[1] / 840
    expected = [
        released_round(model_xyxy[0], fx),
        released_round(model_xyxy[1], fy),
        released_round(model_xyxy[2], fx),
        released_round(model_xyxy[3], fy),
    ]
    got = frame.to_image_xyxy([model_xyxy], rounded=True)
    assert got.tolist() == [[float(v) for v in expected]]
    pts = frame.to_image_points([model_xyxy[:2]], rounded=True)
    assert pts.tolist() == [[float(expected[0]), float(expected[1])]]


def test_rounded_conversion_of_huge_values_does_not_overflow():
    # The released code computes with Python ints (no overflow); int64 would wrap.
    frame = Frame.square((640, 480))
    got = frame.to_image_xyxy([[0, 0, 1e20, 5]], rounded=True)
    assert got[0, 2] == float(released_round(1e20, 640 / 840))
    assert got[0, 2] > 0


def test_unrounded_round_trip():
    frame = Frame(model_wh=(1092, 812), image_wh=(1100, 800))
    boxes = np.array([[0.0, 0.0, 10.5, 20.25], [100, 200, 1100, 800]])
    back = frame.to_model_xyxy(frame.to_image_xyxy(boxes), rounded=False)
    np.testing.assert_allclose(back, boxes, rtol=1e-12)
    pts = np.array([[3.5, 7.25]])
    np.testing.assert_allclose(
        frame.to_model_points(frame.to_image_points(pts), rounded=False), pts, rtol=1e-12
    )


def test_to_model_rounds_by_default():
    frame = Frame.square((640, 480))
    # 100 px * 840/640 = 131.25 -> 131; 100 px * 840/480 = 175 -> 175
    assert frame.to_model_xyxy([[100, 100, 101, 101]]).tolist() == [[131, 175, 133, 177]]
    assert frame.to_model_points([[100, 100]]).tolist() == [[131, 175]]


def test_identity_frame():
    frame = Frame.identity((300, 200))
    assert frame.scale_xy == (1.0, 1.0)
    boxes = [[1.25, 2.5, 3.75, 4.0]]
    np.testing.assert_array_equal(frame.to_image_xyxy(boxes), boxes)


@pytest.mark.parametrize(
    ("model_wh", "image_wh"),
    [((0, 840), (640, 480)), ((840, 840), (640, -1)), ((840, 840), (0, 0))],
)
def test_frame_rejects_non_positive_sizes(model_wh, image_wh):
    with pytest.raises(ValueError, match="must be positive"):
        Frame(model_wh=model_wh, image_wh=image_wh)


def test_frame_is_frozen():
    frame = Frame.square((640, 480))
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.model_wh = (1, 1)  # type: ignore[misc]


QWEN_SIZES = [
    (640, 480),
    (480, 640),
    (427, 640),
    (333, 500),
    (1000, 1000),
    (1920, 1080),  # within max_pixels
    (4000, 3000),  # above max_pixels: scaled down
    (8000, 100),
    (56, 56),  # exactly min_pixels
    (30, 30),  # below min_pixels: scaled up
    (14, 14),  # a side that rounds to 0
    (1000, 10),  # a short side under 14 px
    (10, 2000),  # aspect ratio 200, the limit
    (1, 1),
    (28, 5600),
]


@pytest.mark.parametrize(
    ("image_wh", "expected_wh"),
    [
        # 640/28 = 22.86 -> 23 * 28 = 644; 480/28 = 17.14 -> 17 * 28 = 476; within limits
        ((640, 480), (644, 476)),
        # 12e6 px > max: beta = sqrt(12e6 / 1003520) = 3.458; floor(41.31) = 41, floor(30.98) = 30
        ((4000, 3000), (41 * 28, 30 * 28)),
        # 28 x 28 < min 3136: beta = sqrt(3136 / 1200); ceil(1.73) = 2, ceil(2.31) = 3
        ((30, 40), (56, 84)),
        ((840, 840), (840, 840)),
    ],
)
def test_qwen_native_wh_hand_values(image_wh, expected_wh):
    assert qwen_native_wh(image_wh) == expected_wh


@pytest.mark.slow  # imports transformers
@pytest.mark.parametrize("image_wh", QWEN_SIZES)
def test_qwen_native_wh_matches_transformers_smart_resize(image_wh):
    qwen2_vl = pytest.importorskip("transformers.models.qwen2_vl.image_processing_qwen2_vl")
    width, height = image_wh
    ref_h, ref_w = qwen2_vl.smart_resize(height, width)
    assert qwen_native_wh(image_wh) == (ref_w, ref_h)
    frame = Frame.qwen_native(image_wh)
    assert frame.model_wh == (ref_w, ref_h)
    assert frame.image_wh == image_wh


@pytest.mark.slow  # imports transformers
@settings(max_examples=60)
@given(
    width=st.integers(min_value=1, max_value=6000),
    height=st.integers(min_value=1, max_value=6000),
)
def test_qwen_native_wh_property_vs_smart_resize(width, height):
    qwen2_vl = pytest.importorskip("transformers.models.qwen2_vl.image_processing_qwen2_vl")
    if max(width, height) / min(width, height) > 200:
        return  # the processor refuses such images
    ref_h, ref_w = qwen2_vl.smart_resize(height, width)
    w, h = qwen_native_wh((width, height))
    assert (w, h) == (ref_w, ref_h)
    assert w % 28 == 0 and h % 28 == 0


@pytest.mark.slow  # imports transformers
def test_qwen_native_wh_custom_limits():
    qwen2_vl = pytest.importorskip("transformers.models.qwen2_vl.image_processing_qwen2_vl")
    ref_h, ref_w = qwen2_vl.smart_resize(1080, 1920, factor=28, min_pixels=3136, max_pixels=200704)
    assert qwen_native_wh((1920, 1080), max_pixels=200704) == (ref_w, ref_h)


@pytest.mark.parametrize("image_wh", [(0, 10), (10, 0), (-5, 5)])
def test_qwen_native_wh_rejects_non_positive(image_wh):
    with pytest.raises(ValueError):
        qwen_native_wh(image_wh)


def test_frame_conversions_round_half_up_as_the_released_code():
    """``int(v + 0.5)``: every .5 goes up (numpy's round would send 2.5 and 4.5 down)."""
    frame = Frame.square((420, 210))  # model = image * (2, 4)
    assert frame.to_model_xyxy([[1.25, 0.625, 3.25, 1.125]]).tolist() == [[3, 3, 7, 5]]
    assert frame.to_model_points([[1.25, 1.125]]).tolist() == [[3, 5]]
    assert frame.to_image_xyxy([[5, 10, 9, 18]], rounded=True).tolist() == [[3, 3, 5, 5]]
    assert frame.to_image_points([[5, 18]], rounded=True).tolist() == [[3, 5]]
