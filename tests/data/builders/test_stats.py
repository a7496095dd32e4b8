"""Benchmark statistics: Table-6 rounds, lengths, relations, categories and the markdown."""

from __future__ import annotations

from regionreasoner.data.builders.stats import NO_RELATION, compute_stats
from regionreasoner.data.schema import Dialogue, Target, Turn

BOX = (0.0, 0.0, 4.0, 4.0)
RLE = {"size": [8, 8], "counts": "0"}


def turn(
    i: int,
    category: str,
    refers_to: int | None = None,
    relation: str | None = None,
    mask: bool = True,
) -> Turn:
    question = "the x near {ref}" if refers_to is not None else "the x"
    return Turn(
        i,
        question,
        (Target(BOX, mask=RLE if mask else None, category=category),),
        refers_to=refers_to,
        relation=relation,
    )


def dialogues() -> list[Dialogue]:
    d1 = Dialogue(
        "a",
        "a.png",
        (turn(0, "dog"), turn(1, "cat", 0, "left_of"), turn(2, "dog", 0, "above", mask=False)),
    )
    d2 = Dialogue("b", "b.png", (turn(0, "dog"), turn(1, "dog")))
    d3 = Dialogue(
        "c", "c.png", (turn(0, "cup"), turn(1, "cup", 0, "left_of"), turn(2, "cup", 1, None))
    )
    return [d1, d2, d3]


def test_compute_stats_counts_rounds_lengths_relations_and_categories():
    stats = compute_stats(dialogues())
    assert (stats.dialogues, stats.turns) == (3, 8)
    assert stats.rounds == {1: 3, 2: 3, 3: 2}
    assert stats.lengths == {2: 1, 3: 2}
    assert stats.relations == {"left_of": 2, NO_RELATION: 1, "above": 1}
    assert list(stats.categories.items()) == [("dog", 4), ("cup", 3), ("cat", 1)]
    assert (stats.referenced_turns, stats.later_turns) == (4, 5)
    assert (stats.targets, stats.targets_with_mask) == (8, 7)


def test_benchmark_stats_markdown_and_dict():
    stats = compute_stats(dialogues())
    text = stats.to_markdown(max_categories=2)
    assert "| Round | Turns |" in text and "| 1 | 3 |" in text and "| Total | 8 |" in text
    assert "| 3 | 2 |" in text  # dialogue length 3: two dialogues
    assert "| left_of | 2 |" in text
    assert "| (1 more) | 1 |" in text
    as_dict = stats.to_dict()
    assert as_dict["rounds"] == {"1": 3, "2": 3, "3": 2}
    assert as_dict["relations"]["above"] == 1


def test_compute_stats_empty_input():
    stats = compute_stats([])
    assert stats.turns == 0 and stats.rounds == {} and "| Total | 0 |" in stats.to_markdown()
