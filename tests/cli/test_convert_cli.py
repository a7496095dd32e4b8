"""``regionreasoner convert``: official JSON -> RegionDial JSONL, atomic, located errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from hostile_images import write_bomb_png
from regionreasoner.cli.main import main

PLACEHOLDER = "<box>{context_bbox}</box>"

# pycocotools' own decode() trips numpy 2's __array__ copy deprecation
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


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


def _write(path: Path, items: Any) -> Path:
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().decode().split("\n") if line]


def test_convert_writes_regiondial_jsonl_that_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path / "official.json", [_official(7), _official(8, masks=False)])
    out = tmp_path / "out" / "bench.jsonl"
    assert main(["convert", str(src), str(out)]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}: 2 dialogues, 4 turns, 2 masks; 0 warnings, 0 repairs" in captured.out
    rows = _rows(out)
    assert [r["dialogue_id"] for r in rows] == ["7", "8"]
    assert rows[0]["image_wh"] == [8, 6] and rows[1]["image_wh"] is None
    assert rows[0]["turns"][1]["question"] == "the plate near the {ref}."
    assert rows[0]["turns"][1]["refers_to"] == 0
    assert rows[0]["turns"][0]["targets"][0]["mask"]["size"] == [6, 8]
    assert sorted(p.name for p in out.parent.iterdir()) == ["bench.jsonl"]  # no temp file
    assert main(["validate", str(out)]) == 0


def test_convert_reads_image_sizes_from_images_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "raw"
    (root / "img").mkdir(parents=True)
    Image.new("RGB", (640, 427)).save(root / "img" / "8.png")
    src = _write(tmp_path / "q.json", [_official(8, masks=False)])
    out = tmp_path / "q.jsonl"
    assert main(["convert", str(src), str(out), "--images-root", str(root)]) == 0
    assert _rows(out)[0]["image_wh"] == [640, 427]


def test_convert_reports_a_bomb_image_from_its_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "raw"
    (root / "img").mkdir(parents=True)
    write_bomb_png(root / "img" / "8.png")
    src = _write(tmp_path / "q.json", [_official(8, masks=False)])
    out = tmp_path / "q.jsonl"
    assert main(["convert", str(src), str(out), "--images-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert (
        f"dialogue 8: image_path: {root / 'img' / '8.png'} has 400,000,000 pixels, over the "
        "limit of 120,000,000 pixels (--max-image-pixels)"
    ) in err
    assert not out.exists()


def _late_syntax_error(tmp_path: Path) -> Path:
    path = tmp_path / "official.json"
    text = json.dumps([_official(1), _official(2)], indent=2)
    path.write_text(text[:-2] + ",,\n]", encoding="utf-8")  # after two valid dialogues
    return path


def _line_of(path: Path, needle: str) -> int:
    text = path.read_text(encoding="utf-8")
    return text[: text.index(needle)].count("\n") + 1


def _with(item: dict[str, Any], turn: int, **changes: Any) -> dict[str, Any]:
    item["conversational_turns"][turn].update(changes)
    return item


_FAILURES = [
    # (name, build input, extra argv, located fragment on stderr)
    (
        "syntax error late in the file",
        _late_syntax_error,
        [],
        lambda src: (
            f"official.json: line {_line_of(src, ',,')}, column 5: invalid JSON: unexpected ','"
        ),
    ),
    (
        "self reference",
        lambda d: _write(
            d / "official.json", [_official(1), _with(_official(2), 1, context_from_turn=1)]
        ),
        [],
        "official.json: dialogue 2: conversational_turns[1].context_from_turn: "
        "context_from_turn points at the turn itself",
    ),
    (
        "forward reference",
        lambda d: _write(
            d / "official.json",
            [_with(_official(3), 0, context_from_turn=1, question=f"x {PLACEHOLDER}")],
        ),
        [],
        "dialogue 3: conversational_turns[0].context_from_turn: context_from_turn 1 points "
        "at a later turn",
    ),
    (
        "ragged mask",
        lambda d: _write(d / "official.json", [_with(_official(4), 0, masks=[[[0, 1], [1]]])]),
        [],
        "dialogue 4: conversational_turns[0].masks[0]: rows have different lengths",
    ),
    (
        "duplicate image_id",
        lambda d: _write(d / "official.json", [_official(5), _official(5)]),
        [],
        "dialogue 5: image_id: duplicate image_id",
    ),
    (
        "missing image",
        lambda d: _write(d / "official.json", [_official(6)]),
        ["--images-root", "{root}"],
        "dialogue 6: image_path: image file not found",
    ),
    (
        "escaping image path",
        lambda d: _write(d / "official.json", [{**_official(7), "image_path": "../../x.png"}]),
        [],
        "dialogue 7: image_path: image path '../../x.png' escapes its root",
    ),
    (
        "not an object",
        lambda d: _write(d / "official.json", [_official(1), "oops"]),
        [],
        lambda src: (
            f"official.json: line {_line_of(src, 'oops')}: expected an object per list item"
        ),
    ),
    (
        "JSONL input",
        lambda d: (d / "official.json").write_text('{"a": 1}\n') and d / "official.json",
        [],
        "expected the official JSON list format",
    ),
    ("missing input", lambda d: d / "official.json", [], "input file not found"),
    ("empty list", lambda d: _write(d / "official.json", []), [], "no dialogues"),
]


@pytest.mark.parametrize(
    ("build", "extra", "fragment"), [c[1:] for c in _FAILURES], ids=[c[0] for c in _FAILURES]
)
def test_convert_failure_exits_2_located_and_leaves_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    build: Any,
    extra: list[str],
    fragment: str,
) -> None:
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    (tmp_path / "images").mkdir()
    src = build(src_dir)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    argv = ["convert", str(src), str(out_dir / "bench.jsonl")]
    argv += [a.replace("{root}", str(tmp_path / "images")) for a in extra]
    if callable(fragment):
        fragment = fragment(src)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("regionreasoner convert: error: ")
    assert fragment in err, err
    assert "Traceback" not in err
    assert list(out_dir.iterdir()) == []  # neither output nor temporary file


def test_convert_failure_keeps_an_existing_output_and_creates_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _late_syntax_error(tmp_path)
    existing = tmp_path / "old.jsonl"
    existing.write_text("previous content\n")
    assert main(["convert", str(src), str(existing)]) == 2
    assert existing.read_text() == "previous content\n"
    assert main(["convert", str(src), str(tmp_path / "new" / "dir" / "b.jsonl")]) == 2
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["official.json", "old.jsonl"]
    capsys.readouterr()


def test_convert_lenient_repairs_and_lists_every_repair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    item = _official(3)
    item["conversational_turns"].append(
        {
            "question": f"the fork under {PLACEHOLDER}",
            "context_from_turn": 2,
            "bboxes": [[0, 0, 2, 2]],
        }
    )  # refers to itself
    _with(item, 0, context_from_turn=0, question=f"the cup near the {PLACEHOLDER}.")
    src = _write(tmp_path / "official.json", [item])
    out = tmp_path / "bench.jsonl"
    assert main(["convert", str(src), str(out)]) == 2
    assert not out.exists()
    capsys.readouterr()
    assert main(["convert", str(src), str(out), "--lenient"]) == 0
    captured = capsys.readouterr()
    repairs = [line for line in captured.err.splitlines() if line.startswith("repair: ")]
    assert len(repairs) == 2
    assert "conversational_turns[0].context_from_turn: repaired" in repairs[0]
    assert "conversational_turns[2].context_from_turn: repaired" in repairs[1]
    assert "2 repairs" in captured.out and "2 lenient repairs" in captured.err
    turns = _rows(out)[0]["turns"]
    assert [t["refers_to"] for t in turns] == [None, 0, 1]
    assert turns[0]["question"] == "the cup near the."
    assert main(["validate", str(out)]) == 0


def test_convert_reports_all_zero_masks_as_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    item = _with(_official(4), 1, masks=[np.zeros((6, 8), dtype=int).tolist()])
    src = _write(tmp_path / "official.json", [item])
    assert main(["convert", str(src), str(tmp_path / "b.jsonl")]) == 0
    captured = capsys.readouterr()
    assert "warning: " in captured.err
    assert "dialogue 4: conversational_turns[1].masks[0]: ground-truth mask is all zeros" in (
        captured.err
    )
    assert "1 warning, 0 repairs" in captured.out


def test_convert_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["convert", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "regionreasoner convert raw/" in out and "--lenient" in out


def test_convert_through_a_subprocess(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "official.json", [_official(1), _with(_official(2), 1, context_from_turn=1)]
    )
    out = tmp_path / "out" / "b.jsonl"
    cmd = [sys.executable, "-m", "regionreasoner", "convert", str(src), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "dialogue 2: conversational_turns[1].context_from_turn:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
    proc = subprocess.run(
        [*cmd, "--lenient"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["turns"][1]["refers_to"] for r in _rows(out)] == [0, 0]


def _released_defects() -> list[dict[str, Any]]:
    """One dialogue per defect class seen in the released question files, plus
    dialogues that cannot be repaired without inventing a fact."""
    chain: dict[str, Any] = _official(4, masks=False)
    chain["conversational_turns"].append(
        {
            "question": f"the spoon by {PLACEHOLDER}",
            "context_from_turn": 2,
            "bboxes": [[0, 0, 2, 2]],
        }
    )  # refers to itself
    _with(chain, 1, context_from_turn=2)  # refers to a later turn
    no_image = _official(5, masks=False)
    del no_image["image_path"]
    bad_box = _with(_official(6, masks=False), 0, bboxes=[[5, 5, 1, 1]])
    return [
        _official(1),  # nothing to repair
        _with(_official(2), 1, question="the plate on the right."),  # ref, no placeholder
        _with(_official(3, masks=False), 0, question=f"the cup left of the {PLACEHOLDER} ."),
        chain,
        no_image,  # image_path missing
        bad_box,
        _official(1, masks=False),  # duplicate image_id
    ]


def test_convert_lenient_gets_through_every_released_defect_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path / "official.json", _released_defects())
    out = tmp_path / "bench.jsonl"
    assert main(["convert", str(src), str(out)]) == 2  # strict: unchanged, nothing written
    assert not out.exists() and "dialogue 2: conversational_turns[1].question" in (
        capsys.readouterr().err
    )

    assert main(["convert", str(src), str(out), "--lenient"]) == 3
    captured = capsys.readouterr()
    rows = {r["dialogue_id"]: r for r in _rows(out)}
    assert list(rows) == ["1", "2", "3", "4"]  # every repairable dialogue, in file order
    assert rows["1"] == _rows_of(tmp_path, [_official(1)])[0]  # untouched
    plain = rows["2"]["turns"][1]
    assert (plain["question"], plain["refers_to"]) == ("the plate on the right.", None)
    literal = rows["3"]["turns"][0]
    assert (literal["question"], literal["refers_to"]) == ("the cup left of the.", None)
    assert [t["refers_to"] for t in rows["4"]["turns"]] == [None, 0, 1]

    repairs = [line for line in captured.err.splitlines() if line.startswith("repair: ")]
    assert [line.split(": ")[2:4] for line in repairs] == [
        ["dialogue 2", "conversational_turns[1].context_from_turn"],
        ["dialogue 3", "conversational_turns[0].question"],
        ["dialogue 4", "conversational_turns[1].context_from_turn"],
        ["dialogue 4", "conversational_turns[2].context_from_turn"],
    ]
    assert "reference dropped, question unchanged" in repairs[0]
    assert "placeholder removed, question now 'the cup left of the.'" in repairs[1]
    assert "pointed at a later turn; now 0" in repairs[2]
    assert "pointed at the turn itself; now 1" in repairs[3]
    skipped = [line for line in captured.err.splitlines() if line.startswith("skipped: ")]
    assert len(skipped) == 3
    assert "dialogue 5: image_path: image_path must be a non-empty" in skipped[0]
    assert "dialogue 6: conversational_turns[0].bboxes[0]:" in skipped[1]
    assert "dialogue 1: image_id: duplicate image_id" in skipped[2]
    assert "4 repairs, 3 skipped" in captured.out
    assert "3 dialogues skipped" in captured.err and "exit code 3" in captured.err

    assert main(["validate", str(out)]) == 0  # strict validation accepts the output


def _rows_of(tmp_path: Path, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    src = _write(tmp_path / "clean.json", items)
    assert main(["convert", str(src), str(tmp_path / "clean.jsonl")]) == 0
    return _rows(tmp_path / "clean.jsonl")


def test_convert_lenient_with_nothing_to_keep_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_image = _official(5)
    del no_image["image_path"]
    src = _write(tmp_path / "official.json", [no_image])
    out = tmp_path / "bench.jsonl"
    assert main(["convert", str(src), str(out), "--lenient"]) == 2
    assert not out.exists()
    assert "no dialogue could be kept (1 skipped)" in capsys.readouterr().err
