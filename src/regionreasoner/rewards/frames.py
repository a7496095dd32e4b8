"""The reward frame, and reward rows written in another frame.

The rewards' pixel thresholds (box L1 10 px, point 30 px) are pixels of the released
840x840 frame (:data:`REWARD_FRAME`). A row written in another frame (a ``--frame``
name: Qwen3-VL's 0-1000 grid, 0-1 floats, original pixels...) names that frame and the
original image size; :func:`to_reward_frame` rewrites its completion, problem and
solution into the reward frame with
:func:`~regionreasoner.parsing.coordinates.convert_text_coordinates`, the
:class:`~regionreasoner.geometry.frames.Frame` arithmetic of the evaluation, so a
``rel1000`` completion is rewarded exactly like its ``square840`` twin. Every adapter
goes through here: the TRL reward callables (dataset columns ``frame`` and
``image_wh``), veRL's ``compute_score`` (``extra_info``), EasyR1's (the packed ground
truth) and the veRL dialogue reward (each turn's record);
:func:`~regionreasoner.rewards.score_completion` takes the frame directly.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from regionreasoner.errors import DataFormatError
from regionreasoner.geometry.frames import DEFAULT_FRAME, FRAMES, Frame
from regionreasoner.parsing.coordinates import convert_text_coordinates

REWARD_FRAME = DEFAULT_FRAME
"""The frame rewards are computed in: the released 840x840 square, whose pixels the
rewards' thresholds are set in."""

FRAME_KEY = "frame"
IMAGE_WH_KEY = "image_wh"
"""Where a row names its frame (a ``--frame`` name) and the original image size
``[W, H]`` that frame needs: TRL dataset columns, veRL ``extra_info`` keys, keys of a
packed EasyR1 ground truth, keys of a veRL dialogue turn."""


def reward_frame_of(frame: Frame) -> Frame:
    """The reward frame over the image of ``frame``."""
    return FRAMES.get(REWARD_FRAME)(frame.image_wh)


def solution_text(solution: Any) -> str:
    """A solution as JSON text (decoded JSON is dumped with sorted keys)."""
    if isinstance(solution, str):
        return solution
    return json.dumps(solution, sort_keys=True)


def to_reward_frame(
    frame: Frame, completion: str, problem: str | None, solution: Any
) -> tuple[str, str | None, str]:
    """``(completion, problem, solution)`` written in ``frame``, rewritten into the reward
    frame (unchanged when ``frame`` is the reward frame). ``solution`` may be decoded
    JSON; it comes back as JSON text.

    Raises:
        TypeError: ``solution`` is neither JSON text nor decoded JSON (an already
            validated ``GroundTruth`` holds no text to rewrite).
    """
    target = reward_frame_of(frame)
    text = solution_text(solution)
    if frame == target:
        return completion, problem, text
    return (
        convert_text_coordinates(completion, frame, target),
        None if problem is None else convert_text_coordinates(problem, frame, target),
        convert_text_coordinates(text, frame, target),
    )


def image_wh_of(value: Any) -> tuple[int, int] | None:
    """``(W, H)`` from a two-item sequence of positive integers, else ``None``."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        return None
    try:
        width, height = (operator.index(v) for v in value)
    except TypeError:
        return None
    return (width, height) if width > 0 and height > 0 else None


def row_frame(name: Any, image_wh: Any, *, where: str = "the row") -> Frame | None:
    """The :class:`Frame` a reward row is written in, from its frame name and image size;
    ``None`` when there is nothing to convert (no name, or the reward frame).

    Args:
        name: the row's frame name (``None``: written in the reward frame).
        image_wh: the row's original image size ``[W, H]``.
        where: the row, for the error message (``row 3``, ``reward_inputs[2]``).

    Raises:
        DataFormatError: a row in another frame without a valid ``image_wh``.
        UnknownComponentError: an unknown frame name.
    """
    if name is None or name == REWARD_FRAME:
        return None
    size = image_wh_of(image_wh)
    if size is None:
        raise DataFormatError(
            f"{where} is in frame {name!r}: it needs {IMAGE_WH_KEY!r}, the image size "
            f"[W, H], got {image_wh!r}",
            field=IMAGE_WH_KEY,
        )
    return FRAMES.get(str(name))(size)


def mapping_frame(row: Mapping[str, Any] | None, *, where: str = "the row") -> Frame | None:
    """:func:`row_frame` of a mapping's ``frame`` and ``image_wh`` keys (``None`` for a
    missing mapping or key)."""
    if row is None:
        return None
    return row_frame(row.get(FRAME_KEY), row.get(IMAGE_WH_KEY), where=where)


__all__ = [
    "FRAME_KEY",
    "IMAGE_WH_KEY",
    "REWARD_FRAME",
    "image_wh_of",
    "mapping_frame",
    "reward_frame_of",
    "row_frame",
    "solution_text",
    "to_reward_frame",
]
