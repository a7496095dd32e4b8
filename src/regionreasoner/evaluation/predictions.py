"""``predictions.jsonl`` of a run directory (DESIGN 3.3): the one reader and the one writer.

``regionreasoner eval`` appends one row per finished turn through :class:`PredictionsLog`:
every row is flushed as soon as its turn finishes and the file is ``fsync``-ed at the end
of every round, so a run killed at any moment (even with SIGKILL in the middle of a write)
loses at most the turns in flight. A file can therefore hold several rows of one turn (a
resumed or retried run) and, after a crash, a torn last line.

One set of rules for every reader (``eval --resume``, ``score``, the ``replay`` backend):

- a row is keyed by :func:`row_key`: ``dialogue_id`` a string or an int (written by
  other tools; ``656`` and ``"656"`` are the same dialogue, as ``convert`` makes
  ``str(image_id)``), ``turn_index`` a non-negative int; anything else is an error
  naming the file, the line and the field;
- a torn last line (no newline after it and not valid JSON) is ignored with a warning;
  invalid JSON anywhere else is an error; blank lines are skipped;
- :func:`read_prediction_rows` keeps the LAST complete row of each turn, across the
  files of one run's shards too (:func:`is_complete_row`: incomplete rows are counted
  and skipped, so a resumed run redoes their turns).

On resume the torn tail is cut off the file itself (:func:`repair_torn_tail`) before new
rows are appended after it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from regionreasoner.errors import DataFormatError
from regionreasoner.fileio import dump_json_line

logger = logging.getLogger(__name__)

TurnKey = tuple[str, int]
"""``(dialogue_id, turn_index)`` of a turn: the key of a row (``dialogue_id`` as a string)."""

_REPAIR_BLOCK_BYTES = 1 << 16
"""Bytes read at a time while scanning back for the last newline of a torn file."""


def row_key(row: Mapping[str, Any], *, path: str | None = None, line: int | None = None) -> TurnKey:
    """``(dialogue_id, turn_index)`` of a row, ``dialogue_id`` as a string.

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


def is_complete_row(row: Mapping[str, Any]) -> bool:
    """Whether a row records a finished turn: a failed turn, or one with ``pred_bboxes``."""
    return row.get("failed") is True or isinstance(row.get("pred_bboxes"), list)


@dataclass(frozen=True, slots=True)
class RowLines:
    """The JSON objects of one file, by line.

    Attributes:
        rows: ``(line number, row)`` of each non-blank line, in file order.
        torn: the file ended with a torn line, which was ignored.
    """

    rows: tuple[tuple[int, dict[str, Any]], ...]
    torn: bool = False

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return iter(self.rows)


def read_row_lines(path: str | os.PathLike[str]) -> RowLines:
    """Every row of a ``predictions.jsonl``-like file, with its line number.

    A torn last line (no newline after it, invalid JSON) is ignored with a warning.

    Raises:
        DataFormatError: invalid JSON (other than a torn last line) or a line that is not
            a JSON object, naming the file and the line.
    """
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
                f"invalid JSON row ({e}); remove the line or start a new run directory",
                path=name,
                record=f"line {number}",
            ) from e
        if not isinstance(obj, dict):
            raise DataFormatError(
                f"expected a JSON object, got {type(obj).__name__}",
                path=name,
                record=f"line {number}",
            )
        out.append((number, obj))
    return RowLines(tuple(out), torn)


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
    by_turn: Mapping[TurnKey, dict[str, Any]] = field(default_factory=dict)
    """The same rows keyed by :func:`row_key` (what a resumed run skips)."""


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
        lines = read_row_lines(path)
        torn_lines += int(lines.torn)
        for line, row in lines:
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
    order = sorted(kept)
    return PredictionRows(
        tuple(kept[k] for k in order),
        duplicates=duplicates,
        incomplete=incomplete,
        torn_lines=torn_lines,
        by_turn={k: kept[k] for k in order},
    )


def read_done_rows(path: Path) -> dict[TurnKey, dict[str, Any]]:
    """The finished turns of an interrupted run, by turn (``{}`` when there is no file).

    Read with the rules of :func:`read_prediction_rows`; call :func:`repair_torn_tail`
    first when new rows are to be appended.
    """
    if not path.exists():
        return {}
    return dict(read_prediction_rows([path]).by_turn)


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
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - _REPAIR_BLOCK_BYTES)
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


class PredictionsLog:
    """Durable append-only writer of ``predictions.jsonl``.

    Use as a context manager: entering repairs a torn tail, :meth:`append` flushes every
    row, :meth:`sync` fsyncs (called once per round), and closing syncs.
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


__all__ = [
    "PredictionRows",
    "PredictionsLog",
    "RowLines",
    "TurnKey",
    "is_complete_row",
    "read_done_rows",
    "read_prediction_rows",
    "read_row_lines",
    "repair_torn_tail",
    "row_key",
]
