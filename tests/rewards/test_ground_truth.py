"""Ground-truth validation (strict: a bad ground truth raises) and the EasyR1 packing."""

from __future__ import annotations

import json

import pytest

from regionreasoner.errors import DataFormatError
from regionreasoner.rewards import pack_solution, parse_solution, score_completion, unpack_solution

ITEM = {"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3]}


@pytest.mark.parametrize(
    ("solution", "field"),
    [
        ("not json", "solution"),
        ("[]", "solution"),  # no object
        ('{"bbox_2d": [1, 2, 3, 4]}', "solution"),  # not a list
        ("[5]", "solution[0]"),
        ('[{"point_2d": [1, 2]}]', "solution[0]"),  # missing bbox_2d
        ('[{"bbox_2d": [1, 2, 3, 4]}]', "solution[0]"),  # missing point_2d
        ('[{"bbox_2d": [1, 2, 3], "point_2d": [1, 2]}]', "solution[0].bbox_2d"),
        ('[{"bbox_2d": [1, 2, "3", 4], "point_2d": [1, 2]}]', "solution[0].bbox_2d[2]"),
        ('[{"bbox_2d": [1, 2, true, 4], "point_2d": [1, 2]}]', "solution[0].bbox_2d[2]"),
        ('[{"bbox_2d": [1, 2, NaN, 4], "point_2d": [1, 2]}]', "solution[0].bbox_2d[2]"),
        ('[{"bbox_2d": [5, 2, 3, 4], "point_2d": [1, 2]}]', "solution[0].bbox_2d"),  # inverted
        ('[{"bbox_2d": [1, 2, 3, 4], "point_2d": [1, Infinity]}]', "solution[0].point_2d[1]"),
    ],
)
def test_parse_solution_malformed_raises_with_field(solution, field):
    with pytest.raises(DataFormatError) as info:
        parse_solution(solution)
    assert info.value.field == field


def test_parse_solution_accepts_text_list_and_validated():
    from_text = parse_solution(json.dumps([ITEM]))
    from_list = parse_solution([ITEM])
    assert from_text.xyxy.tolist() == from_list.xyxy.tolist() == [[1.0, 2.0, 3.0, 4.0]]
    assert from_text.points.tolist() == [[2.0, 3.0]]
    assert parse_solution(from_list) is from_list
    assert not from_text.xyxy.flags.writeable  # cached: must not be mutated


@pytest.mark.parametrize("profile", ["official", "paper"])
def test_malformed_ground_truth_raises_for_both_profiles(profile):
    with pytest.raises(DataFormatError):
        score_completion("<answer>[]</answer>", problem="x", solution="[]", profile=profile)


def test_pack_and_unpack_round_trip():
    packed = pack_solution(json.dumps([ITEM]), "find bbox=[0,0,1,1]")
    assert json.loads(packed) == {"solution": [ITEM], "problem": "find bbox=[0,0,1,1]"}
    assert unpack_solution(packed) == ([ITEM], "find bbox=[0,0,1,1]")
    assert unpack_solution(json.loads(packed)) == ([ITEM], "find bbox=[0,0,1,1]")
    assert unpack_solution(json.dumps([ITEM])) == ([ITEM], None)  # plain solution
    assert unpack_solution([ITEM]) == ([ITEM], None)


@pytest.mark.parametrize(
    "ground_truth", ["{not json", '{"problem": "x"}', '{"solution": [], "problem": 5}']
)
def test_unpack_solution_malformed_raises(ground_truth):
    with pytest.raises(DataFormatError):
        unpack_solution(ground_truth)
