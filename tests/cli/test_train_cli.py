"""``regionreasoner train``: exit codes, messages, the shipped tiny configs end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from regionreasoner.cli.main import main

REPO = Path(__file__).resolve().parents[2]
REWARD_COMPONENTS = (
    "tag_format",
    "answer_format",
    "ref_citation",
    "accuracy",
    "non_repeat",
    "consistency",
    "total",
)
SMALL_RUN = ["data.train=synth://artifacts/synth-train?dialogues=4&seed=0", "trainer.max_steps=2"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh 'clone': the shipped configs in an empty working directory."""
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_train_unknown_config_key_exits_2_naming_key_and_file(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "model: tiny://m\ndata: synth://d\noutput_dir: runs/x\ntrainer:\n  learnin_rate: 1\n"
    )
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line
    assert str(config) in err
    assert "unknown key 'trainer.learnin_rate' (did you mean 'trainer.learning_rate'?)" in err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_stepz=3", "unknown key 'trainer.max_stepz'"),
        ("no-equals-sign", "must look like key.path=value"),
        ("grpo.temperature=hot", "grpo.temperature: Input should be a valid number"),
    ],
)
def test_train_bad_override_exits_2(workdir: Path, capsys, override: str, message: str) -> None:
    assert main(["train", "--config", "configs/grpo-tiny-cpu.yaml", override]) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / "artifacts").exists()  # nothing built before the config is valid


def test_train_missing_config_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read the config" in capsys.readouterr().err


def test_train_help_shows_runnable_examples(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "regionreasoner train --config configs/grpo-tiny-cpu.yaml" in out
    assert "--resume" in out and "--stage" in out


@pytest.mark.slow
@pytest.mark.integration
def test_shipped_grpo_tiny_config_runs_from_a_fresh_directory(workdir: Path, capsys) -> None:
    args = ["train", "--config", "configs/grpo-tiny-cpu.yaml", *SMALL_RUN]
    assert main([*args, "grpo.max_completion_length=16"]) == 0
    out = capsys.readouterr().out
    assert "\ngrpo: 2 steps in " in out  # after the trainer's own log lines
    for name in REWARD_COMPONENTS:
        assert f"rewards/{name}/mean = " in out, name
    assert (workdir / "artifacts" / "tiny-qwen" / "config.json").is_file()
    assert (workdir / "artifacts" / "synth-train" / "synth.jsonl").is_file()
    assert (workdir / "runs" / "grpo-tiny-cpu" / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.integration
def test_shipped_dialogue_tiny_config_logs_every_component_per_round(workdir: Path, capsys) -> None:
    args = ["train", "--config", "configs/grpo-dialogue-tiny-cpu.yaml", *SMALL_RUN]
    assert main([*args, "grpo.max_completion_length=16"]) == 0
    out = capsys.readouterr().out
    assert "\ngrpo: 2 steps in " in out
    run = workdir / "runs" / "grpo-dialogue-tiny-cpu"
    summary = json.loads((run / "train_summary.json").read_text())
    steps = [e for e in summary["log_history"] if "step_time" in e]
    assert len(steps) == 2
    logged = {key for entry in steps for key in entry}
    # every synthetic dialogue has at least 2 turns: rounds 1 and 2 are in every step
    for round_ in (1, 2):
        for name in REWARD_COMPONENTS:
            assert f"rewards/round{round_}/{name}/mean" in logged, (round_, name)
            assert f"  rewards/round{round_}/{name}/mean = " in out
        assert f"dialogue/round{round_}/acc@0.5" in logged
    assert "dialogue/round2/ground_truth_reference" in logged
    for name in REWARD_COMPONENTS:  # pooled over the turns, by TRL
        assert f"rewards/{name}/mean" in logged
    assert [e["dialogue/p_ground_truth"] for e in steps] == [1.0, 0.5]  # linear over 2 steps
    assert (run / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.integration
def test_shipped_sft_tiny_config_runs_and_resumes(workdir: Path, capsys) -> None:
    args = ["train", "--config", "configs/sft-tiny-cpu.yaml", *SMALL_RUN]
    assert main(args) == 0
    assert "\nsft: 2 steps in " in capsys.readouterr().out
    assert main(args) == 2  # checkpoint-2 exists: refuse to start over silently
    assert "pass --resume" in capsys.readouterr().err
    assert main([*args, "trainer.max_steps=3", "--resume"]) == 0
    assert "\nsft: 3 steps in " in capsys.readouterr().out


def test_train_max_image_pixels_sets_the_data_key(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from regionreasoner.integrations import train

    seen = []

    def no_training(config, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(train, "run_training", no_training)
    config = tmp_path / "c.yaml"
    config.write_text("model: tiny://m\ndata: synth://d\noutput_dir: runs/x\n")
    with pytest.raises(SystemExit):
        main(["train", "--config", str(config), "--max-image-pixels", "5000"])
    assert seen[0].data.max_image_pixels == 5000
    with pytest.raises(SystemExit) as info:
        main(["train", "--config", str(config), "--max-image-pixels", "-3"])
    assert info.value.code == 2
    assert "--max-image-pixels: the limit must be a positive integer" in capsys.readouterr().err
