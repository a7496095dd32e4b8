"""``build refcoco``: grouping, split rule, relation truth, masks, determinism, safety."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from regionreasoner.data.builders.refcoco import build_refcoco, load_refs
from regionreasoner.data.dialogue_checks import dialogue_problems
from regionreasoner.data.io import read_dialogues
from regionreasoner.data.relations import get_relation
from regionreasoner.data.safe_pickle import UnsafePickleError
from regionreasoner.data.schema import Dialogue
from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.geometry.rle import decode_rle

SOURCES = [(0, False), (2, False), (4, False), (5, False), (0, True), (2, True)]
SOURCE_IDS = ["p0", "p2", "p4", "p5", "py2-p0", "py2-p2"]


def _expected_split(refs: list[dict], split: str) -> list[dict]:
    """The refer toolkit's rule, written out for the splits the source uses."""
    if split == "test":
        return [r for r in refs if r["split"] in ("test", "testA", "testB")]
    return [r for r in refs if r["split"] == split]


def _referred_by_image(refs: list[dict], split: str) -> dict[int, set[int]]:
    out: dict[int, set[int]] = defaultdict(set)
    for r in _expected_split(refs, split):
        out[r["image_id"]].add(r["ann_id"])
    return out


def _build(src, tmp_path: Path, name: str = "bench.jsonl", **kwargs) -> tuple[Path, list[Dialogue]]:
    out = tmp_path / name
    kwargs.setdefault("split", "test")
    build_refcoco(src.refs_path, src.instances_path, out_path=out, **kwargs)
    return out, read_dialogues(out)


@pytest.mark.parametrize(("protocol", "py2"), SOURCES, ids=SOURCE_IDS)
def test_build_refcoco_every_pickle_protocol_gives_the_same_valid_bench(
    refcoco_source, tmp_path, protocol, py2
):
    reference = refcoco_source(protocol=2)
    ref_out, _ = _build(reference, tmp_path, "reference.jsonl")
    src = refcoco_source(protocol=protocol, py2=py2)
    out, dialogues = _build(src, tmp_path)
    assert out.read_bytes() == ref_out.read_bytes()
    for line, raw in enumerate(out.read_text(encoding="utf-8").splitlines(), start=1):
        obj = json.loads(raw)
        assert dialogue_problems(obj, path=str(out), line=line) == []
        assert Dialogue.from_dict(obj).to_dict() == obj
    assert dialogues


@pytest.mark.parametrize("protocol", [0, 2])
def test_load_refs_python2_pickle_keeps_non_ascii_expressions(refcoco_source, protocol):
    src = refcoco_source(protocol=protocol, py2=True)
    sentences = [s["sent"] for r in load_refs(src.refs_path) for s in r["sentences"]]
    assert "café cup" in sentences
    assert load_refs(src.refs_path) == src.refs


@pytest.mark.parametrize("split", ["test", "testA", "testB", "train", "val"])
def test_build_refcoco_one_dialogue_per_image_with_two_referred_objects(
    refcoco_source, tmp_path, split
):
    src = refcoco_source()
    referred = _referred_by_image(src.refs, split)
    expected_ids = {str(i) for i, anns in referred.items() if len(anns) >= 2}
    _, dialogues = _build(src, tmp_path, split=split)
    assert {d.dialogue_id for d in dialogues} == expected_ids
    images = {im["id"]: im for im in src.instances["images"]}
    sentences = {r["ann_id"]: {s["sent"] for s in r["sentences"]} for r in src.refs}
    for d in dialogues:
        image_id = int(d.dialogue_id)
        assert d.image == images[image_id]["file_name"]
        assert d.image_wh == (images[image_id]["width"], images[image_id]["height"])
        assert d.source == f"refcoco+/{split}"
        targets = [t.targets[0].ann_id for t in d.turns]
        assert len(targets) == len(set(targets)) == min(len(referred[image_id]), 7)
        assert set(targets) <= referred[image_id]
        assert d.turns[0].refers_to is None
        assert d.turns[0].question in sentences[targets[0]]


