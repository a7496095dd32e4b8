"""``dialogue_problems``: every rule has a malformed example reported at the right field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from regionreasoner.data.dialogue_checks import (
    Problem,
    dialogue_problems,
    image_path_escapes,
    record_label,
)
from regionreasoner.errors import DataFormatError
from regionreasoner.geometry.masks import xyxy_to_mask
from regionreasoner.geometry.rle import encode_rle

W, H = 8, 6
MASK = encode_rle(xyxy_to_mask([[1, 1, 3, 4]], (W, H)))


def valid_record() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "dialogue_id": "d1",
        "image": "img/a.png",
        "image_wh": [W, H],
        "source": "test",
        "turns": [
            {
                "turn_index": 0,
                "question": "the cup",
                "refers_to": None,
                "relation": None,
                "targets": [{"bbox": [1, 1, 3, 4], "mask": copy.deepcopy(MASK), "ann_id": 3}],
            },
            {
                "turn_index": 1,
                "question": "the plate near {ref}",
                "refers_to": 0,
                "relation": "next_to",
                "captions": {"scene": "a table", "focus": "a cup"},
                "targets": [{"bbox": [4.5, 2, 7, 5], "category": "plate"}],
            },
        ],
    }


def test_valid_record_has_no_problems():
    assert dialogue_problems(valid_record()) == []


def test_minimal_valid_record():
    minimal = {
        "dialogue_id": "x",
        "image": "a.jpg",
        "turns": [{"turn_index": 0, "question": "q", "targets": [{"bbox": [0, 0, 1, 1]}]}],
    }
    assert dialogue_problems(minimal) == []


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(record: dict[str, Any]) -> None:
        obj = record
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(record: dict[str, Any]) -> None:
        obj = record
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]

    return mutate


T0 = ("turns", 0)
T1 = ("turns", 1)
TG0 = (*T0, "targets", 0)

# (mutation, expected field path, fragment of the message)
RULES = [
    pytest.param(_set(("schema_version",), 2), "schema_version", "schema_version", id="version"),
    pytest.param(
        _set(("schema_version",), True), "schema_version", "schema_version", id="ver-bool"
    ),
    pytest.param(_set(("schema_version",), [1]), "schema_version", "schema_version", id="ver-list"),
    pytest.param(_set(("dialogue_id",), ""), "dialogue_id", "non-empty", id="id-empty"),
    pytest.param(_set(("dialogue_id",), 5), "dialogue_id", "string", id="id-int"),
    pytest.param(_delete(("dialogue_id",)), "dialogue_id", "string", id="id-missing"),
    pytest.param(_set(("image",), ""), "image", "non-empty", id="image-empty"),
    pytest.param(_set(("image",), None), "image", "non-empty", id="image-null"),
    pytest.param(_set(("image",), "/abs/a.png"), "image", "escapes", id="image-absolute"),
    pytest.param(_set(("image",), "../a.png"), "image", "escapes", id="image-dotdot"),
    pytest.param(_set(("image",), "img/../../a.png"), "image", "escapes", id="image-climbs"),
    pytest.param(_set(("image",), "C:\\a.png"), "image", "escapes", id="image-drive"),
    pytest.param(_set(("image_wh",), [W]), "image_wh", "image_wh", id="wh-short"),
    pytest.param(_set(("image_wh",), [W, 0]), "image_wh", "positive", id="wh-zero"),
    pytest.param(_set(("image_wh",), [8.0, 6.0]), "image_wh", "integers", id="wh-float"),
    pytest.param(_set(("image_wh",), [True, 6]), "image_wh", "integers", id="wh-bool"),
    pytest.param(_set(("image_wh",), "8x6"), "image_wh", "image_wh", id="wh-string"),
    pytest.param(_set(("source",), 3), "source", "source", id="source"),
    pytest.param(_set(("turns",), []), "turns", "non-empty", id="turns-empty"),
    pytest.param(_set(("turns",), {"0": {}}), "turns", "list", id="turns-dict"),
    pytest.param(_set(T0, "a turn"), "turns[0]", "object", id="turn-not-object"),
    pytest.param(_set((*T0, "turn_index"), "0"), "turns[0].turn_index", "integer", id="index-str"),
    pytest.param(_set((*T0, "turn_index"), False), "turns[0].turn_index", "integer", id="idx-bool"),
    pytest.param(_set((*T1, "turn_index"), 2), "turns[1].turn_index", "position", id="index-gap"),
    pytest.param(_set((*T0, "question"), "  "), "turns[0].question", "non-empty", id="q-blank"),
    pytest.param(_set((*T0, "question"), 7), "turns[0].question", "non-empty", id="q-int"),
    pytest.param(_set((*T1, "refers_to"), "0"), "turns[1].refers_to", "integer", id="ref-str"),
    pytest.param(_set((*T1, "refers_to"), True), "turns[1].refers_to", "integer", id="ref-bool"),
    pytest.param(_set((*T1, "refers_to"), 1), "turns[1].refers_to", "itself", id="ref-self"),
    pytest.param(_set((*T1, "refers_to"), 5), "turns[1].refers_to", "later", id="ref-later"),
    pytest.param(_set((*T1, "refers_to"), -1), "turns[1].refers_to", "missing", id="ref-negative"),
    pytest.param(
        _set((*T0, "question"), "near {ref}"),
        "turns[0].question",
        "refers_to is null",
        id="placeholder-without-ref",
    ),
    pytest.param(
        _set((*T1, "question"), "the plate"),
        "turns[1].question",
        "no {ref}",
        id="ref-no-placeholder",
    ),
    pytest.param(_set((*T1, "relation"), "beside"), "turns[1].relation", "unknown", id="relation"),
    pytest.param(
        _set((*T1, "captions"), "a table"), "turns[1].captions", "captions", id="capt-str"
    ),
    pytest.param(
        _set((*T1, "captions"), {"scene": 1}), "turns[1].captions", "captions", id="caption-value"
    ),
    pytest.param(_set((*T0, "targets"), []), "turns[0].targets", "non-empty", id="targets-empty"),
    pytest.param(_delete((*T0, "targets")), "turns[0].targets", "non-empty", id="targets-gone"),
    pytest.param(_set(TG0, [1, 1, 3, 4]), "turns[0].targets[0]", "object", id="target-list"),
    pytest.param(_set((*TG0, "bbox"), [1, 1, 3]), "turns[0].targets[0].bbox", "4", id="bbox-len"),
    pytest.param(
        _set((*TG0, "bbox"), [1, 1, "3", 4]), "turns[0].targets[0].bbox", "finite", id="bbox-str"
    ),
    pytest.param(
        _set((*TG0, "bbox"), [1, 1, float("nan"), 4]),
        "turns[0].targets[0].bbox",
        "finite",
        id="bbox-nan",
    ),
    pytest.param(
        _set((*TG0, "bbox"), [True, 1, 3, 4]), "turns[0].targets[0].bbox", "finite", id="bbox-bool"
    ),
    pytest.param(
        _set((*TG0, "bbox"), [3, 1, 1, 4]), "turns[0].targets[0].bbox", "inverted", id="bbox-inv"
    ),
    pytest.param(
        _set((*TG0, "bbox"), [1, 4, 3, 4]), "turns[0].targets[0].bbox", "empty", id="bbox-flat"
    ),
    pytest.param(
        _set((*TG0, "mask"), [[0, 1], [1, 0]]),
        "turns[0].targets[0].mask",
        "COCO RLE",
        id="mask-dense",
    ),
    pytest.param(
        _set((*TG0, "mask"), {"size": [H, W], "counts": [1, 2]}),
        "turns[0].targets[0].mask",
        "COCO RLE",
        id="mask-list-counts",
    ),
    pytest.param(
        _set((*TG0, "mask"), {"size": [H], "counts": "0"}),
        "turns[0].targets[0].mask",
        "COCO RLE",
        id="mask-size-len",
    ),
    pytest.param(
        _set((*TG0, "mask"), encode_rle(np.ones((W, H)))),
        "turns[0].targets[0].mask.size",
        "disagrees",
        id="mask-size-vs-image-wh",
    ),
    pytest.param(
        _set((*TG0, "mask"), {"size": [H, W], "counts": "\x01\x02"}),
        "turns[0].targets[0].mask.counts",
        "counts",
        id="mask-counts-garbage",
    ),
    pytest.param(
        _set((*TG0, "mask"), {"size": [H, W], "counts": encode_rle(np.ones((2, 2)))["counts"]}),
        "turns[0].targets[0].mask.counts",
        "pixels",
        id="mask-counts-wrong-total",
    ),
    pytest.param(
        _set((*TG0, "ann_id"), "3"), "turns[0].targets[0].ann_id", "integer", id="ann-str"
    ),
    pytest.param(_set((*TG0, "ann_id"), 3.5), "turns[0].targets[0].ann_id", "integer", id="ann-f"),
    pytest.param(_set((*TG0, "category"), 1), "turns[0].targets[0].category", "string", id="cat"),
]


@pytest.mark.parametrize(("mutate", "field", "fragment"), RULES)
def test_each_rule_is_reported_at_its_field(mutate, field, fragment):
    record = valid_record()
    mutate(record)
    problems = dialogue_problems(record, path="bench.jsonl", line=4)
    errors = [p for p in problems if p.severity == "error"]
    assert [p.field for p in errors] == [field], [str(p) for p in problems]
    (problem,) = errors
    assert fragment in problem.message
    assert problem.path == "bench.jsonl"
    readable_id = isinstance(record.get("dialogue_id"), str | int) and not isinstance(
        record.get("dialogue_id"), bool
    )
    assert problem.record == (f"dialogue {record['dialogue_id']}" if readable_id else "line 4")


def test_all_zero_mask_is_a_warning_not_an_error():
    record = valid_record()
    record["turns"][0]["targets"][0]["mask"] = encode_rle(np.zeros((H, W), dtype=bool))
    problems = dialogue_problems(record)
    assert [(p.field, p.severity) for p in problems] == [("turns[0].targets[0].mask", "warning")]


@pytest.mark.parametrize("obj", [None, [], "text", 3])
def test_non_object_record(obj):
    (problem,) = dialogue_problems(obj, path="f.jsonl", line=9)
    assert problem.field is None
    assert problem.record == "line 9"
    assert "JSON object" in problem.message


def test_every_problem_is_reported_not_only_the_first():
    record = valid_record()
    record["image"] = "../x.png"
    record["turns"][0]["targets"][0]["bbox"] = [3, 3, 1, 1]
    record["turns"][1]["relation"] = "beside"
    record["turns"][1]["targets"][0]["category"] = 4
    fields = [p.field for p in dialogue_problems(record)]
    assert fields == [
        "image",
        "turns[0].targets[0].bbox",
        "turns[1].relation",
        "turns[1].targets[0].category",
    ]


def test_unknown_version_stops_further_checks():
    # a future schema may change every other rule: report only the version
    record = valid_record()
    record["schema_version"] = 99
    record["image"] = ""
    assert [p.field for p in dialogue_problems(record)] == ["schema_version"]


@pytest.mark.parametrize(
    ("obj", "line", "label"),
    [
        ({"dialogue_id": "656"}, 3, "dialogue 656"),
        ({"dialogue_id": 656}, 3, "dialogue 656"),
        ({"dialogue_id": True}, 3, "line 3"),
        ({"dialogue_id": None}, 3, "line 3"),
        ({}, None, None),
        ("not a dict", 2, "line 2"),
    ],
)
def test_record_label(obj, line, label):
    assert record_label(obj, line) == label


@pytest.mark.parametrize(
    ("image", "escapes"),
    [
        ("a.jpg", False),
        ("img/a.jpg", False),
        ("img/../a.jpg", False),  # stays inside
        ("./a.jpg", False),
        ("..a.jpg", False),  # a file name starting with dots
        ("../a.jpg", True),
        ("img/../../a.jpg", True),
        ("..", True),
        ("/etc/passwd", True),
        ("\\\\server\\share\\a.jpg", True),
        ("..\\a.jpg", True),
        ("C:\\images\\a.jpg", True),
        ("c:a.jpg", True),
    ],
)
def test_image_path_escapes(image, escapes):
    assert image_path_escapes(image) is escapes


def test_problem_to_error_and_str():
    p = Problem("bad box", path="f.jsonl", record="dialogue 7", field="turns[0].targets[0].bbox")
    err = p.to_error()
    assert isinstance(err, DataFormatError)
    assert (err.path, err.record, err.field, err.message) == (
        "f.jsonl",
        "dialogue 7",
        "turns[0].targets[0].bbox",
        "bad box",
    )
    assert str(p) == "f.jsonl: dialogue 7: turns[0].targets[0].bbox: bad box"
    assert p.severity == "error"
