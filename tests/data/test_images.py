"""The guarded image loader against hostile and unusual files (generated here): located
errors for the bad ones, the right pixels the right way up for the good ones."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from hostile_images import (
    BOMB_WH,
    quadrant_rgb,
    write_bomb_png,
    write_cmyk,
    write_exif_rotated_jpeg,
    write_gif,
    write_grey16_png,
    write_large_jpeg,
    write_truncated,
)
from regionreasoner.data.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    ImageHeader,
    Orientation,
    check_max_pixels,
    load_image,
    pillow_hard_limit,
    read_image_header,
    reduction_factor,
)
from regionreasoner.errors import ConfigError, DataFormatError, ImageError, UserInputError

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
JPEG_TOLERANCE = 40
"""Grey levels a flat JPEG colour may drift by (chroma subsampling, quantisation)."""

BOMB_PEAK_RSS_BYTES = 200_000_000
"""The issue's bound: loading the 20,000 x 20,000 bomb stays under 200 MB."""


@pytest.fixture(scope="session")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bomb_png(tmp_path_factory.mktemp("bomb") / "bomb.png")


def _close(pixel: tuple[int, ...], expected: tuple[int, int, int], tol: int = 0) -> bool:
    return all(abs(int(a) - b) <= tol for a, b in zip(pixel, expected, strict=True))


