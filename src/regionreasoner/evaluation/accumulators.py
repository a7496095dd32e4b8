"""Per-turn scores and per-round accumulators.

One ``predictions.jsonl`` row (DESIGN 3.3) becomes one :class:`TurnScore` through
:func:`score_row`; :class:`RoundAccumulator` aggregates scores of one round (or of all
rounds: the ``overall`` entry, which is how the paper's "Avg" columns are computed), and
:class:`MetricsAccumulator` holds the overall accumulator plus one per round.

Rounds are 1-based and come from the row's stored ``turn_index`` through
:func:`round_of`, the only place that maps turns to rounds; record order never matters.

Row fields read by :func:`score_row` (all written by ``regionreasoner eval``):

- ``turn_index`` (int, 0-based), ``pred_bboxes`` (``(N, 4)`` xyxy, original pixels).
- ``gt_bboxes`` (``(M, 4)``, original pixels; only the FIRST is scored, as in the
  released code) and ``gt_mask`` (RLE of the FIRST target, or null). When absent, the
  ``gt`` argument (from the benchmark file) supplies them.
- ``intersection``/``union`` (mask pixel counts, null without masks). When absent they
  are recomputed from the ``mask`` and ``gt_mask`` RLEs; a missing predicted mask
  against a GT mask counts as ``I = 0, U = |GT|``.
- ``failed`` (bool): the backend failed after its retries; scored as a miss
  (``acc 0``, ``I = 0``, ``U = |GT|``) and counted in ``failed_turns``.
- ``format_ok`` (bool), else ``not parse_issues``; a failed turn without the field is
  not format-valid.
- ``cited_reference``/``hallucinated_citation`` (bool or null; null = the prompt had no
  reference, so the citation rates do not apply).
- ``text_lost`` (string or null): why part of the completion is missing from ``text``
  (the server dropped it). A group of turns with any such turn reports the metrics of
  :data:`TEXT_METRIC_KEYS` as null (unavailable), never as a rate over a text that is
  not all there; ``text_lost_turns`` counts those turns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from regionreasoner.data.schema import Turn
from regionreasoner.errors import DataFormatError
from regionreasoner.evaluation.metrics import (
    PASS_THRESHOLDS,
    box_hit_any,
    box_hit_top1,
    cumulative_iou,
    fraction,
    mean_iou,
    pass_rates,
)
from regionreasoner.geometry import rle_area, rle_intersection_union
from regionreasoner.geometry.boxes import as_xyxy_array

RLE = dict[str, Any]

ROUND_METRIC_KEYS = (
    "acc@0.5",
    "acc@0.5_top1",
    "gIoU",
    "cIoU",
    *(f"pass@{t:g}" for t in PASS_THRESHOLDS),
    "turns",
    "segmentation_turns",
    "format_ok",
    "citation_rate",
    "hallucinated_citation_rate",
    "reference_turns",
    "failed_turns",
    "text_lost_turns",
)
"""Keys of every entry of ``metrics.json``'s ``overall`` and ``rounds``."""

TEXT_METRIC_KEYS = ("format_ok", "citation_rate", "hallucinated_citation_rate")
"""Metrics read from the completion's text beyond its answer (tags, ``<think>``
citations): null for a group of turns where any turn's text is incomplete."""


def round_of(turn_index: int) -> int:
    """The 1-based round (``R1``, ``R2``, ...) of a 0-based stored ``turn_index``.

    Raises:
        ValueError: ``turn_index`` is not a non-negative int.
    """
    if isinstance(turn_index, bool) or not isinstance(turn_index, int) or turn_index < 0:
        raise ValueError(f"turn_index must be a non-negative int, got {turn_index!r}")
    return turn_index + 1


@dataclass(frozen=True, slots=True)
class TurnTruth:
    """Ground truth of one turn, for rows that do not carry it.

    Attributes:
        gt_xyxy: the turn's target boxes, original-image pixels; the first is scored.
        gt_mask: RLE of the FIRST target's mask, or ``None`` (detection-only data).
    """

    gt_xyxy: tuple[tuple[float, float, float, float], ...]
    gt_mask: RLE | None = None

    @classmethod
    def from_turn(cls, turn: Turn) -> TurnTruth:
        """The truth of a benchmark :class:`~regionreasoner.data.schema.Turn`."""
        return cls(
            gt_xyxy=tuple(tuple(t.bbox) for t in turn.targets),  # type: ignore[misc]
            gt_mask=turn.targets[0].mask if turn.targets else None,
        )


