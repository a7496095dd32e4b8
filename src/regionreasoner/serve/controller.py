"""Every action of the page as a plain function of the session state (no web framework).

Each public method of :class:`ServeController` takes the session's
:class:`~regionreasoner.serve.state.DialogueState` (``None`` before an image is chosen)
and the user's input, and returns the new state and a :class:`View` (everything the
page shows). Bad input never raises: it becomes a visible error in ``View.status``
(``UserInputError`` messages are shown as they are; any other exception is logged with
its traceback and shown as an internal error), and the state is left as it was.

Images are read by the guarded loader (:mod:`regionreasoner.data.images`): examples as
stored, uploads turned upright by their EXIF orientation; both are refused over the
pixel limit (``serve --max-image-pixels``) from the header, before decoding. A refused
upload leaves the current image and dialogue as they were.

Every state carries an image token (:attr:`DialogueState.image_token`) that the page
shows beside the image and sends back with each action on it; an action whose token is
not the session's current one (the image changed between what the user saw and what the
server holds) is refused, so a question is never answered on an image other than the
one on screen (the ``shown=`` keyword of the actions).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from regionreasoner import __version__
from regionreasoner.data.dialogue_checks import dialogue_problems
from regionreasoner.data.images import DEFAULT_MAX_IMAGE_PIXELS, Orientation, load_image
from regionreasoner.data.io import write_dialogues
from regionreasoner.data.schema import Turn
from regionreasoner.dialogue.interactive import InteractiveEngine
from regionreasoner.dialogue.protocols import NO_REFERENCE
from regionreasoner.errors import UserInputError
from regionreasoner.fileio import atomic_write
from regionreasoner.serve.drawing import (
    DrawnRegion,
    display_scale,
    display_to_image,
    draw_annotations,
)
from regionreasoner.serve.examples import ExampleSet
from regionreasoner.serve.render import (
    answer_html,
    hints_html,
    history_html,
    status_html,
)
from regionreasoner.serve.state import (
    IMAGES_DIR,
    DialogueState,
    ImageSource,
    format_box,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_MB = 10.0
"""Largest accepted upload (``serve --max-upload-mb``)."""

BYTES_PER_MB = 1_000_000

UPLOAD_ID_HASH_CHARS = 10
"""Hex digits of the image hash in an upload's default dialogue id."""

XYXY = tuple[float, float, float, float]
S = TypeVar("S")


@dataclass(frozen=True)
class View:
    """What the page shows after an action.

    Attributes:
        image: the annotated image (``None``: no image chosen).
        answer: HTML of the latest answer.
        history: HTML of the dialogue so far.
        table: rows of the editable region table.
        status: HTML of the status box.
        hints: HTML of the example's questions ("" for uploads).
        box: new values of the box inputs (``None``: leave them).
        dialogue_id: new value of the dialogue id input (``None``: leave it).
        files: the downloadable files (``None``: leave them; ``[]``: clear them).
        status_kind: ``info``, ``ok`` or ``error`` (for tests and logs).
        message: the plain status text.
        image_token: the token of the image shown (``""``: none), which the page sends
            back with the next action on it.
    """

    image: Image.Image | None
    answer: str
    history: str
    table: list[list[Any]]
    status: str
    hints: str
    box: XYXY | None = None
    dialogue_id: str | None = None
    files: list[str] | None = None
    status_kind: str = "info"
    message: str = ""
    image_token: str = ""


@dataclass(frozen=True)
class ServeSettings:
    """Settings of the page that are not part of the engine.

    Attributes:
        model_spec: the ``--model`` spec (shown on the page and stored in exports).
        segmenter_spec: the ``--segmenter`` spec.
        max_upload_bytes: largest accepted upload.
        max_image_pixels: largest accepted image (stored pixels, W x H; checked from the
            header before decoding; ``serve --max-image-pixels``).
        export_dir: folder for the downloadable records.
    """

    model_spec: str
    segmenter_spec: str
    max_upload_bytes: int
    export_dir: Path
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


