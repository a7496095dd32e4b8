"""Cited boxes in text and the rendering of reference boxes."""

from __future__ import annotations

import numpy as np
import pytest

from regionreasoner.parsing.references import CitedBox, find_cited_boxes, format_reference

# (text, [(xyxy, style), ...])
CITATION_CASES = [
    pytest.param("left of bbox=[1,2,3,4]", [((1, 2, 3, 4), "bbox=")], id="bbox-equals"),
    pytest.param("left of bbox [1,2,3,4]", [((1, 2, 3, 4), "bbox")], id="bbox-space"),
    pytest.param("left of bbox[1,2,3,4]", [((1, 2, 3, 4), "bbox")], id="bbox-no-space"),
    pytest.param("left of [1, 2, 3, 4]", [((1, 2, 3, 4), "bare")], id="bare"),
    pytest.param("bbox = [ 1 , 2 , 3 , 4 ]", [((1, 2, 3, 4), "bbox=")], id="spaces-everywhere"),
    pytest.param("BBox=[1,2,3,4]", [((1, 2, 3, 4), "bbox=")], id="case-insensitive"),
    pytest.param("bbox=[1.5,-2,3e1,.5]", [((1.5, -2, 30, 0.5), "bbox=")], id="number-forms"),
    pytest.param("my_bbox=[1,2,3,4]", [((1, 2, 3, 4), "bare")], id="prefix-needs-word-start"),
    pytest.param("bbox: [1,2,3,4]", [((1, 2, 3, 4), "bare")], id="colon-is-not-a-prefix"),
    pytest.param(
        "a bbox=[1,2,3,4], b bbox [5,6,7,8] and c [9,10,11,12]",
        [((1, 2, 3, 4), "bbox="), ((5, 6, 7, 8), "bbox"), ((9, 10, 11, 12), "bare")],
        id="all-three-in-order",
    ),
    pytest.param("bbox=[1,2,3,4,5]", [], id="five-numbers"),
    pytest.param("bbox=[1,2,3]", [], id="three-numbers"),
    pytest.param("bbox=[a,b,c,d]", [], id="words"),
    pytest.param("[1,2,3,4", [], id="unclosed"),
    pytest.param("bbox=[1%s,2,3,4]" % ("9" * 400), [], id="overflows-to-inf"),
    pytest.param("", [], id="empty"),
]


@pytest.mark.parametrize(("text", "expected"), CITATION_CASES)
def test_find_cited_boxes(text, expected):
    found = find_cited_boxes(text)
    assert [(c.xyxy, c.style) for c in found] == [
        (tuple(float(v) for v in xyxy), style) for xyxy, style in expected
    ]
    for cited in found:
        assert isinstance(cited, CitedBox)
        start, end = cited.span
        assert text[end - 1] == "]"
        assert text[start:end].lower().startswith("bbox" if cited.style != "bare" else "[")


def test_find_cited_boxes_none_text():
    assert find_cited_boxes(None) == ()  # type: ignore[arg-type]


def test_find_cited_boxes_can_keep_boxes_that_overflow_a_float():
    text = "bbox=[1,2,3,4] then bbox=[1e309,0,1,1] and [-%s,0,1,1]" % ("7" * 5000)
    assert [c.xyxy for c in find_cited_boxes(text)] == [(1.0, 2.0, 3.0, 4.0)]
    kept = find_cited_boxes(text, keep_non_finite=True)
    assert [c.xyxy for c in kept] == [
        (1.0, 2.0, 3.0, 4.0),
        (float("inf"), 0.0, 1.0, 1.0),
        (float("-inf"), 0.0, 1.0, 1.0),
    ]
    assert [c.style for c in kept] == ["bbox=", "bbox=", "bare"]


@pytest.mark.parametrize(
    ("xyxy", "style", "expected"),
    [
        ([1, 2, 3, 4], "bbox=", "bbox=[1,2,3,4]"),
        ([1.2, 2.7, 3.0, 4], "bbox=", "bbox=[1,3,3,4]"),
        (np.array([10.0, 20.0, 30.0, 40.0]), "bbox=", "bbox=[10,20,30,40]"),
        ([47, 107, 303, 466], "official", "[47, 107, 303, 466]"),  # str(list) of the release
        ([47.0, 107.0, 303.0, 466.0], "official", "[47, 107, 303, 466]"),
        ([1.5, 2, 3, 4], "official", "[1.5, 2, 3, 4]"),
        (np.array([1.5, 2, 3, 4]), "official", "[1.5, 2, 3, 4]"),  # no "np.float64(...)"
        (np.array([5, 6, 7, 8], dtype=np.int64), "official", "[5, 6, 7, 8]"),
    ],
)
def test_format_reference(xyxy, style, expected):
    assert format_reference(xyxy, style=style) == expected


@pytest.mark.parametrize("style", ["bbox=", "official"])
def test_format_then_find_round_trip(style):
    text = f"the cup next to {format_reference([12, 0, 640, 99], style=style)} on the table"
    (cited,) = find_cited_boxes(text)
    assert cited.xyxy == (12.0, 0.0, 640.0, 99.0)
    assert cited.style == ("bbox=" if style == "bbox=" else "bare")
