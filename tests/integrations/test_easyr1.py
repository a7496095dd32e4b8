"""EasyR1 ``compute_score``: sequential and batch calls on a packed ground truth."""

from __future__ import annotations

import json

import pytest

from regionreasoner.errors import DataFormatError
from regionreasoner.integrations.easyr1 import SCORE_KEYS, compute_score
from regionreasoner.rewards import pack_solution, score_completion
from regionreasoner.rewards.hacking import GOOD_COMPLETION, PROBLEM, SOLUTION

PACKED = pack_solution(SOLUTION, PROBLEM)


def reward_input(response: str, ground_truth: str = PACKED) -> dict:
    return {"response": response, "response_length": len(response), "ground_truth": ground_truth}


def test_sequential_call_returns_overall_and_components():
    out = compute_score(reward_input(GOOD_COMPLETION))
    expected = score_completion(GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION)
    assert tuple(out) == SCORE_KEYS
    assert out["overall"] == expected.total
    assert out["ref_citation"] == 2.0  # the packed problem carried the references


def test_batch_call_returns_one_dict_per_input_with_fixed_keys():
    inputs = [reward_input(GOOD_COMPLETION), reward_input(""), reward_input("<answer>")]
    outs = compute_score(inputs, profile="official")
    assert len(outs) == 3
    assert all(tuple(o) == SCORE_KEYS for o in outs)
    assert outs[0]["overall"] > outs[1]["overall"]


def test_plain_solution_is_scored_without_references():
    out = compute_score(reward_input(GOOD_COMPLETION, json.dumps(SOLUTION)))
    assert out["ref_citation"] == 1.0  # no problem: no reference


@pytest.mark.parametrize("bad", [{"response": "x"}, "not a dict", reward_input("x", "[]")])
def test_bad_inputs_raise(bad):
    with pytest.raises(DataFormatError):
        compute_score(bad)


def test_normalisation_is_passed_through_reward_function_kwargs():
    outs = compute_score([reward_input(GOOD_COMPLETION)], normalisation="base")
    expected = score_completion(
        GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION, normalisation="base"
    )
    assert outs[0]["overall"] == expected.total
    assert outs[0]["overall"] < compute_score(reward_input(GOOD_COMPLETION))["overall"]
