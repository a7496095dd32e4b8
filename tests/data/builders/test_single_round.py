"""``build refcoco --single-round``: one one-turn record per referring expression, per
standard split, from the synthetic refer-toolkit source."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from regionreasoner.data.builders.single_round import (
    build_refcoco_single_round,
    split_file_name,
)
from regionreasoner.data.dialogue_checks import dialogue_problems
from regionreasoner.data.io import read_dialogues
from regionreasoner.data.schema import Dialogue
from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.evaluation.published import detect_benchmark, detect_single_round


def _expressions(refs: list[dict[str, Any]], splits: set[str]) -> list[tuple[dict, int]]:
    """(ref, sentence index) of every sentence of the refs whose split is in ``splits``."""
    return [(r, k) for r in refs if r["split"] in splits for k in range(len(r["sentences"]))]


def test_standard_splits_hold_one_record_per_expression(refcoco_source, tmp_path) -> None:
    src = refcoco_source()
    results = build_refcoco_single_round(src.refs_path, src.instances_path, out_path=tmp_path)
    assert [r.path.name for r in results] == [
        "refcoco+_val_single-round.jsonl",
        "refcoco+_testA_single-round.jsonl",
        "refcoco+_testB_single-round.jsonl",
    ]
    for split, result in zip(("val", "testA", "testB"), results, strict=True):
        expected = _expressions(src.refs, {split})
        dialogues = read_dialogues(result.path)
        assert len(dialogues) == len(expected) == result.stats.dialogues, split
        assert {d.dialogue_id for d in dialogues} == {f"{r['ref_id']}_{k}" for r, k in expected}
        instances = {d.turns[0].targets[0].ann_id for d in dialogues}
        assert instances == {r["ann_id"] for r, _ in expected}
    assert sum(r.stats.turns for r in results) == len(
        _expressions(src.refs, {"val", "testA", "testB"})
    )


def test_records_are_valid_one_turn_questions_with_the_referred_object(
    refcoco_source, tmp_path
) -> None:
    src = refcoco_source()
    result = build_refcoco_single_round(
        src.refs_path, src.instances_path, out_path=tmp_path / "a.jsonl", split="testB"
    )[0]
    anns = {a["id"]: a for a in src.instances["annotations"]}
    refs = {r["ref_id"]: r for r in src.refs}
    lines = result.path.read_text(encoding="utf-8").splitlines()
    assert lines
    for line, raw in enumerate(lines, start=1):
        obj = json.loads(raw)
        assert dialogue_problems(obj, path=str(result.path), line=line) == []
        dialogue = Dialogue.from_dict(obj)
        ref_id, k = (int(v) for v in dialogue.dialogue_id.split("_"))
        ref = refs[ref_id]
        (turn,) = dialogue.turns
        assert turn.refers_to is None and turn.relation is None
        assert turn.question == ref["sentences"][k]["sent"]
        x, y, w, h = anns[ref["ann_id"]]["bbox"]
        assert tuple(turn.targets[0].bbox) == pytest.approx((x, y, x + w, y + h))
        assert turn.targets[0].ann_id == ref["ann_id"] and turn.targets[0].mask is not None
        assert dialogue.source == "refcoco+/testB/single-round"
        assert dialogue.meta["counting_unit"] == "expression"
        assert dialogue.meta["task"] == "single-round"
        assert dialogue.meta["sent_id"] == ref["sentences"][k]["sent_id"]
        assert detect_benchmark(dialogue.source) is None  # not the multi-round benchmark
        assert detect_single_round(dialogue.source) == ("refcoco+", "testB")


def test_an_explicit_split_follows_the_toolkit_rule(refcoco_source, tmp_path) -> None:
    src = refcoco_source()
    out = tmp_path / "test.jsonl"
    (result,) = build_refcoco_single_round(
        src.refs_path, src.instances_path, out_path=out, split="test"
    )
    assert result.path == out
    assert len(read_dialogues(out)) == len(_expressions(src.refs, {"test", "testA", "testB"}))


def test_the_output_is_a_pure_function_of_the_inputs(refcoco_source, tmp_path) -> None:
    src = refcoco_source()
    first = build_refcoco_single_round(src.refs_path, src.instances_path, out_path=tmp_path / "a")
    again = build_refcoco_single_round(src.refs_path, src.instances_path, out_path=tmp_path / "b")
    assert [r.path.read_bytes() for r in first] == [r.path.read_bytes() for r in again]


def test_a_umd_partition_gives_val_and_test(refcoco_source, tmp_path) -> None:
    src = refcoco_source()
    folder = tmp_path / "refcocog"
    folder.mkdir()
    refs = [
        {**r, "split": "test" if r["split"].startswith("test") else r["split"]} for r in src.refs
    ]
    refs_path = folder / "refs(umd).p"
    refs_path.write_bytes(pickle.dumps(refs, protocol=2))
    results = build_refcoco_single_round(refs_path, src.instances_path, out_path=tmp_path / "out")
    assert [r.path.name for r in results] == [
        split_file_name("refcocog", "val"),
        split_file_name("refcocog", "test"),
    ]
    assert len(read_dialogues(results[1].path)) == len(_expressions(refs, {"test"}))
    assert read_dialogues(results[1].path)[0].source == "refcocog/test/single-round"


def test_expressions_of_an_object_without_a_box_are_skipped_and_counted(
    refcoco_source, tmp_path
) -> None:
    src = refcoco_source()
    ref = next(r for r in src.refs if r["split"] == "testA")
    instances = json.loads(src.instances_path.read_text())
    for ann in instances["annotations"]:
        if ann["id"] == ref["ann_id"]:
            ann["bbox"] = [ann["bbox"][0], ann["bbox"][1], 0, 0]
    broken = tmp_path / "instances.json"
    broken.write_text(json.dumps(instances))
    (result,) = build_refcoco_single_round(
        src.refs_path, broken, out_path=tmp_path / "a.jsonl", split="testA"
    )
    assert result.skipped == {"expressions whose object has an empty box": len(ref["sentences"])}
    expected = len(_expressions(src.refs, {"testA"})) - len(ref["sentences"])
    assert len(read_dialogues(result.path)) == expected


def test_bad_inputs_raise_and_write_nothing(refcoco_source, tmp_path) -> None:
    src = refcoco_source()
    with pytest.raises(UserInputError, match="no referring expression"):
        build_refcoco_single_round(
            src.refs_path, src.instances_path, out_path=tmp_path / "c.jsonl", split="testC"
        )
    instances = json.loads(src.instances_path.read_text())
    ref = next(r for r in src.refs if r["split"] == "testB")
    instances["annotations"] = [a for a in instances["annotations"] if a["id"] != ref["ann_id"]]
    broken = tmp_path / "instances.json"
    broken.write_text(json.dumps(instances))
    with pytest.raises(DataFormatError, match=f"annotation {ref['ann_id']}") as info:
        build_refcoco_single_round(src.refs_path, broken, out_path=tmp_path / "out")
    assert info.value.record == f"ref_id {ref['ref_id']}"
    assert not (tmp_path / "out").exists()  # testB fails after val and testA were built


@pytest.mark.parametrize("defect", ["image missing", "file_name empty"])
def test_a_missing_image_entry_or_file_name_is_located(refcoco_source, tmp_path, defect) -> None:
    src = refcoco_source()
    ref = min((r for r in src.refs if r["split"] == "testA"), key=lambda r: r["ref_id"])
    instances = json.loads(src.instances_path.read_text())
    if defect == "image missing":
        instances["images"] = [im for im in instances["images"] if im["id"] != ref["image_id"]]
        message = f"image {ref['image_id']} is not in"
        expected = (str(src.refs_path), f"ref_id {ref['ref_id']}", "image_id")
    else:
        instances["images"] = [
            {**im, "file_name": None} if im["id"] == ref["image_id"] else im
            for im in instances["images"]
        ]
        message = "has no file_name"
        expected = (str(tmp_path / "instances.json"), f"image {ref['image_id']}", "file_name")
    broken = tmp_path / "instances.json"
    broken.write_text(json.dumps(instances))
    with pytest.raises(DataFormatError, match=message) as info:
        build_refcoco_single_round(
            src.refs_path, broken, out_path=tmp_path / "a.jsonl", split="testA"
        )
    assert (info.value.path, info.value.record, info.value.field) == expected
    assert not (tmp_path / "a.jsonl").exists()
