"""One turn at a time through the evaluation engine, for interactive use (``serve``).

``regionreasoner eval`` runs whole dialogues round by round
(:class:`~regionreasoner.dialogue.runner.DialogueRunner`). An interactive page instead
asks ONE question at a time, and the user chooses which earlier region a question cites.
This module runs such a turn with exactly the pieces ``eval`` uses, in the same order:

1. the protocol's model frame and resized image
   (:meth:`~regionreasoner.dialogue.protocols.EvalProtocol.frame`, ``to_model_image``);
2. the protocol's reference writing
   (:meth:`~regionreasoner.dialogue.protocols.EvalProtocol.write_reference`: ``paper``
   writes the box in the model frame as ``bbox=[x1,y1,x2,y2]``, ``official`` writes
   original pixels as ``[x1, y1, x2, y2]``) and ``Turn.render_question``;
3. the prompt template (``render_user``, ``system``) and the backend request with the
   same metadata (so the ``oracle`` test double works when ground truth is known);
4. the protocol's answer reading (``read_answer``), the segmenter session of the image
   (opened once per image, reused for every turn), ``citation_flags``;
5. a :class:`~regionreasoner.dialogue.records.TurnRecord`, the row ``eval`` writes.

The only difference is the choice of the reference box: ``eval`` takes it from a
reference policy (the first predicted box of the cited turn), here the caller passes
the box of the region the user cited (:meth:`InteractiveEngine.reference`). A test
checks that replaying an evaluation dialogue through this module gives the same rows as
the runner.

Model work is serialised: generation runs on one worker thread (so a per-answer timeout
can be enforced for every backend) and segmentation holds a lock (SAM2 sessions share
one predictor).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from regionreasoner.data.schema import Turn
from regionreasoner.dialogue.policy import REFERENCE_SOURCES, SOURCE_PREDICTED
from regionreasoner.dialogue.prompts import PromptTemplate
from regionreasoner.dialogue.protocols import (
    NO_REFERENCE,
    EvalProtocol,
    Reference,
    TurnAnswer,
)
from regionreasoner.dialogue.records import TurnRecord
from regionreasoner.dialogue.turns import finish_turn
from regionreasoner.errors import BackendError, RegionReasonerError
from regionreasoner.geometry.frames import Frame
from regionreasoner.segmenters.base import Segmenter, SegmenterSession

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)

DEFAULT_ANSWER_TIMEOUT_S = 300.0
"""Seconds an interactive turn waits for the backend's answer (``serve --request-timeout``)."""

INTERACTIVE_POLICY = "predicted"
"""``reference_policy`` of interactive rows: the user cites a region the model predicted
(or a box the user drew or corrected; its ``reference_source`` then says so)."""

XYXY = tuple[float, float, float, float]


@dataclass(frozen=True)
class InteractiveTurn:
    """The outcome of one interactive turn.

    Attributes:
        record: the ``predictions.jsonl`` row ``eval`` would write for this turn.
        answer: the parsed answer in original-image pixels, ``None`` when the backend
            failed.
        mask: the ``(H, W)`` union mask of the answer's regions, or ``None`` (segmenter
            ``none``, or a failed turn).
        reference: what was substituted into the question.
    """

    record: TurnRecord
    answer: TurnAnswer | None
    mask: npt.NDArray[np.bool_] | None
    reference: Reference

    @property
    def failed(self) -> bool:
        """Whether the backend gave no answer."""
        return self.record.failed


