"""Checks of ONE RegionDial record (a dialogue) that report EVERY problem, with its location.

:func:`dialogue_problems` checks one decoded record against the format's rules, and
:class:`Problem` is what every check reports; the checks of a whole file (JSON syntax,
UTF-8, duplicate ids, image files) live in :mod:`regionreasoner.data.file_checks`.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionreasoner.data.spec import (
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
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or version not in SUPPORTED_SCHEMA_VERSIONS
    ):
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
        else:
            _rle_problems(mask, f"{where}.mask", bad)
    ann_id = target.get("ann_id")
    if ann_id is not None and (not isinstance(ann_id, int) or isinstance(ann_id, bool)):
        bad("ann_id must be an integer or null", f"{where}.ann_id")
    category = target.get("category")
    if category is not None and not isinstance(category, str):
        bad("category must be a string or null", f"{where}.category")


RLE_CHAR_OFFSET = 48
"""COCO compressed RLE: each character stores ``ord(char) - 48``, a 6-bit group."""
RLE_GROUP_BITS = 5
RLE_VALUE_MASK = 0x1F
RLE_MORE_BIT = 0x20
RLE_SIGN_BIT = 0x10
RLE_DELTA_FROM_RUN = 3
"""From this run index on, a stored value is the difference to the run two places back."""


def rle_string_runs(counts: str) -> list[int] | None:
    """Run lengths of a COCO compressed RLE ``counts`` string, or ``None`` if malformed.

    Each run is stored little-endian in 5-bit groups (bit 5 of a group: "more groups
    follow"; bit 4 of the last group: sign). Decoding in pure Python lets the validator
    check a record before pycocotools' decoder sees it, since that decoder trusts the runs
    to fit the mask size.

    Example:
        >>> rle_string_runs("12")  # one 0 pixel then two 1 pixels
        [1, 2]
    """
    runs: list[int] = []
    value = shift = 0
    for char in counts:
        code = ord(char) - RLE_CHAR_OFFSET
        if not 0 <= code <= RLE_MORE_BIT | RLE_VALUE_MASK:
            return None
        value |= (code & RLE_VALUE_MASK) << shift
        shift += RLE_GROUP_BITS
        if code & RLE_MORE_BIT:
            continue
        if code & RLE_SIGN_BIT:
            value |= -1 << shift
        if len(runs) >= RLE_DELTA_FROM_RUN:
            value += runs[-2]
        runs.append(value)
        value = shift = 0
    return None if shift else runs


def _rle_problems(mask: dict[str, Any], where: str, bad: Any) -> None:
    height, width = mask["size"]
    if height <= 0 or width <= 0:
        bad(f"mask size {mask['size']} must be positive [H, W]", f"{where}.size")
        return
    runs = rle_string_runs(mask["counts"])
    if runs is None or any(run < 0 for run in runs):
        bad("mask counts is not a valid COCO compressed RLE string", f"{where}.counts")
        return
    if sum(runs) != height * width:
        bad(
            f"mask counts cover {sum(runs)} pixels but size {mask['size']} has {height * width}",
            f"{where}.counts",
        )
        return
    if sum(runs[1::2]) == 0:
        bad(
            "ground-truth mask is all zeros (valid, but no prediction can overlap it)",
            where,
            "warning",
        )


def resolve_image_file(image: str, images_root: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """Locate ``image`` under ``images_root``.

    Returns:
        ``(path, problem)``; ``problem`` is ``None`` when the file is there and stays
        inside the root, else it says what is wrong (escapes the root through ``..``, an
        absolute path or a symlink; or no file).
    """
    root = Path(images_root)
    candidate = root / image
    if image_path_escapes(image):
        return candidate, f"image path {image!r} escapes its root (absolute or '..')"
    if not candidate.is_file():
        return candidate, f"image file not found: {candidate}"
    if not candidate.resolve().is_relative_to(root.resolve()):
        return candidate, f"image path {image!r} leads outside {root} (through a symlink)"
    return candidate, None


def read_image_wh(
    path: str | os.PathLike[str], *, max_pixels: int | None = None
) -> tuple[tuple[int, int] | None, str | None]:
    """The ``(W, H)`` of an image read from its header only, or ``(None, problem)``.

    The header goes through the guarded loader
    (:func:`~regionreasoner.data.images.read_image_header`): an image over
    ``max_pixels`` (default: the loader's ``DEFAULT_MAX_IMAGE_PIXELS``, the limit ``eval``
    applies by default) is a problem, as is a file that is not an image.
    """
    from regionreasoner.data.images import DEFAULT_MAX_IMAGE_PIXELS, read_image_header
    from regionreasoner.errors import ImageError

    limit = DEFAULT_MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        return read_image_header(path, max_pixels=limit).stored_wh, None
    except ImageError as e:
        return None, e.message
