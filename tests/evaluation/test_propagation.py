"""Error propagation: the round-r split by the given reference, checked against a
hand computation on a real ``eval`` run of the noisy oracle, and on crafted rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regionreasoner.cli.main import main
from regionreasoner.data.io import read_dialogues
from regionreasoner.evaluation.accumulators import score_row
from regionreasoner.evaluation.propagation import (
    ERRORS_WITH_WRONG_REFERENCE,
    GIVEN_HIT,
    GIVEN_MISS,
    attach_reference_split,
    reference_split,
)
from regionreasoner.evaluation.scoring import score_run

# Model-frame jitter (840 px frame, 160x120 images) that makes about a third of the
# oracle's answers miss: both groups of round 2 and 3 get turns, and errors.
NOISY_ORACLE = "oracle:noise=40,seed=3"


def _iou(a: list[float], b: list[float]) -> float:
    """Box IoU written out here (continuous area), independent of the package."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _by_hand(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The split computed from the rows alone: a turn's given reference is a hit when the
    FIRST box its cited turn predicted has IoU > 0.5 with that turn's first GT box."""
    by_turn = {(r["dialogue_id"], r["turn_index"]): r for r in rows}
    groups: dict[int, dict[str, list[tuple[bool, float | None]]]] = {}
    errors: dict[int, list[bool]] = {}
    for row in rows:
        round_number = row["turn_index"] + 1
        if round_number < 2:
            continue
        split = groups.setdefault(round_number, {GIVEN_HIT: [], GIVEN_MISS: []})
        errors.setdefault(round_number, [])
        if row["refers_to"] is None:
            continue
        cited = by_turn[(row["dialogue_id"], row["refers_to"])]
        given_hit = bool(cited["pred_bboxes"]) and (
            _iou(cited["pred_bboxes"][0], cited["gt_bboxes"][0]) > 0.5
        )
        hit = any(_iou(p, row["gt_bboxes"][0]) > 0.5 for p in row["pred_bboxes"])
        iou = row["intersection"] / row["union"] if row["union"] else 0.0
        split[GIVEN_HIT if given_hit else GIVEN_MISS].append((hit, iou))
        if not hit:
            errors[round_number].append(not given_hit)
    out = {}
    for r, split in groups.items():
        out[str(r)] = {
            name: {
                "acc@0.5": sum(h for h, _ in turns) / len(turns) if turns else None,
                "gIoU": sum(i for _, i in turns) / len(turns) if turns else None,
                "turns": len(turns),
            }
            for name, turns in split.items()
        }
        out[str(r)][ERRORS_WITH_WRONG_REFERENCE] = (
            sum(errors[r]) / len(errors[r]) if errors[r] else None
        )
    return out