class ImageContext:
    """One image in an interactive dialogue: its frame, model-frame copy and segmenter
    session (both made on first use and kept for every later turn).

    Args:
        engine: the engine that owns the model work.
        image: the decoded original image (converted to RGB here).
        dialogue_id: the id sent with every request of this image.
    """

    def __init__(self, engine: InteractiveEngine, image: Image, *, dialogue_id: str) -> None:
        self.engine = engine
        self.image = image.convert("RGB")
        self.image_wh: tuple[int, int] = (int(self.image.size[0]), int(self.image.size[1]))
        self.dialogue_id = dialogue_id
        self.frame: Frame = engine.protocol.frame(self.image_wh)
        self._model_image: Image | None = None
        self._session: SegmenterSession | None = None

    def model_image(self) -> Image:
        """The image resized into the model frame (computed once)."""
        if self._model_image is None:
            self._model_image = self.engine.protocol.to_model_image(self.image, self.frame)
        return self._model_image

    def session(self) -> SegmenterSession:
        """The segmenter session of this image (opened once; call under the engine lock)."""
        if self._session is None:
            segmenter = self.engine.segmenter
            pixels = self.image if segmenter.needs_pixels else None
            self._session = segmenter.open(pixels, image_wh=self.image_wh)
        return self._session

    def close(self) -> None:
        """Release the segmenter session (the image stays usable; a new one is opened)."""
        with self.engine.lock:
            if self._session is not None:
                self._session.close()
                self._session = None


