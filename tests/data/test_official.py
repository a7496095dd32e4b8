"""The official release format: streaming reader, per-item rules, conversion to RegionDial."""

from __future__ import annotations

import json
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from pycocotools import mask as coco_mask

from regionreasoner.data.dialogue_checks import Problem
from regionreasoner.data.file_checks import validate_path
from regionreasoner.data.official import (
    OfficialJSONReader,
    as_mask_array,
    binary_grid_from_json,
    convert_official,
    convert_official_item,
    detect_format,
    iter_official_items,
    remove_placeholder,
)
from regionreasoner.errors import DataFormatError, UserInputError

PLACEHOLDER = "<box>{context_bbox}</box>"

# pycocotools' own decode() trips numpy 2's __array__ copy deprecation
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _mask(hw: tuple[int, int], box: tuple[int, int, int, int]) -> list[list[int]]:
    """A dense 0/1 mask (list of rows) with a filled rectangle x1:x2, y1:y2."""
    grid = np.zeros(hw, dtype=np.uint8)
    x1, y1, x2, y2 = box
    grid[y1:y2, x1:x2] = 1
    return grid.tolist()


def _item(image_id: Any = 7, hw: tuple[int, int] = (6, 8), masks: bool = True) -> dict[str, Any]:
    """A valid two-turn official item (turn 1 cites turn 0)."""
    turns: list[dict[str, Any]] = [
        {"question": "the red cup", "bboxes": [[1, 1, 3, 4]]},
        {
            "question": f"the plate near the {PLACEHOLDER}.",
            "context_from_turn": 0,
            "bboxes": [[4, 2, 7, 5]],
        },
    ]
    if masks:
        turns[0].update(ann_ids=[11], masks=[_mask(hw, (1, 1, 3, 4))])
        turns[1].update(ann_ids=[12], masks=[_mask(hw, (4, 2, 7, 5))])
    return {
        "image_id": image_id,
        "conversational_turns": turns,
        "image_path": f"imgs/{image_id}.png",
    }


