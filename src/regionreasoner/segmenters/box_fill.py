"""``box-fill``: each predicted box filled as a mask (no model, no pixels needed).

With box-shaped ground-truth masks this makes segmentation metrics exact, which is what
the oracle round trip and the released-evaluation parity tests rely on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from regionreasoner.errors import ConfigError
from regionreasoner.geometry.masks import xyxy_to_mask

if TYPE_CHECKING:
    from PIL.Image import Image

    from regionreasoner.geometry.regions import Regions


class BoxFillSession:
    """Box-fill masks of one image size."""

    def __init__(self, image_wh: tuple[int, int]) -> None:
        self.image_wh = image_wh

    def segment(self, regions: Regions) -> npt.NDArray[np.bool_]:
        """Union of the filled boxes (see :func:`~regionreasoner.geometry.xyxy_to_mask`)."""
        return xyxy_to_mask(regions.xyxy, self.image_wh)

    def close(self) -> None:
        """Nothing to release."""


class BoxFillSegmenter:
    """Masks from boxes via :func:`~regionreasoner.geometry.xyxy_to_mask`."""

    name: ClassVar[str] = "box-fill"
    produces_masks: ClassVar[bool] = True
    needs_pixels: ClassVar[bool] = False

    @classmethod
    def from_spec(cls, argument: str, *, device: str | None = None) -> BoxFillSegmenter:
        """``box-fill`` takes no options."""
        if argument:
            raise ConfigError(f"segmenter box-fill takes no options, got {argument!r}")
        return cls()

    def open(self, image: Image | None, *, image_wh: tuple[int, int]) -> BoxFillSession:
        """A session for an image of size ``image_wh``."""
        return BoxFillSession(image_wh)

    def describe(self) -> dict[str, Any]:
        """No settings."""
        return {}

    def close(self) -> None:
        """Nothing to release."""