def _quadrants(image: Image.Image) -> tuple[tuple[int, ...], ...]:
    """Colours at the centres of the four quadrants: TL, TR, BL, BR."""
    w, h = image.size
    return tuple(image.getpixel((x, y)) for y in (h // 4, 3 * h // 4) for x in (w // 4, 3 * w // 4))


# ------------------------------------------------------------------ refused files


def test_the_bomb_is_refused_from_its_header_with_a_located_message(bomb: Path) -> None:
    assert bomb.stat().st_size < 500_000  # a few hundred KB that declare 400 MP
    with pytest.raises(ImageError) as info:
        load_image(bomb, data_path="bench.jsonl", record="dialogue 7")
    err = info.value
    assert isinstance(err, DataFormatError) and isinstance(err, UserInputError)  # exit 2
    assert err.problem == "too_large" and err.max_pixels == DEFAULT_MAX_IMAGE_PIXELS
    message = str(err)
    assert message.startswith("bench.jsonl: dialogue 7: image: ")
    assert "bomb.png" in message and "400,000,000 pixels" in message
    assert f"{DEFAULT_MAX_IMAGE_PIXELS:,}" in message


def test_the_bomb_is_refused_by_the_header_reader_too(bomb: Path) -> None:
    """Even with the limit raised to Pillow's own (which refuses it inside Image.open)."""
    limit = check_max_pixels(pillow_hard_limit())
    with pytest.raises(ImageError, match="400,000,000 pixels") as info:
        read_image_header(bomb, max_pixels=limit)
    assert info.value.problem == "too_large" and info.value.max_pixels == limit


def test_a_legal_image_past_pillows_warning_threshold_reads_without_warnings(
    tmp_path: Path,
) -> None:
    """10,000 x 9,000 (90 MP) is above Pillow's DecompressionBombWarning threshold (89.5
    MP) but within the default limit: no warning, and the header is read."""
    path = write_bomb_png(tmp_path / "big.png", (10_000, 9_000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        header = read_image_header(path)
    assert header.stored_wh == (10_000, 9_000)
    assert [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)] == []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmHWM from /proc")
@pytest.mark.parametrize("which", ["issue", "under_pillows_limit"])
def test_loading_the_bomb_stays_under_200_mb(bomb: Path, tmp_path: Path, which: str) -> None:
    """Peak RSS of a fresh process that imports the loader and tries a bomb: the issue's
    (which Pillow's own limit refuses as well), and a 12,000 x 12,000 one (144 MP) that
    only this loader's limit refuses (Pillow would decode it: 576 MB as RGB).

    The peak is the child's own ``VmHWM`` (high-water mark of its address space, which
    starts anew at ``exec``); ``ru_maxrss`` would not do: Linux carries it over ``exec``
    from the forked parent, here the whole pytest process.
    """
    path = bomb if which == "issue" else write_bomb_png(tmp_path / "b.png", (12_000, 12_000))
    script = textwrap.dedent(
        f"""
        import re
        from regionreasoner.data.images import load_image
        from regionreasoner.errors import ImageError
        try:
            load_image({str(path)!r}, min_wh=(840, 840))
        except ImageError as e:
            print(e.problem)
        with open("/proc/self/status") as status:
            print(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out[0] == "too_large"
    peak_bytes = int(out[1]) * 1024
    assert peak_bytes < BOMB_PEAK_RSS_BYTES, f"peak RSS {peak_bytes / 1e6:.0f} MB"


def test_an_over_limit_jpeg_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (400, 300), RED).save(path)
    with pytest.raises(ImageError) as info:
        load_image(path, max_pixels=100_000, record="dialogue a")
    assert info.value.problem == "too_large" and info.value.max_pixels == 100_000
    assert "photo.jpg is 400x300 (120,000 pixels), over the limit of 100,000" in str(info.value)
    assert load_image(path, max_pixels=120_000).image_wh == (400, 300)  # the limit is inclusive


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_truncated_file_is_refused_as_undecodable(tmp_path: Path, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    rng = np.random.default_rng(0)  # noise: the pixel data fills most of the file
    Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(whole)
    cut = write_truncated(tmp_path / f"cut{suffix}", whole, keep=0.6)
    with pytest.raises(ImageError) as info:
        load_image(cut, data_path="d.jsonl", record="dialogue 3")
    assert info.value.problem == "undecodable"
    assert str(info.value).startswith("d.jsonl: dialogue 3: image: cannot decode image ")
    assert f"cut{suffix}" in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem", "words"),
    [
        (None, "missing", "image not found"),
        (b"", "not_an_image", "is not an image"),
        (b"<html>not found</html>", "not_an_image", "is not an image"),
    ],
)
def test_missing_and_non_image_files(
    tmp_path: Path, content: bytes | None, problem: str, words: str
) -> None:
    path = tmp_path / "x.jpg"
    if content is not None:
        path.write_bytes(content)
    for read in (load_image, read_image_header):
        with pytest.raises(ImageError, match=words) as info:
            read(path)
        assert info.value.problem == problem and info.value.image_path == str(path)


def test_a_declared_size_that_disagrees_is_a_located_image_wh_error(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (64, 48)).save(path)
    with pytest.raises(DataFormatError) as info:
        load_image(path, expected_wh=(48, 64), data_path="b.jsonl", record="dialogue 9")
    assert not isinstance(info.value, ImageError)
    assert (info.value.path, info.value.record, info.value.field) == (
        "b.jsonl",
        "dialogue 9",
        "image_wh",
    )
    assert "[48, 64]" in str(info.value) and "[64, 48]" in str(info.value)
    assert read_image_header(path, expected_wh=(64, 48)).stored_wh == (64, 48)


def test_a_mode_without_rgb_conversion_is_an_image_error(tmp_path: Path) -> None:
    path = tmp_path / "lab.tif"
    Image.new("LAB", (8, 8), (50, 0, 0)).save(path)
    try:
        loaded = load_image(path)
    except ImageError as e:  # the mode cannot become RGB: refused, named
        assert e.problem == "unsupported_mode" and "LAB" in str(e)
    else:  # or Pillow converts it: then it is RGB
        assert loaded.pixels.mode == "RGB"


# ------------------------------------------------------------------ good files, right pixels


def test_exif_orientation_6_is_recorded_and_applied_only_when_asked(tmp_path: Path) -> None:
    path = write_exif_rotated_jpeg(tmp_path / "phone.jpg", upright_wh=(120, 80))
    header = read_image_header(path)
    assert header.exif_orientation == 6 and header.stored_wh == (80, 120)
    assert header.image_wh(Orientation.EXIF) == (120, 80)

    upright = load_image(path, orientation=Orientation.EXIF)
    assert upright.image_wh == (120, 80) and upright.pixels.size == (120, 80)
    expected = (RED, GREEN, BLUE, WHITE)  # as the quadrant picture was drawn
    quadrants = _quadrants(upright.pixels)
    assert all(_close(p, e, JPEG_TOLERANCE) for p, e in zip(quadrants, expected, strict=True))
    assert "exif" not in upright.pixels.info  # nothing downstream turns it again

    stored = load_image(path)  # datasets: the stored array, as the boxes refer to it
    assert stored.orientation is Orientation.STORED
    assert stored.image_wh == (80, 120) and stored.pixels.size == (80, 120)
    # stored = upright turned counter-clockwise: TL green, TR white, BL red, BR blue
    expected_stored = (GREEN, WHITE, RED, BLUE)
    assert all(
        _close(p, e, JPEG_TOLERANCE)
        for p, e in zip(_quadrants(stored.pixels), expected_stored, strict=True)
    )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(
    tmp_path: Path, orientation: int
) -> None:
    """Pillow's own ``ImageOps.exif_transpose`` is the reference for all eight values."""
    path = tmp_path / f"o{orientation}.png"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(quadrant_rgb((6, 4))).save(path, exif=exif.tobytes())
    loaded = load_image(path, orientation=Orientation.EXIF)
    with Image.open(path) as image:
        reference = ImageOps.exif_transpose(image).convert("RGB")
    assert np.array_equal(np.asarray(loaded.pixels), np.asarray(reference))
    assert loaded.image_wh == reference.size


def test_the_first_frame_of_an_animated_gif_is_used_and_the_count_recorded(
    tmp_path: Path,
) -> None:
    path = write_gif(tmp_path / "anim.gif", [RED, GREEN, BLUE], (32, 24))
    loaded = load_image(path)
    assert loaded.header.frames == 3 and loaded.header.format == "GIF"
    assert loaded.pixels.mode == "RGB" and loaded.pixels.getpixel((5, 5)) == RED


def test_sixteen_bit_grey_keeps_its_high_byte(tmp_path: Path) -> None:
    values = np.array([[0, 255, 256, 32896, 40000, 65535]], np.uint16)
    path = write_grey16_png(tmp_path / "depth.png", values)
    loaded = load_image(path)
    assert loaded.header.mode.startswith("I")
    grey = np.asarray(loaded.pixels)[0, :, 0]
    # value / 256, rounded down: Pillow's own conversion would clip 256..65535 to 255
    assert grey.tolist() == [0, 0, 1, 128, 156, 255]
    assert np.array_equal(np.asarray(loaded.pixels)[..., 0], np.asarray(loaded.pixels)[..., 2])


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_becomes_rgb(tmp_path: Path, suffix: str) -> None:
    path = write_cmyk(tmp_path / f"print{suffix}", (0, 255, 255, 0), (16, 16))  # pure red ink
    loaded = load_image(path)
    assert loaded.header.mode == "CMYK"
    assert _close(loaded.pixels.getpixel((8, 8)), RED, tol=2)


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("LA", (0, 0), WHITE),  # fully transparent black: the white background
        ("LA", (0, 255), (0, 0, 0)),  # opaque black
        ("RGBA", (255, 0, 0, 128), (255, 127, 127)),  # half-transparent red over white
        ("1", 1, WHITE),
        ("L", 77, (77, 77, 77)),
    ],
)
def test_modes_become_rgb_with_transparency_over_white(
    tmp_path: Path, mode: str, colour: object, expected: tuple[int, int, int]
) -> None:
    path = tmp_path / "m.png"
    Image.new(mode, (10, 10), colour).save(path)  # type: ignore[arg-type]
    loaded = load_image(path)
    assert loaded.pixels.mode == "RGB"
    assert _close(loaded.pixels.getpixel((3, 3)), expected, tol=1)


def test_a_palette_image_with_a_transparent_index(tmp_path: Path) -> None:
    image = Image.new("P", (10, 10), 1)
    image.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    image.putpixel((0, 0), 0)
    path = tmp_path / "p.png"
    image.save(path, transparency=0)
    loaded = load_image(path)
    assert loaded.pixels.getpixel((0, 0)) == WHITE  # the transparent index
    assert loaded.pixels.getpixel((5, 5)) == (200, 10, 10)


# ------------------------------------------------------------------ bounded memory


def test_reduction_factor_keeps_the_gap() -> None:
    assert reduction_factor((12000, 9000), (840, 840), 2.0) == 5
    assert reduction_factor((12000, 9000), (840, 840), 1.0) == 10
    assert reduction_factor((1680, 1680), (840, 840), 2.0) == 1
    assert reduction_factor((640, 480), (840, 840), 2.0) == 1


def test_a_large_jpeg_is_decoded_reduced_by_the_decoder(tmp_path: Path) -> None:
    path = write_large_jpeg(tmp_path / "big.jpg", (4000, 3000))
    loaded = load_image(path, min_wh=(200, 200))
    # need 400 px: the factor is 7, JPEG draft decodes at 1/4 (the largest power of 2
    # <= 7); decoding in full and reducing by 7 would give 572x429 instead.
    assert loaded.pixels.size == (1000, 750)
    assert loaded.image_wh == (4000, 3000) and loaded.reduced
    assert loaded.pixel_scale == (0.25, 0.25)


def test_a_large_png_is_reduced_right_after_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(quadrant_rgb((1000, 800))).save(path)
    loaded = load_image(path, min_wh=(100, 100))
    assert loaded.pixels.size == (250, 200)  # need 200 px: min(1000 // 200, 800 // 200) = 4
    assert loaded.image_wh == (1000, 800)
    assert _quadrants(loaded.pixels) == (RED, GREEN, BLUE, WHITE)


def test_an_exif_rotated_image_is_reduced_in_its_stored_frame(tmp_path: Path) -> None:
    path = write_exif_rotated_jpeg(tmp_path / "phone.jpg", upright_wh=(1600, 800))
    loaded = load_image(path, orientation=Orientation.EXIF, min_wh=(400, 100))
    # upright 1600x800 needs >= 800x200: stored 800x1600 needs >= 200x800, factor 2
    assert loaded.image_wh == (1600, 800) and loaded.pixels.size == (800, 400)
    assert all(
        _close(p, e, JPEG_TOLERANCE)
        for p, e in zip(_quadrants(loaded.pixels), (RED, GREEN, BLUE, WHITE), strict=True)
    )


def test_no_reduction_below_the_gap_keeps_the_pixels_bit_exact(tmp_path: Path) -> None:
    """COCO-sized images shown at 840x840 are never reduced: the released resize."""
    path = write_large_jpeg(tmp_path / "coco.jpg", (640, 480))
    loaded = load_image(path, min_wh=(840, 840))
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(loaded.pixels), np.asarray(image.convert("RGB")))


def test_reduced_decode_matches_the_full_decode(tmp_path: Path) -> None:
    """The REDUCING_GAP figures: 6000x4500 shown at 840x840, reduced vs full decode."""
    path = write_large_jpeg(tmp_path / "big.jpg", (6000, 4500))
    with Image.open(path) as image:
        full = np.asarray(image.convert("RGB").resize((840, 840), Image.Resampling.BILINEAR))
    loaded = load_image(path, min_wh=(840, 840))
    assert loaded.pixels.size == (3000, 2250)
    reduced = np.asarray(loaded.pixels.resize((840, 840), Image.Resampling.BILINEAR))
    diff = np.abs(full.astype(np.int16) - reduced.astype(np.int16))
    assert diff.mean() < 0.2 and np.percentile(diff, 99) <= 1 and diff.max() <= 10


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize("value", [0, -5, 1.5, "100", True, None])
def test_bad_pixel_limits_are_config_errors(value: object) -> None:
    with pytest.raises(ConfigError, match="positive integer"):
        check_max_pixels(value)


def test_a_limit_above_pillows_own_is_refused() -> None:
    hard = pillow_hard_limit()
    assert hard is not None and check_max_pixels(hard) == hard
    with pytest.raises(ConfigError, match="Pillow"):
        check_max_pixels(hard + 1)


def test_the_default_limit_admits_phone_photos_and_refuses_the_bomb() -> None:
    assert 12_000 * 9_000 <= DEFAULT_MAX_IMAGE_PIXELS < BOMB_WH[0] * BOMB_WH[1]
    assert check_max_pixels(DEFAULT_MAX_IMAGE_PIXELS) == DEFAULT_MAX_IMAGE_PIXELS


def test_the_header_reader_decodes_nothing(tmp_path: Path) -> None:
    """A PNG cut short in its pixel data still has a readable header: only load fails."""
    whole = tmp_path / "w.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(whole)
    header = read_image_header(whole)
    assert header == ImageHeader(str(whole), "PNG", "RGB", (300, 200), 1, 1)
    cut = write_truncated(tmp_path / "c.png", whole, keep=0.9)
    assert read_image_header(cut).stored_wh == (300, 200)
    with pytest.raises(ImageError):
        load_image(cut)
