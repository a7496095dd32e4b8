"""Frames: what a model is shown, what its numbers mean, and the conversion both ways.

A frame has two sides:

* the image the model is SHOWN (``model_wh``): RegionReasoner's square 840x840 resize
  (aspect ratio ignored), the Qwen2.5-VL processor's own size (sides rounded to 28 px), or
  the original image;
* the COORDINATE space its answers are written in (``coord_wh``, the extent of the
  numbers over the whole image, and ``decimals``): absolute pixels of the shown image
  (``coord_wh == model_wh``), absolute pixels of the original image, a relative 0-1000
  grid (Qwen2-VL, Qwen3-VL) or relative 0-1 floats.

:class:`Frame` is one image's frame and converts coordinates both ways; it is the only
place where that arithmetic happens. :data:`FRAMES` registers the named frames of
``--frame`` as :class:`FrameSpec` (image size -> :class:`Frame`); every box that crosses
the model boundary (answers read for metrics, references written into prompts, rewards
in training, ``export-train``, the web page) goes through one of them.

The resize rules of the processor families (:data:`RESIZE_RULES`: patch and merge sizes,
pixel budget) live here too, next to :func:`qwen_native_wh`, their one implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from regionreasoner.registry import Registry

OFFICIAL_MODEL_SIZE = 840
"""Side of the square resize used by the released RegionReasoner inference code."""

QWEN_PATCH_FACTOR = 28
"""Qwen2.5-VL resizes images to multiples of 28 px (14 px patches merged 2x2)."""

QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 14 * 14 * 4 * 1280
"""Pixel budget of the ``native`` frame: transformers' ``Qwen2VLImageProcessor`` defaults
(``size={"shortest_edge": 3136, "longest_edge": 1003520}``)."""

QWEN3_PATCH_SIZE = 16
QWEN3_MERGE_SIZE = 2
QWEN3_MIN_PIXELS = 65536
QWEN3_MAX_PIXELS = 16777216
"""Qwen3-VL's image processor: 16 px patches merged 2x2 (sides rounded to 32 px) and the
pixel budget of the released checkpoints' ``preprocessor_config.json``
(``size={"shortest_edge": 65536, "longest_edge": 16777216}``)."""

REL1000_EXTENT = 1000
"""Side of the relative grid of Qwen2-VL and Qwen3-VL: ``1000`` is the right (bottom)
edge of the image (``docs/evaluation.md``, "Frames", on the 999-or-1000 question)."""

REL1_DECIMALS = 3
"""Decimals written for ``rel1`` coordinates (references in prompts, oracle answers,
training solutions): a 0.001 step, the resolution of the 0-1000 grid."""


def round_half_up(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``int(v + 0.5)`` element-wise, the rounding of the released evaluation code.

    Python's ``int`` truncates toward zero, so negative inputs follow that rule too.
    """
    arr = np.asarray(values, dtype=np.float64) + 0.5
    return np.trunc(arr).astype(np.int64)


