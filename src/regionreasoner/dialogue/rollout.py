"""Dialogue rollouts for training: whole dialogues sampled turn by turn, as ``eval`` asks them.

A GRPO group for one dialogue is ``G`` trajectories. In each trajectory turn 1 is
sampled, its answer is parsed, and its first box becomes the reference that turn 2's
question cites (converted into the model frame and written by the protocol, exactly as
``regionreasoner eval --reference predicted`` does), and so on to the last turn. Every
turn is an INDEPENDENT request (the image and that turn's question; no chat history),
because that is how the evaluation engine asks it: training and evaluation see the same
prompts.

This module is framework-free: the TRL trainer
(:mod:`regionreasoner.integrations.trl_dialogue`) and the veRL interaction
(:mod:`regionreasoner.integrations.verl_dialogue`) plug their own generation in. It
holds:

* :class:`ReferenceCurriculum`: the probability that a later turn cites the
  GROUND-TRUTH box instead of the policy's own box, scheduled from ``start`` to ``end``
  over training (scheduled sampling);
* :class:`ScheduledReferencePolicy`: the seeded per-turn draw between the two;
* :func:`roll_out_dialogues`: the round-synchronous rollout (round ``k`` of every
  trajectory in one generation call);
* :func:`turn_returns`: per-turn rewards -> the quantity GRPO normalises at each turn
  index (the turn's own reward, the dialogue mean, or the discounted reward-to-go).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from regionreasoner.data.images import DEFAULT_MAX_IMAGE_PIXELS, load_image, read_image_header
from regionreasoner.data.schema import Dialogue, Turn
from regionreasoner.dialogue.policy import (
    SOURCE_GROUND_TRUTH,
    SOURCE_NONE,
    PredictedReferencePolicy,
    ReferencePolicy,
    ground_truth_reference,
)
from regionreasoner.dialogue.prompts import PromptTemplate
from regionreasoner.dialogue.protocols import EvalProtocol, TurnAnswer
from regionreasoner.dialogue.turns import AskedTurn, ask_turn, record_prediction
from regionreasoner.errors import BackendError, ConfigError
from regionreasoner.evaluation.metrics import box_hit_any
from regionreasoner.geometry.frames import Frame
from regionreasoner.registry import Registry

XYXY = tuple[float, float, float, float]

# --------------------------------------------------------------------------- curriculum

Schedule = Callable[[float], float]
"""Maps training progress in ``[0, 1]`` to the interpolation weight in ``[0, 1]``."""

CURRICULUM_SCHEDULES: Registry[Schedule] = Registry("curriculum schedule")
CURRICULUM_SCHEDULES.register("linear", lambda progress: progress)
CURRICULUM_SCHEDULES.register("cosine", lambda progress: 0.5 - 0.5 * math.cos(math.pi * progress))
CURRICULUM_SCHEDULES.register("constant", lambda progress: 0.0)


@dataclass(frozen=True, slots=True)
class ReferenceCurriculum:
    """Probability that a later turn cites the ground-truth box, over training.

    ``p(step) = start + (end - start) * schedule(min(1, step / (ramp_fraction *
    total_steps)))``: ``linear`` moves at a constant rate, ``cosine`` slowly at both
    ends, ``constant`` stays at ``start``. With ``ramp_fraction < 1`` the value reaches
    ``end`` early and stays there.

    Attributes:
        start: probability at step 0 (1.0: every later turn cites the ground truth, as
            the released single-turn recipe trains).
        end: probability at the end of the ramp (0.0: the policy's own boxes, as
            evaluated with ``--reference predicted``).
        schedule: a :data:`CURRICULUM_SCHEDULES` name.
        ramp_fraction: share of the training steps over which ``start`` moves to ``end``.

    >>> ReferenceCurriculum(1.0, 0.0).p_ground_truth(step=25, total_steps=100)
    0.75
    >>> ReferenceCurriculum(1.0, 0.0, ramp_fraction=0.5).p_ground_truth(60, 100)
    0.0
    """

    start: float = 1.0
    end: float = 0.0
    schedule: str = "linear"
    ramp_fraction: float = 1.0

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"reference curriculum {name} must be in [0, 1], got {value}")
        if not 0.0 < self.ramp_fraction <= 1.0:
            raise ConfigError(
                f"reference curriculum ramp_fraction must be in (0, 1], got {self.ramp_fraction}"
            )
        CURRICULUM_SCHEDULES.get(self.schedule)  # fail now on an unknown name

    def p_ground_truth(self, step: int, total_steps: int) -> float:
        """The probability at optimizer step ``step`` of ``total_steps`` (0-based)."""
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        progress = min(1.0, max(0.0, step / (self.ramp_fraction * total_steps)))
        weight = CURRICULUM_SCHEDULES.get(self.schedule)(progress)
        return self.start + (self.end - self.start) * weight


class ScheduledReferencePolicy(ReferencePolicy):
    """The ground-truth box with probability ``p_ground_truth``, else the policy's own.

    One draw from ``rng`` per turn that cites an earlier region, in turn order, so a
    trajectory seeded the same way draws the same sources. When the own box is drawn
    but the referenced turn predicted nothing, the reference is missing (the protocol
    decides what that means; ``paper`` asks the turn without one, as at evaluation).

    Args:
        p_ground_truth: probability of the ground truth, in ``[0, 1]``.
        rng: the trajectory's seeded generator.
    """

    name = "scheduled"

    def __init__(self, p_ground_truth: float, rng: random.Random) -> None:
        if not 0.0 <= p_ground_truth <= 1.0:
            raise ValueError(f"p_ground_truth must be in [0, 1], got {p_ground_truth}")
        self.p_ground_truth = p_ground_truth
        self.rng = rng
        self._predicted = PredictedReferencePolicy()

    def choose(
        self,
        dialogue: Dialogue,
        turn: Turn,
        predictions: Mapping[int, npt.NDArray[np.float64]],
    ) -> tuple[XYXY | None, str]:
        """One seeded draw: the first GT box of turn ``refers_to`` or the policy's own."""
        if turn.refers_to is None:
            return None, SOURCE_NONE
        if self.rng.random() < self.p_ground_truth:
            return ground_truth_reference(dialogue, turn.refers_to), SOURCE_GROUND_TRUTH
        return self._predicted.choose(dialogue, turn, predictions)


