"""The one guarded image loader: every image the library decodes is opened here.

Reading an image file is the one place where a small input can cost unbounded memory
(a 388 KB PNG can declare 20,000 x 20,000 pixels), so every reader goes through
:func:`read_image_header` (size only) or :func:`load_image` (pixels), which:

1. **check the header first**: the stored size, the pixel mode and the frame count are
   read without decoding, and an image over ``max_pixels`` is refused before a single
   pixel is decoded (:data:`DEFAULT_MAX_IMAGE_PIXELS`; ``--max-image-pixels`` on the
   command line);
2. **decode at most once, reduced as early as the format allows**: given the smallest
   size the caller needs (``min_wh``, e.g. the 840x840 model frame), a JPEG is decoded
   at 1/2, 1/4 or 1/8 scale by the decoder itself (draft mode) and any other format is
   reduced by an integer factor right after decoding (``Image.reduce``, a box filter),
   always keeping at least :data:`REDUCING_GAP` times ``min_wh``;
3. **use the first frame** of an animated or multi-page file (GIF, APNG, WebP, TIFF,
   MPO) and record the frame count in the header;
4. **convert every pixel mode to RGB once**: transparency (``RGBA``, ``LA``, ``PA``,
   ``P`` or ``L``/``RGB`` with a transparent colour) is composited onto white, as the
   transformers image processors do; 16-bit grey (``I;16``) keeps its high byte (so
   65535 -> 255, not clipped); ``CMYK``, ``1``, ``L``, ``P`` and ``YCbCr`` go through
   Pillow's conversion;
5. **apply the EXIF orientation only when asked** (:class:`Orientation`): dataset images
   are used as stored, since their boxes refer to the stored pixel array (COCO's
   ``width``/``height`` are those of the stored array, and its reference readers do not
   apply the tag; see ``docs/data_format.md``, section 5); an upload in the web page is
   turned upright, as the browser shows it.

Every failure is an :class:`~regionreasoner.errors.ImageError` (a ``DataFormatError``:
exit code 2) whose message names the image file, and the limit when it is over it; pass
``data_path`` and ``record`` to locate it in the data file too.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> path = Path(tempfile.mkdtemp()) / "grey.png"
    >>> Image.new("LA", (1200, 900), (0, 0)).save(path)
    >>> loaded = load_image(path, min_wh=(200, 200))
    >>> loaded.pixels.mode, loaded.pixels.size, loaded.image_wh, loaded.pixels.getpixel((0, 0))
    ('RGB', (600, 450), (1200, 900), (255, 255, 255))
    >>> load_image(path, max_pixels=1_000_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    regionreasoner.errors.ImageError: ...grey.png is 1200x900 (1,080,000 pixels), over the limit...
"""

from __future__ import annotations

import enum
import logging
import math
import os
import re
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from regionreasoner.errors import ConfigError, DataFormatError, ImageError

logger = logging.getLogger(__name__)

DEFAULT_MAX_IMAGE_PIXELS = 120_000_000
"""Largest image accepted by default, in stored pixels (W x H).

Every COCO / RefCOCO image (at most 640 px a side, 0.4 MP) and the largest common phone
photos (108 MP: 12,000 x 9,000) pass; a 20,000 x 20,000 decompression bomb (400 MP) does
not. Pillow's own hard limit is 179 MP (``2 * PIL.Image.MAX_IMAGE_PIXELS``): the most this
may be raised to. At the limit, a format that cannot be decoded reduced (PNG, WebP,
TIFF...) takes 3 bytes per pixel (360 MB) plus one conversion copy for non-RGB modes; a
JPEG is decoded at 1/8 to 1/2 scale when the caller needs less (docs/data_format.md)."""

REDUCING_GAP = 2.0
"""A decoded image is reduced while it stays at least this many times the size the
caller needs (Pillow's ``thumbnail`` default), so the final resize still averages two
or more source pixels per output pixel. Measured on a smooth photo-like 6,000 x 4,500
JPEG shown at 840x840: decoded at 1/2 scale, the 840x840 result differs from the one of
the full decode by 0.07 grey levels on average and at most 6 (on sharp edges); with a
gap of 1 it would be 0.2 and 14 (``test_reduced_decode_matches_the_full_decode``)."""

