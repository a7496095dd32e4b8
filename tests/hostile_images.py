"""Image files no benchmark contains, generated for the tests of the image loader and of
its users (gallery, serve, eval) and for ``benchmarks/image_memory.py``.

Every writer builds a small, exactly known picture, so a test can say which pixel must
come back where.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXIF_ORIENTATION = 0x0112
BOMB_WH = (20_000, 20_000)
"""The issue's decompression bomb: 400 MP of 8-bit grey in about 389 KB."""


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_bomb_png(path: Path, wh: tuple[int, int] = BOMB_WH) -> Path:
    """An all-black 8-bit grey PNG of ``wh`` pixels, compressed row by row (the writer
    never holds the pixels: 20,000 x 20,000 takes about 1 s and 389 KB)."""
    width, height = wh
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte 0 + the row
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )
    return path


def quadrant_rgb(wh: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8: red top-left, green top-right, blue bottom-left, white
    bottom-right quadrant (a picture whose orientation can be read back)."""
    width, height = wh
    out = np.zeros((height, width, 3), np.uint8)
    out[: height // 2, : width // 2] = (255, 0, 0)
    out[: height // 2, width // 2 :] = (0, 255, 0)
    out[height // 2 :, : width // 2] = (0, 0, 255)
    out[height // 2 :, width // 2 :] = (255, 255, 255)
    return out


def smooth_rgb(wh: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``(H, W, 3)`` uint8 of smooth gradients and a few flat discs: photo-like content
    that JPEG compresses well, built one band of rows at a time."""
    width, height = wh
    rng = np.random.default_rng(seed)
    discs = [
        (rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.02, 0.15) * width)
        for _ in range(6)
    ]
    colours = rng.integers(0, 256, (len(discs), 3), dtype=np.uint8)
    out = np.empty((height, width, 3), np.uint8)
    xs = np.arange(width, dtype=np.float32)
    band = 512
    for top in range(0, height, band):
        ys = np.arange(top, min(top + band, height), dtype=np.float32)[:, None]
        block = out[top : top + len(ys)]
        block[..., 0] = (255 * xs / width).astype(np.uint8)
        block[..., 1] = (255 * ys / height).astype(np.uint8)
        block[..., 2] = (128 + 100 * np.sin(xs / 97.0 + ys / 61.0)).astype(np.uint8)
        for (cx, cy, r), colour in zip(discs, colours, strict=True):
            inside = (xs - cx) ** 2 + (ys - cy) ** 2 < r * r
            block[inside] = colour
    return out


def write_exif_rotated_jpeg(path: Path, upright_wh: tuple[int, int]) -> Path:
    """A phone-style JPEG: the :func:`quadrant_rgb` picture of ``upright_wh`` stored
    turned on its side, with EXIF orientation 6 ("turn 90 degrees clockwise to view")."""
    upright = Image.fromarray(quadrant_rgb(upright_wh))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    stored.save(path, format="JPEG", quality=95, exif=exif.tobytes())
    return path


def write_truncated(path: Path, source: Path, keep: float = 0.5) -> Path:
    """The first ``keep`` fraction of ``source``'s bytes (a download cut short)."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_gif(path: Path, colours: list[tuple[int, int, int]], wh: tuple[int, int]) -> Path:
    """An animated GIF, one flat frame per colour."""
    frames = [Image.new("RGB", wh, colour) for colour in colours]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return path


def write_grey16_png(path: Path, values: np.ndarray) -> Path:
    """A 16-bit grey PNG of ``values`` (``(H, W)`` uint16)."""
    Image.fromarray(values.astype(np.uint16)).save(path, format="PNG")
    return path


def write_cmyk(path: Path, cmyk: tuple[int, int, int, int], wh: tuple[int, int]) -> Path:
    """A flat CMYK image (JPEG or TIFF, by the suffix)."""
    Image.new("CMYK", wh, cmyk).save(path)
    return path


def write_large_jpeg(path: Path, wh: tuple[int, int], quality: int = 90) -> Path:
    """A :func:`smooth_rgb` JPEG of ``wh`` (12,000 x 9,000: about 324 MB while written)."""
    Image.fromarray(smooth_rgb(wh)).save(path, format="JPEG", quality=quality)
    return path
