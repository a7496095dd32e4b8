"""The page's logic without a browser: dialogue, references, bad input, export."""

from __future__ import annotations

import contextlib
import json
import math
import threading
import zipfile
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from serve_helpers import ScriptedBackend

import regionreasoner
from hostile_images import write_bomb_png
from regionreasoner.backends import BackendOptions, load_backend
from regionreasoner.backends.base import Generation, GenerationRequest
from regionreasoner.cli.main import main as cli_main
from regionreasoner.data.dialogue_checks import dialogue_problems
from regionreasoner.serve.controller import ServeController, View
from regionreasoner.serve.drawing import display_scale
from regionreasoner.serve.examples import ExampleSet
from regionreasoner.serve.state import DialogueState

MODEL = 840


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _paper_text(box: tuple[float, ...], image_wh: tuple[int, int]) -> str:
    """``bbox=[...]`` of an image box in the 840x840 frame, computed by hand."""
    w, h = image_wh
    scale = (MODEL / w, MODEL / h, MODEL / w, MODEL / h)
    return "bbox=[" + ",".join(str(_half_up(v * s)) for v, s in zip(box, scale, strict=True)) + "]"


def _ok(result: tuple[Any, View]) -> tuple[Any, View]:
    state, view = result
    assert view.status_kind == "ok", view.message
    return state, view


def _error(result: tuple[Any, View], *needles: str) -> tuple[Any, View]:
    state, view = result
    assert view.status_kind == "error", view.message
    assert 'role="alert"' in view.status
    for needle in needles:
        assert needle in view.message, view.message
    return state, view


def _labelled(example_question: str, label: str | None) -> str:
    return example_question.replace("{ref}", label) if label else example_question


def _start(controller: ServeController, examples: ExampleSet, index: int = 0) -> DialogueState:
    state, view = _ok(controller.select_example(None, examples.examples[index].example_id))
    assert view.image is not None
    scale = display_scale(state.image_wh)
    assert view.image.size == (round(state.image_wh[0] * scale), round(state.image_wh[1] * scale))
    return state


def test_actions_before_an_image_is_chosen_are_visible_errors(make_controller: Callable) -> None:
    controller = make_controller()
    for result in (
        controller.ask(None, "the red circle"),
        controller.reset(None),
        controller.export(None, "x"),
        controller.add_user_box(None, 0, 0, 5, 5, "a box"),
        controller.click(None, (3, 4)),
    ):
        state, view = _error(result, "Pick an example image or upload one")
        assert state is None and view.image is None


def test_unknown_example_is_an_error(make_controller: Callable) -> None:
    _error(make_controller().select_example(None, "nope"), "no example 'nope'")


@pytest.mark.parametrize("protocol", ["paper", "official"])
def test_three_turns_cite_earlier_regions_as_eval_does(
    make_controller: Callable, examples: ExampleSet, protocol: str
) -> None:
    controller = make_controller(protocol=protocol)
    example = examples.examples[0]
    turns = example.dialogue.turns[:3]
    assert [t.refers_to for t in turns] == [None, 0, 1]  # the synthetic example's chain
    state = _start(controller, examples)
    for turn in turns:
        label = None if turn.refers_to is None else f"R{turn.refers_to + 1}"
        state, view = _ok(controller.ask(state, _labelled(turn.question, label)))
        item = state.items[-1]
        assert item.labels == [f"R{turn.turn_index + 1}"]
        record = item.result.record
        # the oracle answers the example's ground truth: the found box is the GT box
        gt = turn.targets[0].bbox
        assert np.allclose(state.regions[item.labels[0]].xyxy, gt, atol=1.0)
        if label is None:
            assert record.reference_text is None
            continue
        cited = state.regions[label]
        if protocol == "paper":
            expected = _paper_text(cited.xyxy, state.image_wh)
        else:  # original pixels, as the released code writes str(list)
            expected = str([int(v) if float(v).is_integer() else v for v in cited.xyxy])
        assert record.reference_text == expected
        assert record.question == turn.question.replace("{ref}", expected)
        assert record.reference_source == "predicted"
        assert record.cited_reference is True
        assert f"{label} was substituted as {expected}" in view.message
        assert expected in view.answer and "rr-cite-ref" in view.answer
    assert state.context.image_wh == (320, 240)
    assert view.history.count("<li>") == 3
    assert [r[0] for r in view.table] == ["R1", "R2", "R3"]


