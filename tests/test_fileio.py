"""Atomic writes, line-numbered JSONL reading, compact JSON lines."""

from __future__ import annotations

import json
import math

import pytest

from regionreasoner.errors import DataFormatError
from regionreasoner.fileio import atomic_write, dump_json_line, iter_jsonl


def test_atomic_write_creates_file_and_parents(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with atomic_write(target) as handle:
        handle.write("héllo\n")
        assert not target.exists()  # nothing visible before the rename
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_write_replaces_existing(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    with atomic_write(target) as handle:
        handle.write("new")
    assert target.read_text(encoding="utf-8") == "new"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_write_failure_keeps_old_content_and_cleans_up(tmp_path, error):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(type(error)), atomic_write(target) as handle:
        handle.write("half")
        raise error
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_write_failure_creates_nothing(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(ValueError), atomic_write(target) as handle:
        handle.write("x")
        raise ValueError("bad input")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_binary(tmp_path):
    target = tmp_path / "b.bin"
    with atomic_write(target, "wb") as handle:
        handle.write(b"\x00\xff")
    assert target.read_bytes() == b"\x00\xff"


def test_iter_jsonl_numbers_lines_and_skips_blanks(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n  \n[1, 2]\n"s"', encoding="utf-8")
    assert list(iter_jsonl(path)) == [(1, {"a": 1}), (4, [1, 2]), (5, "s")]


def test_iter_jsonl_invalid_json_is_located(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    rows = iter_jsonl(path)
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(DataFormatError, match="invalid JSON") as info:
        next(rows)
    assert info.value.path == str(path)
    assert info.value.record == "line 2"


def test_iter_jsonl_invalid_utf8_is_located(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(DataFormatError, match="invalid UTF-8") as info:
        list(iter_jsonl(path))
    assert info.value.record == "line 2"


def test_iter_jsonl_handles_crlf(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\r\n{"b": 2}\r\n')
    assert list(iter_jsonl(path)) == [(1, {"a": 1}), (2, {"b": 2})]


@pytest.mark.parametrize(
    ("obj", "line"),
    [
        ({"a": [1, 2.5], "b": None}, '{"a":[1,2.5],"b":null}\n'),
        ({"q": "café ü"}, '{"q":"café ü"}\n'),
        ({"q": "a\nb"}, '{"q":"a\\nb"}\n'),  # newlines escaped: one record, one line
        ([], "[]\n"),
    ],
)
def test_dump_json_line(obj, line):
    out = dump_json_line(obj)
    assert out == line
    assert out.count("\n") == 1
    assert json.loads(out) == obj


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_dump_json_line_refuses_non_finite(value):
    with pytest.raises(ValueError):
        dump_json_line({"x": value})


def test_dump_json_line_unicode_line_separators_stay_on_one_line():
    """U+2028/U+2029/U+0085 are escaped so splitlines() sees exactly one record."""
    value = {"question": "a\u2028b\u2029c\x85d"}
    line = dump_json_line(value)
    assert len(line.splitlines()) == 1
    assert json.loads(line) == value