def _write(path: Path, items: Any, indent: int | str | None = 2, ascii_only: bool = False) -> Path:
    text = json.dumps(items, indent=indent, ensure_ascii=ascii_only)
    path.write_text(text, encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    """Reader output with numpy mask grids turned back into lists, for json.load equality."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- reader

_MIXED = [
    _item(1),
    _item("abc", masks=False),
    {
        "x": [True, False, None, -0.5, 1e-3, 2.5e10, -0, 12345678901234567890],
        "s": 'quote " backslash \\ slash \\/ tab \t unicode é ✓ \u2028 😀',
        "empty": {},
        "nothing": [],
        "nested": {"a": [[1, [2]], {"b": "c"}]},
    },
    {"masks": [[[1]], [[0], [1]], [[0, 1, 0]], "not a grid", [], [[2, 3]], [[0, 1], [1]]]},
    [],
    0,
    "top-level string",
    None,
]


@pytest.mark.parametrize("ascii_only", [False, True])  # True: \uXXXX escapes, surrogate pairs
@pytest.mark.parametrize("indent", [None, 0, 2, "\t"])
@pytest.mark.parametrize("chunk_bytes", [1, 2, 7, 64, 1 << 20])
def test_reader_equals_json_load(
    tmp_path: Path, indent: Any, chunk_bytes: int, ascii_only: bool
) -> None:
    path = _write(tmp_path / "x.json", _MIXED, indent, ascii_only)
    reader = OfficialJSONReader(path, chunk_bytes=chunk_bytes)
    assert [_plain(item.value) for item in reader] == json.load(path.open(encoding="utf-8"))
    assert reader.bytes_read == path.stat().st_size


def test_reader_turns_valid_grids_into_uint8_arrays(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.json", [_MIXED[3]])
    (item,) = iter_official_items(path)
    masks = item["masks"]
    assert isinstance(masks[0], np.ndarray) and masks[0].dtype == np.uint8
    assert masks[1].shape == (2, 1) and masks[2].shape == (1, 3)
    # not valid 0/1 grids: kept as json.load gives them, for the validator to report
    assert masks[3:] == ["not a grid", [], [[2, 3]], [[0, 1], [1]]]


def test_reader_reports_item_start_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('[\n{"a": 1},\n\n  {"b": [\n1]},\n5]', encoding="utf-8")
    assert [(i.index, i.line) for i in OfficialJSONReader(path, chunk_bytes=3)] == [
        (0, 2),
        (1, 4),
        (2, 6),
    ]


def test_reader_skips_a_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"a": "é"}]).encode())
    assert list(iter_official_items(path)) == [{"a": "é"}]
    assert detect_format(path) == "official"


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)  # no lone surrogates
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60)
@given(
    items=st.lists(_JSON_VALUES, max_size=4),
    indent=st.sampled_from([None, 1, 2]),
    chunk=st.sampled_from([1, 5, 4096]),
)
def test_reader_equals_json_load_on_random_json(items: list[Any], indent: Any, chunk: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder) / "x.json", items, indent)
        got = [_plain(item.value) for item in OfficialJSONReader(path, chunk_bytes=chunk)]
        assert got == json.load(path.open(encoding="utf-8"))


@pytest.mark.parametrize(
    ("raw", "line", "fragment"),
    [
        (b'[{"a": 1,}]', 1, "string key"),  # trailing comma in an object
        (b"[1, 2,]", 1, "a JSON value"),  # trailing comma in a list
        (b'[\n{"a": 1}\n{"b": 2}]', 3, "',' or ']'"),  # missing comma between items
        (b"[1, 2", 1, "end of file"),  # truncated
        (b'{"a": 1}', 1, "expected a JSON list"),  # wrong top-level type
        (b"[1]\n x", 2, "extra data"),
        (b"[NaN]", 1, "unexpected 'N'"),  # not JSON
        (b"[01]", 1, "',' or ']'"),  # leading zero
        (b"[tru]", 1, "a JSON value"),
        (b'[\n"abc', 2, "unterminated string"),
        (b'[\n\n"\xff\xfe"]', 3, "invalid UTF-8"),
        (b'["a\x01b"]', 1, "Invalid control character"),
        (b'[\n{"masks": [[[0, 1],\n [1, 0]]', 3, "end of file"),  # unterminated grid
        (b'[\n{"masks": [[[0, 1],,\n [1, 0]]]}]', 2, "invalid JSON"),  # syntax error in a grid
        (b'[{"masks": [[[NaN, 1]]]}]', 1, "NaN"),
        (b"[" * 100 + b"]" * 100, 1, "nesting"),
        (b"\xff[]", 1, "expected a JSON list"),
    ],
)
def test_reader_rejects_malformed_json_with_the_line(
    tmp_path: Path, raw: bytes, line: int, fragment: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(raw)
    with pytest.raises(DataFormatError) as info:
        list(OfficialJSONReader(path, chunk_bytes=4))
    assert info.value.path == str(path)
    assert info.value.record is not None and info.value.record.startswith(f"line {line}")
    assert fragment in str(info.value)


def test_reader_memory_stays_bounded_by_one_element(tmp_path: Path) -> None:
    """Peak Python allocations stay far below the file size (masks never accumulate)."""
    rng = np.random.default_rng(0)
    items = [
        {"image_id": i, "masks": [(rng.random((120, 160)) < 0.5).astype(int).tolist()]}
        for i in range(24)
    ]
    path = _write(tmp_path / "big.json", items)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(
            1 for _ in OfficialJSONReader(path, mask_hook=lambda m: m.shape, chunk_bytes=64 << 10)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 24
    # about 3 elements' worth of text (buffer, compact copy, grid), never the whole file
    assert peak < 4 * size / 24, (peak, size)


# --------------------------------------------------------------------------- grids


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"[[0,1],[1,1]]", [[0, 1], [1, 1]]),
        (b"[\n  [\n    0,\n    1\n  ],\n  [1, 0]\n]", [[0, 1], [1, 0]]),  # json indent=2
        (b"[[1]]", [[1]]),
        (b"[[0],[1],[0]]", [[0], [1], [0]]),  # one column
        (b"[[0,1,0,1]]", [[0, 1, 0, 1]]),  # one row
        (b"[[0,1],[1]]", None),  # ragged
        (b"[[0,1],[1,0,1]]", None),  # ragged, longer
        (b"[[0,2]]", None),  # not binary
        (b"[[10]]", None),  # multi-digit
        (b"[[]]", None),  # empty row
        (b"[]", None),
        (b"[[true]]", None),  # booleans go through json
        (b"[[1.0]]", None),
        (b"[[0,1]],", None),  # trailing garbage
        (b"[[[0]]]", None),  # 3-D
    ],
)
def test_binary_grid_from_json_table(text: bytes, expected: list[list[int]] | None) -> None:
    grid = binary_grid_from_json(text)
    if expected is None:
        assert grid is None
    else:
        assert grid is not None and grid.dtype == np.uint8 and grid.tolist() == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([[True, False]], [[1, 0]]),
        ([[1.0, 0.0]], [[1, 0]]),
        ([[0, 1], [1]], None),  # ragged
        ([[0, 3]], None),
        ([[[0]]], None),
        ([], None),
        ("x", None),
    ],
)
def test_as_mask_array_table(value: Any, expected: list[list[int]] | None) -> None:
    out = as_mask_array(value)
    if expected is None:
        assert out is value
    else:
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.tolist() == expected


# --------------------------------------------------------------------------- item rules


def _problems(value: Any, **kwargs: Any) -> list[tuple[str, str | None, str | None, str]]:
    result = convert_official_item(value, path="f.json", line=3, **kwargs)
    return [(p.severity, p.record, p.field, p.message) for p in result.problems]


def _turn(item: dict[str, Any], i: int) -> dict[str, Any]:
    return item["conversational_turns"][i]


_T0, _T1 = "conversational_turns[0]", "conversational_turns[1]"

_ITEM_CASES = [
    # (description, mutation, field, message fragment)
    ("no image_id", lambda it: it.pop("image_id"), "image_id", "image_id must be"),
    ("bool image_id", lambda it: it.update(image_id=True), "image_id", "image_id must be"),
    ("no image_path", lambda it: it.pop("image_path"), "image_path", "non-empty relative"),
    ("parent path", lambda it: it.update(image_path="../x.png"), "image_path", "escapes"),
    ("absolute path", lambda it: it.update(image_path="/x.png"), "image_path", "escapes"),
    (
        "turns not a list",
        lambda it: it.update(conversational_turns={}),
        "conversational_turns",
        "non-empty list",
    ),
    (
        "no turns",
        lambda it: it.update(conversational_turns=[]),
        "conversational_turns",
        "non-empty list",
    ),
    (
        "turn not an object",
        lambda it: it["conversational_turns"].__setitem__(0, 5),
        _T0,
        "expected an object",
    ),
    (
        "blank question",
        lambda it: _turn(it, 0).update(question="  "),
        f"{_T0}.question",
        "non-empty string",
    ),
    (
        "reserved {ref}",
        lambda it: _turn(it, 0).update(question="a {ref}"),
        f"{_T0}.question",
        "reserved",
    ),
    ("no bboxes", lambda it: _turn(it, 0).pop("bboxes"), f"{_T0}.bboxes", "non-empty list"),
    (
        "three numbers",
        lambda it: _turn(it, 0).update(bboxes=[[1, 2, 3]]),
        f"{_T0}.bboxes[0]",
        "4 finite numbers",
    ),
    (
        "string coordinate",
        lambda it: _turn(it, 0).update(bboxes=[[1, 2, "3", 4]]),
        f"{_T0}.bboxes[0]",
        "4 finite numbers",
    ),
    (
        "inverted box",
        lambda it: _turn(it, 0).update(bboxes=[[3, 1, 1, 4]]),
        f"{_T0}.bboxes[0]",
        "inverted",
    ),
    (
        "self reference",
        lambda it: _turn(it, 1).update(context_from_turn=1),
        f"{_T1}.context_from_turn",
        "the turn itself",
    ),
    (
        "forward reference",
        lambda it: _turn(it, 0).update(context_from_turn=1, question=f"x {PLACEHOLDER}"),
        f"{_T0}.context_from_turn",
        "later turn",
    ),
    (
        "negative reference",
        lambda it: _turn(it, 1).update(context_from_turn=-1),
        f"{_T1}.context_from_turn",
        "missing turn",
    ),
    (
        "string reference",
        lambda it: _turn(it, 1).update(context_from_turn="0"),
        f"{_T1}.context_from_turn",
        "must be an integer",
    ),
    (
        "bool reference",
        lambda it: _turn(it, 1).update(context_from_turn=False),
        f"{_T1}.context_from_turn",
        "must be an integer",
    ),
    (
        "placeholder without reference",
        lambda it: _turn(it, 1).pop("context_from_turn"),
        f"{_T1}.question",
        "context_from_turn is missing",
    ),
    (
        "reference without placeholder",
        lambda it: _turn(it, 1).update(question="the plate"),
        f"{_T1}.question",
        "has no <box>",
    ),
    (
        "ragged mask",
        lambda it: _turn(it, 0).update(masks=[[[0, 1], [1]]]),
        f"{_T0}.masks[0]",
        "not rectangular",
    ),
    (
        "non-binary mask",
        lambda it: _turn(it, 0).update(masks=[[[0, 2], [1, 1]]]),
        f"{_T0}.masks[0]",
        "0 or 1",
    ),
    (
        "mask not a list",
        lambda it: _turn(it, 0).update(masks=[5]),
        f"{_T0}.masks[0]",
        "dense H x W",
    ),
    ("masks not a list", lambda it: _turn(it, 0).update(masks=5), f"{_T0}.masks", "a list"),
    (
        "mask dims differ",
        lambda it: _turn(it, 1).update(masks=[_mask((5, 8), (0, 0, 2, 2))]),
        f"{_T1}.masks[0]",
        "differs from (6, 8)",
    ),
    (
        "more masks than boxes",
        lambda it: _turn(it, 0).update(masks=[_mask((6, 8), (0, 0, 1, 1))] * 2),
        f"{_T0}.masks",
        "2 masks for 1 bboxes",
    ),
    (
        "string ann_id",
        lambda it: _turn(it, 0).update(ann_ids=["11"]),
        f"{_T0}.ann_ids[0]",
        "must be an integer",
    ),
    (
        "more ann_ids than boxes",
        lambda it: _turn(it, 0).update(ann_ids=[1, 2]),
        f"{_T0}.ann_ids",
        "2 ann_ids for 1 bboxes",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "where", "fragment"), [c[1:] for c in _ITEM_CASES], ids=[c[0] for c in _ITEM_CASES]
)
def test_item_rule_violations_are_located(mutate: Any, where: str, fragment: str) -> None:
    item = _item(7)
    mutate(item)
    result = convert_official_item(item, path="f.json", line=3)
    assert result.dialogue is None
    errors = [(p.field, p.message) for p in result.errors]
    assert any(f == where and fragment in m for f, m in errors), errors
    record = "dialogue 7" if _valid_id(item) else "line 3"
    assert all(p.record == record and p.path == "f.json" for p in result.errors)


def _valid_id(item: Any) -> bool:
    return isinstance(item.get("image_id"), int) and not isinstance(item["image_id"], bool)


def test_item_that_is_not_an_object_is_located_by_line() -> None:
    assert _problems([1, 2]) == [
        ("error", "line 3", None, "expected an object per list item, got list")
    ]


def test_item_reports_every_problem_not_just_the_first() -> None:
    item = _item(7)
    _turn(item, 0).update(bboxes=[[3, 1, 1, 4]], question="")
    _turn(item, 1).update(context_from_turn=5)
    fields = {p[2] for p in _problems(item) if p[0] == "error"}
    assert {f"{_T0}.bboxes[0]", f"{_T0}.question", f"{_T1}.context_from_turn"} <= fields


@pytest.mark.parametrize(
    "placeholder",
    [
        PLACEHOLDER,
        "<box> {context_bbox} </box>",
        "< box >{ context_bbox }</ box >",
        "<BOX>{context_bbox}</BOX>",
        "<box>\t{context_bbox}\n</box>",
    ],
)
def test_placeholder_variants_become_ref(placeholder: str) -> None:
    item = _item(7)
    _turn(item, 1)["question"] = f"the plate near the {placeholder}. "
    dialogue = convert_official_item(item).dialogue
    assert dialogue is not None
    assert dialogue.turns[1].question == "the plate near the {ref}. "
    assert dialogue.turns[1].refers_to == 0


def test_conversion_maps_every_field() -> None:
    item = _item(656)
    dialogue = convert_official_item(item, source="official").dialogue
    assert dialogue is not None
    assert dialogue.dialogue_id == "656" and dialogue.image == "imgs/656.png"
    assert dialogue.image_wh == (8, 6)  # (W, H) from the (6, 8) masks
    assert dialogue.source == "official" and dialogue.meta == {"image_id": 656}
    t0, t1 = dialogue.turns
    assert (t0.turn_index, t0.refers_to, t0.question) == (0, None, "the red cup")
    assert (t1.turn_index, t1.refers_to) == (1, 0)
    assert t0.targets[0].bbox == (1.0, 1.0, 3.0, 4.0) and t0.targets[0].ann_id == 11
    assert t1.targets[0].ann_id == 12


def test_rle_round_trip_equals_dense_input_masks() -> None:
    item = _item(1, hw=(9, 13))
    rng = np.random.default_rng(3)
    dense = [(rng.random((9, 13)) < 0.4).astype(np.uint8) for _ in range(2)]
    for i in range(2):
        _turn(item, i)["masks"] = [dense[i].tolist()]
    dialogue = convert_official_item(item).dialogue
    assert dialogue is not None
    for i in range(2):
        rle = dict(dialogue.turns[i].targets[0].mask or {})
        rle["counts"] = rle["counts"].encode("ascii")
        np.testing.assert_array_equal(coco_mask.decode(rle), dense[i])  # reference decoder


def test_all_zero_mask_is_a_warning_not_an_error() -> None:
    item = _item(7)
    _turn(item, 0)["masks"] = [np.zeros((6, 8), dtype=int).tolist()]
    result = convert_official_item(item, path="f.json")
    assert result.dialogue is not None and not result.errors
    assert [(p.severity, p.field) for p in result.problems] == [("warning", f"{_T0}.masks[0]")]
    assert "all zeros" in result.problems[0].message


def test_fewer_masks_than_boxes_is_a_warning_and_the_last_target_has_no_mask() -> None:
    item = _item(7)
    _turn(item, 0)["bboxes"] = [[1, 1, 3, 4], [0, 0, 2, 2]]
    result = convert_official_item(item)
    assert result.dialogue is not None
    targets = result.dialogue.turns[0].targets
    assert targets[0].mask is not None and targets[1].mask is None
    assert {p.severity for p in result.problems} == {"warning"}


def test_question_only_items_convert_without_masks() -> None:
    dialogue = convert_official_item(_item(5, masks=False)).dialogue
    assert dialogue is not None and dialogue.image_wh is None
    assert all(t.mask is None and t.ann_id is None for turn in dialogue.turns for t in turn.targets)


# --------------------------------------------------------------------------- lenient


def _broken_references() -> dict[str, Any]:
    item = _item(7)
    item["conversational_turns"].append(
        {
            "question": f"a cup left of {PLACEHOLDER}",
            "context_from_turn": 2,
            "bboxes": [[0, 0, 2, 2]],
        }
    )  # refers to itself
    _turn(item, 1)["context_from_turn"] = 2  # forward reference
    _turn(item, 0).update(question=f"the cup near the {PLACEHOLDER} .", context_from_turn=0)
    return item


def test_strict_mode_rejects_self_and_forward_references() -> None:
    result = convert_official_item(_broken_references())
    fields = sorted(p.field or "" for p in result.errors)
    assert fields == [f"conversational_turns[{i}].context_from_turn" for i in range(3)]
    assert all("--lenient" in p.message for p in result.errors)


def test_lenient_mode_repairs_and_lists_every_repair() -> None:
    result = convert_official_item(_broken_references(), lenient=True)
    assert result.dialogue is not None and not result.errors
    repairs = [p for p in result.problems if p.severity == "repair"]
    assert [p.field for p in repairs] == [
        f"conversational_turns[{i}].context_from_turn" for i in range(3)
    ]
    t0, t1, t2 = result.dialogue.turns
    assert (t0.refers_to, t0.question) == (None, "the cup near the.")  # nothing earlier
    assert t1.refers_to == 0 and t2.refers_to == 1  # nearest earlier turn


def test_reference_and_placeholder_must_agree_and_lenient_mode_repairs_both() -> None:
    item = _item(7)
    _turn(item, 1).update(question="the plate on the right")  # a reference, no placeholder
    _turn(item, 0).update(question=f"the cup by the {PLACEHOLDER}")  # the reverse
    strict = convert_official_item(item)
    assert [p.field for p in strict.errors] == [
        "conversational_turns[0].question",
        "conversational_turns[1].question",
    ]
    assert all("--lenient" in p.message for p in strict.errors)
    lenient = convert_official_item(item, lenient=True)
    assert lenient.dialogue is not None and not lenient.errors
    assert [(p.severity, p.field) for p in lenient.problems] == [
        ("repair", "conversational_turns[0].question"),
        ("repair", "conversational_turns[1].context_from_turn"),
    ]
    t0, t1 = lenient.dialogue.turns
    assert (t0.question, t0.refers_to) == ("the cup by the", None)
    assert (t1.question, t1.refers_to) == ("the plate on the right", None)


def test_convert_official_lenient_skips_what_it_cannot_repair(tmp_path: Path) -> None:
    no_image = _item(2)
    del no_image["image_path"]
    src = _write(tmp_path / "in.json", [_item(1), no_image, _item(1)])
    seen: list[Problem] = []
    summary = convert_official(src, tmp_path / "out.jsonl", lenient=True, on_problem=seen.append)
    assert (summary.dialogues, summary.skipped) == (1, 2)
    assert [(p.severity, p.record, p.field) for p in seen] == [
        ("skipped", "dialogue 2", "image_path"),
        ("skipped", "dialogue 1", "image_id"),
    ]
    assert validate_path(tmp_path / "out.jsonl").ok
    with pytest.raises(DataFormatError, match="image_path"):
        convert_official(src, tmp_path / "strict.jsonl")
    assert not (tmp_path / "strict.jsonl").exists()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (f"the dog near the {PLACEHOLDER}.", "the dog near the."),
        (f"{PLACEHOLDER} dog", "dog"),
        (f"a  {PLACEHOLDER} , b", "a, b"),
    ],
)
def test_remove_placeholder(question: str, expected: str) -> None:
    assert remove_placeholder(question) == expected


# --------------------------------------------------------------------------- images


def _image(folder: Path, name: str, wh: tuple[int, int]) -> None:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", wh).save(folder / name)


def test_image_wh_comes_from_the_image_header_without_masks(tmp_path: Path) -> None:
    _image(tmp_path, "imgs/5.png", (37, 23))
    dialogue = convert_official_item(_item(5, masks=False), images_root=tmp_path).dialogue
    assert dialogue is not None and dialogue.image_wh == (37, 23)


def test_mask_size_must_match_the_image(tmp_path: Path) -> None:
    _image(tmp_path, "imgs/7.png", (9, 6))  # masks are 8 wide
    result = convert_official_item(_item(7), images_root=tmp_path)
    assert any("disagrees with the image" in p.message for p in result.errors)


def test_missing_image_is_an_error_only_with_images_root(tmp_path: Path) -> None:
    assert convert_official_item(_item(7)).dialogue is not None
    result = convert_official_item(_item(7), images_root=tmp_path)
    assert [(p.field, "not found" in p.message) for p in result.errors] == [("image_path", True)]


# --------------------------------------------------------------------------- files


def test_convert_official_writes_jsonl_that_validates(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.json", [_item(1), _item(2, masks=False)])
    summary = convert_official(src, tmp_path / "out.jsonl")
    assert (summary.dialogues, summary.turns, summary.masks) == (2, 4, 2)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["dialogue_id"] for r in rows] == ["1", "2"]
    assert validate_path(tmp_path / "out.jsonl").ok


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ([_item(1), _item(1)], "duplicate image_id"),
        ([], "no dialogues"),
        ([_item(1), {**_item(2), "image_path": ""}], "image_path"),
    ],
)
def test_convert_official_fails_atomically(tmp_path: Path, items: Any, fragment: str) -> None:
    src = _write(tmp_path / "in.json", items)
    out_dir = tmp_path / "new" / "nested"
    with pytest.raises(DataFormatError, match=fragment):
        convert_official(src, out_dir / "out.jsonl")
    assert not (tmp_path / "new").exists()  # folders it created are removed too


def test_convert_official_refuses_jsonl_and_missing_input(tmp_path: Path) -> None:
    src = tmp_path / "x.jsonl"
    src.write_text('{"dialogue_id": "1"}\n')
    with pytest.raises(DataFormatError, match="official JSON list"):
        convert_official(src, tmp_path / "out.jsonl")
    with pytest.raises(UserInputError, match="not found"):
        convert_official(tmp_path / "missing.json", tmp_path / "out.jsonl")
    with pytest.raises(UserInputError, match="overwrite the input"):
        convert_official(_write(tmp_path / "in.json", [_item(1)]), tmp_path / "in.json")


@st.composite
def _official_dialogue(draw: Any, image_id: int) -> dict[str, Any]:
    height, width = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
    turns = []
    for i in range(draw(st.integers(1, 4))):
        question = draw(words.filter(lambda q: q.strip() and "{" not in q and "<" not in q))
        turn: dict[str, Any] = {"question": question, "bboxes": []}
        ref = draw(st.none() | st.integers(0, i - 1)) if i else None
        if ref is not None:
            turn["context_from_turn"] = ref
            turn["question"] = f"{question} near the {PLACEHOLDER}."
        n_boxes = draw(st.integers(1, 2))
        for _ in range(n_boxes):
            x1, y1 = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
            turn["bboxes"].append(
                [x1, y1, draw(st.integers(x1 + 1, width)), draw(st.integers(y1 + 1, height))]
            )
        n_masks = draw(st.integers(0, n_boxes))
        if n_masks:
            grids = hnp.arrays(np.uint8, (height, width), elements=st.integers(0, 1))
            turn["masks"] = [draw(grids).tolist() for _ in range(n_masks)]
            turn["ann_ids"] = [draw(st.integers(1, 10**9)) for _ in range(n_masks)]
        turns.append(turn)
    return {
        "image_id": image_id,
        "image_path": f"images/{image_id}.jpg",
        "conversational_turns": turns,
    }


@settings(max_examples=40)
@given(data=st.data(), indent=st.sampled_from([None, 2]))
def test_convert_output_always_validates_and_round_trips(data: Any, indent: Any) -> None:
    items = [
        data.draw(_official_dialogue(image_id)) for image_id in range(data.draw(st.integers(1, 3)))
    ]
    with tempfile.TemporaryDirectory() as folder:
        src = _write(Path(folder) / "in.json", items, indent)
        out = Path(folder) / "out.jsonl"
        convert_official(src, out, on_problem=lambda p: None)
        report = validate_path(out)
        assert report.ok, report.problems
        # split on "\n" only: str.splitlines() would also split inside questions at
        # U+0085 / U+2028, which JSON writes raw
        rows = [json.loads(line) for line in out.read_bytes().decode().split("\n") if line]
    assert [r["dialogue_id"] for r in rows] == [str(it["image_id"]) for it in items]
    for row, item in zip(rows, items, strict=True):
        for turn, official in zip(row["turns"], item["conversational_turns"], strict=True):
            assert turn["refers_to"] == official.get("context_from_turn")
            assert turn["question"] == official["question"].replace(PLACEHOLDER, "{ref}")
            assert [t["bbox"] for t in turn["targets"]] == official["bboxes"]
            for target, dense in zip(turn["targets"], official.get("masks", []), strict=False):
                rle = {
                    "size": target["mask"]["size"],
                    "counts": target["mask"]["counts"].encode("ascii"),
                }
                np.testing.assert_array_equal(coco_mask.decode(rle), np.array(dense))
