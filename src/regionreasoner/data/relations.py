"""Spatial relations between two boxes: exact rules, phrases and a name registry.

A relation ``R(target, reference)`` reads "the target is R the reference", e.g.
``left_of(a, b)``: box ``a`` is to the left of box ``b``. Builders only emit a relation
that holds for the ground-truth boxes, so every rule here is exact and uses named
thresholds (pixels of the original image). The full rule sheet, with formulas, is in
``docs/benchmark.md``; the short version:

* Axis gaps: ``gap_x = max(a.x1, b.x1) - min(a.x2, b.x2)`` (positive: horizontal
  distance between the boxes; negative: minus their horizontal overlap), same for ``y``.
* Contact class, decided in this order so that the contact relations are mutually
  exclusive: ``inside`` (a within b, up to :data:`INSIDE_TOL_PX`, and clearly smaller),
  ``contains`` (the converse), ``overlapping`` (overlap deeper than
  :data:`TOUCH_TOL_PX` on both axes), ``touching`` (edges within :data:`TOUCH_TOL_PX`
  with a shared edge of at least :data:`TOUCH_MIN_SHARED_RATIO` of the smaller side),
  otherwise ``apart``.
* ``next_to``: side by side (rows overlap), horizontally apart by more than the touching
  tolerance and by at most :data:`NEXT_TO_MAX_GAP_RATIO` of the mean width.
* ``left_of``/``right_of``/``above``/``below``: the target lies on that side (up to
  :data:`DIRECTION_TOL_PX`) and that axis dominates the separation.
* ``closest_to``/``farthest_from``: superlatives over the distractors (other objects the
  question's noun could denote), by centre distance with a :data:`DISTANCE_MARGIN_RATIO`
  margin.

Example:
    >>> true_relations((0, 0, 10, 10), (14, 0, 24, 10))
    ('next_to', 'left_of')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from regionreasoner.registry import Registry

Box = tuple[float, float, float, float]
"""An ``xyxy`` box in original-image pixels."""

TOUCH_TOL_PX = 2.0
"""Two edges closer than this (gap or overlap, pixels) are in contact."""

TOUCH_MIN_SHARED_RATIO = 0.25
"""Touching boxes share an edge of at least this fraction of the smaller box's side."""

INSIDE_TOL_PX = 2.0
"""A box may stick out of its container by this many pixels on each side."""

INSIDE_MAX_AREA_RATIO = 0.8
"""An inner box covers at most this fraction of its container's area (else: same box)."""

DIRECTION_TOL_PX = 2.0
"""A target may cross the reference's edge by this many pixels and stay on that side."""

NEXT_TO_MIN_ROW_OVERLAP = 0.5
"""``next_to`` boxes overlap vertically by at least this fraction of the smaller height."""

NEXT_TO_MAX_GAP_RATIO = 0.75
"""``next_to`` boxes are at most this fraction of their mean width apart horizontally."""

DISTANCE_MARGIN_RATIO = 1.25
"""Superlatives need every distractor this many times farther (closest) or nearer
(farthest) than the target, measured between box centres."""


@dataclass(frozen=True, slots=True)
class PairGeometry:
    """Measurements of a (target, reference) pair of boxes.

    Attributes:
        gap_x: horizontal distance between the boxes (negative: minus the overlap).
        gap_y: vertical distance between the boxes (negative: minus the overlap).
        target_wh: ``(w, h)`` of the target box.
        reference_wh: ``(w, h)`` of the reference box.
    """

    gap_x: float
    gap_y: float
    target_wh: tuple[float, float]
    reference_wh: tuple[float, float]


def pair_geometry(target: Box, reference: Box) -> PairGeometry:
    """Axis gaps and sizes of two xyxy boxes."""
    ax1, ay1, ax2, ay2 = target
    bx1, by1, bx2, by2 = reference
    return PairGeometry(
        gap_x=max(ax1, bx1) - min(ax2, bx2),
        gap_y=max(ay1, by1) - min(ay2, by2),
        target_wh=(ax2 - ax1, ay2 - ay1),
        reference_wh=(bx2 - bx1, by2 - by1),
    )


