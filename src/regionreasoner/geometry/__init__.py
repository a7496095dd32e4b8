"""Geometry: the single source of truth for boxes, points, masks, RLE, frames and matching.

Conventions: boxes are ``xyxy`` in absolute pixels of the ORIGINAL image with continuous
area ``(x2 - x1) * (y2 - y1)``; sizes are ``(width, height)`` and named ``*_wh``; masks
are ``(H, W)`` bool arrays; RLE follows pycocotools with ``counts`` as a ``str``.

Importing this package loads numpy only. The names of :mod:`.rle` (pycocotools) and
:mod:`.matching` (scipy) are resolved on first access (PEP 562), so the reward stack,
which never touches RLE, does not load pycocotools.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from regionreasoner.geometry.boxes import (
    IOU_HIT,
    box_area,
    box_iou,
    box_iou_batch,
    box_iou_plus_one_batch,
    box_l1_batch,
    clip_xyxy,
    is_valid_xyxy,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from regionreasoner.geometry.frames import (
    DEFAULT_FRAME,
    FRAMES,
    OFFICIAL_MODEL_SIZE,
    RESIZE_RULES,
    Frame,
    FrameSpec,
    ResizeRule,
    get_frame,
    qwen_native_wh,
    round_half_up,
)
from regionreasoner.geometry.masks import (
    mask_intersection_union,
    mask_iou,
    mask_to_xyxy,
    xyxy_to_mask,
)
from regionreasoner.geometry.points import point_distance_batch, points_in_boxes
from regionreasoner.geometry.regions import Regions

if TYPE_CHECKING:
    from regionreasoner.geometry.matching import Matching, hungarian_match
    from regionreasoner.geometry.rle import (
        decode_rle,
        encode_rle,
        polygons_to_rle,
        rle_area,
        rle_intersection_union,
        rle_union,
    )

_LAZY = {
    "Matching": "matching",
    "hungarian_match": "matching",
    "decode_rle": "rle",
    "encode_rle": "rle",
    "polygons_to_rle": "rle",
    "rle_area": "rle",
    "rle_intersection_union": "rle",
    "rle_union": "rle",
}
"""Names whose submodule loads on first access: ``name -> submodule``."""


def __getattr__(name: str) -> object:
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_FRAME",
    "FRAMES",
    "IOU_HIT",
    "OFFICIAL_MODEL_SIZE",
    "RESIZE_RULES",
    "Frame",
    "FrameSpec",
    "Matching",
    "Regions",
    "ResizeRule",
    "box_area",
    "box_iou",
    "box_iou_batch",
    "box_iou_plus_one_batch",
    "box_l1_batch",
    "clip_xyxy",
    "decode_rle",
    "encode_rle",
    "get_frame",
    "hungarian_match",
    "is_valid_xyxy",
    "mask_intersection_union",
    "mask_iou",
    "mask_to_xyxy",
    "point_distance_batch",
    "points_in_boxes",
    "polygons_to_rle",
    "qwen_native_wh",
    "rle_area",
    "rle_intersection_union",
    "rle_union",
    "round_half_up",
    "xywh_to_xyxy",
    "xyxy_to_mask",
    "xyxy_to_xywh",
]