def _round_half_up_float(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    # Same rounding kept in float64: no int64 overflow for huge model outputs.
    return np.trunc(np.asarray(values, dtype=np.float64) + 0.5)


def _round_half_up_to(values: npt.NDArray[np.float64], decimals: int) -> np.ndarray:
    """``round_half_up`` at ``decimals`` digits after the point (0: integers)."""
    if decimals == 0:
        return _round_half_up_float(values)
    factor = 10.0**decimals
    return _round_half_up_float(values * factor) / factor


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
class ResizeRule:
    """How a processor family resizes an image before its patches are embedded.

    Both sides are rounded to multiples of ``patch_size * merge_size`` and the area is
    kept within ``[min_pixels, max_pixels]`` (:func:`qwen_native_wh`).

    Attributes:
        family: the model family (a :data:`RESIZE_RULES` name).
        patch_size: side of a vision patch (pixels).
        merge_size: patches merged per side into one visual token.
        min_pixels, max_pixels: the pixel budget.
    """

    family: str
    patch_size: int
    merge_size: int
    min_pixels: int
    max_pixels: int

    @property
    def factor(self) -> int:
        """Sides are multiples of this many pixels."""
        return self.patch_size * self.merge_size

    def resized_wh(self, image_wh: tuple[int, int]) -> tuple[int, int]:
        """The ``(width, height)`` this family's processor resizes ``image_wh`` to."""
        return qwen_native_wh(
            image_wh, factor=self.factor, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )

    def visual_tokens(self, image_wh: tuple[int, int]) -> int:
        """Visual tokens of one image of size ``image_wh`` (after the merge)."""
        w, h = self.resized_wh(image_wh)
        return (w // self.factor) * (h // self.factor)


QWEN25_VL_RESIZE = ResizeRule("qwen2.5-vl", 14, 2, QWEN_MIN_PIXELS, QWEN_MAX_PIXELS)
QWEN3_VL_RESIZE = ResizeRule(
    "qwen3-vl", QWEN3_PATCH_SIZE, QWEN3_MERGE_SIZE, QWEN3_MIN_PIXELS, QWEN3_MAX_PIXELS
)

RESIZE_RULES: Registry[ResizeRule] = Registry("processor resize rule")
"""The processor resize rule of each model family, by family name."""
RESIZE_RULES.register(QWEN25_VL_RESIZE.family, QWEN25_VL_RESIZE)
RESIZE_RULES.register(QWEN3_VL_RESIZE.family, QWEN3_VL_RESIZE)


@dataclass(frozen=True, slots=True)
class Frame:
    """One image's frame: the model is shown ``model_wh`` pixels of an original image of
    size ``image_wh`` and writes coordinates spanning ``coord_wh`` over the whole image.

    Args:
        model_wh: size of the image shown to the model.
        image_wh: size of the original image.
        coord_wh: extent of the answer coordinates (the value of the right and bottom
            edges); ``None`` (the default) means absolute pixels of the shown image,
            i.e. ``model_wh``.
        decimals: digits after the point of written coordinates (0: integers).

    Example:
        >>> frame = Frame.square(image_wh=(640, 480))
        >>> frame.to_image_xyxy([[0, 0, 840, 840]]).tolist()
        [[0.0, 0.0, 640.0, 480.0]]
        >>> Frame.relative((640, 480), 1000).to_model_xyxy([[64, 48, 640, 480]]).tolist()
        [[100.0, 100.0, 1000.0, 1000.0]]
    """

    model_wh: tuple[int, int]
    image_wh: tuple[int, int]
    coord_wh: tuple[float, float] | None = None
    decimals: int = 0

    def __post_init__(self) -> None:
        for name in ("model_wh", "image_wh"):
            w, h = getattr(self, name)
            if w <= 0 or h <= 0:
                raise ValueError(f"{name} must be positive, got {(w, h)}")
        if self.coord_wh is None:
            object.__setattr__(self, "coord_wh", self.model_wh)
        elif not (self.coord_wh[0] > 0 and self.coord_wh[1] > 0):
            raise ValueError(f"coord_wh must be positive, got {self.coord_wh}")
        if self.decimals < 0:
            raise ValueError(f"decimals must be >= 0, got {self.decimals}")

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

    @classmethod
    def relative(
        cls, image_wh: tuple[int, int], extent: float = REL1000_EXTENT, decimals: int = 0
    ) -> Frame:
        """The model is shown the original image and answers on a relative grid whose
        right and bottom edges are ``extent`` (1000: Qwen3-VL; 1: 0-1 floats)."""
        return cls(image_wh, image_wh, (extent, extent), decimals)

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Factors from answer coordinates to image pixels: ``(W / w_coord, H / h_coord)``."""
        coord_w, coord_h = self.coord_wh  # type: ignore[misc]
        return self.image_wh[0] / coord_w, self.image_wh[1] / coord_h

    @property
    def unit(self) -> float:
        """The step of written coordinates (``10 ** -decimals``: 1 for integer frames)."""
        return 10.0**-self.decimals

    def to_image_xyxy(self, model_xyxy: npt.ArrayLike, *, rounded: bool = False) -> np.ndarray:
        """Answer-frame boxes ``(N, 4)`` -> original-image pixels.

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
        """Original-image boxes ``(N, 4)`` -> answer frame, rounded half up to
        ``decimals`` digits by default (integers for the pixel frames and ``rel1000``)."""
        fx, fy = self.scale_xy
        out = np.asarray(image_xyxy, dtype=np.float64) / np.array([fx, fy, fx, fy])
        return _round_half_up_to(out, self.decimals) if rounded else out

    def to_model_points(self, image_xy: npt.ArrayLike, *, rounded: bool = True) -> np.ndarray:
        """Original-image points ``(N, 2)`` -> answer frame (rounded as boxes are)."""
        fx, fy = self.scale_xy
        out = np.asarray(image_xy, dtype=np.float64) / np.array([fx, fy])
        return _round_half_up_to(out, self.decimals) if rounded else out

    def convert_xyxy(self, xyxy: npt.ArrayLike, to: Frame, *, rounded: bool = True) -> np.ndarray:
        """Boxes ``(N, 4)`` written in this frame -> the same boxes written in ``to``.

        Raises:
            ValueError: the two frames are over images of different sizes.
        """
        self._check_same_image(to)
        return to.to_model_xyxy(self.to_image_xyxy(xyxy), rounded=rounded)

    def convert_points(self, xy: npt.ArrayLike, to: Frame, *, rounded: bool = True) -> np.ndarray:
        """Points ``(N, 2)`` written in this frame -> the same points written in ``to``."""
        self._check_same_image(to)
        return to.to_model_points(self.to_image_points(xy), rounded=rounded)

    def _check_same_image(self, other: Frame) -> None:
        if tuple(self.image_wh) != tuple(other.image_wh):
            raise ValueError(
                f"cannot convert between frames of different images: {self.image_wh} "
                f"and {other.image_wh}"
            )


# ----------------------------------------------------------------------------------------
# Named frames
# ----------------------------------------------------------------------------------------


def square840_wh(image_wh: tuple[int, int]) -> tuple[int, int]:
    """The released code's square resize: every image is shown at 840x840."""
    return (OFFICIAL_MODEL_SIZE, OFFICIAL_MODEL_SIZE)


def original_wh(image_wh: tuple[int, int]) -> tuple[int, int]:
    """The original image, not resized (the model's processor may still resize it)."""
    return (int(image_wh[0]), int(image_wh[1]))


@dataclass(frozen=True, slots=True)
class FrameSpec:
    """A named frame: the image shown and the coordinate space, for any image size.

    Calling it with an image size gives that image's :class:`Frame`
    (``FRAMES.get("rel1000")((640, 480))``).

    Attributes:
        name: the ``--frame`` name.
        shown: what the model is shown (for people and ``config.json``).
        coordinates: what the numbers of an answer mean.
        shown_wh: image size -> size of the image shown (module-level functions, so a
            spec pickles).
        extent: value of the right and bottom edges of a relative grid, or ``None`` for
            absolute pixels of the shown image.
        decimals: digits after the point of written coordinates.
        families: model families that answer in this frame by default.
    """

    name: str
    shown: str
    coordinates: str
    shown_wh: Callable[[tuple[int, int]], tuple[int, int]]
    extent: float | None = None
    decimals: int = 0
    families: tuple[str, ...] = ()

    def __call__(self, image_wh: tuple[int, int]) -> Frame:
        """The frame of one image of size ``image_wh``."""
        image_wh = original_wh(image_wh)
        coord_wh = None if self.extent is None else (self.extent, self.extent)
        return Frame(self.shown_wh(image_wh), image_wh, coord_wh, self.decimals)

    @property
    def relative(self) -> bool:
        """Whether the coordinates are relative to the image (independent of its size)."""
        return self.extent is not None

    def describe(self) -> dict[str, Any]:
        """JSON-ready description (``config.json``, ``probe-frame --json``)."""
        return {
            "name": self.name,
            "shown": self.shown,
            "coordinates": self.coordinates,
            "extent": self.extent,
            "decimals": self.decimals,
            "families": list(self.families),
        }


FRAMES: Registry[FrameSpec] = Registry("frame")
"""The named frames of ``--frame``."""

DEFAULT_FRAME = "square840"
"""The frame of the released RegionReasoner models (and of ``eval`` by default)."""

AUTO_FRAME = "auto"
"""The ``--frame`` value that is not a frame: run the frame probe
(:mod:`regionreasoner.dialogue.probe`) first and use the frame it names. Never
registered in :data:`FRAMES`."""

for _spec in (
    FrameSpec(
        "square840",
        shown=f"the image resized to {OFFICIAL_MODEL_SIZE}x{OFFICIAL_MODEL_SIZE} (aspect ratio "
        "ignored)",
        coordinates=f"absolute pixels of the {OFFICIAL_MODEL_SIZE}x{OFFICIAL_MODEL_SIZE} image",
        shown_wh=square840_wh,
        families=("regionreasoner",),
    ),
    FrameSpec(
        "native",
        shown="the image resized as the Qwen2.5-VL processor does (sides multiples of 28 px, "
        f"{QWEN_MIN_PIXELS} to {QWEN_MAX_PIXELS} pixels)",
        coordinates="absolute pixels of the resized image",
        shown_wh=QWEN25_VL_RESIZE.resized_wh,
        families=("qwen2.5-vl",),
    ),
    FrameSpec(
        "image",
        shown="the original image",
        coordinates="absolute pixels of the original image",
        shown_wh=original_wh,
    ),
    FrameSpec(
        "rel1000",
        shown="the original image",
        coordinates=f"a relative 0-{REL1000_EXTENT} grid (integers; {REL1000_EXTENT} is the "
        "right/bottom edge)",
        shown_wh=original_wh,
        extent=REL1000_EXTENT,
        families=("qwen2-vl", "qwen3-vl"),
    ),
    FrameSpec(
        "rel1",
        shown="the original image",
        coordinates=f"relative 0-1 floats ({REL1_DECIMALS} decimals written)",
        shown_wh=original_wh,
        extent=1,
        decimals=REL1_DECIMALS,
        families=("lmms-eval refcoco",),
    ),
):
    FRAMES.register(_spec.name, _spec)


def get_frame(name: str) -> FrameSpec:
    """The frame registered as ``name`` (raises ``UnknownComponentError`` otherwise)."""
    return FRAMES.get(name)