def answers_from_ground_truth(engine: InteractiveEngine) -> bool:
    """Whether the backend is a test double that answers from ground truth (``oracle``,
    ``replay``: they never look at pixels) rather than a model."""
    return not engine.backend.needs_image


def _guarded(method: Callable[..., tuple[S, View]]) -> Callable[..., tuple[S, View]]:
    """Turn the exceptions of an action into an error shown on the page.

    The wrapped action also takes ``shown=TOKEN``: the image token the page showed when
    the user acted. When given and not the state's own, the action is refused (see
    :meth:`ServeController.check_shown`).
    """

    @functools.wraps(method)
    def wrapper(
        self: ServeController, state: Any, *args: Any, shown: str | None = None, **kwargs: Any
    ) -> tuple[S, View]:
        try:
            if shown is not None:
                self.check_shown(state, shown)
            return method(self, state, *args, **kwargs)
        except UserInputError as e:
            return state, self.view(state, str(e), "error")
        except Exception as e:  # the page's last line of defence: log it, show it, carry on
            logger.exception("internal error in %s", method.__name__)
            return state, self.view(
                state, f"Internal error ({type(e).__name__}: {e}); see the server log.", "error"
            )

    return wrapper


class ServeController:
    """The page's logic over one engine, shared by every browser session.

    Args:
        engine: runs the turns (the same pieces as ``eval``).
        examples: the example images.
        settings: upload limits, export folder, specs for display.
    """

    def __init__(
        self, engine: InteractiveEngine, examples: ExampleSet, settings: ServeSettings
    ) -> None:
        self.engine = engine
        self.examples = examples
        self.settings = settings
        settings.export_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ rendering

    def view(
        self, state: DialogueState | None, message: str, kind: str = "info", **extra: Any
    ) -> View:
        """Render everything for ``state`` with a status message."""
        image = None
        if state is not None:
            image = self.draw(state, pending_xyxy=extra.pop("pending_xyxy", None))
        example = state.source.example if state is not None else None
        return View(
            image=image,
            answer=answer_html(state, self.engine.protocol.name),
            history=history_html(state),
            table=state.table_rows() if state is not None else [],
            status=status_html(message, kind),
            hints=hints_html(example, oracle=answers_from_ground_truth(self.engine)),
            status_kind=kind,
            message=message,
            image_token=state.image_token if state is not None else "",
            **extra,
        )

    def draw(self, state: DialogueState, *, pending_xyxy: XYXY | None = None) -> Image.Image:
        """The annotated image: every region, the latest answer's mask, the cited region."""
        latest = next((item for item in reversed(state.items) if item.kind == "asked"), None)
        cited = latest.cited_label if latest is not None else None
        regions = []
        for region in state.regions.values():
            regions.append(
                DrawnRegion(
                    label=region.label,
                    xyxy=region.xyxy,
                    point_xy=region.point_xy if not region.corrected else None,
                    colour_index=region.item_index,
                    user=region.is_user_box,
                    latest=latest is not None and region.item_index == latest.index,
                    cited=region.label == cited,
                )
            )
        mask = None
        if latest is not None and latest.result is not None and latest.result.mask is not None:
            mask = latest.result.mask
        image, _ = draw_annotations(
            state.context.image,
            regions,
            mask=mask,
            mask_colour_index=latest.index if latest is not None else 0,
            pending_xyxy=pending_xyxy,
            pending_corner=state.pending_corner,
        )
        return image

    def no_image(self) -> View:
        """The view before an image is chosen."""
        return self.view(None, "Pick an example image or upload one.")

    def check_shown(self, state: DialogueState | None, shown: str) -> None:
        """Refuse an action sent for an image other than the session's current one.

        Raises:
            UserInputError: ``shown`` (the token of the image the page showed) is not
                the token of ``state``'s image; the message names the current image.
        """
        current = state.image_token if state is not None else ""
        if shown == current:
            return
        if state is None:
            raise UserInputError(
                "This page's session has no image (the server may have restarted): pick "
                "an example image or upload one."
            )
        raise UserInputError(
            f"The image changed to {state.source.name} before this arrived, so it was not "
            "applied: look at the image now shown and try again."
        )

    def _require(self, state: DialogueState | None) -> DialogueState:
        if state is None:
            raise UserInputError("Pick an example image or upload one first.")
        return state

    # ------------------------------------------------------------------ image choice

    @_guarded
    def select_example(
        self, state: DialogueState | None, example_id: str | None
    ) -> tuple[DialogueState | None, View]:
        """Start a dialogue over an example image."""
        example = self.examples.get(example_id or "")
        if example is None:
            raise UserInputError(f"There is no example {example_id!r}.")
        pixels = load_image(
            example.image_path,
            max_pixels=self.settings.max_image_pixels,
            name=example.image_path.name,
        ).pixels
        source = ImageSource("example", example.example_id, f"{example.example_id}-serve", example)
        new = DialogueState(source, self.engine.open_image(pixels, dialogue_id=example.example_id))
        if state is not None:
            state.close()
        return new, self.view(
            new,
            f"Example {example.example_id} loaded: ask a question.",
            "ok",
            dialogue_id=source.default_dialogue_id,
            files=[],
            box=(0, 0, 0, 0),
        )

    @_guarded
    def upload(
        self, state: DialogueState | None, path: str | os.PathLike[str] | None
    ) -> tuple[DialogueState | None, View]:
        """Start a dialogue over an uploaded image (checked: bytes, pixels, decodable).

        A refused upload keeps the current image and dialogue; the message says so.
        """
        if not path:
            raise UserInputError("No file was uploaded.")
        try:
            pixels, digest = read_upload(
                Path(path),
                max_bytes=self.settings.max_upload_bytes,
                max_pixels=self.settings.max_image_pixels,
            )
        except UserInputError as e:
            kept = (
                f"The image {state.source.name} and its dialogue are kept."
                if state is not None
                else "Pick an example image or upload another one."
            )
            raise UserInputError(f"Upload refused: {str(e).rstrip('.')}. {kept}") from e
        dialogue_id = f"upload-{digest[:UPLOAD_ID_HASH_CHARS]}"
        source = ImageSource("upload", Path(path).name, dialogue_id)
        new = DialogueState(source, self.engine.open_image(pixels, dialogue_id=dialogue_id))
        if state is not None:
            state.close()
        width, height = new.image_wh
        return new, self.view(
            new,
            f"Uploaded {source.name} ({width}x{height}): ask a question.",
            "ok",
            dialogue_id=dialogue_id,
            files=[],
            box=(0, 0, 0, 0),
        )

    # ------------------------------------------------------------------ dialogue

    @_guarded
    def ask(
        self, state: DialogueState | None, question: str | None
    ) -> tuple[DialogueState | None, View]:
        """Ask a question; a region label in it is substituted as ``eval`` does."""
        state = self._require(state)
        resolved = state.resolve_question(question)
        region = resolved.region
        if region is not None:
            reference = self.engine.reference(
                state.context, region.xyxy, source=region.reference_source
            )
        else:
            reference = NO_REFERENCE
        example = state.source.example
        truth = example.match(resolved.template, reference.image_xyxy) if example else None
        if truth is None and answers_from_ground_truth(self.engine):
            where = (
                "this example's questions (listed under the image)"
                if example
                else "the questions of an example image"
            )
            raise UserInputError(
                f"The {self.engine.backend.name} backend has no ground truth for this "
                f"question: it answers only {where}. Serve a model (--model hf:... or "
                "openai:...) to ask anything."
            )
        turn = Turn(
            turn_index=state.next_item_index(),
            question=resolved.template,
            targets=truth.targets if truth is not None else (),
            refers_to=region.item_index if region is not None else None,
            relation=truth.relation if truth is not None else None,
        )
        result = self.engine.ask(state.context, turn, reference)
        item = state.add_asked(resolved, result)
        record = result.record
        if record.failed:
            return state, self.view(
                state, f"Question {item.index + 1} got no answer: {record.error}", "error"
            )
        if not item.labels:
            issues = "; ".join(i["message"] for i in record.parse_issues) or "none"
            return state, self.view(
                state,
                f"The answer to question {item.index + 1} holds no "
                f"region (format issues: {issues}).",
                "error",
            )
        cited = ""
        if region is not None:
            cited = f" {region.label} was substituted as {reference.text}."
        return state, self.view(
            state,
            f"Question {item.index + 1}: found {', '.join(item.labels)} in "
            f"{record.latency_s:.2f} s.{cited}",
            "ok",
        )

    @_guarded
    def reset(self, state: DialogueState | None) -> tuple[DialogueState | None, View]:
        """Forget the dialogue, keep the image."""
        state = self._require(state)
        state.reset()
        return state, self.view(state, "The dialogue was reset.", "ok", files=[], box=(0, 0, 0, 0))

    # ------------------------------------------------------------------ boxes

    @_guarded
    def click(
        self, state: DialogueState | None, display_xy: Sequence[float] | None
    ) -> tuple[DialogueState | None, View]:
        """A click on the image: the first click sets a corner, the second completes a box
        (written into the box inputs, then added with :meth:`add_user_box`)."""
        state = self._require(state)
        if display_xy is None or len(display_xy) != 2:
            raise UserInputError("The click position was not received; click again.")
        xy = display_to_image(display_xy, display_scale(state.image_wh), state.image_wh)
        if state.pending_corner is None:
            state.pending_corner = xy
            return state, self.view(
                state, f"Corner ({xy[0]}, {xy[1]}) set: click the opposite corner.", "info"
            )
        (ax, ay), (bx, by) = state.pending_corner, xy
        state.pending_corner = None
        box = (float(min(ax, bx)), float(min(ay, by)), float(max(ax, bx)), float(max(ay, by)))
        if not (box[2] > box[0] and box[3] > box[1]):
            return state, self.view(
                state, "The two corners make an empty box; click two opposite corners.", "error"
            )
        label = state.peek_label()
        return state, self.view(
            state,
            f"Box {format_box(box)} entered: describe it and press 'Add box' to make it {label}.",
            "info",
            box=box,
            pending_xyxy=box,
        )

    @_guarded
    def add_user_box(
        self,
        state: DialogueState | None,
        x1: Any,
        y1: Any,
        x2: Any,
        y2: Any,
        description: str | None,
    ) -> tuple[DialogueState | None, View]:
        """Add the box of the inputs as a region ``U<n>`` that questions may cite."""
        state = self._require(state)
        region = state.add_user_box((x1, y1, x2, y2), description)
        return state, self.view(
            state,
            f"Added {region.label} {format_box(region.xyxy)}; cite it as "
            f"{region.label} in a question.",
            "ok",
            box=(0, 0, 0, 0),
        )

    @_guarded
    def apply_table(
        self, state: DialogueState | None, rows: Any
    ) -> tuple[DialogueState | None, View]:
        """Take the corrected boxes of the region table."""
        state = self._require(state)
        changed = state.apply_table(_table_rows(rows))
        if not changed:
            return state, self.view(state, "No box changed.", "info")
        return state, self.view(
            state,
            f"Corrected {', '.join(changed)}: later questions that "
            "cite them use the new boxes, and the download stores them.",
            "ok",
        )

    # ------------------------------------------------------------------ export

    @_guarded
    def export(
        self, state: DialogueState | None, dialogue_id: str | None
    ) -> tuple[DialogueState | None, View]:
        """Write the dialogue as a RegionDial JSONL (+ a zip with the image)."""
        state = self._require(state)
        dialogue_id = (dialogue_id or "").strip() or state.source.default_dialogue_id
        dialogue, notes = state.to_dialogue(
            dialogue_id,
            meta={
                "created_with": "regionreasoner serve",
                "regionreasoner_version": __version__,
                "model": self.settings.model_spec,
                "protocol": self.engine.protocol.name,
                "prompt": self.engine.prompt.name,
                "segmenter": self.settings.segmenter_spec,
            },
        )
        problems = [p for p in dialogue_problems(dialogue.to_dict()) if p.severity == "error"]
        if problems:  # a bug of the exporter, not of the user's input
            raise RuntimeError(f"the exported record is invalid: {problems[0]}")
        folder = self.settings.export_dir / uuid.uuid4().hex
        image_rel = Path(dialogue.image)
        with atomic_write(folder / image_rel, "wb") as handle:
            state.context.image.save(handle, format="PNG")
        jsonl = folder / f"{dialogue_id}.jsonl"
        write_dialogues(jsonl, [dialogue])
        archive = folder / f"{dialogue_id}.zip"
        with atomic_write(archive, "wb") as handle, zipfile.ZipFile(handle, "w") as zf:
            zf.write(jsonl, jsonl.name)
            zf.write(folder / image_rel, image_rel.as_posix())
        turns = len(dialogue.turns)
        message = (
            f"Wrote {jsonl.name} ({turns} turn{'s' * (turns != 1)}; image path "
            f"{IMAGES_DIR}/{dialogue_id}.png, included in {archive.name})."
        )
        if notes:
            message += " Left out: " + "; ".join(notes) + "."
        return state, self.view(state, message, "ok", files=[str(jsonl), str(archive)])

    def close(self) -> None:
        """Remove the exported files."""
        shutil.rmtree(self.settings.export_dir, ignore_errors=True)


