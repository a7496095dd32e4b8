"""``sam2``: SAM2 masks prompted with each predicted box and its point.

As in the released evaluation, every predicted object is prompted with its box and (when
it has one) its point as a positive click, SAM2 returns three candidate masks, the best
scoring one is kept, and the objects' masks are OR-ed into one mask per turn.

The image embedding is computed ONCE per image (:meth:`SAM2Segmenter.open` calls
``set_image``) and reused for every turn of that image. Several sessions may be open at
the same time (the engine interleaves dialogues round by round): the predictor holds
one image state, so each session keeps its own embedding and puts it back into the
predictor before predicting, instead of recomputing it.

Specs:

- ``sam2`` or ``sam2:facebook/sam2-hiera-large``: a Hugging Face checkpoint through
  ``SAM2ImagePredictor.from_pretrained`` (the released evaluation uses hiera-large).
- ``sam2:config=configs/sam2.1/sam2.1_hiera_t.yaml,ckpt=PATH``: a config bundled with
  the ``sam2`` package plus a local checkpoint (``{"model": state_dict}``, as the
  official checkpoints are stored).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from regionreasoner._imports import require
from regionreasoner.errors import ConfigError, SegmenterError
from regionreasoner.segmenters.base import empty_mask

if TYPE_CHECKING:
    from PIL.Image import Image

    from regionreasoner.geometry.regions import Regions

logger = logging.getLogger(__name__)

DEFAULT_SAM2_MODEL = "facebook/sam2-hiera-large"
"""The checkpoint of the released evaluation."""

POSITIVE_LABEL = 1
"""SAM2 point label of a foreground click."""

_STATE_ATTRS = ("_features", "_orig_hw", "_is_image_set", "_is_batch")
"""The predictor's per-image state that a session saves and restores."""


class SAM2Session:
    """One image's embedding, kept for every turn of that image."""

    def __init__(self, owner: SAM2Segmenter, image: Image, image_wh: tuple[int, int]) -> None:
        self.image_wh = image_wh
        self._owner = owner
        self._state: dict[str, Any] | None = None
        self._image = image
        owner._set_image(image)
        self._state = owner._save_state()
        owner._active = self
        if self._state is not None:
            self._image = None  # the saved embedding is enough; drop the pixels

    def _activate(self) -> None:
        owner = self._owner
        if owner._active is self:
            return
        if self._state is not None:
            owner._restore_state(self._state)
        else:  # a predictor without the expected state: recompute (counted)
            owner._set_image(self._image)
        owner._active = self

    def segment(self, regions: Regions) -> npt.NDArray[np.bool_]:
        """Union of the best-scoring mask of every region (``(H, W)`` bool)."""
        mask = empty_mask(self.image_wh)
        if regions.is_empty():
            return mask
        self._activate()
        predictor = self._owner.predictor
        has_point = regions.has_point
        for index in range(len(regions)):
            kwargs: dict[str, Any] = {"box": regions.xyxy[index].astype(np.float32)}
            if has_point[index]:
                kwargs["point_coords"] = regions.points[index : index + 1].astype(np.float32)
                kwargs["point_labels"] = np.array([POSITIVE_LABEL], dtype=np.int32)
            try:
                masks, scores, _ = predictor.predict(multimask_output=True, **kwargs)
            except RuntimeError as e:
                raise SegmenterError(f"SAM2 prediction failed: {e}") from e
            best = masks[int(np.argmax(scores))].astype(bool)
            if best.shape != mask.shape:
                raise SegmenterError(
                    f"SAM2 returned a {best.shape} mask for an image of shape {mask.shape}"
                )
            mask |= best
        return mask

    def close(self) -> None:
        """Drop the embedding."""
        if self._owner._active is self:
            self._owner._active = None
        self._state = None
        self._image = None


