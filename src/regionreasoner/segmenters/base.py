"""The segmenter contract: one session per image, one mask per turn.

The engine opens a session when it first needs a mask of an image and reuses it for
every turn of that image, so expensive per-image work (SAM2's image embedding) happens
once per image. ``session.segment(regions)`` prompts with every predicted region (box,
plus its point when it has one) and returns the UNION of the objects' masks as one
``(H, W)`` bool array in original-image pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from regionreasoner.errors import ConfigError, SegmenterError

if TYPE_CHECKING:
    from PIL.Image import Image

    from regionreasoner.geometry.regions import Regions


@runtime_checkable
class SegmenterSession(Protocol):
    """Masks for one image.

    Attributes:
        image_wh: ``(W, H)`` of the image.
    """

    image_wh: tuple[int, int]

    def segment(self, regions: Regions) -> npt.NDArray[np.bool_]:
        """Union mask ``(H, W)`` of ``regions`` (image pixels); all False when empty."""
        ...

    def close(self) -> None:
        """Release the per-image state."""
        ...


@runtime_checkable
class Segmenter(Protocol):
    """A mask source.

    Attributes:
        name: the registry name.
        produces_masks: False for ``none`` (the engine then stores no masks).
        needs_pixels: whether :meth:`open` needs the decoded image (False: its size is
            enough, and the engine may skip decoding).
    """

    name: ClassVar[str]
    produces_masks: ClassVar[bool]
    needs_pixels: ClassVar[bool]

    def open(self, image: Image | None, *, image_wh: tuple[int, int]) -> SegmenterSession:
        """Start a session for one image (``image`` may be None if not ``needs_pixels``)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Resolved settings for ``config.json``."""
        ...

    def close(self) -> None:
        """Release the model."""
        ...


def empty_mask(image_wh: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """An all-False ``(H, W)`` mask."""
    width, height = image_wh
    return np.zeros((height, width), dtype=bool)


class NoSegmenter:
    """``none``: detection only; no masks, so gIoU/cIoU are reported as null."""

    name: ClassVar[str] = "none"
    produces_masks: ClassVar[bool] = False
    needs_pixels: ClassVar[bool] = False

    @classmethod
    def from_spec(cls, argument: str, *, device: str | None = None) -> NoSegmenter:
        """``none`` takes no options."""
        if argument:
            raise ConfigError(f"segmenter none takes no options, got {argument!r}")
        return cls()

    def open(self, image: Image | None, *, image_wh: tuple[int, int]) -> SegmenterSession:
        """Never called: the engine checks :attr:`produces_masks` first."""
        raise SegmenterError("segmenter 'none' produces no masks")

    def describe(self) -> dict[str, Any]:
        """No settings."""
        return {}

    def close(self) -> None:
        """Nothing to release."""
