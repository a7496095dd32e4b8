"""The official RegionDial-Bench release format: a streaming reader and conversion.

The release (HF ``lmsdss/regionreasoner_test_data``, ``raw/*_multi_turn.json``) is ONE
JSON list of ``{image_id, image_path, conversational_turns: [{question, bboxes,
context_from_turn?, ann_ids?, masks?}]}`` whose ``masks`` are dense ``H x W`` 0/1 arrays,
pretty-printed one number per line: 13 GB and 26 GB. The question-only files
(``*_multi_question.json``) have the same shape without ``ann_ids``/``masks``.

:class:`OfficialJSONReader` streams such a file in bounded memory: a small incremental
JSON parser walks the list item by item, and each mask grid is located by bracket depth
and decoded with numpy instead of building 300k Python ints (falling back to ``json``
for anything that is not a plain 0/1 grid, so the problem can be reported exactly).
:func:`convert_official_item` checks one item against the format's rules and maps it to a
:class:`~regionreasoner.data.schema.Dialogue`; :func:`convert_official` converts a whole
file to RegionDial JSONL. Field-by-field mapping: ``docs/data_format.md``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from regionreasoner.data.schema import REF_PLACEHOLDER, Dialogue, Target, Turn, is_finite_number
from regionreasoner.data.validation import (
    Problem,
    dialogue_problems,
    image_path_escapes,
    read_image_wh,
    resolve_image_file,
)
from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.fileio import atomic_write, dump_json_line
from regionreasoner.geometry.rle import RLE, encode_rle

logger = logging.getLogger(__name__)

OFFICIAL_PLACEHOLDER = "<box>{context_bbox}</box>"
"""How an official question cites the region of an earlier turn."""

OFFICIAL_PLACEHOLDER_RE = re.compile(
    r"<\s*box\s*>\s*\{\s*context_bbox\s*\}\s*<\s*/\s*box\s*>", re.IGNORECASE
)
"""The placeholder, tolerating whitespace inside the tags and the braces."""

OFFICIAL_SOURCE = "official"
"""``source`` of converted records."""

REPAIR = "repair"
"""Severity of a lenient repair (the dialogue is kept, changed as the message says)."""

SKIPPED = "skipped"
"""Severity of a dialogue that lenient conversion could not repair and left out."""

READ_CHUNK_BYTES = 4 << 20
"""Bytes read from the file at a time."""

MAX_GRID_BYTES = 128 << 20
"""Largest text of ONE mask grid (a 640x480 pretty-printed mask is about 5 MB)."""

MAX_TOKEN_BYTES = 16 << 20
"""Largest string or number token."""

MAX_NESTING_DEPTH = 64
"""Deepest JSON nesting accepted (the format needs 5)."""

MASKS_KEY = "masks"
"""Arrays under this key are decoded as mask grids by the fast path."""

_BOM = b"\xef\xbb\xbf"
_WS_RE = re.compile(rb"[ \t\n\r]*")
_NUMBER_RE = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_CHARS_RE = re.compile(rb"[-+.eE0-9]*")
_STRING_RE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_WHITESPACE = b" \t\n\r"
_OPEN, _CLOSE, _COMMA = ord("["), ord("]"), ord(",")
_DIGIT_ZERO = ord("0")
_BINARY_DIGIT_MASK = 0xFE  # ord("0") and ord("1") differ only in the lowest bit
_LITERALS: dict[int, tuple[bytes, Any]] = {
    ord("t"): (b"true", True),
    ord("f"): (b"false", False),
    ord("n"): (b"null", None),
}
_NUMBER_START = frozenset(b"-0123456789")


# --------------------------------------------------------------------------- reader


@dataclass(frozen=True, slots=True)
class RawItem:
    """One element of the top-level list, as decoded by :class:`OfficialJSONReader`.

    Attributes:
        index: 0-based position in the list.
        line: 1-based line where the element starts.
        value: the decoded element (``dict`` for a well-formed file).
    """

    index: int
    line: int
    value: Any


MaskHook = Callable[[Any], Any]
"""Called on every element of a ``masks`` array; its result replaces the element."""


class OfficialJSONReader:
    """Stream the elements of a top-level JSON list in bounded memory.

    Elements are decoded exactly as :func:`json.load` would, except that each element of
    an array under a ``"masks"`` key that is a rectangular 2-D grid of 0/1 numbers becomes
    an ``(H, W)`` ``uint8`` numpy array (then passed through ``mask_hook`` when given).
    Memory is bounded by the read chunk plus the largest single element, whatever the
    file size. ``NaN``/``Infinity`` are rejected (not JSON).

    Args:
        path: the JSON file.
        mask_hook: optional function applied to each mask element (e.g. RLE encoding so
            dense grids never accumulate).
        chunk_bytes: bytes read at a time.

    Raises:
        DataFormatError: on iteration, for invalid JSON or UTF-8 (with the line), or when
            the top level is not a list.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mask_hook: MaskHook | None = None,
        chunk_bytes: int = READ_CHUNK_BYTES,
    ) -> None:
        self.path = str(path)
        self._mask_hook = mask_hook
        self._chunk = int(chunk_bytes)
        self._handle: IO[bytes] | None = None
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._offset = 0  # file offset of self._buf[0]
        self._mark = 0  # buffer index up to which newlines are counted in self._lines
        self._lines = 0

    @property
    def bytes_read(self) -> int:
        """Bytes of the file consumed so far (for progress bars)."""
        return self._offset + self._pos

    def __iter__(self) -> Iterator[RawItem]:
        with open(self.path, "rb") as handle:
            self._handle = handle
            try:
                yield from self._items()
            finally:
                self._handle = None

    # -- top level

    def _items(self) -> Iterator[RawItem]:
        self._ensure(len(_BOM))
        if self._buf.startswith(_BOM):
            self._pos = len(_BOM)
        char = self._peek()
        if char != _OPEN:
            found = "end of file" if char is None else repr(chr(char))
            raise self._error(f"expected a JSON list '[' at the top level, found {found}")
        self._pos += 1
        index = 0
        if self._peek() == _CLOSE:
            self._pos += 1
        else:
            while True:
                self._peek()
                line = self._line_at(self._pos)
                value = self._value(1, None)
                yield RawItem(index, line, value)
                index += 1
                char = self._peek()
                if char == _COMMA:
                    self._pos += 1
                elif char == _CLOSE:
                    self._pos += 1
                    break
                else:
                    raise self._unexpected(char, "',' or ']' after a list item")
        if self._peek() is not None:
            raise self._error("extra data after the top-level list")

    # -- buffer management

    def _ensure(self, n: int) -> bool:
        """Make ``n`` unread bytes available (False at end of file); drops consumed bytes."""
        if len(self._buf) - self._pos >= n:
            return True
        if self._eof:
            return False
        assert self._handle is not None
        self._compact()
        parts = [self._buf]
        have = len(self._buf)
        while have < n:
            data = self._handle.read(max(self._chunk, n - have))
            if not data:
                self._eof = True
                break
            parts.append(data)
            have += len(data)
        self._buf = b"".join(parts)
        return have >= n

    def _compact(self) -> None:
        """Drop the consumed bytes before ``self._pos``."""
        if self._pos:
            self._line_at(self._pos)
            self._offset += self._pos
            self._buf = self._buf[self._pos :]
            self._mark -= self._pos
            self._pos = 0

    def _extend(self) -> bool:
        """Append one chunk WITHOUT dropping anything (buffer indices stay valid)."""
        if self._eof:
            return False
        assert self._handle is not None
        data = self._handle.read(self._chunk)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _line_at(self, index: int) -> int:
        """1-based line of buffer position ``index`` (must not go backwards)."""
        if index > self._mark:
            self._lines += self._buf.count(b"\n", self._mark, index)
            self._mark = index
        return self._lines + 1

    def _peek(self) -> int | None:
        """Skip whitespace; the next byte, or ``None`` at end of file."""
        while True:
            self._pos = _WS_RE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._ensure(1):
                return None

    # -- errors

    def _error(
        self, message: str, at: int | None = None, cause: str = "invalid JSON"
    ) -> DataFormatError:
        at = self._pos if at is None else at
        line = self._line_at(max(at, self._mark))
        start = self._buf.rfind(b"\n", 0, at)
        column = f", column {at - start}" if start >= 0 or self._offset == 0 else ""
        return DataFormatError(f"{cause}: {message}", path=self.path, record=f"line {line}{column}")

    def _unexpected(self, char: int | None, expected: str) -> DataFormatError:
        if char is None:
            return self._error(f"unexpected end of file, expected {expected}")
        shown = repr(chr(char)) if char < 0x80 else f"byte 0x{char:02x}"
        return self._error(f"unexpected {shown}, expected {expected}")

    # -- values

    def _value(self, depth: int, key: str | None) -> Any:
        if depth > MAX_NESTING_DEPTH:
            raise self._error(f"nesting deeper than {MAX_NESTING_DEPTH} levels")
        char = self._peek()
        if char == ord("{"):
            return self._object(depth)
        if char == _OPEN:
            return self._masks(depth) if key == MASKS_KEY else self._array(depth)
        if char == ord('"'):
            return self._string()
        if char in _NUMBER_START:
            return self._number()
        if char in _LITERALS:
            return self._literal(*_LITERALS[char])
        raise self._unexpected(char, "a JSON value")

    def _object(self, depth: int) -> dict[str, Any]:
        self._pos += 1
        out: dict[str, Any] = {}
        char = self._peek()
        if char == ord("}"):
            self._pos += 1
            return out
        while True:
            if char != ord('"'):
                raise self._unexpected(char, "a string key")
            key = self._string()
            if self._peek() != ord(":"):
                raise self._unexpected(self._peek(), "':' after an object key")
            self._pos += 1
            out[key] = self._value(depth + 1, key)
            char = self._peek()
            if char == _COMMA:
                self._pos += 1
                char = self._peek()
            elif char == ord("}"):
                self._pos += 1
                return out
            else:
                raise self._unexpected(char, "',' or '}' in an object")

    def _array(self, depth: int, element: Callable[[int], Any] | None = None) -> list[Any]:
        self._pos += 1
        out: list[Any] = []
        if self._peek() == _CLOSE:
            self._pos += 1
            return out
        while True:
            out.append(element(depth + 1) if element else self._value(depth + 1, None))
            char = self._peek()
            if char == _COMMA:
                self._pos += 1
            elif char == _CLOSE:
                self._pos += 1
                return out
            else:
                raise self._unexpected(char, "',' or ']' in a list")

    def _masks(self, depth: int) -> list[Any]:
        return self._array(depth, self._mask_element)

    def _mask_element(self, depth: int) -> Any:
        value = self._grid(depth) if self._peek() == _OPEN else self._value(depth, None)
        if not isinstance(value, np.ndarray):
            value = as_mask_array(value)
        return self._mask_hook(value) if self._mask_hook is not None else value

    def _grid(self, depth: int) -> Any:
        """A mask grid: bracket-depth scan for its extent, then numpy (or json) decoding."""
        self._compact()  # the scan below only appends, so drop what was read first
        start = self._pos
        end = self._matching_bracket(start)
        if end is None:
            # Strings or objects inside: let the general parser report it exactly.
            return self._array(depth)
        text = self._buf[start:end]
        grid = binary_grid_from_json(text)
        if grid is None:
            grid = self._grid_via_json(text, start)
        self._pos = end
        return grid

    def _matching_bracket(self, start: int) -> int | None:
        """Index just past the ``]`` closing the ``[`` at ``start``; ``None`` if not simple."""
        level = 0
        scan = start
        while True:
            if scan < len(self._buf):
                view = np.frombuffer(self._buf, dtype=np.uint8, offset=scan)
                brackets = np.flatnonzero((view == _OPEN) | (view == _CLOSE))
                if brackets.size:
                    steps = np.where(view[brackets] == _OPEN, 1, -1).cumsum() + level
                    closed = np.flatnonzero(steps == 0)
                    if closed.size:
                        end = scan + int(brackets[closed[0]]) + 1
                        simple = self._buf.find(b'"', scan, end) < 0 and (
                            self._buf.find(b"{", scan, end) < 0
                        )
                        return end if simple else None
                    level = int(steps[-1])
                del view
                # Everything scanned so far belongs to the grid: it must hold no string.
                if self._buf.find(b'"', scan) >= 0 or self._buf.find(b"{", scan) >= 0:
                    return None
                scan = len(self._buf)
            if len(self._buf) - start > MAX_GRID_BYTES:
                raise self._error(
                    f"a mask grid is larger than {MAX_GRID_BYTES >> 20} MiB of text",
                    start,
                    cause="mask too large",
                )
            if not self._extend():
                return None  # unterminated: the general parser reports where

    def _grid_via_json(self, text: bytes, start: int) -> Any:
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as e:
            line = self._line_at(start) + e.lineno - 1
            raise DataFormatError(
                f"invalid JSON: {e.msg}", path=self.path, record=f"line {line}"
            ) from e
        except ValueError as e:  # NaN / Infinity
            raise self._error(str(e), start) from e

    def _string(self) -> str:
        while True:
            match = _STRING_RE.match(self._buf, self._pos)
            if match is not None:
                break
            if len(self._buf) - self._pos > MAX_TOKEN_BYTES:
                raise self._error(f"string longer than {MAX_TOKEN_BYTES >> 20} MiB")
            available = len(self._buf) - self._pos
            self._ensure(available + self._chunk)
            if len(self._buf) - self._pos == available:
                raise self._error("unterminated string")
        raw = self._buf[match.start() : match.end()]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self._error(
                f"{e.reason} at byte {e.start} of a string", cause="invalid UTF-8"
            ) from e
        try:
            value, _ = json.decoder.scanstring(text, 1, True)  # type: ignore[attr-defined]
        except json.JSONDecodeError as e:
            raise self._error(e.msg, self._pos + e.pos) from e
        self._pos = match.end()
        return value

    def _number(self) -> int | float:
        # The whole run of number characters must be in the buffer before matching.
        while _NUMBER_CHARS_RE.match(self._buf, self._pos).end() == len(self._buf):  # type: ignore[union-attr]
            if self._eof:
                break
            if len(self._buf) - self._pos > MAX_TOKEN_BYTES:
                raise self._error(f"number longer than {MAX_TOKEN_BYTES >> 20} MiB")
            self._ensure(len(self._buf) - self._pos + self._chunk)
        match = _NUMBER_RE.match(self._buf, self._pos)
        if match is None:
            raise self._unexpected(self._buf[self._pos], "a number")
        text = match.group()
        self._pos = match.end()
        return float(text) if any(c in text for c in b".eE") else int(text)

    def _literal(self, word: bytes, value: Any) -> Any:
        self._ensure(len(word))
        if not self._buf.startswith(word, self._pos):
            raise self._unexpected(self._buf[self._pos], "a JSON value")
        self._pos += len(word)
        return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


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
    compact = text.translate(None, _WHITESPACE)
    first_close = compact.find(b"]")
    # compact = "[" + rows joined by "," + "]"; a row "[d,...,d]" of width W has 2W+1 bytes.
    row_bytes = first_close  # compact[1 : first_close + 1] is the first row
    if row_bytes < 3 or row_bytes % 2 == 0 or not compact.startswith(b"[["):
        return None
    width = (row_bytes - 1) // 2
    stride = row_bytes + 1
    inner = np.frombuffer(compact, dtype=np.uint8)[1:-1]
    if compact[-1] != _CLOSE or (inner.size + 1) % stride:
        return None
    height = (inner.size + 1) // stride
    rows = np.empty(height * stride, dtype=np.uint8)
    rows[:-1] = inner
    rows[-1] = _COMMA
    rows = rows.reshape(height, stride)
    body = rows[:, 1:-2]
    digits = body[:, 0::2]
    if not (
        (rows[:, 0] == _OPEN).all()
        and (rows[:, -2] == _CLOSE).all()
        and (rows[:, -1] == _COMMA).all()
        and (body[:, 1::2] == _COMMA).all()
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


def iter_official_items(
    path: str | os.PathLike[str], *, mask_hook: MaskHook | None = None
) -> Iterator[Any]:
    """The decoded elements of an official JSON list, one at a time (see the reader)."""
    for item in OfficialJSONReader(path, mask_hook=mask_hook):
        yield item.value


def detect_format(path: str | os.PathLike[str]) -> str:
    """``"official"`` when the first non-space byte is ``[`` (a JSON list), else ``"jsonl"``."""
    with open(path, "rb") as handle:
        head = handle.read(len(_BOM))
        if not head.startswith(_BOM):
            handle.seek(0)
        while True:
            block = handle.read(1 << 16)
            if not block:
                return "jsonl"
            stripped = block.lstrip(_WHITESPACE)
            if stripped:
                return "official" if stripped[:1] == b"[" else "jsonl"


# --------------------------------------------------------------------------- masks


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


def _mask_info(value: Any) -> tuple[tuple[int, int], int] | None:
    if isinstance(value, EncodedMask):
        return value.image_hw, value.area
    if isinstance(value, list):  # items decoded by json.load rather than the reader
        value = as_mask_array(value)
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return (int(value.shape[0]), int(value.shape[1])), int(np.count_nonzero(value))
    return None


def _describe_bad_mask(value: Any) -> str:
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


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class ConvertedItem:
    """Outcome of :func:`convert_official_item`.

    Attributes:
        dialogue: the converted record, or ``None`` when there is any error.
        problems: errors, warnings and (with ``lenient``) repairs, in file order.
        turns: number of turns read (0 when unreadable).
        masks: number of masks read.
    """

    dialogue: Dialogue | None
    problems: tuple[Problem, ...]
    turns: int = 0
    masks: int = 0

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity ``"error"``."""
        return [p for p in self.problems if p.severity == "error"]


@dataclass
class _Ctx:
    path: str | None
    record: str | None
    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, where: str | None, severity: str = "error") -> None:
        self.problems.append(Problem(message, self.path, self.record, where, severity))


def official_record_label(value: Any, line: int | None) -> str | None:
    """``"dialogue <image_id>"`` when readable, else ``"line N"``."""
    image_id = value.get("image_id") if isinstance(value, dict) else None
    if _valid_image_id(image_id):
        return f"dialogue {image_id}"
    return f"line {line}" if line is not None else None


def _valid_image_id(image_id: Any) -> bool:
    if isinstance(image_id, bool):
        return False
    return isinstance(image_id, int) or (isinstance(image_id, str) and bool(image_id.strip()))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def convert_official_item(
    value: Any,
    *,
    path: str | None = None,
    line: int | None = None,
    images_root: str | os.PathLike[str] | None = None,
    lenient: bool = False,
    source: str = OFFICIAL_SOURCE,
) -> ConvertedItem:
    """Check one official list element against every rule and convert it.

    Rules: ``image_id`` (int or non-empty string), ``image_path`` (relative, inside its
    root, and present under ``images_root`` when given), a non-empty
    ``conversational_turns`` list; per turn a non-empty ``question``, ``bboxes`` as a
    non-empty list of ``[x1, y1, x2, y2]`` with ``x2 > x1, y2 > y1``, ``context_from_turn``
    an int pointing at an EARLIER turn, the placeholder ``<box>{context_bbox}</box>``
    present iff ``context_from_turn`` is set, ``ann_ids`` integers, ``masks`` dense 0/1
    grids of one common size per dialogue (and of the image size when the image is read),
    no more masks or ann_ids than boxes. An all-zero mask is a warning.

    Args:
        value: the decoded element; masks may be arrays or :class:`EncodedMask`.
        path: the file, for locations.
        line: the line where the element starts, for locations.
        images_root: folder the ``image_path`` values are relative to; when given, images
            must exist and ``image_wh`` is read from the header when there is no mask.
        lenient: repair what can be repaired without inventing facts instead of failing
            (the repairs are listed in ``docs/data_format.md``). Every repair is a
            :data:`REPAIR` problem.
        source: ``source`` of the converted record.

    Returns:
        The dialogue (``None`` when any error) with every problem found.
    """
    ctx = _Ctx(path, official_record_label(value, line))
    if not isinstance(value, dict):
        ctx.add(f"expected an object per list item, got {type(value).__name__}", None)
        return ConvertedItem(None, tuple(ctx.problems))
    image_id = value.get("image_id")
    if not _valid_image_id(image_id):
        ctx.add(f"image_id must be an integer or a non-empty string, got {image_id!r}", "image_id")
    image = value.get("image_path")
    image_wh_from_file: tuple[int, int] | None = None
    if not isinstance(image, str) or not image.strip():
        ctx.add("image_path must be a non-empty relative path", "image_path")
        image = None
    elif image_path_escapes(image):
        ctx.add(f"image path {image!r} escapes its root (absolute or '..')", "image_path")
    elif images_root is not None:
        image_file, missing = resolve_image_file(image, images_root)
        if missing:
            ctx.add(missing, "image_path")
        else:
            image_wh_from_file, unreadable = read_image_wh(image_file)
            if unreadable:
                ctx.add(unreadable, "image_path")
    turns = value.get("conversational_turns")
    if not isinstance(turns, list) or not turns:
        ctx.add("conversational_turns must be a non-empty list", "conversational_turns")
        return ConvertedItem(None, tuple(ctx.problems))
    if lenient:
        turns = _repair_references(turns, ctx)
    mask_hw: tuple[int, int] | None = None
    n_masks = 0
    for i, turn in enumerate(turns):
        where = f"conversational_turns[{i}]"
        if not isinstance(turn, dict):
            ctx.add(f"expected an object, got {type(turn).__name__}", where)
            continue
        _check_turn(turn, i, where, ctx)
        masks = turn.get("masks")
        for j, mask in enumerate(masks if isinstance(masks, list) else []):
            n_masks += 1
            info = _mask_info(mask)
            if info is None:
                ctx.add(_describe_bad_mask(mask), f"{where}.masks[{j}]")
                continue
            hw, area = info
            if mask_hw is None:
                mask_hw = hw
                if image_wh_from_file and hw != image_wh_from_file[::-1]:
                    ctx.add(
                        f"mask size (H, W) = {hw} disagrees with the image file's "
                        f"(H, W) = {image_wh_from_file[::-1]}",
                        f"{where}.masks[{j}]",
                    )
            elif hw != mask_hw:
                ctx.add(
                    f"mask size (H, W) = {hw} differs from {mask_hw}, the size of the "
                    "dialogue's first mask",
                    f"{where}.masks[{j}]",
                )
            if area == 0:
                ctx.add(
                    "ground-truth mask is all zeros (valid, but no prediction can overlap it)",
                    f"{where}.masks[{j}]",
                    "warning",
                )
    problems = tuple(ctx.problems)
    if any(p.severity == "error" for p in problems):
        return ConvertedItem(None, problems, len(turns), n_masks)
    image_wh = (mask_hw[1], mask_hw[0]) if mask_hw else image_wh_from_file
    dialogue = _to_dialogue(value, turns, image_wh, source)
    # Safety net: the output must satisfy the RegionDial rules (it does unless a rule
    # above is missing, in which case the record is reported instead of written).
    leftovers = [
        p
        for p in dialogue_problems(dialogue.to_dict(), path=path, line=line)
        if p.severity == "error"
    ]
    if leftovers:
        return ConvertedItem(None, problems + tuple(leftovers), len(turns), n_masks)
    return ConvertedItem(dialogue, problems, len(turns), n_masks)


def official_item_problems(
    value: Any,
    *,
    path: str | None = None,
    line: int | None = None,
    images_root: str | os.PathLike[str] | None = None,
) -> list[Problem]:
    """Every rule violation of one official list element (see :func:`convert_official_item`)."""
    return list(
        convert_official_item(value, path=path, line=line, images_root=images_root).problems
    )


_REPAIR_HINT = " (`regionreasoner convert --lenient` repairs this)"


def _check_turn(turn: dict[str, Any], i: int, where: str, ctx: _Ctx) -> None:
    question = turn.get("question")
    if not isinstance(question, str) or not question.strip():
        ctx.add("question must be a non-empty string", f"{where}.question")
        question = ""
    elif REF_PLACEHOLDER in question:
        ctx.add(
            f"question contains {REF_PLACEHOLDER}, reserved for converted questions",
            f"{where}.question",
        )
    boxes = turn.get("bboxes")
    n_boxes = 0
    if not isinstance(boxes, list) or not boxes:
        ctx.add("bboxes must be a non-empty list of [x1, y1, x2, y2]", f"{where}.bboxes")
    else:
        n_boxes = len(boxes)
        for j, box in enumerate(boxes):
            if not isinstance(box, list) or len(box) != 4 or not all(map(is_finite_number, box)):
                ctx.add(
                    f"bbox must be 4 finite numbers [x1, y1, x2, y2], got {box!r}",
                    f"{where}.bboxes[{j}]",
                )
            elif not (box[2] > box[0] and box[3] > box[1]):
                ctx.add(
                    f"bbox {box} is empty or inverted (needs x2 > x1 and y2 > y1)",
                    f"{where}.bboxes[{j}]",
                )
    ref = turn.get("context_from_turn")
    if ref is not None:
        if not _is_int(ref):
            ctx.add(
                f"context_from_turn must be an integer, got {ref!r}", f"{where}.context_from_turn"
            )
        elif ref == i:
            ctx.add(
                "context_from_turn points at the turn itself" + _REPAIR_HINT,
                f"{where}.context_from_turn",
            )
        elif ref > i:
            ctx.add(
                f"context_from_turn {ref} points at a later turn" + _REPAIR_HINT,
                f"{where}.context_from_turn",
            )
        elif ref < 0:
            ctx.add(
                f"context_from_turn {ref} points at a missing turn" + _REPAIR_HINT,
                f"{where}.context_from_turn",
            )
    has_placeholder = OFFICIAL_PLACEHOLDER_RE.search(question) is not None
    if has_placeholder and ref is None:
        ctx.add(
            f"question contains {OFFICIAL_PLACEHOLDER} but context_from_turn is missing"
            + _REPAIR_HINT,
            f"{where}.question",
        )
    if ref is not None and not has_placeholder:
        ctx.add(
            f"context_from_turn is set but the question has no {OFFICIAL_PLACEHOLDER}"
            + _REPAIR_HINT,
            f"{where}.question",
        )
    for key in ("ann_ids", "masks"):
        items = turn.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            ctx.add(f"{key} must be a list", f"{where}.{key}")
            continue
        if n_boxes and len(items) > n_boxes:
            ctx.add(
                f"{len(items)} {key} for {n_boxes} bboxes: each entry belongs to the box "
                "at the same position",
                f"{where}.{key}",
            )
        elif n_boxes and items and len(items) < n_boxes:
            ctx.add(
                f"{len(items)} {key} for {n_boxes} bboxes: the last "
                f"{n_boxes - len(items)} targets get none",
                f"{where}.{key}",
                "warning",
            )
    ann_ids = turn.get("ann_ids")
    if isinstance(ann_ids, list):
        for j, ann_id in enumerate(ann_ids):
            if not _is_int(ann_id):
                ctx.add(f"ann_id must be an integer, got {ann_id!r}", f"{where}.ann_ids[{j}]")


def _repair_references(turns: list[Any], ctx: _Ctx) -> list[Any]:
    """Lenient mode: make every turn's reference agree with its question, inventing nothing.

    Per turn, as found in the released files (what the released evaluation does with
    each is in ``docs/data_format.md``):

    - ``context_from_turn`` set, no placeholder in the question: the question cites no
      region, so the reference is dropped (the question is kept as it is);
    - a placeholder, no ``context_from_turn``: nothing says which region it cites, so the
      placeholder is removed from the question (:func:`remove_placeholder`);
    - ``context_from_turn`` naming the turn itself, a later turn or a negative index: it
      points at the nearest earlier turn; on the first turn the reference and the
      placeholder are dropped.

    Every repair is added to ``ctx`` as a :data:`REPAIR` problem naming the turn's field
    and what changed. A turn whose fields have the wrong types is left for the checks.
    """
    repaired = list(turns)
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("question"), str):
            continue
        question: str = turn["question"]
        ref = turn.get("context_from_turn")
        has_placeholder = OFFICIAL_PLACEHOLDER_RE.search(question) is not None
        where = f"conversational_turns[{i}]"
        new = dict(turn)
        if ref is None:
            if not has_placeholder:
                continue
            new["question"] = remove_placeholder(question)
            message = (
                f"repaired: the question has {OFFICIAL_PLACEHOLDER} but no "
                f"context_from_turn; placeholder removed, question now {new['question']!r}"
            )
            ctx.add(message, f"{where}.question", REPAIR)
        elif not _is_int(ref) or (0 <= ref < i and has_placeholder):
            continue
        elif not has_placeholder:
            new.pop("context_from_turn")
            message = (
                f"repaired: context_from_turn {ref} but the question has no "
                f"{OFFICIAL_PLACEHOLDER}; reference dropped, question unchanged"
            )
            ctx.add(message, f"{where}.context_from_turn", REPAIR)
        else:
            what = "the turn itself" if ref == i else ("a later turn" if ref > i else "no turn")
            if i > 0:
                new["context_from_turn"] = i - 1
                message = (
                    f"repaired: context_from_turn {ref} pointed at {what}; now {i - 1}, "
                    "the nearest earlier turn (a guess: the file does not say which turn)"
                )
            else:
                new.pop("context_from_turn")
                new["question"] = remove_placeholder(question)
                message = (
                    f"repaired: context_from_turn {ref} pointed at {what} and there is no "
                    f"earlier turn; reference dropped, question now {new['question']!r}"
                )
            ctx.add(message, f"{where}.context_from_turn", REPAIR)
        repaired[i] = new
    return repaired


def remove_placeholder(question: str) -> str:
    """The question without its placeholder(s), whitespace and punctuation tidied.

    Example:
        >>> remove_placeholder("the dog near the <box>{context_bbox}</box> .")
        'the dog near the.'
    """
    text = OFFICIAL_PLACEHOLDER_RE.sub(" ", question)
    text = re.sub(r"\s+([.,;:?!])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _to_dialogue(
    value: dict[str, Any],
    turns: list[dict[str, Any]],
    image_wh: tuple[int, int] | None,
    source: str,
) -> Dialogue:
    out = []
    for i, turn in enumerate(turns):
        masks = turn.get("masks") or []
        ann_ids = turn.get("ann_ids") or []
        targets = tuple(
            Target(
                bbox=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                mask=_rle_of(masks[j]) if j < len(masks) else None,
                ann_id=ann_ids[j] if j < len(ann_ids) else None,
            )
            for j, box in enumerate(turn["bboxes"])
        )
        out.append(
            Turn(
                turn_index=i,
                question=OFFICIAL_PLACEHOLDER_RE.sub(REF_PLACEHOLDER, turn["question"]),
                targets=targets,
                refers_to=turn.get("context_from_turn"),
            )
        )
    image_id = value["image_id"]
    return Dialogue(
        dialogue_id=str(image_id),
        image=value["image_path"],
        turns=tuple(out),
        image_wh=image_wh,
        source=source,
        meta={"image_id": image_id},
    )


def _rle_of(mask: Any) -> RLE:
    return mask.rle if isinstance(mask, EncodedMask) else encode_rle(as_mask_array(mask))


# --------------------------------------------------------------------------- files


@dataclass(frozen=True, slots=True)
class ConvertSummary:
    """What :func:`convert_official` wrote.

    Attributes:
        dialogues: records written.
        turns: turns written.
        masks: masks converted to RLE.
        warnings: warnings reported (e.g. all-zero masks).
        repairs: lenient repairs made.
        bytes_in: size of the input file.
        bytes_out: size of the output file.
        skipped: dialogues left out by lenient conversion (not repairable).
    """

    dialogues: int
    turns: int
    masks: int
    warnings: int
    repairs: int
    bytes_in: int
    bytes_out: int
    skipped: int = 0


def convert_official(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    images_root: str | os.PathLike[str] | None = None,
    lenient: bool = False,
    source: str = OFFICIAL_SOURCE,
    on_problem: Callable[[Problem], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ConvertSummary:
    """Convert an official release file to RegionDial JSONL, streaming, in bounded memory.

    Dense masks become COCO RLE, ``<box>{context_bbox}</box>`` becomes ``{ref}``,
    ``context_from_turn`` becomes ``refers_to``, ``dialogue_id = str(image_id)``. The
    output is written atomically: on any failure nothing is left at ``dst``.

    Args:
        src: the official JSON list (full or question-only file).
        dst: the RegionDial JSONL to write.
        images_root: folder of the images (checked, and read for ``image_wh`` when a
            dialogue has no mask).
        lenient: repair what can be repaired without inventing facts (see
            ``docs/data_format.md``) and skip, instead of failing on, a dialogue that
            cannot be repaired (a missing ``image_path``, a bad box, a duplicate
            ``image_id``, ...): each skip is reported as a :data:`SKIPPED` problem
            located at the dialogue's first error, and counted in ``skipped``.
        source: ``source`` of the records.
        on_problem: receives every warning, repair and skip (default: logged).
        on_progress: receives the number of input bytes consumed after each dialogue.

    Returns:
        Counts of what was written.

    Raises:
        DataFormatError: the first invalid dialogue (file, dialogue id or line, field)
            or a duplicate ``image_id`` (strict mode), invalid JSON, an input that is
            not a JSON list, or no dialogue to write.
        UserInputError: ``src`` is missing or ``dst`` is ``src``.
    """
    src_path, dst_path = Path(src), Path(dst)
    if not src_path.is_file():
        raise UserInputError(f"input file not found: {src_path}")
    if dst_path.exists() and dst_path.resolve() == src_path.resolve():
        raise UserInputError(f"the output {dst_path} would overwrite the input")
    if detect_format(src_path) != "official":
        raise DataFormatError(
            "expected the official JSON list format (first non-space character '['); "
            "a RegionDial JSONL file needs no conversion",
            path=str(src_path),
        )
    report = on_problem or _log_problem
    reader = OfficialJSONReader(src_path, mask_hook=encode_mask)
    counts = {
        "dialogues": 0,
        "turns": 0,
        "masks": 0,
        "warnings": 0,
        "repairs": 0,
        "skipped": 0,
    }

    def skip(problem: Problem) -> None:
        counts["skipped"] += 1
        report(problem)

    new_dirs = [d for d in (dst_path.parent, *dst_path.parent.parents) if not d.exists()]
    try:
        with atomic_write(dst_path) as handle:
            seen: dict[str, int] = {}
            for item in reader:
                result = convert_official_item(
                    item.value,
                    path=str(src_path),
                    line=item.line,
                    images_root=images_root,
                    lenient=lenient,
                    source=source,
                )
                first = first_error(result)
                if first is not None:
                    if not lenient:
                        raise first.to_error()
                    skip(first)
                    continue
                dialogue = result.dialogue
                assert dialogue is not None
                if dialogue.dialogue_id in seen:
                    duplicate = Problem(
                        f"duplicate image_id (first at line {seen[dialogue.dialogue_id]})",
                        str(src_path),
                        f"dialogue {dialogue.dialogue_id}",
                        "image_id",
                        SKIPPED,
                    )
                    if not lenient:
                        raise duplicate.to_error()
                    skip(duplicate)
                    continue
                for problem in result.problems:
                    counts["warnings"] += problem.severity == "warning"
                    counts["repairs"] += problem.severity == REPAIR
                    report(problem)
                seen[dialogue.dialogue_id] = item.line
                handle.write(dump_json_line(dialogue.to_dict()))
                counts["dialogues"] += 1
                counts["turns"] += result.turns
                counts["masks"] += result.masks
                if on_progress is not None:
                    on_progress(reader.bytes_read)
            if not counts["dialogues"]:
                what = (
                    f"no dialogue could be kept ({counts['skipped']} skipped)"
                    if counts["skipped"]
                    else "the list holds no dialogues"
                )
                raise DataFormatError(what, path=str(src_path))
    except BaseException:
        # atomic_write removed its temporary file; also remove folders it created.
        for folder in new_dirs:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return ConvertSummary(
        **counts, bytes_in=src_path.stat().st_size, bytes_out=dst_path.stat().st_size
    )


def first_error(result: ConvertedItem) -> Problem | None:
    """The first error of a converted item (with a count of the others), as a
    :data:`SKIPPED` problem at its location, or ``None`` when there is none."""
    errors = result.errors
    if not errors:
        return None
    first, more = errors[0], len(errors) - 1
    suffix = (
        f" (and {more} more problem{'s' if more > 1 else ''} in this dialogue; "
        "`regionreasoner validate` lists them all)"
        if more
        else ""
    )
    return Problem(first.message + suffix, first.path, first.record, first.field, SKIPPED)


def _log_problem(problem: Problem) -> None:
    logger.warning("%s: %s", problem.severity, problem)


__all__ = [
    "OFFICIAL_PLACEHOLDER",
    "REPAIR",
    "SKIPPED",
    "ConvertSummary",
    "ConvertedItem",
    "EncodedMask",
    "OfficialJSONReader",
    "RawItem",
    "as_mask_array",
    "binary_grid_from_json",
    "convert_official",
    "convert_official_item",
    "detect_format",
    "encode_mask",
    "first_error",
    "iter_official_items",
    "official_item_problems",
    "remove_placeholder",
]
