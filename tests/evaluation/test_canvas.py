"""The dashed box shared by the report gallery and the web page."""

from __future__ import annotations

from PIL import Image, ImageDraw

from regionreasoner.evaluation.canvas import dashed_rectangle

FILL = (255, 215, 0)


def _drawn(box, *, width=1, dash_px=6):
    image = Image.new("RGB", (100, 100))
    dashed_rectangle(ImageDraw.Draw(image), box, FILL, width=width, dash_px=dash_px)
    return image


def test_edges_alternate_dash_and_gap():
    image = _drawn((10, 10, 70, 40))  # top edge: 60 px = 10 pieces of 6 px, 5 drawn
    top = [image.getpixel((x, 10)) == FILL for x in range(10, 71)]
    assert top[:6] == [True] * 6  # the first piece is drawn
    assert top[8:11] == [False] * 3  # the second is a gap
    assert top[12:18] == [True] * 6  # the third is drawn
    assert image.getpixel((10, 25)) == FILL  # left edge starts with a dash too
    assert image.getpixel((40, 25)) == (0, 0, 0)  # inside stays untouched


def test_a_short_edge_is_one_dash():
    image = _drawn((10, 10, 13, 13), dash_px=6)
    assert all(image.getpixel((x, 10)) == FILL for x in range(10, 14))


def test_width_thickens_the_dashes():
    def painted(image: Image.Image) -> int:
        return sum(image.getpixel((x, y)) == FILL for x in range(100) for y in range(100))

    thin, thick = _drawn((10, 10, 70, 40)), _drawn((10, 10, 70, 40), width=3)
    assert painted(thick) > 2 * painted(thin)
