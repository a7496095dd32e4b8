"""End-to-end: ``serve`` with the oracle backend, driven in headless Chromium.

Chromium is Debian's (``apt-get install chromium``), driven through Playwright's sync
API; ``playwright install`` is never needed (``REGIONREASONER_CHROMIUM`` names another
Chromium binary). Without Chromium the tests are skipped, or fail with a clear message
when the ``CI`` environment variable is set.

The page screenshot is saved as ``artifacts/screenshots/serve.png`` (git-ignored) and
copied to ``docs/images/serve.png`` for the README when
``REGIONREASONER_UPDATE_SCREENSHOT=1``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from hostile_images import write_bomb_png, write_exif_rotated_jpeg, write_truncated
from regionreasoner._imports import is_available
from regionreasoner.cli.main import main as cli_main
from regionreasoner.data.dialogue_checks import dialogue_problems

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("REGIONREASONER_CHROMIUM", "/usr/bin/chromium"))
"""Debian's Chromium; another binary can be named with ``REGIONREASONER_CHROMIUM``."""
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO_ROOT / "artifacts" / "screenshots" / "serve.png"
README_SCREENSHOT = REPO_ROOT / "docs" / "images" / "serve.png"
UPDATE_SCREENSHOT_ENV = "REGIONREASONER_UPDATE_SCREENSHOT"
MAX_UPLOAD_MB = 0.5
MAX_IMAGE_PIXELS = 2_000_000
"""The served page's --max-image-pixels: low, so an over-limit JPEG is small to write."""
STEP_TIMEOUT_MS = 15_000
ISSUE_TIMEOUT_MS = 8_000
"""The issue saw no error within 8 s of the upload: a refusal must show within that."""
MODEL = 840


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Any, str]]:
    """The app (oracle backend, box-fill, 2 examples) on a free local port."""
    if not CHROMIUM.is_file():
        _unavailable(
            f"{CHROMIUM} is missing: install it with 'apt-get install chromium' "
            "(make test does it when run as root)"
        )
    for module, extra in (("playwright", "dev"), ("gradio", "serve")):
        if not is_available(module):
            _unavailable(f"{module} is not installed: pip install 'regionreasoner[{extra}]'")
    from regionreasoner.serve.app import ServeConfig, create_app

    app = create_app(
        ServeConfig(
            model="oracle",
            examples=2,
            max_upload_mb=MAX_UPLOAD_MB,
            max_image_pixels=MAX_IMAGE_PIXELS,
        )
    )
    url = app.launch(host="127.0.0.1", port=_free_port(), block=False, quiet=True)
    yield app, url
    app.close()


