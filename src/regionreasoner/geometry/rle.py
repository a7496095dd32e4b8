"""COCO run-length encoding through pycocotools, with ``counts`` as a JSON-safe ``str``.

An RLE is ``{"size": [H, W], "counts": "<compressed string>"}`` exactly as pycocotools
defines it (column-major runs). Dense masks never go into our files.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pycocotools import mask as mask_utils

RLE = dict[str, Any]

_PYCOCOTOOLS_COPY_WARNING = r"__array__ implementation doesn't accept a copy keyword"


def _to_coco(rle: RLE) -> dict[str, Any]:
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        return mask_utils.frPyObjects(rle, *rle["size"])
    return {
        "size": list(rle["size"]),
        "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
    }


def _to_json(rle: dict[str, Any]) -> RLE:
    counts = rle["counts"]
    return {
        "size": [int(rle["size"][0]), int(rle["size"][1])],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def encode_rle(mask: npt.ArrayLike) -> RLE:
    """Encode an ``(H, W)`` binary mask to a JSON-safe RLE."""
    arr = np.asfortranarray(np.asarray(mask, dtype=np.uint8))
    if arr.ndim != 2:
        raise ValueError(f"expected a (H, W) mask, got shape {arr.shape}")
    return _to_json(mask_utils.encode(arr))


def decode_rle(rle: RLE) -> npt.NDArray[np.bool_]:
    """Decode an RLE (compressed ``str``/``bytes`` or uncompressed list counts) to ``(H, W)``."""
    with warnings.catch_warnings():
        # pycocotools 2.0.x builds its output through an __array__ without the numpy 2
        # ``copy`` keyword; the result is correct, only the deprecation notice is noise.
        warnings.filterwarnings(
            "ignore", message=_PYCOCOTOOLS_COPY_WARNING, category=DeprecationWarning
        )
        return mask_utils.decode(_to_coco(rle)).astype(bool)


def rle_area(rle: RLE) -> int:
    """Number of foreground pixels."""
    return int(mask_utils.area(_to_coco(rle)))


def rle_union(rles: Sequence[RLE], image_hw: tuple[int, int]) -> RLE:
    """Union of several RLEs of one image (an empty RLE of ``image_hw`` when none)."""
    if not rles:
        return encode_rle(np.zeros(image_hw, dtype=np.uint8))
    return _to_json(mask_utils.merge([_to_coco(r) for r in rles], intersect=False))


def rle_intersection_union(pred: RLE, gt: RLE) -> tuple[int, int]:
    """Pixel counts ``(|pred & gt|, |pred | gt|)`` of two RLEs of the same size."""
    if list(pred["size"]) != list(gt["size"]):
        raise ValueError(f"RLE sizes differ: {pred['size']} vs {gt['size']}")
    p, g = _to_coco(pred), _to_coco(gt)
    inter = int(mask_utils.area(mask_utils.merge([p, g], intersect=True)))
    union = int(mask_utils.area(p)) + int(mask_utils.area(g)) - inter
    return inter, union


def polygons_to_rle(polygons: Sequence[Sequence[float]], image_wh: tuple[int, int]) -> RLE:
    """COCO polygon segmentation (list of flat ``[x, y, ...]`` lists) -> one merged RLE."""
    width, height = image_wh
    parts = mask_utils.frPyObjects([list(map(float, p)) for p in polygons], height, width)
    return _to_json(mask_utils.merge(parts))
