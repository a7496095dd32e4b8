"""The rules of the official release format, and the mapping of one item to a dialogue.

:func:`convert_official_item` checks one element of the release's list against the
format's rules (``image_id``, ``image_path``, ``conversational_turns`` with ``question``,
``bboxes``, ``context_from_turn``, ``ann_ids``, ``masks``) and maps it to a
:class:`~regionreasoner.data.schema.Dialogue`; with ``lenient`` it repairs what can be
repaired without inventing facts. Field-by-field mapping: ``docs/data_format.md``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from regionreasoner.data.dialogue_checks import (
    Problem,
    dialogue_problems,
    image_path_escapes,
    read_image_wh,
    resolve_image_file,
)
from regionreasoner.data.official.masks import describe_bad_mask, mask_info, rle_of
from regionreasoner.data.schema import REF_PLACEHOLDER, Dialogue, Target, Turn, is_finite_number

OFFICIAL_PLACEHOLDER = "<box>{context_bbox}</box>"
"""How an official question cites the region of an earlier turn."""

OFFICIAL_PLACEHOLDER_RE = re.compile(
    r"<\s*box\s*>\s*\{\s*context_bbox\s*\}\s*<\s*/\s*box\s*>", re.IGNORECASE
)
"""The placeholder, tolerating whitespace inside the tags and the braces."""

OFFICIAL_SOURCE = "official"
"""``source`` of converted records."""

REPAIR = "repair"
"""Severity of a lenient repair (the dialogue is kept, changed as the message says)."""

SKIPPED = "skipped"
"""Severity of a dialogue that lenient conversion could not repair and left out."""


@dataclass(frozen=True, slots=True)
class ConvertedItem:
    """Outcome of :func:`convert_official_item`.

    Attributes:
        dialogue: the converted record, or ``None`` when there is any error.
        problems: errors, warnings and (with ``lenient``) repairs, in file order.
        turns: number of turns read (0 when unreadable).
        masks: number of masks read.
    """

    dialogue: Dialogue | None
    problems: tuple[Problem, ...]
    turns: int = 0
    masks: int = 0

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity ``"error"``."""
        return [p for p in self.problems if p.severity == "error"]


@dataclass
class _Ctx:
    path: str | None
    record: str | None
    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, where: str | None, severity: str = "error") -> None:
        self.problems.append(Problem(message, self.path, self.record, where, severity))


def official_record_label(value: Any, line: int | None) -> str | None:
    """``"dialogue <image_id>"`` when readable, else ``"line N"``."""
    image_id = value.get("image_id") if isinstance(value, dict) else None
    if _valid_image_id(image_id):
        return f"dialogue {image_id}"
    return f"line {line}" if line is not None else None