EXIF_ORIENTATION_TAG = 0x0112
"""EXIF tag 274, ``Orientation`` (1 = as stored; 2-8 = flips and rotations)."""

NO_ROTATION = 1
"""The EXIF orientation value of an image that is shown as stored."""

WHITE = (255, 255, 255)
"""Background that transparent pixels are composited onto."""

SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
"""Pillow's 16-bit modes (grey PNG/TIFF): reduced to 8 bits by keeping the high byte."""

SIXTEEN_BIT_MAX = 65535
BITS_DROPPED = 8
"""16-bit -> 8-bit: ``value >> 8`` (the high byte, as libpng's ``png_set_strip_16``)."""

REDUCE_BEFORE_CONVERT_MODES = frozenset({"RGB", "L"})
"""Modes reduced before the RGB conversion (the conversion then runs on fewer pixels);
other modes are converted first (averaging palette indices or alpha-weighted colours
before conversion would be wrong)."""

_PILLOW_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
"""How Pillow's ``DecompressionBombError`` message states the image's pixel count."""


class Orientation(str, enum.Enum):
    """Which way up an image's pixels are used (and its boxes refer to).

    ``STORED``: the pixel array as stored in the file; an EXIF orientation tag is
    recorded but not applied (datasets: RegionDial JSONL, the official release, COCO /
    RefCOCO, the released training JSON, synthetic images).
    ``EXIF``: the tag is applied, so the image is upright as a browser or a phone shows
    it (uploads in the web page, which are then stored upright without the tag).
    """

    STORED = "stored"
    EXIF = "exif"


_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transposition that makes the stored array upright (TIFF 6.0 /
EXIF 2.3: e.g. 6 means the stored top row is the right-hand column of the upright image,
so the array is turned 90 degrees clockwise, which Pillow calls ``ROTATE_270``)."""

_SWAPS_AXES = frozenset({5, 6, 7, 8})
"""Orientations whose upright image is the stored one with width and height swapped."""


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the file says about an image, read without decoding its pixels.

    Attributes:
        path: the file.
        format: Pillow's format name (``JPEG``, ``PNG``, ``GIF``, ``MPO``...).
        mode: the pixel mode of the (first) frame, e.g. ``RGB``, ``P``, ``I;16``, ``CMYK``.
        stored_wh: ``(W, H)`` of the stored pixel array.
        frames: number of frames or pages (1 for a still image); only the first is used.
        exif_orientation: the EXIF orientation, 1-8 (1 when absent or invalid).
    """

    path: str
    format: str | None
    mode: str
    stored_wh: tuple[int, int]
    frames: int
    exif_orientation: int

    @property
    def pixels(self) -> int:
        """Stored pixel count (W x H), what the pixel limit is checked against."""
        return self.stored_wh[0] * self.stored_wh[1]

    def image_wh(self, orientation: Orientation = Orientation.STORED) -> tuple[int, int]:
        """``(W, H)`` of the image as used with ``orientation`` (the frame of its boxes)."""
        if orientation is Orientation.EXIF and self.exif_orientation in _SWAPS_AXES:
            return self.stored_wh[1], self.stored_wh[0]
        return self.stored_wh


