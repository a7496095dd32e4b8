"""``official`` profile: parity with the released reward code, quirk by quirk.

Expected values are computed by hand from the released rules (PAPER_NOTES 2.2) or, for
the fixture, were produced by running the released code itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from regionreasoner.rewards import REWARD_KEYS, score_completion
from regionreasoner.rewards.official import extract_keywords, tag_content

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = REPO_ROOT.parent / "shared" / "fixtures" / "official_rewards_sample.jsonl"

GT = [{"bbox_2d": [100, 100, 200, 200], "point_2d": [150, 150]}]
REF_PROBLEM = "find the cup right of bbox=[10,10,50,50]"
NO_REF_PROBLEM = "find the cup on the table"


def official(completion: str, problem: str | None = REF_PROBLEM, solution=None, **kw):
    return score_completion(
        completion, problem=problem, solution=GT if solution is None else solution,
        profile="official", **kw,
    )  # fmt: skip


def answer(items) -> str:
    return f"<answer>{json.dumps(items)}</answer>"


def _fixture_rows() -> list[dict]:
    if not FIXTURE.is_file():
        pytest.skip(f"parity fixture not found at {FIXTURE} (needs the shared/ folder)")
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def test_official_fixture_every_row_matches_released_code_component_by_component():
    rows = _fixture_rows()
    assert len(rows) == 60
    mismatches = []
    for row in rows:
        solution = row["solution"]
        got = score_completion(
            row["completion"], problem=row["problem"], solution=solution, profile="official"
        ).to_dict()
        for key in REWARD_KEYS:
            if not math.isclose(got[key], row["expected"][key], rel_tol=0, abs_tol=1e-6):
                mismatches.append((row["id"], key, got[key], row["expected"][key]))
    assert mismatches == []


@pytest.mark.parametrize(
    ("text", "tag", "expected"),
    [
        ("<think>  a b \n</think>", "think", "a b"),  # whitespace around the group dropped
        ("<think>a</think><think>b</think>", "think", "a"),  # first block
        ("<think>a<think>b</think>", "think", "a<think>b"),  # lazy up to the first close
        ("<think>open only", "think", None),  # unclosed: no match
        ("</think>x<think>y", "think", None),  # close before open: no match
        ("<Think>a</Think>", "think", None),  # case-sensitive
        ("<think>\u3000a\u3000</think>", "think", "a"),  # Unicode whitespace counts
        ("<think></think>", "think", ""),
    ],
)
def test_tag_content_matches_released_regex(text, tag, expected):
    assert tag_content(text, tag) == expected


@pytest.mark.parametrize(
    ("completion", "problem", "expected"),
    [
        # scene: missing 0; < 10 chars 0.2; plain 0.3; keyword 0.5 (+ focus 0.5: no ref, absent)
        ("", NO_REF_PROBLEM, 0.5),
        ("<scene>short</scene>", NO_REF_PROBLEM, 0.2 + 0.5),
        ("<scene>A table with cups</scene>", NO_REF_PROBLEM, 0.3 + 0.5),
        ("<scene>The image shows cups</scene>", NO_REF_PROBLEM, 0.5 + 0.5),
        ("<scene>A ScEnE</scene>", NO_REF_PROBLEM, 0.2 + 0.5),  # 7 chars: short wins
        # focus without a reference: absent 0.5, present (even empty) 0
        ("<focus></focus>", NO_REF_PROBLEM, 0.0),
        # focus with a reference: absent/empty 0, < 5 words 0.2, else 0.8, copy 0
        ("", REF_PROBLEM, 0.0),
        ("<focus> </focus>", REF_PROBLEM, 0.0),
        ("<focus>a red plate</focus>", REF_PROBLEM, 0.2),
        ("<focus>a red plate with two slices</focus>", REF_PROBLEM, 0.8),
        (f"<focus>{REF_PROBLEM}</focus>", REF_PROBLEM, 0.0),
        # reference detection is on the lower-cased problem: "Bbox = [..]" counts
        ("<focus>a red plate</focus>", "find Bbox = [ 1 ,2,3, 4]", 0.2),
        # a bare [x1,y1,x2,y2] is not a reference for the released regex
        ("<focus>a red plate</focus>", "find [1,2,3,4]", 0.0),
        # think: missing 0, < 10 chars 0.2, else 0.5 (+ focus absent, no ref 0.5)
        ("<think>short</think>", NO_REF_PROBLEM, 0.2 + 0.5),
        ("<think>long enough text</think>", NO_REF_PROBLEM, 0.5 + 0.5),
        # answer tag: < 3 chars 0.1, else 0.5
        ("<answer>[]</answer>", NO_REF_PROBLEM, 0.1 + 0.5),
        ("<answer>abc</answer>", NO_REF_PROBLEM, 0.5 + 0.5),
        # no problem text: no reference is detected
        ("<focus>a b c d e</focus>", None, 0.0),
    ],
)
def test_official_tag_format_per_tag_heuristics(completion, problem, expected):
    assert official(completion, problem).tag_format == pytest.approx(expected, abs=1e-12)


VALID = {"bbox_2d": [1, 2, 3, 4], "point_2d": [1, 2]}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (json.dumps([VALID]), 2.0),
        (json.dumps([{"bbox_2d": [1, 2, 3]}, VALID]), 1.0),  # 0/2 + 2/2
        (json.dumps([{"bbox_2d": "1,2,3,4", "point_2d": [1, 2]}]), 1.0),  # only the point
        (json.dumps(VALID), 0.0),  # a dict: its keys are iterated, nothing scores
        (json.dumps([VALID, 5]), 1.0),  # the loop stops at 5 (TypeError in the release)
        (json.dumps([5, VALID]), 0.0),  # ... before anything was added
        (json.dumps(["x", VALID]), 1.0),  # a string without the key names adds 0
        (json.dumps(["has bbox_2d inside", VALID]), 0.0),  # substring hit: indexing raises
        (json.dumps([["a"], VALID]), 1.0),  # list without the key names adds 0
        (json.dumps([["point_2d"], VALID]), 0.0),  # membership hit: indexing raises
        (json.dumps([None, VALID]), 0.0),
        ('[{"bbox_2d": [NaN, 1, 2, 3], "point_2d": [1, Infinity]}]', 2.0),  # lengths only
        ("[]", 0.0),
        ("[{]", 0.0),  # invalid JSON
        ('"bbox_2d"', 0.0),
    ],
)
def test_official_answer_format_released_loop(payload, expected):
    assert official(f"<answer>{payload}</answer>").answer_format == pytest.approx(expected)


def item(box, point):
    return {"bbox_2d": box, "point_2d": point}


@pytest.mark.parametrize(
    ("items", "solution", "expected"),
    [
        ([item([100, 100, 200, 200], [150, 150])], None, 3.0),
        # "+1 pixel" IoU: continuous IoU is exactly 0.5 (no hit) but 5151/10201 > 0.5 here;
        # L1 = 12.5 (no); point 25 px away and inside its own box (hit)
        ([item([100, 100, 150, 200], [125, 150])], None, 2.0),
        # point 0 px from the GT point but outside its OWN box: no point hit; IoU 0.41
        ([item([100, 100, 140, 200], [150, 150])], None, 0.0),
        # L1 exactly 10 is not < 10; +1 IoU 8281/12121 hits; point hits
        ([item([110, 110, 210, 210], [150, 150])], None, 2.0),
        ([item([109, 109, 209, 209], [150, 150])], None, 3.0),
        # one exact prediction, two GT objects: 3 / max(1, 2)
        (
            [item([100, 100, 200, 200], [150, 150])],
            [*GT, {"bbox_2d": [300, 300, 400, 400], "point_2d": [350, 350]}],
            1.5,
        ),
        # 130 exact copies: only 120 enter, 3 / 120
        ([item([100, 100, 200, 200], [150, 150])] * 130, None, 3.0 / 120),
        ([{"bbox_2d": [100, 100, 200, 200]}], None, 0.0),  # missing point_2d
        ([item([True, True, True, True], [150, 150])], None, 0.0),  # all-bool boxes
        ([item([100, 100, 200, 200], [2**70, 150])], None, 0.0),  # object array point
        ([item([100, 100, 200, 200], [150.0, 150])], None, 3.0),  # floats are fine
        ([item([100, 100, 200], [150, 150])], None, 0.0),  # 3 coordinates
        ([item([100, 100, 200, 200], [150, 150]), item([1, 2, 3], [1, 1])], None, 0.0),
    ],
)
def test_official_accuracy_released_rules(items, solution, expected):
    result = official(answer(items), solution=solution)
    assert result.accuracy == pytest.approx(expected, abs=1e-12)


TWO_REFS = "find the cup right of bbox=[10,10,50,50] near bbox=[60,60,90,90]"


@pytest.mark.parametrize(
    ("think", "problem", "expected"),
    [
        (None, TWO_REFS, 0.0),  # no <think>
        ("look at bbox=[10,10,50,50] first", TWO_REFS, 2.0),  # kw + 1/1
        ("the coordinates matter", TWO_REFS, 1.0),  # kw only
        ("see [10,10,50,50]", TWO_REFS, 0.0),  # bare box and no keyword
        ("BBOX [10,10,50,50] and bbox=[1,2,3,4]", TWO_REFS, 0.75),  # (1 + 1/2) * 0.5
        ("bbox=[10,10,50,50] bbox=[10,10,50,50]", TWO_REFS, 2.0),  # a set: duplicates merge
        ("bbox=[10.5,10,50,50]", TWO_REFS, 1.0),  # not integers: unparsed, kw only
        ("bbox=[1,2,3,4]", NO_REF_PROBLEM, 1.0),  # no reference: 1
        ("bbox=[1,2,3,4]", "", 1.0),  # empty problem: no reference
        ("bbox=[1,2,3,4]", None, 0.0),  # None.lower() fails in the release: 0
    ],
)
def test_official_ref_citation(think, problem, expected):
    completion = "" if think is None else f"<think>{think}</think>"
    assert official(completion, problem).ref_citation == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a. a. b.", 1.0),  # one repeat is tolerated
        ("a. a. a.", 0.0),
        ("a. b. a. b.", 0.0),
        ("a . a.  a", 0.0),  # stripped before comparing
        ("", 1.0),
    ],
)
def test_official_non_repeat(text, expected):
    assert official(text).non_repeat == expected


def test_official_consistency_hand_computed():
    completion = (
        "<scene>dog sofa room</scene><think>the dog is left of the sofa; I select it</think>"
        "<answer>x</answer>"
    )
    # scene 2/3 keywords in think; focus absent -> 1.0; logic left 0.5 + select 0.3
    expected = 2 / 3 * 1.0 + 1.0 * 0.6 + 0.8 * 0.4
    assert official(completion, NO_REF_PROBLEM).consistency == pytest.approx(expected)


@pytest.mark.parametrize(
    ("scene", "focus", "think", "expected"),
    [
        ("car", None, "a cart here", 1.0 + 0.6),  # substring: "car" in "cart"
        ("car", "", "nothing", 0.0 + 0.6),  # empty focus -> 1.0 (even with a reference)
        ("car", "red plate", "red one", 1.0 * 0 + 0.5 * 0.6),  # focus 1/2, scene 0
        # only the first 10 keywords count: the two that appear in think are 11th and 12th
        ("k01 k02 k03 k04 k05 k06 k07 k08 k09 k10 hit another", None, "hit another", 0.6),
        # every logic category: 0.5 + 0.3 + 0.2 + 0.2 = 1.2 (no cap)
        ("zzz", None, "left select region bbox", 0.6 + 1.2 * 0.4),
        ("zzz", None, "find", 0.6 + 0.3 * 0.4),  # "find" counts as comparison
    ],
)
def test_official_consistency_quirks(scene, focus, think, expected):
    focus_block = "" if focus is None else f"<focus>{focus}</focus>"
    completion = f"<scene>{scene}</scene>{focus_block}<think>{think}</think><answer>a</answer>"
    assert official(completion, REF_PROBLEM).consistency == pytest.approx(expected)


def test_official_consistency_needs_scene_answer_and_problem():
    base = "<scene>dog</scene><think>dog</think><answer>x</answer>"
    assert official(base, NO_REF_PROBLEM).consistency > 0
    assert official(base.replace("<answer>x</answer>", ""), NO_REF_PROBLEM).consistency == 0
    assert official(base, "").consistency == 0  # falsy problem: skipped by the release
    assert official(base, None).consistency == 0


def test_extract_keywords_keeps_duplicates_order_and_first_ten():
    text = "The cat and the cat sat on a mat " + " ".join(f"w{i:02d}" for i in range(12))
    assert extract_keywords(text) == ["cat", "cat", "sat", "mat"] + [f"w{i:02d}" for i in range(6)]


def test_official_total_is_the_unnormalised_sum_and_alpha_beta_scale_their_terms():
    completion = (
        "<scene>The image shows a dog on a sofa.</scene><focus>a red cushion on the left side"
        "</focus><think>The reference bbox=[10,10,50,50] is the cushion; the dog is right of "
        "it.</think>" + answer([item([100, 100, 200, 200], [150, 150])])
    )
    r = official(completion)
    parts = [r.tag_format, r.answer_format, r.ref_citation, r.accuracy, r.non_repeat]
    assert r.total == pytest.approx(sum(parts) + r.consistency)
    assert r.total > 10  # max is about 12.4: no normalisation
    weighted = official(completion, alpha=2.0, beta=0.0)
    assert weighted.total == pytest.approx(r.total + r.ref_citation - r.consistency)
