"""One turn, asked and read back: the functions every engine shares.

:func:`ask_turn` builds a turn's question exactly as ``eval`` asks it (the policy's
reference, written by the protocol, in the prompt template); :func:`finish_turn` reads
the generation back, segments and scores it, and builds the ``predictions.jsonl`` row;
:func:`record_prediction` keeps the predicted boxes where later references look them
up. The batch runner (:mod:`regionreasoner.dialogue.runner`), the interactive engine of
``serve`` (:mod:`regionreasoner.dialogue.interactive`) and the training rollouts
(:mod:`regionreasoner.dialogue.rollout`) all go through them, so a turn is asked, parsed
and recorded the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from regionreasoner.backends.base import Generation, GenerationRequest
from regionreasoner.data.schema import Dialogue, Turn
from regionreasoner.dialogue.policy import ReferencePolicy
from regionreasoner.dialogue.prompts import PromptTemplate
from regionreasoner.dialogue.protocols import (
    EvalProtocol,
    Reference,
    TurnAnswer,
    citation_flags,
)
from regionreasoner.dialogue.records import TurnRecord, boxes_to_json, points_to_json
from regionreasoner.geometry.frames import Frame
from regionreasoner.geometry.rle import encode_rle, rle_area, rle_intersection_union


@dataclass(frozen=True)
class AskedTurn:
    """A turn as it is put to the model: the reference chosen, the question, the prompt.

    Attributes:
        reference: what was substituted into ``{ref}`` (``NO_REFERENCE`` when nothing).
        question: the question with the reference written in (the reward's ``problem``).
        user_text: the user message (``prompt.render_user(question)``).
        system: the system message, or ``None`` for the chat template's default.
    """

    reference: Reference
    question: str
    user_text: str
    system: str | None


def ask_turn(
    protocol: EvalProtocol,
    policy: ReferencePolicy,
    prompt: PromptTemplate,
    dialogue: Dialogue,
    turn: Turn,
    predictions: Mapping[int, npt.NDArray[np.float64]],
    frame: Frame,
) -> AskedTurn:
    """Build the question of ``turn`` exactly as ``eval`` asks it.

    The policy chooses the reference box among ``predictions`` (image pixels, by turn
    index) and the ground truth; the protocol converts it into ``frame`` and writes it;
    the prompt template renders the user message. Shared by the evaluation runner and
    the training rollouts (:mod:`regionreasoner.dialogue.rollout`), so training sees the
    very prompts that evaluation asks.
    """
    reference = protocol.reference(dialogue, turn, policy, predictions, frame)
    question = turn.render_question(reference.text)
    return AskedTurn(reference, question, prompt.render_user(question), prompt.system)


def record_prediction(
    predictions: dict[int, npt.NDArray[np.float64]], turn_index: int, answer: TurnAnswer | None
) -> None:
    """Store a turn's predicted boxes (image pixels) where later references look them up;
    a failed turn (``answer is None``) predicted nothing."""
    predictions[turn_index] = answer.pred_xyxy if answer is not None else np.zeros((0, 4))


@dataclass(frozen=True)
class TurnOutcome:
    """One finished turn: its prediction record, the parsed answer and the mask.

    Attributes:
        record: the ``predictions.jsonl`` row as a typed record.
        answer: the protocol's reading of the answer (``None`` for a failed turn).
        mask: the ``(H, W)`` predicted mask (``None`` without a segmenter or answer).
    """

    record: TurnRecord
    answer: TurnAnswer | None
    mask: npt.NDArray[np.bool_] | None


def finish_turn(
    *,
    protocol: EvalProtocol,
    prompt: PromptTemplate,
    policy_name: str,
    segment: Callable[[Any], npt.NDArray[np.bool_]] | None,
    dialogue_id: str,
    turn: Turn,
    reference: Reference,
    question: str,
    request: GenerationRequest,
    generation: Generation,
    frame: Frame,
) -> TurnOutcome:
    """Read a generation back and score it: the one place a turn's record is built.

    Shared by the batch runner and the interactive engine (``serve``), so both parse,
    segment and record a turn identically.

    Args:
        segment: the image's segmenter session ``segment`` (regions -> mask), or
            ``None`` when the segmenter produces no masks.
        question: the question as asked (reference substituted).
        request: the request sent (its ``user_text`` is recorded as the prompt).
    """
    answer: TurnAnswer | None = None
    if not generation.failed:
        answer = protocol.read_answer(generation.text, prompt, frame)
    pred_xyxy = answer.pred_xyxy if answer is not None else np.zeros((0, 4))
    pred_points = answer.pred_points if answer is not None else np.zeros((0, 2))

    gt_mask = turn.targets[0].mask if turn.targets else None
    mask = mask_rle = None
    inter = union = None
    if segment is not None:
        if answer is not None:
            mask = segment(answer.segment_regions)
            # RLE runs are column-major: one transposed copy here, none in the encoder.
            mask_rle = encode_rle(np.asfortranarray(mask.view(np.uint8)))
        if gt_mask is not None:
            if mask_rle is None:
                inter, union = 0, rle_area(gt_mask)
            else:
                inter, union = rle_intersection_union(mask_rle, gt_mask)

    if answer is not None:
        cited, hallucinated = citation_flags(answer.parsed, reference)
        issues = [{"code": i.code, "message": i.message} for i in answer.issues]
        format_ok = answer.format_ok
    else:
        cited = hallucinated = None
        issues = []
        format_ok = False
    record = TurnRecord(
        dialogue_id=dialogue_id,
        turn_index=turn.turn_index,
        refers_to=turn.refers_to,
        relation=turn.relation,
        protocol=protocol.name,
        reference_policy=policy_name,
        question=question,
        prompt=request.user_text,
        text=generation.text,
        text_lost=generation.text_lost,
        failed=generation.failed,
        error=generation.error,
        attempts=generation.attempts,
        latency_s=round(generation.latency_s, 6),
        pred_bboxes=boxes_to_json(pred_xyxy),
        pred_points=points_to_json(pred_points),
        reference_bbox=_box_or_none(reference.image_xyxy),
        reference_prompt_bbox=_box_or_none(reference.prompt_xyxy),
        reference_text=reference.text,
        reference_source=reference.source,
        reference_missing=reference.missing,
        mask=mask_rle,
        gt_bboxes=boxes_to_json([t.bbox for t in turn.targets]),
        gt_mask=gt_mask,
        intersection=inter,
        union=union,
        parse_issues=issues,
        format_ok=format_ok,
        cited_reference=cited,
        hallucinated_citation=hallucinated,
        model_wh=list(frame.model_wh),
        image_wh=list(frame.image_wh),
        frame=protocol.frame_name,
    )
    return TurnOutcome(record, answer, mask)


def _box_or_none(xyxy: Sequence[float] | None) -> list[int | float] | None:
    return None if xyxy is None else boxes_to_json([xyxy])[0]


__all__ = ["AskedTurn", "TurnOutcome", "ask_turn", "finish_turn", "record_prediction"]