@pytest.mark.parametrize(
    ("question", "needle"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("the circle closest to R9", "no region R9"),
        ("the circle between R1 and U1", "cites R1, U1"),
        ("the circle closest to {ref}", "instead of {ref}"),
        ("the circle closest to R1 or R1", "once per question"),
        ("x" * 501, "too long"),
        ("the red thing that is not in the example", "no ground truth"),
    ],
)
def test_bad_questions_are_shown_and_change_nothing(
    make_controller: Callable, examples: ExampleSet, question: str, needle: str
) -> None:
    controller = make_controller()
    state = _start(controller, examples)
    state, _ = _ok(controller.ask(state, examples.examples[0].dialogue.turns[0].question))
    before = (len(state.items), list(state.regions))
    state, view = _error(controller.ask(state, question), needle)
    assert (len(state.items), list(state.regions)) == before
    assert view.image is not None  # the page still shows the image


def test_a_timeout_is_shown_and_the_next_question_works(
    make_controller: Callable, examples: ExampleSet
) -> None:
    release = threading.Event()
    calls: list[int] = []

    def reply(request: GenerationRequest) -> Generation:
        calls.append(1)
        if len(calls) == 1:
            release.wait(60)
        return Generation(_ANSWER, 0.0)

    controller = make_controller(backend=ScriptedBackend(reply), timeout_s=0.2)
    state = _start(controller, examples)
    state, view = _error(controller.ask(state, "the cup"), "no answer", "within 0.2 s")
    assert state.items[-1].failed and "failed" in view.history
    assert len(calls) == 1  # the backend is still blocked: the timeout was reached
    controller.engine.timeout_s = None  # no bound on the next answer (a loaded machine)
    release.set()
    state, view = _ok(controller.ask(state, "the cup again"))
    assert state.items[-1].labels == ["R1"] and len(calls) == 2


_ANSWER = (
    "<scene>a scene</scene><think>the cup</think>"
    '<answer>[{"bbox_2d": [84, 140, 168, 280], "point_2d": [126, 210]}]</answer>'
)


