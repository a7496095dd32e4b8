"""Functional metrics: box hits (any / top-1), gIoU vs cIoU, pass rates; hand-computed."""

from __future__ import annotations

import pytest

from regionreasoner.evaluation.metrics import (
    IOU_HIT_THRESHOLD,
    PASS_THRESHOLDS,
    box_hit_any,
    box_hit_top1,
    cumulative_iou,
    fraction,
    mean_iou,
    pass_rate,
    pass_rates,
    turn_iou,
)

GT = [0.0, 0.0, 10.0, 20.0]  # area 200


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        ([[0, 0, 10, 10]], False),  # I = 100, U = 200: IoU exactly 0.5 is NOT a hit
        ([[0, 0, 10, 10.2]], True),  # I = 102, U = 200: 0.51
        ([[0, 0, 10, 9.8]], False),  # 0.49
        ([[0, 0, 10, 20]], True),  # identical
        ([], False),  # no prediction
        ([[30, 30, 40, 40]], False),  # disjoint
        ([[10, 20, 0, 0]], False),  # inverted box has area 0
        ([[0, 0, 10, 0]], False),  # zero-height box on the GT's edge: degenerate, IoU 0
        ([[0, 10, 0, 20]], False),  # zero-width
    ],
)
def test_box_hit_any_threshold_is_strict(pred, expected):
    assert box_hit_any(pred, GT) is expected


def test_box_hit_any_counts_any_prediction_but_top1_only_the_first():
    preds = [[30, 30, 40, 40], [0, 0, 10, 20]]  # miss first, hit second
    assert box_hit_any(preds, GT) is True
    assert box_hit_top1(preds, GT) is False
    assert box_hit_top1(preds[::-1], GT) is True


def test_box_hit_uses_only_the_first_gt_box():
    gts = [[100, 100, 110, 110], [0, 0, 10, 20]]
    assert box_hit_any([[0, 0, 10, 20]], gts) is False
    assert box_hit_any([[100, 100, 110, 110]], gts) is True


def test_box_hit_threshold_parameter():
    pred = [[0, 0, 10, 14]]  # IoU 0.7 with GT
    assert box_hit_any(pred, GT, threshold=0.69) is True
    assert box_hit_any(pred, GT, threshold=0.7) is False
    assert IOU_HIT_THRESHOLD == 0.5


def test_box_hit_without_gt_raises():
    with pytest.raises(ValueError, match="ground-truth"):
        box_hit_any([[0, 0, 1, 1]], [])


@pytest.mark.parametrize(
    ("inter", "union", "expected"), [(0, 0, 0.0), (5, 10, 0.5), (10, 10, 1.0), (0, 7, 0.0)]
)
def test_turn_iou_zero_union_is_zero(inter, union, expected):
    assert turn_iou(inter, union) == expected


@pytest.mark.parametrize(("inter", "union"), [(11, 10), (-1, 5), (0, -1)])
def test_turn_iou_rejects_impossible_counts(inter, union):
    with pytest.raises(ValueError):
        turn_iou(inter, union)


def test_giou_and_ciou_differ_on_a_crafted_example():
    # Turn A: a small object found perfectly (10/10); turn B: a big object missed (0/90).
    # gIoU averages per-turn IoUs: (1 + 0) / 2 = 0.5; cIoU pools pixels: 10 / 100 = 0.1.
    assert mean_iou([10, 0], [10, 90]) == pytest.approx(0.5)
    assert cumulative_iou([10, 0], [10, 90]) == pytest.approx(0.1)
    # Turn C: 1/2, turn D: 90/100 -> gIoU (0.5 + 0.9) / 2 = 0.7, cIoU 91 / 102.
    assert mean_iou([1, 90], [2, 100]) == pytest.approx(0.7)
    assert cumulative_iou([1, 90], [2, 100]) == pytest.approx(91 / 102)


def test_zero_union_turn_counts_zero_in_giou():
    assert mean_iou([4, 0], [4, 0]) == pytest.approx(0.5)
    assert cumulative_iou([0, 0], [0, 0]) == 0.0


@pytest.mark.parametrize("func", [mean_iou, cumulative_iou])
def test_aggregates_over_no_turns_are_none(func):
    assert func([], []) is None


def test_aggregates_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="equal lengths"):
        mean_iou([1], [1, 2])


def test_pass_rates_are_strict_on_mask_iou():
    # IoUs: 0.3, 0.31, 0.95, 0.5
    inters, unions = [3, 31, 95, 1], [10, 100, 100, 2]
    assert pass_rates(inters, unions) == {
        "pass@0.3": pytest.approx(3 / 4),
        "pass@0.5": pytest.approx(1 / 4),
        "pass@0.7": pytest.approx(1 / 4),
        "pass@0.9": pytest.approx(1 / 4),
    }
    assert pass_rate(inters, unions, 0.29) == 1.0
    assert pass_rates([], []) == {f"pass@{t:g}": None for t in PASS_THRESHOLDS}
    assert PASS_THRESHOLDS == (0.3, 0.5, 0.7, 0.9)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([True, False, None, True], 2 / 3), ([None, None], None), ([], None), ([False], 0.0)],
)
def test_fraction_ignores_not_applicable(flags, expected):
    assert fraction(flags) == (pytest.approx(expected) if expected is not None else None)
