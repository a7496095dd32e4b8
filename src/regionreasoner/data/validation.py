"""Rule checks of the RegionDial format that report EVERY problem, with its location.

:func:`dialogue_problems` checks one decoded record; file-level checks (JSON syntax,
UTF-8, duplicate ids, image files) live in :mod:`regionreasoner.data.validate_file`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from regionreasoner.data.schema import (
    KNOWN_RELATIONS,
    REF_PLACEHOLDER,
    SUPPORTED_SCHEMA_VERSIONS,
    is_finite_number,
)
from regionreasoner.errors import DataFormatError


@dataclass(frozen=True, slots=True)
class Problem:
    """One rule violation: where it is and what is wrong."""

    message: str
    path: str | None = None
    record: str | None = None
    field: str | None = None
    severity: str = "error"

    def to_error(self) -> DataFormatError:
        """The problem as an exception."""
        return DataFormatError(self.message, path=self.path, record=self.record, field=self.field)

    def __str__(self) -> str:
        return str(self.to_error())


def record_label(obj: Any, line: int | None) -> str | None:
    """The dialogue id when readable, else ``"line N"``."""
    if (
        isinstance(obj, dict)
        and isinstance(obj.get("dialogue_id"), str | int)
        and not isinstance(obj.get("dialogue_id"), bool)
    ):
        return f"dialogue {obj['dialogue_id']}"
    return f"line {line}" if line is not None else None


def image_path_escapes(image: str) -> bool:
    """Whether a relative image path is absolute or climbs out of its root."""
    if image.startswith(("/", "\\")) or (len(image) > 1 and image[1] == ":"):
        return True
    norm = posixpath.normpath(image.replace("\\", "/"))
    return norm == ".." or norm.startswith("../")


def dialogue_problems(
    obj: Any, *, path: str | None = None, line: int | None = None
) -> list[Problem]:
    """Check one decoded RegionDial record against every rule of the format.

    Returns:
        The problems found (empty when the record is valid). Warnings carry
        ``severity="warning"`` (e.g. an all-zero ground-truth mask).
    """
    rec = record_label(obj, line)
    out: list[Problem] = []

    def bad(message: str, where: str | None = None, severity: str = "error") -> None:
        out.append(Problem(message, path=path, record=rec, field=where, severity=severity))

    if not isinstance(obj, dict):
        bad(f"expected a JSON object per line, got {type(obj).__name__}")
        return out
    version = obj.get("schema_version", 1)
    if version not in SUPPORTED_SCHEMA_VERSIONS or isinstance(version, bool):
        bad(
            f"unknown schema_version {version!r}; supported: {sorted(SUPPORTED_SCHEMA_VERSIONS)}",
            "schema_version",
        )
        return out
    did = obj.get("dialogue_id")
    if not isinstance(did, str) or not did:
        bad("dialogue_id must be a non-empty string", "dialogue_id")
    image = obj.get("image")
    if not isinstance(image, str) or not image:
        bad("image must be a non-empty relative path", "image")
    elif image_path_escapes(image):
        bad(f"image path {image!r} escapes its root (absolute or '..')", "image")
    wh = obj.get("image_wh")
    image_hw: list[int] | None = None
    if wh is not None:
        if (
            not isinstance(wh, list)
            or len(wh) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in wh)
        ):
            bad(f"image_wh must be [width, height] of positive integers, got {wh!r}", "image_wh")
        else:
            image_hw = [wh[1], wh[0]]
    source = obj.get("source")
    if source is not None and not isinstance(source, str):
        bad("source must be a string or null", "source")
    turns = obj.get("turns")
    if not isinstance(turns, list) or not turns:
        bad("turns must be a non-empty list", "turns")
        return out
    for i, turn in enumerate(turns):
        _turn_problems(turn, i, len(turns), image_hw, bad)
    return out


def _turn_problems(turn: Any, i: int, n_turns: int, image_hw: list[int] | None, bad: Any) -> None:
    where = f"turns[{i}]"
    if not isinstance(turn, dict):
        bad(f"expected an object, got {type(turn).__name__}", where)
        return
    index = turn.get("turn_index")
    if not isinstance(index, int) or isinstance(index, bool):
        bad("turn_index must be an integer", f"{where}.turn_index")
    elif index != i:
        bad(f"turn_index is {index} but the turn is at position {i}", f"{where}.turn_index")
    question = turn.get("question")
    if not isinstance(question, str) or not question.strip():
        bad("question must be a non-empty string", f"{where}.question")
        question = ""
    ref = turn.get("refers_to")
    if ref is not None:
        if not isinstance(ref, int) or isinstance(ref, bool):
            bad(f"refers_to must be an integer or null, got {ref!r}", f"{where}.refers_to")
        elif ref == i:
            bad("refers_to points at the turn itself", f"{where}.refers_to")
        elif ref > i:
            bad(f"refers_to {ref} points at a later turn", f"{where}.refers_to")
        elif ref < 0:
            bad(f"refers_to {ref} points at a missing turn", f"{where}.refers_to")
    has_placeholder = REF_PLACEHOLDER in question
    if has_placeholder and ref is None:
        bad(f"question contains {REF_PLACEHOLDER} but refers_to is null", f"{where}.question")
    if ref is not None and not has_placeholder:
        bad(f"refers_to is set but the question has no {REF_PLACEHOLDER}", f"{where}.question")
    relation = turn.get("relation")
    if relation is not None and relation not in KNOWN_RELATIONS:
        bad(
            f"unknown relation {relation!r}; known: {', '.join(KNOWN_RELATIONS)}",
            f"{where}.relation",
        )
    captions = turn.get("captions")
    if captions is not None and (
        not isinstance(captions, dict) or not all(isinstance(v, str) for v in captions.values())
    ):
        bad("captions must map names to strings", f"{where}.captions")
    targets = turn.get("targets")
    if not isinstance(targets, list) or not targets:
        bad("targets must be a non-empty list", f"{where}.targets")
        return
    for j, target in enumerate(targets):
        _target_problems(target, f"{where}.targets[{j}]", image_hw, bad)


def _target_problems(target: Any, where: str, image_hw: list[int] | None, bad: Any) -> None:
    if not isinstance(target, dict):
        bad(f"expected an object, got {type(target).__name__}", where)
        return
    box = target.get("bbox")
    if not isinstance(box, list) or len(box) != 4 or not all(is_finite_number(v) for v in box):
        bad(f"bbox must be 4 finite numbers [x1, y1, x2, y2], got {box!r}", f"{where}.bbox")
    elif not (box[2] > box[0] and box[3] > box[1]):
        bad(f"bbox {box} is empty or inverted (needs x2 > x1 and y2 > y1)", f"{where}.bbox")
    mask = target.get("mask")
    if mask is not None:
        if (
            not isinstance(mask, dict)
            or not isinstance(mask.get("size"), list)
            or len(mask["size"]) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in mask["size"])
            or not isinstance(mask.get("counts"), str)
        ):
            bad('mask must be a COCO RLE {"size": [H, W], "counts": str}', f"{where}.mask")
        elif image_hw is not None and mask["size"] != image_hw:
            bad(
                f"mask size {mask['size']} (H, W) disagrees with image_wh "
                f"{[image_hw[1], image_hw[0]]}",
                f"{where}.mask.size",
            )
    ann_id = target.get("ann_id")
    if ann_id is not None and (not isinstance(ann_id, int) or isinstance(ann_id, bool)):
        bad("ann_id must be an integer or null", f"{where}.ann_id")
    category = target.get("category")
    if category is not None and not isinstance(category, str):
        bad("category must be a string or null", f"{where}.category")
