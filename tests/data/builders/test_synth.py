"""``build synth``: valid records, exact masks, unique expressions, true relations, captions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from regionreasoner.data.builders.synth import build_synth, build_synth_benchmark, parse_image_size
from regionreasoner.data.builders.templates import SYNTH_ACCENTS, SYNTH_COLOURS
from regionreasoner.data.dialogue_checks import dialogue_problems
from regionreasoner.data.io import read_dialogues
from regionreasoner.data.relations import get_relation
from regionreasoner.data.schema import Dialogue
from regionreasoner.errors import UserInputError
from regionreasoner.geometry.rle import decode_rle

EPS = 0.05  # meta rounds centres/sides to 2 decimals


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_synth_bench_is_one_valid_jsonl_with_images_beside_it(synth_bench):
    assert synth_bench.name == "synth.jsonl"
    assert [p.name for p in synth_bench.parent.glob("*.jsonl")] == ["synth.jsonl"]
    records = _records(synth_bench)
    assert len(records) == 12
    for line, obj in enumerate(records, start=1):
        assert dialogue_problems(obj, path=str(synth_bench), line=line) == []
        dialogue = Dialogue.from_dict(obj)
        assert 2 <= len(dialogue.turns) <= 7
        with Image.open(synth_bench.parent / dialogue.image) as im:
            assert im.size == dialogue.image_wh == (160, 120)


def test_synth_masks_are_exact_disjoint_and_boxes_are_tight(synth_bench):
    for d in read_dialogues(synth_bench):
        pixels = np.asarray(Image.open(synth_bench.parent / d.image).convert("RGB"))
        objects = {o["ann_id"]: o for o in d.meta["objects"]}
        covered = np.zeros(pixels.shape[:2], dtype=int)
        union = np.zeros(pixels.shape[:2], dtype=int)
        for turn in d.turns:
            target = turn.targets[0]
            mask = decode_rle(target.mask)
            union += mask
            ys, xs = np.nonzero(mask)
            assert target.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            colour = objects[target.ann_id]["colour"]
            allowed = {SYNTH_COLOURS[colour], SYNTH_ACCENTS[colour]}
            assert {tuple(p) for p in pixels[mask]} <= allowed
            if sum(o["colour"] == colour for o in objects.values()) == 1:
                # the only object of its colour: its pixels ARE its mask
                painted = np.all(pixels[..., None, :] == np.array(list(allowed)), -1).any(-1)
                assert np.array_equal(painted, mask)
        assert union.max() <= 1
        for obj in objects.values():
            obj_pixels = np.all(
                pixels[..., None, :]
                == np.array([SYNTH_COLOURS[obj["colour"]], SYNTH_ACCENTS[obj["colour"]]]),
                axis=-1,
            ).any(-1)
            covered += obj_pixels
        # background pixels never take an object colour
        all_colours = np.array(list(SYNTH_COLOURS.values()) + list(SYNTH_ACCENTS.values()))
        object_like = np.all(pixels[..., None, :] == all_colours, axis=-1).any(-1)
        assert object_like.sum() == (covered > 0).sum()


def _denotes(expression: str, objects: list[dict], image_wh: tuple[int, int]) -> list[int]:
    """The objects an expression denotes, by the documented vocabulary rules."""
    words = expression.split()
    pool = [o for o in objects if o["colour"] in words and o["category"] in words]
    for texture in ("plain", "striped", "dotted"):
        if texture in words:
            pool = [o for o in pool if o["texture"] == texture]
    if "small" in words or "large" in words:
        pick = min if "small" in words else max
        best = pick(pool, key=lambda o: o["side"])
        others = [o["side"] for o in pool if o is not best]
        ratio_ok = all(
            (best["side"] * 1.4 <= s + EPS) if "small" in words else (best["side"] >= 1.4 * s - EPS)
            for s in others
        )
        pool = [best] if ratio_ok else pool
    for word, axis, sign in (("left", 0, 1), ("right", 0, -1), ("top", 1, 1), ("bottom", 1, -1)):
        if word in expression:
            margin = 0.1 * image_wh[axis]
            pool = [
                o
                for o in pool
                if all(
                    sign * (p["center"][axis] - o["center"][axis]) >= margin - EPS
                    for p in pool
                    if p is not o
                )
            ]
    return [o["ann_id"] for o in pool]


def test_synth_expressions_denote_exactly_their_object(synth_bench):
    n = 0
    for d in read_dialogues(synth_bench):
        objects = d.meta["objects"]
        assert len({o["expression"] for o in objects}) == len(objects)
        for obj in objects:
            assert _denotes(obj["expression"], objects, d.image_wh) == [obj["ann_id"]]
            n += 1
        for turn in d.turns:
            if turn.refers_to is None:
                expr = next(
                    o["expression"] for o in objects if o["ann_id"] == turn.targets[0].ann_id
                )
                assert turn.question == f"the {expr}"
    assert n >= 40


def test_synth_every_relation_is_true_for_the_gt_boxes(synth_bench, relation_oracle):
    checked = 0
    for d in read_dialogues(synth_bench):
        objects = {o["ann_id"]: o for o in d.meta["objects"]}
        later = [t for t in d.turns if t.turn_index > 0]
        assert sum(t.refers_to is None for t in later) <= len(later) // 2
        for turn in d.turns:
            if turn.refers_to is None:
                continue
            target = objects[turn.targets[0].ann_id]
            ref = objects[d.turns[turn.refers_to].targets[0].ann_id]
            distractors = [
                o["bbox"]
                for o in objects.values()
                if o["category"] == target["category"]
                and o["ann_id"] not in (target["ann_id"], ref["ann_id"])
            ]
            assert list(turn.targets[0].bbox) == target["bbox"]
            assert get_relation(turn.relation).holds(target["bbox"], ref["bbox"], distractors)
            assert relation_oracle(turn.relation, target["bbox"], ref["bbox"], distractors)
            if turn.question.startswith("the shape "):
                # generic noun: no other object stands in that relation to the reference
                others = [
                    o["bbox"]
                    for o in objects.values()
                    if o["ann_id"] not in (target["ann_id"], ref["ann_id"])
                ]
                if turn.relation not in ("closest_to", "farthest_from"):
                    assert not any(relation_oracle(turn.relation, o, ref["bbox"]) for o in others)
            checked += 1
    assert checked >= 15


def test_synth_captions_scene_everywhere_focus_on_reference_turns(synth_bench):
    for d in read_dialogues(synth_bench):
        objects = {o["ann_id"]: o for o in d.meta["objects"]}
        for turn in d.turns:
            scene = turn.captions["scene"]
            assert scene.startswith("The image shows")
            assert all(f"{o['colour']} {o['category']}" in scene for o in objects.values())
            if turn.refers_to is None:
                assert "focus" not in turn.captions
            else:
                ref = objects[d.turns[turn.refers_to].targets[0].ann_id]
                assert f"{ref['colour']} {ref['category']}" in turn.captions["focus"]


def test_build_synth_same_seed_same_bytes_other_seed_differs(tmp_path):
    paths = [
        build_synth(tmp_path / name, n_dialogues=3, seed=seed, image_size=(96, 96))
        for name, seed in (("a", 5), ("b", 5), ("c", 6))
    ]
    a, b, c = paths
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    for name in ("000000.png", "000001.png", "000002.png"):
        assert (a.parent / "images" / name).read_bytes() == (
            b.parent / "images" / name
        ).read_bytes()


def test_build_synth_max_turns_and_rebuild_removes_stale_images(tmp_path):
    result = build_synth_benchmark(tmp_path, n_dialogues=6, seed=1, max_turns=3, image_size=96)
    assert max(result.stats.lengths) <= 3 and min(result.stats.lengths) >= 2
    assert len(list((tmp_path / "images").iterdir())) == 6
    build_synth(tmp_path, n_dialogues=2, seed=1, image_size=96)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["000000.png", "000001.png"]


def test_build_synth_refuses_a_folder_with_another_jsonl(tmp_path):
    (tmp_path / "other.jsonl").write_text("{}\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"other\.jsonl"):
        build_synth(tmp_path, n_dialogues=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("224", (224, 224)),
        ("160x120", (160, 120)),
        (96, (96, 96)),
        ((200, 100), (200, 100)),
        ("160X120", (160, 120)),
    ],
)
def test_parse_image_size_accepts_common_spellings(value, expected):
    assert parse_image_size(value) == expected


@pytest.mark.parametrize("value", ["big", "32", "10x300", "1x2x3"])
def test_parse_image_size_rejects_bad_values(value):
    with pytest.raises(UserInputError):
        parse_image_size(value)


@pytest.mark.slow
def test_build_synth_fifty_dialogues_cite_earlier_turns_and_cover_the_relations(tmp_path):
    # its speed is measured by benchmarks/build_synth.py (docs/benchmarks.md)
    result = build_synth_benchmark(tmp_path, n_dialogues=50, seed=0)
    assert result.stats.dialogues == 50
    assert result.stats.referenced_turns >= result.stats.later_turns / 2
    assert len(result.stats.relations) >= 9