def _valid_image_id(image_id: Any) -> bool:
    if isinstance(image_id, bool):
        return False
    return isinstance(image_id, int) or (isinstance(image_id, str) and bool(image_id.strip()))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def convert_official_item(
    value: Any,
    *,
    path: str | None = None,
    line: int | None = None,
    images_root: str | os.PathLike[str] | None = None,
    lenient: bool = False,
    source: str = OFFICIAL_SOURCE,
) -> ConvertedItem:
    """Check one official list element against every rule and convert it.

    Rules: ``image_id`` (int or non-empty string), ``image_path`` (relative, inside its
    root, and present under ``images_root`` when given), a non-empty
    ``conversational_turns`` list; per turn a non-empty ``question``, ``bboxes`` as a
    non-empty list of ``[x1, y1, x2, y2]`` with ``x2 > x1, y2 > y1``, ``context_from_turn``
    an int pointing at an EARLIER turn, the placeholder ``<box>{context_bbox}</box>``
    present iff ``context_from_turn`` is set, ``ann_ids`` integers, ``masks`` dense 0/1
    grids of one common size per dialogue (and of the image size when the image is read),
    no more masks or ann_ids than boxes. An all-zero mask is a warning.

    Args:
        value: the decoded element; masks may be arrays or :class:`EncodedMask`.
        path: the file, for locations.
        line: the line where the element starts, for locations.
        images_root: folder the ``image_path`` values are relative to; when given, images
            must exist and ``image_wh`` is read from the header when there is no mask.
        lenient: repair what can be repaired without inventing facts instead of failing
            (the repairs are listed in ``docs/data_format.md``). Every repair is a
            :data:`REPAIR` problem.
        source: ``source`` of the converted record.

    Returns:
        The dialogue (``None`` when any error) with every problem found.
    """
    ctx = _Ctx(path, official_record_label(value, line))
    if not isinstance(value, dict):
        ctx.add(f"expected an object per list item, got {type(value).__name__}", None)
        return ConvertedItem(None, tuple(ctx.problems))
    image_id = value.get("image_id")
    if not _valid_image_id(image_id):
        ctx.add(f"image_id must be an integer or a non-empty string, got {image_id!r}", "image_id")
    image = value.get("image_path")
    image_wh_from_file: tuple[int, int] | None = None
    if not isinstance(image, str) or not image.strip():
        ctx.add("image_path must be a non-empty relative path", "image_path")
        image = None
    elif image_path_escapes(image):
        ctx.add(f"image path {image!r} escapes its root (absolute or '..')", "image_path")
    elif images_root is not None:
        image_file, missing = resolve_image_file(image, images_root)
        if missing:
            ctx.add(missing, "image_path")
        else:
            image_wh_from_file, unreadable = read_image_wh(image_file)
            if unreadable:
                ctx.add(unreadable, "image_path")
    turns = value.get("conversational_turns")
    if not isinstance(turns, list) or not turns:
        ctx.add("conversational_turns must be a non-empty list", "conversational_turns")
        return ConvertedItem(None, tuple(ctx.problems))
    if lenient:
        turns = _repair_references(turns, ctx)
    mask_hw: tuple[int, int] | None = None
    n_masks = 0
    for i, turn in enumerate(turns):
        where = f"conversational_turns[{i}]"
        if not isinstance(turn, dict):
            ctx.add(f"expected an object, got {type(turn).__name__}", where)
            continue
        _check_turn(turn, i, where, ctx)
        masks = turn.get("masks")
        for j, mask in enumerate(masks if isinstance(masks, list) else []):
            n_masks += 1
            info = mask_info(mask)
            if info is None:
                ctx.add(describe_bad_mask(mask), f"{where}.masks[{j}]")
                continue
            hw, area = info
            if mask_hw is None:
                mask_hw = hw
                if image_wh_from_file and hw != image_wh_from_file[::-1]:
                    ctx.add(
                        f"mask size (H, W) = {hw} disagrees with the image file's "
                        f"(H, W) = {image_wh_from_file[::-1]}",
                        f"{where}.masks[{j}]",
                    )
            elif hw != mask_hw:
                ctx.add(
                    f"mask size (H, W) = {hw} differs from {mask_hw}, the size of the "
                    "dialogue's first mask",
                    f"{where}.masks[{j}]",
                )
            if area == 0:
                ctx.add(
                    "ground-truth mask is all zeros (valid, but no prediction can overlap it)",
                    f"{where}.masks[{j}]",
                    "warning",
                )
    problems = tuple(ctx.problems)
    if any(p.severity == "error" for p in problems):
        return ConvertedItem(None, problems, len(turns), n_masks)
    image_wh = (mask_hw[1], mask_hw[0]) if mask_hw else image_wh_from_file
    dialogue = _to_dialogue(value, turns, image_wh, source)
    # Safety net: the output must satisfy the RegionDial rules (it does unless a rule
    # above is missing, in which case the record is reported instead of written).
    leftovers = [
        p
        for p in dialogue_problems(dialogue.to_dict(), path=path, line=line)
        if p.severity == "error"
    ]
    if leftovers:
        return ConvertedItem(None, problems + tuple(leftovers), len(turns), n_masks)
    return ConvertedItem(dialogue, problems, len(turns), n_masks)


