"""TRL reward callables: signature, names, picklability, weights, shared scoring cache."""

from __future__ import annotations

import json
import pickle

import pytest

from regionreasoner.errors import ConfigError, DataFormatError
from regionreasoner.integrations import trl_rewards
from regionreasoner.integrations.trl_rewards import (
    RegionReasonerReward,
    completion_text,
    make_reward_funcs,
    make_trl_reward_setup,
)
from regionreasoner.rewards import COMPONENTS, score_completion
from regionreasoner.rewards.hacking import GOOD_COMPLETION, PROBLEM, SOLUTION

SOLUTION_JSON = json.dumps(SOLUTION)


def batch(n: int = 2, conversational: bool = True) -> dict:
    texts = [GOOD_COMPLETION, "<answer>[]</answer>"][:n]
    completions = (
        [[{"role": "assistant", "content": t}] for t in texts] if conversational else texts
    )
    return {
        "prompts": [[{"role": "user", "content": "q"}]] * n,
        "completions": completions,
        "completion_ids": [[1, 2]] * n,
        "problem": [PROBLEM] * n,
        "solution": [SOLUTION_JSON] * n,
        "trainer_state": object(),
        "log_extra": lambda *a, **k: None,
        "log_metric": lambda *a, **k: None,
        "image": [None] * n,
    }


@pytest.mark.parametrize("profile", ["paper", "official"])
def test_each_callable_returns_its_component_for_every_completion(profile):
    funcs = make_reward_funcs(profile)
    assert [f.__name__ for f in funcs] == [*COMPONENTS, "total"]
    kwargs = batch()
    expected = [
        score_completion(t, problem=PROBLEM, solution=SOLUTION, profile=profile)
        for t in (GOOD_COMPLETION, "<answer>[]</answer>")
    ]
    for func in funcs:
        values = func(**kwargs)
        assert values == [getattr(e, func.__name__) for e in expected]
        assert all(isinstance(v, float) for v in values)


def test_plain_string_and_conversational_completions_score_the_same():
    func = RegionReasonerReward("total")
    assert func(**batch(conversational=False)) == func(**batch(conversational=True))


def test_completion_text_handles_content_parts():
    message = [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        }
    ]
    assert completion_text(message) == "ab"
    assert completion_text("plain") == "plain"


def test_callables_pickle_and_keep_their_name():
    for func in make_reward_funcs("official", alpha=0.5):
        clone = pickle.loads(pickle.dumps(func))
        assert clone.__name__ == func.__name__
        assert (clone.profile, clone.alpha) == ("official", 0.5)
        assert clone(**batch(1)) == func(**batch(1))


def test_trl_setup_weights_make_the_sum_the_profile_total():
    funcs, weights = make_trl_reward_setup("paper", 0.5, 2.0)
    kwargs = batch()
    columns = [f(**kwargs) for f in funcs]
    summed = [sum(w * col[i] for w, col in zip(weights, columns, strict=True)) for i in range(2)]
    totals = [
        score_completion(t, problem=PROBLEM, solution=SOLUTION, alpha=0.5, beta=2.0).total
        for t in (GOOD_COMPLETION, "<answer>[]</answer>")
    ]
    assert summed == pytest.approx(totals)
    assert weights == [0.0] * len(COMPONENTS) + [1.0]


def test_one_scoring_per_completion_across_callables():
    trl_rewards.clear_cache()
    for func in make_reward_funcs("paper"):
        func(**batch())
    info = trl_rewards._score_cached.cache_info()
    assert (info.misses, info.hits) == (2, 2 * len(COMPONENTS))


@pytest.mark.parametrize(
    ("factory", "error"),
    [
        (lambda: make_reward_funcs(components=["accuracy", "bogus"]), ConfigError),
        (lambda: make_reward_funcs(components=["accuracy", "accuracy"]), ConfigError),
        (lambda: RegionReasonerReward("bogus"), ConfigError),
        (lambda: RegionReasonerReward(alpha=-1), ConfigError),
    ],
)
def test_bad_settings_raise(factory, error):
    with pytest.raises(error):
        factory()


def test_missing_or_misaligned_columns_raise():
    kwargs = batch()
    del kwargs["solution"]
    with pytest.raises(DataFormatError, match="solution"):
        RegionReasonerReward()(**kwargs)
    kwargs = batch()
    kwargs["problem"] = [PROBLEM]
    with pytest.raises(DataFormatError, match="problem"):
        RegionReasonerReward()(**kwargs)


@pytest.mark.slow
def test_trl_names_the_callables_by_component_and_accepts_zero_weights(tmp_path):
    from trl import GRPOConfig
    from trl.trainer.utils import get_callable_name, is_async_callable

    funcs, weights = make_trl_reward_setup("paper")
    assert [get_callable_name(f) for f in funcs] == [*COMPONENTS, "total"]
    assert not any(is_async_callable(f) for f in funcs)
    config = GRPOConfig(
        output_dir=str(tmp_path), reward_weights=weights, use_cpu=True, report_to=[]
    )
    assert config.reward_weights == weights


def test_normalisation_reaches_the_total_callable_and_the_cache_key():
    trl_rewards.clear_cache()
    kwargs = batch()
    for normalisation in ("components", "base"):
        funcs, _ = make_trl_reward_setup("paper", 0.5, 2.0, normalisation=normalisation)
        expected = [
            score_completion(t, problem=PROBLEM, solution=SOLUTION, alpha=0.5, beta=2.0,
                             normalisation=normalisation).total
            for t in (GOOD_COMPLETION, "<answer>[]</answer>")
        ]  # fmt: skip
        assert funcs[-1](**kwargs) == expected
        assert all(f.normalisation == normalisation for f in funcs)
    assert trl_rewards._score_cached.cache_info().misses == 4  # no cross-reading hit
    clone = pickle.loads(pickle.dumps(funcs[-1]))
    assert clone.normalisation == "base" and clone(**kwargs) == funcs[-1](**kwargs)
    with pytest.raises(ConfigError, match="normalisation"):
        make_trl_reward_setup("official", normalisation="base")
