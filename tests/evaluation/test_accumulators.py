"""Per-turn scoring of prediction rows and the per-round accumulators."""

from __future__ import annotations

import random

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from regionreasoner.data.schema import Target, Turn
from regionreasoner.errors import DataFormatError
from regionreasoner.evaluation.accumulators import (
    ROUND_METRIC_KEYS,
    MetricsAccumulator,
    RoundAccumulator,
    TurnScore,
    TurnTruth,
    round_of,
    score_row,
)


def rle(mask: np.ndarray) -> dict:
    """COCO RLE straight from pycocotools (independent of the code under test)."""
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode()}


def row(turn_index: int = 0, **fields) -> dict:
    base = {
        "dialogue_id": "d0",
        "turn_index": turn_index,
        "prompt": "find the cat",
        "text": "<answer>[]</answer>",
        "pred_bboxes": [[0, 0, 10, 10]],
        "pred_points": [[5, 5]],
        "reference_bbox": None,
        "reference_source": "none",
        "mask": None,
        "parse_issues": [],
        "latency_s": 0.1,
        "gt_bboxes": [[0, 0, 10, 10]],
        "gt_mask": None,
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(("turn_index", "expected"), [(0, 1), (1, 2), (6, 7), (11, 12)])
def test_round_of_is_one_based(turn_index, expected):
    assert round_of(turn_index) == expected


@pytest.mark.parametrize("bad", [-1, 1.0, True, None, "0"])
def test_round_of_rejects_non_indices(bad):
    with pytest.raises(ValueError, match="turn_index"):
        round_of(bad)


def test_score_row_hit_any_versus_top1():
    score = score_row(row(2, pred_bboxes=[[50, 50, 60, 60], [0, 0, 10, 10]]))
    assert (score.round, score.hit_any, score.hit_top1) == (3, True, False)
    assert score.failed is False and score.format_ok is True


def test_score_row_uses_stored_counts_over_masks():
    gt = np.zeros((4, 5), bool)
    gt[:2] = True
    score = score_row(row(gt_mask=rle(gt), mask=rle(gt), intersection=3, union=12))
    assert (score.intersection, score.union) == (3, 12)


def test_score_row_recomputes_counts_like_pycocotools():
    rng = np.random.default_rng(0)
    for _ in range(5):
        pred = rng.random((23, 31)) > 0.5
        gt = rng.random((23, 31)) > 0.4
        pred_rle, gt_rle = rle(pred), rle(gt)
        score = score_row(row(mask=pred_rle, gt_mask=gt_rle))
        assert score.intersection == int((pred & gt).sum())
        assert score.union == int((pred | gt).sum())
        coco = [{"size": r["size"], "counts": r["counts"].encode()} for r in (pred_rle, gt_rle)]
        expected_iou = float(mask_utils.iou([coco[0]], [coco[1]], [0])[0, 0])
        assert score.intersection / score.union == pytest.approx(expected_iou)


def test_score_row_missing_prediction_mask_counts_gt_area():
    gt = np.zeros((6, 6), bool)
    gt[1:4, 2:5] = True  # 9 pixels
    score = score_row(row(mask=None, gt_mask=rle(gt)))
    assert (score.intersection, score.union) == (0, 9)


def test_score_row_failed_turn_is_a_miss_with_gt_union():
    gt = np.zeros((6, 6), bool)
    gt[0:2, 0:3] = True  # 6 pixels
    score = score_row(row(failed=True, pred_bboxes=[[0, 0, 10, 10]], mask=rle(gt), gt_mask=rle(gt)))
    assert (score.hit_any, score.hit_top1, score.failed) == (False, False, True)
    assert (score.intersection, score.union) == (0, 6)
    assert score.format_ok is False


@pytest.mark.parametrize(
    ("fields", "segmentation"),
    [({"gt_mask": None}, True), ({"intersection": None, "union": None}, True), ({}, False)],
)
def test_score_row_without_masks_has_no_segmentation(fields, segmentation):
    gt = np.ones((3, 3), bool)
    base = {"gt_mask": rle(gt), "mask": rle(gt)}
    score = score_row(row(**{**base, **fields}), segmentation=segmentation)
    assert score.intersection is None and score.union is None
    assert not score.has_segmentation


def test_score_row_takes_gt_from_the_benchmark_when_the_row_lacks_it():
    gt = np.zeros((8, 8), bool)
    gt[:4, :4] = True
    turn = Turn(
        turn_index=0,
        question="q",
        targets=(Target(bbox=(0, 0, 4, 4), mask=rle(gt)), Target(bbox=(4, 4, 8, 8))),
    )
    truth = TurnTruth.from_turn(turn)
    bare = row(pred_bboxes=[[0, 0, 4, 4]], gt_bboxes=None, gt_mask=None, mask=rle(gt))
    score = score_row(bare, truth)
    assert score.hit_any is True
    assert (score.intersection, score.union) == (16, 16)
    # The row's own ground truth wins over the benchmark's.
    own = score_row(row(pred_bboxes=[[0, 0, 4, 4]], gt_bboxes=[[4, 4, 8, 8]]), truth)
    assert own.hit_any is False


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"parse_issues": []}, True),
        ({"parse_issues": ["missing <think>"]}, False),
        ({"parse_issues": ["x"], "format_ok": True}, True),
        ({"parse_issues": [], "format_ok": False}, False),
    ],
)
def test_score_row_format_ok(fields, expected):
    assert score_row(row(**fields)).format_ok is expected


