"""Reward hacking: degenerate completions must score well below a correct one (paper),
legitimate compact reasoning must not be punished, under both readings of Eq. 7."""

from __future__ import annotations

from pathlib import Path

import pytest

from regionreasoner.rewards.hacking import (
    CALIBRATION,
    GOOD_COMPLETION,
    GUARDED_KINDS,
    HACK_CASES,
    MUST_STAY_POSITIVE,
    PROBLEM,
    PROFILE_SETTINGS,
    SOLUTION,
    render_markdown,
    score,
    score_total,
    table_rows,
)

MAX_HACK_RATIO = 0.8
"""A degenerate completion may reach at most this share of the correct one's total."""

READINGS = ("components", "base")
"""The two readings of Eq. 7 (the ``normalisation`` option of the paper profile)."""

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rewards.md"

CASES = {case.name: case for case in HACK_CASES}
GUARDED = sorted(case.name for case in HACK_CASES if case.kind in GUARDED_KINDS)
LEGITIMATE = {case.name: case for case in (*MUST_STAY_POSITIVE, *CALIBRATION)}


def paper_total(completion: str, normalisation: str) -> float:
    return score_total(completion, "paper", normalisation)


def test_hack_suite_covers_every_listed_exploit():
    assert set(CASES) == {
        "keyword_stuffing",
        "keyword_sentences",
        "minimal_keyword_list",
        "cite_every_number",
        "empty_think",
        "focus_copies_question",
        "repeated_sentence",
        "run_on_loop",
        "hundred_boxes",
        "reference_as_answer",
    }
    assert GUARDED == [
        "keyword_sentences",
        "keyword_stuffing",
        "minimal_keyword_list",
        "repeated_sentence",
        "run_on_loop",
    ]


@pytest.mark.parametrize("normalisation", READINGS)
@pytest.mark.parametrize("variant", ["completion", "with_correct_answer"])
@pytest.mark.parametrize("name", GUARDED)
def test_keyword_list_and_repetition_exploits_stay_below_the_bar_in_both_readings(
    name, variant, normalisation
):
    good = paper_total(GOOD_COMPLETION, normalisation)
    hack = paper_total(getattr(CASES[name], variant), normalisation)
    assert hack <= MAX_HACK_RATIO * good, f"{name}/{variant}: {hack:.2f} vs good {good:.2f}"


@pytest.mark.parametrize("name", GUARDED)
def test_guarded_exploits_earn_no_consistency(name):
    for text in (CASES[name].completion, CASES[name].with_correct_answer):
        r = score(text, "paper")
        assert r.consistency == 0.0
        assert r.tag_format == pytest.approx(0.75)  # <think> invalid: 3/4, no structure
        assert any("keyword list" in i or "repeats" in i for i in r.issues)


@pytest.mark.parametrize("name", sorted(CASES))
def test_paper_hack_scores_clearly_below_correct_answer(name):
    # the default reading: EVERY exploit that replaces the work stays below the bar
    good = paper_total(GOOD_COMPLETION, "components")
    hack = paper_total(CASES[name].completion, "components")
    assert hack <= MAX_HACK_RATIO * good, f"{name}: {hack:.2f} vs good {good:.2f}"


@pytest.mark.parametrize("normalisation", READINGS)
@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.with_correct_answer))
def test_paper_exploit_never_beats_the_clean_correct_answer(name, normalisation):
    good = paper_total(GOOD_COMPLETION, normalisation)
    assert paper_total(CASES[name].with_correct_answer, normalisation) < good


@pytest.mark.parametrize("name", sorted(c.name for c in MUST_STAY_POSITIVE))
def test_terse_and_enumerated_reasoning_stay_positive(name):
    r = score(LEGITIMATE[name].completion, "paper")
    assert r.consistency > 0.0
    assert r.tag_format == 2.0 and r.ref_citation == 2.0 and r.accuracy == 2.0
    assert not any("keyword list" in i or "repeats" in i for i in r.issues)


@pytest.mark.parametrize("normalisation", READINGS)
@pytest.mark.parametrize("name", sorted(c.name for c in MUST_STAY_POSITIVE))
def test_compact_reasoning_outranks_every_guarded_exploit(name, normalisation):
    legit = paper_total(LEGITIMATE[name].completion, normalisation)
    good = paper_total(GOOD_COMPLETION, normalisation)
    assert legit > MAX_HACK_RATIO * good
    for hack in GUARDED:
        assert legit > paper_total(CASES[hack].with_correct_answer, normalisation)


def test_the_two_eq7_readings_rank_a_correct_box_against_richer_reasoning_differently():
    # The measured argument for the default (docs/rewards.md): summing the base
    # components keeps a correct box with thin reasoning above a well-reasoned wrong
    # box; averaging them (R_base in [0, 2]) reverses that order.
    correct_thin = LEGITIMATE["correct_box_minimal_reasoning"].completion
    wrong_rich = LEGITIMATE["wrong_box_well_formed"].completion
    thin, rich = score(correct_thin, "paper"), score(wrong_rich, "paper")
    assert (thin.accuracy, rich.accuracy) == (2.0, 0.0)
    assert thin.consistency < rich.consistency
    assert paper_total(correct_thin, "components") > paper_total(wrong_rich, "components")
    assert paper_total(correct_thin, "base") < paper_total(wrong_rich, "base")


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


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_render_markdown_reports_each_rows_scores():
    lines = render_markdown().splitlines()
    rows = table_rows()
    assert len(lines) == 2 + len(rows)
    goods = [score_total(GOOD_COMPLETION, *setting) for setting in PROFILE_SETTINGS]
    for line, (label, text) in zip(lines[2:], rows, strict=True):
        cells = _cells(line)
        assert cells[0] == label
        for i, (setting, good) in enumerate(zip(PROFILE_SETTINGS, goods, strict=True)):
            total = score_total(text, *setting)
            assert cells[1 + 2 * i] == f"{total:.2f}"
            assert cells[2 + 2 * i] == f"{total / good:.2f}"
        assert cells[-1] == f"{score(text, 'paper').consistency:.2f}"


def test_docs_show_the_current_hacking_table():
    assert render_markdown() in DOCS.read_text(encoding="utf-8")
