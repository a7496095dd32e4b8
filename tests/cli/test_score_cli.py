"""``regionreasoner score``: exit codes, stdout table, shard merging, --out and --data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regionreasoner.cli.main import main

CONFIG = {
    "protocol": "official",
    "reference_policy": "predicted",
    "model": "hf:tiny",
    "prompt": "regionreasoner",
    "segmenter": "none",
    "data": None,
}


def row(dialogue_id: str, turn_index: int, pred: list, gt: list, **fields) -> dict:
    out = {
        "dialogue_id": dialogue_id,
        "turn_index": turn_index,
        "prompt": "q",
        "text": "",
        "pred_bboxes": pred,
        "pred_points": [],
        "reference_bbox": None,
        "reference_source": "none",
        "mask": None,
        "parse_issues": [],
        "latency_s": 0.0,
        "gt_bboxes": [gt],
        "gt_mask": None,
        "intersection": None,
        "union": None,
    }
    out.update(fields)
    return out


# d1: R1 hit, R2 miss; d2: R1 miss  -> R1 50.0, R2 0.0, Avg 33.3
ROWS = [
    row("d1", 0, [[0, 0, 10, 10]], [0, 0, 10, 10]),
    row("d1", 1, [[0, 0, 10, 10]], [50, 50, 60, 60]),
    row("d2", 0, [], [0, 0, 10, 10]),
]


def write_run(path: Path, rows: list[dict], config: dict = CONFIG) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config))
    (path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_prints_the_round_table_and_writes_in_place(tmp_path, capsys):
    run = write_run(tmp_path / "run", ROWS)
    assert main(["score", str(run), "--gallery", "0"]) == 0
    out = capsys.readouterr().out
    assert "| metric (%) | R1 | R2 | Avg |" in out
    # intervals: a draw of two dialogues is d1 d1 (R1 1, all 2/4), d1 d2 (1/2, 1/3) or
    # d2 d2 (0, 0); R2 has d1's miss alone
    assert "| acc@0.5 (any hit) | 50.0 [0.0, 100.0] | 0.0 [0.0, 0.0] | 33.3 [0.0, 50.0] |" in out
    assert "| acc@0.5 (top-1) | 50.0 | 0.0 | 33.3 |" in out
    assert "| gIoU | n/a | n/a | n/a |" in out  # detection-only run
    assert f"to {run}" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["overall"]["acc@0.5"] == pytest.approx(1 / 3)
    assert metrics["overall"]["gIoU"] is None
    assert metrics["protocol"] == "official" and metrics["backend"] == "hf"
    for name in ("report.md", "rounds.png", "report.html", "card.json"):
        assert (run / name).is_file()


def test_score_merges_shards_into_out(tmp_path, capsys):
    s0 = write_run(tmp_path / "s0", ROWS[:2], {**CONFIG, "shard": "0/2"})
    s1 = write_run(tmp_path / "s1", ROWS[2:], {**CONFIG, "shard": "1/2"})
    out_dir = tmp_path / "merged"
    assert main(["score", str(s0), str(s1), "--out", str(out_dir)]) == 0
    merged = json.loads((out_dir / "metrics.json").read_text())
    assert merged["overall"]["turns"] == 3
    assert merged["rounds"]["1"]["acc@0.5"] == pytest.approx(0.5)
    assert not (s0 / "metrics.json").exists()


def test_score_without_predictions_exits_2_naming_the_directory(tmp_path, capsys):
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    assert main(["score", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "regionreasoner score: error:" in err
    assert str(empty) in err and "predictions.jsonl" in err


def test_score_with_rows_lacking_gt_needs_data(tmp_path, capsys):
    bare = [{k: v for k, v in r.items() if k != "gt_bboxes"} for r in ROWS]
    run = write_run(tmp_path / "run", bare)
    assert main(["score", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "gt_bboxes" in err and "dialogue d1 turn 0" in err

    bench = tmp_path / "bench.jsonl"
    dialogues = [
        {
            "dialogue_id": "d1",
            "image": "d1.png",
            "source": "synth",
            "turns": [
                {"turn_index": 0, "question": "a", "targets": [{"bbox": [0, 0, 10, 10]}]},
                {"turn_index": 1, "question": "b", "targets": [{"bbox": [50, 50, 60, 60]}]},
            ],
        },
        {
            "dialogue_id": "d2",
            "image": "d2.png",
            "source": "synth",
            "turns": [{"turn_index": 0, "question": "c", "targets": [{"bbox": [0, 0, 10, 10]}]}],
        },
    ]
    bench.write_text("".join(json.dumps({"schema_version": 1, **d}) + "\n" for d in dialogues))
    assert main(["score", str(run), "--data", str(bench)]) == 0
    assert json.loads((run / "metrics.json").read_text())["overall"]["acc@0.5"] == pytest.approx(
        1 / 3
    )


def test_score_missing_data_file_exits_2(tmp_path, capsys):
    run = write_run(tmp_path / "run", ROWS)
    assert main(["score", str(run), "--data", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_score_help_explains_itself(capsys):
    with pytest.raises(SystemExit) as info:
        main(["score", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "RUN_DIR" in text and "--data" in text and "regionreasoner score runs/" in text