@dataclass(frozen=True, slots=True, eq=False)
class LoadedImage:
    """An image decoded by :func:`load_image`.

    Attributes:
        pixels: RGB pixels, possibly reduced: at least ``REDUCING_GAP * min_wh`` and at
            most ``image_wh``. They carry no metadata (``info`` is empty), so nothing
            downstream applies an EXIF orientation a second time.
        image_wh: ``(W, H)`` of the full-resolution image in ``orientation``: the frame
            its boxes, points and masks are in (``Dialogue.image_wh``).
        header: what the file said.
        orientation: how it was turned.
    """

    pixels: Image.Image
    image_wh: tuple[int, int]
    header: ImageHeader
    orientation: Orientation

    @property
    def reduced(self) -> bool:
        """Whether ``pixels`` are smaller than ``image_wh``."""
        return tuple(self.pixels.size) != tuple(self.image_wh)

    @property
    def pixel_scale(self) -> tuple[float, float]:
        """``(sx, sy)``: pixels per image pixel (1.0 when not reduced); a box in image
        pixels times this is a box in ``pixels``."""
        return (
            self.pixels.size[0] / self.image_wh[0],
            self.pixels.size[1] / self.image_wh[1],
        )


def check_max_pixels(value: object, *, what: str = "max_image_pixels") -> int:
    """``value`` as a pixel limit.

    Raises:
        ConfigError: not a positive integer, or above Pillow's own hard limit
            (``2 * PIL.Image.MAX_IMAGE_PIXELS``), past which Pillow refuses every image
            whatever this limit says.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    hard = pillow_hard_limit()
    if hard is not None and value > hard:
        raise ConfigError(
            f"{what} {value:,} is above Pillow's own limit of {hard:,} pixels "
            "(2 x PIL.Image.MAX_IMAGE_PIXELS), which refuses such images anyway; "
            "raise PIL.Image.MAX_IMAGE_PIXELS first if you really need more"
        )
    return value


def pillow_hard_limit() -> int | None:
    """Pixels past which ``PIL.Image.open`` raises ``DecompressionBombError`` (None: off)."""
    limit = Image.MAX_IMAGE_PIXELS
    return None if limit is None else 2 * int(limit)


def reduction_factor(source_wh: tuple[int, int], min_wh: tuple[int, int], gap: float) -> int:
    """The largest integer factor that keeps ``source_wh / factor >= gap * min_wh``.

    >>> reduction_factor((12000, 9000), (840, 840), 2.0)
    5
    >>> reduction_factor((640, 480), (840, 840), 2.0)
    1
    """
    need_w, need_h = (max(1, math.ceil(v * gap)) for v in min_wh)
    return max(1, min(source_wh[0] // need_w, source_wh[1] // need_h))


@dataclass(frozen=True, slots=True)
class _Where:
    """The image file, and the record that refers to it, for located errors."""

    image_path: str
    name: str
    data_path: str | None
    record: str | None

    def error(self, message: str, problem: str, max_pixels: int | None = None) -> ImageError:
        return ImageError(
            message,
            image_path=self.image_path,
            problem=problem,
            max_pixels=max_pixels,
            path=self.data_path,
            record=self.record,
            field="image" if self.data_path or self.record else None,
        )


def _where(
    path: str | os.PathLike[str], name: str | None, data_path: object, record: str | None
) -> _Where:
    return _Where(
        str(path), name or str(path), None if data_path is None else str(data_path), record
    )


def _open(path: str | os.PathLike[str], where: _Where, max_pixels: int) -> Image.Image:
    """``Image.open`` with every failure turned into an :class:`ImageError`.

    Pillow warns (``DecompressionBombWarning``) from 1/2 of its hard limit up, i.e. for
    legal images between about 89 MP and ``max_pixels``; the size check that follows
    makes that warning redundant, so it is silenced here (only here). Before Python
    3.14, ``catch_warnings`` swaps the process-wide filter list: a filter that another
    thread installs during this call may be lost (the loader itself installs none).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except FileNotFoundError:
        raise where.error(f"image not found: {where.name}", "missing") from None
    except UnidentifiedImageError:
        raise where.error(
            f"{where.name} is not an image (readable formats: JPEG, PNG, WebP, GIF, BMP, TIFF)",
            "not_an_image",
        ) from None
    except Image.DecompressionBombError as e:
        match = _PILLOW_BOMB_PIXELS.search(str(e))
        size = f"{int(match.group(1)):,} pixels" if match else "more pixels than Pillow allows"
        raise where.error(
            f"{where.name} has {size}, over the limit of {max_pixels:,} pixels "
            "(--max-image-pixels)",
            "too_large",
            max_pixels,
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise where.error(f"cannot read image {where.name}: {e}", "undecodable") from None


def _exif_orientation(image: Image.Image, where: _Where) -> int:
    """The EXIF orientation from the header (1 when absent, invalid or unreadable).

    Reads the EXIF block the opener already holds (JPEG APP1, WebP, PNG ``eXIf`` before
    the pixel data) or the TIFF's first IFD; never decodes pixels (``PngImageFile.getexif``
    would).
    """
    value: object = None
    raw = image.info.get("exif")
    try:
        if isinstance(raw, bytes | bytearray):
            exif = Image.Exif()
            exif.load(bytes(raw))
            value = exif.get(EXIF_ORIENTATION_TAG)
        elif hasattr(image, "tag_v2"):
            value = image.tag_v2.get(EXIF_ORIENTATION_TAG)
    except (SyntaxError, ValueError, OSError, struct.error) as e:
        logger.warning("%s: unreadable EXIF block (%s); taken as upright", where.name, e)
        return NO_ROTATION
    return value if isinstance(value, int) and value in _TRANSPOSE_FOR_ORIENTATION else NO_ROTATION


def _header(image: Image.Image, where: _Where, max_pixels: int) -> ImageHeader:
    width, height = (int(v) for v in image.size)
    if width <= 0 or height <= 0:
        raise where.error(f"{where.name} declares an empty size {width}x{height}", "undecodable")
    if width * height > max_pixels:
        raise where.error(
            f"{where.name} is {width}x{height} ({width * height:,} pixels), over the limit "
            f"of {max_pixels:,} pixels (--max-image-pixels)",
            "too_large",
            max_pixels,
        )
    try:
        frames = int(getattr(image, "n_frames", 1))
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise where.error(f"cannot read the frames of {where.name}: {e}", "undecodable") from None
    return ImageHeader(
        path=where.image_path,
        format=image.format,
        mode=image.mode,
        stored_wh=(width, height),
        frames=frames,
        exif_orientation=_exif_orientation(image, where),
    )


def _check_expected_wh(
    actual_wh: tuple[int, int], expected_wh: tuple[int, int] | None, where: _Where
) -> None:
    if expected_wh is not None and tuple(expected_wh) != tuple(actual_wh):
        raise DataFormatError(
            f"image_wh {list(expected_wh)} differs from the size {list(actual_wh)} of "
            f"image {where.name}",
            path=where.data_path or where.image_path,
            record=where.record,
            field="image_wh",
        )


def read_image_header(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    orientation: Orientation = Orientation.STORED,
    expected_wh: tuple[int, int] | None = None,
    data_path: str | os.PathLike[str] | None = None,
    record: str | None = None,
    name: str | None = None,
) -> ImageHeader:
    """The header of an image (size, mode, frames, orientation); no pixel is decoded.

    Args:
        path: the image file.
        max_pixels: refuse an image with more stored pixels than this.
        orientation: the orientation ``expected_wh`` is compared in.
        expected_wh: the ``image_wh`` a record declares, checked when given.
        data_path: the data file that refers to the image (for located errors).
        record: e.g. ``"dialogue 656"`` (for located errors).
        name: how messages call the file (default: ``path``).

    Raises:
        ImageError: missing, not an image, unreadable header, or over ``max_pixels``.
        DataFormatError: the size differs from ``expected_wh`` (field ``image_wh``).
    """
    where = _where(path, name, data_path, record)
    with _open(path, where, max_pixels) as image:
        header = _header(image, where, max_pixels)
    _check_expected_wh(header.image_wh(orientation), expected_wh, where)
    return header


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as RGB: transparency onto white, 16-bit grey by its high byte.

    Raises:
        ValueError: a mode Pillow cannot convert (e.g. ``La``).
    """
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode == "RGB":
        return image
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "I":
        values = np.asarray(image)
        if image.mode == "I":  # 32-bit integers: taken as 16-bit samples, clipped
            values = np.clip(values, 0, SIXTEEN_BIT_MAX)
        grey = (values >> BITS_DROPPED).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image.convert("RGB")


def load_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    orientation: Orientation = Orientation.STORED,
    min_wh: tuple[int, int] | None = None,
    reducing_gap: float = REDUCING_GAP,
    expected_wh: tuple[int, int] | None = None,
    data_path: str | os.PathLike[str] | None = None,
    record: str | None = None,
    name: str | None = None,
) -> LoadedImage:
    """Decode an image once, as RGB, reduced to what the caller needs.

    Args:
        path: the image file.
        max_pixels: refuse an image with more stored pixels than this (checked from the
            header, before decoding).
        orientation: apply the EXIF orientation (``EXIF``) or not (``STORED``).
        min_wh: the smallest ``(W, H)`` the caller needs, in ``orientation`` (e.g. the
            model frame); ``None`` keeps the full resolution.
        reducing_gap: keep at least this many times ``min_wh``.
        expected_wh: the ``image_wh`` a record declares, checked when given.
        data_path, record, name: see :func:`read_image_header`.

    Raises:
        ImageError: missing, not an image, damaged (e.g. truncated), over
            ``max_pixels``, or a pixel mode with no RGB conversion.
        DataFormatError: the size differs from ``expected_wh`` (field ``image_wh``).
    """
    where = _where(path, name, data_path, record)
    with _open(path, where, max_pixels) as image:
        header = _header(image, where, max_pixels)
        image_wh = header.image_wh(orientation)
        _check_expected_wh(image_wh, expected_wh, where)
        turn = orientation is Orientation.EXIF and header.exif_orientation != NO_ROTATION
        stored_min = None
        if min_wh is not None:
            swap = turn and header.exif_orientation in _SWAPS_AXES
            stored_min = (min_wh[1], min_wh[0]) if swap else (min_wh[0], min_wh[1])
        try:
            if header.frames > 1:
                image.seek(0)
                logger.info("%s: %d frames; the first is used", where.name, header.frames)
            if (
                stored_min is not None
                and reduction_factor(header.stored_wh, stored_min, reducing_gap) > 1
            ):
                need = tuple(max(1, math.ceil(v * reducing_gap)) for v in stored_min)
                image.draft(None, need)  # JPEG: the decoder scales by 1/2, 1/4 or 1/8
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise where.error(f"cannot decode image {where.name}: {e}", "undecodable") from None
        try:
            pixels = _convert_and_reduce(image, stored_min, reducing_gap)
        except ValueError as e:
            raise where.error(
                f"cannot convert image {where.name} from pixel mode {image.mode} to RGB: {e}",
                "unsupported_mode",
            ) from None
    if turn:
        pixels = pixels.transpose(_TRANSPOSE_FOR_ORIENTATION[header.exif_orientation])
    pixels.info.clear()
    return LoadedImage(pixels=pixels, image_wh=image_wh, header=header, orientation=orientation)


def _convert_and_reduce(
    image: Image.Image, stored_min: tuple[int, int] | None, gap: float
) -> Image.Image:
    """RGB pixels of a loaded frame, reduced by an integer factor while >= gap * min."""

    def reduced(pixels: Image.Image) -> Image.Image:
        if stored_min is None:
            return pixels
        factor = reduction_factor(pixels.size, stored_min, gap)
        return pixels.reduce(factor) if factor > 1 else pixels

    if image.mode in REDUCE_BEFORE_CONVERT_MODES and "transparency" not in image.info:
        return to_rgb(reduced(image))
    return reduced(to_rgb(image))


__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "REDUCING_GAP",
    "ImageHeader",
    "LoadedImage",
    "Orientation",
    "check_max_pixels",
    "load_image",
    "pillow_hard_limit",
    "read_image_header",
    "reduction_factor",
    "to_rgb",
]
