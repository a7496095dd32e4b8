"""The Gradio page of ``regionreasoner serve``, wired to :class:`ServeController`.

This is the only module of the package that imports Gradio (the ``serve`` extra); the
logic lives in :mod:`regionreasoner.serve.controller`. Elements carry stable ids
(``rr-question``, ``rr-ask``, ``rr-status``, ...) that the browser tests use.

Two rules keep what the page shows and what the server holds together:

* every event of the page runs in one queue (:data:`PAGE_EVENTS`, one at a time, in
  arrival order), so an action always reads the state the previous one left;
* the hidden ``rr-image-token`` holds the token of the image on screen, sent with each
  action on the image (ask, click, add a box, apply edits, reset, export); the
  controller refuses an action whose token is not the session's current one.

The upload box takes any file (no Gradio type filter): every refusal (wrong type,
undecodable, too many pixels, too many bytes) then comes from the controller, in the
status box, rather than some from Gradio's transient pop-up.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regionreasoner._imports import is_available, require
from regionreasoner.data.images import DEFAULT_MAX_IMAGE_PIXELS
from regionreasoner.dialogue.engine import Engine, EngineSettings
from regionreasoner.dialogue.interactive import DEFAULT_ANSWER_TIMEOUT_S, InteractiveEngine
from regionreasoner.errors import ConfigError
from regionreasoner.serve.controller import (
    BYTES_PER_MB,
    DEFAULT_MAX_UPLOAD_MB,
    ServeController,
    ServeSettings,
    View,
)
from regionreasoner.serve.examples import DEFAULT_EXAMPLES, ExampleSet, build_examples
from regionreasoner.serve.render import CSS
from regionreasoner.serve.state import TABLE_HEADERS, DialogueState

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts that keep the page private to this machine."""

UPLOAD_HARD_LIMIT_FACTOR = 4
UPLOAD_HARD_LIMIT_MIN_BYTES = 100_000_000
"""Gradio refuses uploads above max(4x --max-upload-mb, 100 MB) before they reach the app
(a memory guard); smaller over-limit files get the app's own message."""

GRADIO_CACHE_CLEANUP = (3600, 3600)
"""Every hour, Gradio deletes the files it cached (uploads, downloads) over an hour old."""

PAGE_EVENTS = "rr-page"
"""Concurrency group of every event of the page: Gradio runs them one at a time (its
default limit, 1), so an upload and a question sent together never interleave. Model
work is serialised by the engine anyway; the cost is that a click waits for another
session's answer."""

IMAGE_DIGEST_BYTES = 16

TABLE_DATATYPES = ["str", "str", "number", "number", "number", "number", "str"]
TABLE_COLUMN_WIDTHS = ["14%", "30%", "11%", "11%", "11%", "11%", "12%"]


def _close_state(state: Any) -> None:
    if isinstance(state, DialogueState):
        state.close()


@dataclass(frozen=True, kw_only=True)
class ServeConfig(EngineSettings):
    """Everything ``regionreasoner serve`` is started with.

    The engine's settings (:class:`~regionreasoner.dialogue.engine.EngineSettings`:
    model, protocol, frame, prompt, segmenter, decoding, ``hf`` placement) with the
    page's defaults (``box-fill`` masks: no download, instant; no retries: the user asks
    again), plus:

    Attributes:
        request_timeout_s: seconds to wait for an answer (also the backend's timeout).
        max_upload_mb: largest accepted upload.
        examples: example images built on start (0: uploads only).
    """

    segmenter: str = "box-fill"
    request_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S
    max_retries: int = 0
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    examples: int = DEFAULT_EXAMPLES

    def __post_init__(self) -> None:
        if not self.max_upload_mb > 0:
            raise ConfigError(f"--max-upload-mb must be > 0, got {self.max_upload_mb}")
        if not self.request_timeout_s > 0:
            raise ConfigError(f"--request-timeout must be > 0, got {self.request_timeout_s}")
        if self.examples < 0:
            raise ConfigError(f"--examples must be >= 0, got {self.examples}")
        super().__post_init__()


