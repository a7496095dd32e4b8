"""The tolerant answer parser (``parse_answer_regions``): what real models emit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from regionreasoner.parsing import answer as answer_module
from regionreasoner.parsing.answer import parse_answer_regions

NAN = math.nan
GOOD = '[{"bbox_2d": [10, 20, 30, 40], "point_2d": [15, 25]}]'

# (answer text, expected boxes, expected points (NaN = no point), items_total, issue codes)
CASES = [
    pytest.param(GOOD, [[10, 20, 30, 40]], [[15, 25]], 1, [], id="plain"),
    pytest.param(
        '[{"bbox_2d": [1,2,3,4], "point_2d": [2,3]}, {"bbox_2d": [5,6,7,8], "point_2d": [6,7]}]',
        [[1, 2, 3, 4], [5, 6, 7, 8]],
        [[2, 3], [6, 7]],
        2,
        [],
        id="two-items",
    ),
    pytest.param(f"```json\n{GOOD}\n```", [[10, 20, 30, 40]], [[15, 25]], 1, [], id="code-fence"),
    pytest.param(f"```\n{GOOD}\n```", [[10, 20, 30, 40]], [[15, 25]], 1, [], id="bare-fence"),
    pytest.param(f"  \n\t{GOOD}\n  ", [[10, 20, 30, 40]], [[15, 25]], 1, [], id="whitespace"),
    pytest.param(
        '{"bbox_2d": [10, 20, 30, 40], "point_2d": [15, 25]}',
        [[10, 20, 30, 40]],
        [[15, 25]],
        1,
        ["single_object"],
        id="single-object",
    ),
    pytest.param(
        '[{"bbox_2d": ["10", " 20", "30.5", "40"], "point_2d": ["15", "25"]}]',
        [[10, 20, 30.5, 40]],
        [[15, 25]],
        1,
        [],
        id="numbers-as-strings",
    ),
    pytest.param(
        '[{"bbox_2d": [10.25, 20.5, 30.75, 40.0], "point_2d": [15.5, 25.5]}]',
        [[10.25, 20.5, 30.75, 40]],
        [[15.5, 25.5]],
        1,
        [],
        id="floats",
    ),
    pytest.param(
        '[{"bbox_2d": "[10, 20, 30, 40]", "point_2d": "(15, 25)"}]',
        [[10, 20, 30, 40]],
        [[15, 25]],
        1,
        [],
        id="coordinates-as-one-string",
    ),
    pytest.param(
        f"{GOOD} That is the dog.",
        [[10, 20, 30, 40]],
        [[15, 25]],
        1,
        ["trailing_text"],
        id="trailing-text",
    ),
    pytest.param(f"Here it is: {GOOD}", [[10, 20, 30, 40]], [[15, 25]], 1, [], id="leading-text"),
    pytest.param(
        '[{"bbox_2d": [1,2,3,4], "point_2d": [2,3]}, {"bbox_2d": [5,6,7,8], "point_2d": [6,',
        [[1, 2, 3, 4]],
        [[2, 3]],
        1,
        ["truncated_json"],
        id="truncated-keeps-complete-items",
    ),
    pytest.param(
        '[{"bbox_2d": [1,2,3,4], "label": "a {b}"}, {"bbox_2d": [5,6,7,8]}, {"bb',
        [[1, 2, 3, 4], [5, 6, 7, 8]],
        [[NAN, NAN], [NAN, NAN]],
        2,
        ["truncated_json", "missing_point"],
        id="truncated-braces-in-strings",
    ),
    pytest.param(
        '[{"bbox_2d": [10, 20, 30, 40]}]',
        [[10, 20, 30, 40]],
        [[NAN, NAN]],
        1,
        ["missing_point"],
        id="bbox-without-point",
    ),
    pytest.param(
        '[{"bbox_2d": [10, 20, 30, 40], "point_2d": [1, 2, 3]}]',
        [[10, 20, 30, 40]],
        [[NAN, NAN]],
        1,
        ["missing_point"],
        id="bad-point-kept-box",
    ),
    pytest.param(
        '[{"bbox": [10, 20, 30, 40], "point_2d": [15, 25]}]',
        [[10, 20, 30, 40]],
        [[15, 25]],
        1,
        [],
        id="bbox-key",
    ),
    pytest.param(
        "[10, 20, 30, 40]",
        [[10, 20, 30, 40]],
        [[NAN, NAN]],
        1,
        ["bare_box", "missing_point"],
        id="bare-box",
    ),
    pytest.param(
        '[{"bbox_2d": [30, 20, 10, 40], "point_2d": [1, 1]}, {"bbox_2d": [1, 1, 1, 5]}]',
        [],
        [],
        2,
        ["invalid_box", "invalid_box"],
        id="inverted-and-zero-width",
    ),
    pytest.param(
        '[{"bbox_2d": [1, 2, 3]}, {"bbox_2d": [1, 2, 3, 4, 5]}, {"bbox_2d": [true, 0, 4, 4]}]',
        [],
        [],
        3,
        ["invalid_box", "invalid_box", "invalid_box"],
        id="wrong-length-and-bool",
    ),
    pytest.param(
        '[{"bbox_2d": [NaN, 0, 4, 4]}, {"bbox_2d": [0, 0, Infinity, 4]}, {"bbox_2d": null}]',
        [],
        [],
        3,
        ["invalid_box", "invalid_box", "invalid_box"],
        id="non-finite-and-null",
    ),
    pytest.param(
        '[{"bbox_2d": [[1], 2, 3, 4]}, {"bbox_2d": {"x": 1}}, {"bbox_2d": ["a", 2, 3, 4]}]',
        [],
        [],
        3,
        ["invalid_box", "invalid_box", "invalid_box"],
        id="nested-dict-and-words",
    ),
    pytest.param(
        '[[1, 2, 3, 4], "dog", 7, {"bbox_2d": [0, 0, 5, 5], "point_2d": [1, 1]}]',
        [[0, 0, 5, 5]],
        [[1, 1]],
        4,
        ["invalid_item", "invalid_item", "invalid_item"],
        id="non-object-items-skipped",
    ),
    pytest.param('{"point_2d": [1, 2]}', [], [], 1, ["invalid_item"], id="object-without-box"),
    pytest.param("[]", [], [], 0, [], id="empty-list"),
    pytest.param('"just a string"', [], [], 0, ["no_json"], id="json-string"),
    pytest.param("the dog on the left", [], [], 0, ["no_json"], id="prose"),
    pytest.param("", [], [], 0, ["no_json"], id="empty-text"),
    pytest.param("[1, 2, oops", [], [], 0, ["invalid_json"], id="broken-json"),
    pytest.param(
        '[{"bbox_2d": [1%s, 0, 5, 5]}]' % ("0" * 400),
        [],
        [],
        1,
        ["invalid_box"],
        id="int-too-large-for-float",
    ),
    pytest.param(
        '[{"bbox_2d": [1%s, 0, 5, 5]}]' % ("0" * 5000),
        [],
        [],
        0,
        ["invalid_json"],
        id="int-over-python-digit-limit",
    ),
    pytest.param("[" * 100_000 + "]" * 100_000, [], [], 0, ["invalid_json"], id="deep-nesting"),
]


@pytest.mark.parametrize(("text", "boxes", "points", "total", "codes"), CASES)
def test_parse_answer_regions(text, boxes, points, total, codes):
    regions, items_total, issues = parse_answer_regions(text)
    assert [code for code, _ in issues] == codes
    assert all(isinstance(message, str) and message for _, message in issues)
    assert items_total == total
    np.testing.assert_array_equal(regions.xyxy, np.array(boxes, dtype=float).reshape(-1, 4))
    np.testing.assert_array_equal(regions.points, np.array(points, dtype=float).reshape(-1, 2))


def test_none_answer_is_missing():
    regions, total, issues = parse_answer_regions(None)
    assert regions.is_empty() and total == 0
    assert [c for c, _ in issues] == ["missing_answer"]


def test_labels_are_kept_when_strings():
    text = json.dumps(
        [
            {"bbox_2d": [0, 0, 1, 1], "label": "dog"},
            {"bbox_2d": [0, 0, 2, 2], "label": 5},
            {"bbox_2d": [0, 0, 3, 3]},
        ]
    )
    regions, _, _ = parse_answer_regions(text)
    assert regions.labels == ("dog", None, None)


def test_item_cap(monkeypatch):
    monkeypatch.setattr(answer_module, "MAX_ANSWER_ITEMS", 3)
    text = json.dumps([{"bbox_2d": [0, 0, i + 1, i + 1], "point_2d": [0, 0]} for i in range(5)])
    regions, total, issues = parse_answer_regions(text)
    assert len(regions) == 3 and total == 5
    assert [c for c, _ in issues] == ["too_many_items"]
    assert regions.xyxy[:, 2].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("box", "valid"),
    [
        ([10, 20, 30, 40], True),
        ([10, 20, 30, 20], False),  # zero height
        ([10, 20, 10, 40], False),  # zero width
        ([10, 40, 30, 20], False),  # y2 < y1
        ([30, 20, 10, 40], False),  # x2 < x1
        ([10, 50, 30, 40], False),  # y2 < y1 although y2 > x1
        ([100, 10, 120, 50], True),  # y2 > y1 although y2 < x1
        ([10, 100, 50, 120], True),  # x2 > x1 although x2 < y1
        ([0.5, 0.5, 0.75, 0.5000001], True),  # tiny but not empty
    ],
)
def test_box_order_is_checked_per_axis(box, valid):
    """Each axis is checked on its own: x2 > x1 and y2 > y1, strictly (a zero-area box is
    degenerate and would score IoU 0 everywhere)."""
    regions, total, issues = parse_answer_regions(json.dumps([{"bbox_2d": box}]))
    assert total == 1
    if valid:
        assert regions.xyxy.tolist() == [box]
        assert [code for code, _ in issues] == ["missing_point"]
    else:
        assert len(regions) == 0
        assert [code for code, _ in issues] == ["invalid_box"]
        assert "empty or inverted" in issues[0][1]
