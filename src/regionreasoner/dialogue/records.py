"""The prediction row of one finished turn (DESIGN 3.3): :class:`TurnRecord`.

The runner and the interactive engine build a :class:`TurnRecord` per turn; ``eval``
appends its :meth:`~TurnRecord.to_row` to ``predictions.jsonl`` through
:class:`regionreasoner.evaluation.predictions.PredictionsLog`. The run directory itself
(file names, ``config.json``, resume checks) belongs to
:mod:`regionreasoner.evaluation.run_dir`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt


def _num(value: float) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def boxes_to_json(xyxy: npt.ArrayLike) -> list[list[int | float]]:
    """``(N, 4)`` boxes as JSON lists (integral values written as ints)."""
    return [[_num(v) for v in box] for box in np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)]


def points_to_json(points: npt.ArrayLike) -> list[list[int | float] | None]:
    """``(N, 2)`` points as JSON lists; a NaN row (no point) becomes ``null``."""
    out: list[list[int | float] | None] = []
    for point in np.asarray(points, dtype=np.float64).reshape(-1, 2):
        out.append([_num(v) for v in point] if np.isfinite(point).all() else None)
    return out


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One finished turn: a ``predictions.jsonl`` row.

    Coordinates are original-image pixels unless the name says otherwise.

    Attributes:
        dialogue_id, turn_index: the turn (``turn_index`` 0-based, round = index + 1).
        refers_to: the cited earlier turn, or ``None``.
        relation: the data's relation between the target and the cited region
            (``above``, ``inside``, ...), or ``None``.
        protocol, reference_policy: how the turn was run.
        question: the question with the reference substituted.
        prompt: the full user text sent to the model.
        text: the model's completion ("" when the backend failed); for a server that
            split it into several fields, rebuilt in the model's order.
        text_lost: why part of the completion is missing from ``text`` (the server
            dropped it, e.g. ``before_reasoning``), or ``None``; format and citation
            metrics are then unavailable.
        failed: the backend failed after its retries (scored as a miss).
        error: the failure message, or ``None``.
        attempts: backend attempts for this turn.
        latency_s: seconds the request waited for its answer.
        pred_bboxes: ``(N, 4)`` predicted boxes.
        pred_points: ``N`` points, ``None`` for an item without a point.
        reference_bbox: the substituted reference box, or ``None``.
        reference_prompt_bbox: the reference numbers as written in the prompt.
        reference_text: the substituted text, or ``None``.
        reference_source: ``predicted``, ``ground_truth``, ``fallback_gt`` or ``none``.
        reference_missing: the turn cites an earlier region but nothing was substituted.
        mask: predicted union mask (RLE), or ``None`` (no segmenter or failed turn).
        gt_bboxes: the turn's ground-truth boxes (the first one is scored).
        gt_mask: RLE of the first target's mask, or ``None``.
        intersection, union: mask pixel counts against ``gt_mask`` (``None`` when
            either mask source is absent).
        parse_issues: ``{"code", "message"}`` of each problem found in the text.
        format_ok: well-formed output with at least one usable region.
        cited_reference: ``<think>`` cites the reference (``None``: no reference).
        hallucinated_citation: ``<think>`` cites a ``bbox`` that is not the reference.
        model_wh: ``(W, H)`` of the frame the model saw.
        image_wh: ``(W, H)`` of the original image.
        frame: the frame (a ``--frame`` name) the answer was read in and the reference
            written in (rows written before frames were recorded have none: readers
            take ``config.json``'s ``frame``).
    """

    dialogue_id: str
    turn_index: int
    refers_to: int | None
    relation: str | None
    protocol: str
    reference_policy: str
    question: str
    prompt: str
    text: str
    text_lost: str | None
    failed: bool
    error: str | None
    attempts: int
    latency_s: float
    pred_bboxes: list[list[int | float]]
    pred_points: list[list[int | float] | None]
    reference_bbox: list[int | float] | None
    reference_prompt_bbox: list[int | float] | None
    reference_text: str | None
    reference_source: str
    reference_missing: bool
    mask: dict[str, Any] | None
    gt_bboxes: list[list[int | float]]
    gt_mask: dict[str, Any] | None
    intersection: int | None
    union: int | None
    parse_issues: list[dict[str, str]]
    format_ok: bool
    cited_reference: bool | None
    hallucinated_citation: bool | None
    model_wh: list[int]
    image_wh: list[int]
    frame: str

    def to_row(self) -> dict[str, Any]:
        """The JSON-ready row (a shallow dict: the values are JSON-ready already)."""
        return {name: getattr(self, name) for name in _RECORD_FIELDS}


_RECORD_FIELDS = tuple(f.name for f in fields(TurnRecord))