class InteractiveEngine:
    """Runs single turns through a backend, a protocol, a prompt and a segmenter.

    Args:
        backend: generates the answers.
        segmenter: turns predicted regions into masks (``none``: no masks).
        protocol: frame, reference writing and answer parsing.
        prompt: the prompt template.
        max_new_tokens: generation budget per turn.
        timeout_s: seconds to wait for an answer (``None``: no limit). A late answer is
            abandoned: the turn is recorded as failed and the app carries on (the worker
            thread finishes the stale request in the background, so later requests wait
            for it).

    Example:
        >>> from PIL import Image
        >>> from regionreasoner.backends import load_backend
        >>> from regionreasoner.data.schema import Target, Turn
        >>> from regionreasoner.dialogue.prompts import get_prompt
        >>> from regionreasoner.dialogue.protocols import get_protocol
        >>> from regionreasoner.segmenters import load_segmenter
        >>> engine = InteractiveEngine(load_backend("oracle"), load_segmenter("box-fill"),
        ...                            get_protocol("paper"), get_prompt("regionreasoner"))
        >>> context = engine.open_image(Image.new("RGB", (420, 210)), dialogue_id="d")
        >>> first = engine.ask(context, Turn(0, "the cup", (Target((0, 0, 42, 21)),)))
        >>> first.record.pred_bboxes
        [[0, 0, 42, 21]]
        >>> ref = engine.reference(context, first.answer.pred_xyxy[0])
        >>> ref.text  # the paper protocol: the model frame (840x840), bbox=[...]
        'bbox=[0,0,84,84]'
        >>> engine.close()
    """

    def __init__(
        self,
        backend: Backend,
        segmenter: Segmenter,
        protocol: EvalProtocol,
        prompt: PromptTemplate,
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        timeout_s: float | None = DEFAULT_ANSWER_TIMEOUT_S,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.backend = backend
        self.segmenter = segmenter
        self.protocol = protocol
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.lock = threading.RLock()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="regionreasoner-generate"
        )

    def open_image(self, image: Image, *, dialogue_id: str) -> ImageContext:
        """A context for a dialogue over ``image``."""
        return ImageContext(self, image, dialogue_id=dialogue_id)

    def reference(
        self, context: ImageContext, image_xyxy: Sequence[float], *, source: str = SOURCE_PREDICTED
    ) -> Reference:
        """The reference the protocol substitutes for a box given in image pixels.

        Args:
            context: the image (its frame decides the conversion).
            image_xyxy: the cited box in original-image pixels.
            source: ``predicted`` (a model prediction) or ``ground_truth`` (a box drawn
                or corrected by a person).
        """
        if source not in REFERENCE_SOURCES:
            raise ValueError(f"unknown reference source {source!r}; one of {REFERENCE_SOURCES}")
        box: XYXY = tuple(float(v) for v in image_xyxy)  # type: ignore[assignment]
        if len(box) != 4:
            raise ValueError(f"a box needs 4 numbers, got {len(box)}")
        prompt_xyxy, text = self.protocol.write_reference(box, context.frame)
        tolerance = self.protocol.citation_tolerance(context.frame)
        return Reference(box, prompt_xyxy, text, source, tolerance=tolerance)

    def build_request(
        self, context: ImageContext, turn: Turn, reference: Reference
    ) -> tuple[str, GenerationRequest]:
        """``(question as asked, request)`` for ``turn`` (as the runner builds them).

        The ground truth (``META_TURN``) is sent only when ``turn`` has targets: without
        it, a backend that needs ground truth (``oracle``) fails the turn clearly instead
        of answering "nothing".
        """
        question = turn.render_question(reference.text)
        metadata = turn_metadata(
            context.dialogue_id,
            turn.turn_index,
            context.frame,
            reference.prompt_xyxy,
            turn if turn.targets else None,
        )
        request = GenerationRequest(
            image=context.model_image() if self.backend.needs_image else None,
            user_text=self.prompt.render_user(question),
            system=self.prompt.system,
            max_new_tokens=self.max_new_tokens,
            metadata=metadata,
        )
        return question, request

    def ask(
        self, context: ImageContext, turn: Turn, reference: Reference = NO_REFERENCE
    ) -> InteractiveTurn:
        """Ask ``turn`` about ``context``'s image and read the answer back.

        Args:
            context: the image.
            turn: the question (with ``{ref}`` and ``refers_to`` when it cites a region)
                and, when known, its ground-truth targets (empty tuple otherwise).
            reference: what fills ``{ref}`` (see :meth:`reference`).

        Returns:
            The record, the parsed answer and the mask. A backend failure (error,
            exception of the library, timeout) is a failed turn, never an exception.

        Raises:
            BackendError: the backend broke its contract (wrong number of answers).
        """
        question, request = self.build_request(context, turn, reference)
        generation = self._generate(request)
        outcome = finish_turn(
            protocol=self.protocol,
            prompt=self.prompt,
            policy_name=INTERACTIVE_POLICY,
            segment=self._segment_with(context) if self.segmenter.produces_masks else None,
            dialogue_id=context.dialogue_id,
            turn=turn,
            reference=reference,
            question=question,
            request=request,
            generation=generation,
            frame=context.frame,
        )
        return InteractiveTurn(outcome.record, outcome.answer, outcome.mask, reference)

    def _segment_with(self, context: ImageContext) -> Callable[[Any], npt.NDArray[np.bool_]]:
        def segment(regions: Any) -> npt.NDArray[np.bool_]:
            with self.lock:
                return context.session().segment(regions)

        return segment

    def _generate(self, request: GenerationRequest) -> Generation:
        started = time.perf_counter()
        future = self._executor.submit(self.backend.generate, [request])
        try:
            generations = future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()  # only helps while it is still queued behind a stale request
            logger.warning(
                "the %s backend gave no answer within %s s", self.backend.name, self.timeout_s
            )
            return Generation(
                "",
                time.perf_counter() - started,
                error=f"no answer from the {self.backend.name} backend within "
                f"{self.timeout_s:g} s (--request-timeout)",
            )
        except RegionReasonerError as e:
            logger.warning("the %s backend failed: %s", self.backend.name, e)
            return Generation(
                "",
                time.perf_counter() - started,
                error=f"the {self.backend.name} backend failed: {e}",
            )
        if len(generations) != 1:
            raise BackendError(
                f"the {self.backend.name} backend returned {len(generations)} answers for 1 request"
            )
        return generations[0]

    def close(self) -> None:
        """Stop the worker thread and release the backend and the segmenter."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.backend.close()
        self.segmenter.close()


__all__ = [
    "DEFAULT_ANSWER_TIMEOUT_S",
    "ImageContext",
    "InteractiveEngine",
    "InteractiveTurn",
]
