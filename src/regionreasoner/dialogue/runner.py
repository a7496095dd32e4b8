"""The round-synchronous multi-round evaluation engine.

Dialogues are processed in windows of ``window`` dialogues. Inside a window, round k
(turn k of every dialogue that has one) is generated once round k-1 is done, in batches
of ``batch_size`` requests: a batch of N dialogues costs about one model call per round,
not N. Each turn's reference comes from the turns answered before it (or from the rows
of an interrupted run), through the reference policy and the protocol.

Every image is read through the guarded loader (:mod:`regionreasoner.data.images`), as
stored (no EXIF rotation: the record's boxes refer to the stored pixels). Its header is
checked against the pixel limit and the record's ``image_wh`` before the run starts
(:func:`check_images`). Per dialogue, the image is decoded at most once, when its window
starts (and only when the backend or the segmenter needs pixels: the ``oracle`` and
``replay`` backends with ``box-fill`` read only the header), resized into the model
frame once, and its segmenter session (SAM2's image embedding) is opened once and reused
for every turn. When only the backend needs pixels, a large image is decoded reduced
(JPEG draft mode, else an integer ``reduce``) to no less than twice the model frame;
when the segmenter needs them (``sam2``), it is decoded at full size (see
:meth:`DialogueRunner.pixels_min_wh`).

Rows go to an ``emit`` callback as soon as each turn is finished; ``end_round`` is
called after every round (:func:`regionreasoner.evaluate` fsyncs there). Each turn is
asked and read back by the functions of :mod:`regionreasoner.dialogue.turns`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from regionreasoner.backends.base import (
    DEFAULT_MAX_NEW_TOKENS,
    Backend,
    Generation,
    GenerationRequest,
    turn_metadata,
)
from regionreasoner.data.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    ImageHeader,
    load_image,
    read_image_header,
)
from regionreasoner.data.io import resolve_image_path
from regionreasoner.data.schema import Dialogue, Turn
from regionreasoner.dialogue.policy import ReferencePolicy
from regionreasoner.dialogue.prompts import PromptTemplate
from regionreasoner.dialogue.protocols import (
    EvalProtocol,
    Reference,
)
from regionreasoner.dialogue.turns import ask_turn, finish_turn, record_prediction
from regionreasoner.errors import BackendError, DataFormatError
from regionreasoner.evaluation.predictions import TurnKey
from regionreasoner.geometry.boxes import as_xyxy_array
from regionreasoner.geometry.frames import Frame
from regionreasoner.segmenters.base import Segmenter, SegmenterSession

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8
"""Requests per backend call."""

DEFAULT_WINDOW = 256
"""Dialogues in flight at once (their images and segmenter sessions stay in memory)."""

Row = dict[str, Any]


@dataclass
class RunStats:
    """What a run did.

    Attributes:
        turns: turns answered (rows emitted).
        failed: of which the backend failed.
        model_calls: ``backend.generate`` calls.
        model_s: seconds spent inside ``backend.generate``.
        wall_s: seconds of the whole run.
        rounds: rounds completed (summed over windows).
    """

    turns: int = 0
    failed: int = 0
    model_calls: int = 0
    model_s: float = 0.0
    wall_s: float = 0.0
    rounds: int = 0

    @property
    def overhead_ms_per_turn(self) -> float | None:
        """Milliseconds per turn spent outside the model."""
        if not self.turns:
            return None
        return 1000.0 * (self.wall_s - self.model_s) / self.turns


def _record(dialogue: Dialogue) -> str:
    return f"dialogue {dialogue.dialogue_id}"


class _ImageSlot:
    """One image of a window: header, pixels (decoded once), model-frame copies, session.

    Args:
        path: the image file.
        header: its header (size checked against the limit and the record).
        max_pixels: the pixel limit (checked again when the pixels are decoded).
        min_wh: the smallest size the pixels may be reduced to (``None``: full size).
        data_path, record: where the image is referred to (for located errors).
    """

    def __init__(
        self,
        path: Path,
        header: ImageHeader,
        *,
        max_pixels: int,
        min_wh: tuple[int, int] | None,
        data_path: str,
        record: str,
    ) -> None:
        self.path = path
        self.image_wh = header.stored_wh
        self.max_pixels = max_pixels
        self.min_wh = min_wh
        self.data_path = data_path
        self.record = record
        self._pixels: Image | None = None
        self._model_images: dict[tuple[int, int], Image] = {}
        self._session: SegmenterSession | None = None

    def pixels(self) -> Image:
        """The RGB pixels as stored, at full size or reduced to no less than
        ``REDUCING_GAP * min_wh`` (decoded on the first call).

        Raises:
            ImageError: the file is damaged (e.g. truncated), changed since its header
                was read, or its pixel mode has no RGB conversion.
        """
        if self._pixels is None:
            self._pixels = load_image(
                self.path,
                max_pixels=self.max_pixels,
                min_wh=self.min_wh,
                expected_wh=self.image_wh,
                data_path=self.data_path,
                record=self.record,
            ).pixels
        return self._pixels

    def model_image(self, frame: Frame, protocol: EvalProtocol) -> Image:
        image = self._model_images.get(frame.model_wh)
        if image is None:
            image = protocol.to_model_image(self.pixels(), frame)
            self._model_images[frame.model_wh] = image
        return image

    def session(self, segmenter: Segmenter) -> SegmenterSession:
        if self._session is None:
            pixels = self.pixels() if segmenter.needs_pixels else None
            self._session = segmenter.open(pixels, image_wh=self.image_wh)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        self._pixels = None
        self._model_images.clear()


@dataclass
class _Active:
    """A dialogue in flight."""

    dialogue: Dialogue
    slot: _ImageSlot
    frame: Frame
    predictions: dict[int, npt.NDArray[np.float64]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Pending:
    active: _Active
    turn: Turn
    reference: Reference
    question: str
    request: GenerationRequest


def check_images(
    dialogues: Sequence[Dialogue],
    *,
    data_path: str | Path,
    images_root: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> None:
    """Fail early (before any model is loaded or any output written) on a bad image.

    Reads every image's header (no pixel is decoded) through the guarded loader: the
    file must exist, be an image, have at most ``max_pixels`` pixels and the size the
    record's ``image_wh`` declares. A file that is damaged further in (e.g. truncated
    pixel data) is only found when it is decoded.

    Raises:
        ImageError: the first missing, unreadable or oversized image, located at the
            data file and its dialogue.
        DataFormatError: the first image whose size differs from ``image_wh``.
    """
    for dialogue in dialogues:
        read_image_header(
            resolve_image_path(dialogue, data_path, images_root),
            max_pixels=max_pixels,
            expected_wh=dialogue.image_wh,
            data_path=str(data_path),
            record=_record(dialogue),
        )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DialogueRunner:
    """Runs dialogues turn by turn through a backend, a protocol and a segmenter.

    Args:
        backend: generates the answers.
        segmenter: turns predicted regions into masks (``none``: no masks).
        protocol: frame, reference writing, fallback, answer parsing.
        policy: which box is the reference of a later turn.
        prompt: the prompt template.
        data_path: the benchmark file (images are relative to its folder).
        images_root: a different root folder for the images.
        batch_size: requests per backend call.
        window: dialogues in flight at once.
        max_new_tokens: generation budget per turn.
        max_pixels: largest image accepted (stored pixels; the loader's limit).
    """

    def __init__(
        self,
        backend: Backend,
        segmenter: Segmenter,
        protocol: EvalProtocol,
        policy: ReferencePolicy,
        prompt: PromptTemplate,
        *,
        data_path: str | Path,
        images_root: str | Path | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        window: int = DEFAULT_WINDOW,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> None:
        if batch_size < 1 or window < 1 or max_new_tokens < 1:
            raise ValueError("batch_size, window and max_new_tokens must be >= 1")
        self.backend = backend
        self.segmenter = segmenter
        self.protocol = protocol
        self.policy = policy
        self.prompt = prompt
        self.data_path = Path(data_path)
        self.images_root = Path(images_root) if images_root is not None else None
        self.batch_size = batch_size
        self.window = window
        self.max_new_tokens = max_new_tokens
        self.max_pixels = max_pixels

    # ------------------------------------------------------------------ images

    def image_path(self, dialogue: Dialogue) -> Path:
        """The image file of a dialogue (paths escaping the root are rejected when the
        data file is read)."""
        return resolve_image_path(dialogue, self.data_path, self.images_root)

    def check_images(self, dialogues: Sequence[Dialogue]) -> None:
        """Fail early on a missing, unreadable or oversized image (see :func:`check_images`)."""
        check_images(
            dialogues,
            data_path=self.data_path,
            images_root=self.images_root,
            max_pixels=self.max_pixels,
        )

    @property
    def needs_pixels(self) -> bool:
        """Whether the backend or the segmenter needs decoded pixels."""
        return self.backend.needs_image or (
            self.segmenter.produces_masks and self.segmenter.needs_pixels
        )

    def pixels_min_wh(self, image_wh: tuple[int, int]) -> tuple[int, int] | None:
        """The size an image's pixels may be reduced to: the model frame, or ``None``
        (full size) when the segmenter needs pixels.

        A segmenter returns masks in the pixels it is given (``sam2`` checks them against
        ``image_wh``); decoding reduced and scaling the masks back up would make them
        blockier than the masks the released evaluation computed on the full image. The
        memory this costs stays bounded by the pixel limit (3 bytes per pixel).
        """
        if self.segmenter.produces_masks and self.segmenter.needs_pixels:
            return None
        return self.protocol.frame(image_wh).model_wh

    def _slot(self, dialogue: Dialogue, slots: dict[Path, _ImageSlot]) -> _ImageSlot:
        path = self.image_path(dialogue)
        record = _record(dialogue)
        slot = slots.get(path)
        if slot is None:
            header = read_image_header(
                path,
                max_pixels=self.max_pixels,
                expected_wh=dialogue.image_wh,
                data_path=str(self.data_path),
                record=record,
            )
            slot = _ImageSlot(
                path,
                header,
                max_pixels=self.max_pixels,
                min_wh=self.pixels_min_wh(header.stored_wh),
                data_path=str(self.data_path),
                record=record,
            )
            slots[path] = slot
        elif dialogue.image_wh is not None and tuple(dialogue.image_wh) != slot.image_wh:
            raise DataFormatError(
                f"image_wh {list(dialogue.image_wh)} differs from the image size "
                f"{list(slot.image_wh)} of {path}",
                path=str(self.data_path),
                record=record,
                field="image_wh",
            )
        width, height = slot.image_wh
        for turn in dialogue.turns:
            mask = turn.targets[0].mask if turn.targets else None
            if mask is not None and list(mask.get("size", [])) != [height, width]:
                raise DataFormatError(
                    f"mask size {mask.get('size')} differs from the image [H, W] {[height, width]}",
                    path=str(self.data_path),
                    record=record,
                    field=f"turns[{turn.turn_index}].targets[0].mask.size",
                )
        return slot

    # ------------------------------------------------------------------ run

    @staticmethod
    def pending_turns(
        dialogues: Sequence[Dialogue], done: Mapping[TurnKey, Row] | None = None
    ) -> int:
        """How many turns of ``dialogues`` have no row in ``done``."""
        done = done or {}
        return sum((d.dialogue_id, t.turn_index) not in done for d in dialogues for t in d.turns)

    def run(
        self,
        dialogues: Sequence[Dialogue],
        *,
        done: Mapping[TurnKey, Row] | None = None,
        emit: Callable[[Row], None],
        end_round: Callable[[], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> RunStats:
        """Answer every turn of ``dialogues`` that has no row in ``done``.

        Args:
            dialogues: the dialogues (e.g. one shard).
            done: rows of an interrupted run, keyed by ``(dialogue_id, turn_index)``;
                they are not redone, and their predicted boxes feed later references.
            emit: receives each finished turn's row, in completion order.
            end_round: called after each round (durability point).
            progress: called with the number of turns just finished.

        Returns:
            Counts and timings.
        """
        done = done or {}
        stats = RunStats()
        start = time.perf_counter()
        todo = [
            d for d in dialogues if any((d.dialogue_id, t.turn_index) not in done for t in d.turns)
        ]
        for window in _chunks(todo, self.window):
            self._run_window(window, done, emit, end_round, progress, stats)
        stats.wall_s = time.perf_counter() - start
        return stats

    def _run_window(
        self,
        window: Sequence[Dialogue],
        done: Mapping[TurnKey, Row],
        emit: Callable[[Row], None],
        end_round: Callable[[], None] | None,
        progress: Callable[[int], None] | None,
        stats: RunStats,
    ) -> None:
        slots: dict[Path, _ImageSlot] = {}
        try:
            actives = []
            for dialogue in window:
                slot = self._slot(dialogue, slots)
                if self.needs_pixels:
                    # decoded now, so a damaged image stops the run before this
                    # window's first round (the pixels are kept for the window anyway)
                    slot.pixels()
                active = _Active(dialogue, slot, self.protocol.frame(slot.image_wh))
                for turn in dialogue.turns:
                    row = done.get((dialogue.dialogue_id, turn.turn_index))
                    if row is not None:
                        active.predictions[turn.turn_index] = _row_boxes(row)
                actives.append(active)
            rounds = max(len(d.turns) for d in window)
            for turn_index in range(rounds):
                due = [
                    a
                    for a in actives
                    if turn_index < len(a.dialogue.turns)
                    and (a.dialogue.dialogue_id, turn_index) not in done
                ]
                if not due:
                    continue
                for batch in _chunks(due, self.batch_size):
                    rows = self._run_batch(batch, turn_index, stats)
                    for row in rows:
                        emit(row)
                    if progress is not None:
                        progress(len(rows))
                stats.rounds += 1
                if end_round is not None:
                    end_round()
        finally:
            for slot in slots.values():
                slot.close()

    def _pending(self, active: _Active, turn: Turn) -> _Pending:
        asked = ask_turn(
            self.protocol,
            self.policy,
            self.prompt,
            active.dialogue,
            turn,
            active.predictions,
            active.frame,
        )
        reference, question = asked.reference, asked.question
        image = (
            active.slot.model_image(active.frame, self.protocol)
            if self.backend.needs_image
            else None
        )
        request = GenerationRequest(
            image=image,
            user_text=asked.user_text,
            system=asked.system,
            max_new_tokens=self.max_new_tokens,
            metadata=turn_metadata(
                active.dialogue.dialogue_id,
                turn.turn_index,
                active.frame,
                reference.prompt_xyxy,
                turn,
            ),
        )
        return _Pending(active, turn, reference, question, request)

    def _run_batch(self, batch: Sequence[_Active], turn_index: int, stats: RunStats) -> list[Row]:
        pending = [self._pending(a, a.dialogue.turns[turn_index]) for a in batch]
        started = time.perf_counter()
        generations = self.backend.generate([p.request for p in pending])
        stats.model_s += time.perf_counter() - started
        stats.model_calls += 1
        if len(generations) != len(pending):
            raise BackendError(
                f"the {self.backend.name} backend returned {len(generations)} "
                f"answers for {len(pending)} requests"
            )
        rows = []
        for item, generation in zip(pending, generations, strict=True):
            rows.append(self._finish(item, generation))
            stats.turns += 1
            stats.failed += generation.failed
        return rows

    def _finish(self, item: _Pending, generation: Generation) -> Row:
        active = item.active
        outcome = finish_turn(
            protocol=self.protocol,
            prompt=self.prompt,
            policy_name=self.policy.name,
            segment=(
                active.slot.session(self.segmenter).segment
                if self.segmenter.produces_masks
                else None
            ),
            dialogue_id=active.dialogue.dialogue_id,
            turn=item.turn,
            reference=item.reference,
            question=item.question,
            request=item.request,
            generation=generation,
            frame=active.frame,
        )
        record_prediction(active.predictions, item.turn.turn_index, outcome.answer)
        return outcome.record.to_row()


def _row_boxes(row: Mapping[str, Any]) -> npt.NDArray[np.float64]:
    if row.get("failed") is True:
        return np.zeros((0, 4))
    try:
        return as_xyxy_array(row.get("pred_bboxes") or [])
    except (TypeError, ValueError) as e:
        raise DataFormatError(
            f"unreadable pred_bboxes of a stored row ({e})",
            record=f"dialogue {row.get('dialogue_id')} turn {row.get('turn_index')}",
            field="pred_bboxes",
        ) from e
