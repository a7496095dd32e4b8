"""Reference policies: which box fills the ``{ref}`` slot of a later turn.

- ``predicted`` (default): the model's own FIRST predicted box of the referenced turn,
  so errors propagate through the dialogue as in the paper's protocol. ``None`` when
  that turn predicted nothing (the protocol then decides: ``paper`` marks the reference
  missing, ``official`` falls back to the ground truth).
- ``oracle``: teacher forcing: the FIRST ground-truth box of the referenced turn (the
  comparison the reviewers asked for).

A policy only chooses the box (original-image pixels) and names its source; the
protocol converts it into the prompt's frame and text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from regionreasoner.data.schema import Dialogue, Turn
from regionreasoner.registry import Registry

SOURCE_PREDICTED = "predicted"
SOURCE_GROUND_TRUTH = "ground_truth"
SOURCE_FALLBACK_GT = "fallback_gt"
SOURCE_NONE = "none"
REFERENCE_SOURCES = (SOURCE_PREDICTED, SOURCE_GROUND_TRUTH, SOURCE_FALLBACK_GT, SOURCE_NONE)
"""Values of a prediction row's ``reference_source``: ``none`` = nothing substituted
(the turn cites no earlier region, or its reference is missing)."""

XYXY = tuple[float, float, float, float]


class ReferencePolicy(ABC):
    """Chooses the reference box of a turn that cites an earlier turn."""

    name: ClassVar[str]

    @abstractmethod
    def choose(
        self,
        dialogue: Dialogue,
        turn: Turn,
        predictions: Mapping[int, npt.NDArray[np.float64]],
    ) -> tuple[XYXY | None, str]:
        """The reference of ``turn`` in original-image pixels and its source.

        Args:
            dialogue: the dialogue (ground truth of every turn).
            turn: a turn with ``refers_to`` set.
            predictions: ``turn_index -> (N, 4)`` predicted boxes (image pixels) of the
                turns answered so far.

        Returns:
            ``(xyxy, source)``; ``(None, "none")`` when there is nothing to substitute.
        """


class PredictedReferencePolicy(ReferencePolicy):
    """The model's own first predicted box of the referenced turn."""

    name: ClassVar[str] = "predicted"

    def choose(
        self,
        dialogue: Dialogue,
        turn: Turn,
        predictions: Mapping[int, npt.NDArray[np.float64]],
    ) -> tuple[XYXY | None, str]:
        """First predicted box of turn ``refers_to``, or ``(None, "none")``."""
        boxes = predictions.get(turn.refers_to) if turn.refers_to is not None else None
        if boxes is None or len(boxes) == 0:
            return None, SOURCE_NONE
        return tuple(float(v) for v in boxes[0]), SOURCE_PREDICTED  # type: ignore[return-value]


class OracleReferencePolicy(ReferencePolicy):
    """Teacher forcing: the first ground-truth box of the referenced turn."""

    name: ClassVar[str] = "oracle"

    def choose(
        self,
        dialogue: Dialogue,
        turn: Turn,
        predictions: Mapping[int, npt.NDArray[np.float64]],
    ) -> tuple[XYXY | None, str]:
        """First GT box of turn ``refers_to``."""
        if turn.refers_to is None:
            return None, SOURCE_NONE
        return ground_truth_reference(dialogue, turn.refers_to), SOURCE_GROUND_TRUTH


def ground_truth_reference(dialogue: Dialogue, turn_index: int) -> XYXY:
    """The first ground-truth box of ``dialogue.turns[turn_index]`` (image pixels)."""
    return tuple(float(v) for v in dialogue.turns[turn_index].targets[0].bbox)  # type: ignore[return-value]


REFERENCE_POLICIES: Registry[type[ReferencePolicy]] = Registry("reference policy")
REFERENCE_POLICIES.register("predicted", PredictedReferencePolicy)
REFERENCE_POLICIES.register("oracle", OracleReferencePolicy)


def get_reference_policy(name: str) -> ReferencePolicy:
    """The policy registered as ``name`` (``predicted`` or ``oracle``)."""
    return REFERENCE_POLICIES.get(name)()
