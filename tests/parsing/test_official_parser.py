"""``parse_answer_official`` + ``Frame.to_image_xyxy(rounded=True)`` == the released evaluation.

The reference below is an independent rewrite, made for this test, of
``VisionReasonerModel.extract_bbox_points_think`` in the released evaluation code
(``test/vision_reasoner/models/vision_reasoner_model.py`` of lmsdss/RegionReasoner): the
first ``<answer>...</answer>`` match is ``json.loads``-ed, every item's ``bbox_2d[0..3]`` is
scaled as ``int(v * factor + 0.5)``, then every item's ``point_2d[0..1]``; any exception
leaves the list being built empty (so a point failure keeps the boxes).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionreasoner.geometry.frames import Frame
from regionreasoner.parsing.answer import OfficialAnswer, parse_answer_official

_RELEASED_ANSWER_RE = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)


def released_extract(
    output_text: str, x_factor: float, y_factor: float
) -> tuple[list[list[int]], list[list[int]]]:
    """Boxes and points exactly as the released evaluation computes them."""
    pred_bboxes: list[list[int]] = []
    pred_points: list[list[int]] = []
    found = _RELEASED_ANSWER_RE.search(output_text)
    if found is None:
        return pred_bboxes, pred_points
    try:
        data: Any = json.loads(found.group(1))
        pred_bboxes = [
            [
                int(item["bbox_2d"][0] * x_factor + 0.5),
                int(item["bbox_2d"][1] * y_factor + 0.5),
                int(item["bbox_2d"][2] * x_factor + 0.5),
                int(item["bbox_2d"][3] * y_factor + 0.5),
            ]
            for item in data
        ]
        pred_points = [
            [int(item["point_2d"][0] * x_factor + 0.5), int(item["point_2d"][1] * y_factor + 0.5)]
            for item in data
        ]
    except Exception:  # the release catches every error here and prints it
        return pred_bboxes, pred_points
    return pred_bboxes, pred_points


def ours(text: str, frame: Frame) -> tuple[list[list[float]], list[list[float]]]:
    parsed = parse_answer_official(text, frame.scale_xy)
    assert isinstance(parsed, OfficialAnswer)
    boxes = frame.to_image_xyxy(parsed.xyxy.reshape(-1, 4), rounded=True)
    points = frame.to_image_points(parsed.points.reshape(-1, 2), rounded=True)
    return boxes.tolist(), points.tolist()


def as_floats(rows: list[list[int]]) -> list[list[float]]:
    return [[float(v) for v in row] for row in rows]


def wrap(answer: str) -> str:
    return f"<scene>s</scene><think>t</think><answer>{answer}</answer>"


GOOD_ITEM = '{"bbox_2d": [10, 100, 200, 210], "point_2d": [30, 110]}'
OTHER_ITEM = '{"bbox_2d": [225, 296, 706, 786], "point_2d": [302, 410]}'

RESPONSES = {
    "valid-two-items": wrap(f"[{GOOD_ITEM}, {OTHER_ITEM}]"),
    "dict-instead-of-list": wrap(GOOD_ITEM),
    "empty-dict": wrap("{}"),
    "empty-list": wrap("[]"),
    "one-item-missing-point": wrap(f'[{GOOD_ITEM}, {{"bbox_2d": [1, 2, 3, 4]}}]'),
    "all-missing-point": wrap('[{"bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [5, 6, 7, 8]}]'),
    "box-numbers-as-strings": wrap('[{"bbox_2d": ["10", "20", "30", "40"], "point_2d": [1, 2]}]'),
    "point-as-strings": wrap('[{"bbox_2d": [10, 20, 30, 40], "point_2d": ["1", "2"]}]'),
    "point-as-one-string": wrap('[{"bbox_2d": [10, 20, 30, 40], "point_2d": "[1, 2]"}]'),
    "nan-in-box": wrap('[{"bbox_2d": [NaN, 20, 30, 40], "point_2d": [1, 2]}]'),
    "infinity-in-point": wrap('[{"bbox_2d": [10, 20, 30, 40], "point_2d": [Infinity, 2]}]'),
    "five-number-box": wrap('[{"bbox_2d": [10, 20, 30, 40, 50], "point_2d": [1, 2, 3]}]'),
    "three-number-box": wrap('[{"bbox_2d": [10, 20, 30], "point_2d": [1, 2]}]'),
    "bools": wrap('[{"bbox_2d": [true, false, 300, true], "point_2d": [false, true]}]'),
    "nested-box": wrap('[{"bbox_2d": [[10, 20], [30, 40]], "point_2d": [1, 2]}]'),
    "box-as-dict": wrap('[{"bbox_2d": {"0": 1, "1": 2, "2": 3, "3": 4}, "point_2d": [1, 2]}]'),
    "box-null": wrap('[{"bbox_2d": null, "point_2d": [1, 2]}]'),
    "list-of-lists": wrap("[[10, 20, 30, 40]]"),
    "string-answer": wrap('"the dog"'),
    "empty-string-answer": wrap('""'),
    "null-answer": wrap("null"),
    "number-answer": wrap("5"),
    "whitespace-around": "<answer>\n\n   [ " + GOOD_ITEM + " ]  \n\t</answer>",
    "floats-at-half": wrap('[{"bbox_2d": [0.5, 420, 839.5, 840], "point_2d": [1.5, 2.5]}]'),
    "negative-and-inverted": wrap('[{"bbox_2d": [-30, 50, -100, 20], "point_2d": [-1, -0.4]}]'),
    "huge-float": wrap('[{"bbox_2d": [1e308, 20, 30, 40], "point_2d": [1, 2]}]'),
    # finite in the 840 frame, infinite once scaled by a factor above 1
    "overflow-after-scaling": wrap('[{"bbox_2d": [0, 0, 1.7e308, 40], "point_2d": [1, 2]}]'),
    "huge-int-point": wrap('[{"bbox_2d": [1, 2, 3, 4], "point_2d": [1%s, 2]}]' % ("0" * 400)),
    "over-digit-limit": wrap('[{"bbox_2d": [1%s, 2, 3, 4]}]' % ("0" * 5000)),
    "no-answer-tag": "<think>the box is [1, 2, 3, 4]</think>",
    "unclosed-answer": "<answer>[" + GOOD_ITEM + "]",
    "upper-case-tag": "<ANSWER>[" + GOOD_ITEM + "]</ANSWER>",
    "spaced-tag": "<answer >[" + GOOD_ITEM + "]</answer>",
    "two-answers-first-valid": wrap(f"[{GOOD_ITEM}]") + f"<answer>[{OTHER_ITEM}]</answer>",
    "two-answers-first-invalid": "<answer>oops</answer><answer>[" + GOOD_ITEM + "]</answer>",
    "code-fence": wrap("```json\n[" + GOOD_ITEM + "]\n```"),
    "trailing-text-inside": wrap("[" + GOOD_ITEM + "] that is it"),
    "truncated-json": wrap("[" + GOOD_ITEM + ', {"bbox_2d": [1, 2'),
    "deep-nesting": wrap("[" * 50_000 + "]" * 50_000),
    "duplicate-keys": wrap(
        '[{"bbox_2d": [1, 2, 3, 4], "bbox_2d": [5, 6, 7, 8], "point_2d": [1, 1]}]'
    ),
    "extra-keys-and-label": wrap('[{"label": "dog", "bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3]}]'),
    "empty-point": wrap('[{"bbox_2d": [1, 2, 3, 4], "point_2d": []}]'),
    "empty-text": "",
}

FRAMES = [
    Frame.square((640, 480)),
    Frame.square((427, 640)),
    Frame.square((1000, 1000)),  # factors above 1: 1.7e308 overflows there
    Frame.square((1, 1)),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f"{f.image_wh[0]}x{f.image_wh[1]}")
@pytest.mark.parametrize("text", list(RESPONSES.values()), ids=list(RESPONSES))
def test_matches_released_extraction(text, frame):
    ref_boxes, ref_points = released_extract(text, *frame.scale_xy)
    got_boxes, got_points = ours(text, frame)
    assert got_boxes == as_floats(ref_boxes)
    assert got_points == as_floats(ref_points)


@pytest.mark.parametrize(
    ("name", "n_boxes", "n_points", "has_reason"),
    [
        ("valid-two-items", 2, 2, False),
        ("one-item-missing-point", 2, 0, True),  # boxes kept, points dropped
        ("dict-instead-of-list", 0, 0, True),
        ("no-answer-tag", 0, 0, True),
        ("code-fence", 0, 0, True),
        ("five-number-box", 1, 1, False),
    ],
)
def test_reason_is_given_when_something_is_dropped(name, n_boxes, n_points, has_reason):
    parsed = parse_answer_official(RESPONSES[name], (1.0, 1.0))
    assert parsed.xyxy.shape == (n_boxes, 4)
    assert parsed.points.shape == (n_points, 2)
    assert (parsed.reason is not None) is has_reason


def test_table_is_not_trivial():
    # the table must exercise all three outcomes of the released code
    frame = FRAMES[0]
    outcomes = set()
    for text in RESPONSES.values():
        boxes, points = released_extract(text, *frame.scale_xy)
        outcomes.add((bool(boxes), bool(points)))
    assert outcomes == {(True, True), (True, False), (False, False)}


# ---- property: random JSON-shaped answers ------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet="0123456789.-ab", max_size=4),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.sampled_from(["bbox_2d", "point_2d", "x"]), inner, max_size=3),
    ),
    max_leaves=12,
)
coordinates = st.one_of(
    st.lists(st.one_of(st.integers(-2000, 2000), st.floats(-2000, 2000)), min_size=0, max_size=6),
    json_values,
)
items = st.one_of(
    st.fixed_dictionaries({"bbox_2d": coordinates}, optional={"point_2d": coordinates}),
    json_values,
)
answers = st.one_of(st.lists(items, max_size=4), items)


@settings(max_examples=150)
@given(
    answer=answers,
    pad=st.sampled_from(["", " ", "\n  "]),
    frame=st.sampled_from(FRAMES),
)
def test_matches_released_extraction_on_random_answers(answer, pad, frame):
    text = f"<think>t</think><answer>{pad}{json.dumps(answer, allow_nan=True)}{pad}</answer>"
    ref_boxes, ref_points = released_extract(text, *frame.scale_xy)
    got_boxes, got_points = ours(text, frame)
    assert got_boxes == as_floats(ref_boxes)
    assert got_points == as_floats(ref_points)
