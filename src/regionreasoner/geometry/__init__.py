"""Geometry: the single source of truth for boxes, points, masks, RLE, frames and matching.

Conventions: boxes are ``xyxy`` in absolute pixels of the ORIGINAL image with continuous
area ``(x2 - x1) * (y2 - y1)``; sizes are ``(width, height)`` and named ``*_wh``; masks
are ``(H, W)`` bool arrays; RLE follows pycocotools with ``counts`` as a ``str``.
"""

from regionreasoner.geometry.boxes import (
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
    OFFICIAL_MODEL_SIZE,
    Frame,
    qwen_native_wh,
    round_half_up,
)
from regionreasoner.geometry.masks import (
    mask_intersection_union,
    mask_iou,
    mask_to_xyxy,
    xyxy_to_mask,
)
from regionreasoner.geometry.matching import Matching, hungarian_match
from regionreasoner.geometry.points import point_distance_batch, points_in_boxes
from regionreasoner.geometry.regions import Regions
from regionreasoner.geometry.rle import (
    decode_rle,
    encode_rle,
    polygons_to_rle,
    rle_area,
    rle_intersection_union,
    rle_union,
)