def test_score_row_citation_fields_pass_through():
    score = score_row(row(cited_reference=True, hallucinated_citation=False))
    assert (score.cited, score.hallucinated) == (True, False)
    assert score_row(row()).cited is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"gt_bboxes": None}, "gt_bboxes"),
        ({"gt_bboxes": []}, "gt_bboxes"),
        ({"pred_bboxes": [[1, 2, 3]]}, "pred_bboxes"),
        ({"intersection": 5, "union": 4}, "intersection"),
        ({"intersection": 5}, "union"),
        ({"intersection": 1.5, "union": 4}, "intersection"),
        ({"cited_reference": "yes"}, "cited_reference"),
        ({"turn_index": -1}, "turn_index"),
        (
            {"gt_mask": {"size": [2, 2], "counts": "0"}, "mask": {"size": [3, 3], "counts": "0"}},
            "mask",
        ),
    ],
)
def test_score_row_bad_rows_raise_naming_the_field(fields, field):
    with pytest.raises(DataFormatError) as info:
        score_row(row(**fields))
    assert info.value.field == field
    assert info.value.record == f"dialogue d0 turn {fields.get('turn_index', 0)}"


def _score(round_: int, hit: bool, inter: int | None, union: int | None, **kw) -> TurnScore:
    defaults = dict(hit_top1=hit, format_ok=True, cited=None, hallucinated=None, failed=False)
    defaults.update(kw)
    return TurnScore(round=round_, hit_any=hit, intersection=inter, union=union, **defaults)


