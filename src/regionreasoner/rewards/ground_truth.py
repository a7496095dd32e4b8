"""The ground truth of one reward call, validated strictly.

A reward's ground truth (the ``solution`` column of the training data) is a JSON list of
``{"bbox_2d": [x1, y1, x2, y2], "point_2d": [x, y]}`` in the MODEL frame. A malformed
ground truth is a data bug, not a bad completion: it raises :class:`DataFormatError`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from regionreasoner.errors import DataFormatError
from regionreasoner.rewards.frames import FRAME_KEY, IMAGE_WH_KEY

_SOLUTION_CACHE_SIZE = 4096
"""Distinct solution strings kept parsed (GRPO scores each prompt's solution G times)."""


@dataclass(frozen=True, slots=True, eq=False)
class GroundTruth:
    """Validated target objects of one question (MODEL frame, read-only arrays).

    Attributes:
        xyxy: ``(N, 4)`` float boxes, ``N >= 1``, ``x1 <= x2`` and ``y1 <= y2``.
        points: ``(N, 2)`` float points.
        rows_xyxy, rows_points: the same values as tuples (for the pure-Python path).
    """

    xyxy: npt.NDArray[np.float64]
    points: npt.NDArray[np.float64]
    rows_xyxy: tuple[tuple[float, ...], ...]
    rows_points: tuple[tuple[float, ...], ...]

    def __len__(self) -> int:
        return len(self.xyxy)


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataFormatError(f"expected a number, got {value!r}", field=field)
    try:
        out = float(value)
    except OverflowError:
        raise DataFormatError(f"number out of range: {value!r}", field=field) from None
    if not math.isfinite(out):
        raise DataFormatError(f"expected a finite number, got {value!r}", field=field)
    return out


def _vector(item: Mapping[str, Any], key: str, size: int, index: int) -> list[float]:
    field = f"solution[{index}].{key}"
    if key not in item:
        raise DataFormatError(f"missing {key!r}", field=f"solution[{index}]")
    value = item[key]
    if not isinstance(value, list | tuple) or len(value) != size:
        raise DataFormatError(f"expected a list of {size} numbers, got {value!r}", field=field)
    return [_number(v, f"{field}[{i}]") for i, v in enumerate(value)]


def _from_items(items: Any) -> GroundTruth:
    if not isinstance(items, list | tuple):
        raise DataFormatError(
            f"expected a JSON list of objects, got {type(items).__name__}", field="solution"
        )
    if not items:
        raise DataFormatError("the ground truth holds no object", field="solution")
    boxes, points = [], []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise DataFormatError(
                f"expected an object, got {type(item).__name__}", field=f"solution[{index}]"
            )
        box = _vector(item, "bbox_2d", 4, index)
        if box[2] < box[0] or box[3] < box[1]:
            raise DataFormatError(
                f"inverted box {box} (need x1 <= x2 and y1 <= y2)",
                field=f"solution[{index}].bbox_2d",
            )
        boxes.append(box)
        points.append(_vector(item, "point_2d", 2, index))
    xyxy = np.array(boxes, dtype=np.float64)
    pts = np.array(points, dtype=np.float64)
    xyxy.flags.writeable = False
    pts.flags.writeable = False
    return GroundTruth(
        xyxy, pts, tuple(tuple(box) for box in boxes), tuple(tuple(p) for p in points)
    )


@functools.lru_cache(maxsize=_SOLUTION_CACHE_SIZE)
def _from_json(text: str) -> GroundTruth:
    try:
        items = json.loads(text)
    except (ValueError, RecursionError) as e:  # ValueError covers JSONDecodeError
        raise DataFormatError(f"the ground truth is not valid JSON ({e})", field="solution") from e
    return _from_items(items)


def parse_solution(solution: str | Sequence[Mapping[str, Any]] | GroundTruth) -> GroundTruth:
    """Validate a ground truth given as JSON text, a list of objects, or a GroundTruth.

    Args:
        solution: ``[{"bbox_2d": [x1, y1, x2, y2], "point_2d": [x, y]}, ...]`` (model
            frame), as a JSON string or already decoded.

    Returns:
        The validated :class:`GroundTruth` (JSON strings are cached).

    Raises:
        DataFormatError: invalid JSON, an empty list, a missing key, a non-finite or
            non-numeric coordinate, or an inverted box; the message names the field.

    >>> parse_solution('[{"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3]}]').xyxy.tolist()
    [[1.0, 2.0, 3.0, 4.0]]
    """
    if isinstance(solution, GroundTruth):
        return solution
    if isinstance(solution, str):
        return _from_json(solution)
    return _from_items(solution)


PACKED_SOLUTION_KEY = "solution"
PACKED_PROBLEM_KEY = "problem"
"""Keys of a packed ground truth ``{"solution": [...], "problem": "..."}`` (plus, for a
row written in another frame than the reward frame, ``"frame"`` and ``"image_wh"``:
:mod:`regionreasoner.rewards.frames`)."""


def pack_solution(
    solution: str | Sequence[Mapping[str, Any]],
    problem: str | None,
    *,
    frame: str | None = None,
    image_wh: Sequence[int] | None = None,
) -> str:
    """Pack targets and question into one JSON ground truth (EasyR1's reward interface
    passes only the ground truth, so the reference boxes must travel inside it).

    Args:
        frame, image_wh: the frame the solution and the problem are written in and the
            original image size; packed only when ``frame`` is given.

    >>> pack_solution('[{"bbox_2d": [1, 2, 3, 4]}]', "find bbox=[0,0,1,1]")
    '{"solution": [{"bbox_2d": [1, 2, 3, 4]}], "problem": "find bbox=[0,0,1,1]"}'
    """
    items = json.loads(solution) if isinstance(solution, str) else list(solution)
    packed: dict[str, Any] = {PACKED_SOLUTION_KEY: items, PACKED_PROBLEM_KEY: problem}
    if frame is not None:
        packed[FRAME_KEY] = frame
        packed[IMAGE_WH_KEY] = None if image_wh is None else [int(v) for v in image_wh]
    return json.dumps(packed, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class PackedGroundTruth:
    """A ground truth split into its parts (:func:`unpack_ground_truth`).

    Attributes:
        solution: the targets (JSON text, or decoded).
        problem: the question, or ``None``.
        frame: the frame the solution and problem are written in, or ``None`` (the
            reward frame).
        image_wh: the original image size as packed (checked by
            :func:`~regionreasoner.rewards.frames.row_frame`), or ``None``.
    """

    solution: Any
    problem: str | None = None
    frame: str | None = None
    image_wh: Any = None


def unpack_solution(ground_truth: Any) -> tuple[Any, str | None]:
    """Split a ground truth into ``(solution, problem)`` (see :func:`unpack_ground_truth`).

    >>> unpack_solution('{"solution": [], "problem": "find it"}')
    ([], 'find it')
    """
    unpacked = unpack_ground_truth(ground_truth)
    return unpacked.solution, unpacked.problem


def unpack_ground_truth(ground_truth: Any) -> PackedGroundTruth:
    """Split a ground truth into its solution, problem and frame.

    Accepts a packed object ``{"solution": [...], "problem": "...", "frame": "...",
    "image_wh": [W, H]}`` (as JSON text or a mapping; all but ``solution`` may be
    absent) or a plain solution (JSON list text or list), which has no problem and no
    frame.

    Raises:
        DataFormatError: the text is not JSON, or a packed object lacks ``solution`` or
            has a non-string ``problem`` or ``frame``.
    """
    value = ground_truth
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as e:
            raise DataFormatError(
                f"the ground truth is not valid JSON ({e})", field="ground_truth"
            ) from e
    if isinstance(value, Mapping):
        if PACKED_SOLUTION_KEY not in value:
            raise DataFormatError(
                "a packed ground truth needs a 'solution' key", field="ground_truth"
            )
        problem, frame = value.get(PACKED_PROBLEM_KEY), value.get(FRAME_KEY)
        if problem is not None and not isinstance(problem, str):
            raise DataFormatError("'problem' must be a string", field="ground_truth.problem")
        if frame is not None and not isinstance(frame, str):
            raise DataFormatError("'frame' must be a string", field="ground_truth.frame")
        return PackedGroundTruth(
            value[PACKED_SOLUTION_KEY], problem, frame, value.get(IMAGE_WH_KEY)
        )
    return PackedGroundTruth(value)
