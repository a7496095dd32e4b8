"""Reward hacking: degenerate completions must score well below a correct one (paper)."""

from __future__ import annotations

import pytest

from regionreasoner.rewards.hacking import (
    GOOD_COMPLETION,
    HACK_CASES,
    PROBLEM,
    SOLUTION,
    render_markdown,
    score_total,
)

MAX_HACK_RATIO = 0.8
"""A degenerate completion may reach at most this share of the correct one's total."""

CASES = {case.name: case for case in HACK_CASES}


def test_hack_suite_covers_every_listed_exploit():
    assert set(CASES) == {
        "keyword_stuffing",
        "cite_every_number",
        "empty_think",
        "focus_copies_question",
        "repeated_sentence",
        "hundred_boxes",
        "reference_as_answer",
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_paper_hack_scores_clearly_below_correct_answer(name):
    good = score_total(GOOD_COMPLETION, "paper")
    hack = score_total(CASES[name].completion, "paper")
    assert hack <= MAX_HACK_RATIO * good, f"{name}: {hack:.2f} vs good {good:.2f}"


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.with_correct_answer))
def test_paper_exploit_never_beats_the_clean_correct_answer(name):
    good = score_total(GOOD_COMPLETION, "paper")
    exploit = score_total(CASES[name].with_correct_answer, "paper")
    assert exploit < good


def test_official_profile_rewards_keyword_stuffing_on_a_correct_answer():
    # The documented weakness of the released reward (PAPER_NOTES 2.4): stuffing scores
    # ABOVE the clean, correct completion. The paper profile must not.
    good = score_total(GOOD_COMPLETION, "official")
    stuffed = score_total(CASES["keyword_stuffing"].with_correct_answer, "official")
    assert stuffed > good
    assert score_total(CASES["keyword_stuffing"].with_correct_answer, "paper") < score_total(
        GOOD_COMPLETION, "paper"
    )


def test_hundred_boxes_contains_the_correct_box_and_reference_case_is_the_reference():
    assert str(SOLUTION[0]["bbox_2d"]).replace(" ", "") in CASES[
        "hundred_boxes"
    ].completion.replace(" ", "")
    assert "[100, 100, 200, 200]" in CASES["reference_as_answer"].completion
    assert "bbox=[100,100,200,200]" in PROBLEM


def test_render_markdown_lists_every_case_for_both_profiles():
    table = render_markdown()
    assert table.count("\n") == 2 + len(HACK_CASES) + sum(
        c.with_correct_answer is not None for c in HACK_CASES
    )
    assert "official total" in table and "paper total" in table
