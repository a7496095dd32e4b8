"""The annotated image of the page: boxes, points, masks and region labels.

The image is drawn at a display scale (small images are enlarged so labels stay
readable); every coordinate passed in is in ORIGINAL-image pixels and is multiplied by
the scale here, and :func:`display_to_image` maps a click on the drawing back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from regionreasoner.evaluation.canvas import dashed_rectangle

DISPLAY_LONG_SIDE = 640
"""Target length (pixels) of the longer side of the drawing."""

MIN_DISPLAY_SCALE = 0.25
MAX_DISPLAY_SCALE = 4.0
"""Bounds of the display scale (very large images are shrunk at most 4x)."""

MASK_ALPHA = 0.38
"""Opacity of the mask overlay of the latest answer."""

LABEL_FONT_PX = 15
POINT_RADIUS_PX = 5
LINE_PX = 2
LATEST_LINE_PX = 4
DASH_PX = 7

PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (23, 190, 207),
    (188, 189, 34),
    (127, 127, 127),
)
"""Colours of the turns, cycled by turn number (tab10)."""

USER_BOX_RGB = (230, 0, 126)
REFERENCE_RGB = (255, 215, 0)
PENDING_RGB = (90, 90, 90)

XYXY = tuple[float, float, float, float]


@dataclass(frozen=True)
class DrawnRegion:
    """One region to draw.

    Attributes:
        label: ``R1``, ``U1``, ...
        xyxy: the box in image pixels.
        point_xy: the point in image pixels, or ``None``.
        colour_index: which palette colour (the turn number).
        user: a box the user drew (dashed, fixed colour).
        latest: part of the latest answer (thicker).
        cited: the reference cited by the latest question (highlighted).
    """

    label: str
    xyxy: XYXY
    point_xy: tuple[float, float] | None = None
    colour_index: int = 0
    user: bool = False
    latest: bool = False
    cited: bool = False


def display_scale(image_wh: tuple[int, int]) -> float:
    """The factor from image pixels to drawing pixels.

    >>> display_scale((320, 240)), display_scale((6400, 4800))
    (2.0, 0.25)
    """
    scale = DISPLAY_LONG_SIDE / max(image_wh)
    return float(min(MAX_DISPLAY_SCALE, max(MIN_DISPLAY_SCALE, scale)))


def display_to_image(
    xy: Sequence[float], scale: float, image_wh: tuple[int, int]
) -> tuple[int, int]:
    """A click on the drawing -> integer image pixels, clipped to the image.

    >>> display_to_image((101, 47), 2.0, (320, 240))
    (50, 23)
    """
    width, height = image_wh
    x = min(max(int(xy[0] / scale), 0), width)
    y = min(max(int(xy[1] / scale), 0), height)
    return x, y


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def colour(index: int) -> tuple[int, int, int]:
    """The palette colour of turn ``index`` (0-based)."""
    return PALETTE[index % len(PALETTE)]


def _label(
    draw: ImageDraw.ImageDraw,
    text: str,
    anchor_xy: tuple[float, float],
    fill: tuple[int, int, int],
    canvas_wh: tuple[int, int],
) -> None:
    font = _font(LABEL_FONT_PX)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 6, bottom - top + 4
    x = min(max(anchor_xy[0], 0), canvas_wh[0] - w)
    y = anchor_xy[1] - h
    if y < 0:  # no room above the box: put the tag inside its top edge
        y = anchor_xy[1]
    y = min(max(y, 0), canvas_wh[1] - h)
    draw.rectangle([x, y, x + w, y + h], fill=fill)
    luminance = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]
    ink = (0, 0, 0) if luminance > 150 else (255, 255, 255)
    draw.text((x + 3 - left, y + 2 - top), text, fill=ink, font=font)


def draw_annotations(
    image: Image.Image,
    regions: Sequence[DrawnRegion],
    *,
    mask: npt.NDArray[np.bool_] | None = None,
    mask_colour_index: int = 0,
    pending_xyxy: XYXY | None = None,
    pending_corner: tuple[float, float] | None = None,
) -> tuple[Image.Image, float]:
    """The image with every region drawn, at the display scale.

    Args:
        image: the original image.
        regions: the regions, drawn in order (later ones on top).
        mask: ``(H, W)`` mask of the latest answer (image pixels), or ``None``.
        mask_colour_index: palette colour of the mask.
        pending_xyxy: a box being entered (dashed grey), or ``None``.
        pending_corner: the first corner clicked (a cross), or ``None``.

    Returns:
        ``(drawing, scale)``: an RGB image and the factor from image pixels to it.
    """
    image_wh = (int(image.size[0]), int(image.size[1]))
    scale = display_scale(image_wh)
    canvas_wh = (max(1, round(image_wh[0] * scale)), max(1, round(image_wh[1] * scale)))
    canvas = image.convert("RGB").resize(canvas_wh, Image.Resampling.BICUBIC)
    if mask is not None and mask.any():
        if mask.shape != (image_wh[1], image_wh[0]):
            raise ValueError(
                f"mask shape {mask.shape} does not match the image (H, W) "
                f"{(image_wh[1], image_wh[0])}"
            )
        alpha = Image.fromarray((mask * int(255 * MASK_ALPHA)).astype(np.uint8), mode="L")
        alpha = alpha.resize(canvas_wh, Image.Resampling.NEAREST)
        overlay = Image.new("RGB", canvas_wh, colour(mask_colour_index))
        canvas = Image.composite(overlay, canvas, alpha)
    draw = ImageDraw.Draw(canvas)

    def scaled(box: Sequence[float]) -> list[float]:
        return [float(v) * scale for v in box]

    for region in regions:
        box = scaled(region.xyxy)
        rgb = USER_BOX_RGB if region.user else colour(region.colour_index)
        width = LATEST_LINE_PX if region.latest else LINE_PX
        if region.cited:
            pad = width + 1
            draw.rectangle(
                [box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad],
                outline=REFERENCE_RGB,
                width=3,
            )
        if region.user:
            dashed_rectangle(draw, box, rgb, width=width, dash_px=DASH_PX)
        else:
            draw.rectangle(box, outline=rgb, width=width)
        if region.point_xy is not None:
            px, py = region.point_xy[0] * scale, region.point_xy[1] * scale
            r = POINT_RADIUS_PX
            draw.ellipse(
                [px - r, py - r, px + r, py + r], fill=rgb, outline=(255, 255, 255), width=2
            )
        text = f"{region.label} (ref)" if region.cited else region.label
        _label(draw, text, (box[0], box[1]), REFERENCE_RGB if region.cited else rgb, canvas_wh)
    if pending_xyxy is not None:
        dashed_rectangle(draw, scaled(pending_xyxy), PENDING_RGB, width=LINE_PX, dash_px=DASH_PX)
    if pending_corner is not None:
        cx, cy = pending_corner[0] * scale, pending_corner[1] * scale
        arm = 8
        draw.line([(cx - arm, cy), (cx + arm, cy)], fill=USER_BOX_RGB, width=2)
        draw.line([(cx, cy - arm), (cx, cy + arm)], fill=USER_BOX_RGB, width=2)
    return canvas, scale


__all__ = [
    "DrawnRegion",
    "colour",
    "display_scale",
    "display_to_image",
    "draw_annotations",
]