def test_a_crashing_backend_is_an_internal_error_and_the_app_carries_on(
    make_controller: Callable, examples: ExampleSet, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def reply(request: GenerationRequest) -> Generation:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("device lost")
        return Generation(_ANSWER, 0.0)

    controller = make_controller(backend=ScriptedBackend(reply))
    state = _start(controller, examples)
    state, _ = _error(controller.ask(state, "the cup"), "Internal error", "device lost")
    assert state.items == []
    assert "internal error in ask" in caplog.text
    state, _ = _ok(controller.ask(state, "the cup"))
    # 840x840 -> 320x240: x * 320/840, y * 240/840
    assert state.regions["R1"].xyxy == pytest.approx((32, 40, 64, 80))


def test_an_answer_without_regions_is_reported(
    make_controller: Callable, examples: ExampleSet
) -> None:
    backend = ScriptedBackend(
        lambda r: Generation("<scene>s</scene><think>t</think><answer>[]</answer>", 0.0)
    )
    controller = make_controller(backend=backend)
    state = _start(controller, examples)
    state, view = _error(controller.ask(state, "the cup"), "holds no region")
    assert state.items[-1].labels == [] and "nothing found" in view.history


def _png(path: Path, size: tuple[int, int], *, noise: bool = False) -> Path:
    if noise:
        pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
    else:
        Image.new("RGB", size, (200, 30, 30)).save(path)
    return path


def _text_as_png(path: Path) -> Path:
    path.write_text("not an image", encoding="utf-8")
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _truncated(path: Path) -> Path:
    data = _png(path, (64, 64)).read_bytes()
    path.write_bytes(data[:60])
    return path


@pytest.mark.parametrize(
    ("make_file", "needle"),
    [
        (_text_as_png, "is not an image"),
        (lambda p: _png(p, (300, 300), noise=True), "largest accepted upload is 0.05 MB"),
        (_empty, "is empty"),
        (_truncated, "cannot decode image upload.png"),
        (lambda p: p, "could not be read"),  # the file does not exist
    ],
    ids=["text-renamed-png", "too-large", "empty", "truncated", "missing"],
)
def test_bad_uploads_are_shown_and_keep_the_current_image(
    make_controller: Callable, examples: ExampleSet, tmp_path: Path, make_file: Any, needle: str
) -> None:
    controller = make_controller()
    state = _start(controller, examples)
    question = examples.examples[0].dialogue.turns[0].question
    state, _ = _ok(controller.ask(state, question))
    before = (state.image_token, list(state.items), dict(state.regions))
    path = make_file(tmp_path / "upload.png")
    new_state, view = _error(
        controller.upload(state, path),
        "Upload refused: ",
        needle,
        "The image synth-000000 and its dialogue are kept.",
    )
    assert new_state is state and view.image is not None
    assert (state.image_token, state.items, state.regions) == before
    assert view.image_token == state.image_token
    assert "R1" in view.history  # the dialogue is still shown


def test_a_refused_first_upload_says_what_to_do(make_controller: Callable, tmp_path: Path) -> None:
    controller = make_controller()
    state, view = _error(
        controller.upload(None, _text_as_png(tmp_path / "notes.png")),
        "notes.png is not an image",
        "Pick an example image or upload another one.",
    )
    assert state is None and view.image is None and view.image_token == ""


def test_too_many_pixels_are_refused_before_decoding(tmp_path: Path) -> None:
    from regionreasoner.errors import ImageError
    from regionreasoner.serve.controller import read_upload

    path = _png(tmp_path / "wide.png", (400, 300))
    with pytest.raises(
        ImageError,
        match=r"wide.png is 400x300 \(120,000 pixels\), over the limit "
        r"of 100,000 pixels \(--max-image-pixels\)",
    ):
        read_upload(path, max_bytes=10**9, max_pixels=100_000)
    image, digest = read_upload(path, max_bytes=10**9, max_pixels=120_000)
    assert image.size == (400, 300) and len(digest) == 40


def test_the_bomb_upload_is_refused_with_the_limit(
    make_controller: Callable, examples: ExampleSet, tmp_path: Path
) -> None:

    controller = make_controller(max_upload_bytes=10**7)
    state = _start(controller, examples)
    bomb = write_bomb_png(tmp_path / "bomb.png")
    new_state, _ = _error(
        controller.upload(state, bomb),
        "bomb.png has 400,000,000 pixels, over the limit of 120,000,000 pixels "
        "(--max-image-pixels)",
    )
    assert new_state is state
    # a lower --max-image-pixels refuses an example too, naming the limit
    small = make_controller(max_image_pixels=1_000)
    _error(
        small.select_example(None, examples.examples[0].example_id),
        "over the limit of 1,000 pixels",
    )


def test_an_action_for_another_image_than_the_current_one_is_refused(
    make_controller: Callable, examples: ExampleSet, tmp_path: Path
) -> None:
    backend = ScriptedBackend(lambda r: Generation(_ANSWER, 0.0))
    controller = make_controller(backend=backend)
    first = _start(controller, examples)
    shown = first.image_token
    # the upload replaces the session's image before a question typed under the first
    # one arrives: the question is refused, not answered on the upload
    upload, view = _ok(controller.upload(first, _png(tmp_path / "new.png", (120, 90))))
    assert upload.image_token != shown and view.image_token == upload.image_token
    for result in (
        controller.ask(upload, "the red circle", shown=shown),
        controller.click(upload, (3, 4), shown=shown),
        controller.add_user_box(upload, 0, 0, 5, 5, "a box", shown=shown),
        controller.apply_table(upload, [], shown=shown),
        controller.reset(upload, shown=shown),
        controller.export(upload, "x", shown=shown),
    ):
        state, view = _error(result, "The image changed to new.png before this arrived")
        assert state is upload and view.image_token == upload.image_token
        assert view.image.size == (480, 360)  # the page now draws the current image
    assert backend.requests == [] and upload.items == [] and upload.pending_corner is None
    _ok(controller.ask(upload, "the red circle", shown=upload.image_token))
    assert len(backend.requests) == 1
    _error(controller.ask(None, "x", shown="img-0"), "has no image")


def test_an_upload_is_shown_upright_and_a_model_answers_about_it(
    make_controller: Callable, tmp_path: Path
) -> None:
    backend = ScriptedBackend(lambda r: Generation(_ANSWER, 0.0))
    controller = make_controller(backend=backend)
    image = Image.new("RGB", (80, 40), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    image.save(tmp_path / "phone.jpg", exif=exif)
    state, view = _ok(controller.upload(None, tmp_path / "phone.jpg"))
    assert state.image_wh == (40, 80)  # upright
    assert view.dialogue_id is not None and view.dialogue_id.startswith("upload-")
    assert view.hints == ""
    state, _ = _ok(controller.ask(state, "anything at all"))
    assert backend.requests[-1].image.size == (840, 840)
    # 840x840 -> 40x80: x * 40/840, y * 80/840
    assert state.regions["R1"].xyxy == pytest.approx((4, 13 + 1 / 3, 8, 26 + 2 / 3))


def test_two_clicks_enter_a_box_that_questions_can_cite(
    make_controller: Callable, examples: ExampleSet
) -> None:
    controller = make_controller()
    state = _start(controller, examples)
    scale = display_scale(state.image_wh)
    state, view = controller.click(state, (100 * scale, 30 * scale))
    assert view.status_kind == "info" and state.pending_corner == (100, 30)
    state, view = controller.click(state, (40 * scale, 90 * scale))
    assert view.box == (40, 30, 100, 90) and state.pending_corner is None
    _error(controller.add_user_box(state, *view.box, ""), "Describe the box")
    _error(controller.add_user_box(state, 400, 0, 500, 10, "off the image"), "outside")
    state, view = _ok(controller.add_user_box(state, *view.box, "the marked area"))
    assert list(state.regions) == ["U1"] and view.box == (0, 0, 0, 0)
    turn = examples.examples[0].dialogue.turns[1]  # "the circle closest to {ref}"
    state, view = _ok(controller.ask(state, _labelled(turn.question, "U1")))
    record = state.items[-1].result.record
    assert record.reference_text == _paper_text((40, 30, 100, 90), state.image_wh)
    assert record.reference_source == "ground_truth"  # a person's box, not a prediction
    _, view = controller.click(state, (5, 5))
    _error(controller.click(state, (5, 5)), "empty box")


def test_corrected_boxes_are_cited_and_exported(
    make_controller: Callable, examples: ExampleSet, tmp_path: Path
) -> None:
    controller = make_controller()
    state = _start(controller, examples)
    turns = examples.examples[0].dialogue.turns
    state, _ = _ok(controller.ask(state, turns[0].question))
    rows = [list(r) for r in state.table_rows()]
    state, view = controller.apply_table(state, rows)
    assert view.message == "No box changed."  # the rounded values shown are no change
    rows[0][2:6] = [10, 20, 110, 120]
    state, view = _ok(controller.apply_table(state, rows))
    assert "Corrected R1" in view.message and view.table[0][6] == "corrected"
    state, _ = _ok(controller.ask(state, _labelled(turns[1].question, "R1")))
    record = state.items[-1].result.record
    assert record.reference_text == _paper_text((10, 20, 110, 120), state.image_wh)
    assert record.reference_source == "ground_truth"
    state, view = _ok(controller.export(state, "my-dialogue"))
    jsonl, archive = (Path(p) for p in view.files)
    obj = json.loads(jsonl.read_text(encoding="utf-8"))
    assert dialogue_problems(obj, path=str(jsonl)) == []
    assert obj["turns"][0]["targets"][0]["bbox"] == [10, 20, 110, 120]
    assert obj["turns"][1]["refers_to"] == 0 and "{ref}" in obj["turns"][1]["question"]
    assert obj["meta"]["corrections"][0]["label"] == "R1"
    assert obj["meta"]["regionreasoner_version"] == regionreasoner.__version__
    assert obj["image"] == "images/my-dialogue.png" and obj["image_wh"] == [320, 240]
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    assert cli_main(["validate", str(folder / jsonl.name), "--images-root", str(folder)]) == 0
    with Image.open(folder / obj["image"]) as image:
        assert image.size == (320, 240)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda rows: rows[0].__setitem__(0, "R7"), "R7, which is not a region"),
        (lambda rows: rows[0].__setitem__(2, "ten"), "x1 is not a number"),
        (lambda rows: rows[0].__setitem__(4, -5), "empty or outside"),
        (lambda rows: rows.append(list(rows[0])), "two rows for R1"),
        (lambda rows: rows.pop(), "lost the rows of R1"),
    ],
    ids=["unknown-label", "not-a-number", "inverted", "duplicate", "missing"],
)
def test_bad_table_edits_change_nothing(
    make_controller: Callable, examples: ExampleSet, edit: Any, needle: str
) -> None:
    controller = make_controller()
    state = _start(controller, examples)
    state, _ = _ok(controller.ask(state, examples.examples[0].dialogue.turns[0].question))
    before = state.regions["R1"].xyxy
    rows = [list(r) for r in state.table_rows()]
    edit(rows)
    state, view = _error(controller.apply_table(state, rows), needle)
    assert state.regions["R1"].xyxy == before
    assert view.table == state.table_rows()  # the table is shown as it was


