"""``parse_response``: typed result, recorded issues, frame conversion, never raises."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionreasoner.geometry.frames import Frame
from regionreasoner.geometry.regions import Regions
from regionreasoner.parsing.response import REQUIRED_TAGS, ParsedResponse, parse_response

ANSWER = '[{"bbox_2d": [84, 42, 420, 210], "point_2d": [168, 126]}]'
VALID = (
    "<scene> A street with two parked cars. </scene>\n"
    "<focus> a red car </focus>\n"
    "<think> The target is left of bbox=[400,10,800,300]; compare [1,2,3,4]. </think>\n"
    f"<answer>{ANSWER}</answer>"
)


def test_valid_response():
    r = parse_response(VALID)
    assert isinstance(r, ParsedResponse)
    assert r.format_ok
    assert r.issues == () and r.issue_codes() == ()
    assert r.scene == "A street with two parked cars."
    assert r.focus == "a red car"
    assert r.think.startswith("The target is left of")
    assert r.answer == ANSWER
    assert r.tags_present == ("scene", "focus", "think", "answer")
    assert r.regions.xyxy.tolist() == [[84, 42, 420, 210]]
    assert r.regions.points.tolist() == [[168, 126]]
    assert r.answer_items_total == 1 and r.answer_items_valid == 1
    assert [(c.xyxy, c.style) for c in r.cited] == [
        ((400.0, 10.0, 800.0, 300.0), "bbox="),
        ((1.0, 2.0, 3.0, 4.0), "bare"),
    ]
    assert r.text == VALID


def test_required_tags_default():
    assert REQUIRED_TAGS == ("scene", "think", "answer")


def test_focus_is_optional():
    r = parse_response(VALID.replace("<focus> a red car </focus>\n", ""))
    assert r.format_ok and r.focus is None


def _without(tag: str) -> str:
    start = VALID.index(f"<{tag}>")
    end = VALID.index(f"</{tag}>") + len(f"</{tag}>")
    return VALID[:start] + VALID[end:]


# (text, issue codes in order, format_ok, number of regions)
ISSUE_CASES = [
    pytest.param(_without("scene"), ["missing_tag"], False, 1, id="missing-scene"),
    pytest.param(_without("think"), ["missing_tag"], False, 1, id="missing-think"),
    pytest.param(_without("answer"), ["missing_tag"], False, 0, id="missing-answer"),
    pytest.param(VALID + "<think>again</think>", ["repeated_tag"], False, 1, id="repeated-think"),
    pytest.param(
        "<answer>[]</answer><scene>s</scene><think>t</think>",
        ["tag_order"],
        False,
        0,
        id="out-of-order-and-empty-answer",
    ),
    pytest.param(
        VALID.replace("</answer>", ""),
        ["unclosed_tag"],
        False,
        1,
        id="unclosed-answer",
    ),
    pytest.param(
        "<scene>s</scene><think>t</think><answer>"
        '[{"bbox_2d": [1,2,3,4], "point_2d": [2,3]}, {"bbox_2d": [5,',
        ["unclosed_tag", "truncated_json"],
        False,
        1,
        id="truncated-mid-json",
    ),
    pytest.param(
        VALID.replace(ANSWER, "```json\n" + ANSWER + "\n```"), [], True, 1, id="code-fence-is-ok"
    ),
    pytest.param(
        VALID.replace(ANSWER, ANSWER[1:-1]), ["single_object"], False, 1, id="single-object"
    ),
    pytest.param(
        VALID.replace(', "point_2d": [168, 126]', ""),
        ["missing_point"],
        False,
        1,
        id="no-point",
    ),
    pytest.param(VALID + "\nThanks!", [], True, 1, id="text-after-the-tags"),
    pytest.param(
        "<SCENE>s</SCENE><THINK>t</THINK><ANSWER>" + ANSWER + "</ANSWER>",
        [],
        True,
        1,
        id="upper-case-tags",
    ),
    pytest.param("", ["empty", "missing_tag", "missing_tag", "missing_tag"], False, 0, id="empty"),
    pytest.param(
        "   \n ", ["empty", "missing_tag", "missing_tag", "missing_tag"], False, 0, id="blank"
    ),
    pytest.param(
        "<scene>s</scene><think>t</think><answer>nothing found</answer>",
        ["no_json"],
        False,
        0,
        id="answer-without-json",
    ),
    # well formed, no issue, but no region: not a usable answer
    pytest.param(
        "<scene>s</scene><think>t</think><answer>[]</answer>", [], False, 0, id="empty-list"
    ),
    pytest.param(
        "<scene>s</scene><think>t</think><answer>"
        '[{"bbox_2d": [10, 20, 30, 20], "point_2d": [20, 20]}]</answer>',
        ["invalid_box"],
        False,
        0,
        id="zero-height-box",
    ),
]


@pytest.mark.parametrize(("text", "codes", "ok", "n_regions"), ISSUE_CASES)
def test_issues_are_recorded(text, codes, ok, n_regions):
    r = parse_response(text)
    assert list(r.issue_codes()) == codes
    assert r.format_ok is ok
    assert len(r.regions) == n_regions


def test_none_text_is_empty_not_an_error():
    r = parse_response(None)
    assert r.text == ""
    assert "empty" in r.issue_codes()
    assert r.regions.is_empty()


def test_required_tags_can_be_relaxed():
    r = parse_response(
        f"<think>t</think><answer>{ANSWER}</answer>", required_tags=("think", "answer")
    )
    assert r.issue_codes() == () and r.format_ok


def test_answer_from_text():
    bare = f"```json\n{ANSWER}\n```"
    assert parse_response(bare, required_tags=()).regions.is_empty()
    r = parse_response(bare, required_tags=(), answer_from_text=True)
    assert r.format_ok
    assert r.regions.xyxy.tolist() == [[84, 42, 420, 210]]


def test_cited_boxes_come_from_think_only():
    text = (
        f"<scene>bbox=[1,1,2,2]</scene><think>near bbox [5,5,6,6]</think><answer>{ANSWER}</answer>"
    )
    r = parse_response(text)
    assert [c.xyxy for c in r.cited] == [(5.0, 5.0, 6.0, 6.0)]


def test_boxes_too_large_for_a_float_are_kept_apart_from_cited():
    r = parse_response("<think>at bbox=[1,2,3,4] and bbox=[1e309,0,1,1]</think>")
    assert [c.xyxy for c in r.cited] == [(1.0, 2.0, 3.0, 4.0)]
    assert [c.xyxy for c in r.cited_non_finite] == [(float("inf"), 0.0, 1.0, 1.0)]
    assert parse_response("<think>at bbox=[1,2,3,4]</think>").cited_non_finite == ()


@pytest.mark.parametrize(
    ("text", "unclosed"),
    [
        (f"<scene>s</scene><think>t</think><answer>{ANSWER}</answer>", ()),
        (f"<scene>s</scene><think>t<answer>{ANSWER}</answer>", ("think",)),
        ("<scene>s<think>t", ("scene", "think")),
        ("</think><think>t", ("think",)),  # a closing tag BEFORE the block does not close it
    ],
)
def test_unclosed_tags_are_listed(text, unclosed):
    assert parse_response(text).unclosed_tags == unclosed


def test_many_repeated_tags_report_order_and_repeats():
    r = parse_response("<think>a</think><scene>b</scene>" * 20_000)
    codes = r.issue_codes()
    assert codes.count("repeated_tag") == 2 and "tag_order" in codes
    assert r.think == "a" and r.scene == "b"
    assert len(r.tags_present) == 40_000


def test_answer_items_valid_counts_box_and_point():
    text = (
        "<scene>s</scene><think>t</think><answer>"
        '[{"bbox_2d": [0,0,4,4], "point_2d": [1,1]}, {"bbox_2d": [0,0,5,5]}, '
        '{"bbox_2d": [9,9,1,1]}]'
        "</answer>"
    )
    r = parse_response(text)
    assert r.answer_items_total == 3
    assert len(r.regions) == 2
    assert r.answer_items_valid == 1


def test_regions_in_image_converts_once_from_the_model_frame():
    # 1680 x 420 image shown as 840 x 840: x factor 2, y factor 0.5
    frame = Frame.square((1680, 420))
    text = (
        "<scene>s</scene><think>t</think><answer>"
        '[{"bbox_2d": [84, 42, 420, 210], "point_2d": [168, 126]}, {"bbox_2d": [1, 1, 3, 3]}]'
        "</answer>"
    )
    r = parse_response(text)
    image = r.regions_in_image(frame)
    assert image.xyxy.tolist() == [[168, 21, 840, 105], [2, 0.5, 6, 1.5]]
    assert image.points[0].tolist() == [336, 63]
    assert np.isnan(image.points[1]).all()
    # model-frame regions are untouched
    assert r.regions.xyxy.tolist()[0] == [84, 42, 420, 210]
    rounded = r.regions_in_image(frame, rounded=True)
    # int(1*0.5+0.5) = 1, int(3*0.5+0.5) = 2
    assert rounded.xyxy.tolist() == [[168, 21, 840, 105], [2, 1, 6, 2]]


def test_regions_in_image_empty():
    r = parse_response("<scene>s</scene><think>t</think><answer>[]</answer>")
    out = r.regions_in_image(Frame.square((640, 480)))
    assert isinstance(out, Regions) and out.is_empty()


def test_parsed_response_is_frozen():
    r = parse_response(VALID)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.scene = "x"  # type: ignore[misc]


# ---- never raises ---------------------------------------------------------------------


def _check_invariants(r: ParsedResponse) -> None:
    assert isinstance(r, ParsedResponse)
    assert len(r.regions.xyxy) == len(r.regions.points) == len(r.regions.labels)
    assert np.isfinite(r.regions.xyxy).all()
    assert (r.regions.xyxy[:, 2] > r.regions.xyxy[:, 0]).all()
    assert r.answer_items_valid <= len(r.regions) <= max(r.answer_items_total, len(r.regions))
    assert r.format_ok == (not r.issues and len(r.regions) > 0)
    assert all(i.code and i.message for i in r.issues)


@settings(max_examples=150)
@given(st.text(max_size=300))
def test_never_raises_on_arbitrary_text(text):
    _check_invariants(parse_response(text))
    _check_invariants(parse_response(text, answer_from_text=True))


FRAGMENTS = [
    "<scene>", "</scene>", "<focus>", "</focus>", "<think>", "</think>", "<answer>", "</answer>",
    "< answer >", "</ think>", "<ANSWER>", "[", "]", "{", "}", ",", ":", '"', "\\", "```json",
    "```", '"bbox_2d"', '"point_2d"', '"bbox"', "bbox=", "bbox ", "NaN", "Infinity", "-1e999",
    "1e400", "true", "null", "0", "12", "3.5", "-7", '"42"', " ", "\n", "text", "1" * 500,
]  # fmt: skip


@settings(max_examples=200)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join))
def test_never_raises_on_tag_soup(text):
    _check_invariants(parse_response(text))
    _check_invariants(parse_response(text, required_tags=(), answer_from_text=True))


def test_every_prefix_of_a_valid_response():
    seen_partial_regions = False
    for end in range(len(VALID) + 1):
        r = parse_response(VALID[:end])
        _check_invariants(r)
        if end < len(VALID):
            assert not r.format_ok, f"prefix of length {end} judged well formed"
        if end < len(VALID) and len(r.regions):
            seen_partial_regions = True
            assert r.regions.xyxy.tolist() == [[84, 42, 420, 210]]
    assert parse_response(VALID).format_ok
    assert seen_partial_regions  # a truncated closing tag still yields the complete item
