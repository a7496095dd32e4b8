"""Whole-file conversion of an official release file to RegionDial JSONL (``convert``)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from regionreasoner.data.dialogue_checks import Problem
from regionreasoner.data.official.masks import encode_mask
from regionreasoner.data.official.reader import OfficialJSONReader, detect_format
from regionreasoner.data.official.rules import (
    OFFICIAL_SOURCE,
    REPAIR,
    SKIPPED,
    ConvertedItem,
    convert_official_item,
)
from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.fileio import atomic_write, dump_json_line

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConvertSummary:
    """What :func:`convert_official` wrote.

    Attributes:
        dialogues: records written.
        turns: turns written.
        masks: masks converted to RLE.
        warnings: warnings reported (e.g. all-zero masks).
        repairs: lenient repairs made.
        bytes_in: size of the input file.
        bytes_out: size of the output file.
        skipped: dialogues left out by lenient conversion (not repairable).
    """

    dialogues: int
    turns: int
    masks: int
    warnings: int
    repairs: int
    bytes_in: int
    bytes_out: int
    skipped: int = 0


def convert_official(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    images_root: str | os.PathLike[str] | None = None,
    lenient: bool = False,
    source: str = OFFICIAL_SOURCE,
    on_problem: Callable[[Problem], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ConvertSummary:
    """Convert an official release file to RegionDial JSONL, streaming, in bounded memory.

    Dense masks become COCO RLE, ``<box>{context_bbox}</box>`` becomes ``{ref}``,
    ``context_from_turn`` becomes ``refers_to``, ``dialogue_id = str(image_id)``. The
    output is written atomically: on any failure nothing is left at ``dst``.

    Args:
        src: the official JSON list (full or question-only file).
        dst: the RegionDial JSONL to write.
        images_root: folder of the images (checked, and read for ``image_wh`` when a
            dialogue has no mask).
        lenient: repair what can be repaired without inventing facts (see
            ``docs/data_format.md``) and skip, instead of failing on, a dialogue that
            cannot be repaired (a missing ``image_path``, a bad box, a duplicate
            ``image_id``, ...): each skip is reported as a :data:`SKIPPED` problem
            located at the dialogue's first error, and counted in ``skipped``.
        source: ``source`` of the records.
        on_problem: receives every warning, repair and skip (default: logged).
        on_progress: receives the number of input bytes consumed after each dialogue.

    Returns:
        Counts of what was written.

    Raises:
        DataFormatError: the first invalid dialogue (file, dialogue id or line, field)
            or a duplicate ``image_id`` (strict mode), invalid JSON, an input that is
            not a JSON list, or no dialogue to write.
        UserInputError: ``src`` is missing or ``dst`` is ``src``.
    """
    src_path, dst_path = Path(src), Path(dst)
    if not src_path.is_file():
        raise UserInputError(f"input file not found: {src_path}")
    if dst_path.exists() and dst_path.resolve() == src_path.resolve():
        raise UserInputError(f"the output {dst_path} would overwrite the input")
    if detect_format(src_path) != "official":
        raise DataFormatError(
            "expected the official JSON list format (first non-space character '['); "
            "a RegionDial JSONL file needs no conversion",
            path=str(src_path),
        )
    report = on_problem or _log_problem
    reader = OfficialJSONReader(src_path, mask_hook=encode_mask)
    counts = {
        "dialogues": 0,
        "turns": 0,
        "masks": 0,
        "warnings": 0,
        "repairs": 0,
        "skipped": 0,
    }

    def skip(problem: Problem) -> None:
        counts["skipped"] += 1
        report(problem)

    new_dirs = [d for d in (dst_path.parent, *dst_path.parent.parents) if not d.exists()]
    try:
        with atomic_write(dst_path) as handle:
            seen: dict[str, int] = {}
            for item in reader:
                result = convert_official_item(
                    item.value,
                    path=str(src_path),
                    line=item.line,
                    images_root=images_root,
                    lenient=lenient,
                    source=source,
                )
                first = first_error(result)
                if first is not None:
                    if not lenient:
                        raise first.to_error()
                    skip(first)
                    continue
                dialogue = result.dialogue
                assert dialogue is not None
                if dialogue.dialogue_id in seen:
                    duplicate = Problem(
                        f"duplicate image_id (first at line {seen[dialogue.dialogue_id]})",
                        str(src_path),
                        f"dialogue {dialogue.dialogue_id}",
                        "image_id",
                        SKIPPED,
                    )
                    if not lenient:
                        raise duplicate.to_error()
                    skip(duplicate)
                    continue
                for problem in result.problems:
                    counts["warnings"] += problem.severity == "warning"
                    counts["repairs"] += problem.severity == REPAIR
                    report(problem)
                seen[dialogue.dialogue_id] = item.line
                handle.write(dump_json_line(dialogue.to_dict()))
                counts["dialogues"] += 1
                counts["turns"] += result.turns
                counts["masks"] += result.masks
                if on_progress is not None:
                    on_progress(reader.bytes_read)
            if not counts["dialogues"]:
                what = (
                    f"no dialogue could be kept ({counts['skipped']} skipped)"
                    if counts["skipped"]
                    else "the list holds no dialogues"
                )
                raise DataFormatError(what, path=str(src_path))
    except BaseException:
        # atomic_write removed its temporary file; also remove folders it created.
        for folder in new_dirs:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return ConvertSummary(
        **counts, bytes_in=src_path.stat().st_size, bytes_out=dst_path.stat().st_size
    )


def first_error(result: ConvertedItem) -> Problem | None:
    """The first error of a converted item (with a count of the others), as a
    :data:`SKIPPED` problem at its location, or ``None`` when there is none."""
    errors = result.errors
    if not errors:
        return None
    first, more = errors[0], len(errors) - 1
    suffix = (
        f" (and {more} more problem{'s' if more > 1 else ''} in this dialogue; "
        "`regionreasoner validate` lists them all)"
        if more
        else ""
    )
    return Problem(first.message + suffix, first.path, first.record, first.field, SKIPPED)


def _log_problem(problem: Problem) -> None:
    logger.warning("%s: %s", problem.severity, problem)


__all__ = ["ConvertSummary", "convert_official", "first_error"]
