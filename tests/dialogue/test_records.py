"""Prediction rows on disk: torn-tail repair, loading, the durable log, run dirs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from regionreasoner.dialogue.records import (
    RESUME_KEYS,
    PredictionsLog,
    boxes_to_json,
    check_resume_compatible,
    load_rows,
    points_to_json,
    prepare_run_dir,
    repair_torn_tail,
)
from regionreasoner.errors import DataFormatError, UserInputError


def _row(dialogue_id: str, turn_index: int, **extra: object) -> str:
    return json.dumps({"dialogue_id": dialogue_id, "turn_index": turn_index, **extra}) + "\n"


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


def test_load_rows_last_row_of_a_turn_wins_and_bad_lines_raise(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(_row("a", 0, text="old") + _row("a", 1) + _row("a", 0, text="new"))
    rows = load_rows(path)
    assert set(rows) == {("a", 0), ("a", 1)} and rows[("a", 0)]["text"] == "new"
    path.write_text(_row("a", 0) + "{broken\n" + _row("a", 1))
    with pytest.raises(DataFormatError, match="line 2"):
        load_rows(path)
    assert load_rows(tmp_path / "missing.jsonl") == {}


def test_predictions_log_appends_after_repairing(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(_row("a", 0) + '{"dialogue_id": "a", "tur')
    with PredictionsLog(path) as log:
        log.append({"dialogue_id": "a", "turn_index": 1})
        log.sync()
    lines = path.read_text().splitlines()
    assert [json.loads(x)["turn_index"] for x in lines] == [0, 1]


def test_prepare_run_dir_refuses_non_empty_without_flags(tmp_path: Path) -> None:
    out = tmp_path / "run"
    prepare_run_dir(out, resume=False, overwrite=False)  # creates it
    (out / "predictions.jsonl").write_text(_row("a", 0))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match="--resume"):
        prepare_run_dir(out, resume=False, overwrite=False)
    prepare_run_dir(out, resume=True, overwrite=False)  # allowed
    prepare_run_dir(out, resume=False, overwrite=True)
    assert not (out / "predictions.jsonl").exists()
    assert (out / "notes.txt").read_text() == "mine"  # only eval's own files are removed
    with pytest.raises(UserInputError, match="exclude"):
        prepare_run_dir(out, resume=True, overwrite=True)


# Every setting that changes a run's outputs, with the value it had and another value.
# Written out here (not read from RESUME_KEYS) so that dropping a key from the check fails.
OUTPUT_SETTINGS = {
    "data": ("/runs/bench.jsonl", "/runs/other.jsonl"),
    "model": ("hf:/models/rr-7b", "hf:/models/rr-3b"),
    "protocol": ("paper", "official"),
    "reference_policy": ("predicted", "oracle"),
    "prompt": ("regionreasoner", "visionreasoner"),
    "frame": ("square840", "native"),
    "segmenter": ("sam2", "box-fill"),
    "shard": ("0/4", "1/4"),
    "max_new_tokens": (1024, 512),
    "temperature": (0.0, 0.7),
    "seed": (0, 1),
    "limit": (None, 10),
}
THROUGHPUT_SETTINGS = {"batch_size": (8, 16), "concurrency": (4, 32), "window": (256, 64)}


def _config(**changed: object) -> dict[str, object]:
    base = {key: old for key, (old, _) in {**OUTPUT_SETTINGS, **THROUGHPUT_SETTINGS}.items()}
    return {**base, **changed}


@pytest.mark.parametrize("key", list(OUTPUT_SETTINGS))
def test_resume_refuses_each_setting_that_changes_the_outputs(key: str) -> None:
    old, new = OUTPUT_SETTINGS[key]
    with pytest.raises(UserInputError) as caught:
        check_resume_compatible(_config(), _config(**{key: new}))
    message = str(caught.value)
    assert message.startswith(f"cannot resume: {key} was {old!r}")
    assert f"now {new!r}" in message


def test_resume_compares_exactly_the_output_settings() -> None:
    assert set(RESUME_KEYS) == set(OUTPUT_SETTINGS)


@pytest.mark.parametrize("key", list(THROUGHPUT_SETTINGS))
def test_resume_accepts_other_throughput_settings(key: str) -> None:
    check_resume_compatible(_config(), _config(**{key: THROUGHPUT_SETTINGS[key][1]}))


def test_json_helpers_keep_integers_and_null_points() -> None:
    assert boxes_to_json(np.array([[1.0, 2.5, 3.0, 4.0]])) == [[1, 2.5, 3, 4]]
    assert points_to_json(np.array([[1.0, 2.0], [np.nan, np.nan]])) == [[1, 2], None]
