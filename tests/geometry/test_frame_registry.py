"""The registered frames: both sides (image shown, coordinate space), the rel1000 and rel1
conventions, frame-to-frame conversion, and the processor resize rules against the
transformers image processors themselves."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionreasoner.errors import UnknownComponentError
from regionreasoner.geometry.boxes import box_iou_batch
from regionreasoner.geometry.frames import (
    DEFAULT_FRAME,
    FRAMES,
    QWEN3_VL_RESIZE,
    QWEN25_VL_RESIZE,
    RESIZE_RULES,
    Frame,
    get_frame,
    qwen_native_wh,
)

IMAGE_WH = (640, 480)


def test_registered_names_and_default():
    assert FRAMES.names() == sorted(["square840", "native", "image", "rel1000", "rel1"])
    assert DEFAULT_FRAME == "square840"
    with pytest.raises(UnknownComponentError, match="Did you mean 'rel1000'"):
        get_frame("rel100")


@pytest.mark.parametrize("image_wh", [(640, 480), (427, 640), (1920, 1080), (30, 40)])
def test_square840_and_native_are_the_frames_of_before(image_wh):
    """The registry builds exactly the frames the protocols built before the registry
    knew two sides: Frame.square and Frame.qwen_native, equal and with equal arithmetic."""
    square = FRAMES.get("square840")(image_wh)
    assert square == Frame.square(image_wh)
    assert square.coord_wh == square.model_wh == (840, 840)
    assert square.scale_xy == (image_wh[0] / 840, image_wh[1] / 840)
    native = FRAMES.get("native")(image_wh)
    assert native == Frame.qwen_native(image_wh)
    assert native.model_wh == qwen_native_wh(image_wh)
    box = [[13.5, 7.25, 401.0, 333.0]]
    for new, old in ((square, Frame.square(image_wh)), (native, Frame.qwen_native(image_wh))):
        assert new.to_image_xyxy(box).tolist() == old.to_image_xyxy(box).tolist()
        assert new.to_model_xyxy(box).tolist() == old.to_model_xyxy(box).tolist()


@pytest.mark.parametrize(
    ("name", "model_wh", "coord_wh", "decimals"),
    [
        ("square840", (840, 840), (840, 840), 0),
        ("native", (644, 476), (644, 476), 0),  # 23 x 28, 17 x 28
        ("image", (640, 480), (640, 480), 0),
        ("rel1000", (640, 480), (1000, 1000), 0),
        ("rel1", (640, 480), (1, 1), 3),
    ],
)
def test_both_sides_of_every_frame(name, model_wh, coord_wh, decimals):
    frame = FRAMES.get(name)(IMAGE_WH)
    assert frame.image_wh == IMAGE_WH
    assert frame.model_wh == model_wh  # the image the model is shown
    assert frame.coord_wh == coord_wh  # the numbers of its answers span this
    assert frame.decimals == decimals
    assert FRAMES.get(name).describe()["name"] == name


@pytest.mark.parametrize("name", ["square840", "native", "image", "rel1000", "rel1"])
def test_the_image_corners_in_every_frame(name):
    frame = FRAMES.get(name)(IMAGE_WH)
    corners = frame.to_model_xyxy([[0, 0, 640, 480]])[0]
    assert corners.tolist() == [0, 0, *frame.coord_wh]
    np.testing.assert_allclose(frame.to_image_xyxy([corners]), [[0, 0, 640, 480]])


def test_rel1000_top_value_is_the_right_edge():
    """1000 is the right/bottom edge of the image (Qwen3-VL's cookbook divides by 1000);
    999 is 0.999 of the side, 0.64 px from the edge of a 640 px image."""
    frame = FRAMES.get("rel1000")(IMAGE_WH)
    np.testing.assert_allclose(frame.to_image_xyxy([[0, 0, 1000, 1000]]), [[0, 0, 640, 480]])
    np.testing.assert_allclose(frame.to_image_xyxy([[0, 0, 999, 999]]), [[0, 0, 639.36, 479.52]])
    assert frame.to_model_xyxy([[64, 48, 640, 480]]).tolist() == [[100, 100, 1000, 1000]]
    assert frame.to_model_points([[320, 240]]).tolist() == [[500, 500]]


@settings(max_examples=200)
@given(
    x1=st.integers(0, 900),
    y1=st.integers(0, 900),
    w=st.integers(100, 1000),
    h=st.integers(100, 1000),
    image_wh=st.sampled_from([(640, 480), (427, 640), (1920, 1080)]),
)
def test_the_999_or_1000_question_moves_a_box_by_at_most_one_step(x1, y1, w, h, image_wh):
    """Reading the same answer as /1000 or as /999 moves each coordinate by at most one
    grid step (side / 999 at most: 0.64 px on a 640 px image); a box of 100 steps or more
    keeps IoU >= 0.96 with itself read the other way."""
    box = [[x1, y1, min(x1 + w, 1000), min(y1 + h, 1000)]]
    by_1000 = Frame(image_wh, image_wh, (1000, 1000)).to_image_xyxy(box)
    by_999 = Frame(image_wh, image_wh, (999, 999)).to_image_xyxy(box)
    step = np.array([image_wh[0], image_wh[1]] * 2) / 999  # W/999 at the far edge
    assert np.all(np.abs(by_1000 - by_999) <= step + 1e-9)
    assert box_iou_batch(by_1000, by_999)[0, 0] >= 0.96


def test_rel1_writes_three_decimals_rounded_half_up():
    frame = FRAMES.get("rel1")((1000, 2000))
    # 12.5 / 1000 = 0.0125 -> 0.013 (half up); 250 / 2000 = 0.125 exactly
    assert frame.to_model_xyxy([[12.5, 250, 1000, 2000]]).tolist() == [[0.013, 0.125, 1.0, 1.0]]
    assert frame.unit == pytest.approx(0.001)
    np.testing.assert_allclose(frame.to_image_xyxy([[0.5, 0.25, 1, 1]]), [[500, 500, 1000, 2000]])


@settings(max_examples=300)
@given(
    xyxy=st.lists(st.integers(0, 840), min_size=4, max_size=4),
    image_wh=st.tuples(st.integers(1, 4000), st.integers(1, 4000)),
    relative=st.sampled_from(["rel1000", "rel1"]),
)
def test_square840_boxes_survive_a_round_trip_through_the_relative_frames(xyxy, image_wh, relative):
    """Any integer 840-frame box written in rel1000 (integers) or rel1 (3 decimals) and
    converted back is the same box: the relative grids are finer than 840 steps, so the
    rounding error (at most 0.42 of an 840 step) never reaches half a step."""
    square = FRAMES.get("square840")(image_wh)
    other = FRAMES.get(relative)(image_wh)
    written = square.convert_xyxy([xyxy], other)
    assert square.convert_points([xyxy[:2]], other).tolist() == [written[0][:2].tolist()]
    assert other.convert_xyxy(written, square).tolist() == [[float(v) for v in xyxy]]


def test_conversion_between_different_images_is_refused():
    with pytest.raises(ValueError, match="different images"):
        Frame.square((640, 480)).convert_xyxy([[0, 0, 1, 1]], Frame.square((480, 640)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"coord_wh": (0, 5)}, "coord_wh"), ({"decimals": -1}, "decimals")],
)
def test_frame_rejects_bad_coordinate_spaces(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Frame((10, 10), (10, 10), **kwargs)


@pytest.mark.parametrize("name", ["square840", "native", "image", "rel1000", "rel1"])
def test_frame_specs_pickle(name):
    """Training workers pickle protocols, which hold their frame spec."""
    spec = FRAMES.get(name)
    again = pickle.loads(pickle.dumps(spec))
    assert again(IMAGE_WH) == spec(IMAGE_WH)


def test_resize_rules_of_the_families():
    assert RESIZE_RULES.get("qwen2.5-vl") is QWEN25_VL_RESIZE
    assert RESIZE_RULES.get("qwen3-vl") is QWEN3_VL_RESIZE
    assert (QWEN25_VL_RESIZE.factor, QWEN3_VL_RESIZE.factor) == (28, 32)
    # the native frame is the Qwen2.5-VL rule
    assert FRAMES.get("native")(IMAGE_WH).model_wh == QWEN25_VL_RESIZE.resized_wh(IMAGE_WH)
    # 640 / 32 = 20, 480 / 32 = 15: within Qwen3-VL's budget, kept
    assert QWEN3_VL_RESIZE.resized_wh(IMAGE_WH) == (640, 480)
    assert QWEN3_VL_RESIZE.visual_tokens(IMAGE_WH) == 20 * 15


# --------------------------------------------------------------------- transformers

RULE_SIZES = [
    (640, 480),
    (480, 640),
    (427, 640),
    (333, 500),
    (1000, 1000),
    (1400, 1050),
    (1920, 1080),
    (100, 60),  # below Qwen3-VL's 65536 px minimum: scaled up
    (16, 16),
    (30, 3000),
    (2000, 20),
    (1, 1),
]


def _image_processor_wh(rule, image_wh, **limits):
    """The size the transformers image processor, configured as the family's
    checkpoints configure it, resizes ``image_wh`` to (from ``image_grid_thw``)."""
    from PIL import Image

    transformers = pytest.importorskip("transformers")
    min_pixels = limits.get("min_pixels", rule.min_pixels)
    max_pixels = limits.get("max_pixels", rule.max_pixels)
    processor = transformers.Qwen2VLImageProcessor(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
        patch_size=rule.patch_size,
        merge_size=rule.merge_size,
        temporal_patch_size=2,
    )
    grid = processor(images=[Image.new("RGB", image_wh)], return_tensors="pt")["image_grid_thw"]
    _, rows, cols = (int(v) for v in grid[0])
    return cols * rule.patch_size, rows * rule.patch_size


@pytest.mark.slow  # imports transformers, runs its image processor
@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
@pytest.mark.parametrize("image_wh", RULE_SIZES)
def test_resize_rule_matches_the_transformers_image_processor(family, image_wh):
    rule = RESIZE_RULES.get(family)
    assert rule.resized_wh(image_wh) == _image_processor_wh(rule, image_wh)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
@pytest.mark.parametrize("image_wh", [(5000, 4000), (4000, 300), (900, 700)])
def test_resize_rule_with_a_small_budget_matches_the_processor(family, image_wh):
    """The max-pixels branch, exercised with a budget the image exceeds."""
    rule = RESIZE_RULES.get(family)
    limits = {"min_pixels": 64 * 64, "max_pixels": 256 * 256}
    expected = _image_processor_wh(rule, image_wh, **limits)
    assert qwen_native_wh(image_wh, factor=rule.factor, **limits) == expected


@pytest.mark.slow
@pytest.mark.parametrize("image_wh", [(1400, 1050), (1050, 1400), (640, 480), (333, 500)])
def test_qwen3_processor_keeps_the_whole_image_so_rel1000_edges_are_the_image_edges(image_wh):
    """The Qwen3-VL processor resizes the whole image (no padding to a square, no crop):
    its patch grid keeps the aspect ratio within one 32 px step, so 0 and 1000 of the
    relative grid are the left and right edges of the ORIGINAL image, and rel1000 shows
    the original image rather than a resized one."""
    width, height = _image_processor_wh(QWEN3_VL_RESIZE, image_wh)
    scale_x, scale_y = width / image_wh[0], height / image_wh[1]
    assert abs(width - scale_y * image_wh[0]) <= QWEN3_VL_RESIZE.factor
    assert abs(height - scale_x * image_wh[1]) <= QWEN3_VL_RESIZE.factor
    frame = FRAMES.get("rel1000")(image_wh)
    assert frame.model_wh == image_wh
