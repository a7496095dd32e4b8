"""Drawing primitives shared by the report gallery and the web page (``serve``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def dashed_rectangle(
    draw: Any, xyxy: Sequence[float], fill: tuple[int, ...], *, width: int, dash_px: float
) -> None:
    """Draw the box ``xyxy`` with dashed edges on a ``PIL.ImageDraw.ImageDraw``.

    Each edge is cut into ``max(1, length // dash_px)`` equal pieces and every other
    piece, the first included, is drawn as a line of ``width`` pixels.
    """
    x1, y1, x2, y2 = xyxy
    edges = (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1)))
    for (ax, ay), (bx, by) in edges:
        length = max(abs(bx - ax), abs(by - ay))
        steps = max(1, int(length // dash_px))
        for i in range(0, steps, 2):
            t0, t1 = i / steps, min(1.0, (i + 1) / steps)
            draw.line(
                [
                    (ax + (bx - ax) * t0, ay + (by - ay) * t0),
                    (ax + (bx - ax) * t1, ay + (by - ay) * t1),
                ],
                fill=fill,
                width=width,
            )