@dataclass
class ServeApp:
    """A built page: the Gradio ``Blocks`` and its controller.

    Attributes:
        blocks: the Gradio app.
        controller: the page's logic (and, through it, the engine).
        work_dir: a temporary folder removed by :meth:`close` (examples, exports).
    """

    blocks: Any
    controller: ServeController
    work_dir: Path | None = field(default=None)

    def launch(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        block: bool = True,
        quiet: bool = False,
    ) -> str:
        """Serve the page; returns its local URL.

        Args:
            host: interface to bind (``127.0.0.1``: this machine only).
            port: TCP port.
            block: wait until interrupted (Ctrl-C), then close; ``False`` returns at once
                (tests) and :meth:`close` stops the server.
            quiet: no start-up banner.

        Raises:
            OSError: the port cannot be bound.
        """
        if host not in LOCAL_HOSTS:
            logger.warning(
                "serving on %s: anyone who can reach this address can use the "
                "model and read what is uploaded",
                host,
            )
        limit = self.controller.settings.max_upload_bytes
        _, url, _ = self.blocks.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=True,
            show_error=True,
            quiet=quiet,
            ssr_mode=False,
            css=CSS,
            allowed_paths=[str(self.controller.settings.export_dir)],
            max_file_size=max(UPLOAD_HARD_LIMIT_FACTOR * limit, UPLOAD_HARD_LIMIT_MIN_BYTES),
        )
        if block:
            try:
                self.blocks.block_thread()
            finally:
                self.close()
        return url

    def close(self) -> None:
        """Stop the server and release the model, the segmenter and the exports."""
        self.blocks.close()
        self.controller.close()
        self.controller.engine.close()
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def image_digest(image: Any) -> str:
    """A digest of a drawn picture (mode, size and pixels)."""
    digest = hashlib.blake2b(digest_size=IMAGE_DIGEST_BYTES)
    digest.update(f"{image.mode}{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def _unless_shown(state: Any, image: Any, skip: Any) -> Any:
    """``image``, or ``skip`` when it is the picture last sent for ``state``.

    Gradio stores an output picture under a digest of its bytes and rewrites that file
    each time the same picture is sent again, which breaks a fetch of it still in flight
    (seen as a broken image after an error message re-drew an unchanged picture).
    """
    if image is None or not isinstance(state, DialogueState):
        return image
    digest = image_digest(image)
    if digest == state.shown_image_digest:
        return skip
    state.shown_image_digest = digest
    return image


def create_app(config: ServeConfig) -> ServeApp:
    """Load the backend and segmenter, build the examples and the page.

    Raises:
        UnknownComponentError, ConfigError: a bad spec or option.
        MissingDependencyError: an extra (``serve``, ``hf``, ``sam2``...) is missing.
    """
    if not is_available("gradio"):
        require("gradio", extra="serve")  # raises, naming the extra to install
    loaded = Engine.load(config)
    engine = InteractiveEngine(
        loaded.backend,
        loaded.segmenter,
        loaded.protocol,
        loaded.prompt,
        max_new_tokens=config.max_new_tokens,
        timeout_s=config.request_timeout_s,
    )
    work_dir = Path(tempfile.mkdtemp(prefix="regionreasoner-serve-"))
    try:
        examples = build_examples(work_dir / "examples", config.examples)
        app = build_app(
            engine,
            examples,
            model_spec=config.model,
            segmenter_spec=config.segmenter,
            max_upload_bytes=int(config.max_upload_mb * BYTES_PER_MB),
            max_image_pixels=config.max_image_pixels,
            export_dir=work_dir / "exports",
        )
    except BaseException:
        engine.close()
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    app.work_dir = work_dir
    return app


def build_app(
    engine: InteractiveEngine,
    examples: ExampleSet,
    *,
    model_spec: str,
    segmenter_spec: str,
    max_upload_bytes: int,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    export_dir: str | os.PathLike[str] | None = None,
) -> ServeApp:
    """Build the page over ``engine`` (nothing is served until :meth:`ServeApp.launch`).

    Raises:
        MissingDependencyError: Gradio is not installed (the ``serve`` extra).
    """
    gr = require("gradio", extra="serve")
    export_path = (
        Path(export_dir)
        if export_dir is not None
        else Path(tempfile.mkdtemp(prefix="regionreasoner-serve-"))
    )
    controller = ServeController(
        engine,
        examples,
        ServeSettings(
            model_spec=model_spec,
            segmenter_spec=segmenter_spec,
            max_upload_bytes=max_upload_bytes,
            max_image_pixels=max_image_pixels,
            export_dir=export_path,
        ),
    )

    with gr.Blocks(
        title="RegionReasoner", analytics_enabled=False, delete_cache=GRADIO_CACHE_CLEANUP
    ) as blocks:
        state = gr.State(None, delete_callback=_close_state)
        gr.Markdown(
            "## RegionReasoner: multi-round grounding\n"
            f"model `{model_spec}` · protocol `{engine.protocol.name}` · prompt "
            f"`{engine.prompt.name}` · segmenter `{segmenter_spec}`. Ask for an object; "
            "write **R1**, **R2**, ... (or **U1** for a box you drew) to cite a region found "
            "earlier."
        )
        with gr.Row():
            with gr.Column(scale=3):
                image = gr.Image(
                    label="Image (click two opposite corners to enter a box)",
                    type="pil",
                    format="png",
                    interactive=False,
                    elem_id="rr-image",
                    buttons=["download", "fullscreen"],
                )
                image_token = gr.Textbox(visible=False, elem_id="rr-image-token")
                with gr.Row():
                    box = [
                        gr.Number(
                            label=name, value=0, precision=1, min_width=70, elem_id=f"rr-box-{name}"
                        )
                        for name in ("x1", "y1", "x2", "y2")
                    ]
                with gr.Row():
                    description = gr.Textbox(
                        label="Box description",
                        scale=3,
                        elem_id="rr-box-description",
                        placeholder="the expression that finds it, e.g. the red mug",
                    )
                    add_box = gr.Button("Add box as U#", scale=1, elem_id="rr-add-box")
            with gr.Column(scale=2):
                choices = [(e.choice_label(), e.example_id) for e in examples.examples]
                example = gr.Dropdown(
                    choices=choices,
                    value=choices[0][1] if choices else None,
                    label="Example image",
                    elem_id="rr-example",
                    interactive=True,
                )
                upload = gr.File(
                    label="... or upload an image",
                    type="filepath",
                    elem_id="rr-upload",
                    height=110,
                )
                question = gr.Textbox(
                    label="Question",
                    elem_id="rr-question",
                    lines=1,
                    placeholder="e.g. the red circle, or: the shape left of R1",
                )
                with gr.Row():
                    ask = gr.Button("Ask", variant="primary", elem_id="rr-ask")
                    reset = gr.Button("Reset dialogue", elem_id="rr-reset")
                status = gr.HTML(elem_id="rr-status", js_on_load=None)
                answer = gr.HTML(elem_id="rr-answer", js_on_load=None)
                hints = gr.HTML(elem_id="rr-hints", js_on_load=None)
        with gr.Row():
            with gr.Column():
                gr.Markdown("### Dialogue")
                history = gr.HTML(elem_id="rr-history", js_on_load=None)
            with gr.Column():
                gr.Markdown("### Regions: correct a box, then apply")
                table = gr.Dataframe(
                    headers=TABLE_HEADERS,
                    datatype=TABLE_DATATYPES,
                    type="array",
                    interactive=True,
                    static_columns=[0, 1, 6],
                    elem_id="rr-table",
                    column_count=len(TABLE_HEADERS),
                    column_widths=TABLE_COLUMN_WIDTHS,
                )
                apply = gr.Button("Apply box edits", elem_id="rr-apply")
                with gr.Row():
                    dialogue_id = gr.Textbox(label="Dialogue id", elem_id="rr-dialogue-id", scale=2)
                    export = gr.Button("Prepare download", elem_id="rr-export", scale=1)
                files = gr.File(
                    label="RegionDial record (.jsonl) and record + image (.zip)",
                    file_count="multiple",
                    interactive=False,
                    elem_id="rr-files",
                    height=130,
                )

        outputs = [
            state,
            image,
            answer,
            history,
            table,
            status,
            hints,
            *box,
            dialogue_id,
            files,
            image_token,
        ]

        def show(new_state: Any, view: View) -> tuple[Any, ...]:
            skip = gr.skip()
            box_values = list(view.box) if view.box is not None else [skip] * 4
            return (
                new_state,
                _unless_shown(new_state, view.image, skip),
                view.answer,
                view.history,
                view.table,
                view.status,
                view.hints,
                *box_values,
                view.dialogue_id if view.dialogue_id is not None else skip,
                view.files if view.files is not None else skip,
                view.image_token,
            )

        def on_load(current: Any, example_id: str | None) -> tuple[Any, ...]:
            if current is None and example_id:
                return show(*controller.select_example(None, example_id))
            return show(
                current,
                controller.no_image() if current is None else controller.view(current, "Ready."),
            )

        def on_example(current: Any, example_id: str | None) -> tuple[Any, ...]:
            return show(*controller.select_example(current, example_id))

        def on_upload(current: Any, path: str | None) -> tuple[Any, ...]:
            # The upload box is emptied again so the next file can be dropped on it, and
            # the example picker no longer names the image shown.
            new_state, view = controller.upload(current, path)
            picked = None if view.status_kind == "ok" else gr.skip()
            return (*show(new_state, view), None, picked)

        def on_ask(current: Any, token: str, text: str | None) -> tuple[Any, ...]:
            new_state, view = controller.ask(current, text, shown=token)
            cleared = "" if view.status_kind != "error" else gr.skip()
            return (*show(new_state, view), cleared)

        def on_reset(current: Any, token: str) -> tuple[Any, ...]:
            return show(*controller.reset(current, shown=token))

        def on_click(current: Any, token: str, evt: Any) -> tuple[Any, ...]:
            return show(*controller.click(current, evt.index, shown=token))

        # Gradio finds the event-data parameter by its annotation, which must be the class
        # itself (postponed annotations are strings).
        on_click.__annotations__["evt"] = gr.SelectData

        def on_add_box(
            current: Any, token: str, x1: Any, y1: Any, x2: Any, y2: Any, text: str | None
        ) -> tuple[Any, ...]:
            new_state, view = controller.add_user_box(current, x1, y1, x2, y2, text, shown=token)
            cleared = "" if view.status_kind != "error" else gr.skip()
            return (*show(new_state, view), cleared)

        def on_apply(current: Any, token: str, rows: Any) -> tuple[Any, ...]:
            return show(*controller.apply_table(current, rows, shown=token))

        def on_export(current: Any, token: str, text: str | None) -> tuple[Any, ...]:
            return show(*controller.export(current, text, shown=token))

        queue = {"concurrency_id": PAGE_EVENTS}
        shown = [state, image_token]
        blocks.load(on_load, [state, example], outputs, **queue)
        example.input(on_example, [state, example], outputs, **queue)
        upload.upload(on_upload, [state, upload], [*outputs, upload, example], **queue)
        ask.click(on_ask, [*shown, question], [*outputs, question], **queue)
        question.submit(on_ask, [*shown, question], [*outputs, question], **queue)
        reset.click(on_reset, shown, outputs, **queue)
        image.select(on_click, shown, outputs, **queue)
        add_box.click(on_add_box, [*shown, *box, description], [*outputs, description], **queue)
        apply.click(on_apply, [*shown, table], outputs, **queue)
        export.click(on_export, [*shown, dialogue_id], outputs, **queue)
    return ServeApp(blocks, controller)


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServeApp",
    "ServeConfig",
    "build_app",
    "create_app",
]
