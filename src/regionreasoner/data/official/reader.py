"""A streaming reader of the official release's JSON list, in bounded memory.

The released files are ONE JSON list of 13 GB and 26 GB. :class:`OfficialJSONReader`
walks the list item by item with a small incremental JSON parser; each mask grid is
located by bracket depth and decoded with numpy
(:func:`~regionreasoner.data.official.masks.binary_grid_from_json`) instead of building
300k Python ints, falling back to :mod:`json` for anything that is not a plain 0/1 grid
so that the problem can be reported exactly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from regionreasoner.data.official.masks import (
    CLOSE_BRACKET,
    COMMA,
    JSON_WHITESPACE,
    OPEN_BRACKET,
    as_mask_array,
    binary_grid_from_json,
)
from regionreasoner.errors import DataFormatError

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
_LITERALS: dict[int, tuple[bytes, Any]] = {
    ord("t"): (b"true", True),
    ord("f"): (b"false", False),
    ord("n"): (b"null", None),
}
_NUMBER_START = frozenset(b"-0123456789")


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
        if char != OPEN_BRACKET:
            found = "end of file" if char is None else repr(chr(char))
            raise self._error(f"expected a JSON list '[' at the top level, found {found}")
        self._pos += 1
        index = 0
        if self._peek() == CLOSE_BRACKET:
            self._pos += 1
        else:
            while True:
                self._peek()
                line = self._line_at(self._pos)
                value = self._value(1, None)
                yield RawItem(index, line, value)
                index += 1
                char = self._peek()
                if char == COMMA:
                    self._pos += 1
                elif char == CLOSE_BRACKET:
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
        if char == OPEN_BRACKET:
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
            if char == COMMA:
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
        if self._peek() == CLOSE_BRACKET:
            self._pos += 1
            return out
        while True:
            out.append(element(depth + 1) if element else self._value(depth + 1, None))
            char = self._peek()
            if char == COMMA:
                self._pos += 1
            elif char == CLOSE_BRACKET:
                self._pos += 1
                return out
            else:
                raise self._unexpected(char, "',' or ']' in a list")

    def _masks(self, depth: int) -> list[Any]:
        return self._array(depth, self._mask_element)

    def _mask_element(self, depth: int) -> Any:
        value = self._grid(depth) if self._peek() == OPEN_BRACKET else self._value(depth, None)
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
                brackets = np.flatnonzero((view == OPEN_BRACKET) | (view == CLOSE_BRACKET))
                if brackets.size:
                    steps = np.where(view[brackets] == OPEN_BRACKET, 1, -1).cumsum() + level
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
            stripped = block.lstrip(JSON_WHITESPACE)
            if stripped:
                return "official" if stripped[:1] == b"[" else "jsonl"


__all__ = [
    "MASKS_KEY",
    "MaskHook",
    "OfficialJSONReader",
    "RawItem",
    "detect_format",
    "iter_official_items",
]
