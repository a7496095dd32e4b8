"""Error propagation: how a later round's accuracy depends on the reference it was given.

A turn of round r >= 2 usually cites an earlier turn (``refers_to``). Its **given
reference** is the referenced turn's answer: the FIRST box that turn predicted, which is
the box the ``predicted`` reference policy substitutes into the question. The given
reference is a **hit** when that box has IoU > 0.5 with the referenced turn's first
ground-truth box, i.e. when the referenced turn scores ``acc@0.5_top1``; it is a **miss**
otherwise, including when the referenced turn predicted nothing or failed (there was no
answer to give). The top-1 test, not the any-box ``acc@0.5``, is used because only the
first box is passed on: a turn whose second box hits but whose first misses handed on
a wrong reference. With one predicted box per turn (the usual case) the two agree.

For each round r >= 2, :func:`reference_split` reports:

- ``given_reference_hit``: ``acc@0.5``, ``gIoU`` and ``turns`` of the round-r turns whose
  given reference was a hit;
- ``given_reference_miss``: the same for the turns whose given reference was a miss;
- ``errors_with_wrong_reference``: of the round-r errors (``acc@0.5`` misses) among the
  turns that cite an earlier turn, the fraction whose given reference was a miss
  (``None`` when there is no such error).

Turns that cite no earlier turn are in neither group. Under ``--reference oracle`` the
model was shown the ground-truth reference, yet the split still describes the model's
OWN answer to the referenced turn: it then measures how a turn fares when the model
could not have found the reference itself, without the wrong box being passed on (the
contrast with the ``predicted`` run is the propagated part). The same holds for the
``official`` protocol's ground-truth fallback: a turn whose referenced turn predicted
nothing received the ground truth, and still counts under ``given_reference_miss``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regionreasoner.data.schema import Dialogue
from regionreasoner.evaluation.accumulators import RoundAccumulator, TurnScore

logger = logging.getLogger(__name__)

GIVEN_HIT = "given_reference_hit"
"""``metrics.json`` round key: the turns whose given reference was a hit."""

GIVEN_MISS = "given_reference_miss"
"""``metrics.json`` round key: the turns whose given reference was a miss."""

ERRORS_WITH_WRONG_REFERENCE = "errors_with_wrong_reference"
"""``metrics.json`` round key: the fraction of errors whose given reference was a miss."""

SPLIT_METRIC_KEYS = ("acc@0.5", "gIoU", "turns")
"""Keys of each of the two groups."""

FIRST_PROPAGATED_ROUND = 2
"""The first round whose questions can cite an earlier answer."""


def first_box_hit(score: TurnScore) -> bool:
    """The given-reference test: the referenced turn's FIRST predicted box hits."""
    return score.hit_top1


def _refers_to(
    row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None
) -> tuple[bool, int | None]:
    """``(known, refers_to)`` of a row: from the row, else from the data file's turn."""
    if "refers_to" in row:
        value = row["refers_to"]
        return True, None if value is None else int(value)
    dialogue = (dialogues or {}).get(str(row["dialogue_id"]))
    if dialogue is None or row["turn_index"] >= len(dialogue.turns):
        return False, None
    return True, dialogue.turns[row["turn_index"]].refers_to


def _group(accumulator: RoundAccumulator) -> dict[str, Any]:
    computed = accumulator.compute()
    return {key: computed[key] for key in SPLIT_METRIC_KEYS}


def reference_split(
    rows: Sequence[Mapping[str, Any]],
    scores: Sequence[TurnScore],
    dialogues: Mapping[str, Dialogue] | None = None,
    *,
    reference_hit: Callable[[TurnScore], bool] = first_box_hit,
) -> dict[str, dict[str, Any]]:
    """Per round r >= 2, the turns split by whether their given reference was a hit.

    Args:
        rows: ``predictions.jsonl`` rows (``dialogue_id``, ``turn_index`` and
            ``refers_to``; rows without ``refers_to`` take it from ``dialogues``).
        scores: the rows' scores, in the same order (see
            :func:`~regionreasoner.evaluation.accumulators.score_row`).
        dialogues: the benchmark's dialogues by id, for rows without ``refers_to``.
        reference_hit: whether a referenced turn's answer counts as a hit
            (default :func:`first_box_hit`).

    Returns:
        ``{"2": {"given_reference_hit": {"acc@0.5", "gIoU", "turns"},
        "given_reference_miss": {...}, "errors_with_wrong_reference": float | None},
        ...}`` for every round >= 2 of the rows, ascending; ``{}`` when the cited turn
        of some row is unknown (old rows scored without the data file). A turn whose
        referenced turn has no row is left out of both groups (with a warning).

    Raises:
        ValueError: ``rows`` and ``scores`` differ in length.
    """
    if len(rows) != len(scores):
        raise ValueError(f"{len(rows)} rows but {len(scores)} scores; expected equal lengths")
    by_turn = {
        (str(row["dialogue_id"]), int(row["turn_index"])): score
        for row, score in zip(rows, scores, strict=True)
    }
    groups: dict[int, dict[bool, RoundAccumulator]] = {}
    errors: dict[int, list[bool]] = {}
    unmatched = 0
    for row, score in zip(rows, scores, strict=True):
        if score.round < FIRST_PROPAGATED_ROUND:
            continue
        known, refers_to = _refers_to(row, dialogues)
        if not known:
            return {}
        split = groups.setdefault(
            score.round, {True: RoundAccumulator(), False: RoundAccumulator()}
        )
        round_errors = errors.setdefault(score.round, [])
        if refers_to is None:
            continue
        referenced = by_turn.get((str(row["dialogue_id"]), refers_to))
        if referenced is None:
            unmatched += 1
            continue
        given_hit = reference_hit(referenced)
        split[given_hit].update(score)
        if not score.hit_any:
            round_errors.append(not given_hit)
    if unmatched:
        logger.warning(
            "%d turn(s) cite a turn that has no scored row; left out of the reference split",
            unmatched,
        )
    return {
        str(r): {
            GIVEN_HIT: _group(groups[r][True]),
            GIVEN_MISS: _group(groups[r][False]),
            ERRORS_WITH_WRONG_REFERENCE: (sum(errors[r]) / len(errors[r]) if errors[r] else None),
        }
        for r in sorted(groups)
    }


def attach_reference_split(
    metrics: Mapping[str, Any], split: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """A copy of a ``metrics.json`` dict whose rounds >= 2 carry the split's keys."""
    out = dict(metrics)
    out["rounds"] = {
        name: {**entry, **split.get(name, {})} for name, entry in metrics["rounds"].items()
    }
    return out


__all__ = [
    "ERRORS_WITH_WRONG_REFERENCE",
    "GIVEN_HIT",
    "GIVEN_MISS",
    "SPLIT_METRIC_KEYS",
    "attach_reference_split",
    "first_box_hit",
    "reference_split",
]
