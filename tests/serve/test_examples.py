"""Example images and matching typed questions to their ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.serve.examples import Example, ExampleSet, build_examples, normalize_question


@pytest.mark.parametrize(
    ("question", "normalized"),
    [
        ("The Red  Circle.", "the red circle"),
        ("  the circle closest to {ref}? ", "the circle closest to {ref}"),
        ('"the cup"', "the cup"),
        ("the\tcup\nleft", "the cup left"),
    ],
)
def test_normalize_question(question: str, normalized: str) -> None:
    assert normalize_question(question) == normalized


def _example() -> Example:
    box = lambda x: (Target((x, 0.0, x + 10.0, 10.0)),)  # noqa: E731
    turns = (
        Turn(0, "the red square", box(0)),
        Turn(1, "the blue circle", box(50)),
        Turn(2, "the shape left of {ref}", box(20), refers_to=0),
        Turn(3, "the shape left of {ref}", box(40), refers_to=1),
    )
    return Example(Dialogue("e", "images/e.png", turns), Path("images/e.png"))


@pytest.mark.parametrize(
    ("question", "reference", "turn_index"),
    [
        ("The red square!", None, 0),
        ("the shape left of {ref}", (49, 0, 61, 10), 3),  # cites the blue circle's box
        ("the shape left of {ref}", (1, 1, 9, 9), 2),  # cites the red square's box
        ("the shape left of {ref}", None, 2),  # no box: the first match
        ("the green star", None, None),
    ],
)
def test_questions_match_the_example_turn_they_ask(
    question: str, reference: tuple[float, ...] | None, turn_index: int | None
) -> None:
    turn = _example().match(question, reference)
    assert (turn.turn_index if turn else None) == turn_index


def test_hints_name_the_cited_question() -> None:
    assert _example().question_hints()[2] == "the shape left of (region of question 1)"


def test_build_examples(tmp_path: Path) -> None:
    examples = build_examples(tmp_path, 2)
    assert [e.example_id for e in examples.examples] == ["synth-000000", "synth-000001"]
    assert all(e.image_path.is_file() for e in examples.examples)
    assert examples.get("synth-000001") is examples.examples[1]
    assert examples.get("nope") is None
    first = examples.examples[0].dialogue
    assert examples.examples[0].choice_label() == (
        f"synth-000000: {first.turns[0].question} ({len(first.turns)} questions)"
    )
    assert len(build_examples(tmp_path / "none", 0)) == 0
    with pytest.raises(ValueError, match="n_examples"):
        build_examples(tmp_path / "bad", -1)
    assert isinstance(examples, ExampleSet) and len(examples) == 2
