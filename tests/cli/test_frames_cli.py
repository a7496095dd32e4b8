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


def _train_two_grpo_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    """``train`` on the tiny CPU config, 2 steps of 4-dialogue synthetic data, in ``tmp_path``."""
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    data = "data.train=synth://artifacts/synth-train?dialogues=4&seed=0"
    steps = ("trainer.max_steps=2", "grpo.max_completion_length=16")
    return main(["train", "--config", "configs/grpo-tiny-cpu.yaml", *extra, data, *steps])


@pytest.mark.slow
def test_tiny_qwen3_vl_trains_two_grpo_steps(
    tiny_qwen3: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert _train_two_grpo_steps(tmp_path, monkeypatch, f"model={tiny_qwen3}") == 0
    out = capsys.readouterr().out
    assert "\ngrpo: 2 steps in " in out
    saved = json.loads((tmp_path / "runs" / "grpo-tiny-cpu" / "config.json").read_text())
    assert saved["model_type"] == "qwen3_vl"


# --------------------------------------------------------------------------- --frame auto


def _config(out: Path) -> dict[str, Any]:
    return json.loads((out / "config.json").read_text())


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("frame", ["square840", "native", "image", "rel1000", "rel1"])
def test_eval_frame_auto_runs_in_the_frame_the_probe_names_and_records_the_probe(
    wide_bench: Path, tmp_path: Path, frame: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = _eval(wide_bench, out, f"oracle:frame={frame}", "--frame", "auto", "--limit", "3")
    assert code == 0
    assert f"frame: {frame}, chosen by the frame probe" in capsys.readouterr().out
    config = _config(out)
    assert config["frame"] == frame
    assert config["protocol_settings"]["frame_spec"]["name"] == frame
    probe = config["frame_probe"]
    assert probe["verdict"] == frame and probe["margin"] == 1.0
    assert probe["table"][0] == {**probe["table"][0], "frame": frame, "acc@0.5": 1.0}
    assert {row["frame"] for row in probe["table"]} == {
        "square840", "native", "image", "rel1000", "rel1"
    }  # fmt: skip
    assert probe["settings"]["prompt"] == "regionreasoner" and "answers" not in probe
    assert {r["frame"] for r in _rows(out)} == {frame}
    assert _metrics(out)["overall"]["acc@0.5"] == 1.0


def test_eval_frame_auto_without_a_clear_winner_exits_2_and_writes_nothing(
    wide_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the plain oracle answers in whatever frame it is asked in: every frame ties
    out = tmp_path / "run"
    assert _eval(wide_bench, out, "oracle", "--frame", "auto") == 2
    err = capsys.readouterr().err
    assert "no clear winner" in err and "--frame NAME" in err
    assert "square840" in err and "rel1000" in err  # the tied frames
    assert not out.exists()


def test_eval_frame_auto_refuses_the_official_protocol(
    wide_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ("--frame", "auto", "--protocol", "official")
    assert _eval(wide_bench, out, "oracle:frame=rel1000", *args) == 2
    assert "official protocol always uses the square840 frame" in capsys.readouterr().err
    assert not out.exists()


def test_resuming_an_auto_run_keeps_its_frame_without_probing_again(
    wide_bench: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from regionreasoner.dialogue import engine

    out = tmp_path / "run"
    model = "oracle:frame=rel1000"
    assert _eval(wide_bench, out, model, "--frame", "auto", "--limit", "2") == 0
    before = _config(out)

    def no_probe(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a resumed run must not probe again")

    monkeypatch.setattr(engine, "run_probe", no_probe)
    capsys.readouterr()
    # another explicit frame is refused, naming the recorded one
    assert _eval(wide_bench, out, model, "--frame", "square840", "--limit", "4", "--resume") == 2
    err = capsys.readouterr().err
    assert "cannot resume: frame was 'rel1000'" in err and "'square840'" in err
    # --frame auto, or the recorded frame itself, continues the run in rel1000
    assert _eval(wide_bench, out, model, "--frame", "auto", "--limit", "2", "--resume") == 0
    assert _eval(wide_bench, out, model, "--frame", "rel1000", "--limit", "2", "--resume") == 0
    assert _config(out) == before  # the probe's table stays as recorded
    rows = _rows(out)
    assert {r["frame"] for r in rows} == {"rel1000"}
    assert _metrics(out)["overall"]["acc@0.5"] == 1.0


def test_resuming_an_explicit_run_with_frame_auto_keeps_the_recorded_frame(
    wide_bench: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    model = "oracle:frame=native"
    assert _eval(wide_bench, out, model, "--frame", "native", "--limit", "2") == 0
    assert _eval(wide_bench, out, model, "--frame", "auto", "--limit", "2", "--resume") == 0
    assert _config(out)["frame"] == "native" and _config(out)["frame_probe"] is None


@pytest.mark.slow  # the micro model on CPU: the probe (90 answers), then 2 dialogues
def test_eval_frame_auto_names_square840_for_the_bundled_micro_model(
    wide_bench: Path, tmp_path: Path
) -> None:
    pytest.importorskip("transformers")
    from regionreasoner.assets import bundled_model_dir

    out = tmp_path / "run"
    extra = ["--frame", "auto", "--limit", "2", "--max-new-tokens", "256", "--batch-size", "16"]
    cpu = ["--device", "cpu", "--dtype", "float32"]
    assert _eval(wide_bench, out, f"hf:{bundled_model_dir()}", *extra, *cpu) == 0
    config = _config(out)
    assert config["frame"] == config["frame_probe"]["verdict"] == "square840"
    assert config["frame_probe"]["margin"] >= config["frame_probe"]["rule"]["min_margin"]
    assert {r["frame"] for r in _rows(out)} == {"square840"}


def test_rows_written_before_rows_carried_their_frame_score_and_replay_as_before(
    wide_bench: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert _eval(wide_bench, out, "oracle:frame=rel1000", "--frame", "rel1000", "--limit", "3") == 0
    metrics = _metrics(out)
    rows = _rows(out)
    assert {r["frame"] for r in rows} == {"rel1000"}
    old = [{k: v for k, v in r.items() if k != "frame"} for r in rows]
    (out / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    assert main(["score", str(out)]) == 0
    assert _metrics(out)["overall"] == metrics["overall"]
    replay = f"replay:{out / 'predictions.jsonl'}"
    again = tmp_path / "again"
    assert _eval(wide_bench, again, replay, "--frame", "rel1000", "--limit", "3") == 0
    assert _metrics(again)["overall"]["acc@0.5"] == 1.0


@pytest.mark.slow
def test_train_frame_rel1000_trains_a_tiny_qwen3_whose_rewards_convert_each_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``train --frame rel1000`` with ``model.tiny_family=qwen3-vl``: the tiny Qwen3-VL is
    built from ``tiny://``, the synthetic data exported in rel1000 (original images, the
    frame columns) and every reward call converts its rows from rel1000."""
    pytest.importorskip("trl")
    from datasets import load_from_disk

    from regionreasoner.integrations import trl_rewards

    converted: list[str] = []
    real = trl_rewards.to_reward_frame

    def spy(frame, *args):
        converted.append(f"{frame.coord_wh[0]:g}")
        return real(frame, *args)

    monkeypatch.setattr(trl_rewards, "to_reward_frame", spy)
    extra = ("model.path=tiny://artifacts/tiny-qwen3", "model.tiny_family=qwen3-vl")
    assert _train_two_grpo_steps(tmp_path, monkeypatch, "--frame", "rel1000", *extra) == 0
    assert "\ngrpo: 2 steps in " in capsys.readouterr().out
    run = tmp_path / "runs" / "grpo-tiny-cpu"
    assert json.loads((run / "config.json").read_text())["model_type"] == "qwen3_vl"
    resolved = json.loads((run / "train_config.json").read_text())["config"]
    assert resolved["data"]["frame"] == resolved["dialogue"]["frame"] == "rel1000"
    (cache,) = (run / "data-cache").iterdir()
    dataset = load_from_disk(str(cache))
    assert set(dataset["frame"]) == {"rel1000"}
    assert dataset[0]["image"].size == tuple(dataset[0]["image_wh"])  # the original image
    assert converted and set(converted) == {"1000"}  # every scored row came from rel1000
