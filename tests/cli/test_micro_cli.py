"""``regionreasoner micro train|bundle``: help, and bad input exiting 2 before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from regionreasoner.cli.main import main
from regionreasoner.micro.options import BOX_MODES, BUNDLE_WEIGHT_DTYPES, TARGET_STYLES


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


def test_micro_help_names_both_actions(capsys):
    out = _help(capsys, "micro")
    assert out.startswith("usage: regionreasoner micro")
    assert "train" in out and "bundle" in out
    assert "regionreasoner micro train --name sft1" in out  # an example


def test_micro_train_help_offers_the_library_choices(capsys):
    out = " ".join(_help(capsys, "micro", "train").split())  # argparse wraps lines
    for choice in (*TARGET_STYLES, *BOX_MODES):
        assert choice in out
    for flag in ("--bench", "--eval-bench", "--init-probes", "--exact-copies", "--device"):
        assert flag in out


def test_micro_bundle_help_offers_the_weight_dtypes(capsys):
    out = _help(capsys, "micro", "bundle")
    assert "{" + ",".join(BUNDLE_WEIGHT_DTYPES) + "}" in out


def test_micro_without_an_action_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["micro"])
    assert info.value.code == 2
    assert "ACTION" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value"), [("--steps", "0"), ("--lr", "0"), ("--aux-weight", "-1"), ("--style", "x")]
)
def test_micro_train_rejects_bad_values(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as info:
        main(["micro", "train", "--bench", str(tmp_path), "--out", str(tmp_path), flag, value])
    assert info.value.code == 2
    assert flag in capsys.readouterr().err


def test_micro_train_without_a_benchmark_exits_2_and_writes_nothing(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "stage"
    code = main(["micro", "train", "--bench", str(tmp_path / "none"), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("regionreasoner micro: error: ")
    assert str(tmp_path / "none" / "synth.jsonl") in err
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--init", "--init-probes"])
def test_micro_train_with_a_missing_start_point_exits_2(tmp_path: Path, capsys, flag):
    out = tmp_path / "stage"
    argv = ["micro", "train", "--bench", str(tmp_path), "--out", str(out)]
    assert main([*argv, flag, str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert flag in err and "missing" in err
    assert not out.exists()