def _eval(bench: Path, out: Path, reference: str) -> Path:
    argv = ["eval", "--data", str(bench), "--model", NOISY_ORACLE, "--segmenter", "box-fill"]
    assert main([*argv, "--reference", reference, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def noisy_runs(synth_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("noisy_oracle")
    return {
        policy: score_run([_eval(synth_bench, root / policy, policy)])
        for policy in ("predicted", "oracle")
    }


@pytest.mark.integration
def test_split_of_a_noisy_oracle_run_equals_the_hand_computation(noisy_runs) -> None:
    run = noisy_runs["predicted"]
    rows = list(run.rows)
    split = reference_split(rows, run.scores)
    expected = _by_hand(rows)
    assert split.keys() == expected.keys()
    for r, entry in expected.items():
        for name in (GIVEN_HIT, GIVEN_MISS):
            assert split[r][name]["turns"] == entry[name]["turns"], (r, name)
            for metric in ("acc@0.5", "gIoU"):
                assert split[r][name][metric] == pytest.approx(entry[name][metric]), (r, name)
        assert split[r][ERRORS_WITH_WRONG_REFERENCE] == pytest.approx(
            entry[ERRORS_WITH_WRONG_REFERENCE]
        )
    # the run has the structure the test needs: both groups and errors in each of them
    assert split["2"][GIVEN_HIT]["turns"] and split["2"][GIVEN_MISS]["turns"]
    assert any(0 < (e[ERRORS_WITH_WRONG_REFERENCE] or 0) < 1 for e in split.values())
    cited = sum(1 for row in rows if row["turn_index"] > 0 and row["refers_to"] is not None)
    assert sum(e[GIVEN_HIT]["turns"] + e[GIVEN_MISS]["turns"] for e in split.values()) == cited


def _assert_split_equals(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for name in (GIVEN_HIT, GIVEN_MISS):
        assert actual[name]["turns"] == expected[name]["turns"], name
        for metric in ("acc@0.5", "gIoU"):
            assert actual[name][metric] == pytest.approx(expected[name][metric]), name
    assert actual[ERRORS_WITH_WRONG_REFERENCE] == pytest.approx(
        expected[ERRORS_WITH_WRONG_REFERENCE]
    )


@pytest.mark.integration
def test_metrics_json_of_eval_and_of_score_carries_the_hand_computed_split(
    noisy_runs, capsys
) -> None:
    """The split as ``eval`` writes it into metrics.json, and as ``score`` rewrites it."""
    run = noisy_runs["predicted"]
    run_dir = run.run_dirs[0]
    expected = _by_hand(list(run.rows))
    written = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    (run_dir / "metrics.json").unlink()
    assert main(["score", str(run_dir)]) == 0
    capsys.readouterr()
    rescored = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    for metrics in (written, rescored):
        assert GIVEN_HIT not in metrics["rounds"]["1"]
        assert {r for r in metrics["rounds"] if GIVEN_HIT in metrics["rounds"][r]} == set(expected)
        for r, entry in expected.items():
            _assert_split_equals(metrics["rounds"][r], entry)
    assert written["rounds"] == rescored["rounds"]
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    turns = expected["2"][GIVEN_MISS]["turns"]
    assert f"| reference wrong: turns | {turns} |" in report


@pytest.mark.integration
def test_oracle_reference_run_splits_by_the_models_own_earlier_answers(noisy_runs) -> None:
    """Under --reference oracle the model saw the GT reference, but the split still
    says whether its own answer to the cited turn was a hit. The oracle backend's
    answers do not depend on the reference, so both runs give the same split."""
    predicted, oracle = noisy_runs["predicted"], noisy_runs["oracle"]
    assert {r["reference_source"] for r in oracle.rows if r["refers_to"] is not None} == {
        "ground_truth"
    }
    assert reference_split(oracle.rows, oracle.scores) == reference_split(
        predicted.rows, predicted.scores
    )


def _row(
    turn: int,
    pred: list[list[float]],
    refers_to: int | None = None,
    dialogue: str = "d",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "dialogue_id": dialogue,
        "turn_index": turn,
        "refers_to": refers_to,
        "pred_bboxes": pred,
        "gt_bboxes": [[0, 0, 10, 10]],
        **extra,
    }


HIT = [[0, 0, 10, 10]]
MISS = [[50, 50, 60, 60]]


def _split(rows: list[dict[str, Any]], dialogues=None) -> dict[str, Any]:
    return reference_split(rows, [score_row(r) for r in rows], dialogues)


def test_only_the_first_box_of_the_cited_turn_counts_as_the_given_reference() -> None:
    rows = [
        _row(0, MISS + HIT),  # acc@0.5 hit, but the box passed on (the first) misses
        _row(1, HIT, refers_to=0),
        _row(0, HIT + MISS, dialogue="e"),
        _row(1, MISS, refers_to=0, dialogue="e"),
    ]
    split = _split(rows)["2"]
    assert split[GIVEN_MISS] == {"acc@0.5": 1.0, "gIoU": None, "turns": 1}
    assert split[GIVEN_HIT] == {"acc@0.5": 0.0, "gIoU": None, "turns": 1}
    assert split[ERRORS_WITH_WRONG_REFERENCE] == 0.0  # the one error had a right reference


def test_nothing_predicted_or_failed_counts_as_a_miss_and_uncited_turns_are_left_out() -> None:
    rows = [
        _row(0, []),
        _row(1, MISS, refers_to=0),
        _row(2, HIT, refers_to=None),  # cites nothing: in neither group
        _row(0, HIT, dialogue="f", failed=True),
        _row(1, MISS, refers_to=0, dialogue="f"),
    ]
    split = _split(rows)
    assert split["2"][GIVEN_MISS]["turns"] == 2 and split["2"][GIVEN_HIT]["turns"] == 0
    assert split["2"][ERRORS_WITH_WRONG_REFERENCE] == 1.0
    assert split["3"][GIVEN_HIT]["turns"] == split["3"][GIVEN_MISS]["turns"] == 0
    assert split["3"][ERRORS_WITH_WRONG_REFERENCE] is None


def test_refers_to_comes_from_the_data_for_old_rows_and_unknown_gives_no_split(
    synth_bench: Path,
) -> None:
    dialogues = {d.dialogue_id: d for d in read_dialogues(synth_bench)}
    dialogue = next(d for d in dialogues.values() if d.turns[1].refers_to is not None)
    old = [_row(t.turn_index, HIT, dialogue=dialogue.dialogue_id) for t in dialogue.turns]
    for row in old:
        del row["refers_to"]
    split = _split(old, dialogues)
    assert split["2"][GIVEN_HIT]["turns"] == 1
    assert _split(old) == {}


def test_a_cited_turn_without_a_row_is_left_out_with_a_warning(caplog) -> None:
    rows = [_row(1, HIT, refers_to=0)]
    assert _split(rows)["2"][GIVEN_HIT]["turns"] == 0
    assert "no scored row" in caplog.text


def test_attach_reference_split_adds_keys_to_rounds_two_and_later() -> None:
    rows = [_row(0, HIT), _row(1, HIT, refers_to=0)]
    split = _split(rows)
    metrics = {"overall": {}, "rounds": {"1": {"acc@0.5": 1.0}, "2": {"acc@0.5": 1.0}}}
    out = attach_reference_split(metrics, split)
    assert GIVEN_HIT not in out["rounds"]["1"]
    assert out["rounds"]["2"][GIVEN_HIT]["turns"] == 1
    assert out["rounds"]["2"]["acc@0.5"] == 1.0 and GIVEN_HIT not in metrics["rounds"]["2"]


def test_rows_and_scores_must_align() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        reference_split([_row(0, HIT)], [])
