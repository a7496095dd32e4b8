"""Boxes cited in text: ``bbox=[x1,y1,x2,y2]``, ``bbox [..]`` and bare ``[x1,y1,x2,y2]``.

Each citation keeps its style so that each reward profile can apply its own rule (the
released reward code only counts boxes preceded by ``bbox``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

NUMBER_PATTERN = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
"""A number as models write coordinates (sign, decimals, exponent)."""
_NUM = NUMBER_PATTERN
_BOX_RE = re.compile(
    rf"\[\s*(?P<a>{_NUM})\s*,\s*(?P<b>{_NUM})\s*,\s*(?P<c>{_NUM})\s*,\s*(?P<d>{_NUM})\s*\]"
)
# The prefix is matched backwards from the "[" of a box (on the reversed preceding text),
# which is much faster than an optional prefix group tried at every position.
_REVERSED_PREFIX_RE = re.compile(r"\s*(?P<eq>=)?\s*xobb(?!\w)", re.IGNORECASE)
_PREFIX_LOOKBACK = 64
"""Characters before a box that may hold its ``bbox`` prefix (with whitespace)."""

CitationStyle = Literal["bbox=", "bbox", "bare"]


@dataclass(frozen=True, slots=True)
class CitedBox:
    """A box written in text.

    Attributes:
        xyxy: the four numbers as written (frame of the text).
        style: ``"bbox="`` (``bbox=[...]``), ``"bbox"`` (``bbox [...]``) or ``"bare"``.
        span: ``(start, end)`` character offsets in the text.
    """

    xyxy: tuple[float, float, float, float]
    style: CitationStyle
    span: tuple[int, int]


def find_cited_boxes(text: str, *, keep_non_finite: bool = False) -> tuple[CitedBox, ...]:
    """All four-number boxes in ``text``, in order, with their citation style.

    Args:
        text: the text to search.
        keep_non_finite: also return boxes with a number that does not fit a float
            (``1e309``, a 400-digit integer), as ``inf``; by default they are skipped.
            The paper reward needs them: citing such a box is still citing a box.

    >>> [b.style for b in find_cited_boxes("near bbox=[1,2,3,4] and [5, 6, 7, 8]")]
    ['bbox=', 'bare']
    >>> find_cited_boxes("[1e309,0,1,1]")
    ()
    >>> find_cited_boxes("[1e309,0,1,1]", keep_non_finite=True)[0].xyxy
    (inf, 0.0, 1.0, 1.0)
    """
    if not text or "[" not in text:
        return ()
    found = []
    for m in _BOX_RE.finditer(text):
        values = tuple(float(m.group(k)) for k in "abcd")
        if not keep_non_finite and not all(math.isfinite(v) for v in values):
            continue
        start = m.start()
        before = text[max(0, start - _PREFIX_LOOKBACK) : start][::-1]
        prefix = _REVERSED_PREFIX_RE.match(before)
        if prefix:
            style: CitationStyle = "bbox=" if prefix.group("eq") else "bbox"
            start -= prefix.end()
        else:
            style = "bare"
        found.append(CitedBox(values, style, (start, m.end())))  # type: ignore[arg-type]
    return tuple(found)


def format_reference(
    model_xyxy: Sequence[float], *, style: str = "bbox=", decimals: int = 0
) -> str:
    """Render a reference box as the model is trained to read it.

    Args:
        model_xyxy: the box in the MODEL frame; values are written as integers.
        style: ``"bbox="`` -> ``bbox=[x1,y1,x2,y2]`` (paper protocol, training);
            ``"official"`` -> ``[x1, y1, x2, y2]`` i.e. ``str(list)`` of the values as
            given (the released evaluation).
        decimals: ``bbox=`` style only: write each value with this many digits after
            the point (the ``rel1`` frame: ``bbox=[0.100,0.250,0.500,0.875]``); 0 writes
            integers. Values are expected already rounded (``Frame.to_model_xyxy``).

    >>> format_reference([0.1, 0.25, 0.5, 0.875], decimals=3)
    'bbox=[0.100,0.250,0.500,0.875]'
    """
    if style == "official":
        return str([int(v) if float(v).is_integer() else float(v) for v in model_xyxy])
    if decimals:
        return "bbox=[" + ",".join(f"{float(v):.{decimals}f}" for v in model_xyxy) + "]"
    return "bbox=[" + ",".join(str(round(float(v))) for v in model_xyxy) + "]"
