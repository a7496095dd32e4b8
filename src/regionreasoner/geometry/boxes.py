"""Axis-aligned boxes in ``xyxy`` pixel coordinates: conversion, area, IoU, L1.

All IoU math of the project lives in this module. The continuous convention
(area ``(x2 - x1) * (y2 - y1)``) is the default everywhere; the "+1 pixel" convention of
the released reward code exists only as :func:`box_iou_plus_one_batch`, used by the
``official`` reward profile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

IOU_HIT = 0.5
"""A predicted box hits a ground-truth box when their IoU is strictly greater than this:
the paper's ``acc@0.5`` ("AP", :mod:`regionreasoner.evaluation.metrics`) and the box term
of the accuracy reward (:mod:`regionreasoner.rewards.accuracy`) use this one value."""


def as_xyxy_array(boxes: npt.ArrayLike) -> FloatArray:
    """Return ``boxes`` as a float64 ``(N, 4)`` array (a single box becomes ``(1, 4)``).

    Raises:
        ValueError: the input cannot be shaped ``(N, 4)``.
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None, :]
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"expected boxes of shape (N, 4), got {arr.shape}")
    return arr


def is_valid_xyxy(box: Sequence[float]) -> bool:
    """Whether ``box`` is 4 finite numbers with ``x2 > x1`` and ``y2 > y1``."""
    if len(box) != 4:
        return False
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        return False
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return False
    return x2 > x1 and y2 > y1


def xywh_to_xyxy(boxes: npt.ArrayLike) -> FloatArray:
    """COCO ``[x, y, w, h]`` -> ``[x1, y1, x2, y2]``; shape ``(N, 4)`` or ``(4,)`` kept."""
    arr = np.asarray(boxes, dtype=np.float64).copy()
    arr[..., 2] = arr[..., 0] + arr[..., 2]
    arr[..., 3] = arr[..., 1] + arr[..., 3]
    return arr


def xyxy_to_xywh(boxes: npt.ArrayLike) -> FloatArray:
    """``[x1, y1, x2, y2]`` -> COCO ``[x, y, w, h]``; shape kept."""
    arr = np.asarray(boxes, dtype=np.float64).copy()
    arr[..., 2] = arr[..., 2] - arr[..., 0]
    arr[..., 3] = arr[..., 3] - arr[..., 1]
    return arr


def clip_xyxy(boxes: npt.ArrayLike, image_wh: tuple[int, int]) -> FloatArray:
    """Clip boxes to ``[0, W] x [0, H]``; shape kept."""
    arr = np.asarray(boxes, dtype=np.float64).copy()
    width, height = image_wh
    arr[..., 0::2] = np.clip(arr[..., 0::2], 0, width)
    arr[..., 1::2] = np.clip(arr[..., 1::2], 0, height)
    return arr


def box_area(boxes: npt.ArrayLike) -> FloatArray:
    """Continuous area of ``(N, 4)`` boxes; inverted boxes have area 0. Returns ``(N,)``."""
    arr = as_xyxy_array(boxes)
    return np.clip(arr[:, 2] - arr[:, 0], 0, None) * np.clip(arr[:, 3] - arr[:, 1], 0, None)


def _iou_matrix(a: FloatArray, b: FloatArray, offset: float) -> FloatArray:
    with np.errstate(invalid="ignore", over="ignore"):
        area_a = (a[:, 2] - a[:, 0] + offset) * (a[:, 3] - a[:, 1] + offset)
        area_b = (b[:, 2] - b[:, 0] + offset) * (b[:, 3] - b[:, 1] + offset)
        ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
        iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
        ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
        iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
        inter = np.clip(ix2 - ix1 + offset, 0, None) * np.clip(iy2 - iy1 + offset, 0, None)
        union = area_a[:, None] + area_b[None, :] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return np.nan_to_num(iou, nan=0.0, posinf=0.0, neginf=0.0)


def box_iou_batch(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> FloatArray:
    """Pairwise continuous IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes -> ``(N, M)``.

    Degenerate or inverted boxes have area 0; a pair whose union is 0 has IoU 0.

    >>> box_iou_batch([[0, 0, 10, 10]], [[5, 0, 15, 10]]).round(4).tolist()
    [[0.3333]]
    """
    a, b = as_xyxy_array(boxes_a), as_xyxy_array(boxes_b)
    a = np.concatenate([a[:, :2], np.maximum(a[:, 2:], a[:, :2])], axis=1)
    b = np.concatenate([b[:, :2], np.maximum(b[:, 2:], b[:, :2])], axis=1)
    return _iou_matrix(a, b, 0.0)


def box_iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """Continuous IoU of two xyxy boxes."""
    return float(box_iou_batch(box_a, box_b)[0, 0])


def box_iou_plus_one_batch(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> FloatArray:
    """Pairwise IoU with the legacy inclusive-pixel convention (``w = x2 - x1 + 1``).

    This is the convention of the released RegionReasoner reward code and is used only
    by the ``official`` reward profile. Inverted boxes are NOT clamped: areas can be
    negative there, exactly as in the released code.
    """
    return _iou_matrix(as_xyxy_array(boxes_a), as_xyxy_array(boxes_b), 1.0)


def box_l1_batch(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> FloatArray:
    """Pairwise mean absolute coordinate difference (pixels) -> ``(N, M)``."""
    a, b = as_xyxy_array(boxes_a), as_xyxy_array(boxes_b)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.abs(a[:, None, :] - b[None, :, :]).mean(axis=2)