def test_round_accumulator_hand_computed():
    acc = RoundAccumulator()
    assert acc.update(_score(1, True, 10, 10, cited=True, hallucinated=False)) is acc
    acc.update(_score(1, False, 0, 90, hit_top1=False, format_ok=False, failed=True))
    acc.update(_score(1, True, 1, 2, hit_top1=False, cited=False, hallucinated=True))
    out = acc.compute()
    assert set(out) == set(ROUND_METRIC_KEYS)
    assert out["acc@0.5"] == pytest.approx(2 / 3)
    assert out["acc@0.5_top1"] == pytest.approx(1 / 3)
    assert out["gIoU"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert out["cIoU"] == pytest.approx(11 / 102)
    assert out["pass@0.3"] == pytest.approx(2 / 3)
    assert out["pass@0.5"] == pytest.approx(1 / 3)  # 0.5 is not > 0.5
    assert out["format_ok"] == pytest.approx(2 / 3)
    assert out["citation_rate"] == pytest.approx(1 / 2)
    assert out["hallucinated_citation_rate"] == pytest.approx(1 / 2)
    assert (out["turns"], out["segmentation_turns"], out["reference_turns"]) == (3, 3, 2)
    assert out["failed_turns"] == 1
    acc.reset()
    assert acc.compute()["turns"] == 0 and acc.compute()["acc@0.5"] is None


def test_text_metrics_are_null_when_any_turn_lost_text():
    lost = score_row(row(text_lost="before_reasoning", format_ok=False, cited_reference=False))
    whole = score_row(row(1, format_ok=True, cited_reference=True, hallucinated_citation=False))
    assert lost.text_lost and not whole.text_lost
    metrics = MetricsAccumulator().update_all([lost, whole]).compute()
    overall, first, second = metrics["overall"], metrics["rounds"]["1"], metrics["rounds"]["2"]
    for entry in (overall, first):
        assert entry["format_ok"] is None and entry["citation_rate"] is None
        assert entry["hallucinated_citation_rate"] is None
    assert overall["acc@0.5"] == 1.0 and overall["text_lost_turns"] == 1
    # a round whose turns all arrived whole keeps its rates
    assert (second["format_ok"], second["citation_rate"], second["text_lost_turns"]) == (1, 1, 0)


def test_score_row_rejects_a_non_string_text_lost():
    with pytest.raises(DataFormatError) as info:
        score_row(row(text_lost=True))
    assert info.value.field == "text_lost"


def test_round_accumulator_detection_only_gives_null_segmentation():
    acc = (
        RoundAccumulator().update(_score(1, True, None, None)).update(_score(1, False, None, None))
    )
    out = acc.compute()
    assert out["acc@0.5"] == 0.5
    assert out["gIoU"] is None and out["cIoU"] is None and out["pass@0.5"] is None
    assert out["segmentation_turns"] == 0


def test_metrics_accumulator_rounds_come_from_turn_index_not_order():
    rows = [
        row(0, dialogue_id="a", pred_bboxes=[[0, 0, 10, 10]], intersection=5, union=10),
        row(1, dialogue_id="a", pred_bboxes=[], intersection=0, union=10),
        row(0, dialogue_id="b", pred_bboxes=[], intersection=0, union=20),
        row(2, dialogue_id="a", pred_bboxes=[[0, 0, 10, 10]], intersection=9, union=10),
        row(1, dialogue_id="b", pred_bboxes=[[0, 0, 10, 10]], intersection=4, union=4),
    ]
    expected = {
        "1": {"turns": 2, "acc@0.5": 0.5, "gIoU": 0.25, "cIoU": 5 / 30},
        "2": {"turns": 2, "acc@0.5": 0.5, "gIoU": 0.5, "cIoU": 4 / 14},
        "3": {"turns": 1, "acc@0.5": 1.0, "gIoU": 0.9, "cIoU": 0.9},
    }
    for seed in range(3):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        metrics = MetricsAccumulator().update_all([score_row(r) for r in shuffled]).compute()
        assert list(metrics["rounds"]) == ["1", "2", "3"]
        for key, values in expected.items():
            for name, value in values.items():
                assert metrics["rounds"][key][name] == pytest.approx(value), (seed, key, name)
        assert metrics["overall"]["turns"] == 5
        assert metrics["overall"]["acc@0.5"] == pytest.approx(3 / 5)
        assert metrics["overall"]["cIoU"] == pytest.approx(18 / 54)


def test_metrics_accumulator_rounds_sort_numerically():
    acc = MetricsAccumulator()
    for r in (10, 2, 1):
        acc.update(_score(r, True, None, None))
    assert list(acc.compute()["rounds"]) == ["1", "2", "10"]
    acc.reset()
    assert acc.compute() == {"overall": RoundAccumulator().compute(), "rounds": {}}