def parse_sam2_spec(argument: str) -> dict[str, str]:
    """``""`` / ``"MODEL_ID"`` / ``"config=CFG,ckpt=PATH"`` -> settings.

    Raises:
        ConfigError: unknown keys, or ``config`` without ``ckpt`` (or the reverse).

    >>> parse_sam2_spec("")
    {'model_id': 'facebook/sam2-hiera-large'}
    >>> parse_sam2_spec("config=configs/sam2.1/sam2.1_hiera_t.yaml,ckpt=t.pt")
    {'config': 'configs/sam2.1/sam2.1_hiera_t.yaml', 'ckpt': 't.pt'}
    """
    if "=" not in argument:
        return {"model_id": argument or DEFAULT_SAM2_MODEL}
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in argument.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in ("config", "ckpt", "model_id"):
            raise ConfigError(
                f"segmenter sam2:{argument}: expected config=CFG,ckpt=PATH or "
                f"a model id, got {item!r}"
            )
        out[key] = value
    if ("config" in out) != ("ckpt" in out):
        raise ConfigError(f"segmenter sam2:{argument}: give both config= and ckpt=")
    if "model_id" in out and "config" in out:
        raise ConfigError(f"segmenter sam2:{argument}: give a model id OR config+ckpt")
    return out


class SAM2Segmenter:
    """SAM2 image predictor with one embedding per image.

    Args:
        predictor: a ready ``SAM2ImagePredictor`` (or a compatible object).
        settings: what it was built from, for ``config.json``.

    Attributes:
        set_image_calls: how many image embeddings were computed.
    """

    name: ClassVar[str] = "sam2"
    produces_masks: ClassVar[bool] = True
    needs_pixels: ClassVar[bool] = True

    def __init__(self, predictor: Any, settings: dict[str, Any] | None = None) -> None:
        self.predictor = predictor
        self.settings = dict(settings or {})
        self.set_image_calls = 0
        self._active: SAM2Session | None = None
        self._can_swap = all(hasattr(predictor, a) for a in _STATE_ATTRS)
        if not self._can_swap:
            logger.warning(
                "this SAM2 predictor has no swappable image state; interleaved "
                "images will be re-embedded"
            )

    @classmethod
    def from_spec(cls, argument: str, *, device: str | None = None) -> SAM2Segmenter:
        """Build from ``sam2[:MODEL_ID | :config=CFG,ckpt=PATH]``."""
        require("sam2", extra="sam2")
        torch = require("torch", extra="sam2")
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        settings: dict[str, Any] = parse_sam2_spec(argument)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        settings["device"] = device
        if "model_id" in settings:
            try:
                predictor = SAM2ImagePredictor.from_pretrained(settings["model_id"], device=device)
            except (OSError, KeyError, ValueError) as e:
                raise ConfigError(f"cannot load SAM2 {settings['model_id']!r}: {e}") from e
        else:
            from sam2.build_sam import build_sam2

            ckpt = Path(settings["ckpt"])
            if not ckpt.is_file():
                raise ConfigError(f"SAM2 checkpoint not found: {ckpt}")
            try:
                model = build_sam2(settings["config"], ckpt_path=str(ckpt), device=device)
            except (RuntimeError, KeyError, ValueError, OSError) as e:
                raise ConfigError(
                    f"cannot build SAM2 from {settings['config']} and {ckpt}: {e}"
                ) from e
            predictor = SAM2ImagePredictor(model)
        return cls(predictor, settings)

    def _set_image(self, image: Image) -> None:
        self.predictor.set_image(np.asarray(image.convert("RGB")))
        self.set_image_calls += 1

    def _save_state(self) -> dict[str, Any] | None:
        if not self._can_swap:
            return None
        return {a: getattr(self.predictor, a) for a in _STATE_ATTRS}

    def _restore_state(self, state: dict[str, Any]) -> None:
        for attr, value in state.items():
            setattr(self.predictor, attr, value)

    def open(self, image: Image | None, *, image_wh: tuple[int, int]) -> SAM2Session:
        """Embed ``image`` once and return its session."""
        if image is None:
            raise SegmenterError("the sam2 segmenter needs the decoded image")
        if tuple(image.size) != tuple(image_wh):
            raise SegmenterError(f"image size {image.size} differs from image_wh {image_wh}")
        return SAM2Session(self, image, image_wh)

    def describe(self) -> dict[str, Any]:
        """Settings for ``config.json``."""
        return dict(self.settings)

    def close(self) -> None:
        """Drop the predictor."""
        self._active = None
        self.predictor = None
