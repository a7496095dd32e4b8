"""``regionreasoner eval`` end to end: oracle/replay round trip, parity with the released
evaluation, resume after SIGKILL and Ctrl-C, shards, and input errors."""

from __future__ import annotations

import functools
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask

import regionreasoner
from regionreasoner.cli.main import main
from regionreasoner.evaluation.report import write_reports

MODEL_SIDE = 840


def _eval(bench: Path, out: Path, *extra: str, model: str = "oracle") -> int:
    return main(
        [
            "eval",
            "--data",
            str(bench),
            "--model",
            model,
            "--out",
            str(out),
            "--segmenter",
            "box-fill",
            *extra,
        ]
    )


def _metrics(out: Path) -> dict[str, Any]:
    return json.loads((out / "metrics.json").read_text())


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def _bench_turns(bench: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for line in bench.read_text().splitlines():
        dialogue = json.loads(line)
        out.extend((dialogue, turn) for turn in dialogue["turns"])
    return out


def test_oracle_scores_one_in_every_round_and_replay_matches(
    synth_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _eval(synth_bench, tmp_path / "oracle") == 0
    printed = capsys.readouterr().out
    assert "acc@0.5" in printed and "R7" in printed  # the per-round table
    metrics = _metrics(tmp_path / "oracle")
    assert metrics["overall"]["acc@0.5"] == 1.0 and metrics["overall"]["turns"] == 47
    assert {r["acc@0.5"] for r in metrics["rounds"].values()} == {1.0}
    assert len(metrics["rounds"]) == 7
    assert metrics["overall"]["format_ok"] == 1.0
    assert metrics["overall"]["citation_rate"] == 1.0
    assert metrics["overall"]["hallucinated_citation_rate"] == 0.0
    for name in ("config.json", "report.md", "report.html", "rounds.png"):
        assert (tmp_path / "oracle" / name).is_file()
    config = json.loads((tmp_path / "oracle" / "config.json").read_text())
    assert config["protocol"] == "paper" and config["reference_policy"] == "predicted"
    assert config["versions"]["numpy"] and config["backend"] == "oracle"
    assert config["versions"]["regionreasoner"] == regionreasoner.__version__

    replay = f"replay:{tmp_path / 'oracle' / 'predictions.jsonl'}"
    assert _eval(synth_bench, tmp_path / "replay", model=replay) == 0
    replayed = _metrics(tmp_path / "replay")
    assert replayed["overall"] == metrics["overall"]
    assert replayed["rounds"] == metrics["rounds"]


def test_reference_oracle_and_native_frame_are_recorded(synth_bench: Path, tmp_path: Path) -> None:
    assert _eval(synth_bench, tmp_path / "r", "--reference", "oracle", "--frame", "native") == 0
    rows = _rows(tmp_path / "r")
    assert {r["reference_source"] for r in rows if r["refers_to"] is not None} == {"ground_truth"}
    assert {tuple(r["model_wh"]) for r in rows} == {(168, 112)}  # Qwen size of 160x120
    assert _metrics(tmp_path / "r")["reference_policy"] == "oracle"


# --------------------------------------------------------------------------------------
# Parity with the released evaluation (evaluation_multi_segmentation.py), re-implemented
# here from its source: answers in the 840x840 frame scaled with int(v * W / 840 + 0.5);
# the first predicted box of the referenced turn, else the GT box, written str(list);
# a hit when any predicted box has IoU > 0.5 with the first GT box; per-turn mask
# intersection/union against the first GT mask (box-fill instead of SAM2, and no mask
# when the points fail to parse); gIoU = mean I/U (0 if U = 0), cIoU = sum I / sum U.
# --------------------------------------------------------------------------------------


def _released_extract(text: str, x_factor: float, y_factor: float) -> tuple[list, list]:
    match = re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.DOTALL)
    boxes: list = []
    points: list = []
    if match:
        try:
            data = json.loads(match.group(1))
            boxes = [
                [
                    int(item["bbox_2d"][0] * x_factor + 0.5),
                    int(item["bbox_2d"][1] * y_factor + 0.5),
                    int(item["bbox_2d"][2] * x_factor + 0.5),
                    int(item["bbox_2d"][3] * y_factor + 0.5),
                ]
                for item in data
            ]
            points = [
                [
                    int(item["point_2d"][0] * x_factor + 0.5),
                    int(item["point_2d"][1] * y_factor + 0.5),
                ]
                for item in data
            ]
        except (ValueError, KeyError, TypeError, IndexError):
            pass
    return boxes, points


def _released_mask(boxes: list, points: list, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    if not boxes or (points and len(points) != len(boxes)) or not points:
        return mask  # the released box-only branch never ORs its masks
    for x1, y1, x2, y2 in boxes:
        mask[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = True  # box-fill for SAM2
    return mask


def _released_bbox_iou(a: list, b: list) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return 0 if union == 0 else inter / union


def _replay_text(case: str, gt: list, width: int, height: int) -> str:
    def model(box: list) -> list:
        return [
            round(box[0] * MODEL_SIDE / width),
            round(box[1] * MODEL_SIDE / height),
            round(box[2] * MODEL_SIDE / width),
            round(box[3] * MODEL_SIDE / height),
        ]

    box = model(gt)
    point = [(box[0] + box[2]) // 2, (box[1] + box[3]) // 2]
    far = [box[0] + 300, box[1] + 300, box[2] + 300, box[3] + 300]
    answers = {
        "exact": [{"bbox_2d": box, "point_2d": point}],
        "shifted": [{"bbox_2d": far, "point_2d": point}],
        "second_hits": [{"bbox_2d": far, "point_2d": point}, {"bbox_2d": box, "point_2d": point}],
        "no_points": [{"bbox_2d": box}],
        "floats": [{"bbox_2d": [v + 0.4 for v in box], "point_2d": [p + 0.6 for p in point]}],
        "oversized": [{"bbox_2d": [-30, -20, 900, 880], "point_2d": [420, 420]}],
        "empty": [],
    }
    if case in answers:
        return f"<think>ok</think>\n<answer>{json.dumps(answers[case])}</answer>"
    return {
        "truncated": '<think>ok</think><answer>[{"bbox_2d": [1, 2, 30, 40], "point_2d"',
        "object": f"<answer>{json.dumps({'bbox_2d': box, 'point_2d': point})}</answer>",
        "strings": f'<answer>[{{"bbox_2d": ["{box[0]}", 1, 2, 3], "point_2d": [1, 1]}}]</answer>',
        "no_answer": "I cannot find it.",
    }[case]


CASES = (
    "exact",
    "shifted",
    "second_hits",
    "no_points",
    "floats",
    "oversized",
    "empty",
    "truncated",
    "object",
    "strings",
    "no_answer",
)


def test_official_protocol_matches_the_released_computation(
    synth_bench: Path, tmp_path: Path
) -> None:
    rng = random.Random(3)
    replay = tmp_path / "replay.jsonl"
    texts = {}
    with open(replay, "w") as handle:
        for dialogue, turn in _bench_turns(synth_bench):
            width, height = dialogue["image_wh"]
            case = CASES[rng.randrange(len(CASES))]
            text = _replay_text(case, turn["targets"][0]["bbox"], width, height)
            texts[(dialogue["dialogue_id"], turn["turn_index"])] = text
            handle.write(
                json.dumps(
                    {
                        "dialogue_id": dialogue["dialogue_id"],
                        "turn_index": turn["turn_index"],
                        "text": text,
                    }
                )
                + "\n"
            )
    out = tmp_path / "official"
    assert _eval(synth_bench, out, "--protocol", "official", model=f"replay:{replay}") == 0

    expected: dict[tuple[str, int], tuple[str, float, int, int]] = {}
    for line in synth_bench.read_text().splitlines():
        dialogue = json.loads(line)
        width, height = dialogue["image_wh"]
        predicted: dict[int, list] = {}
        for turn in dialogue["turns"]:
            context = None
            if turn["refers_to"] is not None:
                j = turn["refers_to"]
                context = (
                    predicted[j][0]
                    if predicted.get(j)
                    else dialogue["turns"][j]["targets"][0]["bbox"]
                )
            text = texts[(dialogue["dialogue_id"], turn["turn_index"])]
            boxes, points = _released_extract(text, width / MODEL_SIDE, height / MODEL_SIDE)
            predicted[turn["turn_index"]] = boxes
            pred_mask = _released_mask(boxes, points, height, width)
            gt_rle = dict(turn["targets"][0]["mask"])
            gt_rle["counts"] = gt_rle["counts"].encode()
            gt_mask = coco_mask.decode(gt_rle).astype(bool)
            inter = int(np.logical_and(pred_mask, gt_mask).sum())
            union = int(np.logical_or(pred_mask, gt_mask).sum())
            gt_box = turn["targets"][0]["bbox"]
            hit = 1.0 if any(_released_bbox_iou(b, gt_box) > 0.5 for b in boxes) else 0.0
            expected[(dialogue["dialogue_id"], turn["turn_index"])] = (
                str(context) if context is not None else None,
                hit,
                inter,
                union,
            )

    rows = {(r["dialogue_id"], r["turn_index"]): r for r in _rows(out)}
    assert set(rows) == set(expected)
    for key, (context, _hit, inter, union) in expected.items():
        assert rows[key]["reference_text"] == context, key
        assert (rows[key]["intersection"], rows[key]["union"]) == (inter, union), key

    def aggregate(keys: list) -> dict[str, float]:
        hits = [expected[k][1] for k in keys]
        ious = [expected[k][2] / expected[k][3] if expected[k][3] > 0 else 0 for k in keys]
        total_u = sum(expected[k][3] for k in keys)
        return {
            "acc@0.5": sum(hits) / len(hits),
            "gIoU": float(np.mean(ious)),
            "cIoU": sum(expected[k][2] for k in keys) / total_u if total_u else 0,
        }

    metrics = _metrics(out)
    assert metrics["protocol"] == "official"
    cases = [(metrics["overall"], list(expected))]
    for round_name, entry in metrics["rounds"].items():
        cases.append((entry, [k for k in expected if k[1] + 1 == int(round_name)]))
    for entry, keys in cases:
        for name, value in aggregate(keys).items():
            assert entry[name] == pytest.approx(value, abs=1e-12), name
    # the mix really exercised the released quirks
    assert 0 < metrics["overall"]["acc@0.5"] < 1
    assert any(r["reference_source"] == "fallback_gt" for r in rows.values())


# --------------------------------------------------------------------------------------
# Resume
# --------------------------------------------------------------------------------------


def _spawn(
    bench: Path, out: Path, *extra: str, sigint: signal.Handlers = signal.SIG_DFL
) -> subprocess.Popen[bytes]:
    """``eval`` in a child process whose SIGINT disposition is ``sigint``, whatever this
    process inherited (a background job of a non-interactive shell starts with SIGINT
    ignored, and children inherit that)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "regionreasoner",
            "eval",
            "--data",
            str(bench),
            "--model",
            "oracle:delay=0.2",
            "--segmenter",
            "box-fill",
            "--out",
            str(out),
            "--batch-size",
            "4",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=functools.partial(signal.signal, signal.SIGINT, sigint),
    )


def _wait_for_rows(out: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    path = out / "predictions.jsonl"
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError("no progress")


@pytest.mark.slow
def test_run_killed_twice_resumes_to_identical_metrics(synth_bench: Path, tmp_path: Path) -> None:
    assert _eval(synth_bench, tmp_path / "reference") == 0
    out = tmp_path / "killed"
    for kill_after in (5, 22):
        process = _spawn(synth_bench, out, *(["--resume"] if kill_after > 5 else []))
        _wait_for_rows(out, kill_after, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
        with open(out / "predictions.jsonl", "ab") as handle:  # a write torn by the kill
            handle.write(b'{"dialogue_id": "synth-0000')
    process = _spawn(synth_bench, out, "--resume")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    rows = _rows(out)
    keys = [(r["dialogue_id"], r["turn_index"]) for r in rows]
    assert len(keys) == len(set(keys)) == 47  # nothing lost, nothing done twice
    reference, resumed = _metrics(tmp_path / "reference"), _metrics(out)
    assert resumed["overall"] == reference["overall"]
    assert resumed["rounds"] == reference["rounds"]


@pytest.mark.slow
def test_ctrl_c_exits_130_and_leaves_a_resumable_run(synth_bench: Path, tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    process = _spawn(synth_bench, out)
    _wait_for_rows(out, 3, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and b"--resume" in stderr
    done = len(_rows(out))
    assert 3 <= done < 47
    assert (
        main(
            [
                "eval",
                "--data",
                str(synth_bench),
                "--model",
                "oracle:delay=0.2",
                "--segmenter",
                "box-fill",
                "--out",
                str(out),
                "--batch-size",
                "4",
                "--resume",
            ]
        )
        == 0
    )
    keys = {(r["dialogue_id"], r["turn_index"]) for r in _rows(out)}
    assert len(keys) == len(_rows(out)) == 47


def _resume_to_the_end(bench: Path, out: Path) -> None:
    process = _spawn(bench, out, "--resume")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    keys = [(r["dialogue_id"], r["turn_index"]) for r in _rows(out)]
    assert len(keys) == len(set(keys)) == 47  # nothing lost, nothing done twice


@pytest.mark.parametrize(
    ("sent", "inherited", "code"),
    [
        pytest.param(signal.SIGINT, signal.SIG_IGN, 130, id="SIGINT inherited ignored"),
        pytest.param(signal.SIGTERM, signal.SIG_DFL, 143, id="SIGTERM"),
    ],
)
def test_sigint_and_sigterm_stop_eval_the_same_way_whatever_it_inherited(
    synth_bench: Path,
    tmp_path: Path,
    sent: signal.Signals,
    inherited: signal.Handlers,
    code: int,
) -> None:
    out = tmp_path / "interrupted"
    process = _spawn(synth_bench, out, sigint=inherited)
    _wait_for_rows(out, 3, process)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr.decode()
    assert f"interrupted ({sent.name})" in stderr.decode() and b"--resume" in stderr
    assert 3 <= len(_rows(out)) < 47
    _resume_to_the_end(synth_bench, out)


@pytest.mark.slow
def test_the_interruption_tests_pass_from_a_background_job_of_a_script() -> None:
    """``bash -c 'make test & wait'``: the suite's children start with SIGINT ignored."""
    tests = [
        f"{__file__}::test_ctrl_c_exits_130_and_leaves_a_resumable_run",
        f"{__file__}::test_sigint_and_sigterm_stop_eval_the_same_way_whatever_it_inherited",
    ]
    pytest_command = shlex.join(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    )
    script = f"{pytest_command} & wait $!"
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).resolve().parents[2],  # as the suite runs (relative PYTHONPATH)
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 passed" in result.stdout


def test_shards_partition_the_dialogues_and_merge_to_the_full_run(
    synth_bench: Path, tmp_path: Path
) -> None:
    assert _eval(synth_bench, tmp_path / "full") == 0
    for index in range(3):
        assert _eval(synth_bench, tmp_path / f"s{index}", "--shard", f"{index}/3") == 0
    shard_ids = [{r["dialogue_id"] for r in _rows(tmp_path / f"s{i}")} for i in range(3)]
    assert sum(len(ids) for ids in shard_ids) == 12 and len(set().union(*shard_ids)) == 12
    assert shard_ids[0] == {f"synth-{i:06d}" for i in (0, 3, 6, 9)}  # index modulo 3
    merged = write_reports([tmp_path / f"s{i}" for i in range(3)], out_dir=tmp_path / "merged")
    full = _metrics(tmp_path / "full")
    assert merged["overall"] == full["overall"] and merged["rounds"] == full["rounds"]


# --------------------------------------------------------------------------------------
# Input errors: exit 2 with one clear message
# --------------------------------------------------------------------------------------


def test_non_empty_run_dir_needs_resume_or_overwrite(
    synth_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _eval(synth_bench, out, "--limit", "2") == 0
    capsys.readouterr()
    assert _eval(synth_bench, out, "--limit", "2") == 2
    assert "--resume" in capsys.readouterr().err
    assert _eval(synth_bench, out, "--limit", "2", "--resume") == 0  # nothing left: re-report
    assert len(_rows(out)) == 11  # turns of the first two dialogues, not duplicated
    assert _eval(synth_bench, out, "--limit", "2", "--resume", "--protocol", "official") == 2
    assert "protocol" in capsys.readouterr().err
    assert _eval(synth_bench, out, "--limit", "1", "--overwrite") == 0
    assert len(_rows(out)) == 5


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def test_resume_with_another_model_exits_2(
    synth_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _eval(synth_bench, out, "--limit", "1") == 0
    before = _files(out)
    capsys.readouterr()
    assert _eval(synth_bench, out, "--limit", "1", "--resume", model="oracle:noise=3") == 2
    err = capsys.readouterr().err
    assert "cannot resume: model was 'oracle'" in err and "now 'oracle:noise=3'" in err
    assert _files(out) == before  # nothing written, nothing removed


@pytest.mark.parametrize(
    ("flags", "key"),
    [
        (["--reference", "oracle"], "reference_policy"),
        (["--protocol", "official"], "protocol"),
        (["--prompt", "visionreasoner"], "prompt"),
        (["--frame", "native"], "frame"),
        (["--segmenter", "none"], "segmenter"),
        (["--shard", "0/2"], "shard"),
        (["--max-new-tokens", "64"], "max_new_tokens"),
        (["--temperature", "0.7"], "temperature"),
        (["--seed", "1"], "seed"),
        (["--limit", "2"], "limit"),
    ],
)
def test_resume_with_other_output_settings_exits_2(
    synth_bench: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    key: str,
) -> None:
    out = tmp_path / "run"
    assert _eval(synth_bench, out, "--limit", "1") == 0
    before = _files(out)
    capsys.readouterr()
    # _eval passes --segmenter box-fill first; a later flag wins
    extra = ["--limit", "1", *flags] if "--limit" not in flags else flags
    assert _eval(synth_bench, out, *extra, "--resume") == 2
    assert f"cannot resume: {key} was" in capsys.readouterr().err
    assert _files(out) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "oraclee"], "did you mean"),
        (["--model", "oracle:delay=x"], "delay must be a number"),
        (["--protocol", "offical"], "official"),
        (["--prompt", "nope"], "prompt"),
        (["--segmenter", "sam3"], "sam2"),
        (["--protocol", "official", "--frame", "native"], "square840"),
        (["--protocol", "official", "--temperature", "0.7"], "greedy"),
        (["--model", "replay:missing.jsonl"], "not found"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    synth_bench: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code = main(
        [
            "eval",
            "--data",
            str(synth_bench),
            "--out",
            str(tmp_path / "r"),
            "--segmenter",
            "box-fill",
            "--model",
            "oracle",
            *args,
        ]
    )
    assert code == 2
    assert message.lower() in capsys.readouterr().err.lower()


def test_missing_data_and_bad_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "eval",
                "--data",
                str(tmp_path / "none.jsonl"),
                "--model",
                "oracle",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["eval", "--data", "x", "--model", "oracle", "--out", "r", "--shard", "3/3"])
    assert info.value.code == 2


def test_missing_image_is_reported_before_the_model_runs(
    synth_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = tmp_path / "b.jsonl"
    lines = synth_bench.read_text().splitlines()
    record = json.loads(lines[0])
    record["image"] = "images/absent.png"
    bench.write_text(json.dumps(record) + "\n")
    (tmp_path / "images").mkdir()
    assert (
        main(
            [
                "eval",
                "--data",
                str(bench),
                "--model",
                "oracle",
                "--segmenter",
                "box-fill",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "absent.png" in err and record["dialogue_id"] in err
    assert not (tmp_path / "r" / "predictions.jsonl").exists()