def _two_regions(request: GenerationRequest) -> Generation:
    return Generation(
        "<scene>s</scene><think>t</think><answer>["
        '{"bbox_2d": [0, 0, 84, 84], "point_2d": [42, 42]}, '
        '{"bbox_2d": [420, 420, 840, 840], "point_2d": [600, 600]}]</answer>',
        0.0,
    )


def test_export_puts_the_cited_region_first_and_refuses_conflicts(
    make_controller: Callable, examples: ExampleSet
) -> None:
    controller = make_controller(backend=ScriptedBackend(_two_regions))
    state = _start(controller, examples)
    state, _ = _ok(controller.ask(state, "the two things"))
    assert state.items[0].labels == ["R1", "R2"]
    state, _ = _ok(controller.ask(state, "what is left of R2"))
    state, view = _ok(controller.export(state, "d1"))
    obj = json.loads(Path(view.files[0]).read_text(encoding="utf-8"))
    # R2 (image box [160, 120, 320, 240]) becomes the first target of turn 0
    assert [t["bbox"] for t in obj["turns"][0]["targets"]] == [[160, 120, 320, 240], [0, 0, 32, 24]]
    assert obj["turns"][1]["refers_to"] == 0
    assert dialogue_problems(obj) == []
    state, _ = _ok(controller.ask(state, "what is right of R1"))
    _error(controller.export(state, "d1"), "cite both R2 and R1")


