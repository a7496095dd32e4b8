"""Prediction rows and the run directory of ``regionreasoner eval`` (DESIGN 3.3).

:class:`TurnRecord` is one finished turn, written as one line of ``predictions.jsonl``.
:class:`PredictionsLog` appends rows durably: every row is flushed as soon as its turn
finishes and the file is ``fsync``-ed at the end of every round, so a run killed at any
moment (even with SIGKILL in the middle of a write) loses at most the turns in flight.
On resume a torn last line is discarded by truncating the file after its last newline,
and the rows already on disk are kept as they are.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.evaluation.report import (
    CONFIG_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    REPORT_HTML_FILE,
    REPORT_MD_FILE,
    ROUNDS_PNG_FILE,
)
from regionreasoner.fileio import atomic_write, dump_json_line

logger = logging.getLogger(__name__)

RUN_FILES = (
    CONFIG_FILE,
    PREDICTIONS_FILE,
    METRICS_FILE,
    REPORT_MD_FILE,
    REPORT_HTML_FILE,
    ROUNDS_PNG_FILE,
)
"""Files ``eval`` writes into a run directory (``--overwrite`` removes only these)."""

RESUME_KEYS = (
    "data",
    "model",
    "protocol",
    "reference_policy",
    "prompt",
    "frame",
    "segmenter",
    "shard",
    "max_new_tokens",
    "temperature",
    "seed",
    "limit",
)
"""Settings that must not change when a run is resumed (they change the outputs)."""

TurnKey = tuple[str, int]


def _num(value: float) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def boxes_to_json(xyxy: npt.ArrayLike) -> list[list[int | float]]:
    """``(N, 4)`` boxes as JSON lists (integral values written as ints)."""
    return [[_num(v) for v in box] for box in np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)]


def points_to_json(points: npt.ArrayLike) -> list[list[int | float] | None]:
    """``(N, 2)`` points as JSON lists; a NaN row (no point) becomes ``null``."""
    out: list[list[int | float] | None] = []
    for point in np.asarray(points, dtype=np.float64).reshape(-1, 2):
        out.append([_num(v) for v in point] if np.isfinite(point).all() else None)
    return out


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One finished turn: a ``predictions.jsonl`` row.

    Coordinates are original-image pixels unless the name says otherwise.

    Attributes:
        dialogue_id, turn_index: the turn (``turn_index`` 0-based, round = index + 1).
        refers_to: the cited earlier turn, or ``None``.
        relation: the data's relation between the target and the cited region
            (``above``, ``inside``, ...), or ``None``.
        protocol, reference_policy: how the turn was run.
        question: the question with the reference substituted.
        prompt: the full user text sent to the model.
        text: the model's completion ("" when the backend failed); for a server that
            split it into several fields, rebuilt in the model's order.
        text_lost: why part of the completion is missing from ``text`` (the server
            dropped it, e.g. ``before_reasoning``), or ``None``; format and citation
            metrics are then unavailable.
        failed: the backend failed after its retries (scored as a miss).
        error: the failure message, or ``None``.
        attempts: backend attempts for this turn.
        latency_s: seconds the request waited for its answer.
        pred_bboxes: ``(N, 4)`` predicted boxes.
        pred_points: ``N`` points, ``None`` for an item without a point.
        reference_bbox: the substituted reference box, or ``None``.
        reference_prompt_bbox: the reference numbers as written in the prompt.
        reference_text: the substituted text, or ``None``.
        reference_source: ``predicted``, ``ground_truth``, ``fallback_gt`` or ``none``.
        reference_missing: the turn cites an earlier region but nothing was substituted.
        mask: predicted union mask (RLE), or ``None`` (no segmenter or failed turn).
        gt_bboxes: the turn's ground-truth boxes (the first one is scored).
        gt_mask: RLE of the first target's mask, or ``None``.
        intersection, union: mask pixel counts against ``gt_mask`` (``None`` when
            either mask source is absent).
        parse_issues: ``{"code", "message"}`` of each problem found in the text.
        format_ok: well-formed output with at least one usable region.
        cited_reference: ``<think>`` cites the reference (``None``: no reference).
        hallucinated_citation: ``<think>`` cites a ``bbox`` that is not the reference.
        model_wh: ``(W, H)`` of the frame the model saw.
        image_wh: ``(W, H)`` of the original image.
    """

    dialogue_id: str
    turn_index: int
    refers_to: int | None
    relation: str | None
    protocol: str
    reference_policy: str
    question: str
    prompt: str
    text: str
    text_lost: str | None
    failed: bool
    error: str | None
    attempts: int
    latency_s: float
    pred_bboxes: list[list[int | float]]
    pred_points: list[list[int | float] | None]
    reference_bbox: list[int | float] | None
    reference_prompt_bbox: list[int | float] | None
    reference_text: str | None
    reference_source: str
    reference_missing: bool
    mask: dict[str, Any] | None
    gt_bboxes: list[list[int | float]]
    gt_mask: dict[str, Any] | None
    intersection: int | None
    union: int | None
    parse_issues: list[dict[str, str]]
    format_ok: bool
    cited_reference: bool | None
    hallucinated_citation: bool | None
    model_wh: list[int]
    image_wh: list[int]

    def to_row(self) -> dict[str, Any]:
        """The JSON-ready row (a shallow dict: the values are JSON-ready already)."""
        return {name: getattr(self, name) for name in _RECORD_FIELDS}