def official_item_problems(
    value: Any,
    *,
    path: str | None = None,
    line: int | None = None,
    images_root: str | os.PathLike[str] | None = None,
) -> list[Problem]:
    """Every rule violation of one official list element (see :func:`convert_official_item`)."""
    return list(
        convert_official_item(value, path=path, line=line, images_root=images_root).problems
    )


_REPAIR_HINT = " (`regionreasoner convert --lenient` repairs this)"


def _check_turn(turn: dict[str, Any], i: int, where: str, ctx: _Ctx) -> None:
    question = turn.get("question")
    if not isinstance(question, str) or not question.strip():
        ctx.add("question must be a non-empty string", f"{where}.question")
        question = ""
    elif REF_PLACEHOLDER in question:
        ctx.add(
            f"question contains {REF_PLACEHOLDER}, reserved for converted questions",
            f"{where}.question",
        )
    boxes = turn.get("bboxes")
    n_boxes = 0
    if not isinstance(boxes, list) or not boxes:
        ctx.add("bboxes must be a non-empty list of [x1, y1, x2, y2]", f"{where}.bboxes")
    else:
        n_boxes = len(boxes)
        for j, box in enumerate(boxes):
            if not isinstance(box, list) or len(box) != 4 or not all(map(is_finite_number, box)):
                ctx.add(
                    f"bbox must be 4 finite numbers [x1, y1, x2, y2], got {box!r}",
                    f"{where}.bboxes[{j}]",
                )
            elif not (box[2] > box[0] and box[3] > box[1]):
                ctx.add(
                    f"bbox {box} is empty or inverted (needs x2 > x1 and y2 > y1)",
                    f"{where}.bboxes[{j}]",
                )
    ref = turn.get("context_from_turn")
    if ref is not None:
        if not _is_int(ref):
            ctx.add(
                f"context_from_turn must be an integer, got {ref!r}", f"{where}.context_from_turn"
            )
        elif ref == i:
            ctx.add(
                "context_from_turn points at the turn itself" + _REPAIR_HINT,
                f"{where}.context_from_turn",
            )
        elif ref > i:
            ctx.add(
                f"context_from_turn {ref} points at a later turn" + _REPAIR_HINT,
                f"{where}.context_from_turn",
            )
        elif ref < 0:
            ctx.add(
                f"context_from_turn {ref} points at a missing turn" + _REPAIR_HINT,
                f"{where}.context_from_turn",
            )
    has_placeholder = OFFICIAL_PLACEHOLDER_RE.search(question) is not None
    if has_placeholder and ref is None:
        ctx.add(
            f"question contains {OFFICIAL_PLACEHOLDER} but context_from_turn is missing"
            + _REPAIR_HINT,
            f"{where}.question",
        )
    if ref is not None and not has_placeholder:
        ctx.add(
            f"context_from_turn is set but the question has no {OFFICIAL_PLACEHOLDER}"
            + _REPAIR_HINT,
            f"{where}.question",
        )
    for key in ("ann_ids", "masks"):
        items = turn.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            ctx.add(f"{key} must be a list", f"{where}.{key}")
            continue
        if n_boxes and len(items) > n_boxes:
            ctx.add(
                f"{len(items)} {key} for {n_boxes} bboxes: each entry belongs to the box "
                "at the same position",
                f"{where}.{key}",
            )
        elif n_boxes and items and len(items) < n_boxes:
            ctx.add(
                f"{len(items)} {key} for {n_boxes} bboxes: the last "
                f"{n_boxes - len(items)} targets get none",
                f"{where}.{key}",
                "warning",
            )
    ann_ids = turn.get("ann_ids")
    if isinstance(ann_ids, list):
        for j, ann_id in enumerate(ann_ids):
            if not _is_int(ann_id):
                ctx.add(f"ann_id must be an integer, got {ann_id!r}", f"{where}.ann_ids[{j}]")


