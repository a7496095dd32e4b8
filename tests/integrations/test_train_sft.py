"""SFT warm-start targets: four tags from the ground truth, read back by the parser."""

from __future__ import annotations

import json

import pytest

from regionreasoner.errors import DataFormatError
from regionreasoner.integrations.sft import (
    DEFAULT_FOCUS,
    DEFAULT_SCENE,
    parse_solution,
    relation_phrase,
    render_answer,
    render_sft_target,
    sft_completion,
)
from regionreasoner.parsing.response import parse_response

GT_ONE = '[{"bbox_2d": [458, 604, 686, 833], "point_2d": [572, 718]}]'
GT_TWO = [
    {"bbox_2d": [10, 20, 30, 40], "point_2d": [20, 30]},
    {"bbox_2d": [50.5, 60, 70, 80], "point_2d": [60, 70]},
]
CAPTIONS = {
    "scene": "The image shows two shapes: a red square and a blue circle.",
    "focus": "A red square.",
}


def _tag(text: str, name: str) -> str | None:
    parsed = parse_response(text)
    return getattr(parsed, name)


@pytest.mark.parametrize(
    ("problem", "solution", "captions", "refs", "relation"),
    [
        # reference + relation phrase straight from a relation template
        ("the circle closest to bbox=[248,563,390,705]", GT_ONE, CAPTIONS,
         [(248, 563, 390, 705)], "closest to"),
        # appositive frame of the paper's example
        ("the standing dog, next to bbox=[0,457,374,672]", GT_ONE, None,
         [(0, 457, 374, 672)], "next to"),
        # a template variant ("on the left of") of left_of
        ("the hexagon on the left of bbox=[1,2,3,4]", GT_TWO, json.dumps(CAPTIONS),
         [(1, 2, 3, 4)], "on the left of"),
        # no relation words before the reference
        ("the cup bbox=[5,6,7,8]", GT_ONE, CAPTIONS, [(5, 6, 7, 8)], None),
        # no reference at all
        ("the plain orange circle", GT_TWO, None, [], None),
    ],
)  # fmt: skip
def test_render_sft_target_parses_back_to_the_ground_truth(
    problem, solution, captions, refs, relation
) -> None:
    text = render_sft_target(problem, solution, captions)
    parsed = parse_response(text)
    expected = json.loads(solution) if isinstance(solution, str) else solution
    assert parsed.regions.xyxy.tolist() == [item["bbox_2d"] for item in expected]
    assert parsed.regions.points.tolist() == [item["point_2d"] for item in expected]
    assert not parsed.issues
    # every box cited in <think> is a reference of the question (none hallucinated)
    assert {c.xyxy for c in parsed.cited} == set(refs)
    assert (parsed.focus is not None) == bool(refs)
    if relation is not None:
        assert f'relation "{relation}"' in parsed.think
    assert f'"{problem}"' in parsed.think


def test_render_sft_target_uses_captions_and_falls_back_to_defaults() -> None:
    with_captions = render_sft_target("the cup next to bbox=[1,2,3,4]", GT_ONE, CAPTIONS)
    assert _tag(with_captions, "scene") == CAPTIONS["scene"]
    assert _tag(with_captions, "focus") == CAPTIONS["focus"]
    bare = render_sft_target("the cup next to bbox=[1,2,3,4]", GT_ONE, None)
    assert _tag(bare, "scene") == DEFAULT_SCENE
    assert _tag(bare, "focus") == DEFAULT_FOCUS


def test_render_sft_target_does_not_copy_the_scene_sentence_into_think() -> None:
    text = render_sft_target("the cup", GT_ONE, CAPTIONS)
    think = _tag(text, "think")
    assert CAPTIONS["scene"] not in think
    assert "two shapes: a red square and a blue circle" in think  # keywords kept


@pytest.mark.parametrize("profile", ["official", "paper"])
def test_render_sft_target_scores_full_citation_and_accuracy(profile: str) -> None:
    rewards_api = pytest.importorskip("regionreasoner.rewards.api")
    problem = "the circle to the right of bbox=[10,10,50,50]"
    gt = '[{"bbox_2d": [60, 5, 90, 40], "point_2d": [75, 22]}]'
    text = render_sft_target(problem, gt, CAPTIONS)
    answer_only = f"<answer>{gt}</answer>"
    perfect = rewards_api.score_completion(
        answer_only, problem=problem, solution=gt, profile=profile
    )
    scores = rewards_api.score_completion(text, problem=problem, solution=gt, profile=profile)
    assert scores.accuracy == perfect.accuracy > 0  # the answer is the ground truth
    assert scores.answer_format == perfect.answer_format
    assert scores.ref_citation == 2.0  # keyword + every cited box is a reference (max)


@pytest.mark.parametrize(
    ("solution", "field"),
    [
        ("not json", "solution"),
        ("[]", "solution"),
        ('{"bbox_2d": [1, 2, 3, 4]}', "solution"),
        ('[{"bbox_2d": [1, 2, 3]}]', "solution[0].bbox_2d"),
        ('[{"bbox_2d": [1, 2, 3, "x"]}]', "solution[0].bbox_2d"),
        ('[{"bbox_2d": [1, 2, 3, 4], "point_2d": [1]}]', "solution[0].point_2d"),
        ('[{"bbox_2d": [1, 2, 3, NaN]}]', "solution[0].bbox_2d"),
    ],
)
def test_parse_solution_rejects_malformed_ground_truth(solution: str, field: str) -> None:
    with pytest.raises(DataFormatError) as info:
        parse_solution(solution)
    assert info.value.field == field


def test_render_answer_matches_the_prompt_example_style() -> None:
    assert render_answer(GT_TWO) == (
        '[{"bbox_2d": [10,20,30,40], "point_2d": [20,30]}, '
        '{"bbox_2d": [50.5,60,70,80], "point_2d": [60,70]}]'
    )
    assert render_answer([{"bbox_2d": [1, 2, 3, 4]}]) == '[{"bbox_2d": [1,2,3,4]}]'


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("the cup to the left of bbox=[1,2,3,4]", "to the left of"),
        ("the cup that overlaps bbox=[1,2,3,4]", "that overlaps"),
        ("a cup, above bbox=[1,2,3,4]", "above"),
        ("the cup farthest away from bbox=[1,2,3,4]", "farthest away from"),
        ("the cupabove bbox=[1,2,3,4]", None),  # a word boundary is required
        ("bbox=[1,2,3,4]", None),
    ],
)
def test_relation_phrase_reads_the_words_before_the_reference(question, expected) -> None:
    assert relation_phrase(question, question.index("bbox")) == expected


def test_sft_completion_builds_one_assistant_message() -> None:
    row = {"problem": "the cup", "solution": GT_ONE, "captions_json": json.dumps(CAPTIONS)}
    out = sft_completion(row)
    assert [m["role"] for m in out["completion"]] == ["assistant"]
    assert out["completion"][0]["content"] == render_sft_target("the cup", GT_ONE, CAPTIONS)
