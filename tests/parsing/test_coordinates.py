"""Rewriting the coordinates of a text from one frame into another."""

from __future__ import annotations

import pytest

from regionreasoner.geometry.frames import FRAMES
from regionreasoner.parsing import parse_response
from regionreasoner.parsing.coordinates import convert_text_coordinates

IMAGE_WH = (640, 480)
REL1000 = FRAMES.get("rel1000")(IMAGE_WH)
REL1 = FRAMES.get("rel1")(IMAGE_WH)
SQUARE = FRAMES.get("square840")(IMAGE_WH)
IMAGE = FRAMES.get("image")(IMAGE_WH)

COMPLETION_REL1000 = (
    "<scene>Two shapes.</scene>\n<focus>A red circle.</focus>\n"
    "<think>Right of bbox=[100,200,300,400], i.e. [ 500 , 250 , 1000 , 1000 ].</think>\n"
    '<answer>[{"bbox_2d": [500, 250, 1000, 1000], "point_2d": [750, 625], "label": "x"}]'
    "</answer>"
)
# 1000 grid -> 840 grid: v * 840 / 1000 = 0.84 v (rounded half up)
COMPLETION_SQUARE = (
    "<scene>Two shapes.</scene>\n<focus>A red circle.</focus>\n"
    "<think>Right of bbox=[84,168,252,336], i.e. [ 420 , 210 , 840 , 840 ].</think>\n"
    '<answer>[{"bbox_2d": [420, 210, 840, 840], "point_2d": [630, 525], "label": "x"}]'
    "</answer>"
)


def test_every_box_and_point_is_rewritten_and_nothing_else():
    assert convert_text_coordinates(COMPLETION_REL1000, REL1000, SQUARE) == COMPLETION_SQUARE


def test_rewritten_text_parses_to_the_converted_regions():
    converted = parse_response(convert_text_coordinates(COMPLETION_REL1000, REL1000, SQUARE))
    original = parse_response(COMPLETION_REL1000)
    assert converted.issue_codes() == original.issue_codes()
    assert (
        converted.regions.xyxy.tolist()
        == SQUARE.to_model_xyxy(REL1000.to_image_xyxy(original.regions.xyxy)).tolist()
    )


def test_relative_floats_are_read_and_written():
    text = '[{"bbox_2d": [0.5, 0.25, 1.0, 1.0], "point_2d": [0.75, 0.625]}]'
    assert convert_text_coordinates(text, REL1, SQUARE) == (
        '[{"bbox_2d": [420, 210, 840, 840], "point_2d": [630, 525]}]'
    )
    back = convert_text_coordinates("bbox=[420,210,840,840]", SQUARE, REL1)
    assert back == "bbox=[0.500,0.250,1.000,1.000]"


def test_equal_frames_and_texts_without_lists_are_returned_unchanged():
    assert convert_text_coordinates(COMPLETION_REL1000, REL1000, REL1000) is COMPLETION_REL1000
    assert convert_text_coordinates("no boxes here", REL1000, SQUARE) == "no boxes here"


@pytest.mark.parametrize(
    "text",
    [
        "bbox=[1e400, 0, 1, 1]",  # not a finite float
        "[1, 2, 3]",  # three numbers: not a box
        '"point_2d": [1, 2, 3]',
        "[a, b, c, d]",
    ],
)
def test_what_is_not_a_finite_box_or_point_is_left_alone(text):
    assert convert_text_coordinates(text, REL1000, IMAGE) == text


def test_frames_of_different_images_are_refused():
    with pytest.raises(ValueError, match="different images"):
        convert_text_coordinates("[1,2,3,4]", REL1000, FRAMES.get("image")((10, 10)))
