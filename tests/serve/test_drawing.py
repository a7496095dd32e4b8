"""The annotated image: display scale, click mapping, boxes, masks, labels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from regionreasoner.serve.drawing import (
    MASK_ALPHA,
    PALETTE,
    REFERENCE_RGB,
    USER_BOX_RGB,
    DrawnRegion,
    display_scale,
    display_to_image,
    draw_annotations,
)

WHITE = (255, 255, 255)


@pytest.mark.parametrize(
    ("image_wh", "scale"),
    [
        ((320, 240), 2.0),  # 640 / 320
        ((640, 480), 1.0),
        ((1280, 960), 0.5),
        ((100, 50), 4.0),  # 6.4 capped at 4
        ((10_000, 100), 0.25),  # 0.064 floored at 0.25
    ],
)
def test_display_scale(image_wh: tuple[int, int], scale: float) -> None:
    assert display_scale(image_wh) == scale


@pytest.mark.parametrize(
    ("display_xy", "scale", "image_xy"),
    [
        ((101, 47), 2.0, (50, 23)),
        ((-5, 10), 2.0, (0, 5)),  # clipped at the left edge
        ((1000, 1000), 2.0, (320, 240)),  # clipped at the far edges
        ((30, 30), 0.5, (60, 60)),
    ],
)
def test_clicks_map_back_to_image_pixels(
    display_xy: tuple[float, float], scale: float, image_xy: tuple[int, int]
) -> None:
    assert display_to_image(display_xy, scale, (320, 240)) == image_xy


def _white(wh: tuple[int, int] = (320, 240)) -> Image.Image:
    return Image.new("RGB", wh, WHITE)


def test_boxes_are_drawn_at_the_display_scale_in_their_turn_colour() -> None:
    canvas, scale = draw_annotations(_white(), [DrawnRegion("R1", (100, 100, 200, 200), None, 2)])
    assert scale == 2.0 and canvas.size == (640, 480)
    pixels = np.asarray(canvas)
    assert tuple(pixels[300, 200]) == PALETTE[2]  # left edge x = 100 * 2, mid height
    assert tuple(pixels[300, 300]) == WHITE  # inside the box: untouched
    assert tuple(pixels[100, 100]) == WHITE  # outside


def test_the_mask_of_the_latest_answer_is_tinted() -> None:
    mask = np.zeros((240, 320), dtype=bool)
    mask[50:60, 50:60] = True
    canvas, _ = draw_annotations(_white(), [], mask=mask, mask_colour_index=0)
    pixels = np.asarray(canvas).astype(int)
    inside, outside = pixels[110, 110], pixels[10, 10]  # (55, 55) * 2 and (5, 5) * 2
    assert tuple(outside) == WHITE
    alpha = int(255 * MASK_ALPHA) / 255  # an 8-bit alpha
    expected = [c * alpha + 255 * (1 - alpha) for c in PALETTE[0]]
    assert np.allclose(inside, expected, atol=1)


def test_a_mask_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="does not match"):
        draw_annotations(_white(), [], mask=np.ones((10, 10), dtype=bool))


def test_user_boxes_are_dashed_and_the_cited_region_is_outlined() -> None:
    canvas, _ = draw_annotations(
        _white(),
        [
            DrawnRegion("U1", (20, 150, 300, 200), user=True),
            DrawnRegion("R1", (100, 20, 200, 100), cited=True),
        ],
    )
    pixels = np.asarray(canvas)
    bottom = [tuple(pixels[400, x]) for x in range(60, 580)]  # y = 200 * 2
    assert USER_BOX_RGB in bottom and WHITE in bottom  # dashes with gaps
    # 3 px outline just outside the 2 px box edge at x = 100 * 2: columns 197..199
    assert tuple(pixels[100, 198]) == REFERENCE_RGB


def test_pending_corner_and_box_are_drawn() -> None:
    plain, _ = draw_annotations(_white(), [])
    marked, _ = draw_annotations(
        _white(), [], pending_corner=(10, 10), pending_xyxy=(50, 50, 90, 90)
    )
    diff = np.any(np.asarray(plain) != np.asarray(marked), axis=2)
    assert diff[20, 20]  # the cross at (10, 10) * 2
    assert diff[100:180, 100].any()  # the dashed left edge at x = 50 * 2
