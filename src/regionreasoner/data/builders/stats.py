"""Benchmark statistics in the layout of the paper's Table 6 (turns per round).

>>> from regionreasoner.data.schema import Dialogue, Target, Turn
>>> t0 = Turn(0, "the red circle", (Target((0, 0, 2, 2), category="circle"),))
>>> t1 = Turn(1, "the square left of {ref}", (Target((5, 0, 7, 2), category="square"),),
...           refers_to=0, relation="left_of")
>>> stats = compute_stats([Dialogue("d0", "a.png", (t0, t1))])
>>> stats.rounds, stats.relations
({1: 1, 2: 1}, {'left_of': 1})
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from regionreasoner.data.schema import Dialogue

NO_RELATION = "(none)"
"""Row label for turns without a relation in the relation table."""


@dataclass(frozen=True, slots=True)
class BenchmarkStats:
    """Counts over a RegionDial file.

    Attributes:
        dialogues: number of dialogues (one per image for the builders).
        turns: number of turns.
        rounds: 1-based round -> number of turns in that round (Table 6 rows).
        lengths: dialogue length -> number of dialogues.
        relations: relation name -> turns (turns with a reference only).
        categories: category of each turn's first target -> turns.
        referenced_turns: turns that cite an earlier turn.
        later_turns: turns after the first of their dialogue.
        targets: ground-truth objects over all turns.
        targets_with_mask: ground-truth objects that carry a mask.
    """

    dialogues: int
    turns: int
    rounds: dict[int, int]
    lengths: dict[int, int]
    relations: dict[str, int]
    categories: dict[str, int]
    referenced_turns: int
    later_turns: int
    targets: int
    targets_with_mask: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (integer keys become strings)."""
        return {
            "dialogues": self.dialogues,
            "turns": self.turns,
            "rounds": {str(k): v for k, v in self.rounds.items()},
            "lengths": {str(k): v for k, v in self.lengths.items()},
            "relations": dict(self.relations),
            "categories": dict(self.categories),
            "referenced_turns": self.referenced_turns,
            "later_turns": self.later_turns,
            "targets": self.targets,
            "targets_with_mask": self.targets_with_mask,
        }

    def to_markdown(self, *, max_categories: int | None = None) -> str:
        """Markdown tables: rounds (Table 6 style), lengths, relations and categories."""
        lines = [
            f"Dialogues: {self.dialogues}, turns: {self.turns}, later turns citing an earlier "
            f"turn: {self.referenced_turns}/{self.later_turns}, targets with a mask: "
            f"{self.targets_with_mask}/{self.targets}",
            "",
            "| Round | Turns |",
            "|---|---|",
        ]
        lines += [f"| {r} | {n:,} |" for r, n in self.rounds.items()]
        lines += [f"| Total | {self.turns:,} |", "", "| Dialogue length | Dialogues |", "|---|---|"]
        lines += [f"| {k} | {n:,} |" for k, n in self.lengths.items()]
        lines += ["", "| Relation | Turns |", "|---|---|"]
        lines += [f"| {k} | {n:,} |" for k, n in self.relations.items()]
        lines += ["", "| Category | Turns |", "|---|---|"]
        categories = list(self.categories.items())
        shown = categories if max_categories is None else categories[:max_categories]
        lines += [f"| {k} | {n:,} |" for k, n in shown]
        if len(shown) < len(categories):
            rest = sum(n for _, n in categories[len(shown) :])
            lines.append(f"| ({len(categories) - len(shown)} more) | {rest:,} |")
        return "\n".join(lines) + "\n"


def compute_stats(dialogues: Iterable[Dialogue]) -> BenchmarkStats:
    """Count rounds, lengths, relations and categories of ``dialogues``.

    Rounds come from the stored ``turn_index`` (round = ``turn_index + 1``).
    Relations count only turns that cite an earlier turn (a citing turn without a
    relation counts as :data:`NO_RELATION`). Relations and categories are sorted by
    count.
    """
    rounds: Counter[int] = Counter()
    lengths: Counter[int] = Counter()
    relations: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    n_dialogues = referenced = later = n_targets = with_mask = 0
    for dialogue in dialogues:
        n_dialogues += 1
        lengths[len(dialogue.turns)] += 1
        for turn in dialogue.turns:
            rounds[turn.turn_index + 1] += 1
            if turn.turn_index > 0:
                later += 1
            if turn.refers_to is not None:
                referenced += 1
                relations[turn.relation or NO_RELATION] += 1
            first = turn.targets[0]
            categories[first.category or "(unknown)"] += 1
            n_targets += len(turn.targets)
            with_mask += sum(t.mask is not None for t in turn.targets)
    return BenchmarkStats(
        dialogues=n_dialogues,
        turns=sum(rounds.values()),
        rounds=dict(sorted(rounds.items())),
        lengths=dict(sorted(lengths.items())),
        relations=dict(sorted(relations.items(), key=lambda kv: (-kv[1], kv[0]))),
        categories=dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        referenced_turns=referenced,
        later_turns=later,
        targets=n_targets,
        targets_with_mask=with_mask,
    )


__all__ = ["NO_RELATION", "BenchmarkStats", "compute_stats"]