def trajectory_rng(
    seed: int, step: int, dialogue_id: str, slot: int, generation: int
) -> random.Random:
    """The generator of one trajectory: a function of the run seed, the optimizer step,
    the dialogue, its slot in the generation batch and the generation index only, so a
    resumed run draws the same references."""
    return random.Random(f"{seed}:{step}:{dialogue_id}:{slot}:{generation}")


# --------------------------------------------------------------------------- returns

TurnReturn = Callable[[Sequence[float], float], list[float]]
"""``f(rewards by turn, gamma) -> one value per turn`` (what GRPO normalises)."""


def _per_turn(rewards: Sequence[float], gamma: float) -> list[float]:
    return [float(r) for r in rewards]


def _mean(rewards: Sequence[float], gamma: float) -> list[float]:
    return [float(np.mean(rewards))] * len(rewards) if len(rewards) else []


def _discounted(rewards: Sequence[float], gamma: float) -> list[float]:
    out: list[float] = []
    running = 0.0
    for reward in reversed(rewards):
        running = float(reward) + gamma * running
        out.append(running)
    return out[::-1]


TURN_RETURNS: Registry[TurnReturn] = Registry("advantage mode")
TURN_RETURNS.register("per_turn", _per_turn)
TURN_RETURNS.register("mean", _mean)
TURN_RETURNS.register("discounted", _discounted)
ADVANTAGE_MODES = ("per_turn", "mean", "discounted")


