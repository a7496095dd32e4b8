"""One browser session's dialogue: items, region labels, references, corrections, export.

Every region the model finds gets a label ``R1``, ``R2``, ... (numbered across the whole
dialogue), every box the user draws a label ``U1``, ``U2``, ... A question cites a region
by writing its label ("the cup next to R1"); :meth:`DialogueState.resolve_question`
turns that into the benchmark form (``"the cup next to {ref}"`` plus the item it cites),
and the engine substitutes the box exactly as the evaluation protocol does.

The dialogue can be exported as one RegionDial record (:meth:`DialogueState.to_dialogue`):

* each asked question that found at least one region is a turn; its targets are its
  regions' boxes as they are now (the model's boxes, or the user's corrections);
* each user box is a turn whose question is the box's description (the expression a
  model should find it by) and whose target is the box;
* ``refers_to`` points at the turn of the cited region, and the cited region is moved
  to the front of that turn's targets (the protocols take the FIRST box of a cited
  turn); two questions citing different regions of the same turn cannot both hold and
  are refused with a message;
* questions that failed or found nothing are left out (nothing can cite them).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from regionreasoner.data.schema import REF_PLACEHOLDER, Dialogue, Target, Turn
from regionreasoner.dialogue.policy import SOURCE_GROUND_TRUTH, SOURCE_PREDICTED
from regionreasoner.errors import UserInputError

if TYPE_CHECKING:
    from regionreasoner.dialogue.interactive import ImageContext, InteractiveTurn
    from regionreasoner.serve.examples import Example

PREDICTED_PREFIX = "R"
USER_PREFIX = "U"
LABEL_PATTERN = re.compile(r"\b([RU])(\d+)\b", re.IGNORECASE)
"""A region label in a question (``R1``, ``u2``: case is ignored)."""

MAX_QUESTION_CHARS = 500
"""Longest accepted question (characters)."""

MAX_DESCRIPTION_CHARS = 200
"""Longest accepted description of a user box (characters)."""

DIALOGUE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
"""Accepted dialogue ids of an export (they become file names)."""

IMAGES_DIR = "images"
"""Folder of the exported image, relative to the exported JSONL."""

EXPORT_SOURCE_PREFIX = "serve"
"""``source`` of exported records: ``serve/<example id>`` or ``serve/upload``."""

TABLE_HEADERS = ["region", "question", "x1", "y1", "x2", "y2", "source"]
"""Columns of the editable region table (only x1..y2 are editable)."""

TABLE_BOX_COLUMNS = slice(2, 6)

IMAGE_TOKEN_PREFIX = "img-"
_IMAGE_TOKENS = itertools.count(1)
"""Process-wide counter of image tokens (``next`` on it is atomic under the GIL)."""

XYXY = tuple[float, float, float, float]
ItemKind = Literal["asked", "user_box"]


DISPLAY_DECIMALS = 1
"""Decimals of the coordinates shown on the page (and in the editable table)."""

EXPORT_DECIMALS = 2
"""Decimals of the coordinates written into an exported record."""


def _num(value: float, decimals: int | None = None) -> int | float:
    value = float(value) if decimals is None else round(float(value), decimals)
    return int(value) if value.is_integer() else value


def shown_box(xyxy: Sequence[float]) -> tuple[int | float, ...]:
    """A box as the page shows it (rounded to :data:`DISPLAY_DECIMALS`).

    >>> shown_box((99.04761904761904, 160.0, 140.19, 201.14))
    (99, 160, 140.2, 201.1)
    """
    return tuple(_num(v, DISPLAY_DECIMALS) for v in xyxy)


def format_box(xyxy: Sequence[float]) -> str:
    """``[x1, y1, x2, y2]`` as the page shows it.

    >>> format_box((1.0, 2.5, 3, 4.04))
    '[1, 2.5, 3, 4]'
    """
    return "[" + ", ".join(str(v) for v in shown_box(xyxy)) + "]"


@dataclass
class Region:
    """A labelled region of the dialogue (mutable: the user may correct its box).

    Attributes:
        label: ``R1``, ... (found by the model) or ``U1``, ... (drawn by the user).
        item_index: the dialogue item that produced it.
        xyxy: the current box in image pixels (the correction, when there is one).
        predicted_xyxy: the model's box, ``None`` for a user box.
        point_xy: the model's point in image pixels, or ``None``.
    """

    label: str
    item_index: int
    xyxy: XYXY
    predicted_xyxy: XYXY | None = None
    point_xy: tuple[float, float] | None = None

    @property
    def is_user_box(self) -> bool:
        """Whether the user drew it."""
        return self.predicted_xyxy is None

    @property
    def corrected(self) -> bool:
        """Whether the user changed the model's box."""
        return self.predicted_xyxy is not None and tuple(self.xyxy) != tuple(self.predicted_xyxy)

    @property
    def reference_source(self) -> str:
        """``predicted`` for the model's own box, ``ground_truth`` for a person's box."""
        return SOURCE_PREDICTED if not (self.is_user_box or self.corrected) else SOURCE_GROUND_TRUTH

    @property
    def provenance(self) -> str:
        """``model``, ``corrected`` or ``drawn`` (for the table)."""
        if self.is_user_box:
            return "drawn"
        return "corrected" if self.corrected else "model"


