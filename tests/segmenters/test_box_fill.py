"""The box-fill and none segmenters and the registry."""

from __future__ import annotations

import numpy as np
import pytest

from regionreasoner.errors import ConfigError, SegmenterError, UnknownComponentError
from regionreasoner.geometry.regions import Regions
from regionreasoner.segmenters import SEGMENTERS, load_segmenter
from regionreasoner.segmenters.box_fill import BoxFillSegmenter


def test_box_fill_unions_the_filled_boxes() -> None:
    segmenter = load_segmenter("box-fill")
    assert isinstance(segmenter, BoxFillSegmenter) and segmenter.produces_masks
    session = segmenter.open(None, image_wh=(8, 6))
    mask = session.segment(
        Regions(np.array([[0, 0, 2, 2], [1, 1, 4, 3]]), np.array([[1, 1], [np.nan, np.nan]]))
    )
    expected = np.zeros((6, 8), dtype=bool)
    expected[0:2, 0:2] = True
    expected[1:3, 1:4] = True
    assert np.array_equal(mask, expected)
    assert not session.segment(Regions.empty()).any()


def test_none_produces_no_masks() -> None:
    segmenter = load_segmenter("none")
    assert not segmenter.produces_masks and not segmenter.needs_pixels
    with pytest.raises(SegmenterError):
        segmenter.open(None, image_wh=(4, 4))


def test_registry_names_options_and_typos() -> None:
    assert SEGMENTERS.names() == ["box-fill", "none", "sam2"]
    with pytest.raises(UnknownComponentError, match="'box-fill'"):
        load_segmenter("boxfill")
    with pytest.raises(ConfigError, match="no options"):
        load_segmenter("box-fill:x=1")
