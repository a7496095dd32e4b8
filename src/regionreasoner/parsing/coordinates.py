"""Rewrite the coordinates written in a text from one frame into another.

Rewards are computed in one frame (their thresholds, 10 px box L1 and 30 px point
distance, are pixels of the released 840x840 frame), but a model may answer in another
(Qwen3-VL's 0-1000 grid, 0-1 floats). :func:`convert_text_coordinates` rewrites a
completion, a problem and a solution into the reward frame with the same
:class:`~regionreasoner.geometry.frames.Frame` arithmetic the evaluation uses, and leaves
every other character as it was, so the format and consistency terms see the same text.

What is rewritten: every list of four numbers (``[x1, y1, x2, y2]``: ``bbox_2d`` values,
``bbox=[...]`` references and citations, bare boxes) as a box, and every
``"point_2d": [x, y]`` as a point. Numbers too large for a float are left alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from regionreasoner.geometry.frames import Frame
from regionreasoner.parsing.references import NUMBER_PATTERN

_BOX_RE = re.compile(
    rf"\[\s*({NUMBER_PATTERN})\s*,\s*({NUMBER_PATTERN})\s*,\s*({NUMBER_PATTERN})\s*,"
    rf"\s*({NUMBER_PATTERN})\s*\]"
)
_POINT_RE = re.compile(
    rf"(\"point_2d\"\s*:\s*)\[\s*({NUMBER_PATTERN})\s*,\s*({NUMBER_PATTERN})\s*\]"
)


def _format(value: float, decimals: int) -> str:
    return str(int(value)) if decimals == 0 else f"{value:.{decimals}f}"


def _rewrite(
    pattern: re.Pattern[str],
    text: str,
    groups: tuple[int, ...],
    convert: Callable[[list[float]], np.ndarray],
    decimals: int,
) -> str:
    def replace(m: re.Match[str]) -> str:
        values = [float(m.group(g)) for g in groups]
        if not all(math.isfinite(v) for v in values):
            return m.group(0)
        new = convert(values)
        out, last = [], m.start()
        for g, value in zip(groups, new, strict=True):
            out.extend((text[last : m.start(g)], _format(float(value), decimals)))
            last = m.end(g)
        out.append(text[last : m.end()])
        return "".join(out)

    return pattern.sub(replace, text)


def convert_text_coordinates(text: str, src: Frame, dst: Frame) -> str:
    """``text`` with every box and point converted from ``src`` into ``dst`` (rounded
    half up to ``dst.decimals`` digits, written as integers when that is 0).

    Returns ``text`` itself when the two frames are equal.

    Raises:
        ValueError: the frames are over images of different sizes.

    >>> from regionreasoner.geometry.frames import FRAMES
    >>> rel, square = FRAMES.get("rel1000")((640, 480)), FRAMES.get("square840")((640, 480))
    >>> convert_text_coordinates('near bbox=[500,250,1000,1000] {"point_2d": [750, 625]}',
    ...                          rel, square)
    'near bbox=[420,210,840,840] {"point_2d": [630, 525]}'
    """
    if src == dst:
        return text
    if tuple(src.image_wh) != tuple(dst.image_wh):
        raise ValueError(
            f"cannot convert between frames of different images: {src.image_wh} and {dst.image_wh}"
        )
    if "[" not in text:
        return text
    text = _rewrite(
        _POINT_RE, text, (2, 3), lambda v: src.convert_points([v], dst)[0], dst.decimals
    )
    return _rewrite(
        _BOX_RE, text, (1, 2, 3, 4), lambda v: src.convert_xyxy([v], dst)[0], dst.decimals
    )


__all__ = ["convert_text_coordinates"]