@dataclass
class DialogueItem:
    """One step of the dialogue: an asked question or a box the user drew.

    Attributes:
        index: position in the dialogue (0-based).
        kind: ``asked`` or ``user_box``.
        question: the question as typed, or the user box's description.
        template: the question with its region label written ``{ref}``.
        cited_label: the region label the question cites, or ``None``.
        refers_to: the item that produced the cited region, or ``None``.
        labels: the labels of the regions this item produced.
        result: the engine's outcome (asked questions only).
    """

    index: int
    kind: ItemKind
    question: str
    template: str
    cited_label: str | None = None
    refers_to: int | None = None
    labels: list[str] = field(default_factory=list)
    result: InteractiveTurn | None = None

    @property
    def failed(self) -> bool:
        """Whether the backend gave no answer."""
        return self.result is not None and self.result.failed

    @property
    def error(self) -> str | None:
        """The backend's failure message, if any."""
        return self.result.record.error if self.result is not None else None


@dataclass(frozen=True)
class ResolvedQuestion:
    """A typed question in benchmark form.

    Attributes:
        question: the question as typed (stripped).
        template: the question with its region label replaced by ``{ref}``.
        region: the cited region, or ``None``.
    """

    question: str
    template: str
    region: Region | None


@dataclass(frozen=True)
class ImageSource:
    """Where the session's image came from.

    Attributes:
        kind: ``example`` or ``upload``.
        name: the example id or the uploaded file's name.
        default_dialogue_id: the id proposed for the export.
        example: the example (its ground truth answers the ``oracle``), or ``None``.
    """

    kind: Literal["example", "upload"]
    name: str
    default_dialogue_id: str
    example: Example | None = None


