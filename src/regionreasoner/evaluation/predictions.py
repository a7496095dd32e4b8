"""Reading ``predictions.jsonl`` of a run directory (DESIGN 3.3), tolerant of resumes.

``regionreasoner eval`` appends one row per finished turn, so a file can hold several
rows of one turn (a resumed or retried run) and, after a crash, a torn last line. The
reader keeps the LAST complete row of each ``(dialogue_id, turn_index)`` and ignores a
torn last line with a warning; invalid JSON anywhere else is an error.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from regionreasoner.errors import DataFormatError

logger = logging.getLogger(__name__)

TurnKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PredictionRows:
    """Deduplicated rows of one or more ``predictions.jsonl`` files.

    Attributes:
        rows: one row per ``(dialogue_id, turn_index)``, sorted by that key.
        duplicates: rows replaced by a later row of the same turn.
        incomplete: rows skipped because they were incomplete (see :func:`is_complete_row`).
        torn_lines: files whose torn last line was ignored.
    """

    rows: tuple[dict[str, Any], ...]
    duplicates: int = 0
    incomplete: int = 0
    torn_lines: int = 0


def row_key(row: dict[str, Any], *, path: str | None = None, line: int | None = None) -> TurnKey:
    """``(dialogue_id, turn_index)`` of a row.

    Raises:
        DataFormatError: the id or the turn index is missing or of the wrong type.
    """
    record = f"line {line}" if line is not None else None
    dialogue_id = row.get("dialogue_id")
    if not isinstance(dialogue_id, str | int) or isinstance(dialogue_id, bool):
        raise DataFormatError(
            f"expected a string dialogue_id, got {dialogue_id!r}",
            path=path,
            record=record,
            field="dialogue_id",
        )
    turn_index = row.get("turn_index")
    if isinstance(turn_index, bool) or not isinstance(turn_index, int) or turn_index < 0:
        raise DataFormatError(
            f"expected a non-negative int turn_index, got {turn_index!r}",
            path=path,
            record=record or f"dialogue {dialogue_id}",
            field="turn_index",
        )
    return str(dialogue_id), turn_index


def is_complete_row(row: dict[str, Any]) -> bool:
    """Whether a row records a finished turn: a failed turn, or one with ``pred_bboxes``."""
    return row.get("failed") is True or isinstance(row.get("pred_bboxes"), list)


def _iter_file(path: str | os.PathLike[str]) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
    name = str(path)
    with open(path, "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    ends_with_newline = data.endswith(b"\n")
    out: list[tuple[int, dict[str, Any]]] = []
    torn = False
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        is_last = number == len(lines) and not ends_with_newline
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            if is_last:
                logger.warning(
                    "%s: ignoring the torn last line %d (no trailing newline, "
                    "invalid JSON): the run was probably interrupted",
                    name,
                    number,
                )
                torn = True
                continue
            raise DataFormatError(
                f"invalid JSON row ({e})", path=name, record=f"line {number}"
            ) from e
        if not isinstance(obj, dict):
            raise DataFormatError(
                f"expected a JSON object, got {type(obj).__name__}",
                path=name,
                record=f"line {number}",
            )
        out.append((number, obj))
    return out, torn


def read_prediction_rows(paths: Iterable[str | os.PathLike[str]]) -> PredictionRows:
    """Read and deduplicate rows from one or more ``predictions.jsonl`` files (shards).

    Files are read in the order given; a later complete row of the same turn replaces an
    earlier one (also across files, with a warning when shards overlap).

    Raises:
        DataFormatError: invalid JSON (other than a torn last line), a non-object row,
            or a row without a usable ``dialogue_id``/``turn_index``.
    """
    kept: dict[TurnKey, dict[str, Any]] = {}
    owner: dict[TurnKey, str] = {}
    duplicates = incomplete = torn_lines = 0
    for path in paths:
        name = str(path)
        rows, torn = _iter_file(path)
        torn_lines += int(torn)
        for line, row in rows:
            key = row_key(row, path=name, line=line)
            if not is_complete_row(row):
                incomplete += 1
                continue
            if key in kept:
                duplicates += 1
                if owner[key] != name:
                    logger.warning(
                        "%s: dialogue %s turn %d also appears in %s; keeping the row read last",
                        name,
                        key[0],
                        key[1],
                        owner[key],
                    )
            kept[key] = row
            owner[key] = name
    if incomplete:
        logger.warning(
            "skipped %d incomplete prediction rows (neither pred_bboxes nor failed=true)",
            incomplete,
        )
    ordered = tuple(kept[k] for k in sorted(kept))
    return PredictionRows(
        ordered, duplicates=duplicates, incomplete=incomplete, torn_lines=torn_lines
    )


__all__ = ["PredictionRows", "TurnKey", "is_complete_row", "read_prediction_rows", "row_key"]
