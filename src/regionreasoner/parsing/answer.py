"""Parse the JSON answer block into regions.

Two parsers:

* :func:`parse_answer_regions` is tolerant (``paper`` protocol): it accepts code fences,
  a single object instead of a list, numbers written as strings, trailing text,
  truncated JSON (complete items are kept) and items without ``point_2d``.
* :func:`parse_answer_official` reproduces the released evaluation exactly: the text
  between ``<answer>`` and ``</answer>`` must be JSON that is a list of objects each
  with an indexable ``bbox_2d``; any failure there yields no boxes at all, and a
  failure on ``point_2d`` keeps the boxes but yields no points.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from regionreasoner.geometry.regions import Regions

MAX_ANSWER_ITEMS = 10_000
"""Items beyond this count are ignored (and reported) to bound the work per answer."""

_FENCE_RE = re.compile(r"```(?:json|JSON)?")
_OFFICIAL_ANSWER_RE = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
_DECODER = json.JSONDecoder()


def _to_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            out = float(value)
        except OverflowError:  # an int too large for a float
            return None
    elif isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return out if math.isfinite(out) else None


def _coords(value: Any, n: int) -> list[float] | None:
    if isinstance(value, str):
        parts = [p for p in re.split(r"[\s,\[\]()]+", value) if p]
        value = parts
    if not isinstance(value, list | tuple) or len(value) != n:
        return None
    numbers = [_to_number(v) for v in value]
    return None if any(v is None for v in numbers) else numbers  # type: ignore[return-value]


def _complete_objects(text: str) -> list[Any]:
    """Decode every complete top-level ``{...}`` found in a (possibly truncated) text."""
    items: list[Any] = []
    depth, start, in_str, escaped = 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                try:
                    items.append(json.loads(text[start : i + 1]))
                except (ValueError, RecursionError):  # ValueError: JSON errors, digit limit
                    continue
    return items


def _decode(text: str) -> tuple[Any, list[tuple[str, str]]]:
    issues: list[tuple[str, str]] = []
    cleaned = _FENCE_RE.sub("", text).strip()
    starts = [i for i in (cleaned.find("["), cleaned.find("{")) if i >= 0]
    if not starts:
        return None, [("no_json", "the answer holds no JSON list or object")]
    start = min(starts)
    try:
        obj, end = _DECODER.raw_decode(cleaned, start)
        if cleaned[end:].strip():
            issues.append(("trailing_text", "text after the JSON answer was ignored"))
        return obj, issues
    except (ValueError, RecursionError):  # ValueError: JSON errors, int digit limit
        pass
    salvaged = _complete_objects(cleaned[start:])
    if salvaged:
        issues.append(
            ("truncated_json", f"invalid or truncated JSON: kept {len(salvaged)} complete item(s)")
        )
        return salvaged, issues
    return None, [("invalid_json", "the answer is not valid JSON")]


def parse_answer_regions(answer: str | None) -> tuple[Regions, int, list[tuple[str, str]]]:
    """Tolerantly parse an answer block into model-frame regions.

    Args:
        answer: the content of ``<answer>`` (or ``None`` when absent).

    Returns:
        ``(regions, items_total, issues)`` where ``issues`` holds ``(code, message)``
        pairs; invalid items are skipped and reported.
    """
    if answer is None:
        return Regions.empty(), 0, [("missing_answer", "no <answer> block")]
    obj, issues = _decode(answer)
    if obj is None:
        return Regions.empty(), 0, issues
    if isinstance(obj, dict):
        if "bbox_2d" not in obj and "bbox" not in obj:
            return Regions.empty(), 1, [*issues, ("invalid_item", "answer object has no bbox_2d")]
        issues.append(("single_object", "a single object was given instead of a list"))
        obj = [obj]
    elif isinstance(obj, list) and len(obj) == 4 and all(_to_number(v) is not None for v in obj):
        issues.append(("bare_box", "a bare box was given instead of a list of objects"))
        obj = [{"bbox_2d": obj}]
    if not isinstance(obj, list):
        return Regions.empty(), 0, [*issues, ("invalid_json", "the answer is not a list")]
    if len(obj) > MAX_ANSWER_ITEMS:
        issues.append(
            ("too_many_items", f"{len(obj)} items; only the first {MAX_ANSWER_ITEMS} are read")
        )
    boxes: list[list[float]] = []
    points: list[list[float]] = []
    labels: list[str | None] = []
    missing_points = 0
    for index, item in enumerate(obj[:MAX_ANSWER_ITEMS]):
        if not isinstance(item, dict):
            issues.append(("invalid_item", f"item {index} is not an object"))
            continue
        box = _coords(item.get("bbox_2d", item.get("bbox")), 4)
        if box is None:
            issues.append(("invalid_box", f"item {index}: bbox_2d is not 4 finite numbers"))
            continue
        if not (box[2] > box[0] and box[3] > box[1]):
            issues.append(("invalid_box", f"item {index}: bbox_2d {box} is empty or inverted"))
            continue
        point = _coords(item.get("point_2d"), 2)
        if point is None:
            missing_points += 1
            point = [math.nan, math.nan]
        boxes.append(box)
        points.append(point)
        label = item.get("label")
        labels.append(label if isinstance(label, str) else None)
    if missing_points:
        issues.append(("missing_point", f"{missing_points} item(s) without a valid point_2d"))
    if not boxes:
        return Regions.empty(), len(obj), issues
    return Regions(np.array(boxes), np.array(points), tuple(labels)), len(obj), issues


@dataclass(frozen=True, slots=True)
class OfficialAnswer:
    """What the released evaluation extracts from a response (model frame).

    Attributes:
        xyxy: ``(N, 4)`` boxes (``N = 0`` when the answer was rejected).
        points: ``(N, 2)`` points, or ``(0, 2)`` when the points failed to parse (the
            released code then keeps the boxes but has no points).
        reason: why boxes or points were dropped, or ``None``.
    """

    xyxy: np.ndarray
    points: np.ndarray
    reason: str | None = None


def _official_values(seq: Any, n: int, scale: tuple[float, float] | None) -> list[float] | None:
    # The released code indexes seq[0..n-1] and computes int(v * factor + 0.5): anything
    # that is not a list of at least n numbers (bools count, as in Python) fails there.
    if not isinstance(seq, list) or len(seq) < n:
        return None
    values = seq[:n]
    if not all(isinstance(v, int | float) for v in values):
        return None
    try:
        out = [float(v) for v in values]
    except OverflowError:  # int too large for a float: the released code fails there too
        return None
    factors = scale if scale is not None else (1.0, 1.0)
    for i, v in enumerate(out):
        if not math.isfinite(v * factors[i % 2] + 0.5):
            return None
    return out


def parse_answer_official(text: str, scale_xy: tuple[float, float] | None = None) -> OfficialAnswer:
    """Replicate the released evaluation's answer extraction on a full response.

    Args:
        text: the whole model response.
        scale_xy: the model->image factors ``(W/840, H/840)``; used only to reproduce the
            released code's failure on values that overflow when scaled.
    """
    empty2, empty4 = np.zeros((0, 2)), np.zeros((0, 4))
    match = _OFFICIAL_ANSWER_RE.search(text or "")
    if not match:
        return OfficialAnswer(empty4, empty2, "no <answer>...</answer> block")
    try:
        data = json.loads(match.group(1))
    except (ValueError, RecursionError):  # ValueError: JSON errors, int digit limit
        return OfficialAnswer(empty4, empty2, "answer is not valid JSON")
    if not isinstance(data, list):
        return OfficialAnswer(empty4, empty2, "answer JSON is not a list")
    boxes = []
    for item in data:
        box = _official_values(item.get("bbox_2d") if isinstance(item, dict) else None, 4, scale_xy)
        if box is None:
            return OfficialAnswer(empty4, empty2, "an item lacks a usable bbox_2d")
        boxes.append(box)
    xyxy = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    points = []
    for item in data:
        point = _official_values(item.get("point_2d"), 2, scale_xy)
        if point is None:
            return OfficialAnswer(xyxy, empty2, "an item lacks a usable point_2d")
        points.append(point)
    return OfficialAnswer(xyxy, np.array(points, dtype=np.float64).reshape(-1, 2))