class DialogueState:
    """The dialogue of one browser session over one image.

    Args:
        source: where the image came from.
        context: the engine's per-image context (image, frame, segmenter session).

    Attributes:
        image_token: names this state's image among every image opened by the process
            (``img-1``, ``img-2``, ...; a new one per example choice or upload); the page
            sends it back with each action so that an action meant for another image is
            refused.
        shown_image_digest: digest of the picture last sent to the page for this state
            (the page is not sent the same picture twice in a row); ``None`` before.
    """

    def __init__(self, source: ImageSource, context: ImageContext) -> None:
        self.source = source
        self.context = context
        self.image_token = f"{IMAGE_TOKEN_PREFIX}{next(_IMAGE_TOKENS)}"
        self.shown_image_digest: str | None = None
        self.items: list[DialogueItem] = []
        self.regions: dict[str, Region] = {}
        self.pending_corner: tuple[int, int] | None = None
        self._next = {PREDICTED_PREFIX: 1, USER_PREFIX: 1}

    @property
    def image_wh(self) -> tuple[int, int]:
        """``(W, H)`` of the image."""
        return self.context.image_wh

    def reset(self) -> None:
        """Forget the dialogue (the image stays)."""
        self.items.clear()
        self.regions.clear()
        self.pending_corner = None
        self._next = {PREDICTED_PREFIX: 1, USER_PREFIX: 1}

    def close(self) -> None:
        """Release the image's segmenter session."""
        self.context.close()

    # ------------------------------------------------------------------ questions

    def resolve_question(self, question: str | None) -> ResolvedQuestion:
        """Check a typed question and write its region label as ``{ref}``.

        Raises:
            UserInputError: empty or too long, ``{ref}`` typed literally, more than one
                region label, or a label that does not exist.
        """
        text = (question or "").strip()
        if not text:
            raise UserInputError(
                "The question is empty: type what to find, e.g. 'the red "
                "circle' or 'the shape left of R1'."
            )
        if len(text) > MAX_QUESTION_CHARS:
            raise UserInputError(
                f"The question is too long ({len(text)} characters; at most {MAX_QUESTION_CHARS})."
            )
        if REF_PLACEHOLDER in text:
            raise UserInputError(
                f"Write the region label (R1, U1, ...) instead of "
                f"{REF_PLACEHOLDER}; the app substitutes it."
            )
        mentions = list(LABEL_PATTERN.finditer(text))
        labels = sorted({m.group(0).upper() for m in mentions})
        if not labels:
            return ResolvedQuestion(text, text, None)
        if len(labels) > 1:
            raise UserInputError(
                f"A question may cite one region, this one cites {', '.join(labels)}."
            )
        label = labels[0]
        region = self.regions.get(label)
        if region is None:
            known = ", ".join(self.regions) or "none yet"
            raise UserInputError(f"There is no region {label} in this dialogue (regions: {known}).")
        template = LABEL_PATTERN.sub(REF_PLACEHOLDER, text)
        if template.count(REF_PLACEHOLDER) > 1:
            raise UserInputError(
                f"Cite {label} once per question (the benchmark format has "
                "one reference slot per question)."
            )
        return ResolvedQuestion(text, template, region)

    def next_item_index(self) -> int:
        """The index the next item gets."""
        return len(self.items)

    def add_asked(self, resolved: ResolvedQuestion, result: InteractiveTurn) -> DialogueItem:
        """Record an asked question and label the regions it found."""
        item = DialogueItem(
            index=self.next_item_index(),
            kind="asked",
            question=resolved.question,
            template=resolved.template,
            cited_label=resolved.region.label if resolved.region else None,
            refers_to=resolved.region.item_index if resolved.region else None,
            result=result,
        )
        if result.answer is not None:
            points = result.answer.pred_points
            for i, box in enumerate(result.answer.pred_xyxy):
                xyxy: XYXY = tuple(float(v) for v in box)  # type: ignore[assignment]
                point = points[i] if i < len(points) else None
                point_xy = (
                    (float(point[0]), float(point[1]))
                    if point is not None and all(math.isfinite(v) for v in point)
                    else None
                )
                label = self._new_label(PREDICTED_PREFIX)
                self.regions[label] = Region(label, item.index, xyxy, xyxy, point_xy)
                item.labels.append(label)
        self.items.append(item)
        return item

    def add_user_box(self, xyxy: Sequence[float], description: str | None) -> Region:
        """Add a box the user drew (image pixels), described for the export.

        Raises:
            UserInputError: an empty description, or a box that is empty or outside the
                image.
        """
        text = (description or "").strip()
        if not text:
            raise UserInputError(
                "Describe the box (e.g. 'the red mug'): the description is "
                "the question of this region in the downloaded record."
            )
        if len(text) > MAX_DESCRIPTION_CHARS:
            raise UserInputError(
                f"The description is too long ({len(text)} characters; at "
                f"most {MAX_DESCRIPTION_CHARS})."
            )
        if LABEL_PATTERN.search(text) or REF_PLACEHOLDER in text:
            raise UserInputError("A box description cannot cite a region (R1, U1, ...).")
        box = self.check_box(xyxy, what="The box")
        item = DialogueItem(self.next_item_index(), "user_box", text, text)
        label = self._new_label(USER_PREFIX)
        region = Region(label, item.index, box)
        item.labels.append(label)
        self.items.append(item)
        self.regions[label] = region
        self.pending_corner = None
        return region

    def peek_label(self, prefix: str = USER_PREFIX) -> str:
        """The label the next region with ``prefix`` (``R`` or ``U``) will get."""
        return f"{prefix}{self._next[prefix]}"

    def _new_label(self, prefix: str) -> str:
        label = f"{prefix}{self._next[prefix]}"
        self._next[prefix] += 1
        return label

    def check_box(self, xyxy: Sequence[Any], *, what: str) -> XYXY:
        """A box given as 4 numbers, clipped to the image.

        Raises:
            UserInputError: not 4 numbers, or empty after clipping (``x2 <= x1`` or
                ``y2 <= y1``, or entirely outside the image).
        """
        values = list(xyxy)
        if len(values) != 4:
            raise UserInputError(f"{what} needs 4 numbers x1, y1, x2, y2.")
        numbers = []
        for name, value in zip(("x1", "y1", "x2", "y2"), values, strict=True):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise UserInputError(f"{what}: {name} is not a number ({value!r}).") from None
            if not math.isfinite(number):
                raise UserInputError(f"{what}: {name} is not a finite number.")
            numbers.append(number)
        width, height = self.image_wh
        x1, y1, x2, y2 = numbers
        x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
        y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
        if not (x2 > x1 and y2 > y1):
            raise UserInputError(
                f"{what} {format_box(numbers)} is empty or outside the "
                f"{width}x{height} image (needs x2 > x1 and y2 > y1)."
            )
        return (x1, y1, x2, y2)

    # ------------------------------------------------------------------ table

    def table_rows(self) -> list[list[Any]]:
        """The editable table: one row per region."""
        rows = []
        for region in self.regions.values():
            item = self.items[region.item_index]
            rows.append(
                [
                    region.label,
                    f"{item.index + 1}. {item.question}",
                    *shown_box(region.xyxy),
                    region.provenance,
                ]
            )
        return rows

    def apply_table(self, rows: Sequence[Sequence[Any]] | None) -> list[str]:
        """Take the boxes of an edited table; returns the labels whose box changed.

        Every row is checked before anything changes.

        Raises:
            UserInputError: an unknown label, missing or repeated rows, or a bad box.
        """
        rows = [list(r) for r in (rows or []) if r and any(str(v).strip() for v in r)]
        seen: dict[str, XYXY] = {}
        for row in rows:
            label = str(row[0]).strip().upper()
            if label not in self.regions:
                raise UserInputError(
                    f"The table has a row for {label or '(no label)'}, which "
                    "is not a region of this dialogue."
                )
            if label in seen:
                raise UserInputError(f"The table has two rows for {label}.")
            if len(row) < TABLE_BOX_COLUMNS.stop:
                raise UserInputError(f"The row of {label} needs x1, y1, x2, y2.")
            seen[label] = self.check_box(row[TABLE_BOX_COLUMNS], what=f"The box of {label}")
        missing = [label for label in self.regions if label not in seen]
        if missing:
            raise UserInputError(
                f"The table lost the rows of {', '.join(missing)}; rows cannot "
                "be removed (the table was restored)."
            )
        # The table shows rounded boxes: a row equal to the shown box is unchanged.
        changed = [
            label
            for label, box in seen.items()
            if shown_box(box) != shown_box(self.regions[label].xyxy)
        ]
        for label in changed:
            self.regions[label].xyxy = seen[label]
        return changed

    # ------------------------------------------------------------------ export

    def exported_items(self) -> list[DialogueItem]:
        """The items that become turns of the export (those with at least one region)."""
        return [item for item in self.items if item.labels]

    def to_dialogue(
        self, dialogue_id: str, *, meta: dict[str, Any] | None = None
    ) -> tuple[Dialogue, list[str]]:
        """The dialogue as a RegionDial record, plus notes on what was left out.

        The image path is ``images/<dialogue_id>.png`` (the exporter writes it).

        Raises:
            UserInputError: a bad dialogue id, nothing to export, or two questions citing
                different regions of the same turn.
        """
        if not DIALOGUE_ID_PATTERN.match(dialogue_id or ""):
            raise UserInputError(
                "The dialogue id must start with a letter or digit and use "
                "only letters, digits, '.', '_' and '-' (at most 100)."
            )
        items = self.exported_items()
        if not items:
            raise UserInputError(
                "Nothing to download yet: ask a question that finds a region, or add a box."
            )
        notes = [
            f"question {item.index + 1} ('{item.question}') is left out: "
            + ("the backend failed" if item.failed else "it found no region")
            for item in self.items
            if not item.labels
        ]
        export_index = {item.index: i for i, item in enumerate(items)}
        first_label: dict[int, str] = {}
        for item in items:
            if item.cited_label is None:
                continue
            cited = self.regions[item.cited_label]
            chosen = first_label.setdefault(cited.item_index, cited.label)
            if chosen != cited.label:
                raise UserInputError(
                    f"Questions cite both {chosen} and {cited.label}, two regions of question "
                    f"{cited.item_index + 1}; the benchmark format takes the FIRST region of a "
                    "cited question, so only one of them can be cited."
                )
        turns = []
        corrections = []
        for item in items:
            labels = list(item.labels)
            front = first_label.get(item.index)
            if front is not None:
                labels.remove(front)
                labels.insert(0, front)
            targets = []
            for j, label in enumerate(labels):
                region = self.regions[label]
                bbox = tuple(_num(v, EXPORT_DECIMALS) for v in region.xyxy)
                targets.append(Target(bbox=bbox))  # type: ignore[arg-type]
                if region.corrected:
                    corrections.append(
                        {
                            "turn_index": export_index[item.index],
                            "target": j,
                            "label": label,
                            "predicted_bbox": [
                                _num(v, EXPORT_DECIMALS) for v in region.predicted_xyxy or ()
                            ],
                        }
                    )
            refers_to = export_index[item.refers_to] if item.refers_to is not None else None
            turns.append(
                Turn(
                    turn_index=export_index[item.index],
                    question=item.template,
                    targets=tuple(targets),
                    refers_to=refers_to,
                )
            )
        record_meta: dict[str, Any] = dict(meta or {})
        record_meta["labels"] = {str(export_index[item.index]): item.labels for item in items}
        if corrections:
            record_meta["corrections"] = corrections
        source_name = self.source.name if self.source.kind == "example" else "upload"
        dialogue = Dialogue(
            dialogue_id=dialogue_id,
            image=f"{IMAGES_DIR}/{dialogue_id}.png",
            turns=tuple(turns),
            image_wh=self.image_wh,
            source=f"{EXPORT_SOURCE_PREFIX}/{source_name}",
            meta=record_meta,
        )
        return dialogue, notes


__all__ = [
    "LABEL_PATTERN",
    "TABLE_HEADERS",
    "DialogueItem",
    "DialogueState",
    "ImageSource",
    "Region",
    "ResolvedQuestion",
    "format_box",
]