@dataclass(frozen=True, slots=True)
class TurnScore:
    """The score of one turn.

    Attributes:
        round: 1-based round (see :func:`round_of`).
        hit_any: some predicted box has IoU > 0.5 with the first GT box.
        hit_top1: the first predicted box does.
        intersection: mask intersection in pixels, ``None`` without masks.
        union: mask union in pixels, ``None`` without masks.
        format_ok: the output parsed without issues.
        cited: the reasoning cited the reference box (``None``: no reference).
        hallucinated: the reasoning cited a box that is not the reference (``None``: no
            reference).
        failed: the backend failed on this turn (scored as a miss).
        text_lost: part of the completion is missing (the server dropped it), so the
            text metrics of this turn cannot be known.
    """

    round: int
    hit_any: bool
    hit_top1: bool
    intersection: int | None
    union: int | None
    format_ok: bool
    cited: bool | None
    hallucinated: bool | None
    failed: bool
    text_lost: bool = False

    @property
    def has_segmentation(self) -> bool:
        """Whether the turn has mask counts."""
        return self.intersection is not None and self.union is not None


def _record(row: Mapping[str, Any]) -> str:
    return f"dialogue {row.get('dialogue_id')} turn {row.get('turn_index')}"


def _optional_bool(row: Mapping[str, Any], key: str) -> bool | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise DataFormatError(
            f"expected true, false or null, got {value!r}", record=_record(row), field=key
        )
    return value


def _optional_count(row: Mapping[str, Any], key: str) -> int | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DataFormatError(
            f"expected a non-negative pixel count or null, got {value!r}",
            record=_record(row),
            field=key,
        )
    if isinstance(value, float) and not value.is_integer():
        raise DataFormatError(
            f"expected an integer pixel count, got {value!r}", record=_record(row), field=key
        )
    return int(value)


def _boxes(row: Mapping[str, Any], key: str, value: Any) -> Any:
    try:
        return as_xyxy_array(value if value is not None else [])
    except (TypeError, ValueError) as e:
        raise DataFormatError(
            f"expected a list of [x1, y1, x2, y2] boxes ({e})", record=_record(row), field=key
        ) from e


def _mask_counts(
    row: Mapping[str, Any], gt_mask: RLE | None, *, failed: bool, segmentation: bool
) -> tuple[int | None, int | None]:
    """``(I, U)`` from the stored counts, else recomputed from the RLEs."""
    if "intersection" in row or "union" in row:
        inter, union = _optional_count(row, "intersection"), _optional_count(row, "union")
        if (inter is None) != (union is None):
            raise DataFormatError(
                "intersection and union must both be set or both be null",
                record=_record(row),
                field="union",
            )
        if inter is not None and union is not None and inter > union:
            raise DataFormatError(
                f"intersection {inter} exceeds union {union}",
                record=_record(row),
                field="intersection",
            )
        return inter, union
    if gt_mask is None or not segmentation:
        return None, None
    try:
        pred_mask = None if failed else row.get("mask")
        if pred_mask is None:
            return 0, rle_area(gt_mask)
        return rle_intersection_union(pred_mask, gt_mask)
    except (KeyError, TypeError, ValueError) as e:
        raise DataFormatError(
            f"cannot compare the predicted mask with the GT mask: {e}",
            record=_record(row),
            field="mask",
        ) from e


def score_row(
    row: Mapping[str, Any], gt: TurnTruth | None = None, *, segmentation: bool = True
) -> TurnScore:
    """Score one ``predictions.jsonl`` row.

    Args:
        row: the row (fields listed in the module docstring).
        gt: ground truth for a row without ``gt_bboxes``/``gt_mask`` (from the
            benchmark file); the row's own fields win when present.
        segmentation: whether the run produced masks; when ``False`` and the row has no
            stored counts, the turn has no segmentation score (``I = U = None``).

    Raises:
        DataFormatError: the row lacks a usable ``turn_index`` or ground truth, or a
            field has the wrong type (the record names the dialogue and turn).
    """
    try:
        round_number = round_of(row.get("turn_index"))  # type: ignore[arg-type]
    except ValueError as e:
        raise DataFormatError(str(e), record=_record(row), field="turn_index") from e

    gt_value = row.get("gt_bboxes")
    if gt_value is None and gt is not None:
        gt_value = [list(b) for b in gt.gt_xyxy]
    gt_xyxy = _boxes(row, "gt_bboxes", gt_value)
    if len(gt_xyxy) == 0:
        raise DataFormatError(
            "no ground-truth box for this turn; pass the benchmark file "
            "(score --data BENCH.jsonl) or store gt_bboxes in the row",
            record=_record(row),
            field="gt_bboxes",
        )
    gt_mask = row.get("gt_mask")
    if gt_mask is None and gt is not None:
        gt_mask = gt.gt_mask

    failed = _optional_bool(row, "failed") or False
    pred_xyxy = _boxes(row, "pred_bboxes", None if failed else row.get("pred_bboxes"))
    inter, union = _mask_counts(row, gt_mask, failed=failed, segmentation=segmentation)

    format_ok = _optional_bool(row, "format_ok")
    if format_ok is None:
        format_ok = not failed and not row.get("parse_issues")
    text_lost = row.get("text_lost")
    if text_lost is not None and not isinstance(text_lost, str):
        raise DataFormatError(
            f"expected a string or null, got {text_lost!r}", record=_record(row), field="text_lost"
        )

    return TurnScore(
        round=round_number,
        hit_any=box_hit_any(pred_xyxy, gt_xyxy),
        hit_top1=box_hit_top1(pred_xyxy, gt_xyxy),
        intersection=inter,
        union=union,
        format_ok=format_ok,
        cited=_optional_bool(row, "cited_reference"),
        hallucinated=_optional_bool(row, "hallucinated_citation"),
        failed=failed,
        text_lost=text_lost is not None,
    )