@pytest.fixture(scope="module")
def browser(served: tuple[Any, str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, served: tuple[Any, str]) -> Iterator[Any]:
    """A fresh session on the page, with the first example loaded."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(served[1])
    _wait_status(page, "loaded", "ok")
    yield page
    context.close()


def _wait_status(page: Any, needle: str, kind: str, timeout_ms: float | None = None) -> str:
    """Wait until the status box shows ``needle`` with ``kind``; return its text."""
    page.wait_for_function(
        """([needle, kind]) => {
            const box = document.querySelector('#rr-status .rr-status');
            return !!box && box.dataset.kind === kind && box.innerText.includes(needle);
        }""",
        arg=[needle, kind],
        timeout=timeout_ms,
    )
    text = page.inner_text("#rr-status")
    if kind == "error":
        assert page.locator("#rr-status [role=alert]").is_visible()
    return text


def _ask(page: Any, question: str) -> None:
    page.fill("#rr-question textarea", question)
    page.click("#rr-ask")


def _add_drawn_box(page: Any, box: tuple[int, int, int, int], scale: int, description: str) -> None:
    """Click two opposite corners of ``box`` (image pixels) on the image, drawn ``scale``
    times, describe it and add it as the region U1."""
    x1, y1, x2, y2 = box
    image = page.locator("#rr-image img")
    image.click(position={"x": x1 * scale, "y": y1 * scale})
    _wait_status(page, f"Corner ({x1}, {y1}) set", "info")
    image.click(position={"x": x2 * scale, "y": y2 * scale})
    shown = f"[{x1}, {y1}, {x2}, {y2}]"
    _wait_status(page, f"Box {shown} entered", "info")
    page.fill("#rr-box-description textarea", description)
    page.click("#rr-add-box")
    _wait_status(page, f"Added U1 {shown}", "ok")


def _paper_text(box: tuple[float, ...], image_wh: tuple[int, int]) -> str:
    """``bbox=[...]`` of an image box in the 840x840 model frame, computed by hand."""
    sx, sy = MODEL / image_wh[0], MODEL / image_wh[1]
    scaled = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
    return "bbox=[" + ",".join(str(math.floor(v + 0.5)) for v in scaled) + "]"


def _download(page: Any, index: int, folder: Path) -> Path:
    with page.expect_download() as info:
        page.locator("#rr-files a").nth(index).click()
    download = info.value
    path = folder / download.suggested_filename
    download.save_as(path)
    return path


def test_three_turn_dialogue_with_a_region_reference_and_download(
    page: Any, served: tuple[Any, str], tmp_path: Path
) -> None:
    app, _ = served
    example = app.controller.examples.examples[0]
    turns = example.dialogue.turns[:3]
    assert [t.refers_to for t in turns] == [None, 0, 1]
    image_wh = example.dialogue.image_wh

    for turn in turns:
        label = None if turn.refers_to is None else f"R{turn.refers_to + 1}"
        question = turn.question.replace("{ref}", label) if label else turn.question
        _ask(page, question)
        status = _wait_status(page, f"Question {turn.turn_index + 1}: found", "ok")
        if label is not None:
            # the cited region's box is the oracle's answer to the cited turn (its GT box)
            expected = _paper_text(example.dialogue.turns[turn.refers_to].targets[0].bbox, image_wh)
            assert f"{label} was substituted as {expected}" in status
            substitution = page.inner_text("#rr-answer .rr-sub")
            assert label in substitution and expected in substitution
            assert page.inner_text("#rr-answer .rr-think mark.rr-cite-ref") == expected

    history = page.locator("#rr-history li")
    assert history.count() == 3
    assert [history.nth(i).locator(".rr-chip").last.inner_text() for i in range(3)] == [
        "R1",
        "R2",
        "R3",
    ]
    assert "R1" in history.nth(1).inner_text()  # the second question cites R1
    assert page.locator("#rr-table [data-testid=cell-2-0]").inner_text() == "R3"

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    with Image.open(SCREENSHOT) as shot:
        assert shot.size[0] == VIEWPORT["width"] and shot.size[1] >= VIEWPORT["height"]
    if os.environ.get(UPDATE_SCREENSHOT_ENV) == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOT, README_SCREENSHOT)

    page.fill("#rr-dialogue-id textarea", "annotated-1")
    page.click("#rr-export")
    _wait_status(page, "Wrote annotated-1.jsonl (3 turns", "ok")
    jsonl = _download(page, 0, tmp_path)
    assert jsonl.name == "annotated-1.jsonl"
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert dialogue_problems(record, path=str(jsonl)) == []
    assert [t["question"] for t in record["turns"]] == [t.question for t in turns]
    assert [t["refers_to"] for t in record["turns"]] == [None, 0, 1]
    for got, turn in zip(record["turns"], turns, strict=True):
        assert np.allclose(got["targets"][0]["bbox"], turn.targets[0].bbox, atol=0.5)

    archive = _download(page, 1, tmp_path)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "unzipped")
    assert (
        cli_main(
            [
                "validate",
                str(tmp_path / "unzipped" / jsonl.name),
                "--images-root",
                str(tmp_path / "unzipped"),
            ]
        )
        == 0
    )


def test_uploads_and_bad_uploads(page: Any, tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("this is a text file renamed .png", encoding="utf-8")
    page.set_input_files("#rr-upload input[type=file]", str(fake))
    _wait_status(page, "notes.png is not an image", "error")

    big = tmp_path / "big.png"
    noise = np.random.default_rng(0).integers(0, 256, (600, 600, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big)
    assert big.stat().st_size > MAX_UPLOAD_MB * 1e6
    page.set_input_files("#rr-upload input[type=file]", str(big))
    _wait_status(page, f"the largest accepted upload is {MAX_UPLOAD_MB:g} MB", "error")

    # the app keeps running: the example is still there and answers
    _ask(page, "")
    _wait_status(page, "The question is empty", "error")
    _ask(page, "the circle next to R5")
    _wait_status(page, "There is no region R5", "error")

    good = tmp_path / "photo.png"
    Image.new("RGB", (120, 90), (30, 140, 220)).save(good)
    page.set_input_files("#rr-upload input[type=file]", str(good))
    _wait_status(page, "Uploaded photo.png (120x90)", "ok")
    assert _shown_size(page) == [480, 360]  # shown 4x (640 / 120 = 5.3, capped at 4)
    _ask(page, "the blue square")
    _wait_status(page, "no ground truth for this question", "error")


def test_a_drawn_box_is_cited_and_a_corrected_box_is_downloaded(
    page: Any, served: tuple[Any, str], tmp_path: Path
) -> None:
    app, _ = served
    example = app.controller.examples.examples[0]
    _add_drawn_box(page, (20, 30, 80, 70), 2, "the top left area")  # the image is drawn 2x

    cites_first = example.dialogue.turns[1].question  # "... {ref}" citing turn 0
    _ask(page, cites_first.replace("{ref}", "U1"))
    expected = _paper_text((20, 30, 80, 70), example.dialogue.image_wh)
    _wait_status(page, f"U1 was substituted as {expected}", "ok")

    cell = page.locator("#rr-table [data-testid=cell-1-2]")  # R1's x1
    cell.dblclick()
    page.keyboard.press("Control+A")
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    page.click("#rr-apply")
    _wait_status(page, "Corrected R1", "ok")

    page.click("#rr-export")
    _wait_status(page, "Wrote synth-000000-serve.jsonl (2 turns", "ok")
    record = json.loads(_download(page, 0, tmp_path).read_text(encoding="utf-8"))
    assert dialogue_problems(record) == []
    assert record["turns"][0]["question"] == "the top left area"
    assert record["turns"][0]["targets"] == [{"bbox": [20, 30, 80, 70]}]
    assert record["turns"][1]["refers_to"] == 0
    assert record["turns"][1]["targets"][0]["bbox"][0] == 5
    assert record["meta"]["corrections"][0]["label"] == "R1"


def _image_src(page: Any) -> str:
    """The ``src`` of the picture in the image box (a new one for every redraw)."""
    return str(page.locator("#rr-image img").get_attribute("src"))


def _shown_size(page: Any, *, not_src: str | None = None) -> list[int]:
    """``[W, H]`` of the picture in the image box once the browser has decoded it (and,
    with ``not_src``, once it is another picture than that one)."""
    page.wait_for_function(
        """(old) => {
            const img = document.querySelector('#rr-image img');
            return !!img && img.src !== old && img.complete && img.naturalWidth > 0;
        }""",
        arg=not_src,
    )
    return page.locator("#rr-image img").evaluate("img => [img.naturalWidth, img.naturalHeight]")


def _shown_rgb(page: Any, fx: float, fy: float) -> np.ndarray:
    """RGB of the picture in the image box at fractions ``(fx, fy)`` of its size, read
    back from the browser's own decoding (a canvas)."""
    rgb = page.locator("#rr-image img").evaluate(
        """(img, [fx, fy]) => {
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            const context = canvas.getContext('2d');
            context.drawImage(img, 0, 0);
            const x = Math.floor(fx * canvas.width), y = Math.floor(fy * canvas.height);
            return Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3));
        }""",
        [fx, fy],
    )
    return np.array(rgb, dtype=float)


RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
JPEG_TOLERANCE = 40
"""Largest channel difference from a flat quadrant's colour after JPEG coding."""


def test_refused_uploads_show_an_error_and_keep_the_dialogue_and_its_image(
    page: Any, served: tuple[Any, str], tmp_path: Path
) -> None:
    app, _ = served
    example = app.controller.examples.examples[0]
    first, second = example.dialogue.turns[:2]
    assert second.refers_to == 0
    _ask(page, first.question)
    _wait_status(page, "Question 1: found R1", "ok")
    size = _shown_size(page)

    noise = np.random.default_rng(1).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.jpg", quality=90)
    Image.new("RGB", (2000, 1500), (90, 90, 90)).save(tmp_path / "huge.jpg", quality=50)
    (tmp_path / "notes.txt").write_text("a text file, not a picture", encoding="utf-8")
    cases = [
        (
            write_bomb_png(tmp_path / "bomb.png"),
            "bomb.png has 400,000,000 pixels, over the limit of 2,000,000 pixels",
        ),
        (tmp_path / "huge.jpg", "huge.jpg is 2000x1500 (3,000,000 pixels), over the limit"),
        (
            write_truncated(tmp_path / "cut.jpg", tmp_path / "whole.jpg"),
            "cannot decode image cut.jpg",
        ),
        (tmp_path / "notes.txt", "notes.txt is not an image"),
    ]
    for path, needle in cases:
        assert path.stat().st_size < MAX_UPLOAD_MB * 1e6
        page.set_input_files("#rr-upload input[type=file]", str(path))
        text = _wait_status(page, needle, "error", timeout_ms=ISSUE_TIMEOUT_MS)
        assert text.startswith("Upload refused: ")
        assert f"The image {example.example_id} and its dialogue are kept." in text
        assert page.locator("#rr-history li").count() == 1
        assert _shown_size(page) == size

    # the next question is answered on the example still shown: R1 is its first answer
    _ask(page, second.question.replace("{ref}", "R1"))
    expected = _paper_text(first.targets[0].bbox, example.dialogue.image_wh)
    _wait_status(page, f"R1 was substituted as {expected}", "ok")
    assert page.locator("#rr-history li").count() == 2


def test_a_phone_photo_is_shown_upright_and_a_box_drawn_on_it_is_downloaded_in_place(
    page: Any, tmp_path: Path
) -> None:
    photo = write_exif_rotated_jpeg(tmp_path / "phone.jpg", (160, 120))
    with Image.open(photo) as stored:
        assert stored.size == (120, 160)  # stored on its side, EXIF orientation 6
    example_src = _image_src(page)
    page.set_input_files("#rr-upload input[type=file]", str(photo))
    _wait_status(page, "Uploaded phone.jpg (160x120)", "ok")
    assert _shown_size(page, not_src=example_src) == [640, 480]  # upright, shown 4x
    for (fx, fy), colour in (((0.25, 0.25), RED), ((0.75, 0.25), GREEN), ((0.25, 0.75), BLUE)):
        assert np.abs(_shown_rgb(page, fx, fy) - colour).max() < JPEG_TOLERANCE

    _add_drawn_box(page, (100, 10, 150, 50), 4, "the green quarter")
    page.click("#rr-export")
    _wait_status(page, "Wrote upload-", "ok")

    with zipfile.ZipFile(_download(page, 1, tmp_path)) as zf:
        zf.extractall(tmp_path / "unzipped")
    [jsonl] = (tmp_path / "unzipped").glob("*.jsonl")
    record = json.loads(jsonl.read_text(encoding="utf-8"))
    assert record["image_wh"] == [160, 120]
    assert record["turns"][0]["targets"] == [{"bbox": [100, 10, 150, 50]}]
    with Image.open(tmp_path / "unzipped" / record["image"]) as exported:
        assert exported.size == (160, 120) and exported.getexif().get(0x0112) is None
        inside = np.asarray(exported.convert("RGB").crop((100, 10, 150, 50)), dtype=float)
    assert np.abs(inside.reshape(-1, 3).mean(axis=0) - GREEN).max() < JPEG_TOLERANCE


def test_a_question_sent_while_an_upload_loads_is_not_answered_on_the_upload(
    page: Any, served: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _ = served
    controller = app.controller
    entered, release = threading.Event(), threading.Event()
    real_upload = controller.upload

    def held_upload(*args: Any, **kwargs: Any) -> Any:
        # the server holds the upload until the question has been sent
        entered.set()
        release.wait(STEP_TIMEOUT_MS / 1000)
        return real_upload(*args, **kwargs)

    monkeypatch.setattr(controller, "upload", held_upload)
    Image.new("RGB", (120, 90), (30, 140, 220)).save(tmp_path / "photo.png")
    page.set_input_files("#rr-upload input[type=file]", str(tmp_path / "photo.png"))
    assert entered.wait(STEP_TIMEOUT_MS / 1000)
    # asked while the example is still shown; it reaches the server during the upload
    with page.expect_request(lambda r: r.method == "POST" and "/queue/join" in r.url):
        _ask(page, controller.examples.examples[0].dialogue.turns[0].question)
    release.set()
    _wait_status(page, "The image changed to photo.png before this arrived", "error")
    assert _shown_size(page) == [480, 360]  # the upload is what the page now shows
    assert page.locator("#rr-history li").count() == 0
