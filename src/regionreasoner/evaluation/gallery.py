"""The ``report.html`` gallery: each sampled dialogue's turns drawn on the image.

This module draws and describes the cards (:func:`dialogue_cards`); the HTML comes
from the report's template (``templates/report.html.j2``).

Per turn: the reference box (yellow, dashed, labelled ``ref``), the predicted boxes
(red) and mask (semi-transparent red), the first GT box (green), then the question and
the ``<scene>``/``<focus>``/``<think>``/``<answer>`` text of the raw model output.
Images are downscaled to :data:`THUMBNAIL_MAX_SIDE` and embedded as base64 JPEG, so
the HTML file is self-contained. A missing image is reported in the card, not raised.
"""

from __future__ import annotations

import base64
import io
import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regionreasoner.data.io import resolve_image_path
from regionreasoner.errors import ImageError
from regionreasoner.evaluation.accumulators import TurnScore
from regionreasoner.evaluation.canvas import dashed_rectangle
from regionreasoner.evaluation.metrics import turn_iou
from regionreasoner.evaluation.scoring import ScoredRun, data_turn
from regionreasoner.geometry import decode_rle

if TYPE_CHECKING:  # the loader imports PIL: loaded when a gallery is drawn
    from regionreasoner.data.images import LoadedImage

logger = logging.getLogger(__name__)

THUMBNAIL_MAX_SIDE = 320
"""Longest side of an embedded image, pixels."""

JPEG_QUALITY = 80
MASK_ALPHA = 0.45
"""Opacity of the predicted-mask overlay."""

LINE_WIDTH = 2
DASH_LENGTH = 6
TEXT_LIMIT = 1200
"""Characters of each tag's text shown before truncation."""

REFERENCE_COLOR = (255, 215, 0)
PREDICTION_COLOR = (230, 30, 30)
GROUND_TRUTH_COLOR = (20, 190, 60)

RESPONSE_TAGS = ("scene", "focus", "think", "answer")
_TAG_PATTERNS = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL) for tag in RESPONSE_TAGS}


@dataclass(frozen=True, slots=True)
class GalleryTurn:
    """What one gallery card shows.

    Attributes:
        row: the ``predictions.jsonl`` row.
        score: its :class:`TurnScore`.
        question: the question as asked (reference filled in), or the prompt.
        gt_xyxy: the first GT box, original pixels, when known.
    """

    row: Mapping[str, Any]
    score: TurnScore
    question: str
    gt_xyxy: Sequence[float] | None


def sample_dialogue_ids(dialogue_ids: Sequence[str], count: int, seed: int) -> list[str]:
    """Up to ``count`` ids chosen with ``random.Random(seed)``, in sorted order."""
    ordered = sorted(set(dialogue_ids))
    if count >= len(ordered):
        return ordered
    return sorted(random.Random(seed).sample(ordered, count))


def extract_tags(text: str | None) -> dict[str, str]:
    """``{tag: content}`` of the four response tags found in ``text`` (first occurrence)."""
    found: dict[str, str] = {}
    for tag, pattern in _TAG_PATTERNS.items():
        match = pattern.search(text or "")
        if match:
            found[tag] = match.group(1).strip()
    return found


def _valid_box(box: Any) -> list[float] | None:
    if isinstance(box, list | tuple) and len(box) == 4:
        try:
            return [float(v) for v in box]
        except (TypeError, ValueError):
            return None
    return None


