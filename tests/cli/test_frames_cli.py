"""Frames through the commands as they are: ``eval --frame rel1000`` on replayed 0-1000
answers, the oracle answering in a frame, and the tiny Qwen3-VL through ``make-tiny-model
--family qwen3-vl``, ``eval --model hf:`` and two GRPO steps of ``train``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from regionreasoner.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SYNTH_WH = (320, 200)
"""Non-square (16:10) synthetic scenes."""


@pytest.fixture(scope="module")
def wide_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from regionreasoner.data.builders.synth import build_synth

    out = tmp_path_factory.mktemp("wide")
    return build_synth(out, n_dialogues=10, seed=4, image_size=SYNTH_WH)


def _eval(bench: Path, out: Path, model: str, *extra: str) -> int:
    args = ["eval", "--data", str(bench), "--model", model, "--out", str(out)]
    return main([*args, "--segmenter", "box-fill", *extra])


def _metrics(out: Path) -> dict[str, Any]:
    return json.loads((out / "metrics.json").read_text())


def _grid(value: float, side: int) -> int:
    """A pixel coordinate on the 0-1000 grid, written independently of the library."""
    return int(value / side * 1000 + 0.5)


def _rel1000_answers(bench: Path, path: Path) -> Path:
    """Perfect four-tag answers written on a 0-1000 grid (as Qwen3-VL writes them)."""
    with open(path, "w", encoding="utf-8") as handle:
        for line in bench.read_text().splitlines():
            dialogue = json.loads(line)
            width, height = dialogue["image_wh"]
            for turn in dialogue["turns"]:
                x1, y1, x2, y2 = turn["targets"][0]["bbox"]
                box = [_grid(x1, width), _grid(y1, height), _grid(x2, width), _grid(y2, height)]
                point = [(box[0] + box[2]) // 2, (box[1] + box[3]) // 2]
                answer = json.dumps([{"bbox_2d": box, "point_2d": point}])
                text = (
                    "<scene>Shapes on a plain background.</scene>\n"
                    "<think>The shape the question names is the one in the answer.</think>\n"
                    f"<answer>{answer}</answer>"
                )
                row = {"dialogue_id": dialogue["dialogue_id"], "turn_index": turn["turn_index"]}
                handle.write(json.dumps({**row, "text": text}) + "\n")
    return path


def test_replayed_0_1000_answers_score_one_in_rel1000_and_far_lower_in_the_default_frame(
    wide_bench: Path, tmp_path: Path
) -> None:
    replay = f"replay:{_rel1000_answers(wide_bench, tmp_path / 'answers.jsonl')}"
    assert _eval(wide_bench, tmp_path / "rel", replay, "--frame", "rel1000") == 0
    rel = _metrics(tmp_path / "rel")["overall"]
    assert rel["acc@0.5"] == 1.0 and rel["format_ok"] == 1.0
    assert _eval(wide_bench, tmp_path / "default", replay) == 0
    default = _metrics(tmp_path / "default")["overall"]
    assert default["turns"] == rel["turns"]
    # read as pixels of the 840 square, every box shrinks by 840/1000 toward the origin
    assert default["acc@0.5"] <= 0.2  # measured: 0.0 on these scenes
    config = json.loads((tmp_path / "rel" / "config.json").read_text())
    assert config["frame"] == "rel1000"
    assert config["protocol_settings"]["frame_spec"]["extent"] == 1000
    rows = [
        json.loads(x) for x in (tmp_path / "rel" / "predictions.jsonl").read_text().splitlines()
    ]
    assert {tuple(r["model_wh"]) for r in rows} == {SYNTH_WH}  # rel1000 shows the original


def test_resume_refuses_another_frame(
    wide_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _eval(wide_bench, tmp_path / "run", "oracle", "--frame", "rel1000", "--limit", "2") == 0
    capsys.readouterr()
    code = _eval(wide_bench, tmp_path / "run", "oracle", "--limit", "2", "--resume")
    assert code == 2
    assert "frame" in capsys.readouterr().err


@pytest.mark.parametrize("frame", ["rel1000", "rel1", "image", "native"])
def test_an_oracle_answering_in_a_frame_is_perfect_only_in_that_frame(
    wide_bench: Path, tmp_path: Path, frame: str
) -> None:
    model = f"oracle:frame={frame}"
    assert _eval(wide_bench, tmp_path / "same", model, "--frame", frame) == 0
    same = _metrics(tmp_path / "same")["overall"]
    assert same["acc@0.5"] == 1.0
    assert same["citation_rate"] == 1.0 and same["hallucinated_citation_rate"] == 0.0
    assert _eval(wide_bench, tmp_path / "square", model) == 0
    assert _metrics(tmp_path / "square")["overall"]["acc@0.5"] < 0.6


def test_make_tiny_model_rejects_an_unknown_family(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["make-tiny-model", str(tmp_path / "m"), "--family", "qwen4-vl"]) == 2
    assert "qwen3-vl" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    out = tmp_path_factory.mktemp("tiny-qwen3") / "model"
    assert main(["make-tiny-model", str(out), "--family", "qwen3-vl"]) == 0
    return out


@pytest.mark.slow
def test_tiny_qwen3_vl_runs_eval_end_to_end(
    tiny_qwen3: Path, wide_bench: Path, tmp_path: Path
) -> None:
    config = json.loads((tiny_qwen3 / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl"
    out = tmp_path / "run"
    extra = ["--frame", "rel1000", "--prompt", "qwen3-grounding", "--limit", "3"]
    code = _eval(wide_bench, out, f"hf:{tiny_qwen3}", *extra, "--max-new-tokens", "8")
    assert code == 0
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    turns = sum(len(json.loads(x)["turns"]) for x in wide_bench.read_text().splitlines()[:3])
    assert len(rows) == turns and not any(r["failed"] for r in rows)
    settings = json.loads((out / "config.json").read_text())["backend_settings"]
    assert settings["model_class"] == "Qwen3VLForConditionalGeneration"
    assert settings["image_resize"]["patch_size"] == 16
    assert _metrics(out)["overall"]["turns"] == turns


@pytest.mark.slow
def test_tiny_qwen3_vl_trains_two_grpo_steps(
    tiny_qwen3: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    args = [
        "train",
        "--config",
        "configs/grpo-tiny-cpu.yaml",
        f"model={tiny_qwen3}",
        "data.train=synth://artifacts/synth-train?dialogues=4&seed=0",
        "trainer.max_steps=2",
        "grpo.max_completion_length=16",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "\ngrpo: 2 steps in " in out
    saved = json.loads((tmp_path / "runs" / "grpo-tiny-cpu" / "config.json").read_text())
    assert saved["model_type"] == "qwen3_vl"
