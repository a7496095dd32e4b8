"""Evaluation protocols (DESIGN section 6): how a turn is shown to the model and read back.

A protocol decides the model frame (which size the image is resized to), how a
reference box is converted and written into the question, whether a missing reference
falls back to the ground truth, and how the answer is parsed and mapped back to
original-image pixels.

``paper`` (default)
    The frame is configurable (a :data:`~regionreasoner.geometry.frames.FRAMES` name:
    ``square840``, the released 840x840 square resize; ``native``, Qwen2.5-VL's own
    processor size; ``image``, original pixels; ``rel1000``, Qwen3-VL's relative 0-1000
    grid; ``rel1``, 0-1 floats). The reference is converted into that frame and written
    ``bbox=[x1,y1,x2,y2]`` (integers, or the frame's decimals for ``rel1``), as in
    training. A missing reference stays
    missing (``reference_source: "none"``, the question rendered with
    ``Turn.render_question(None)``) and the turn is asked and scored normally. Answers
    are read with the tolerant parser and mapped back without rounding.

``official``
    Bit-compatible with the released evaluation: 840x840 BILINEAR square resize; the
    reference in ORIGINAL-image pixels written ``str(list)`` (``[47, 107, 303, 466]``),
    the ground truth substituted when the referenced turn predicted nothing
    (``reference_source: "fallback_gt"``); answers read with the released strict
    extraction (:func:`~regionreasoner.parsing.parse_answer_official`) and mapped back
    with ``int(v * W / 840 + 0.5)``. As in the released ``generate_masks``, when the
    points of an answer fail to parse the boxes are kept for detection but the turn gets
    an EMPTY mask (the released box-only branch never ORs its masks). Greedy decoding is
    required.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from regionreasoner.data.schema import Dialogue, Turn
from regionreasoner.dialogue.policy import (
    SOURCE_FALLBACK_GT,
    SOURCE_NONE,
    ReferencePolicy,
    ground_truth_reference,
)
from regionreasoner.dialogue.prompts import PromptTemplate
from regionreasoner.errors import ConfigError
from regionreasoner.geometry.frames import DEFAULT_FRAME, FRAMES, Frame
from regionreasoner.geometry.regions import Regions
from regionreasoner.parsing import ParsedResponse, ParseIssue, parse_answer_official
from regionreasoner.parsing.references import format_reference
from regionreasoner.registry import Registry

CITATION_TOLERANCE_PX = 1.0
"""A box cited in ``<think>`` matches the reference when every coordinate differs by at
most this many steps of the prompt's numbers (pixels for integer frames; ``0.001`` per
step in ``rel1``, see :attr:`Reference.tolerance`)."""

_TOLERANCE_SLACK = 1e-9
"""Relative slack on the citation tolerance for decimal steps (``rel1``) in binary floats."""

RESAMPLE = Image.Resampling.BILINEAR
"""Resampling of the resize into the model frame (the released code's choice)."""

XYXY = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Reference:
    """What was substituted into a turn's ``{ref}`` slot.

    Attributes:
        image_xyxy: the reference box in original-image pixels, or ``None``.
        prompt_xyxy: the numbers written into the prompt (frame of the prompt text).
        text: the substituted text, or ``None`` (nothing substituted).
        source: ``predicted``, ``ground_truth``, ``fallback_gt`` or ``none``.
        missing: the turn cites an earlier region but nothing could be substituted.
        tolerance: how far (per coordinate, in the numbers of the prompt text) a box
            cited in ``<think>`` may be from ``prompt_xyxy`` and still cite it.
    """

    image_xyxy: XYXY | None
    prompt_xyxy: XYXY | None
    text: str | None
    source: str
    missing: bool = False
    tolerance: float = CITATION_TOLERANCE_PX


NO_REFERENCE = Reference(None, None, None, SOURCE_NONE)


@dataclass(frozen=True, slots=True)
class TurnAnswer:
    """A model answer read back into original-image pixels.

    Attributes:
        pred_xyxy: ``(N, 4)`` predicted boxes.
        pred_points: ``(N, 2)`` predicted points, NaN rows where an item had none.
        segment_regions: the regions the segmenter is prompted with.
        parsed: the tolerant parse (tags, citations, issues; model frame).
        issues: every problem found (tolerant parse, plus the strict parser's reason).
        format_ok: well-formed output with at least one usable region.
    """

    pred_xyxy: npt.NDArray[np.float64]
    pred_points: npt.NDArray[np.float64]
    segment_regions: Regions
    parsed: ParsedResponse
    issues: tuple[ParseIssue, ...]
    format_ok: bool


def is_reference(xyxy: npt.ArrayLike, reference: Reference) -> bool:
    """Whether a box cited in ``<think>`` (numbers as written) is the reference as written
    in the prompt, within ``reference.tolerance`` per coordinate (``False`` when nothing
    was substituted)."""
    if reference.prompt_xyxy is None:
        return False
    ref = np.asarray(reference.prompt_xyxy, dtype=np.float64)
    # decimal steps are not exact in binary (0.101 - 0.100 > 0.001): a relative slack
    tolerance = reference.tolerance * (1.0 + _TOLERANCE_SLACK)
    return bool(np.all(np.abs(np.asarray(xyxy, dtype=np.float64) - ref) <= tolerance))


def citation_flags(parsed: ParsedResponse, reference: Reference) -> tuple[bool | None, bool | None]:
    """``(cited_reference, hallucinated_citation)`` of a response.

    The reference counts as cited when any box cited in ``<think>`` (any style) equals
    the reference as written in the prompt within ``reference.tolerance``
    (:func:`is_reference`). A citation is hallucinated when ``<think>`` cites a
    ``bbox``-prefixed box that is not the reference. Both are ``None`` when nothing was
    substituted.
    """
    if reference.prompt_xyxy is None:
        return None, None
    matches = [is_reference(c.xyxy, reference) for c in parsed.cited]
    cited = any(matches)
    hallucinated = any(
        not match and c.style != "bare" for c, match in zip(parsed.cited, matches, strict=True)
    )
    return cited, hallucinated


class EvalProtocol(ABC):
    """How turns are presented and answers read back.

    Attributes:
        name: registry name.
        frame_name: the model frame (a :data:`FRAMES` name).
        gt_fallback: substitute the ground truth when the predicted reference is missing.
        parser: ``tolerant`` or ``official`` (for ``config.json``).
        fixed_frame: the one frame the protocol allows, or ``None`` (any frame).
    """

    name: ClassVar[str]
    gt_fallback: ClassVar[bool]
    parser: ClassVar[str]
    fixed_frame: ClassVar[str | None] = None

    def __init__(self, frame_name: str = DEFAULT_FRAME) -> None:
        self.frame_name = frame_name
        self.frame_spec = FRAMES.get(frame_name)

    def frame(self, image_wh: tuple[int, int]) -> Frame:
        """The model frame of an image of size ``image_wh``."""
        return self.frame_spec(image_wh)

    def to_model_image(self, image: Image.Image, frame: Frame) -> Image.Image:
        """``image`` resized into ``frame`` (unchanged when the sizes agree)."""
        if tuple(image.size) == tuple(frame.model_wh):
            return image
        return image.resize(frame.model_wh, RESAMPLE)

    def check_decoding(self, *, greedy: bool) -> None:  # noqa: B027 (optional hook)
        """Raise ``ConfigError`` when the decoding settings break the protocol."""

    def reference(
        self,
        dialogue: Dialogue,
        turn: Turn,
        policy: ReferencePolicy,
        predictions: Mapping[int, npt.NDArray[np.float64]],
        frame: Frame,
    ) -> Reference:
        """What to substitute into ``turn`` (``NO_REFERENCE`` when it cites nothing)."""
        if not turn.has_reference:
            return NO_REFERENCE
        image_xyxy, source = policy.choose(dialogue, turn, predictions)
        if image_xyxy is None and self.gt_fallback and turn.refers_to is not None:
            image_xyxy, source = (
                ground_truth_reference(dialogue, turn.refers_to),
                SOURCE_FALLBACK_GT,
            )
        if image_xyxy is None:
            return Reference(None, None, None, SOURCE_NONE, missing=True)
        prompt_xyxy, text = self.write_reference(image_xyxy, frame)
        return Reference(
            image_xyxy, prompt_xyxy, text, source, tolerance=self.citation_tolerance(frame)
        )

    def citation_tolerance(self, frame: Frame) -> float:
        """Citation tolerance of the references this protocol writes in ``frame``."""
        return CITATION_TOLERANCE_PX * frame.unit

    @abstractmethod
    def write_reference(self, image_xyxy: XYXY, frame: Frame) -> tuple[XYXY, str]:
        """``(numbers as written, text)`` of a reference box given in image pixels."""

    @abstractmethod
    def read_answer(self, text: str, prompt: PromptTemplate, frame: Frame) -> TurnAnswer:
        """Parse ``text`` and map its regions into original-image pixels."""

    def describe(self) -> dict[str, Any]:
        """Settings for ``config.json``."""
        return {
            "name": self.name,
            "frame": self.frame_name,
            "frame_spec": self.frame_spec.describe(),
            "gt_fallback": self.gt_fallback,
            "parser": self.parser,
            "resample": RESAMPLE.name,
        }


class PaperProtocol(EvalProtocol):
    """References in the model frame as ``bbox=[...]``, no GT fallback, tolerant parsing."""

    name: ClassVar[str] = "paper"
    gt_fallback: ClassVar[bool] = False
    parser: ClassVar[str] = "tolerant"

    def write_reference(self, image_xyxy: XYXY, frame: Frame) -> tuple[XYXY, str]:
        """The box converted into the model frame (integers, or the frame's decimals),
        written ``bbox=[...]``."""
        model = tuple(float(v) for v in frame.to_model_xyxy([image_xyxy])[0])
        text = format_reference(model, style="bbox=", decimals=frame.decimals)
        return model, text  # type: ignore[return-value]

    def read_answer(self, text: str, prompt: PromptTemplate, frame: Frame) -> TurnAnswer:
        """Tolerant parse; regions mapped back without rounding."""
        parsed = prompt.parse(text)
        regions = parsed.regions_in_image(frame)
        return TurnAnswer(
            pred_xyxy=regions.xyxy,
            pred_points=regions.points,
            segment_regions=regions,
            parsed=parsed,
            issues=parsed.issues,
            format_ok=parsed.format_ok,
        )


class OfficialProtocol(EvalProtocol):
    """The released evaluation, reproduced exactly (see the module docstring)."""

    name: ClassVar[str] = "official"
    gt_fallback: ClassVar[bool] = True
    parser: ClassVar[str] = "official"
    fixed_frame: ClassVar[str | None] = DEFAULT_FRAME

    def __init__(self, frame_name: str = DEFAULT_FRAME) -> None:
        if frame_name != self.fixed_frame:
            raise ConfigError(
                f"the official protocol always uses the {self.fixed_frame} frame (the released "
                f"840x840 resize); got --frame {frame_name}"
            )
        super().__init__(frame_name)

    def check_decoding(self, *, greedy: bool) -> None:
        """The released evaluation decodes greedily."""
        if not greedy:
            raise ConfigError("the official protocol uses greedy decoding; drop --temperature")

    def write_reference(self, image_xyxy: XYXY, frame: Frame) -> tuple[XYXY, str]:
        """The box in original pixels, written as Python's ``str(list)``."""
        return image_xyxy, format_reference(image_xyxy, style="official")

    def citation_tolerance(self, frame: Frame) -> float:
        """References are written in original-image pixels."""
        return CITATION_TOLERANCE_PX

    def read_answer(self, text: str, prompt: PromptTemplate, frame: Frame) -> TurnAnswer:
        """The released strict extraction, scaled by ``int(v * W / 840 + 0.5)``."""
        parsed = prompt.parse(text)
        official = parse_answer_official(text, frame.scale_xy)
        pred_xyxy = frame.to_image_xyxy(official.xyxy, rounded=True).reshape(-1, 4)
        has_points = len(official.points) == len(official.xyxy) and len(official.xyxy) > 0
        if has_points:
            pred_points = frame.to_image_points(official.points, rounded=True).reshape(-1, 2)
            segment_regions = Regions(pred_xyxy, pred_points)
        else:
            pred_points = np.full((len(pred_xyxy), 2), np.nan)
            segment_regions = Regions.empty()  # released quirk: box-only masks are dropped
        issues = parsed.issues
        if official.reason is not None:
            issues = (*issues, ParseIssue("official_rejected", official.reason))
        return TurnAnswer(
            pred_xyxy=pred_xyxy,
            pred_points=pred_points,
            segment_regions=segment_regions,
            parsed=parsed,
            issues=issues,
            format_ok=parsed.format_ok and official.reason is None and len(pred_xyxy) > 0,
        )


PROTOCOLS: Registry[type[EvalProtocol]] = Registry("protocol")
PROTOCOLS.register("paper", PaperProtocol)
PROTOCOLS.register("official", OfficialProtocol)


def get_protocol(name: str, *, frame: str = DEFAULT_FRAME) -> EvalProtocol:
    """The protocol registered as ``name``, in the model frame ``frame``.

    Raises:
        UnknownComponentError: unknown protocol or frame name.
        ConfigError: a frame the protocol does not allow.
    """
    return PROTOCOLS.get(name)(frame)
