"""The RegionDial record types (``schema_version`` 1) and their dict/JSON mapping.

One :class:`Dialogue` per JSONL line; see ``docs/data_format.md`` for the full
specification. Conversions are strict: :meth:`Dialogue.from_dict` raises
:class:`~regionreasoner.errors.DataFormatError` naming the field on the first problem.
``regionreasoner.data.dialogue_checks`` reports every problem of a file instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from regionreasoner.data.dialogue_checks import dialogue_problems
from regionreasoner.data.spec import (
    EXTRA_RELATIONS,
    KNOWN_RELATIONS,
    PAPER_RELATIONS,
    REF_PLACEHOLDER,
    SCHEMA_VERSION,
    SUPPORTED_SCHEMA_VERSIONS,
    is_finite_number,
)
from regionreasoner.errors import DataFormatError


@dataclass(frozen=True, slots=True)
class Target:
    """One ground-truth object of a turn.

    Attributes:
        bbox: xyxy in original-image pixels.
        mask: COCO RLE ``{"size": [H, W], "counts": str}`` or ``None``.
        ann_id: COCO annotation id, when known.
        category: category name, when known.
    """

    bbox: tuple[float, float, float, float]
    mask: dict[str, Any] | None = None
    ann_id: int | None = None
    category: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; optional fields are omitted when unset."""
        out: dict[str, Any] = {"bbox": [_num(v) for v in self.bbox]}
        if self.mask is not None:
            out["mask"] = self.mask
        if self.ann_id is not None:
            out["ann_id"] = self.ann_id
        if self.category is not None:
            out["category"] = self.category
        return out


@dataclass(frozen=True, slots=True)
class Turn:
    """One question of a dialogue.

    Attributes:
        turn_index: 0-based position, stored explicitly (never inferred).
        question: the question; contains ``{ref}`` iff ``refers_to`` is set.
        refers_to: index of the earlier turn whose region the question cites.
        relation: the relation between this turn's target and the cited region.
        targets: ground-truth objects (at least one).
        captions: optional ``{"scene": ..., "focus": ...}`` texts (synthetic data),
            used to render supervised targets and by the consistency reward.
    """

    turn_index: int
    question: str
    targets: tuple[Target, ...]
    refers_to: int | None = None
    relation: str | None = None
    captions: dict[str, str] | None = None

    @property
    def has_reference(self) -> bool:
        """Whether the question cites an earlier region."""
        return self.refers_to is not None

    def render_question(self, reference_text: str | None) -> str:
        """The question with ``{ref}`` replaced by ``reference_text``.

        A missing reference (``None``) is rendered as ``"[missing]"`` so the turn can
        still be asked; callers record that it was missing.
        """
        if not self.has_reference:
            return self.question
        return self.question.replace(REF_PLACEHOLDER, reference_text or "[missing]")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out: dict[str, Any] = {
            "turn_index": self.turn_index,
            "question": self.question,
            "refers_to": self.refers_to,
            "relation": self.relation,
            "targets": [t.to_dict() for t in self.targets],
        }
        if self.captions:
            out["captions"] = dict(self.captions)
        return out


@dataclass(frozen=True, slots=True)
class Dialogue:
    """A multi-round referring dialogue over one image.

    Attributes:
        dialogue_id: unique id within a file.
        image: image path relative to the data file's folder (or ``--images-root``).
        turns: the turns, ``turns[i].turn_index == i``.
        image_wh: ``(W, H)`` of the original image, when known.
        source: provenance, e.g. ``"refcocog/test"`` or ``"synth"``.
        meta: free-form extra fields (kept on round trips).
    """

    dialogue_id: str
    image: str
    turns: tuple[Turn, ...]
    image_wh: tuple[int, int] | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the RegionDial layout."""
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "dialogue_id": self.dialogue_id,
            "image": self.image,
            "image_wh": list(self.image_wh) if self.image_wh else None,
            "source": self.source,
            "turns": [t.to_dict() for t in self.turns],
        }
        if self.meta:
            out["meta"] = self.meta
        return out

    @classmethod
    def from_dict(cls, obj: Any, *, path: str | None = None, line: int | None = None) -> Dialogue:
        """Build a dialogue from its JSON dict, raising on the first problem.

        Raises:
            DataFormatError: with the file, dialogue id (or line) and field path.
        """
        errors = [p for p in dialogue_problems(obj, path=path, line=line) if p.severity == "error"]
        if errors:  # warnings (e.g. an all-zero mask) do not make a record invalid
            raise errors[0].to_error()
        return _build(obj)


def _num(value: float) -> int | float:
    """Keep integral coordinates as ints in JSON."""
    return int(value) if float(value).is_integer() else float(value)


def _build(obj: dict[str, Any]) -> Dialogue:
    turns = []
    for t in obj["turns"]:
        targets = tuple(
            Target(
                bbox=tuple(float(v) for v in tg["bbox"]),  # type: ignore[arg-type]
                mask=tg.get("mask"),
                ann_id=tg.get("ann_id"),
                category=tg.get("category"),
            )
            for tg in t["targets"]
        )
        turns.append(
            Turn(
                turn_index=int(t["turn_index"]),
                question=t["question"],
                targets=targets,
                refers_to=t.get("refers_to"),
                relation=t.get("relation"),
                captions=t.get("captions"),
            )
        )
    wh = obj.get("image_wh")
    return Dialogue(
        dialogue_id=str(obj["dialogue_id"]),
        image=obj["image"],
        turns=tuple(turns),
        image_wh=(int(wh[0]), int(wh[1])) if wh else None,
        source=obj.get("source"),
        meta=obj.get("meta") or {},
    )


__all__ = [
    "EXTRA_RELATIONS",
    "KNOWN_RELATIONS",
    "PAPER_RELATIONS",
    "REF_PLACEHOLDER",
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "DataFormatError",
    "Dialogue",
    "Target",
    "Turn",
    "is_finite_number",
]