@pytest.mark.parametrize(
    ("dialogue_id", "needle"),
    [("../escape", "dialogue id"), ("a b", "dialogue id"), ("-x", "dialogue id")],
)
def test_export_refuses_bad_ids(
    make_controller: Callable, examples: ExampleSet, dialogue_id: str, needle: str
) -> None:
    controller = make_controller()
    state = _start(controller, examples)
    state, _ = _ok(controller.ask(state, examples.examples[0].dialogue.turns[0].question))
    _error(controller.export(state, dialogue_id), needle)


def test_export_leaves_out_failed_questions_and_needs_a_region(
    make_controller: Callable, examples: ExampleSet
) -> None:
    replies = iter([Generation("", 0.1, error="HTTP 500"), Generation(_ANSWER, 0.1)])
    controller = make_controller(backend=ScriptedBackend(lambda r: next(replies)))
    state = _start(controller, examples)
    _error(controller.export(state, "d"), "Nothing to download")
    state, _ = _error(controller.ask(state, "the cup"), "HTTP 500")
    state, _ = _ok(controller.ask(state, "the cup"))
    state, view = _ok(controller.export(state, "d"))
    assert "question 1 ('the cup') is left out: the backend failed" in view.message
    obj = json.loads(Path(view.files[0]).read_text(encoding="utf-8"))
    assert len(obj["turns"]) == 1 and obj["turns"][0]["turn_index"] == 0


