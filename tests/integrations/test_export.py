"""``export-train``: GT references in the model frame, solutions, images, and the three layouts."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from regionreasoner.data.io import read_dialogues
from regionreasoner.data.schema import Target
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.errors import DataFormatError, UnknownComponentError, UserInputError
from regionreasoner.geometry.frames import Frame
from regionreasoner.geometry.rle import decode_rle, encode_rle
from regionreasoner.integrations.export import (
    export_train,
    mask_anchor_point,
    target_solution_item,
)

FRAME = 224


def _scale(values, image_wh, frame=FRAME):
    """Original pixels -> frame, rounded half up as ``int(v * f + 0.5)``."""
    w, h = image_wh
    return [int(v * frame / (w if i % 2 == 0 else h) + 0.5) for i, v in enumerate(values)]


@pytest.fixture(scope="module")
def easyr1_jsonl(synth_bench, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("easyr1") / "train.jsonl"
    export_train(synth_bench, out, "easyr1", frame=FRAME)
    return out


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_easyr1_one_row_per_turn_with_gt_reference_in_the_model_frame(synth_bench, easyr1_jsonl):
    rows = _rows(easyr1_jsonl)
    dialogues = {d.dialogue_id: d for d in read_dialogues(synth_bench)}
    assert len(rows) == sum(len(d.turns) for d in dialogues.values())
    prompt = get_prompt("regionreasoner-train")
    n_refs = 0
    for row in rows:
        d = dialogues[row["dialogue_id"]]
        turn = d.turns[row["turn_index"]]
        if turn.refers_to is not None:
            ref_box = _scale(d.turns[turn.refers_to].targets[0].bbox, d.image_wh)
            expected = turn.question.replace("{ref}", "bbox=[" + ",".join(map(str, ref_box)) + "]")
            n_refs += 1
        else:
            expected = turn.question
        assert row["problem"] == expected
        assert row["prompt"] == "<image>" + prompt.render_user(expected)
        packed = json.loads(row["solution"])
        assert packed["problem"] == expected
        [item] = packed["solution"]
        assert item["bbox_2d"] == _scale(turn.targets[0].bbox, d.image_wh)
        assert row["images"] == [row["image"]] and row["image"].startswith("train_images/")
    assert n_refs >= 10
    assert re.search(r"bbox=\[\d+,\d+,\d+,\d+\]", " ".join(r["problem"] for r in rows))


def test_easyr1_points_lie_inside_the_box_and_the_mask(synth_bench, easyr1_jsonl):
    dialogues = {d.dialogue_id: d for d in read_dialogues(synth_bench)}
    for row in _rows(easyr1_jsonl):
        d = dialogues[row["dialogue_id"]]
        target = d.turns[row["turn_index"]].targets[0]
        [item] = json.loads(row["solution"])["solution"]
        (x1, y1, x2, y2), (px, py) = item["bbox_2d"], item["point_2d"]
        assert x1 <= px <= x2 and y1 <= py <= y2
        w, h = d.image_wh
        mask = decode_rle(target.mask)
        assert mask[int(py * h / FRAME), int(px * w / FRAME)]


def test_easyr1_images_are_resized_once_bilinear(synth_bench, easyr1_jsonl):
    rows = _rows(easyr1_jsonl)
    dialogues = {d.dialogue_id: d for d in read_dialogues(synth_bench)}
    files = sorted((easyr1_jsonl.parent / "train_images").iterdir())
    assert len(files) == len(dialogues)
    for row in rows[:3]:
        source = Image.open(synth_bench.parent / dialogues[row["dialogue_id"]].image).convert("RGB")
        expected = source.resize((FRAME, FRAME), Image.Resampling.BILINEAR)
        exported = Image.open(easyr1_jsonl.parent / row["image"])
        assert exported.size == (FRAME, FRAME)
        assert np.array_equal(np.asarray(exported), np.asarray(expected))


def test_easyr1_json_layout_wraps_samples(synth_bench, easyr1_jsonl, tmp_path):
    out = tmp_path / "train.json"
    result = export_train(synth_bench, out, "easyr1", frame=FRAME)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert list(data) == ["samples"] and len(data["samples"]) == result.samples
    rows = _rows(easyr1_jsonl)
    assert [s["solution"] for s in data["samples"]] == [r["solution"] for r in rows]


def test_verl_parquet_has_verl_columns(synth_bench, easyr1_jsonl, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "train.parquet"
    result = export_train(synth_bench, out, "verl", frame=FRAME)
    table = pq.read_table(out)
    assert table.column_names == [
        "data_source",
        "prompt",
        "images",
        "ability",
        "reward_model",
        "extra_info",
    ]
    rows = table.to_pylist()
    easy = _rows(easyr1_jsonl)
    assert len(rows) == result.samples == len(easy)
    for index, (row, ref) in enumerate(zip(rows, easy, strict=True)):
        assert row["prompt"] == [{"role": "user", "content": ref["prompt"]}]
        assert row["prompt"][0]["content"].startswith("<image>Please find")
        assert row["reward_model"]["style"] == "rule"
        assert (
            json.loads(row["reward_model"]["ground_truth"])
            == json.loads(ref["solution"])["solution"]
        )
        assert row["extra_info"] == {
            "problem": ref["problem"],
            "dialogue_id": ref["dialogue_id"],
            "turn_index": ref["turn_index"],
            "split": "train",
            "index": index,
        }
        assert row["data_source"] == "regiondial" and row["ability"] == "grounding"
    image = Image.open(io.BytesIO(rows[0]["images"][0]["bytes"]))
    assert image.size == (FRAME, FRAME)


@pytest.mark.slow
def test_trl_dataset_loads_from_disk_with_grpo_columns(synth_bench, easyr1_jsonl, tmp_path):
    import datasets

    out = tmp_path / "trl"
    export_train(synth_bench, out, "trl", frame=FRAME)
    ds = datasets.load_from_disk(str(out))
    assert ds.column_names == [
        "prompt",
        "image",
        "problem",
        "solution",
        "dialogue_id",
        "turn_index",
        "captions_json",
    ]
    assert isinstance(ds.features["image"], datasets.Image)
    easy = _rows(easyr1_jsonl)
    assert len(ds) == len(easy)
    row = ds[1]
    assert row["prompt"] == [{"role": "user", "content": easy[1]["prompt"][len("<image>") :]}]
    assert row["problem"] == easy[1]["problem"]
    assert json.loads(row["solution"]) == json.loads(easy[1]["solution"])["solution"]
    assert row["image"].size == (FRAME, FRAME)
    assert "scene" in json.loads(row["captions_json"])
    # exporting again replaces the dataset folder
    export_train(synth_bench, out, "trl", frame=FRAME)
    assert len(datasets.load_from_disk(str(out))) == len(easy)


@pytest.mark.slow
def test_trl_rows_are_conversational_for_grpo_trainer(synth_bench, tmp_path):
    import datasets
    from trl.data_utils import is_conversational, prepare_multimodal_messages

    out = tmp_path / "trl"
    export_train(synth_bench, out, "trl", frame=FRAME)
    row = datasets.load_from_disk(str(out))[0]
    assert is_conversational(row)
    messages = prepare_multimodal_messages(row["prompt"], images=[row["image"]])
    kinds = [part["type"] for part in messages[0]["content"]]
    assert kinds == ["image", "text"]


@pytest.mark.parametrize(
    ("mask_rows", "expected"),
    [
        (["..........", ".#####....", ".#####....", ".#####....", ".........."], (3.5, 2.5)),
        (["###", "###", "###"], (1.5, 1.5)),  # the image edge counts as border
        ([".....", "..#..", "....."], (2.5, 1.5)),  # a single pixel
        # an L: five pixels are 2 px deep; (2, 1) and (1, 2) are nearest to their mean
        # (1.6, 1.6); the first in row-major order wins
        (["#####", "#####", "#####", "###..", "###.."], (2.5, 1.5)),
        (["...", "..."], None),
    ],
)
def test_mask_anchor_point_hand_cases(mask_rows, expected):
    mask = np.array([[c == "#" for c in row] for row in mask_rows])
    assert mask_anchor_point(mask) == expected


def test_target_solution_item_without_mask_uses_the_box_centre():
    frame = Frame.square((200, 100), size=100)
    item = target_solution_item(Target((20, 10, 60, 30)), frame)
    assert item == {"bbox_2d": [10, 10, 30, 30], "point_2d": [20, 20]}


def test_target_solution_item_point_clipped_into_rounded_box():
    mask = np.zeros((10, 10), dtype=bool)
    mask[0:1, 0:1] = True  # one pixel: its centre (0.5, 0.5) scales to 4.2 -> 4
    item = target_solution_item(
        Target((0, 0, 1, 1), mask=encode_rle(mask)), Frame.square((10, 10), size=84)
    )
    assert item["bbox_2d"] == [0, 0, 8, 8] and item["point_2d"] == [4, 4]


@pytest.mark.parametrize(
    ("out_name", "fmt", "kwargs", "error", "match"),
    [
        ("train.jsonl", "verl", {}, UserInputError, ".parquet"),
        ("train.txt", "easyr1", {}, UserInputError, ".jsonl"),
        ("train.jsonl", "easyr1", {"frame": 10}, UserInputError, "frame"),
        ("x", "csv", {}, UnknownComponentError, "easyr1"),
    ],
)
def test_export_train_bad_arguments(synth_bench, tmp_path, out_name, fmt, kwargs, error, match):
    with pytest.raises(error, match=match):
        export_train(synth_bench, tmp_path / out_name, fmt, **kwargs)
    assert not (tmp_path / out_name).exists()


def test_export_train_missing_image_names_the_dialogue(synth_bench, tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(synth_bench.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DataFormatError, match="dialogue synth-000000: image: image not found"):
        export_train(bench, tmp_path / "out.jsonl", "easyr1", frame=FRAME)
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out_images").exists()
    # the same file exports once pointed at the images
    result = export_train(
        bench, tmp_path / "out.jsonl", "easyr1", frame=FRAME, images_root=synth_bench.parent
    )
    assert result.images == 12


def test_export_train_image_size_mismatch_is_reported(synth_bench, tmp_path):
    rows = [json.loads(line) for line in synth_bench.read_text(encoding="utf-8").splitlines()]
    rows[0]["image_wh"] = [rows[0]["image_wh"][0] + 1, rows[0]["image_wh"][1]]
    for turn in rows[0]["turns"]:
        for target in turn["targets"]:
            target.pop("mask")  # masks must match image_wh; drop them to reach the image check
    bench = tmp_path / "mismatch.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(
        DataFormatError, match=r"image_wh \[161, 120\] differs from the size \[160, 120\]"
    ):
        export_train(
            bench, tmp_path / "out.jsonl", "easyr1", frame=FRAME, images_root=synth_bench.parent
        )
