"""Points in pixel coordinates."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from regionreasoner.geometry.boxes import as_xyxy_array


def as_points_array(points: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return ``points`` as a float64 ``(N, 2)`` array (a single point becomes ``(1, 2)``)."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 2:
        arr = arr[None, :]
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"expected points of shape (N, 2), got {arr.shape}")
    return arr


def point_distance_batch(points_a: npt.ArrayLike, points_b: npt.ArrayLike) -> np.ndarray:
    """Pairwise Euclidean distances of ``(N, 2)`` and ``(M, 2)`` points -> ``(N, M)``."""
    a, b = as_points_array(points_a), as_points_array(points_b)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))


def points_in_boxes(points: npt.ArrayLike, boxes: npt.ArrayLike) -> np.ndarray:
    """Whether point ``i`` lies inside box ``i`` (borders included) -> ``(N,)`` bool."""
    p, b = as_points_array(points), as_xyxy_array(boxes)
    if len(p) != len(b):
        raise ValueError(f"got {len(p)} points for {len(b)} boxes")
    return (p[:, 0] >= b[:, 0]) & (p[:, 0] <= b[:, 2]) & (p[:, 1] >= b[:, 1]) & (p[:, 1] <= b[:, 3])