def _repair_references(turns: list[Any], ctx: _Ctx) -> list[Any]:
    """Lenient mode: make every turn's reference agree with its question, inventing nothing.

    Per turn, as found in the released files (what the released evaluation does with
    each is in ``docs/data_format.md``):

    - ``context_from_turn`` set, no placeholder in the question: the question cites no
      region, so the reference is dropped (the question is kept as it is);
    - a placeholder, no ``context_from_turn``: nothing says which region it cites, so the
      placeholder is removed from the question (:func:`remove_placeholder`);
    - ``context_from_turn`` naming the turn itself, a later turn or a negative index: it
      points at the nearest earlier turn; on the first turn the reference and the
      placeholder are dropped.

    Every repair is added to ``ctx`` as a :data:`REPAIR` problem naming the turn's field
    and what changed. A turn whose fields have the wrong types is left for the checks.
    """
    repaired = list(turns)
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("question"), str):
            continue
        question: str = turn["question"]
        ref = turn.get("context_from_turn")
        has_placeholder = OFFICIAL_PLACEHOLDER_RE.search(question) is not None
        where = f"conversational_turns[{i}]"
        new = dict(turn)
        if ref is None:
            if not has_placeholder:
                continue
            new["question"] = remove_placeholder(question)
            message = (
                f"repaired: the question has {OFFICIAL_PLACEHOLDER} but no "
                f"context_from_turn; placeholder removed, question now {new['question']!r}"
            )
            ctx.add(message, f"{where}.question", REPAIR)
        elif not _is_int(ref) or (0 <= ref < i and has_placeholder):
            continue
        elif not has_placeholder:
            new.pop("context_from_turn")
            message = (
                f"repaired: context_from_turn {ref} but the question has no "
                f"{OFFICIAL_PLACEHOLDER}; reference dropped, question unchanged"
            )
            ctx.add(message, f"{where}.context_from_turn", REPAIR)
        else:
            what = "the turn itself" if ref == i else ("a later turn" if ref > i else "no turn")
            if i > 0:
                new["context_from_turn"] = i - 1
                message = (
                    f"repaired: context_from_turn {ref} pointed at {what}; now {i - 1}, "
                    "the nearest earlier turn (a guess: the file does not say which turn)"
                )
            else:
                new.pop("context_from_turn")
                new["question"] = remove_placeholder(question)
                message = (
                    f"repaired: context_from_turn {ref} pointed at {what} and there is no "
                    f"earlier turn; reference dropped, question now {new['question']!r}"
                )
            ctx.add(message, f"{where}.context_from_turn", REPAIR)
        repaired[i] = new
    return repaired


def remove_placeholder(question: str) -> str:
    """The question without its placeholder(s), whitespace and punctuation tidied.

    Example:
        >>> remove_placeholder("the dog near the <box>{context_bbox}</box> .")
        'the dog near the.'
    """
    text = OFFICIAL_PLACEHOLDER_RE.sub(" ", question)
    text = re.sub(r"\s+([.,;:?!])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _to_dialogue(
    value: dict[str, Any],
    turns: list[dict[str, Any]],
    image_wh: tuple[int, int] | None,
    source: str,
) -> Dialogue:
    out = []
    for i, turn in enumerate(turns):
        masks = turn.get("masks") or []
        ann_ids = turn.get("ann_ids") or []
        targets = tuple(
            Target(
                bbox=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                mask=rle_of(masks[j]) if j < len(masks) else None,
                ann_id=ann_ids[j] if j < len(ann_ids) else None,
            )
            for j, box in enumerate(turn["bboxes"])
        )
        out.append(
            Turn(
                turn_index=i,
                question=OFFICIAL_PLACEHOLDER_RE.sub(REF_PLACEHOLDER, turn["question"]),
                targets=targets,
                refers_to=turn.get("context_from_turn"),
            )
        )
    image_id = value["image_id"]
    return Dialogue(
        dialogue_id=str(image_id),
        image=value["image_path"],
        turns=tuple(out),
        image_wh=image_wh,
        source=source,
        meta={"image_id": image_id},
    )


__all__ = [
    "OFFICIAL_PLACEHOLDER",
    "OFFICIAL_PLACEHOLDER_RE",
    "OFFICIAL_SOURCE",
    "REPAIR",
    "SKIPPED",
    "ConvertedItem",
    "convert_official_item",
    "official_item_problems",
    "official_record_label",
    "remove_placeholder",
]