def read_upload(
    path: Path, *, max_bytes: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> tuple[Image.Image, str]:
    """Check and decode an uploaded image; returns ``(RGB image, sha1 of the file)``.

    The file size is checked first, then the image goes through the guarded loader: its
    header against ``max_pixels`` (nothing decoded over it), the first frame of an
    animation, every pixel mode to RGB, and the EXIF orientation applied, so the image
    is stored and shown upright.

    Raises:
        UserInputError: the file is missing, empty or over ``max_bytes``.
        ImageError: not an image, over ``max_pixels``, damaged (e.g. truncated), or a
            pixel mode with no RGB conversion; the message names the file.
    """
    name = path.name
    try:
        size = path.stat().st_size
    except OSError:
        raise UserInputError(f"The upload {name} could not be read; upload it again.") from None
    if size > max_bytes:
        raise UserInputError(
            f"{name} is {size / BYTES_PER_MB:.2f} MB; the largest accepted "
            f"upload is {max_bytes / BYTES_PER_MB:g} MB (--max-upload-mb)."
        )
    if size == 0:
        raise UserInputError(f"{name} is empty.")
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(functools.partial(handle.read, 1 << 20), b""):
            digest.update(block)
    loaded = load_image(path, max_pixels=max_pixels, orientation=Orientation.EXIF, name=name)
    return loaded.pixels, digest.hexdigest()


def _table_rows(value: Any) -> list[list[Any]]:
    """Rows of a table value (a list of lists, or a DataFrame-like with ``values``)."""
    if value is None:
        return []
    if hasattr(value, "values") and hasattr(value, "columns"):
        value = value.values.tolist()
    elif isinstance(value, dict) and "data" in value:
        value = value["data"]
    return [list(row) for row in value]


__all__ = [
    "DEFAULT_MAX_UPLOAD_MB",
    "ServeController",
    "ServeSettings",
    "View",
    "read_upload",
]