class RoundAccumulator:
    """Aggregates :class:`TurnScore` values of one round (or of all rounds).

    ``compute()`` returns the keys of :data:`ROUND_METRIC_KEYS`; segmentation metrics
    are computed over the turns that have mask counts and are ``None`` when none has;
    the :data:`TEXT_METRIC_KEYS` are ``None`` when any turn's text is incomplete.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every score."""
        self._hits_any: list[bool] = []
        self._hits_top1: list[bool] = []
        self._intersections: list[int] = []
        self._unions: list[int] = []
        self._format_ok: list[bool] = []
        self._cited: list[bool | None] = []
        self._hallucinated: list[bool | None] = []
        self._failed = 0
        self._text_lost = 0

    def update(self, score: TurnScore) -> RoundAccumulator:
        """Add one turn; returns ``self`` so calls chain."""
        self._hits_any.append(score.hit_any)
        self._hits_top1.append(score.hit_top1)
        if score.intersection is not None and score.union is not None:
            self._intersections.append(score.intersection)
            self._unions.append(score.union)
        self._format_ok.append(score.format_ok)
        self._cited.append(score.cited)
        self._hallucinated.append(score.hallucinated)
        self._failed += int(score.failed)
        self._text_lost += int(score.text_lost)
        return self

    @property
    def turns(self) -> int:
        """Number of turns added."""
        return len(self._hits_any)

    def compute(self) -> dict[str, Any]:
        """The metrics of the turns added so far (fractions in [0, 1], counts as ints)."""
        inters, unions = self._intersections, self._unions
        out: dict[str, Any] = {
            "acc@0.5": fraction(self._hits_any),
            "acc@0.5_top1": fraction(self._hits_top1),
            "gIoU": mean_iou(inters, unions),
            "cIoU": cumulative_iou(inters, unions),
            **pass_rates(inters, unions),
            "turns": self.turns,
            "segmentation_turns": len(inters),
            "format_ok": fraction(self._format_ok),
            "citation_rate": fraction(self._cited),
            "hallucinated_citation_rate": fraction(self._hallucinated),
            "reference_turns": sum(c is not None for c in self._cited),
            "failed_turns": self._failed,
            "text_lost_turns": self._text_lost,
        }
        if self._text_lost:
            out.update(dict.fromkeys(TEXT_METRIC_KEYS))
        return out


class MetricsAccumulator:
    """The ``overall`` accumulator plus one :class:`RoundAccumulator` per round."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every score."""
        self.overall = RoundAccumulator()
        self.rounds: dict[int, RoundAccumulator] = {}

    def update(self, score: TurnScore) -> MetricsAccumulator:
        """Add one turn to ``overall`` and to its round; returns ``self``."""
        self.overall.update(score)
        self.rounds.setdefault(score.round, RoundAccumulator()).update(score)
        return self

    def update_all(self, scores: Sequence[TurnScore]) -> MetricsAccumulator:
        """Add several turns; returns ``self``."""
        for score in scores:
            self.update(score)
        return self

    def compute(self) -> dict[str, Any]:
        """``{"overall": {...}, "rounds": {"1": {...}, "2": {...}}}``, rounds ascending."""
        return {
            "overall": self.overall.compute(),
            "rounds": {str(r): self.rounds[r].compute() for r in sorted(self.rounds)},
        }


__all__ = [
    "ROUND_METRIC_KEYS",
    "TEXT_METRIC_KEYS",
    "MetricsAccumulator",
    "RoundAccumulator",
    "TurnScore",
    "TurnTruth",
    "round_of",
    "score_row",
]
