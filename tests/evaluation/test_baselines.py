"""The random-object baseline: expected any-hit accuracy of picking one object at random."""

from __future__ import annotations

import pytest

from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.evaluation.baselines import image_objects_xyxy, random_object_accuracy


def _dialogue(objects: list[list[float]] | None, turn_targets: list[list[float]]) -> Dialogue:
    turns = tuple(
        Turn(
            turn_index=i,
            question="the thing" if i == 0 else "the thing near {ref}",
            targets=(Target(bbox=tuple(box)),),
            refers_to=None if i == 0 else 0,
        )
        for i, box in enumerate(turn_targets)
    )
    meta = {"objects": [{"bbox": b} for b in objects]} if objects is not None else {}
    return Dialogue("d", "img.png", turns, image_wh=(100, 100), meta=meta)


def test_random_object_accuracy_hand_computed_fraction_per_round():
    """Four objects, the GT box equals one of them -> 1/4 expected per turn."""
    objects = [[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 90, 90], [0, 60, 10, 70]]
    dialogue = _dialogue(objects, [[0, 0, 10, 10], [50, 50, 90, 90]])
    result = random_object_accuracy([dialogue])
    assert result["rounds"]["1"] == {"acc@0.5": 0.25, "turns": 1}
    assert result["rounds"]["2"] == {"acc@0.5": 0.25, "turns": 1}
    assert result["overall"] == {"acc@0.5": 0.25, "turns": 2}


def test_random_object_accuracy_counts_every_object_that_hits():
    """Two heavily overlapping objects both hit the GT (IoU 0.81 > 0.5) -> 2/3."""
    objects = [[0, 0, 10, 10], [0, 0, 10, 9], [50, 50, 60, 60]]
    result = random_object_accuracy([_dialogue(objects, [[0, 0, 10, 10]])])
    assert result["overall"]["acc@0.5"] == pytest.approx(2 / 3)


def test_random_object_accuracy_pools_rounds_over_dialogues():
    one = _dialogue([[0, 0, 10, 10], [20, 20, 30, 30]], [[0, 0, 10, 10], [20, 20, 30, 30]])
    two = _dialogue([[0, 0, 10, 10]], [[0, 0, 10, 10]])
    result = random_object_accuracy([one, two])
    assert result["rounds"]["1"]["acc@0.5"] == pytest.approx((0.5 + 1.0) / 2)
    assert result["rounds"]["2"] == {"acc@0.5": 0.5, "turns": 1}
    assert result["overall"]["acc@0.5"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)


def test_image_objects_falls_back_to_distinct_turn_targets():
    dialogue = _dialogue(None, [[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    assert image_objects_xyxy(dialogue).tolist() == [[0, 0, 10, 10], [20, 20, 30, 30]]
