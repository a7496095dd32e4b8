"""Checks of a whole file (RegionDial JSONL or official release JSON): ``validate``.

:func:`validate_path` streams a file and reports EVERY problem it finds, each located by
file, dialogue id (or ``"line N"`` when the id is unreadable) and field path. Per-record
rules come from :func:`regionreasoner.data.dialogue_checks.dialogue_problems` (RegionDial) and
:func:`regionreasoner.data.official.convert_official_item` (official format); this module
adds the file-level rules: JSON syntax and UTF-8 (by line), the top-level type, duplicate
dialogue ids, and (with ``images_root``) missing, unreadable or escaping image files.

The format is detected from the first non-space byte: ``[`` means the official JSON list,
anything else RegionDial JSONL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionreasoner.data.dialogue_checks import (
    Problem,
    dialogue_problems,
    image_path_escapes,
    read_image_wh,
    record_label,
    resolve_image_file,
)
from regionreasoner.data.official import (
    OfficialJSONReader,
    convert_official_item,
    detect_format,
    encode_mask,
)
from regionreasoner.errors import DataFormatError, UserInputError

MAX_KEPT_PROBLEMS = 10_000
"""Problems kept in a :class:`ValidationReport` (all are counted and passed to the callback)."""

FORMAT_JSONL = "jsonl"
FORMAT_OFFICIAL = "official"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The outcome of validating one file.

    Attributes:
        path: the file.
        format: ``"jsonl"`` (RegionDial) or ``"official"``.
        problems: the errors, in file order (at most :data:`MAX_KEPT_PROBLEMS` problems
            are kept in all; see ``truncated``).
        warnings: the warnings (valid but suspicious data, e.g. an all-zero mask).
        error_count: number of errors found.
        warning_count: number of warnings found.
        dialogues: records read (valid or not).
        turns: turns read.
        masks: masks read.
        truncated: whether more problems were found than kept in ``problems``.
    """

    path: str
    format: str
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    error_count: int
    warning_count: int
    dialogues: int
    turns: int
    masks: int
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings do not fail a file)."""
        return self.error_count == 0

    def summary(self) -> str:
        """One line: verdict and counts."""
        verdict = "OK" if self.ok else "INVALID"
        return (
            f"{self.path}: {verdict} ({self.format}): {_plural(self.dialogues, 'dialogue')}, "
            f"{_plural(self.turns, 'turn')}, {_plural(self.masks, 'mask')}; "
            f"{_plural(self.error_count, 'error')}, {_plural(self.warning_count, 'warning')}"
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Collector:
    """Counts every problem, keeps the first ones, forwards each to a callback."""

    def __init__(self, on_problem: Callable[[Problem], None] | None) -> None:
        self.on_problem = on_problem
        self.kept: list[Problem] = []
        self.errors = self.warnings = 0
        self.truncated = False

    def add(self, problem: Problem) -> None:
        if problem.severity == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.kept) < MAX_KEPT_PROBLEMS:
            self.kept.append(problem)
        else:
            self.truncated = True
        if self.on_problem is not None:
            self.on_problem(problem)

    def extend(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        for problem in problems:
            self.add(problem)


def validate_path(
    path: str | os.PathLike[str],
    images_root: str | os.PathLike[str] | None = None,
    *,
    on_problem: Callable[[Problem], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ValidationReport:
    """Validate a RegionDial JSONL or official JSON file, streaming, reporting every problem.

    Args:
        path: the data file.
        images_root: when given, every image must exist under this folder (and stay
            inside it); ``image_wh`` and mask sizes are checked against the image header.
            Without it, image files are not checked.
        on_problem: receives each problem as it is found (e.g. to print it).
        on_progress: receives the number of bytes read so far, after each record.

    Returns:
        The report; ``report.ok`` is False when there is any error.

    Raises:
        UserInputError: ``path`` (or ``images_root``) does not exist.
    """
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"data file not found: {file}")
    if images_root is not None and not Path(images_root).is_dir():
        raise UserInputError(f"--images-root is not a folder: {images_root}")
    collector = _Collector(on_problem)
    fmt = detect_format(file)
    if fmt == FORMAT_OFFICIAL:
        counts = _validate_official(file, images_root, collector, on_progress)
    else:
        counts = _validate_jsonl(file, images_root, collector, on_progress)
    if counts[0] == 0 and not collector.errors:
        collector.add(Problem("the file holds no dialogues", path=str(file)))
    return ValidationReport(
        path=str(file),
        format=fmt,
        problems=tuple(p for p in collector.kept if p.severity == "error"),
        warnings=tuple(p for p in collector.kept if p.severity != "error"),
        error_count=collector.errors,
        warning_count=collector.warnings,
        dialogues=counts[0],
        turns=counts[1],
        masks=counts[2],
        truncated=collector.truncated,
    )


def _validate_jsonl(
    file: Path,
    images_root: str | os.PathLike[str] | None,
    out: _Collector,
    on_progress: Callable[[int], None] | None,
) -> tuple[int, int, int]:
    name = str(file)
    seen: dict[str, int] = {}
    dialogues = turns = masks = 0
    consumed = 0
    with open(file, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            consumed += len(raw)
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            obj = _decode_line(raw, name, number, out)
            if obj is _BLANK or obj is _INVALID:
                continue
            dialogues += 1
            out.extend(dialogue_problems(obj, path=name, line=number))
            if not isinstance(obj, dict):
                continue
            record = record_label(obj, number)
            turn_list = obj.get("turns")
            if isinstance(turn_list, list):
                turns += len(turn_list)
                masks += sum(
                    1
                    for turn in turn_list
                    if isinstance(turn, dict) and isinstance(turn.get("targets"), list)
                    for target in turn["targets"]
                    if isinstance(target, dict) and target.get("mask") is not None
                )
            did = obj.get("dialogue_id")
            if isinstance(did, str) and did:
                if did in seen:
                    out.add(
                        Problem(
                            f"duplicate dialogue_id (first on line {seen[did]})",
                            name,
                            record,
                            "dialogue_id",
                        )
                    )
                else:
                    seen[did] = number
            if images_root is not None:
                _check_jsonl_image(obj, images_root, name, record, out)
            if on_progress is not None:
                on_progress(consumed)
    return dialogues, turns, masks


_BLANK = object()
_INVALID = object()


def _decode_line(raw: bytes, name: str, number: int, out: _Collector) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        out.add(Problem(f"invalid UTF-8 ({e.reason} at byte {e.start})", name, f"line {number}"))
        return _INVALID
    if not text.strip():
        return _BLANK
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        out.add(Problem(f"invalid JSON: {e.msg} (column {e.colno})", name, f"line {number}"))
        return _INVALID


def _check_jsonl_image(
    obj: dict[str, Any],
    images_root: str | os.PathLike[str],
    name: str,
    record: str | None,
    out: _Collector,
) -> None:
    image = obj.get("image")
    if not isinstance(image, str) or not image or image_path_escapes(image):
        return  # already reported by dialogue_problems
    image_file, missing = resolve_image_file(image, images_root)
    if missing:
        out.add(Problem(missing, name, record, "image"))
        return
    actual_wh, unreadable = read_image_wh(image_file)
    if unreadable:
        out.add(Problem(unreadable, name, record, "image"))
        return
    declared = obj.get("image_wh")
    valid_declared = isinstance(declared, list) and len(declared) == 2
    if valid_declared and actual_wh is not None and tuple(declared) != actual_wh:
        out.add(
            Problem(
                f"image_wh {declared} disagrees with the image file's size {list(actual_wh)}",
                name,
                record,
                "image_wh",
            )
        )


def _validate_official(
    file: Path,
    images_root: str | os.PathLike[str] | None,
    out: _Collector,
    on_progress: Callable[[int], None] | None,
) -> tuple[int, int, int]:
    name = str(file)
    reader = OfficialJSONReader(file, mask_hook=encode_mask)
    seen: dict[str, int] = {}
    dialogues = turns = masks = 0
    try:
        for item in reader:
            dialogues += 1
            result = convert_official_item(
                item.value, path=name, line=item.line, images_root=images_root
            )
            out.extend(result.problems)
            turns += result.turns
            masks += result.masks
            value = item.value
            image_id = value.get("image_id") if isinstance(value, dict) else None
            if isinstance(image_id, int | str) and not isinstance(image_id, bool):
                key = str(image_id)
                if key in seen:
                    out.add(
                        Problem(
                            f"duplicate image_id (first at line {seen[key]})",
                            name,
                            f"dialogue {key}",
                            "image_id",
                        )
                    )
                else:
                    seen[key] = item.line
            if on_progress is not None:
                on_progress(reader.bytes_read)
    except DataFormatError as e:
        # A syntax error ends a JSON list: nothing after it can be located reliably.
        out.add(
            Problem(
                f"{e.message}; validation stopped here",
                e.path or name,
                e.record,
                e.field,
            )
        )
    return dialogues, turns, masks


__all__ = ["MAX_KEPT_PROBLEMS", "ValidationReport", "validate_path"]
