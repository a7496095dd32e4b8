"""``ParsedResponse``: everything the engine and the rewards need from one model turn."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from regionreasoner.geometry.frames import Frame
from regionreasoner.geometry.regions import Regions
from regionreasoner.parsing.answer import parse_answer_regions
from regionreasoner.parsing.references import CitedBox, find_cited_boxes
from regionreasoner.parsing.tags import TAGS, extract_tag, tags_in_order

REQUIRED_TAGS = ("scene", "think", "answer")
"""Tags a well-formed RegionReasoner turn always has (``focus`` only with a reference)."""


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """A problem found in model text: a stable ``code`` and a human ``message``."""

    code: str
    message: str


@dataclass(frozen=True)
class ParsedResponse:
    """One parsed model response. Coordinates are in the MODEL frame.

    Attributes:
        text: the raw text.
        scene, focus, think, answer: tag contents (first occurrence, stripped) or None.
        tags_present: opening tags in order of appearance (repeats included).
        regions: answer regions (model frame); ``points`` rows are NaN when absent.
        answer_items_total: items in the answer JSON (valid or not).
        cited: boxes cited inside ``<think>``, with their citation style.
        issues: every problem found, in order.
        unclosed_tags: tags whose first block has no closing tag after it (its content
            runs to the next opening tag or the end of the text).
        cited_non_finite: boxes written inside ``<think>`` with a number too large for a
            float (``1e309``, hundreds of digits), read as ``inf``; not in ``cited``.
    """

    text: str
    scene: str | None
    focus: str | None
    think: str | None
    answer: str | None
    tags_present: tuple[str, ...]
    regions: Regions
    answer_items_total: int
    cited: tuple[CitedBox, ...]
    issues: tuple[ParseIssue, ...]
    unclosed_tags: tuple[str, ...] = ()
    cited_non_finite: tuple[CitedBox, ...] = ()

    @property
    def answer_items_valid(self) -> int:
        """Answer items with a valid box AND a valid point."""
        return int(self.regions.has_point.sum())

    @property
    def format_ok(self) -> bool:
        """Whether the response is well formed: required tags present once, closed, in
        order, and an answer that parsed without issues into at least one region."""
        return not self.issues and len(self.regions) > 0

    def issue_codes(self) -> tuple[str, ...]:
        """The issue codes, in order."""
        return tuple(i.code for i in self.issues)

    def regions_in_image(self, frame: Frame, *, rounded: bool = False) -> Regions:
        """The answer regions converted into original-image pixels.

        This is the ONE place where model-frame answers become image coordinates.

        Args:
            frame: the frame the model saw.
            rounded: apply the released code's ``int(v * f + 0.5)`` rounding.
        """
        if self.regions.is_empty():
            return Regions.empty()
        points = np.full_like(self.regions.points, np.nan)
        has_point = self.regions.has_point
        if has_point.any():
            points[has_point] = frame.to_image_points(
                self.regions.points[has_point], rounded=rounded
            )
        return Regions(
            frame.to_image_xyxy(self.regions.xyxy, rounded=rounded), points, self.regions.labels
        )


def _finite(box: CitedBox) -> bool:
    return all(map(math.isfinite, box.xyxy))


def parse_response(
    text: str | None,
    *,
    required_tags: tuple[str, ...] = REQUIRED_TAGS,
    answer_from_text: bool = False,
) -> ParsedResponse:
    """Parse a RegionReasoner-style response. Never raises on model text.

    Tolerates missing or repeated tags, extra whitespace, JSON in code fences, a single
    object instead of a list, numbers as strings or floats, trailing text, truncated JSON
    (complete items are kept) and ``bbox_2d`` without ``point_2d``; each deviation is
    recorded in ``issues``.

    Args:
        text: the raw model response.
        required_tags: tags whose absence is an issue (baseline prompts need fewer).
        answer_from_text: when there is no ``<answer>`` block, read the answer JSON from
            the whole text (for prompts that ask for bare JSON, e.g. Qwen's grounding).

    >>> r = parse_response('<scene>a</scene><think>see bbox=[1,2,3,4]</think>'
    ...                    '<answer>[{"bbox_2d": [0, 0, 10, 10], "point_2d": [5, 5]}]</answer>')
    >>> r.format_ok, r.regions.xyxy.tolist(), r.cited[0].xyxy
    (True, [[0.0, 0.0, 10.0, 10.0]], (1.0, 2.0, 3.0, 4.0))
    """
    raw = text if isinstance(text, str) else ""
    issues: list[ParseIssue] = []
    if not raw.strip():
        issues.append(ParseIssue("empty", "the response is empty"))
    contents: dict[str, str | None] = {}
    unclosed: list[str] = []
    for tag in TAGS:
        content, closed = extract_tag(raw, tag)
        contents[tag] = content
        if content is not None and not closed:
            unclosed.append(tag)
            issues.append(ParseIssue("unclosed_tag", f"<{tag}> is not closed"))
    order = tags_in_order(raw)
    if contents["answer"] is None and answer_from_text:
        contents["answer"] = raw
    for tag in required_tags:
        if contents[tag] is None:
            issues.append(ParseIssue("missing_tag", f"no <{tag}> block"))
    for tag in TAGS:
        if order.count(tag) > 1:
            issues.append(ParseIssue("repeated_tag", f"<{tag}> appears {order.count(tag)} times"))
    first_seen = list(dict.fromkeys(order))  # linear: 20,000 repeated tags stay cheap
    if first_seen != sorted(first_seen, key=TAGS.index):
        issues.append(ParseIssue("tag_order", f"tags out of order: {', '.join(first_seen)}"))
    regions, total, answer_issues = parse_answer_regions(contents["answer"])
    issues.extend(
        ParseIssue(code, message) for code, message in answer_issues if code != "missing_answer"
    )
    every_cited = find_cited_boxes(contents["think"] or "", keep_non_finite=True)
    cited = tuple(c for c in every_cited if _finite(c))
    non_finite = (
        () if len(cited) == len(every_cited) else tuple(c for c in every_cited if not _finite(c))
    )
    return ParsedResponse(
        text=raw,
        scene=contents["scene"],
        focus=contents["focus"],
        think=contents["think"],
        answer=contents["answer"],
        tags_present=order,
        regions=regions,
        answer_items_total=total,
        cited=cited,
        issues=tuple(issues),
        unclosed_tags=tuple(unclosed),
        cited_non_finite=non_finite,
    )
