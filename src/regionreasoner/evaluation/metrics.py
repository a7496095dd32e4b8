"""Functional metrics of RegionDial-Bench: box hits, mask IoU aggregates, pass rates.

Every function here is pure and works on plain numbers or arrays; the per-round
bookkeeping lives in :mod:`regionreasoner.evaluation.accumulators`. Box IoU comes from
:func:`regionreasoner.geometry.box_iou_batch` (continuous area, no "+1 pixel").

Definitions (the report keys in brackets):

- ``[acc@0.5]`` :func:`box_hit_any`: a turn scores 1 when ANY predicted box has IoU
  strictly greater than :data:`IOU_HIT_THRESHOLD` with the turn's FIRST ground-truth
  box. This is what the paper calls "AP"; extra predicted boxes are never penalised.
- ``[acc@0.5_top1]`` :func:`box_hit_top1`: the same test on the first predicted box only.
- ``[gIoU]`` :func:`mean_iou`: mean over turns of ``I / U`` (a turn with ``U = 0`` counts 0).
- ``[cIoU]`` :func:`cumulative_iou`: ``sum(I) / sum(U)`` over turns (0 when ``sum(U) = 0``).
- ``[pass@t]`` :func:`pass_rate`: fraction of turns whose MASK IoU is strictly greater
  than ``t``, for ``t`` in :data:`PASS_THRESHOLDS`, as the released evaluation code does.

Aggregates over zero turns are ``None`` (rendered as ``null``/"n/a"), never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from regionreasoner.geometry import box_iou_batch
from regionreasoner.geometry.boxes import IOU_HIT as IOU_HIT_THRESHOLD
from regionreasoner.geometry.boxes import as_xyxy_array

# IOU_HIT_THRESHOLD (imported above, geometry's IOU_HIT): a predicted box hits when its IoU
# with the first GT box is strictly greater than this; the accuracy reward uses the same.

PASS_THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
"""Mask-IoU thresholds of the pass rates (strictly greater), as in the released code."""


def _first_gt_box(gt_xyxy: npt.ArrayLike) -> npt.NDArray[np.float64]:
    gt = as_xyxy_array(gt_xyxy)
    if len(gt) == 0:
        raise ValueError("a turn needs at least one ground-truth box")
    return gt[:1]


def box_hit_any(
    pred_xyxy: npt.ArrayLike, gt_xyxy: npt.ArrayLike, threshold: float = IOU_HIT_THRESHOLD
) -> bool:
    """Whether any predicted box has IoU > ``threshold`` with the FIRST GT box.

    Args:
        pred_xyxy: ``(N, 4)`` predicted boxes, original-image pixels (``N`` may be 0).
        gt_xyxy: ``(M, 4)`` or ``(4,)`` ground-truth boxes; only the first is used.
        threshold: strict lower bound on the IoU.

    Raises:
        ValueError: ``gt_xyxy`` is empty or a box array is not shaped ``(N, 4)``.

    >>> box_hit_any([[0, 0, 10, 10], [0, 0, 2, 2]], [0, 0, 10, 12])
    True
    >>> box_hit_any([[0, 0, 10, 10]], [[0, 0, 10, 20]])  # IoU exactly 0.5 is no hit
    False
    """
    gt = _first_gt_box(gt_xyxy)
    pred = as_xyxy_array(pred_xyxy)
    if len(pred) == 0:
        return False
    return bool((box_iou_batch(pred, gt)[:, 0] > threshold).any())


def box_hit_top1(
    pred_xyxy: npt.ArrayLike, gt_xyxy: npt.ArrayLike, threshold: float = IOU_HIT_THRESHOLD
) -> bool:
    """Whether the FIRST predicted box has IoU > ``threshold`` with the FIRST GT box.

    >>> box_hit_top1([[0, 0, 2, 2], [0, 0, 10, 10]], [0, 0, 10, 10])
    False
    """
    pred = as_xyxy_array(pred_xyxy)
    return box_hit_any(pred[:1], gt_xyxy, threshold)


def turn_iou(intersection: int, union: int) -> float:
    """Mask IoU of one turn from its pixel counts: ``I / U``, and 0 when ``U = 0``."""
    if intersection < 0 or union < 0 or intersection > union:
        raise ValueError(f"invalid pixel counts: intersection={intersection}, union={union}")
    return intersection / union if union > 0 else 0.0


def _checked_counts(
    intersections: Sequence[int], unions: Sequence[int]
) -> tuple[Sequence[int], Sequence[int]]:
    if len(intersections) != len(unions):
        raise ValueError(
            f"{len(intersections)} intersections but {len(unions)} unions; expected equal lengths"
        )
    return intersections, unions


def mean_iou(intersections: Sequence[int], unions: Sequence[int]) -> float | None:
    """Mean per-turn mask IoU, reported as ``gIoU``; ``None`` for zero turns.

    >>> mean_iou([50, 0], [100, 0])
    0.25
    """
    inters, unions = _checked_counts(intersections, unions)
    if not inters:
        return None
    return float(sum(turn_iou(i, u) for i, u in zip(inters, unions, strict=True)) / len(inters))


def cumulative_iou(intersections: Sequence[int], unions: Sequence[int]) -> float | None:
    """``sum(I) / sum(U)``, reported as ``cIoU``; 0 when ``sum(U) = 0``, ``None`` for zero turns.

    >>> cumulative_iou([50, 0], [100, 0])
    0.5
    """
    inters, unions = _checked_counts(intersections, unions)
    if not inters:
        return None
    total_union = sum(unions)
    return sum(inters) / total_union if total_union > 0 else 0.0


def pass_rate(
    intersections: Sequence[int], unions: Sequence[int], threshold: float
) -> float | None:
    """Fraction of turns whose mask IoU is strictly greater than ``threshold``."""
    inters, unions = _checked_counts(intersections, unions)
    if not inters:
        return None
    passed = sum(turn_iou(i, u) > threshold for i, u in zip(inters, unions, strict=True))
    return passed / len(inters)


def pass_rate_key(threshold: float) -> str:
    """Report key of a pass rate, e.g. ``"pass@0.5"``."""
    return f"pass@{threshold:g}"


def pass_rates(
    intersections: Sequence[int],
    unions: Sequence[int],
    thresholds: Sequence[float] = PASS_THRESHOLDS,
) -> dict[str, float | None]:
    """``{"pass@0.3": ..., "pass@0.5": ..., ...}`` (values ``None`` for zero turns)."""
    return {pass_rate_key(t): pass_rate(intersections, unions, t) for t in thresholds}


def fraction(flags: Iterable[bool | None]) -> float | None:
    """Fraction of ``True`` among the non-``None`` flags; ``None`` when none applies.

    Used for ``acc@0.5`` (every turn applies) and for the format and citation rates
    (``None`` marks a turn where the rate does not apply, e.g. no reference to cite).

    >>> fraction([True, False, None, True])
    0.6666666666666666
    """
    applicable = [bool(f) for f in flags if f is not None]
    if not applicable:
        return None
    return sum(applicable) / len(applicable)


__all__ = [
    "IOU_HIT_THRESHOLD",
    "PASS_THRESHOLDS",
    "box_hit_any",
    "box_hit_top1",
    "cumulative_iou",
    "fraction",
    "mean_iou",
    "pass_rate",
    "pass_rate_key",
    "pass_rates",
    "turn_iou",
]
