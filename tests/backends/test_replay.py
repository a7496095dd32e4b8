"""The replay backend re-scores recorded outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regionreasoner.backends import load_backend
from regionreasoner.backends.base import META_DIALOGUE_ID, META_TURN_INDEX, GenerationRequest
from regionreasoner.backends.replay import read_recorded_texts
from regionreasoner.errors import ConfigError, DataFormatError


def _line(dialogue_id: object, turn_index: object, text: object = "t", **extra: object) -> str:
    return (
        json.dumps({"dialogue_id": dialogue_id, "turn_index": turn_index, "text": text, **extra})
        + "\n"
    )


def _req(dialogue_id: str, turn_index: int) -> GenerationRequest:
    return GenerationRequest(
        None, "q", metadata={META_DIALOGUE_ID: dialogue_id, META_TURN_INDEX: turn_index}
    )


def test_replay_returns_recorded_text_and_fails_missing_turns(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        _line("a", 0, "first")
        + _line("a", 0, "second")
        + _line(7, 1, "int id")
        + _line("b", 0, "", failed=True, error="x")
    )
    backend = load_backend(f"replay:{path}")
    out = backend.generate([_req("a", 0), _req("7", 1), _req("b", 0), _req("c", 3)])
    assert [g.text for g in out[:2]] == ["second", "int id"]  # the last row of a turn wins
    assert out[2].failed and out[3].failed and "dialogue c turn 3" in out[3].error
    assert backend.describe()["recorded_turns"] == 2


def test_replay_keeps_the_text_lost_mark_of_a_recorded_row(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(_line("a", 0, "<answer>[]</answer>", text_lost="before_reasoning"))
    path.write_text(path.read_text() + _line("a", 1))
    (lost, whole) = load_backend(f"replay:{path}").generate([_req("a", 0), _req("a", 1)])
    assert (lost.text, lost.text_lost) == ("<answer>[]</answer>", "before_reasoning")
    assert whole.text_lost is None
    path.write_text(_line("a", 0, text_lost=1))
    with pytest.raises(DataFormatError) as info:
        read_recorded_texts(path)
    assert info.value.field == "text_lost"


def test_replay_ignores_a_torn_last_line_only(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(_line("a", 0) + '{"dialogue_id": "a", "turn_in')
    assert set(read_recorded_texts(path)) == {("a", 0)}
    path.write_text('{"dialogue_id": "a", "turn_in\n' + _line("a", 0))
    with pytest.raises(DataFormatError, match="line 1"):
        read_recorded_texts(path)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (_line("a", -1), "turn_index"),
        (_line(None, 0), "dialogue_id"),
        (_line("a", 0, None), "text"),
    ],
)
def test_replay_rejects_bad_rows(tmp_path: Path, line: str, field: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(line)
    with pytest.raises(DataFormatError) as info:
        read_recorded_texts(path)
    assert info.value.field == field


def test_replay_spec_needs_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="replay:<"):
        load_backend("replay:")
    with pytest.raises(ConfigError, match="not found"):
        load_backend(f"replay:{tmp_path / 'nope.jsonl'}")