_RECORD_FIELDS = tuple(f.name for f in fields(TurnRecord))


def repair_torn_tail(path: Path) -> int:
    """Truncate ``path`` after its last newline (a torn last write); returns bytes cut."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        handle.seek(max(0, size - 1))
        if handle.read(1) == b"\n":
            return 0
        # Scan back in blocks for the last newline.
        block = 1 << 16
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            chunk = handle.read(end - start)
            index = chunk.rfind(b"\n")
            if index >= 0:
                keep = start + index + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    logger.warning("%s: discarded a torn last line (%d bytes)", path, size - keep)
    return size - keep


def load_rows(path: Path) -> dict[TurnKey, dict[str, Any]]:
    """Rows of a (repaired) ``predictions.jsonl`` keyed by turn; the last row of a turn wins.

    Raises:
        DataFormatError: an invalid line or a row without ``dialogue_id``/``turn_index``.
    """
    rows: dict[TurnKey, dict[str, Any]] = {}
    if not path.exists():
        return rows
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise DataFormatError(
                    f"invalid JSON ({e}); remove the line or start a new run directory",
                    path=str(path),
                    record=f"line {number}",
                ) from e
            if not isinstance(row, dict):
                raise DataFormatError(
                    "expected a JSON object", path=str(path), record=f"line {number}"
                )
            dialogue_id, turn_index = row.get("dialogue_id"), row.get("turn_index")
            if not isinstance(dialogue_id, str) or not isinstance(turn_index, int):
                raise DataFormatError(
                    "a row needs a string dialogue_id and an int turn_index",
                    path=str(path),
                    record=f"line {number}",
                )
            rows[(dialogue_id, turn_index)] = row
    return rows


class PredictionsLog:
    """Durable append-only writer of ``predictions.jsonl``.

    Use as a context manager; :meth:`append` flushes every row, :meth:`sync` fsyncs
    (called once per round), and closing syncs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self.rows_written = 0

    def __enter__(self) -> PredictionsLog:
        repair_torn_tail(self.path)
        self._handle = open(self.path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, row: Mapping[str, Any]) -> None:
        """Write one row as one line and flush it to the OS."""
        if self._handle is None:
            raise RuntimeError("PredictionsLog is not open")
        self._handle.write(dump_json_line(row))
        self._handle.flush()
        self.rows_written += 1

    def sync(self) -> None:
        """Force the written rows to disk."""
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Sync and close."""
        if self._handle is not None:
            self.sync()
            self._handle.close()
            self._handle = None


def check_run_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Check, without changing anything, that ``out`` may be used as a run directory.

    Without ``resume``, an existing non-empty directory is an error unless ``overwrite``.

    Raises:
        UserInputError: ``out`` is a file, or non-empty without ``--resume``/``--overwrite``,
            or both flags were given.
    """
    if resume and overwrite:
        raise UserInputError("--resume and --overwrite exclude each other")
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not resume and not overwrite:
        raise UserInputError(
            f"--out {out}: the run directory is not empty; pass --resume to continue "
            "that run or --overwrite to start it again"
        )


def prepare_run_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Check ``out`` (see :func:`check_run_dir`), then create it; ``overwrite`` removes
    only the files ``eval`` writes (:data:`RUN_FILES`), never other files.

    Raises:
        UserInputError: as :func:`check_run_dir`.
    """
    check_run_dir(out, resume=resume, overwrite=overwrite)
    if overwrite and out.is_dir():
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def read_config(out: Path) -> dict[str, Any] | None:
    """``config.json`` of a run directory, or ``None`` when there is none.

    Raises:
        DataFormatError: the file is not a JSON object.
    """
    path = out / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(f"invalid JSON ({e})", path=str(path)) from e
    if not isinstance(config, dict):
        raise DataFormatError("expected a JSON object", path=str(path))
    return config


def write_config(out: Path, config: Mapping[str, Any]) -> None:
    """Write ``config.json`` atomically."""
    with atomic_write(out / CONFIG_FILE) as handle:
        json.dump(config, handle, indent=2, allow_nan=False, default=str)
        handle.write("\n")


def check_resume_compatible(
    old: Mapping[str, Any], new: Mapping[str, Any], *, keys: Sequence[str] = RESUME_KEYS
) -> None:
    """Refuse to resume with settings that would change the outputs.

    Raises:
        UserInputError: one of ``keys`` differs, naming it and both values.
    """
    for key in keys:
        if old.get(key) != new.get(key):
            raise UserInputError(
                f"cannot resume: {key} was {old.get(key)!r} in {CONFIG_FILE}, now "
                f"{new.get(key)!r}; use the original settings or a new --out"
            )
