"""Segmenters, looked up by the prefix of a ``--segmenter`` spec.

=====================================================  ===========================================
spec                                                   segmenter
=====================================================  ===========================================
``sam2`` / ``sam2:<hf-id>``                            SAM2 (default checkpoint hiera-large)
``sam2:config=<bundled yaml>,ckpt=<local .pt>``        SAM2 from a local checkpoint
``box-fill``                                           predicted boxes filled as masks
``none``                                               no masks (detection only)
=====================================================  ===========================================

Entries are lazy: importing this package imports neither torch nor sam2.
"""

from __future__ import annotations

from regionreasoner.registry import Registry
from regionreasoner.segmenters.base import Segmenter, SegmenterSession

DEFAULT_SEGMENTER = "sam2"
"""The segmenter of ``eval`` (``--segmenter``) when none is named."""

SEGMENTERS: Registry[type] = Registry("segmenter")
SEGMENTERS.register_lazy("sam2", "regionreasoner.segmenters.sam2:SAM2Segmenter")
SEGMENTERS.register_lazy("box-fill", "regionreasoner.segmenters.box_fill:BoxFillSegmenter")
SEGMENTERS.register_lazy("none", "regionreasoner.segmenters.base:NoSegmenter")


def load_segmenter(spec: str, *, device: str | None = None) -> Segmenter:
    """Build the segmenter a ``--segmenter`` spec names.

    Raises:
        UnknownComponentError: unknown name (lists the known ones).
        ConfigError: invalid options, or a checkpoint that cannot be loaded.
        MissingDependencyError: the ``sam2`` extra is missing.
    """
    name, _, argument = spec.strip().partition(":")
    return SEGMENTERS.get(name).from_spec(argument, device=device)


__all__ = ["DEFAULT_SEGMENTER", "SEGMENTERS", "Segmenter", "SegmenterSession", "load_segmenter"]
