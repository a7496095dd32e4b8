"""``regionreasoner validate``: located problems on stderr, a summary, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from hostile_images import write_bomb_png
from regionreasoner.cli.main import main

PLACEHOLDER = "<box>{context_bbox}</box>"


def _rle(grid: np.ndarray) -> dict[str, Any]:
    rle = coco_mask.encode(np.asfortranarray(grid.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _dialogue(did: str = "d1") -> dict[str, Any]:
    grid = np.zeros((6, 8), dtype=np.uint8)
    grid[1:4, 1:3] = 1
    return {
        "schema_version": 1,
        "dialogue_id": did,
        "image": "img/a.png",
        "image_wh": [8, 6],
        "turns": [
            {
                "turn_index": 0,
                "question": "the cup",
                "refers_to": None,
                "targets": [{"bbox": [1, 1, 3, 4], "mask": _rle(grid)}],
            },
            {
                "turn_index": 1,
                "question": "the plate near {ref}",
                "refers_to": 0,
                "targets": [{"bbox": [4, 2, 7, 5]}],
            },
        ],
    }


def _official(image_id: int = 7) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "image_path": f"img/{image_id}.png",
        "conversational_turns": [
            {"question": "the cup", "bboxes": [[1, 1, 3, 4]]},
            {
                "question": f"near the {PLACEHOLDER}",
                "context_from_turn": 0,
                "bboxes": [[4, 2, 7, 5]],
            },
        ],
    }


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _bad_ref() -> dict[str, Any]:
    row = _dialogue("x")
    row["turns"][1]["refers_to"] = 3
    return row


def _self_ref() -> dict[str, Any]:
    item = _official(9)
    item["conversational_turns"][1]["context_from_turn"] = 1
    return item


def _zero_mask() -> dict[str, Any]:
    row = _dialogue("z")
    row["turns"][0]["targets"][0]["mask"] = _rle(np.zeros((6, 8), dtype=np.uint8))
    return row


_CASES = [
    # (name, file name, content bytes, located fragments expected on stderr)
    ("invalid JSON", "a.jsonl", b'{"dialogue_id": \n', ["a.jsonl: line 1: invalid JSON"]),
    ("bad UTF-8", "a.jsonl", b'{"q": "\xff"}\n', ["a.jsonl: line 1: invalid UTF-8"]),
    ("wrong top-level type", "a.jsonl", b'"just a string"\n', ["line 1: expected a JSON object"]),
    (
        "duplicate id",
        "a.jsonl",
        (json.dumps(_dialogue("a")) + "\n" + json.dumps(_dialogue("a")) + "\n").encode(),
        ["dialogue a: dialogue_id: duplicate dialogue_id (first on line 1)"],
    ),
    (
        "forward reference",
        "a.jsonl",
        (json.dumps(_bad_ref()) + "\n").encode(),
        ["dialogue x: turns[1].refers_to: refers_to 3 points at a later turn"],
    ),
    (
        "escaping image",
        "a.jsonl",
        (json.dumps({**_dialogue("e"), "image": "../../etc/x.png"}) + "\n").encode(),
        ["dialogue e: image: image path '../../etc/x.png' escapes its root"],
    ),
    (
        "official syntax error",
        "o.json",
        b'[\n{"image_id": 1}\n{"image_id": 2}]',
        ["o.json: line 3, column 1: invalid JSON: unexpected '{'"],
    ),
    (
        "official self reference",
        "o.json",
        json.dumps([_self_ref()], indent=2).encode(),
        [
            "o.json: dialogue 9: conversational_turns[1].context_from_turn: context_from_turn "
            "points at the turn itself"
        ],
    ),
    ("official not an object", "o.json", b"[\n 1\n]", ["o.json: line 2: expected an object"]),
    ("empty", "a.jsonl", b"", ["the file holds no dialogues"]),
]


@pytest.mark.parametrize(
    ("name", "content", "fragments"), [c[1:] for c in _CASES], ids=[c[0] for c in _CASES]
)
def test_validate_rejects_with_located_message_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes,
    fragments: list[str],
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    error_lines = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    for fragment in fragments:
        assert any(fragment in line for line in error_lines), captured.err
    assert "INVALID" in captured.out


def test_validate_prints_every_problem_on_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_jsonl(tmp_path / "a.jsonl", [_bad_ref(), {"nope": 1}, _dialogue("ok")])
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    # line 1: refers_to; line 2 (no readable id): dialogue_id, image, turns; line 3 valid
    assert [e.split(": ", 4)[2:4] for e in errors] == [
        ["dialogue x", "turns[1].refers_to"],
        ["line 2", "dialogue_id"],
        ["line 2", "image"],
        ["line 2", "turns"],
    ]
    assert "4 errors" in captured.out


def test_validate_valid_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_jsonl(tmp_path / "a.jsonl", [_dialogue("a"), _dialogue("b")])
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert (
        captured.out == f"{path}: OK (jsonl): 2 dialogues, 4 turns, 2 masks; 0 errors, 0 warnings\n"
    )
    assert captured.err == ""


def test_validate_warnings_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_jsonl(tmp_path / "a.jsonl", [_zero_mask()])
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert "warning: " in captured.err and "all zeros" in captured.err
    assert "1 warning" in captured.out


def test_validate_missing_images_with_images_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_jsonl(tmp_path / "a.jsonl", [_dialogue("a")])
    (tmp_path / "images").mkdir()
    assert main(["validate", str(path)]) == 0
    assert main(["validate", str(path), "--images-root", str(tmp_path / "images")]) == 2
    err = capsys.readouterr().err
    assert "dialogue a: image: image file not found" in err


def test_validate_reports_a_bomb_and_a_non_image_from_their_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{**_dialogue("a"), "image": "img/bomb.png"}, {**_dialogue("b"), "image": "img/b.png"}]
    path = _write_jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "img").mkdir()
    write_bomb_png(tmp_path / "img" / "bomb.png")
    (tmp_path / "img" / "b.png").write_text("not a picture")
    assert main(["validate", str(path), "--images-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    bomb, other = tmp_path / "img" / "bomb.png", tmp_path / "img" / "b.png"
    assert (
        f"dialogue a: image: {bomb} has 400,000,000 pixels, over the limit of "
        "120,000,000 pixels (--max-image-pixels)"
    ) in err
    assert f"dialogue b: image: {other} is not an image" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv", [["validate", "missing.jsonl"], ["validate", "{data}", "--images-root", "missing-dir"]]
)
def test_validate_bad_arguments_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    data = _write_jsonl(tmp_path / "a.jsonl", [_dialogue()])
    argv = [
        a.replace("{data}", str(data)).replace("missing", str(tmp_path / "missing")) for a in argv
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("regionreasoner validate: error:") and "Traceback" not in err


def test_validate_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate", "--help"])
    assert info.value.code == 0
    assert "regionreasoner validate data/" in capsys.readouterr().out


def test_validate_through_a_subprocess(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "a.jsonl", [_dialogue("a"), _bad_ref()])
    proc = subprocess.run(
        [sys.executable, "-m", "regionreasoner", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert f"error: {path}: dialogue x: turns[1].refers_to:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "INVALID" in proc.stdout