def test_build_refcoco_split_test_covers_testa_and_testb(refcoco_source, tmp_path):
    src = refcoco_source()
    _, test = _build(src, tmp_path, "t.jsonl", split="test")
    _, test_a = _build(src, tmp_path, "a.jsonl", split="testA")
    _, test_b = _build(src, tmp_path, "b.jsonl", split="testB")
    ids = {d.dialogue_id for d in test}
    assert {d.dialogue_id for d in test_a} <= ids and {d.dialogue_id for d in test_b} <= ids
    # image 101 has two testA and two testB refs: one 4-turn dialogue under "test"
    assert len(next(d for d in test if d.dialogue_id == "101").turns) == 4


def test_build_refcoco_every_relation_is_true_and_unambiguous(
    refcoco_source, tmp_path, relation_oracle
):
    src = refcoco_source()
    _, dialogues = _build(src, tmp_path, seed=3)
    anns = {a["id"]: a for a in src.instances["annotations"]}
    categories = {c["id"]: c["name"] for c in src.instances["categories"]}
    by_image = defaultdict(list)
    for a in src.instances["annotations"]:
        by_image[a["image_id"]].append(a)

    def xyxy(ann: dict) -> tuple[float, ...]:
        x, y, w, h = ann["bbox"]
        return (x, y, x + w, y + h)

    checked = 0
    for d in dialogues:
        later = [t for t in d.turns if t.turn_index > 0]
        plain = [t for t in later if t.refers_to is None]
        assert len(plain) <= len(later) // 2
        for turn in d.turns:
            target_ann = anns[turn.targets[0].ann_id]
            assert turn.targets[0].bbox == pytest.approx(xyxy(target_ann))
            assert turn.targets[0].category == categories[target_ann["category_id"]]
            if turn.refers_to is None:
                assert turn.relation is None and "{ref}" not in turn.question
                continue
            assert turn.refers_to < turn.turn_index and "{ref}" in turn.question
            ref_ann = anns[d.turns[turn.refers_to].targets[0].ann_id]
            same_cat = [
                a
                for a in by_image[d.meta["image_id"]]
                if a["category_id"] == target_ann["category_id"]
            ]
            distractors = [
                xyxy(a) for a in same_cat if a["id"] not in (target_ann["id"], ref_ann["id"])
            ]
            a, b = xyxy(target_ann), xyxy(ref_ann)
            assert get_relation(turn.relation).holds(a, b, distractors), (d.dialogue_id, turn)
            assert relation_oracle(turn.relation, a, b, distractors), (d.dialogue_id, turn)
            category = categories[target_ann["category_id"]]
            if turn.question.startswith(f"the {category} ") and turn.relation not in (
                "closest_to",
                "farthest_from",
            ):
                # the category noun alone: the target must be the only one in that relation
                others = [x for x in same_cat if x["id"] not in (target_ann["id"], ref_ann["id"])]
                assert not any(relation_oracle(turn.relation, xyxy(x), b) for x in others)
            checked += 1
    assert checked >= 10


def test_build_refcoco_masks_match_pycocotools(refcoco_source, tmp_path):
    src = refcoco_source()
    _, dialogues = _build(src, tmp_path)
    anns = {a["id"]: a for a in src.instances["annotations"]}
    images = {im["id"]: im for im in src.instances["images"]}
    seen_crowd = seen_multi = 0
    for d in dialogues:
        im = images[int(d.dialogue_id)]
        for turn in d.turns:
            target = turn.targets[0]
            seg = anns[target.ann_id]["segmentation"]
            if isinstance(seg, list):
                expected = mask_utils.decode(
                    mask_utils.merge(mask_utils.frPyObjects(seg, im["height"], im["width"]))
                )
                seen_multi += len(seg) > 1
            else:
                expected = mask_utils.decode(mask_utils.frPyObjects(seg, *seg["size"]))
                seen_crowd += 1
            assert target.mask["size"] == [im["height"], im["width"]]
            assert np.array_equal(decode_rle(target.mask), expected.astype(bool))
    assert seen_crowd == 1 and seen_multi == 1


