"""``regionreasoner eval`` on images no benchmark contains (issue 22).

Bad images (a decompression bomb, a JPEG over ``--max-image-pixels``, a truncated file)
stop the command with exit code 2 and a message naming the data file, the dialogue and
the image, and leave no run directory behind. Good but unusual images (an animated GIF,
16-bit grey, CMYK, a phone JPEG with an EXIF orientation) are answered by a model that
really looks at the pixels it is sent: a local OpenAI-compatible server that finds the
one object on a plain background in the 840x840 image and answers its box. Its boxes
come back right only if the image reached it as stored, first frame, in the right colours.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import peak_rss
from fake_openai import FakeOpenAIServer, Reply
from hostile_images import (
    EXIF_ORIENTATION,
    write_bomb_png,
    write_truncated,
)
from regionreasoner.cli.main import main

pytest.importorskip("httpx")

BACKGROUND = (120, 120, 120)
OBJECT_DIFFERENCE = 60
"""A pixel belongs to the object when a channel differs from the corner pixel by more."""
BOMB_PEAK_RSS_MB = 200.0
"""The issue's bound on the peak memory of ``eval`` on the 20,000 x 20,000 bomb."""


def _object_box(image: Image.Image) -> list[int] | None:
    """``[x1, y1, x2, y2]`` (exclusive ends) of the pixels unlike the top-left corner."""
    pixels = np.asarray(image.convert("RGB"), dtype=int)
    unlike = (np.abs(pixels - pixels[0, 0]) > OBJECT_DIFFERENCE).any(axis=2)
    ys, xs = np.nonzero(unlike)
    if len(xs) == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _looking_model(n: int, body: dict[str, Any]) -> Reply:
    """Answer with the box of the one object in the image of the request."""
    parts = body["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p.get("type") == "image_url")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    box = _object_box(image)
    answer = []
    if box is not None:
        centre = [(box[0] + box[2]) // 2, (box[1] + box[3]) // 2]
        answer = [{"bbox_2d": box, "point_2d": centre}]
    return Reply(
        content="<scene>one object</scene><think>it is the only object</think>"
        f"<answer>{json.dumps(answer)}</answer>"
    )


def _record(dialogue_id: str, image: str, image_wh: tuple[int, int], box: list[int]) -> str:
    return json.dumps(
        {
            "schema_version": 1,
            "dialogue_id": dialogue_id,
            "image": image,
            "image_wh": list(image_wh),
            "source": "test",
            "turns": [
                {
                    "turn_index": 0,
                    "question": "the only object",
                    "refers_to": None,
                    "relation": None,
                    "targets": [{"bbox": box}],
                }
            ],
        }
    )


def _bench(root: Path, records: list[str]) -> Path:
    bench = root / "bench.jsonl"
    bench.write_text("\n".join(records) + "\n", encoding="utf-8")
    return bench


def _flat_with_object(wh: tuple[int, int], box: list[int], colour: tuple[int, ...]) -> np.ndarray:
    pixels = np.empty((wh[1], wh[0], 3), np.uint8)
    pixels[:] = BACKGROUND
    pixels[box[1] : box[3], box[0] : box[2]] = colour
    return pixels


def _eval(bench: Path, out: Path, *extra: str, model: str = "oracle") -> int:
    args = ["eval", "--data", str(bench), "--model", model, "--out", str(out)]
    return main([*args, "--segmenter", "box-fill", *extra])


# --------------------------------------------------------------------------- good images


def _unusual_images(root: Path) -> list[tuple[str, tuple[int, int], list[int]]]:
    """``(image, stored (W, H), object box as stored)`` of each unusual image."""
    images = root / "images"
    images.mkdir(parents=True)
    made = []

    # animated GIF: the object moves in the second frame; the first frame is used
    first, later = [40, 30, 90, 70], [200, 150, 260, 200]
    frames = [
        Image.fromarray(_flat_with_object((320, 240), box, (220, 30, 30))) for box in (first, later)
    ]
    frames[0].save(images / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    made.append(("images/anim.gif", (320, 240), first))

    # 16-bit grey: background 10,000, object 60,000 (Pillow's own conversion to 8 bits
    # would clip both to white and lose the object)
    grey = np.full((240, 320), 10_000, np.uint16)
    grey[100:180, 150:300] = 60_000
    Image.fromarray(grey).save(images / "grey16.png")
    made.append(("images/grey16.png", (320, 240), [150, 100, 300, 180]))

    # CMYK, as JPEG and as TIFF: a cyan object on white
    cmyk = Image.new("CMYK", (300, 200), (0, 0, 0, 0))
    cmyk.paste((255, 0, 0, 0), (30, 120, 110, 190))
    cmyk.save(images / "cmyk.jpg", quality=95)
    cmyk.save(images / "cmyk.tif")
    made.append(("images/cmyk.jpg", (300, 200), [30, 120, 110, 190]))
    made.append(("images/cmyk.tif", (300, 200), [30, 120, 110, 190]))

    # a phone JPEG stored landscape with EXIF orientation 6; dataset boxes refer to the
    # stored pixels, so eval must not turn it
    box = [220, 20, 300, 80]
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    Image.fromarray(_flat_with_object((320, 200), box, (30, 30, 220))).save(
        images / "phone.jpg", quality=95, exif=exif.tobytes()
    )
    made.append(("images/phone.jpg", (320, 200), box))
    return made


def test_unusual_images_reach_the_model_as_stored_and_their_boxes_come_back_right(
    tmp_path: Path,
) -> None:
    made = _unusual_images(tmp_path)
    bench = _bench(
        tmp_path,
        [_record(Path(image).name, image, wh, box) for image, wh, box in made],
    )
    out = tmp_path / "run"
    with FakeOpenAIServer(_looking_model) as server:
        code = _eval(bench, out, model=f"openai:{server.base_url}#looker")
        sizes = [
            Image.open(io.BytesIO(base64.b64decode(_image_url(body).split(",", 1)[1]))).size
            for body in server.bodies
        ]
    assert code == 0
    assert sizes == [(840, 840)] * len(made)
    rows = {r["dialogue_id"]: r for r in map(json.loads, (out / "predictions.jsonl").open())}
    for image, wh, box in made:
        row = rows[Path(image).name]
        assert row["failed"] is False and row["parse_issues"] == []
        [predicted] = row["pred_bboxes"]
        # the model's box in the 840x840 frame, back in the image's pixels: within one
        # model-frame pixel of the object
        tolerance = max(wh) / 840 + 1
        assert np.allclose(predicted, box, atol=tolerance), (image, predicted, box)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["overall"]["acc@0.5"] == 1.0
    config = json.loads((out / "config.json").read_text())
    assert config["max_image_pixels"] == 120_000_000


def _image_url(body: dict[str, Any]) -> str:
    parts = body["messages"][-1]["content"]
    return next(p["image_url"]["url"] for p in parts if p.get("type") == "image_url")


# --------------------------------------------------------------------------- bad images


def _good_jpeg(path: Path, wh: tuple[int, int] = (200, 150)) -> Path:
    noise = np.random.default_rng(0).integers(0, 256, (wh[1], wh[0], 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=90)
    return path


def _bench_with(root: Path, bad_name: str, bad_wh: tuple[int, int]) -> Path:
    """Dialogue ``ok`` on a good JPEG, then dialogue ``bad`` on ``images/<bad_name>``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    _good_jpeg(root / "images" / "ok.jpg")
    return _bench(
        root,
        [
            _record("ok", "images/ok.jpg", (200, 150), [10, 10, 60, 60]),
            _record("bad", f"images/{bad_name}", bad_wh, [10, 10, 60, 60]),
        ],
    )


@pytest.mark.parametrize(
    ("make", "bad_wh", "flags", "message"),
    [
        (
            lambda p: write_bomb_png(p / "bomb.png"),
            (20_000, 20_000),
            [],
            "images/bomb.png has 400,000,000 pixels, over the limit of 120,000,000 pixels "
            "(--max-image-pixels)",
        ),
        (
            lambda p: _good_jpeg(p / "big.jpg", (1000, 800)),
            (1000, 800),
            ["--max-image-pixels", "500000"],
            "images/big.jpg is 1000x800 (800,000 pixels), over the limit of 500,000 pixels "
            "(--max-image-pixels)",
        ),
        (
            lambda p: (p / "notes.jpg").write_text("not a picture") and p / "notes.jpg",
            (200, 150),
            [],
            "images/notes.jpg is not an image",
        ),
    ],
    ids=["bomb", "over-limit-jpeg", "not-an-image"],
)
def test_a_bad_image_stops_eval_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, bad_wh, flags, message: str
) -> None:
    bench = _bench_with(tmp_path, "placeholder", bad_wh)
    bad = make(tmp_path / "images")
    bench.write_text(bench.read_text().replace("images/placeholder", f"images/{bad.name}"))
    out = tmp_path / "run"
    assert _eval(bench, out, *flags) == 2
    err = capsys.readouterr().err
    assert f"{bench}: dialogue bad: image: " in err and message in err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_truncated_image_stops_eval_before_any_row_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench_with(tmp_path, "cut.jpg", (200, 150))
    write_truncated(tmp_path / "images" / "cut.jpg", tmp_path / "images" / "ok.jpg")
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with FakeOpenAIServer(_looking_model) as server:
        # one request per model call: the good dialogue would be answered first if the
        # window's images were not all decoded before its first round
        model = f"openai:{server.base_url}#looker"
        code = _eval(bench, out, "--overwrite", "--batch-size", "1", model=model)
        assert server.bodies == []  # the damaged image was found before any model call
    assert code == 2
    err = capsys.readouterr().err
    cut = tmp_path / "images" / "cut.jpg"
    assert (
        f"{bench}: dialogue bad: image: cannot decode image {cut}: image file is truncated" in err
    )
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_truncated_image_in_a_later_window_keeps_the_earlier_rows_resumable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench_with(tmp_path, "cut.jpg", (200, 150))
    whole = _good_jpeg(tmp_path / "whole.jpg")
    write_truncated(tmp_path / "images" / "cut.jpg", whole)
    out = tmp_path / "run"
    with FakeOpenAIServer(_looking_model) as server:
        model = f"openai:{server.base_url}#looker"
        assert _eval(bench, out, "--window", "1", model=model) == 2
        cut = tmp_path / "images" / "cut.jpg"
        assert f"dialogue bad: image: cannot decode image {cut}" in capsys.readouterr().err
        rows = (out / "predictions.jsonl").read_text().splitlines()
        assert [json.loads(r)["dialogue_id"] for r in rows] == ["ok"]
        assert not (out / "metrics.json").exists()
        (tmp_path / "images" / "cut.jpg").write_bytes(whole.read_bytes())
        assert _eval(bench, out, "--window", "1", "--resume", model=model) == 0
    rows = (out / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(r)["dialogue_id"] for r in rows] == ["ok", "bad"]


def test_max_image_pixels_is_checked_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench_with(tmp_path, "ok.jpg", (200, 150))
    for value, message in (
        ("0", "must be a positive integer"),
        ("lots", "expected an integer"),
        ("200000000", "above Pillow's own limit of 178,956,970 pixels"),
    ):
        with pytest.raises(SystemExit) as info:
            _eval(bench, tmp_path / "run", "--max-image-pixels", value)
        assert info.value.code == 2
        assert message in capsys.readouterr().err
    assert _eval(bench, tmp_path / "run", "--max-image-pixels", "30_000") == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["max_image_pixels"] == 30_000


def test_max_response_bytes_reaches_the_openai_backend(tmp_path: Path) -> None:
    bench = _bench_with(tmp_path, "ok.jpg", (200, 150))
    out = tmp_path / "run"
    with FakeOpenAIServer(_looking_model) as server:
        model = f"openai:{server.base_url}#looker"
        assert _eval(bench, out, "--max-response-bytes", "64", model=model) == 0
    rows = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    assert [r["failed"] for r in rows] == [True, True]
    assert all("over the limit of 64 bytes (--max-response-bytes)" in r["error"] for r in rows)
    config = json.loads((out / "config.json").read_text())
    assert config["backend_settings"]["max_response_bytes"] == 64


# --------------------------------------------------------------------------- memory


@pytest.mark.skipif(not peak_rss.available(), reason="reads /proc/self/status (linux)")
def test_eval_on_the_bomb_stops_under_200_mb(tmp_path: Path) -> None:
    bench = _bench_with(tmp_path, "bomb.png", (20_000, 20_000))
    write_bomb_png(tmp_path / "images" / "bomb.png")
    out = tmp_path / "run"
    args = ["eval", "--data", str(bench), "--model", "oracle", "--out", str(out)]
    run = peak_rss.command_peak_rss([*args, "--segmenter", "box-fill"])
    assert run.exit_code == 2 and "over the limit of 120,000,000 pixels" in run.stderr
    assert run.peak_mb < BOMB_PEAK_RSS_MB
    assert not out.exists()


def test_the_report_gallery_applies_the_runs_image_limit(tmp_path: Path) -> None:
    bench = _bench_with(tmp_path, "ok.jpg", (200, 150))  # two dialogues, 30,000 pixels each
    out = tmp_path / "run"
    assert _eval(bench, out, "--max-image-pixels", "30000") == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/jpeg;base64,") == 2 and "over the limit" not in html

    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "max_image_pixels": 29_999}))
    assert main(["score", str(out), "--data", str(bench)]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/jpeg;base64," not in html
    assert html.count("over the limit of 29,999 pixels") == 2
