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
