"""Public API: score_completion / score_batch, the profile registry, argument checks."""

from __future__ import annotations

import json

import pytest

from regionreasoner.errors import ConfigError, DataFormatError, UnknownComponentError
from regionreasoner.registry import Registry
from regionreasoner.rewards import (
    REWARD_KEYS,
    REWARD_PROFILES,
    RewardBreakdown,
    check_normalisation,
    get_profile,
    score_batch,
    score_completion,
)
from regionreasoner.rewards.hacking import GOOD_COMPLETION, PROBLEM, SOLUTION


def test_profiles_are_registered_in_a_registry():
    assert isinstance(REWARD_PROFILES, Registry)
    assert REWARD_PROFILES.names() == ["official", "paper"]
    assert get_profile("paper").name == "paper"
    with pytest.raises(UnknownComponentError, match="official"):
        get_profile("offical")


@pytest.mark.parametrize("profile", ["official", "paper"])
def test_both_profiles_return_the_same_keys(profile):
    result = score_completion(GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION, profile=profile)
    assert isinstance(result, RewardBreakdown)
    assert tuple(result.to_dict()) == REWARD_KEYS
    renamed = result.to_dict(total_key="score")
    assert tuple(renamed) == ("score", *REWARD_KEYS[1:])
    assert list(renamed.values()) == list(result.to_dict().values())
    assert isinstance(result.issues, tuple)
    with pytest.raises(AttributeError):
        result.total = 0.0  # frozen


def test_score_batch_equals_single_calls_and_checks_alignment():
    completions = [GOOD_COMPLETION, "", "<answer>[]</answer>"]
    solutions = [SOLUTION, json.dumps(SOLUTION), SOLUTION]
    problems = [PROBLEM, None, PROBLEM]
    batch = score_batch(completions, problems=problems, solutions=solutions, profile="official")
    single = [
        score_completion(c, problem=p, solution=s, profile="official")
        for c, p, s in zip(completions, problems, solutions, strict=True)
    ]
    assert batch == single
    with pytest.raises(ValueError, match="aligned"):
        score_batch(completions, problems=problems[:2], solutions=solutions)


def test_score_batch_names_the_bad_item():
    with pytest.raises(DataFormatError, match="item 1"):
        score_batch(["a", "b"], problems=["x", "x"], solutions=[SOLUTION, "[]"])


@pytest.mark.parametrize(
    ("alpha", "beta"), [(-1, 1), (1, float("nan")), (float("inf"), 1), ("1", 1)]
)
def test_invalid_weights_raise_config_error(alpha, beta):
    with pytest.raises(ConfigError):
        score_completion("x", problem="x", solution=SOLUTION, alpha=alpha, beta=beta)


def test_non_string_completion_is_a_caller_error():
    with pytest.raises(TypeError):
        score_completion(None, problem="x", solution=SOLUTION)  # type: ignore[arg-type]


def test_normalisation_is_a_checked_option_of_the_paper_profile():
    assert check_normalisation("paper", "base").name == "paper"
    assert check_normalisation("official", "components").name == "official"
    with pytest.raises(ConfigError, match="not available with the 'official'"):
        score_completion(GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION,
                         profile="official", normalisation="base")  # fmt: skip
    with pytest.raises(ConfigError, match="choose from components, base"):
        score_completion(GOOD_COMPLETION, problem=PROBLEM, solution=SOLUTION,
                         normalisation="normalised")  # fmt: skip


def test_score_batch_passes_the_normalisation_on():
    completions = [GOOD_COMPLETION, "<answer>[]</answer>"]
    batch = score_batch(completions, problems=[PROBLEM] * 2, solutions=[SOLUTION] * 2,
                        normalisation="base")  # fmt: skip
    for result, completion in zip(batch, completions, strict=True):
        summed = score_completion(completion, problem=PROBLEM, solution=SOLUTION)
        base = summed.tag_format + summed.answer_format + summed.accuracy + summed.non_repeat
        assert result.total == pytest.approx(summed.total - base + base / 4)
