"""``regionreasoner probe-frame``: the table, the verdict, the JSON and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regionreasoner.cli.main import main


def test_probe_names_the_oracle_frame_and_writes_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "probe" / "result.json"
    code = main(
        ["probe-frame", "--model", "oracle:frame=rel1000", "--images", "4", "--json", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["frame", "acc@0.5", "mean", "IoU", "format", "ok"]
    assert printed[1].split()[:2] == ["rel1000", "1.000"]
    assert printed[-1].startswith("verdict: rel1000")
    result = json.loads(out.read_text())
    assert result["model"] == "oracle:frame=rel1000" and result["verdict"] == "rel1000"
    assert result["table"][0]["frame"] == "rel1000"
    assert result["rule"] == {"min_winner_acc": 0.5, "min_margin": 0.25}


def test_no_clear_winner_exits_2_naming_the_tied_frames(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["probe-frame", "--model", "oracle", "--frames", "square840,rel1000"])
    assert code == 2
    captured = capsys.readouterr()
    assert "no clear winner" in captured.out
    assert "rel1000, square840" in captured.err and "--frame" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "rel1000,rel100"], "unknown frame 'rel100'"),
        (["--prompt", "qwen4-grounding"], "unknown prompt"),
    ],
)
def test_bad_names_exit_2(args, message, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe-frame", "--model", "oracle", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "rel1000"], "at least two frame names"),
        (["--images", "0"], "expected an integer >= 1"),
    ],
)
def test_bad_values_are_usage_errors(args, message, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["probe-frame", "--model", "oracle", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