def turn_returns(
    rewards: Sequence[float], mode: str = "per_turn", gamma: float = 1.0
) -> list[float]:
    """The value each turn of one trajectory is credited with, before group normalisation.

    * ``per_turn``: ``x_t = r_t``, the turn's own reward;
    * ``mean``: ``x_t = (1/T) sum_k r_k``, the dialogue's mean reward, for every turn;
    * ``discounted``: ``x_t = sum_{k >= t} gamma^(k - t) r_k``, the discounted
      reward-to-go (a turn is credited with what it and the turns after it earned: its
      box is what later questions cite).

    Args:
        rewards: ``r_1 .. r_T`` in turn order.
        mode: an :data:`ADVANTAGE_MODES` name.
        gamma: discount in ``[0, 1]`` (``discounted`` only).

    >>> turn_returns([1.0, 0.0, 2.0], "mean")
    [1.0, 1.0, 1.0]
    >>> turn_returns([1.0, 0.0, 2.0], "discounted", gamma=0.5)
    [1.5, 1.0, 2.0]
    """
    if not 0.0 <= gamma <= 1.0:
        raise ConfigError(f"gamma must be in [0, 1], got {gamma}")
    return TURN_RETURNS.get(mode)(rewards, gamma)


# --------------------------------------------------------------------------- rollout


def turn_messages(asked: AskedTurn) -> list[dict[str, Any]]:
    """The chat messages of one turn, as the ``hf`` evaluation backend sends them: the
    system message when the prompt has one, then one user message holding an image
    placeholder and the text (the chat template decides where the image goes)."""
    messages: list[dict[str, Any]] = []
    if asked.system is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": asked.system}]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": asked.user_text}],
        }
    )
    return messages


def open_model_image(
    path: Path,
    dialogue: Dialogue,
    protocol: EvalProtocol,
    *,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    data_path: str | None = None,
) -> tuple[Image.Image, Frame]:
    """The dialogue's image resized into the protocol's model frame, and that frame.

    The image is read as stored (the record's boxes refer to the stored pixels), refused
    over ``max_pixels`` before decoding, and decoded once, reduced when it is much
    larger than the model frame (:func:`~regionreasoner.data.images.load_image`).

    Raises:
        DataFormatError: a missing, unreadable or oversized image (an ``ImageError``), or
            one whose size disagrees with the record's ``image_wh``; located at
            ``data_path`` (when given) and the dialogue.
    """
    record = f"dialogue {dialogue.dialogue_id}"
    header = read_image_header(
        path,
        max_pixels=max_pixels,
        expected_wh=dialogue.image_wh,
        data_path=data_path,
        record=record,
    )
    frame = protocol.frame(header.stored_wh)
    loaded = load_image(
        path, max_pixels=max_pixels, min_wh=frame.model_wh, data_path=data_path, record=record
    )
    return protocol.to_model_image(loaded.pixels, frame), frame