def test_build_refcoco_same_seed_same_bytes_other_seed_differs(refcoco_source, tmp_path):
    src = refcoco_source()
    first, _ = _build(src, tmp_path, "a.jsonl", seed=0)
    again, _ = _build(src, tmp_path, "b.jsonl", seed=0)
    other, _ = _build(src, tmp_path, "c.jsonl", seed=1)
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_build_refcoco_max_turns_caps_every_dialogue(refcoco_source, tmp_path):
    _, dialogues = _build(refcoco_source(), tmp_path, max_turns=2)
    assert dialogues and all(len(d.turns) == 2 for d in dialogues)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"split": "testD"}, UserInputError, "unknown split"),
        ({"max_turns": 1}, UserInputError, "max-turns"),
        ({"split": "val", "max_turns": 1}, UserInputError, "max-turns"),
    ],
)
def test_build_refcoco_bad_arguments_raise(refcoco_source, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        _build(refcoco_source(), tmp_path, **kwargs)
    assert not (tmp_path / "bench.jsonl").exists()


def test_build_refcoco_missing_annotation_names_ref_and_file(refcoco_source, tmp_path):
    src = refcoco_source()
    instances = dict(src.instances)
    instances["annotations"] = [a for a in instances["annotations"] if a["id"] != 1001]
    src.instances_path.write_text(json.dumps(instances), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"refs\(unc\)\.p: ref_id 1: .*annotation 1001"):
        _build(src, tmp_path)


def test_build_refcoco_unsafe_refs_are_refused_before_anything_runs(refcoco_source, tmp_path):
    src = refcoco_source()
    marker = tmp_path / "PWNED"
    src.refs_path.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(UnsafePickleError, match=r"(os|posix)\.system"):
        _build(src, tmp_path)
    assert not marker.exists()
    assert not (tmp_path / "bench.jsonl").exists()


def test_build_refcoco_images_root_reads_sizes_and_reports_missing(
    refcoco_source, tmp_path, caplog
):
    from PIL import Image

    src = refcoco_source()
    instances = dict(src.instances)
    instances["images"] = [
        {k: v for k, v in im.items() if k not in ("width", "height")} if im["id"] == 101 else im
        for im in instances["images"]
    ]
    src.instances_path.write_text(json.dumps(instances), encoding="utf-8")
    root = tmp_path / "images"
    root.mkdir()
    Image.new("RGB", (640, 480)).save(root / "COCO_train2014_000000000101.jpg")
    with caplog.at_level(logging.WARNING):
        _, dialogues = _build(src, tmp_path, images_root=root)
    assert next(d for d in dialogues if d.dialogue_id == "101").image_wh == (640, 480)
    assert "images are missing" in caplog.text
    with pytest.raises(DataFormatError, match="width"):
        _build(src, tmp_path, "no_root.jsonl")


@pytest.mark.parametrize("defect", ["image missing", "file_name empty"])
def test_build_refcoco_a_missing_image_entry_or_file_name_is_located(
    refcoco_source, tmp_path, defect
):
    src = refcoco_source()
    _, dialogues = _build(src, tmp_path, "good.jsonl")
    image_id = int(dialogues[0].dialogue_id)  # an image the split turns into a dialogue
    instances = dict(src.instances)
    if defect == "image missing":
        instances["images"] = [im for im in instances["images"] if im["id"] != image_id]
        message = f"image {image_id} is not in"
        expected = (str(src.refs_path), f"image_id {image_id}", "image_id")
    else:
        instances["images"] = [
            {**im, "file_name": ""} if im["id"] == image_id else im for im in instances["images"]
        ]
        message = "has no file_name"
        expected = (str(src.instances_path), f"image {image_id}", "file_name")
    src.instances_path.write_text(json.dumps(instances), encoding="utf-8")
    with pytest.raises(DataFormatError, match=message) as info:
        _build(src, tmp_path)
    assert (info.value.path, info.value.record, info.value.field) == expected
    assert not (tmp_path / "bench.jsonl").exists()
