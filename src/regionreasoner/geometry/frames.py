"""Conversion between the frame a model sees and the original image.

RegionReasoner shows the model a square 840x840 resize of every image (ignoring the
aspect ratio) and the model answers in that frame. Qwen2.5-VL at its native processor
size answers in a frame rounded to multiples of 28 pixels. :class:`Frame` converts
coordinates both ways; it is the only place where that arithmetic happens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

OFFICIAL_MODEL_SIZE = 840
"""Side of the square resize used by the released RegionReasoner inference code."""

QWEN_PATCH_FACTOR = 28
"""Qwen2.5-VL resizes images to multiples of 28 px (14 px patches merged 2x2)."""

QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 14 * 14 * 4 * 1280


def round_half_up(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``int(v + 0.5)`` element-wise, the rounding of the released evaluation code.

    Python's ``int`` truncates toward zero, so negative inputs follow that rule too.
    """
    arr = np.asarray(values, dtype=np.float64) + 0.5
    return np.trunc(arr).astype(np.int64)


def _round_half_up_float(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    # Same rounding kept in float64: no int64 overflow for huge model outputs.
    return np.trunc(np.asarray(values, dtype=np.float64) + 0.5)


def qwen_native_wh(
    image_wh: tuple[int, int],
    *,
    factor: int = QWEN_PATCH_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> tuple[int, int]:
    """The ``(width, height)`` Qwen2-VL/2.5-VL processors resize ``image_wh`` to.

    Both sides are rounded to multiples of ``factor`` and the area is kept within
    ``[min_pixels, max_pixels]`` while preserving the aspect ratio.
    """
    width, height = image_wh
    if width <= 0 or height <= 0:
        raise ValueError(f"image_wh must be positive, got {image_wh}")
    h_bar = round(height / factor) * factor  # may be 0: the min_pixels branch then fixes it
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


@dataclass(frozen=True, slots=True)
class Frame:
    """A model frame of size ``model_wh`` over an original image of size ``image_wh``.

    Example:
        >>> frame = Frame.square(image_wh=(640, 480))
        >>> frame.to_image_xyxy([[0, 0, 840, 840]]).tolist()
        [[0.0, 0.0, 640.0, 480.0]]
    """

    model_wh: tuple[int, int]
    image_wh: tuple[int, int]

    def __post_init__(self) -> None:
        for name in ("model_wh", "image_wh"):
            w, h = getattr(self, name)
            if w <= 0 or h <= 0:
                raise ValueError(f"{name} must be positive, got {(w, h)}")

    @classmethod
    def square(cls, image_wh: tuple[int, int], size: int = OFFICIAL_MODEL_SIZE) -> Frame:
        """The released code's square resize (840x840 by default)."""
        return cls(model_wh=(size, size), image_wh=image_wh)

    @classmethod
    def identity(cls, image_wh: tuple[int, int]) -> Frame:
        """The model sees the original image."""
        return cls(model_wh=image_wh, image_wh=image_wh)

    @classmethod
    def qwen_native(cls, image_wh: tuple[int, int], **kwargs: int) -> Frame:
        """The Qwen2.5-VL processor-native frame (see :func:`qwen_native_wh`)."""
        return cls(model_wh=qwen_native_wh(image_wh, **kwargs), image_wh=image_wh)

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Factors from model to image coordinates: ``(W / w_model, H / h_model)``."""
        return self.image_wh[0] / self.model_wh[0], self.image_wh[1] / self.model_wh[1]

    def to_image_xyxy(self, model_xyxy: npt.ArrayLike, *, rounded: bool = False) -> np.ndarray:
        """Model-frame boxes ``(N, 4)`` -> original-image pixels.

        Args:
            model_xyxy: boxes in the model frame.
            rounded: apply the released code's ``int(v * f + 0.5)`` rounding.
        """
        fx, fy = self.scale_xy
        out = np.asarray(model_xyxy, dtype=np.float64) * np.array([fx, fy, fx, fy])
        return _round_half_up_float(out) if rounded else out

    def to_image_points(self, model_xy: npt.ArrayLike, *, rounded: bool = False) -> np.ndarray:
        """Model-frame points ``(N, 2)`` -> original-image pixels."""
        fx, fy = self.scale_xy
        out = np.asarray(model_xy, dtype=np.float64) * np.array([fx, fy])
        return _round_half_up_float(out) if rounded else out

    def to_model_xyxy(self, image_xyxy: npt.ArrayLike, *, rounded: bool = True) -> np.ndarray:
        """Original-image boxes ``(N, 4)`` -> model frame (integers by default)."""
        fx, fy = self.scale_xy
        out = np.asarray(image_xyxy, dtype=np.float64) / np.array([fx, fy, fx, fy])
        return _round_half_up_float(out) if rounded else out

    def to_model_points(self, image_xy: npt.ArrayLike, *, rounded: bool = True) -> np.ndarray:
        """Original-image points ``(N, 2)`` -> model frame (integers by default)."""
        fx, fy = self.scale_xy
        out = np.asarray(image_xy, dtype=np.float64) / np.array([fx, fy])
        return _round_half_up_float(out) if rounded else out
