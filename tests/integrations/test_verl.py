"""veRL ``compute_score``: fixed keys, problem sources, ground-truth errors."""

from __future__ import annotations

import json

import pytest

from regionreasoner.errors import ConfigError, DataFormatError
from regionreasoner.integrations.verl import SCORE_KEYS, compute_score
from regionreasoner.rewards import pack_solution, score_completion
from regionreasoner.rewards.hacking import GOOD_COMPLETION, PROBLEM, SOLUTION

GT = json.dumps(SOLUTION)


@pytest.mark.parametrize(
    "response", [GOOD_COMPLETION, "", "<think>unclosed", "<answer>[{]</answer>", None]
)
def test_same_keys_for_good_malformed_and_empty(response):
    out = compute_score("regiondial", response, GT, {"problem": PROBLEM})
    assert tuple(out) == SCORE_KEYS
    assert all(isinstance(v, float) for v in out.values())


@pytest.mark.parametrize("profile", ["paper", "official"])
def test_score_is_the_profile_total(profile):
    out = compute_score("d", GOOD_COMPLETION, GT, {"problem": PROBLEM}, profile=profile)
    expected = score_completion(
        GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION, profile=profile
    )
    assert out["score"] == expected.total
    assert out["ref_citation"] == expected.ref_citation == 2.0


def test_problem_from_packed_ground_truth_and_extra_info_precedence():
    packed = pack_solution(SOLUTION, PROBLEM)
    from_packed = compute_score("d", GOOD_COMPLETION, packed)
    from_extra = compute_score("d", GOOD_COMPLETION, GT, {"problem": PROBLEM})
    assert from_packed == from_extra
    overridden = compute_score("d", GOOD_COMPLETION, packed, {"problem": "find the cup"})
    assert overridden["ref_citation"] == 1.0  # no reference in the extra_info problem


def test_malformed_ground_truth_raises():
    with pytest.raises(DataFormatError):
        compute_score("d", GOOD_COMPLETION, "[]", {"problem": PROBLEM})
    with pytest.raises(DataFormatError):
        compute_score("d", GOOD_COMPLETION, GT, {"problem": 5})


def test_normalisation_is_passed_through_reward_kwargs():
    out = compute_score("d", GOOD_COMPLETION, GT, {"problem": PROBLEM}, normalisation="base")
    expected = score_completion(
        GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION, normalisation="base"
    )
    assert out["score"] == expected.total
    assert out["score"] < compute_score("d", GOOD_COMPLETION, GT, {"problem": PROBLEM})["score"]
    with pytest.raises(ConfigError):
        compute_score("d", GOOD_COMPLETION, GT, {"problem": PROBLEM}, profile="official",
                      normalisation="base")  # fmt: skip
