"""``predictions.jsonl``: the one reader (resume, score, replay) and the durable writer."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from regionreasoner.errors import DataFormatError
from regionreasoner.evaluation.predictions import (
    PredictionsLog,
    is_complete_row,
    read_done_rows,
    read_prediction_rows,
    read_row_lines,
    repair_torn_tail,
    row_key,
)


def _row(dialogue_id: object, turn_index: object, **extra: object) -> str:
    return json.dumps({"dialogue_id": dialogue_id, "turn_index": turn_index, **extra}) + "\n"


def _done(dialogue_id: object, turn_index: int, **extra: object) -> str:
    return _row(dialogue_id, turn_index, pred_bboxes=[], **extra)


@pytest.mark.parametrize(
    ("content", "kept"),
    [
        (b"", b""),
        (b'{"a": 1}\n', b'{"a": 1}\n'),  # intact
        (b'{"a": 1}\n{"b": 2', b'{"a": 1}\n'),  # torn mid-line
        (b'{"a": 1}\n{"b": 2}', b'{"a": 1}\n'),  # complete JSON but no newline: still cut
        (b'{"a": 1', b""),  # the only line torn
    ],
)
def test_repair_torn_tail_truncates_after_last_newline(
    tmp_path: Path, content: bytes, kept: bytes
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    assert repair_torn_tail(path) == len(content) - len(kept)
    assert path.read_bytes() == kept


def test_repair_torn_tail_scans_back_over_long_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    first = _row("a", 0).encode()
    path.write_bytes(first + b'{"x": "' + b"y" * 200_000)
    repair_torn_tail(path)
    assert path.read_bytes() == first


def test_predictions_log_appends_after_repairing(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(_row("a", 0) + '{"dialogue_id": "a", "tur')
    with PredictionsLog(path) as log:
        log.append({"dialogue_id": "a", "turn_index": 1})
        log.sync()
    lines = path.read_text().splitlines()
    assert [json.loads(x)["turn_index"] for x in lines] == [0, 1]


# --- one set of rules for every reader ------------------------------------------------


@pytest.mark.parametrize(
    ("row", "key"),
    [
        ({"dialogue_id": "656", "turn_index": 0}, ("656", 0)),
        ({"dialogue_id": 656, "turn_index": 2}, ("656", 2)),  # int id: convert's str(image_id)
        ({"dialogue_id": "", "turn_index": 0}, ("", 0)),
    ],
)
def test_row_key_reads_string_and_int_ids_as_strings(row: dict, key: tuple) -> None:
    assert row_key(row) == key


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"turn_index": 0}, "dialogue_id"),
        ({"dialogue_id": None, "turn_index": 0}, "dialogue_id"),
        ({"dialogue_id": True, "turn_index": 0}, "dialogue_id"),  # a bool is not an id
        ({"dialogue_id": 1.5, "turn_index": 0}, "dialogue_id"),
        ({"dialogue_id": ["a"], "turn_index": 0}, "dialogue_id"),
        ({"dialogue_id": "a"}, "turn_index"),
        ({"dialogue_id": "a", "turn_index": "0"}, "turn_index"),
        ({"dialogue_id": "a", "turn_index": -1}, "turn_index"),
        ({"dialogue_id": "a", "turn_index": False}, "turn_index"),
        ({"dialogue_id": "a", "turn_index": 1.0}, "turn_index"),
    ],
)
def test_row_key_rejects_unusable_keys_naming_file_line_and_field(row: dict, field: str) -> None:
    with pytest.raises(DataFormatError) as info:
        row_key(row, path="p.jsonl", line=3)
    assert (info.value.path, info.value.record, info.value.field) == ("p.jsonl", "line 3", field)


def test_int_and_string_ids_of_one_turn_are_duplicates_and_the_last_wins(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(_done(656, 0, text="int") + _done("656", 0, text="str") + _done("7", 1))
    read = read_prediction_rows([path])
    assert [r["text"] for r in read.rows if r["turn_index"] == 0] == ["str"]
    assert read.duplicates == 1
    assert set(read.by_turn) == {("656", 0), ("7", 1)}
    assert read_done_rows(path)[("656", 0)]["text"] == "str"


def test_duplicates_keep_the_last_complete_row_within_and_across_shards(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = tmp_path / "s0.jsonl", tmp_path / "s1.jsonl"
    first.write_text(_done("a", 0, text="old") + _done("a", 1) + _done("a", 0, text="new"))
    second.write_text(_done("a", 0, text="shard 1") + _done("b", 0))
    with caplog.at_level(logging.WARNING):
        read = read_prediction_rows([first, second])
    assert [(r["dialogue_id"], r["turn_index"]) for r in read.rows] == [
        ("a", 0),
        ("a", 1),
        ("b", 0),
    ]  # sorted by turn, whatever the file order
    assert read.by_turn[("a", 0)]["text"] == "shard 1" and read.duplicates == 2
    assert "also appears in" in caplog.text  # the shards overlap


def test_incomplete_rows_are_skipped_so_a_resume_redoes_their_turns(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        _row("a", 0, text="no boxes")  # neither pred_bboxes nor failed: incomplete
        + _row("a", 1, failed=True)
        + _done("a", 2)
        + _done("a", 3, failed=False)
        + _row("a", 4, failed="yes")  # failed must be true, not truthy
    )
    read = read_prediction_rows([path])
    assert set(read.by_turn) == {("a", 1), ("a", 2), ("a", 3)} and read.incomplete == 2
    assert set(read_done_rows(path)) == {("a", 1), ("a", 2), ("a", 3)}
    assert is_complete_row({"failed": True}) and not is_complete_row({"pred_bboxes": None})


@pytest.mark.parametrize("tail", ['{"dialogue_id": "a", "tur', '{"dialogue_id": "a"', "\xff"])
def test_a_torn_last_line_is_ignored_and_counted(
    tmp_path: Path, tail: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes((_done("a", 0) + tail).encode("latin-1"))
    with caplog.at_level(logging.WARNING):
        read = read_prediction_rows([path])
    assert set(read.by_turn) == {("a", 0)} and read.torn_lines == 1
    assert "torn last line 2" in caplog.text
    assert read_row_lines(path).torn


def test_a_complete_last_row_without_a_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(_done("a", 0) + _done("a", 1).rstrip("\n"))
    read = read_prediction_rows([path])
    assert set(read.by_turn) == {("a", 0), ("a", 1)} and read.torn_lines == 0


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (_done("a", 0) + "{broken\n" + _done("a", 1), "line 2", "invalid JSON"),
        ('{"dialogue_id": "a", "tur\n', "line 1", "invalid JSON"),  # torn, but a newline follows
        (_done("a", 0) + '["a", 0]\n', "line 2", "expected a JSON object"),
        (_done("a", 0) + _done(None, 1), "line 2", "dialogue_id"),
    ],
)
def test_bad_lines_other_than_a_torn_tail_are_errors(
    tmp_path: Path, content: str, line: str, message: str
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=message) as info:
        read_prediction_rows([path])
    assert info.value.record == line and info.value.path == str(path)
    with pytest.raises(DataFormatError, match=message):
        read_done_rows(path)  # resume applies the same rules


def test_blank_lines_are_skipped_and_a_missing_file_has_no_done_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("\n" + _done("a", 0) + "  \n\n" + _done("a", 1))
    assert [n for n, _ in read_row_lines(path)] == [2, 5]
    assert read_done_rows(tmp_path / "missing.jsonl") == {}