def test_reset_forgets_the_dialogue_and_restarts_the_labels(
    make_controller: Callable, examples: ExampleSet
) -> None:
    controller = make_controller()
    state = _start(controller, examples)
    question = examples.examples[0].dialogue.turns[0].question
    state, _ = _ok(controller.ask(state, question))
    state, view = _ok(controller.reset(state))
    assert state.items == [] and view.table == [] and view.files == []
    assert "No questions yet" in view.history
    state, _ = _ok(controller.ask(state, question))
    assert list(state.regions) == ["R1"]


def test_the_oracle_hints_list_the_example_questions(
    make_controller: Callable, examples: ExampleSet
) -> None:
    controller = make_controller()
    _, view = controller.select_example(None, examples.examples[1].example_id)
    for turn in examples.examples[1].dialogue.turns:
        assert turn.question.split("{ref}")[0].strip() in view.hints
    assert "oracle backend knows the answers" in view.hints


class _ChatServer:
    """A scripted OpenAI-compatible chat server on 127.0.0.1 (one reply per request)."""

    def __init__(self, replies: list[tuple[int, str, threading.Event | None]]) -> None:
        self.replies = replies
        self.bodies: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append(body)
                status, content, gate = server.replies[len(server.bodies) - 1]
                if gate is not None:  # answer only once the test opens the gate
                    gate.wait(60)
                payload = json.dumps(
                    {
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": content}}
                        ]
                    }
                    if status == 200
                    else {"error": content}
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(ConnectionError):  # the client gave up (timeout)
                    self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def spec(self) -> str:
        return f"openai:http://127.0.0.1:{self.httpd.server_address[1]}/v1#test-model"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_an_openai_compatible_server_answers_and_its_failures_are_shown(
    make_controller: Callable, examples: ExampleSet
) -> None:
    late = threading.Event()
    server = _ChatServer(
        [
            (200, _ANSWER, None),
            (200, _ANSWER, None),
            (500, "overloaded", None),
            (200, _ANSWER, late),
        ]
    )
    try:
        backend = load_backend(server.spec, BackendOptions(request_timeout_s=60, max_retries=0))
        controller = make_controller(backend=backend, timeout_s=None)
        state = _start(controller, examples)
        state, _ = _ok(controller.ask(state, "the cup"))
        state, _ = _ok(controller.ask(state, "the plate under R1"))
        user = server.bodies[1]["messages"][-1]["content"]
        texts = [part["text"] for part in user if part["type"] == "text"]
        images = [part for part in user if part["type"] == "image_url"]
        # R1 = [32, 40, 64, 80] in the 320x240 image -> [84, 140, 168, 280] in 840x840
        assert any('"the plate under bbox=[84,140,168,280]"' in t for t in texts)
        assert images and images[0]["image_url"]["url"].startswith("data:image/png;base64,")
        state, _ = _error(controller.ask(state, "the cup"), "500")
        controller.engine.timeout_s = 0.5  # the server holds the next answer until `late`
        state, _ = _error(controller.ask(state, "the cup"), "within 0.5 s")
        assert [item.failed for item in state.items] == [False, False, True, True]
    finally:
        late.set()
        server.close()


def test_an_unchanged_picture_is_not_sent_to_the_page_again(
    make_controller: Callable, examples: ExampleSet, tmp_path: Path
) -> None:
    pytest.importorskip("gradio")
    from regionreasoner.serve.app import _unless_shown

    controller = make_controller()
    skip = object()
    state, view = _ok(controller.select_example(None, examples.examples[0].example_id))
    assert _unless_shown(state, view.image, skip) is view.image
    # a refused upload draws the same picture: not sent again (Gradio would rewrite the
    # file the page may still be fetching)
    state, view = _error(controller.upload(state, _text_as_png(tmp_path / "x.png")))
    assert _unless_shown(state, view.image, skip) is skip
    state, view = controller.click(state, (10, 10))  # a corner marker: a new picture
    assert _unless_shown(state, view.image, skip) is view.image
    other, view = _ok(controller.select_example(state, examples.examples[1].example_id))
    assert _unless_shown(other, view.image, skip) is view.image
    assert _unless_shown(None, None, skip) is None
