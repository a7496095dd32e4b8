"""Robustness over adversarial text: every component is a finite float in its range."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from regionreasoner.rewards import COMPONENTS, RewardBreakdown, score_completion
from regionreasoner.rewards.hacking import GOOD_COMPLETION, PROBLEM, SOLUTION

OFFICIAL_MAX = {
    "tag_format": 0.5 + 0.8 + 0.5 + 0.5,
    "answer_format": 2.0,
    "ref_citation": 2.0,
    "accuracy": 3.0,
    "non_repeat": 1.0,
    "consistency": 1.0 + 0.6 + 0.4 * 1.2,
}
"""The released reward's per-component maxima (docs/rewards.md)."""

FRAGMENTS = [
    "<scene>", "</scene>", "<focus>", "</focus>", "<think>", "</think>", "<answer>",
    "</answer>", "<THINK>", "bbox=[1,2,3,4]", "bbox [100, 100, 200, 200]", "[", "]", "{",
    "}", '"bbox_2d": ', '"point_2d": ', "NaN", "Infinity", "-Infinity", "1e308", "-5", ",",
    ".", "\n", " ", "left", "dog", "the", "```json", "\u3000", "1" * 50, '"', ":", "null",
]  # fmt: skip

json_number = st.one_of(
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 2**64, -(2**63) - 1, 10**400]),
)
json_value = st.recursive(
    st.one_of(json_number, st.booleans(), st.none(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.sampled_from(["bbox_2d", "point_2d", "label", "x"]), inner, max_size=3),
    ),
    max_leaves=25,
)
box = st.lists(st.one_of(json_number, st.integers(-900, 900)), min_size=4, max_size=4)
answer_item = st.fixed_dictionaries(
    {"bbox_2d": box, "point_2d": st.lists(json_number, min_size=2, max_size=2)}
)


def dump(value: object) -> str:
    try:
        return json.dumps(value, allow_nan=True)
    except ValueError:  # ints beyond the str-digit limit
        return "[]"


completion_text = st.one_of(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=60).map(
        "".join
    ),  # tag soup
    st.integers(0, len(GOOD_COMPLETION)).map(lambda n: GOOD_COMPLETION[:n]),  # truncation
    json_value.map(lambda v: f"<scene>s</scene><think>t</think><answer>{dump(v)}</answer>"),
    st.lists(answer_item, max_size=6).map(lambda v: f"<answer>{dump(v)}</answer>"),
    st.integers(1, 6000).map(lambda n: f"<answer>{'[' * n}{']' * n}</answer>"),  # nesting
)
weights = st.floats(0, 3, allow_nan=False)


def check(result: RewardBreakdown, profile: str, alpha: float, beta: float) -> None:
    values = [result.total] + [getattr(result, c) for c in COMPONENTS]
    assert all(isinstance(v, float) and math.isfinite(v) for v in values), result
    for component in COMPONENTS:
        upper = 2.0 if profile == "paper" else OFFICIAL_MAX[component]
        assert 0.0 <= getattr(result, component) <= upper + 1e-12, (component, result)
    upper_total = 8.0 + 2.0 * alpha + 2.0 * beta
    if profile == "official":
        upper_total = sum(OFFICIAL_MAX.values()) + (alpha - 1) * 2.0 + (beta - 1) * 2.08
    assert 0.0 <= result.total <= upper_total + 1e-9
    assert all(isinstance(i, str) for i in result.issues)


@settings(max_examples=120)
@given(completion_text, st.sampled_from(["paper", "official"]), weights, weights)
def test_adversarial_completions_score_finite_in_range(text, profile, alpha, beta):
    result = score_completion(
        text, problem=PROBLEM, solution=SOLUTION, profile=profile, alpha=alpha, beta=beta
    )
    check(result, profile, alpha, beta)


@settings(max_examples=40)
@given(
    st.text(max_size=80),
    st.lists(answer_item, min_size=1, max_size=3),
    st.sampled_from(["paper", "official"]),
)
def test_adversarial_problem_text(problem, answer, profile):
    text = GOOD_COMPLETION.replace(json.dumps(SOLUTION), dump(answer))
    check(
        score_completion(text, problem=problem, solution=SOLUTION, profile=profile), profile, 1, 1
    )


def test_thousands_of_objects_and_inverted_boxes():
    boxes = [
        {"bbox_2d": [x % 800, 900 - x % 700, (x * 7) % 800 - 50, x % 300], "point_2d": [x, -x]}
        for x in range(3000)
    ]
    text = f"<scene>s</scene><think>t</think><answer>{json.dumps(boxes)}</answer>"
    for profile in ("paper", "official"):
        check(score_completion(text, problem=PROBLEM, solution=SOLUTION, profile=profile),
              profile, 1.0, 1.0)  # fmt: skip