@dataclass(frozen=True)
class TurnRequest:
    """One turn to generate: which trajectory, the turn, how it is asked, the image.

    Attributes:
        trajectory: index of the trajectory in the rollout batch.
        turn: the turn (ground truth included; never shown to the model).
        asked: the reference, the question and the prompt text.
        image: the image in the model frame.
    """

    trajectory: int
    turn: Turn
    asked: AskedTurn
    image: Image.Image

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of this turn (see :func:`turn_messages`)."""
        return turn_messages(self.asked)


@dataclass(frozen=True)
class GeneratedTurn:
    """What a generator returns for a request: the raw text and whatever the trainer
    needs to keep (e.g. token ids), untouched by the rollout."""

    text: str
    payload: Any = None


Generator = Callable[[Sequence[TurnRequest]], Sequence[GeneratedTurn]]
"""Generates one completion per request (one call per round)."""


@dataclass(frozen=True)
class TurnStep:
    """One generated turn of a trajectory.

    Attributes:
        turn: the turn.
        asked: reference, question (the reward's ``problem``) and prompt text.
        text: the raw completion.
        answer: the protocol's reading of it (image pixels).
        payload: the generator's payload (token ids in TRL).
    """

    turn: Turn
    asked: AskedTurn
    text: str
    answer: TurnAnswer
    payload: Any = None

    @property
    def round(self) -> int:
        """1-based round (from the stored ``turn_index``)."""
        return self.turn.turn_index + 1

    @property
    def hit(self) -> bool:
        """acc@0.5 of this turn: any predicted box with IoU > 0.5 with the first GT box."""
        return box_hit_any(self.answer.pred_xyxy, [t.bbox for t in self.turn.targets])


@dataclass
class DialogueTrajectory:
    """One sampled trajectory through a dialogue.

    Attributes:
        dialogue: the dialogue (ground truth of every turn).
        image: its image in the model frame.
        frame: the model frame.
        policy: chooses each later turn's reference (e.g. :class:`ScheduledReferencePolicy`).
        max_turns: stop after this many turns (``None``: every turn).
        steps: the generated turns, in order.
        predictions: ``turn_index -> (N, 4)`` predicted boxes in image pixels.
    """

    dialogue: Dialogue
    image: Image.Image
    frame: Frame
    policy: ReferencePolicy
    max_turns: int | None = None
    steps: list[TurnStep] = field(default_factory=list)
    predictions: dict[int, npt.NDArray[np.float64]] = field(default_factory=dict)

    @property
    def turns(self) -> tuple[Turn, ...]:
        """The turns this trajectory plays."""
        return self.dialogue.turns[: self.max_turns]

    @property
    def done(self) -> bool:
        """Whether every turn has been answered."""
        return len(self.steps) >= len(self.turns)

    def next_request(
        self, *, protocol: EvalProtocol, prompt: PromptTemplate, trajectory: int = 0
    ) -> TurnRequest:
        """The next turn, asked as the evaluation runner asks it
        (:func:`~regionreasoner.dialogue.turns.ask_turn`: the policy's reference, written
        by the protocol in this trajectory's frame).

        Raises:
            ValueError: the trajectory is done.
        """
        if self.done:
            raise ValueError(f"dialogue {self.dialogue.dialogue_id}: every turn is answered")
        turn = self.turns[len(self.steps)]
        asked = ask_turn(
            protocol, self.policy, prompt, self.dialogue, turn, self.predictions, self.frame
        )
        return TurnRequest(trajectory, turn, asked, self.image)

    def record(
        self,
        request: TurnRequest,
        result: GeneratedTurn,
        *,
        protocol: EvalProtocol,
        prompt: PromptTemplate,
    ) -> TurnStep:
        """Read ``result`` back (``protocol.read_answer``) and store its boxes where later
        references look them up (:func:`~regionreasoner.dialogue.turns.record_prediction`)."""
        answer = protocol.read_answer(result.text, prompt, self.frame)
        record_prediction(self.predictions, request.turn.turn_index, answer)
        step = TurnStep(request.turn, request.asked, result.text, answer, result.payload)
        self.steps.append(step)
        return step


def roll_out_dialogues(
    trajectories: Sequence[DialogueTrajectory],
    generate: Generator,
    *,
    protocol: EvalProtocol,
    prompt: PromptTemplate,
) -> None:
    """Play every trajectory to its last turn, round by round.

    Round ``k`` of every trajectory that has one is generated in ONE ``generate`` call;
    each answer is read back with ``protocol.read_answer`` and its boxes stored where the
    next round's references look them up (:func:`~regionreasoner.dialogue.turns.ask_turn`
    and :func:`~regionreasoner.dialogue.turns.record_prediction`, the functions the
    evaluation runner uses). ``trajectories[i].steps`` are filled in place.

    Raises:
        BackendError: ``generate`` returned the wrong number of completions.
    """
    while True:
        requests = [
            t.next_request(protocol=protocol, prompt=prompt, trajectory=i)
            for i, t in enumerate(trajectories)
            if not t.done
        ]
        if not requests:
            return
        generated = list(generate(requests))
        if len(generated) != len(requests):
            raise BackendError(
                f"the generator returned {len(generated)} completions for {len(requests)} turns"
            )
        for request, result in zip(requests, generated, strict=True):
            trajectories[request.trajectory].record(
                request, result, protocol=protocol, prompt=prompt
            )


__all__ = [
    "ADVANTAGE_MODES",
    "CURRICULUM_SCHEDULES",
    "TURN_RETURNS",
    "DialogueTrajectory",
    "GeneratedTurn",
    "Generator",
    "ReferenceCurriculum",
    "ScheduledReferencePolicy",
    "TurnRequest",
    "TurnStep",
    "open_model_image",
    "roll_out_dialogues",
    "trajectory_rng",
    "turn_messages",
    "turn_returns",
]
