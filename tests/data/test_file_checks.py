"""File-level validation: every problem reported and located, for both formats."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from regionreasoner.data import file_checks
from regionreasoner.data.file_checks import validate_path
from regionreasoner.errors import UserInputError

PLACEHOLDER = "<box>{context_bbox}</box>"


def _rle(grid: np.ndarray) -> dict[str, Any]:
    """COCO RLE from pycocotools itself (independent of the code under test)."""
    rle = coco_mask.encode(np.asfortranarray(grid.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _dialogue(
    did: str = "d1",
    *,
    image: str = "img/a.png",
    wh: tuple[int, int] = (8, 6),
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    if mask is None:
        mask = np.zeros((wh[1], wh[0]), dtype=np.uint8)
        mask[1:4, 1:3] = 1
    return {
        "schema_version": 1,
        "dialogue_id": did,
        "image": image,
        "image_wh": list(wh),
        "source": "test",
        "turns": [
            {
                "turn_index": 0,
                "question": "the cup",
                "refers_to": None,
                "relation": None,
                "targets": [{"bbox": [1, 1, 3, 4], "mask": _rle(mask), "ann_id": 3}],
            },
            {
                "turn_index": 1,
                "question": "the plate near {ref}",
                "refers_to": 0,
                "relation": "next_to",
                "targets": [{"bbox": [4, 2, 7, 5]}],
            },
        ],
    }


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _located(report: Any) -> list[tuple[str | None, str | None]]:
    return [(p.record, p.field) for p in report.problems]


# --------------------------------------------------------------------------- JSONL


def test_valid_jsonl_file_passes_with_counts(tmp_path: Path) -> None:
    report = validate_path(_jsonl(tmp_path / "ok.jsonl", [_dialogue("a"), _dialogue("b")]))
    assert report.ok and report.format == "jsonl"
    assert (report.dialogues, report.turns, report.masks) == (2, 4, 2)
    assert report.problems == () and report.warnings == ()
    assert "OK" in report.summary()


def test_jsonl_reports_every_problem_with_its_location(tmp_path: Path) -> None:
    bad_record = _dialogue("e")
    bad_record["turns"][1]["refers_to"] = 1
    bad_record["turns"][0]["targets"][0]["bbox"] = [3, 1, 1, 4]
    lines = [
        json.dumps(_dialogue("a")).encode(),
        b'{"dialogue_id": "\xff"}',  # line 2: bad UTF-8
        b'{"dialogue_id": "b",',  # line 3: invalid JSON
        b"",  # blank lines are allowed
        b'["not", "an", "object"]',  # line 5: wrong top-level type
        json.dumps(_dialogue("a")).encode(),  # line 6: duplicate id
        json.dumps(bad_record).encode(),  # line 7: two record problems
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = validate_path(path)
    assert not report.ok and report.error_count == 6
    assert _located(report) == [
        ("line 2", None),
        ("line 3", None),
        ("line 5", None),
        ("dialogue a", "dialogue_id"),
        ("dialogue e", "turns[0].targets[0].bbox"),
        ("dialogue e", "turns[1].refers_to"),
    ]
    messages = [p.message for p in report.problems]
    assert "invalid UTF-8" in messages[0] and "invalid JSON" in messages[1]
    assert "got list" in messages[2] and "first on line 1" in messages[3]
    assert all(p.path == str(path) for p in report.problems)


@pytest.mark.parametrize(
    ("mutate", "where", "fragment"),
    [
        (lambda m: m.update(counts="!!"), "turns[0].targets[0].mask.counts", "not a valid"),
        (lambda m: m.update(counts="12"), "turns[0].targets[0].mask.counts", "cover 3 pixels"),
        (lambda m: m.update(size=[0, 8]), "turns[0].targets[0].mask", "disagrees"),
    ],
)
def test_jsonl_rle_masks_are_checked(
    tmp_path: Path, mutate: Any, where: str, fragment: str
) -> None:
    record = _dialogue("a")
    mutate(record["turns"][0]["targets"][0]["mask"])
    report = validate_path(_jsonl(tmp_path / "x.jsonl", [record]))
    assert [(p.field, fragment in p.message) for p in report.problems] == [
        (where if fragment != "disagrees" else f"{where}.size", True)
    ]


def test_all_zero_mask_is_a_warning(tmp_path: Path) -> None:
    record = _dialogue("a", mask=np.zeros((6, 8), dtype=np.uint8))
    report = validate_path(_jsonl(tmp_path / "x.jsonl", [record]))
    assert report.ok and report.warning_count == 1
    assert [(w.severity, w.field) for w in report.warnings] == [
        ("warning", "turns[0].targets[0].mask")
    ]


def _png(root: Path, name: str, wh: tuple[int, int]) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", wh).save(root / name)


def test_images_are_checked_only_with_images_root(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    _png(root, "img/a.png", (8, 6))
    _png(root, "img/b.png", (9, 6))
    (root / "img/c.png").write_bytes(b"not an image")
    rows = [
        _dialogue("a"),  # fine
        _dialogue("b", image="img/b.png"),  # image_wh says 8 wide, file is 9
        _dialogue("c", image="img/c.png"),  # unreadable
        _dialogue("m", image="img/missing.png"),
        _dialogue("u", image="../outside.png"),  # escapes (rule of the record itself)
    ]
    path = _jsonl(tmp_path / "x.jsonl", rows)
    without = validate_path(path)
    assert _located(without) == [("dialogue u", "image")]
    report = validate_path(path, images_root=root)
    assert _located(report) == [
        ("dialogue b", "image_wh"),
        ("dialogue c", "image"),
        ("dialogue m", "image"),
        ("dialogue u", "image"),
    ]
    assert "not found" in report.problems[2].message


def test_symlink_leading_outside_the_images_root_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    _png(tmp_path, "secret.png", (8, 6))
    os.symlink(tmp_path / "secret.png", root / "link.png")
    report = validate_path(
        _jsonl(tmp_path / "x.jsonl", [_dialogue("a", image="link.png")]), images_root=root
    )
    assert [("outside" in p.message, p.field) for p in report.problems] == [(True, "image")]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    report = validate_path(path)
    assert not report.ok and "no dialogues" in report.problems[0].message


def test_missing_file_or_images_root_raises_user_input_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not found"):
        validate_path(tmp_path / "nope.jsonl")
    path = _jsonl(tmp_path / "x.jsonl", [_dialogue()])
    with pytest.raises(UserInputError, match="images-root"):
        validate_path(path, images_root=tmp_path / "nope")


def test_problems_stream_to_the_callback_and_the_report_caps_what_it_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_checks, "MAX_KEPT_PROBLEMS", 2)
    path = tmp_path / "x.jsonl"
    path.write_text("nope\n" * 5, encoding="utf-8")
    seen: list[Any] = []
    report = validate_path(path, on_problem=seen.append)
    assert len(seen) == 5 and report.error_count == 5
    assert len(report.problems) == 2 and report.truncated
    assert [p.record for p in seen] == [f"line {n}" for n in range(1, 6)]


# --------------------------------------------------------------------------- official


def _official(image_id: Any = 7, *, masks: bool = True) -> dict[str, Any]:
    grid = np.zeros((6, 8), dtype=int)
    grid[1:4, 1:3] = 1
    turns: list[dict[str, Any]] = [
        {"question": "the cup", "bboxes": [[1, 1, 3, 4]]},
        {
            "question": f"the plate near the {PLACEHOLDER}.",
            "context_from_turn": 0,
            "bboxes": [[4, 2, 7, 5]],
        },
    ]
    if masks:
        turns[0].update(ann_ids=[3], masks=[grid.tolist()])
        turns[1].update(ann_ids=[4], masks=[np.roll(grid, 4, axis=1).tolist()])
    return {
        "image_id": image_id,
        "image_path": f"img/{image_id}.png",
        "conversational_turns": turns,
    }


def _json(path: Path, items: Any, indent: int | None = 2) -> Path:
    path.write_text(json.dumps(items, indent=indent), encoding="utf-8")
    return path


@pytest.mark.parametrize("prefix", [b"", b"\n  \t", b"\xef\xbb\xbf"])
def test_official_file_is_detected_and_accepted(tmp_path: Path, prefix: bytes) -> None:
    path = tmp_path / "official.json"
    path.write_bytes(prefix + json.dumps([_official(1), _official(2, masks=False)]).encode())
    report = validate_path(path)
    assert report.ok and report.format == "official", report.problems
    assert (report.dialogues, report.turns, report.masks) == (2, 4, 2)


def test_official_reports_every_problem_with_its_location(tmp_path: Path) -> None:
    bad = _official(8)
    bad["conversational_turns"][1]["context_from_turn"] = 1  # self reference
    bad["conversational_turns"][0]["masks"] = [[[0, 1], [1]]]  # ragged
    zero = _official(9)
    zero["conversational_turns"][0]["masks"] = [np.zeros((6, 8), dtype=int).tolist()]
    items = [_official(7), bad, "not an object", _official(7), zero]
    path = _json(tmp_path / "x.json", items)
    text = path.read_text(encoding="utf-8")
    string_line = text[: text.index('"not an object"')].count("\n") + 1
    report = validate_path(path)
    assert _located(report) == [
        ("dialogue 8", "conversational_turns[0].masks[0]"),
        ("dialogue 8", "conversational_turns[1].context_from_turn"),
        (f"line {string_line}", None),
        ("dialogue 7", "image_id"),
    ]
    assert "not rectangular" in report.problems[0].message
    assert "--lenient" in report.problems[1].message
    assert "duplicate image_id" in report.problems[3].message
    assert [(w.record, w.field) for w in report.warnings] == [
        ("dialogue 9", "conversational_turns[0].masks[0]")
    ]


def test_official_syntax_error_is_located_and_stops_validation(tmp_path: Path) -> None:
    good = json.dumps(_official(7), indent=2)
    path = tmp_path / "x.json"
    path.write_text("[\n" + good + ",\n" + '{"image_id": 8,, "x": 1}\n]', encoding="utf-8")
    line = 2 + good.count("\n") + 1
    report = validate_path(path)
    assert report.dialogues == 1 and report.error_count == 1
    (problem,) = report.problems
    assert problem.record is not None and problem.record.startswith(f"line {line},")
    assert "invalid JSON" in problem.message and "stopped" in problem.message


def test_official_images_are_checked_with_images_root(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    _png(root, "img/7.png", (8, 6))
    _png(root, "img/8.png", (10, 6))  # masks are 8 wide
    items = [_official(7), _official(8), _official(9), {**_official(10), "image_path": "/x.png"}]
    report = validate_path(_json(tmp_path / "x.json", items), images_root=root)
    assert _located(report) == [
        ("dialogue 8", "conversational_turns[0].masks[0]"),
        ("dialogue 9", "image_path"),
        ("dialogue 10", "image_path"),
    ]
    assert "escapes" in report.problems[2].message


def test_official_wrong_top_level_type(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"image_id": 1}\n', encoding="utf-8")  # an object, read as JSONL
    report = validate_path(path)
    assert report.format == "jsonl" and not report.ok
    assert report.problems[0].record == "line 1"
