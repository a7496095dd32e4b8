"""RegionDial JSONL I/O: streaming reads, located errors, atomic writes, image paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regionreasoner.data.io import (
    iter_dialogues,
    read_dialogues,
    resolve_image_path,
    to_hf_dataset,
    write_dialogues,
)
from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.errors import DataFormatError


def make_dialogue(did: str, n_turns: int = 2) -> Dialogue:
    turns = [Turn(0, "the red cup", (Target((1.0, 2.0, 30.0, 40.5), ann_id=7, category="cup"),))]
    turns += [
        Turn(
            i,
            f"the thing near {{ref}} ({i})",
            (Target((i, i, i + 10.0, i + 5.0)),),
            refers_to=i - 1,
        )
        for i in range(1, n_turns)
    ]
    return Dialogue(did, f"images/{did}.jpg", tuple(turns), image_wh=(64, 48), source="synth")


def record(did: str) -> dict:
    return make_dialogue(did).to_dict()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_write_then_read_round_trip(tmp_path):
    dialogues = [make_dialogue("a"), make_dialogue("b", 4), make_dialogue("c", 1)]
    path = tmp_path / "sub" / "bench.jsonl"  # the folder is created
    assert write_dialogues(path, dialogues) == 3
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert [json.loads(line)["dialogue_id"] for line in lines] == ["a", "b", "c"]
    assert read_dialogues(path) == dialogues


def test_write_keeps_unicode_and_is_compact(tmp_path):
    d = Dialogue("ü", "images/ü.jpg", (Turn(0, "the café sign", (Target((0, 0, 1, 1)),)),))
    path = tmp_path / "u.jsonl"
    write_dialogues(path, [d])
    text = path.read_text(encoding="utf-8")
    assert "café" in text and ", " not in text
    assert read_dialogues(path) == [d]


def test_blank_lines_are_skipped(tmp_path):
    path = write_lines(
        tmp_path / "b.jsonl", ["", json.dumps(record("a")), "   ", json.dumps(record("b"))]
    )
    assert [d.dialogue_id for d in read_dialogues(path)] == ["a", "b"]


def test_iter_dialogues_streams_until_the_bad_line(tmp_path):
    path = write_lines(
        tmp_path / "s.jsonl", [json.dumps(record("a")), json.dumps(record("b")), "{not json"]
    )
    stream = iter_dialogues(path)
    assert next(stream).dialogue_id == "a"
    assert next(stream).dialogue_id == "b"
    with pytest.raises(DataFormatError) as info:
        next(stream)
    assert info.value.record == "line 3"
    assert info.value.path == str(path)


def test_invalid_record_is_located(tmp_path):
    bad = record("b")
    bad["turns"][1]["targets"][0]["bbox"] = [5, 5, 1, 1]
    path = write_lines(tmp_path / "r.jsonl", [json.dumps(record("a")), json.dumps(bad)])
    with pytest.raises(DataFormatError) as info:
        read_dialogues(path)
    err = info.value
    assert (err.path, err.record, err.field) == (
        str(path),
        "dialogue b",
        "turns[1].targets[0].bbox",
    )


def test_unreadable_id_is_located_by_line(tmp_path):
    bad = record("b")
    bad["dialogue_id"] = None
    path = write_lines(tmp_path / "r.jsonl", [json.dumps(record("a")), "", json.dumps(bad)])
    with pytest.raises(DataFormatError) as info:
        read_dialogues(path)
    assert info.value.record == "line 3"  # line numbers count blank lines
    assert info.value.field == "dialogue_id"


def test_duplicate_ids_are_rejected(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(record("a")), json.dumps(record("a"))])
    with pytest.raises(DataFormatError, match="duplicate") as info:
        read_dialogues(path)
    assert info.value.field == "dialogue_id"
    assert info.value.record == "dialogue a"


def test_failed_write_leaves_previous_file_untouched(tmp_path):
    path = tmp_path / "out.jsonl"
    write_dialogues(path, [make_dialogue("old")])
    before = path.read_bytes()

    def broken():
        yield make_dialogue("new1")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_dialogues(path, broken())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temp file left


def test_resolve_image_path(tmp_path):
    d = make_dialogue("a")
    data = tmp_path / "data" / "bench.jsonl"
    data.parent.mkdir()
    data.touch()
    assert resolve_image_path(d, data) == tmp_path / "data" / "images" / "a.jpg"
    assert resolve_image_path(d, data).is_absolute()
    assert resolve_image_path(d, data, images_root=tmp_path / "imgs") == (
        tmp_path / "imgs" / "images" / "a.jpg"
    )


@pytest.mark.slow  # imports datasets
def test_to_hf_dataset():
    pytest.importorskip("datasets")
    dialogues = [make_dialogue("a"), make_dialogue("b", 3)]
    ds = to_hf_dataset(dialogues)
    assert ds.num_rows == 2
    assert ds["dialogue_id"] == ["a", "b"]
    assert ds["num_turns"] == [2, 3]
    assert ds["image_wh"] == [[64, 48], [64, 48]]
    turns = json.loads(ds["turns_json"][1])
    assert [t["turn_index"] for t in turns] == [0, 1, 2]
    assert turns[2]["refers_to"] == 1
