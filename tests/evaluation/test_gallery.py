"""The report gallery reads images through the guarded loader: large images are decoded
reduced and drawn as if full size, unusable ones become a note in their card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from hostile_images import quadrant_rgb, write_bomb_png
from regionreasoner.data.images import load_image as load_image_file
from regionreasoner.evaluation.accumulators import TurnScore
from regionreasoner.evaluation.gallery import (
    GROUND_TRUTH_COLOR,
    MASK_ALPHA,
    PREDICTION_COLOR,
    THUMBNAIL_MAX_SIDE,
    GalleryTurn,
    dialogue_cards,
    draw_turn,
    load_image,
)

GT_XYXY = (400.0, 300.0, 1200.0, 900.0)
"""A box in the pixels of a 2000 x 1500 image."""


def _turn(**row: object) -> GalleryTurn:
    score = TurnScore(1, True, True, None, None, True, None, None, False)
    return GalleryTurn({"dialogue_id": "d", "turn_index": 0, **row}, score, "the red one", GT_XYXY)


def test_a_large_image_is_drawn_from_reduced_pixels_at_the_right_place(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(quadrant_rgb((2000, 1500))).save(path)
    loaded, reason = load_image(path)
    assert reason is None and loaded is not None
    assert loaded.reduced and loaded.image_wh == (2000, 1500)
    assert loaded.pixels.size == (1000, 750)  # a PNG: reduced right after decoding

    thumb = draw_turn(loaded.pixels, _turn(), loaded.image_wh)
    full = draw_turn(load_image_file(path).pixels, _turn())  # the full-size image
    assert thumb.size == full.size == (THUMBNAIL_MAX_SIDE, 240)
    scale = THUMBNAIL_MAX_SIDE / 2000
    x1, y1 = round(GT_XYXY[0] * scale), round(GT_XYXY[1] * scale)
    for image in (thumb, full):  # the GT outline's top-left corner, in both
        assert image.getpixel((x1, y1)) == GROUND_TRUTH_COLOR
    diff = np.abs(np.asarray(thumb, np.int16) - np.asarray(full, np.int16))
    assert diff.mean() < 1.0


def test_an_over_limit_image_becomes_a_note_in_its_card(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 300)).save(path)
    (card,) = dialogue_cards("d", [_turn()], path, max_pixels=100_000).cards
    assert "wide.png is 400x300 (120,000 pixels), over the limit of 100,000 pixels" in (
        card.missing_reason
    )
    assert card.image_uri is None


def test_a_bomb_and_a_missing_image_are_notes_not_errors(tmp_path: Path) -> None:
    bomb = write_bomb_png(tmp_path / "bomb.png", (20_000, 20_000))
    (card,) = dialogue_cards("d", [_turn()], bomb).cards
    assert "400,000,000 pixels" in card.missing_reason and card.image_uri is None
    (card,) = dialogue_cards("d", [_turn()], tmp_path / "gone.png").cards
    assert "image not found: gone.png" in card.missing_reason and card.image_uri is None


def test_the_predicted_mask_is_tinted_over_its_pixels_only() -> None:
    from regionreasoner.geometry.rle import encode_rle

    mask = np.zeros((1500, 2000), bool)
    mask[0:750, 1000:2000] = True  # the top-right quarter
    grey = Image.new("RGB", (2000, 1500), (100, 100, 100))
    turn = _turn(mask=encode_rle(mask))
    thumb = np.asarray(draw_turn(grey, GalleryTurn(turn.row, turn.score, "q", None)), float)
    opacity = int(255 * MASK_ALPHA) / 255  # Image.composite with an 8-bit alpha
    tinted = opacity * np.array(PREDICTION_COLOR) + (1 - opacity) * 100
    assert np.abs(thumb[60, 240] - tinted).max() <= 1  # inside: (240, 60) of 320 x 240
    assert np.abs(thumb[180, 80] - 100).max() == 0  # outside
    covered = (np.abs(thumb - tinted).max(axis=2) <= 1).mean()
    assert covered == 0.25
