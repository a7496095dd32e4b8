"""veRL ``compute_score``: the values veRL receives, problem sources, ground-truth errors.

Expected values are worked out by hand from the documented rules (``docs/rewards.md`` for
the ``paper`` profile, the released rules for ``official``), not by calling the library.
"""

from __future__ import annotations

import json

import pytest

from regionreasoner.errors import ConfigError, DataFormatError
from regionreasoner.integrations.verl import SCORE_KEYS, compute_score
from regionreasoner.rewards import pack_solution, score_completion

PROBLEM = "find the cup to the right of bbox=[100,100,200,200]"
SOLUTION = [{"bbox_2d": [220, 110, 300, 190], "point_2d": [260, 150]}]
GT = json.dumps(SOLUTION)
GOOD = (
    "<scene>The image shows a table with a plate and a cup.</scene>\n"
    "<focus>A white plate holding two slices of bread.</focus>\n"
    "<think>The reference bbox=[100,100,200,200] is the plate. To the right of the plate "
    "there is a red cup. I select that cup.</think>\n"
    f"<answer>{GT}</answer>"
)
ZERO = dict.fromkeys(SCORE_KEYS[1:], 0.0)

# Components by hand (alpha = beta = 1, so score = their sum):
# paper "<think>unclosed": one word to judge, nothing repeats -> non_repeat 2; no valid block
# paper "<answer>[{]</answer>": 1 of the 4 expected blocks valid, wrong sequence -> 0.25
# official "": no sentence repeats -> non_repeat 1; everything else needs a tag
# official "<answer>[{]</answer>": answer tag of 3 chars -> 0.5; invalid JSON -> 0
EMPTY_AND_MALFORMED = [
    ("paper", "", ZERO),
    ("paper", None, ZERO),
    ("paper", "<think>unclosed", {**ZERO, "non_repeat": 2.0}),
    ("paper", "<answer>[{]</answer>", {**ZERO, "tag_format": 0.25}),
    ("official", "", {**ZERO, "non_repeat": 1.0}),
    ("official", None, {**ZERO, "non_repeat": 1.0}),
    ("official", "<think>unclosed", {**ZERO, "non_repeat": 1.0}),
    ("official", "<answer>[{]</answer>", {**ZERO, "tag_format": 0.5, "non_repeat": 1.0}),
]


@pytest.mark.parametrize(("profile", "response", "components"), EMPTY_AND_MALFORMED)
def test_empty_and_malformed_responses_score_by_hand(profile, response, components):
    out = compute_score("regiondial", response, GT, {"problem": PROBLEM}, profile=profile)
    assert tuple(out) == SCORE_KEYS  # veRL logs every key: the set never varies
    assert all(type(v) is float for v in out.values())
    assert {k: out[k] for k in components} == pytest.approx(components)
    assert out["score"] == pytest.approx(sum(components.values()))


# The good response, by hand (consistency aside: beta = 0 below, checked on its own):
# paper: tag_format 2 (four valid blocks in order), answer_format 2 (one item with box
#   and point, IoU 0 with the reference), accuracy 2 (IoU 1, L1 0, point on target:
#   2 * 3 / (3 * 1)), ref_citation 2 (bbox token + 1/1 cited, no other box), non_repeat 2
# official: tag_format 0.5 (scene with "image") + 0.8 (focus of 8 words) + 0.5 + 0.5 = 2.3,
#   answer_format 1 + 1, accuracy 3 (three hits), ref_citation 1 + 1/1, non_repeat 1
GOOD_COMPONENTS = {
    "paper": {"tag_format": 2.0, "answer_format": 2.0, "accuracy": 2.0, "ref_citation": 2.0,
              "non_repeat": 2.0},
    "official": {"tag_format": 2.3, "answer_format": 2.0, "accuracy": 3.0, "ref_citation": 2.0,
                 "non_repeat": 1.0},
}  # fmt: skip


@pytest.mark.parametrize("profile", ["paper", "official"])
def test_good_response_scores_by_hand_with_the_weights(profile):
    expected = GOOD_COMPONENTS[profile]
    args = ("regiondial", GOOD, GT, {"problem": PROBLEM})
    out = compute_score(*args, profile=profile, alpha=0.5, beta=0.0)
    assert {k: out[k] for k in expected} == pytest.approx(expected)
    base = sum(v for k, v in expected.items() if k != "ref_citation")
    assert out["score"] == pytest.approx(base + 0.5 * expected["ref_citation"])
    weighted = compute_score(*args, profile=profile, alpha=0.5, beta=2.0)
    assert 0.0 < weighted["consistency"] <= 2.08  # both profiles' upper bound
    assert weighted["score"] - out["score"] == pytest.approx(2.0 * weighted["consistency"])


def test_problem_from_packed_ground_truth_and_extra_info_precedence():
    packed = pack_solution(SOLUTION, PROBLEM)
    from_packed = compute_score("d", GOOD, packed)
    from_extra = compute_score("d", GOOD, GT, {"problem": PROBLEM})
    assert from_packed == from_extra and from_packed["ref_citation"] == 2.0
    overridden = compute_score("d", GOOD, packed, {"problem": "find the cup"})
    assert overridden["ref_citation"] == 1.0  # no reference in that problem: Eq. 4 gives 1


def test_malformed_ground_truth_raises():
    with pytest.raises(DataFormatError):
        compute_score("d", GOOD, "[]", {"problem": PROBLEM})
    with pytest.raises(DataFormatError):
        compute_score("d", GOOD, GT, {"problem": 5})


def test_normalisation_is_passed_through_reward_kwargs():
    out = compute_score("d", GOOD, GT, {"problem": PROBLEM}, normalisation="base")
    expected = score_completion(GOOD, problem=PROBLEM, solution=SOLUTION, normalisation="base")
    assert out["score"] == expected.total
    assert out["score"] < compute_score("d", GOOD, GT, {"problem": PROBLEM})["score"]
    with pytest.raises(ConfigError):
        compute_score("d", GOOD, GT, {"problem": PROBLEM}, profile="official",
                      normalisation="base")  # fmt: skip
