"""RegionDial record types: dict round trips, strict construction, question rendering."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest

from regionreasoner.data.schema import (
    KNOWN_RELATIONS,
    PAPER_RELATIONS,
    REF_PLACEHOLDER,
    SCHEMA_VERSION,
    Dialogue,
    Target,
    Turn,
)
from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.geometry.masks import xyxy_to_mask
from regionreasoner.geometry.rle import encode_rle

CAR_RLE = encode_rle(xyxy_to_mask([[12, 1, 303, 109]], (640, 480)))

RECORD = {
    "schema_version": 1,
    "dialogue_id": "656",
    "image": "images/656.jpg",
    "image_wh": [640, 480],
    "source": "refcocog/test",
    "turns": [
        {
            "turn_index": 0,
            "question": "the silver car in the background",
            "refers_to": None,
            "relation": None,
            "targets": [
                {
                    "bbox": [12, 1, 303, 109],
                    "mask": CAR_RLE,
                    "ann_id": 123,
                    "category": "car",
                }
            ],
        },
        {
            "turn_index": 1,
            "question": "a car parked behind a motorcycle near {ref}",
            "refers_to": 0,
            "relation": "next_to",
            "targets": [{"bbox": [462.5, 1, 640, 191.25]}],
        },
    ],
}


def test_constants():
    assert SCHEMA_VERSION == 1
    assert REF_PLACEHOLDER == "{ref}"
    assert PAPER_RELATIONS == (
        "next_to",
        "above",
        "below",
        "left_of",
        "right_of",
        "inside",
        "overlapping",
        "touching",
    )
    assert set(PAPER_RELATIONS) <= set(KNOWN_RELATIONS)
    assert len(set(KNOWN_RELATIONS)) == len(KNOWN_RELATIONS)


def test_from_dict_builds_typed_records():
    d = Dialogue.from_dict(copy.deepcopy(RECORD))
    assert d.dialogue_id == "656"
    assert d.image == "images/656.jpg"
    assert d.image_wh == (640, 480)
    assert d.source == "refcocog/test"
    assert len(d.turns) == 2
    first, second = d.turns
    assert isinstance(first, Turn) and isinstance(first.targets[0], Target)
    assert first.targets[0].bbox == (12.0, 1.0, 303.0, 109.0)
    assert first.targets[0].ann_id == 123 and first.targets[0].category == "car"
    assert first.targets[0].mask == CAR_RLE
    assert not first.has_reference
    assert second.has_reference and second.refers_to == 0 and second.relation == "next_to"
    assert second.targets[0].mask is None


def test_round_trip_is_exact():
    d = Dialogue.from_dict(copy.deepcopy(RECORD))
    out = d.to_dict()
    assert out == RECORD
    # integral coordinates stay ints in JSON, fractional ones stay floats
    assert json.dumps(out["turns"][0]["targets"][0]["bbox"]) == "[12, 1, 303, 109]"
    assert json.dumps(out["turns"][1]["targets"][0]["bbox"]) == "[462.5, 1, 640, 191.25]"
    assert Dialogue.from_dict(out) == d


def test_optional_fields_round_trip():
    record = copy.deepcopy(RECORD)
    del record["image_wh"]
    del record["source"]
    record["meta"] = {"origin": "test", "n": 2}
    record["turns"][0]["captions"] = {"scene": "a street", "focus": "a car"}
    d = Dialogue.from_dict(record)
    assert d.image_wh is None and d.source is None
    assert d.meta == {"origin": "test", "n": 2}
    assert d.turns[0].captions == {"scene": "a street", "focus": "a car"}
    out = d.to_dict()
    assert out["image_wh"] is None and out["source"] is None
    assert out["meta"] == record["meta"]
    assert out["turns"][0]["captions"] == record["turns"][0]["captions"]
    assert "captions" not in out["turns"][1]


def test_target_to_dict_omits_unset_fields():
    assert Target(bbox=(1.0, 2.0, 3.5, 4.0)).to_dict() == {"bbox": [1, 2, 3.5, 4]}
    full = Target(bbox=(0, 0, 1, 1), mask={"size": [1, 1], "counts": "01"}, ann_id=0, category="x")
    assert full.to_dict() == {
        "bbox": [0, 0, 1, 1],
        "mask": {"size": [1, 1], "counts": "01"},
        "ann_id": 0,  # 0 is a real id, not "unset"
        "category": "x",
    }


@pytest.mark.parametrize(
    ("refers_to", "question", "reference", "expected"),
    [
        (0, "the cup left of {ref}", "bbox=[1,2,3,4]", "the cup left of bbox=[1,2,3,4]"),
        (0, "the cup left of {ref}", None, "the cup left of [missing]"),
        (0, "between {ref} and {ref}", "X", "between X and X"),
        (None, "the cup", "bbox=[1,2,3,4]", "the cup"),
    ],
)
def test_render_question(refers_to, question, reference, expected):
    turn = Turn(
        turn_index=1, question=question, targets=(Target((0, 0, 1, 1)),), refers_to=refers_to
    )
    assert turn.render_question(reference) == expected


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.update(dialogue_id=None), "dialogue_id"),
        (lambda r: r["turns"][1].update(refers_to=3), "turns[1].refers_to"),
        (
            lambda r: r["turns"][0]["targets"][0].update(bbox=[5, 5, 1, 1]),
            "turns[0].targets[0].bbox",
        ),
    ],
)
def test_from_dict_raises_located_error(mutate, field):
    record = copy.deepcopy(RECORD)
    mutate(record)
    with pytest.raises(DataFormatError) as info:
        Dialogue.from_dict(record, path="bench.jsonl", line=7)
    err = info.value
    assert isinstance(err, UserInputError) and isinstance(err, ValueError)
    assert err.field == field
    assert err.path == "bench.jsonl"
    assert field in str(err) and "bench.jsonl" in str(err)
    # the record is named by its id when readable, else by its line
    assert err.record == ("line 7" if field == "dialogue_id" else "dialogue 656")


def test_from_dict_accepts_records_with_only_warnings():
    # an all-zero ground-truth mask is valid data (validation warns about it)
    record = copy.deepcopy(RECORD)
    record["turns"][0]["targets"][0]["mask"] = encode_rle(np.zeros((480, 640), dtype=bool))
    d = Dialogue.from_dict(record)
    assert d.turns[0].targets[0].mask["size"] == [480, 640]


def test_from_dict_rejects_non_object():
    with pytest.raises(DataFormatError, match="JSON object"):
        Dialogue.from_dict(["not", "a", "dict"], line=3)


def test_records_are_frozen():
    d = Dialogue.from_dict(copy.deepcopy(RECORD))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.image = "other.jpg"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.turns[0].question = "x"  # type: ignore[misc]
