"""Masks of the official release: dense ``H x W`` 0/1 grids, decoded fast and encoded.

The release stores every mask as a pretty-printed JSON grid (about 5 MB of text for a
640x480 image). :func:`binary_grid_from_json` decodes such a grid from its bytes with
numpy (the streaming reader's fast path), :func:`as_mask_array` accepts a grid decoded
by :mod:`json`, and :func:`encode_mask` turns a grid into COCO RLE as soon as it is read
so that dense masks never accumulate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from regionreasoner.data.schema import is_finite_number
from regionreasoner.geometry.rle import RLE, encode_rle

JSON_WHITESPACE = b" \t\n\r"
OPEN_BRACKET, CLOSE_BRACKET, COMMA = ord("["), ord("]"), ord(",")
_DIGIT_ZERO = ord("0")
_BINARY_DIGIT_MASK = 0xFE  # ord("0") and ord("1") differ only in the lowest bit


def binary_grid_from_json(text: bytes) -> npt.NDArray[np.uint8] | None:
    """Decode the JSON text of a 2-D grid of single-digit 0/1 values, in numpy.

    Whitespace is dropped, then every row must read ``[d,d,...,d]`` with the same width;
    anything else (other values, ragged rows, empty rows) returns ``None`` so that the
    caller can fall back to :mod:`json` and report the exact problem.

    Returns:
        ``(H, W)`` ``uint8`` array of 0/1, or ``None``.

    Example:
        >>> binary_grid_from_json(b"[[0, 1],\\n [1, 1]]").tolist()
        [[0, 1], [1, 1]]
    """
    compact = text.translate(None, JSON_WHITESPACE)
    first_close = compact.find(b"]")
    # compact = "[" + rows joined by "," + "]"; a row "[d,...,d]" of width W has 2W+1 bytes.
    row_bytes = first_close  # compact[1 : first_close + 1] is the first row
    if row_bytes < 3 or row_bytes % 2 == 0 or not compact.startswith(b"[["):
        return None
    width = (row_bytes - 1) // 2
    stride = row_bytes + 1
    inner = np.frombuffer(compact, dtype=np.uint8)[1:-1]
    if compact[-1] != CLOSE_BRACKET or (inner.size + 1) % stride:
        return None
    height = (inner.size + 1) // stride
    rows = np.empty(height * stride, dtype=np.uint8)
    rows[:-1] = inner
    rows[-1] = COMMA
    rows = rows.reshape(height, stride)
    body = rows[:, 1:-2]
    digits = body[:, 0::2]
    if not (
        (rows[:, 0] == OPEN_BRACKET).all()
        and (rows[:, -2] == CLOSE_BRACKET).all()
        and (rows[:, -1] == COMMA).all()
        and (body[:, 1::2] == COMMA).all()
        and ((digits & _BINARY_DIGIT_MASK) == _DIGIT_ZERO).all()
    ):
        return None
    assert digits.shape == (height, width)
    return np.ascontiguousarray(digits - _DIGIT_ZERO)


def as_mask_array(value: Any) -> Any:
    """``value`` as an ``(H, W)`` ``uint8`` 0/1 array when it is one, else unchanged.

    Accepts numpy arrays and nested lists of numbers or booleans equal to 0 or 1; ragged,
    empty or non-binary values are returned as they are, for the validator to report.
    """
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, list):
        try:
            array = np.asarray(value)
        except ValueError:  # ragged rows
            return value
    else:
        return value
    if array.ndim != 2 or array.size == 0 or array.dtype.kind not in "biuf":
        return value
    if not np.isin(array, (0, 1)).all():
        return value
    return array.astype(np.uint8, copy=False)


@dataclass(frozen=True, slots=True)
class EncodedMask:
    """A dense official mask after decoding: its size, COCO RLE and foreground area.

    Attributes:
        image_hw: ``(H, W)`` of the dense grid.
        rle: JSON-safe COCO RLE (``counts`` is a ``str``).
        area: number of foreground pixels.
    """

    image_hw: tuple[int, int]
    rle: RLE
    area: int


def encode_mask(value: Any) -> Any:
    """Mask hook: a valid ``(H, W)`` 0/1 array becomes an :class:`EncodedMask`."""
    if isinstance(value, np.ndarray):
        return EncodedMask(
            image_hw=(int(value.shape[0]), int(value.shape[1])),
            rle=encode_rle(value),
            area=int(np.count_nonzero(value)),
        )
    return value


def mask_info(value: Any) -> tuple[tuple[int, int], int] | None:
    """``((H, W), foreground area)`` of a decoded mask, or ``None`` when it is not one."""
    if isinstance(value, EncodedMask):
        return value.image_hw, value.area
    if isinstance(value, list):  # items decoded by json.load rather than the reader
        value = as_mask_array(value)
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return (int(value.shape[0]), int(value.shape[1])), int(np.count_nonzero(value))
    return None


def describe_bad_mask(value: Any) -> str:
    """What is wrong with a value that should be a dense 0/1 mask."""
    if not isinstance(value, list):
        return f"expected a dense H x W list of 0/1 rows, got {type(value).__name__}"
    if not value or not all(isinstance(row, list) for row in value):
        return "expected a non-empty list of rows (lists of 0/1)"
    widths = sorted({len(row) for row in value})
    if len(widths) > 1:
        return f"rows have different lengths {widths[:5]}: the mask is not rectangular"
    if widths[0] == 0:
        return "mask rows are empty"
    if not all(is_finite_number(v) or isinstance(v, bool) for row in value for v in row):
        return "mask rows must hold numbers 0 or 1 (the grid is not 2-D numbers)"
    return "mask values must all be 0 or 1"


def rle_of(mask: Any) -> RLE:
    """COCO RLE of a valid mask (already encoded by the reader, or a grid)."""
    return mask.rle if isinstance(mask, EncodedMask) else encode_rle(as_mask_array(mask))


__all__ = [
    "EncodedMask",
    "as_mask_array",
    "binary_grid_from_json",
    "describe_bad_mask",
    "encode_mask",
    "mask_info",
    "rle_of",
]