def draw_turn(image: Any, turn: GalleryTurn, image_wh: tuple[int, int] | None = None) -> Any:
    """A thumbnail of ``image`` (PIL) with the turn's regions drawn.

    ``image_wh`` is the full-resolution size the boxes and masks refer to (default:
    ``image.size``); ``image`` itself may be a reduced copy of that image.
    """
    from PIL import Image, ImageDraw

    width, height = image_wh if image_wh is not None else image.size
    scale = min(1.0, THUMBNAIL_MAX_SIDE / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    thumb = image.resize(size, Image.Resampling.BILINEAR) if image.size != size else image.copy()

    mask_rle = turn.row.get("mask")
    if isinstance(mask_rle, Mapping) and list(mask_rle.get("size", [])) == [height, width]:
        try:
            dense = decode_rle(dict(mask_rle))
        except (KeyError, TypeError, ValueError) as e:
            logger.warning(
                "dialogue %s turn %s: cannot decode the predicted mask: %s",
                turn.row.get("dialogue_id"),
                turn.row.get("turn_index"),
                e,
            )
        else:
            # Reduced to the thumbnail while still one byte per pixel (``dense * alpha``
            # would make an int64 copy: 870 MB for a 108 MP image); sampling with NEAREST
            # before or after scaling the values gives the same thumbnail.
            opacity = int(255 * MASK_ALPHA)
            small = Image.fromarray(dense).resize(size, Image.Resampling.NEAREST)
            alpha = small.point(lambda v: opacity if v else 0, mode="L")
            thumb = Image.composite(Image.new("RGB", size, PREDICTION_COLOR), thumb, alpha)

    draw = ImageDraw.Draw(thumb)

    def scaled(box: Sequence[float]) -> list[float]:
        return [v * scale for v in box]

    if turn.gt_xyxy is not None:
        draw.rectangle(scaled(turn.gt_xyxy), outline=GROUND_TRUTH_COLOR, width=LINE_WIDTH)
    for box in turn.row.get("pred_bboxes") or []:
        valid = _valid_box(box)
        if valid is not None and valid[2] >= valid[0] and valid[3] >= valid[1]:
            draw.rectangle(scaled(valid), outline=PREDICTION_COLOR, width=LINE_WIDTH)
    reference = _valid_box(turn.row.get("reference_bbox"))
    if reference is not None:
        ref = scaled(reference)
        dashed_rectangle(draw, ref, REFERENCE_COLOR, width=LINE_WIDTH, dash_px=DASH_LENGTH)
        draw.text((ref[0] + 3, ref[1] + 2), "ref", fill=REFERENCE_COLOR)
    return thumb


def jpeg_data_uri(image: Any) -> str:
    """A ``data:image/jpeg;base64,...`` URI of a PIL image."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def load_image(
    path: Path | None, *, max_pixels: int | None = None
) -> tuple[LoadedImage | None, str | None]:
    """``(image reduced for a thumbnail, None)`` or ``(None, reason)`` when the image
    cannot be used (missing, damaged, over ``max_pixels``; default: the loader's
    :data:`~regionreasoner.data.images.DEFAULT_MAX_IMAGE_PIXELS`): the card says why."""
    if path is None:
        return None, "image not available (no data file)"
    from regionreasoner.data import images

    try:
        loaded = images.load_image(
            path,
            max_pixels=images.DEFAULT_MAX_IMAGE_PIXELS if max_pixels is None else max_pixels,
            min_wh=(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE),
            name=path.name,
        )
    except ImageError as e:
        return None, e.message
    return loaded, None


def _truncate(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


@dataclass(frozen=True, slots=True)
class GalleryCard:
    """What one ``<figure>`` of the gallery shows (rendered by ``report.html.j2``).

    Attributes:
        verdict: ``hit`` or ``miss``.
        image_uri: the drawn thumbnail as a data URI, or ``None`` without an image.
        missing_reason: why there is no image (shown instead).
        facts: round, verdict, mask IoU, reference source, failures.
        question: the question as asked (truncated).
        details: ``(label, text)`` of each response tag found (or the raw output).
    """

    verdict: str
    image_uri: str | None
    missing_reason: str
    facts: str
    question: str
    details: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class GalleryDialogue:
    """One dialogue's section of the gallery: its id and its turns' cards."""

    dialogue_id: str
    cards: tuple[GalleryCard, ...]


def turn_card(
    turn: GalleryTurn, image: LoadedImage | None, missing_reason: str | None
) -> GalleryCard:
    """The card of one turn (the image drawn with the turn's regions, when there is one)."""
    row, score = turn.row, turn.score
    verdict = "hit" if score.hit_any else "miss"
    iou = turn_iou(score.intersection, score.union) if score.has_segmentation else None  # type: ignore[arg-type]
    facts = [
        f"R{score.round}",
        verdict,
        f"mask IoU {_percent(iou)}",
        f"reference: {row.get('reference_source') or 'none'}",
    ]
    if score.failed:
        facts.append("FAILED")
    if score.text_lost:
        facts.append(f"text lost by the server ({row.get('text_lost')})")
    elif not score.format_ok:
        facts.append("format issues")
    tags = extract_tags(row.get("text"))
    details = tuple((tag, _truncate(tags[tag])) for tag in RESPONSE_TAGS if tag in tags)
    if not tags and row.get("text"):
        details = (("raw output", _truncate(str(row["text"]))),)
    return GalleryCard(
        verdict=verdict,
        image_uri=(
            jpeg_data_uri(draw_turn(image.pixels, turn, image.image_wh))
            if image is not None
            else None
        ),
        missing_reason=missing_reason or "image not available",
        facts=" · ".join(facts),
        question=_truncate(turn.question, 500),
        details=details,
    )


@dataclass(frozen=True, slots=True)
class GalleryView:
    """The gallery of ``report.html``: the sampled dialogues' cards.

    Attributes:
        dialogues: the sampled dialogues, by id.
        total: dialogues the run has.
        seed: seed of the sample.
    """

    dialogues: tuple[GalleryDialogue, ...]
    total: int
    seed: int


def gallery_view(run: ScoredRun, count: int, seed: int) -> GalleryView | None:
    """Up to ``count`` dialogues of a scored run, sampled with ``seed`` and drawn (``None``
    for no gallery: ``count`` 0 or no rows)."""
    if count <= 0 or not run.rows:
        return None
    by_dialogue: dict[str, list[GalleryTurn]] = {}
    for row, score in zip(run.rows, run.scores, strict=True):
        turn = data_turn(row, run.dialogues)
        gt_boxes = row.get("gt_bboxes") or ([list(t.bbox) for t in turn.targets] if turn else [])
        if isinstance(row.get("question"), str):
            question = row["question"]
        elif turn is not None:
            question = turn.render_question("[ref]" if row.get("reference_bbox") else None)
        else:
            question = str(row.get("prompt") or "")
        by_dialogue.setdefault(str(row["dialogue_id"]), []).append(
            GalleryTurn(row, score, question, gt_boxes[0] if gt_boxes else None)
        )
    sections = []
    for dialogue_id in sample_dialogue_ids(list(by_dialogue), count, seed):
        turns = sorted(by_dialogue[dialogue_id], key=lambda t: t.row["turn_index"])
        sections.append(
            dialogue_cards(
                dialogue_id,
                turns,
                _image_path(run, dialogue_id),
                max_pixels=run.settings.max_image_pixels,
            )
        )
    return GalleryView(tuple(sections), len(by_dialogue), seed)


def _image_path(run: ScoredRun, dialogue_id: str) -> Path | None:
    if run.dialogues is None or run.data_path is None or dialogue_id not in run.dialogues:
        return None
    images_root = run.settings.images_root
    root = Path(images_root) if images_root else run.data_path.resolve().parent
    path = resolve_image_path(run.dialogues[dialogue_id], run.data_path, images_root)
    if not path.resolve().is_relative_to(root.resolve()):
        logger.warning("dialogue %s: image path %s escapes %s; not drawn", dialogue_id, path, root)
        return None
    return path


def dialogue_cards(
    dialogue_id: str,
    turns: Sequence[GalleryTurn],
    image_path: Path | None,
    *,
    max_pixels: int | None = None,
) -> GalleryDialogue:
    """One dialogue's cards (the image read once, reduced for thumbnails, drawn per turn)."""
    image, reason = load_image(image_path, max_pixels=max_pixels)
    return GalleryDialogue(dialogue_id, tuple(turn_card(t, image, reason) for t in turns))


__all__ = [
    "THUMBNAIL_MAX_SIDE",
    "GalleryCard",
    "GalleryDialogue",
    "GalleryTurn",
    "GalleryView",
    "dialogue_cards",
    "draw_turn",
    "extract_tags",
    "gallery_view",
    "jpeg_data_uri",
    "load_image",
    "sample_dialogue_ids",
    "turn_card",
]
