"""The ``report.html`` gallery: each sampled dialogue's turns drawn on the image.

Per turn: the reference box (yellow, dashed, labelled ``ref``), the predicted boxes
(red) and mask (semi-transparent red), the first GT box (green), then the question and
the ``<scene>``/``<focus>``/``<think>``/``<answer>`` text of the raw model output.
Images are downscaled to :data:`THUMBNAIL_MAX_SIDE` and embedded as base64 JPEG, so
the HTML file is self-contained. A missing image is reported in the card, not raised.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from regionreasoner.errors import ImageError
from regionreasoner.evaluation.accumulators import TurnScore
from regionreasoner.evaluation.canvas import dashed_rectangle
from regionreasoner.evaluation.metrics import turn_iou
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
            alpha = Image.fromarray((dense * int(255 * MASK_ALPHA)).astype(np.uint8))
            alpha = alpha.resize(size, Image.Resampling.NEAREST)
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


def render_turn_card(
    turn: GalleryTurn, image: LoadedImage | None, missing_reason: str | None
) -> str:
    """One ``<figure>`` of the gallery."""
    row, score = turn.row, turn.score
    esc = html.escape
    if image is not None:
        thumb = draw_turn(image.pixels, turn, image.image_wh)
        visual = f'<img src="{jpeg_data_uri(thumb)}" alt="turn image">'
    else:
        visual = f'<div class="noimg">{esc(missing_reason or "image not available")}</div>'
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
    details = "".join(
        f"<dt>{tag}</dt><dd>{esc(_truncate(tags[tag]))}</dd>"
        for tag in RESPONSE_TAGS
        if tag in tags
    )
    if not tags and row.get("text"):
        details = f"<dt>raw output</dt><dd>{esc(_truncate(str(row['text'])))}</dd>"
    return (
        f'<figure class="turn {verdict}">{visual}'
        f'<figcaption><p class="facts">{esc(" · ".join(facts))}</p>'
        f'<p class="question">{esc(_truncate(turn.question, 500))}</p>'
        f"<dl>{details}</dl></figcaption></figure>"
    )


def render_dialogue(
    dialogue_id: str,
    turns: Sequence[GalleryTurn],
    image_path: Path | None,
    *,
    max_pixels: int | None = None,
) -> str:
    """One dialogue's section of the gallery (image read once, drawn per turn)."""
    image, reason = load_image(image_path, max_pixels=max_pixels)
    cards = "".join(render_turn_card(t, image, reason) for t in turns)
    return (
        f'<section class="dialogue"><h3>Dialogue {html.escape(dialogue_id)}</h3>'
        f'<div class="turns">{cards}</div></section>'
    )


__all__ = [
    "THUMBNAIL_MAX_SIDE",
    "GalleryTurn",
    "draw_turn",
    "extract_tags",
    "jpeg_data_uri",
    "load_image",
    "render_dialogue",
    "render_turn_card",
    "sample_dialogue_ids",
]
