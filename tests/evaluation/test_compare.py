"""Seed-spread tables over eval run directories (evaluation.compare)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from regionreasoner.cli.main import main as cli_main
from regionreasoner.evaluation import compare
from regionreasoner.evaluation.run_dir import read_metrics


def _run(tmp_path: Path, name: str, rounds: dict[str, tuple[float, float | None, int]]) -> Path:
    run = tmp_path / name
    run.mkdir(parents=True)
    metrics = {
        "rounds": {
            r: {"acc@0.5": acc, "gIoU": giou, "turns": turns}
            for r, (acc, giou, turns) in rounds.items()
        }
    }
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return run


def test_spread_is_mean_and_sample_std() -> None:
    s = compare.spread([0.2, 0.4, 0.9])
    assert s.mean == pytest.approx(0.5)
    # sample variance: ((-.3)^2 + (-.1)^2 + .4^2) / 2 = 0.13
    assert s.std == pytest.approx(math.sqrt(0.13))
    assert s.n == 3
    assert compare.spread([0.25]).std is None
    assert compare.spread([0.25]).format() == "25.0"
    with pytest.raises(ValueError):
        compare.spread([])


def test_later_rounds_are_turn_weighted(tmp_path: Path) -> None:
    run = _run(tmp_path, "a", {"1": (1.0, 0.5, 10), "2": (0.5, 0.4, 30), "3": (0.0, None, 10)})
    acc = compare.round_values(read_metrics(run), "acc@0.5")
    assert acc["2+"] == pytest.approx((0.5 * 30 + 0.0 * 10) / 40)
    giou = compare.round_values(read_metrics(run), "gIoU")
    assert "3" not in giou  # null values are left out, not counted as zero
    assert giou["2+"] == pytest.approx(0.4)


def test_summarise_and_markdown(tmp_path: Path) -> None:
    a = _run(tmp_path, "v-s0", {"1": (0.8, 0.7, 10), "2": (0.6, 0.5, 10)})
    b = _run(tmp_path, "v-s1", {"1": (0.6, 0.5, 10), "2": (0.4, 0.3, 10)})
    c = _run(tmp_path, "sft", {"1": (0.1, 0.1, 10), "2": (0.0, 0.0, 10)})
    rows = compare.summarise({"SFT": [c], "GRPO": [a, b]})
    assert [r.label for r in rows] == ["SFT", "GRPO"]
    assert rows[1].cells["acc@0.5"]["1"].mean == pytest.approx(0.7)
    table = compare.format_markdown(rows, "acc@0.5")
    lines = table.splitlines()
    assert lines[0] == "| variant | runs | R1 | R2 | R2+ |"
    assert lines[2] == "| SFT | 1 | 10.0 | 0.0 | 0.0 |"
    assert lines[3].startswith("| GRPO | 2 | 70.0 ± 14.1 | 50.0 ± 14.1 |")


def test_cli_writes_table_and_rejects_bad_groups(tmp_path: Path, capsys) -> None:
    _run(tmp_path, "x-s0", {"1": (0.5, 0.5, 4)})
    _run(tmp_path, "x-s1", {"1": (0.7, 0.5, 4)})
    out = tmp_path / "table.md"
    assert cli_main(["compare", f"x={tmp_path}/x-s*", "--out", str(out)]) == 0
    assert "| x | 2 | 60.0 ± 14.1 |" in out.read_text(encoding="utf-8")
    assert "| x | 2 | 60.0 ± 14.1 |" in capsys.readouterr().out
    assert cli_main(["compare", f"y={tmp_path}/nothing-*"]) == 2
    assert "no directory matches" in capsys.readouterr().err
    assert cli_main(["compare", "no-equals-sign"]) == 2
    assert cli_main(["compare", f"z={tmp_path}"]) == 2  # a folder without metrics.json
    assert "metrics.json: not found" in capsys.readouterr().err


# --------------------------------------------------------------------------- paired runs

PAIR_DIALOGUES = 100
GT_BOX = [10.0, 10.0, 50.0, 50.0]
MISS_BOX = [60.0, 60.0, 90.0, 90.0]


def _bench(path: Path, source: str = "synth") -> Path:
    """PAIR_DIALOGUES three-turn dialogues: turn 1 cites turn 0, turn 2 cites turn 1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    turns = [
        {"turn_index": 0, "question": "the box", "refers_to": None, "relation": None},
        {"turn_index": 1, "question": "next to {ref}", "refers_to": 0, "relation": "next_to"},
        {"turn_index": 2, "question": "above {ref}", "refers_to": 1, "relation": "above"},
    ]
    records = [
        {
            "schema_version": 1,
            "dialogue_id": f"d{i:03d}",
            "image": f"images/d{i:03d}.png",
            "image_wh": [100, 100],
            "source": source,
            "turns": [{**t, "targets": [{"bbox": GT_BOX}]} for t in turns],
        }
        for i in range(PAIR_DIALOGUES)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _scored_run(run: Path, data: Path, policy: str, hit) -> Path:
    """A run directory whose turn (i, t) hits when ``hit(i, t)``; scored by the CLI."""
    run.mkdir(parents=True)
    config = {
        "data": str(data),
        "model": "replay:made-up.jsonl",
        "protocol": "paper",
        "reference_policy": policy,
        "prompt": "regionreasoner",
        "segmenter": "none",
        "seed": 0,
    }
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    rows = [
        {
            "dialogue_id": f"d{i:03d}",
            "turn_index": t,
            "refers_to": None if t == 0 else t - 1,
            "pred_bboxes": [GT_BOX if hit(i, t) else MISS_BOX],
            "gt_bboxes": [GT_BOX],
            "intersection": None,
            "union": None,
            "failed": False,
        }
        for i in range(PAIR_DIALOGUES)
        for t in range(3)
    ]
    (run / "predictions.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    assert cli_main(["score", str(run), "--gallery", "0"]) == 0
    return run


def _first_round_hit(i: int) -> bool:
    return i % 5 != 0  # 80 of 100 dialogues


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _interval(cell: str) -> tuple[float, float, float]:
    """``"-20.0 [-28.0, -12.0]*"`` -> (-20.0, -28.0, -12.0)."""
    value, bounds = cell.rstrip("*").split(" [")
    low, high = bounds.rstrip("]").split(", ")
    return float(value), float(low), float(high)


@pytest.mark.integration
def test_compare_prints_the_predicted_minus_oracle_gap_with_a_paired_interval(
    tmp_path: Path, capsys
) -> None:
    """Known gap: the predicted run misses every later turn of a dialogue whose first
    turn missed (20 of 100); the oracle run, given the right reference, hits them all.
    So the gap is 0 in R1 and -20 points in R2, R3 and R2+, -13.3 over all turns."""
    data = _bench(tmp_path / "data" / "bench.jsonl")
    predicted = _scored_run(tmp_path / "pred", data, "predicted", lambda i, t: _first_round_hit(i))
    oracle = _scored_run(
        tmp_path / "oracle", data, "oracle", lambda i, t: t > 0 or _first_round_hit(i)
    )
    capsys.readouterr()
    # the oracle variant first: the gap is still predicted - oracle
    assert cli_main(["compare", f"oracle={oracle}", f"pred={predicted}"]) == 0
    out = capsys.readouterr().out
    assert "**Predicted - oracle gap** (pred: --reference predicted, oracle:" in out
    assert f"on the {PAIR_DIALOGUES} dialogues both runs scored" in out
    lines = out.splitlines()
    header = lines.index("| acc@0.5 (points) | R1 | R2 | R3 | R2+ | all |")
    cells = dict(zip(_cells(lines[header]), _cells(lines[header + 2]), strict=True))
    assert cells["acc@0.5 (points)"] == "pred - oracle"
    assert cells["R1"] == "+0.0 [+0.0, +0.0]"  # same answers in round 1: no difference
    for column, expected in (("R2", -20.0), ("R3", -20.0), ("R2+", -20.0), ("all", -13.3)):
        value, low, high = _interval(cells[column])
        assert value == expected, column
        assert low < expected < high < 0, column  # covers the gap, excludes zero
        assert cells[column].endswith("*"), column
    # R2's per-dialogue differences are -1 (20 dialogues) or 0: the bootstrap sd of their
    # mean is sqrt(0.2 * 0.8 / 100) = 4 points, so the 95 % interval is about 15.7 wide
    value, low, high = _interval(cells["R2"])
    expected_width = 2 * 1.96 * 100 * math.sqrt(0.2 * 0.8 / PAIR_DIALOGUES)
    assert abs((high - low) - expected_width) < 3
    assert "pred - oracle, acc@0.5 over all turns: -13.3 [" in out
    assert "the interval excludes zero." in out
    assert "gIoU (points)" not in out  # detection-only runs: no gIoU difference


@pytest.mark.integration
def test_compare_pairs_only_runs_on_the_same_data(tmp_path: Path, capsys) -> None:
    data = _bench(tmp_path / "data" / "bench.jsonl")
    other_data = _bench(tmp_path / "other" / "bench.jsonl", source="synth-other")
    base = _scored_run(tmp_path / "a", data, "predicted", lambda i, t: _first_round_hit(i))
    same = _scored_run(tmp_path / "b", data, "predicted", lambda i, t: True)
    elsewhere = _scored_run(tmp_path / "c", other_data, "predicted", lambda i, t: True)
    capsys.readouterr()
    argv = ["compare", f"A={base}", f"B={same}", f"C={elsewhere}"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "**Paired difference** B - A" in out
    assert "Predicted - oracle gap" not in out
    lines = out.splitlines()
    row = next(line for line in lines if line.startswith("| B - A |"))
    value, low, high = _interval(_cells(row)[-1])
    assert value == 20.0 and 0 < low < 20.0 < high  # +20 points over all turns
    assert "B - A, acc@0.5 over all turns: +20.0 [" in out and "excludes zero" in out
    assert "Note: C: not paired with A (not the same data file" in out
    # a run that cannot be rescored (its data file moved, its rows without ground
    # truth) is named in a note; its spread table stays
    rows = (same / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    bare = [{k: v for k, v in json.loads(r).items() if k != "gt_bboxes"} for r in rows]
    (same / "predictions.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in bare), encoding="utf-8"
    )
    data.rename(data.with_suffix(".moved"))
    assert cli_main(["compare", f"A={base}", f"B={same}"]) == 0
    out = capsys.readouterr().out
    assert "| B | 1 |" in out and "Paired difference" not in out
    assert "Note: B: not paired (" in out and "could not be rescored" in out
    # several runs of one variant (seeds) are not paired: mean ± std only
    assert cli_main(["compare", f"A={base},{same}", f"C={elsewhere}"]) == 0
    out = capsys.readouterr().out
    assert "Paired difference" not in out and "| A | 2 |" in out


@pytest.mark.integration
def test_compare_shows_the_published_rows_of_the_benchmark_the_cards_name(
    tmp_path: Path, capsys
) -> None:
    data = _bench(tmp_path / "data" / "bench.jsonl", source="refcocog/test")
    run = _scored_run(tmp_path / "a", data, "predicted", lambda i, t: _first_round_hit(i))
    capsys.readouterr()
    assert cli_main(["compare", f"A={run}", "--metric", "acc@0.5"]) == 0
    out = capsys.readouterr().out
    # Table 1, RefCOCOg: R1 87.1, R2 73.7, R3 71.8 (R2+ is not printed in the paper)
    assert "| RegionReasoner-7B (Table 1) | paper | 87.1 | 73.7 | 71.8 | - |" in out
    assert "| A | 1 | 80.0 | 80.0 | 80.0 | 80.0 |" in out
    other = _bench(tmp_path / "other" / "bench.jsonl", source="synth")
    plain = _scored_run(tmp_path / "b", other, "predicted", lambda i, t: True)
    capsys.readouterr()
    assert cli_main(["compare", f"A={run}", f"B={plain}", "--metric", "acc@0.5"]) == 0
    assert "(Table 1)" not in capsys.readouterr().out  # the runs are not all on it
