"""Binary masks as ``(H, W)`` bool arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from regionreasoner.geometry.boxes import as_xyxy_array
from regionreasoner.geometry.frames import round_half_up


def xyxy_to_mask(boxes: npt.ArrayLike, image_wh: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Union of box-filled masks (the ``box-fill`` segmenter).

    A pixel ``(x, y)`` is set when ``x1 <= x < x2`` and ``y1 <= y < y2`` after the box
    coordinates are rounded half up to integers and clipped to the image.

    Args:
        boxes: ``(N, 4)`` xyxy boxes in image pixels (``N`` may be 0).
        image_wh: ``(W, H)`` of the image.

    Returns:
        ``(H, W)`` bool mask.

    >>> int(xyxy_to_mask([[1, 1, 3, 2]], (4, 3)).sum())
    2
    """
    width, height = image_wh
    mask = np.zeros((height, width), dtype=bool)
    arr = as_xyxy_array(boxes)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.any():
        return mask
    ints = round_half_up(np.clip(arr[finite], -1, max(width, height) + 1))
    ints[:, 0::2] = np.clip(ints[:, 0::2], 0, width)
    ints[:, 1::2] = np.clip(ints[:, 1::2], 0, height)
    for x1, y1, x2, y2 in ints:
        if x2 > x1 and y2 > y1:
            mask[y1:y2, x1:x2] = True
    return mask


def mask_intersection_union(
    pred: npt.NDArray[np.bool_], gt: npt.NDArray[np.bool_]
) -> tuple[int, int]:
    """Pixel counts ``(|pred & gt|, |pred | gt|)`` of two ``(H, W)`` masks."""
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    pred_b, gt_b = pred.astype(bool), gt.astype(bool)
    return int(np.logical_and(pred_b, gt_b).sum()), int(np.logical_or(pred_b, gt_b).sum())


def mask_iou(pred: npt.NDArray[np.bool_], gt: npt.NDArray[np.bool_]) -> float:
    """IoU of two masks; 0 when both are empty (the metrics' definition)."""
    inter, union = mask_intersection_union(pred, gt)
    return inter / union if union else 0.0


def mask_to_xyxy(mask: npt.NDArray[np.bool_]) -> np.ndarray | None:
    """Tight xyxy box (exclusive right/bottom edge) of a mask, or ``None`` if empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