def _within(inner: Box, outer: Box) -> bool:
    return (
        inner[0] >= outer[0] - INSIDE_TOL_PX
        and inner[1] >= outer[1] - INSIDE_TOL_PX
        and inner[2] <= outer[2] + INSIDE_TOL_PX
        and inner[3] <= outer[3] + INSIDE_TOL_PX
    )


def _area(box: Box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def _axis_overlaps(depth: float, min_extent: float) -> bool:
    """An axis overlaps when the overlap is deeper than the touching tolerance, or when it
    spans the whole (thinner) box on that axis."""
    return depth > TOUCH_TOL_PX or (depth > 0 and depth >= min_extent)


def contact_class(target: Box, reference: Box) -> str:
    """The contact class of two boxes, decided in a fixed order.

    Returns:
        ``"inside"``, ``"contains"``, ``"overlapping"``, ``"touching"`` or ``"apart"``.

    >>> contact_class((2, 2, 4, 4), (0, 0, 10, 10))
    'inside'
    >>> contact_class((0, 0, 10, 10), (10, 2, 20, 8))
    'touching'
    """
    return _contact_class(tuple(map(float, target)), tuple(map(float, reference)))  # type: ignore[arg-type]


@lru_cache(maxsize=65536)  # pure; the four contact relations of one pair share the result
def _contact_class(target: Box, reference: Box) -> str:
    if _within(target, reference) and _area(target) <= INSIDE_MAX_AREA_RATIO * _area(reference):
        return "inside"
    if _within(reference, target) and _area(reference) <= INSIDE_MAX_AREA_RATIO * _area(target):
        return "contains"
    g = pair_geometry(target, reference)
    depth_x, depth_y = -g.gap_x, -g.gap_y
    min_w = min(g.target_wh[0], g.reference_wh[0])
    min_h = min(g.target_wh[1], g.reference_wh[1])
    if _axis_overlaps(depth_x, min_w) and _axis_overlaps(depth_y, min_h):
        return "overlapping"
    if abs(g.gap_x) <= TOUCH_TOL_PX and depth_y >= TOUCH_MIN_SHARED_RATIO * min_h:
        return "touching"
    if abs(g.gap_y) <= TOUCH_TOL_PX and depth_x >= TOUCH_MIN_SHARED_RATIO * min_w:
        return "touching"
    return "apart"


def is_inside(target: Box, reference: Box) -> bool:
    """The target box lies within the reference box (and is clearly smaller)."""
    return contact_class(target, reference) == "inside"


def contains(target: Box, reference: Box) -> bool:
    """The reference box lies within the target box (and is clearly smaller)."""
    return contact_class(target, reference) == "contains"


def is_overlapping(target: Box, reference: Box) -> bool:
    """The boxes overlap on both axes (deeper than the tolerance or across the thinner
    box), without nesting."""
    return contact_class(target, reference) == "overlapping"


def is_touching(target: Box, reference: Box) -> bool:
    """The boxes meet along an edge (within the tolerance) without real overlap."""
    return contact_class(target, reference) == "touching"


def is_next_to(target: Box, reference: Box) -> bool:
    """Side by side in one row, close but not in contact.

    ``TOUCH_TOL_PX < gap_x <= NEXT_TO_MAX_GAP_RATIO * (w_a + w_b) / 2`` and the vertical
    overlap ``-gap_y >= NEXT_TO_MIN_ROW_OVERLAP * min(h_a, h_b)``.
    """
    g = pair_geometry(target, reference)
    mean_w = (g.target_wh[0] + g.reference_wh[0]) / 2
    min_h = min(g.target_wh[1], g.reference_wh[1])
    return (
        TOUCH_TOL_PX < g.gap_x <= NEXT_TO_MAX_GAP_RATIO * mean_w
        and -g.gap_y >= NEXT_TO_MIN_ROW_OVERLAP * min_h
    )


def is_left_of(target: Box, reference: Box) -> bool:
    """``a.x2 <= b.x1 + DIRECTION_TOL_PX`` and ``b.x1 - a.x2 >= gap_y``."""
    g = pair_geometry(target, reference)
    return target[2] <= reference[0] + DIRECTION_TOL_PX and reference[0] - target[2] >= g.gap_y


def is_right_of(target: Box, reference: Box) -> bool:
    """``a.x1 >= b.x2 - DIRECTION_TOL_PX`` and ``a.x1 - b.x2 >= gap_y``."""
    g = pair_geometry(target, reference)
    return target[0] >= reference[2] - DIRECTION_TOL_PX and target[0] - reference[2] >= g.gap_y


def is_above(target: Box, reference: Box) -> bool:
    """``a.y2 <= b.y1 + DIRECTION_TOL_PX`` and ``b.y1 - a.y2 >= gap_x`` (y grows down)."""
    g = pair_geometry(target, reference)
    return target[3] <= reference[1] + DIRECTION_TOL_PX and reference[1] - target[3] >= g.gap_x


def is_below(target: Box, reference: Box) -> bool:
    """``a.y1 >= b.y2 - DIRECTION_TOL_PX`` and ``a.y1 - b.y2 >= gap_x``."""
    g = pair_geometry(target, reference)
    return target[1] >= reference[3] - DIRECTION_TOL_PX and target[1] - reference[3] >= g.gap_x


def center_distance(box_a: Box, box_b: Box) -> float:
    """Euclidean distance between the centres of two boxes (pixels)."""
    return math.hypot(
        (box_a[0] + box_a[2]) / 2 - (box_b[0] + box_b[2]) / 2,
        (box_a[1] + box_a[3]) / 2 - (box_b[1] + box_b[3]) / 2,
    )


def is_closest_to(target: Box, reference: Box, distractors: Sequence[Box]) -> bool:
    """Among at least one distractor, the target is clearly the nearest to the reference.

    Every distractor ``c`` needs ``d(c, b) > d(a, b)`` and
    ``d(c, b) >= DISTANCE_MARGIN_RATIO * d(a, b)`` (centre distances).
    """
    if not distractors:
        return False
    d_target = center_distance(target, reference)
    return all(
        (d := center_distance(c, reference)) > d_target and d >= DISTANCE_MARGIN_RATIO * d_target
        for c in distractors
    )


def is_farthest_from(target: Box, reference: Box, distractors: Sequence[Box]) -> bool:
    """Among at least one distractor, the target is clearly the farthest from the reference.

    Every distractor ``c`` needs ``d(a, b) >= DISTANCE_MARGIN_RATIO * d(c, b)`` and
    ``d(a, b) > d(c, b)`` (centre distances).
    """
    if not distractors:
        return False
    d_target = center_distance(target, reference)
    return all(
        d_target > (d := center_distance(c, reference)) and d_target >= DISTANCE_MARGIN_RATIO * d
        for c in distractors
    )


Predicate = Callable[[Box, Box, Sequence[Box]], bool]


def _pairwise(rule: Callable[[Box, Box], bool]) -> Predicate:
    def predicate(target: Box, reference: Box, distractors: Sequence[Box] = ()) -> bool:
        return rule(target, reference)

    predicate.__name__ = rule.__name__
    predicate.__doc__ = rule.__doc__
    return predicate


@dataclass(frozen=True, slots=True)
class Relation:
    """A named relation: its rule, its wording and its question templates.

    Attributes:
        name: the ``relation`` value stored in RegionDial turns.
        phrase: the preposition used in questions (``"to the left of"``).
        predicate: ``predicate(target_xyxy, reference_xyxy, distractors_xyxy) -> bool``.
        templates: question templates with ``{obj}`` (a noun phrase without article)
            and ``{ref}`` (kept literally as the reference placeholder).
        superlative: the rule compares against distractors (``closest_to``...), so the
            question must use the category noun that defines the distractors.
    """

    name: str
    phrase: str
    predicate: Predicate
    templates: tuple[str, ...]
    superlative: bool = False

    def holds(self, target: Box, reference: Box, distractors: Sequence[Box] = ()) -> bool:
        """Whether the relation is true for these boxes."""
        return bool(self.predicate(tuple(target), tuple(reference), tuple(distractors)))  # type: ignore[arg-type]


RELATIONS: Registry[Relation] = Registry("relation")
"""Every relation a builder may emit, by name (the paper's eight plus three extras)."""

_DEFINITIONS = (
    Relation(
        "next_to",
        "next to",
        _pairwise(is_next_to),
        ("the {obj} next to {ref}", "the {obj} beside {ref}"),
    ),
    Relation(
        "above",
        "above",
        _pairwise(is_above),
        ("the {obj} above {ref}", "the {obj} located above {ref}"),
    ),
    Relation(
        "below", "below", _pairwise(is_below), ("the {obj} below {ref}", "the {obj} under {ref}")
    ),
    Relation(
        "left_of",
        "to the left of",
        _pairwise(is_left_of),
        ("the {obj} to the left of {ref}", "the {obj} on the left of {ref}"),
    ),
    Relation(
        "right_of",
        "to the right of",
        _pairwise(is_right_of),
        ("the {obj} to the right of {ref}", "the {obj} on the right of {ref}"),
    ),
    Relation(
        "inside",
        "inside",
        _pairwise(is_inside),
        ("the {obj} inside {ref}", "the {obj} within {ref}"),
    ),
    Relation(
        "overlapping",
        "overlapping with",
        _pairwise(is_overlapping),
        ("the {obj} overlapping with {ref}", "the {obj} that overlaps {ref}"),
    ),
    Relation(
        "touching",
        "touching",
        _pairwise(is_touching),
        ("the {obj} touching {ref}", "the {obj} that touches {ref}"),
    ),
    Relation(
        "farthest_from",
        "farthest from",
        is_farthest_from,
        ("the {obj} farthest from {ref}", "the {obj} farthest away from {ref}"),
        superlative=True,
    ),
    Relation(
        "closest_to",
        "closest to",
        is_closest_to,
        ("the {obj} closest to {ref}", "the {obj} nearest to {ref}"),
        superlative=True,
    ),
    Relation(
        "contains",
        "containing",
        _pairwise(contains),
        ("the {obj} containing {ref}", "the {obj} that contains {ref}"),
    ),
)
for _relation in _DEFINITIONS:
    RELATIONS.register(_relation.name, _relation)

RELATION_ORDER: tuple[str, ...] = tuple(r.name for r in _DEFINITIONS)
"""Registry names in a fixed order (the schema's ``KNOWN_RELATIONS`` order)."""


def get_relation(name: str) -> Relation:
    """The relation registered as ``name`` (``UnknownComponentError`` otherwise)."""
    return RELATIONS.get(name)


def true_relations(target: Box, reference: Box, distractors: Sequence[Box] = ()) -> tuple[str, ...]:
    """Names of every registered relation that holds, in :data:`RELATION_ORDER`."""
    return tuple(
        name for name in RELATION_ORDER if RELATIONS.get(name).holds(target, reference, distractors)
    )


__all__ = [
    "DIRECTION_TOL_PX",
    "DISTANCE_MARGIN_RATIO",
    "INSIDE_MAX_AREA_RATIO",
    "INSIDE_TOL_PX",
    "NEXT_TO_MAX_GAP_RATIO",
    "NEXT_TO_MIN_ROW_OVERLAP",
    "RELATIONS",
    "RELATION_ORDER",
    "TOUCH_MIN_SHARED_RATIO",
    "TOUCH_TOL_PX",
    "Relation",
    "center_distance",
    "contact_class",
    "get_relation",
    "pair_geometry",
    "true_relations",
]
