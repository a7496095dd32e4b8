"""The ``official`` reward profile: the released RegionReasoner reward, quirks included.

It reproduces ``region_reasoner_compute_score`` of the released training code
(``train/verl/utils/reward_score/region_reasoner.py``) value for value, so that users can
reproduce the released checkpoint. ``docs/rewards.md`` lists every rule; the quirks kept
on purpose are:

* per-tag format heuristics (character/word counts, a scene keyword list, an anti-copy
  rule for ``<focus>``, 0.5 for an absent ``<focus>`` when there is no reference);
* the answer-format loop that stops at the first item the released code chokes on;
* citations only count when written ``bbox[=][...]`` with integer coordinates, and
  "bbox"/"coordinates" anywhere in ``<think>`` satisfies kw(h);
* the "+1 pixel" IoU, the L1 < 10 px and point < 30 px tests (the point must lie in its
  own predicted box), Hungarian matching over at most 120 objects;
* keywords are the first 10 regex words (duplicates kept) matched as substrings, the
  focus term is 1.0 whenever ``<focus>`` is empty or absent, the logic prior reaches 1.2;
* components are neither normalised nor clipped.

Where the released code swallows an exception, the value it returns is reproduced here
with explicit checks. Parity is exact for float coordinates and for integer coordinates
below ``2**26`` in magnitude; ``docs/rewards.md`` lists the exotic inputs beyond that
(integers past int64, nested lists as coordinates) where it is not guaranteed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from regionreasoner.rewards.accuracy import matched_hits
from regionreasoner.rewards.ground_truth import GroundTruth
from regionreasoner.rewards.thresholds import (
    ACCURACY_TERMS,
    CITATION_ETA,
    CITATION_LAMBDA,
    CITATION_MU,
    CONSISTENCY_W_FOCUS,
    CONSISTENCY_W_LOGIC,
    CONSISTENCY_W_SCENE,
    LOGIC_W_COMPARISON,
    LOGIC_W_LOCALISATION,
    LOGIC_W_SPATIAL,
    MAX_OBJECTS,
    NO_REFERENCE_CITATION,
    OFFICIAL_ANSWER_FULL,
    OFFICIAL_ANSWER_MIN_CHARS,
    OFFICIAL_ANSWER_SHORT,
    OFFICIAL_FOCUS_ABSENT_NO_REF,
    OFFICIAL_FOCUS_COPY_EPS,
    OFFICIAL_FOCUS_COPY_RATIO,
    OFFICIAL_FOCUS_FULL,
    OFFICIAL_FOCUS_MIN_WORDS,
    OFFICIAL_FOCUS_SHORT,
    OFFICIAL_KEYWORD_LIMIT,
    OFFICIAL_KEYWORD_MIN_CHARS,
    OFFICIAL_LOGIC_W_REFERENCE,
    OFFICIAL_MAX_REPEATS,
    OFFICIAL_SCENE_KEYWORD,
    OFFICIAL_SCENE_MIN_CHARS,
    OFFICIAL_SCENE_PLAIN,
    OFFICIAL_SCENE_SHORT,
    OFFICIAL_THINK_FULL,
    OFFICIAL_THINK_MIN_CHARS,
    OFFICIAL_THINK_SHORT,
)
from regionreasoner.rewards.types import DEFAULT_NORMALISATION, RewardBreakdown

# The released regexes. Python's ``\d`` and ``\s`` are Unicode-aware, and so is ``int()``:
# keep them exactly as released (e.g. Arabic-Indic digits count as coordinates).
_REFERENCE_RE = re.compile(r"bbox\s*=\s*\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]")
_THINK_BOX_RE = re.compile(r"bbox\s*=?\s*\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]")
_WORD_RE = re.compile(r"\b\w+\b")


def tag_content(text: str, tag: str) -> str | None:
    """What the released ``re.search(r"<tag>\\s*(.*?)\\s*</tag>", text, re.DOTALL)``
    captures, or None when it does not match.

    The first ``<tag>`` followed (anywhere later) by ``</tag>`` opens the match, which
    ends at the first ``</tag>`` after it; the lazy group loses its surrounding
    whitespace, and ``\\s`` is exactly ``str.isspace``. ``str.find`` does the same scan
    several times faster than the regex.

    >>> tag_content("x <think>  a </think> <think>b</think>", "think")
    'a'
    """
    opening, closing = f"<{tag}>", f"</{tag}>"
    start = text.find(opening)
    if start < 0:
        return None
    start += len(opening)
    end = text.find(closing, start)
    return None if end < 0 else text[start:end].strip()


SCENE_WORDS = (
    "scene", "image", "picture", "photo", "shows", "contains", "visible", "appears", "located",
)  # fmt: skip
"""A ``<scene>`` containing any of these (as a substring) scores the higher value."""

BBOX_WORDS = ("bbox", "bounding box", "bbox=", "coordinates", "bounding box=")
"""kw(h): any of these as a substring of the lower-cased ``<think>``."""

STOP_WORDS = frozenset({
    "the", "a", "an", "and", "or", "but", "in", "on", "at", "to", "for", "of", "with", "by",
    "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "do", "does",
    "did", "will", "would", "could", "should",
})  # fmt: skip
"""The released keyword extractor's stop list."""

SPATIAL_TERMS = (
    "above", "below", "left", "right", "inside", "overlapping", "near", "touching", "next to",
)  # fmt: skip
COMPARISON_TERMS = (
    "compare", "similar", "different", "match", "closest", "best", "choose", "select", "find",
)  # fmt: skip
LOCALISATION_TERMS = (
    "locate", "identify", "position", "area", "region", "corner", "center", "coordinates",
)  # fmt: skip
REFERENCE_TERMS = ("reference", "bbox", "guidance", "based on", "according to")
"""Logic-prior term lists, matched as substrings of the lower-cased ``<think>``."""

_LOGIC_CATEGORIES = (
    (SPATIAL_TERMS, LOGIC_W_SPATIAL),
    (COMPARISON_TERMS, LOGIC_W_COMPARISON),
    (LOCALISATION_TERMS, LOGIC_W_LOCALISATION),
    (REFERENCE_TERMS, OFFICIAL_LOGIC_W_REFERENCE),
)

_INT64_MIN, _UINT64_END = -(2**63), 2**64
"""Integers outside ``[_INT64_MIN, _UINT64_END)`` make numpy build object arrays: the
released point distance (``np.sqrt``) then raises; box arithmetic still runs on Python
ints (approximated here in float64; beyond the float range it raises, as the released
L1 mean does)."""


def _contains_any(text: str, terms: tuple[str, ...]) -> bool:
    return any(term in text for term in terms)


# --- format block --------------------------------------------------------------------


def _scene_score(content: str | None, issues: list[str]) -> float:
    if content is None:
        issues.append("tag_format: no <scene>...</scene> block")
        return 0.0
    if len(content) < OFFICIAL_SCENE_MIN_CHARS:
        issues.append("tag_format: <scene> shorter than 10 characters")
        return OFFICIAL_SCENE_SHORT
    if _contains_any(content.lower(), SCENE_WORDS):
        return OFFICIAL_SCENE_KEYWORD
    return OFFICIAL_SCENE_PLAIN


def _focus_score(
    content: str | None, problem: str | None, has_reference: bool, issues: list[str]
) -> float:
    if not has_reference:
        if content is not None:
            issues.append("tag_format: <focus> given although the question has no reference")
            return 0.0
        return OFFICIAL_FOCUS_ABSENT_NO_REF
    if content is None:
        issues.append("tag_format: no <focus> block although the question has a reference")
        return 0.0
    if not content:
        issues.append("tag_format: empty <focus>")
        return 0.0
    score = (
        OFFICIAL_FOCUS_SHORT
        if len(content.split()) < OFFICIAL_FOCUS_MIN_WORDS
        else (OFFICIAL_FOCUS_FULL)
    )
    assert problem is not None  # has_reference implies a problem text
    problem_tokens = set(problem.lower().split())
    focus_tokens = set(content.lower().split())
    ratio = len(problem_tokens & focus_tokens) / (len(problem_tokens) + OFFICIAL_FOCUS_COPY_EPS)
    if ratio > OFFICIAL_FOCUS_COPY_RATIO:
        issues.append(f"tag_format: <focus> copies the question ({ratio:.2f} of its tokens)")
        return 0.0
    return score


def _think_score(content: str | None, issues: list[str]) -> float:
    if content is None:
        issues.append("tag_format: no <think>...</think> block")
        return 0.0
    if len(content) < OFFICIAL_THINK_MIN_CHARS:
        issues.append("tag_format: <think> shorter than 10 characters")
        return OFFICIAL_THINK_SHORT
    return OFFICIAL_THINK_FULL


def _answer_tag_score(content: str | None, issues: list[str]) -> float:
    if content is None:
        issues.append("tag_format: no <answer>...</answer> block")
        return 0.0
    if len(content) < OFFICIAL_ANSWER_MIN_CHARS:
        issues.append("tag_format: <answer> shorter than 3 characters")
        return OFFICIAL_ANSWER_SHORT
    return OFFICIAL_ANSWER_FULL


# --- answer JSON ---------------------------------------------------------------------

_NOT_DECODED = object()


def _decode_answer(content: str | None) -> Any:
    """The answer JSON, or ``_NOT_DECODED`` when absent or invalid."""
    if content is None:
        return _NOT_DECODED
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # ValueError: JSON errors and the int digit limit
        return _NOT_DECODED


def _answer_format(data: Any, issues: list[str]) -> float:
    """The released per-item schema score, stopping where the released loop raises."""
    if data is _NOT_DECODED:
        issues.append("answer_format: no <answer> block or its content is not JSON")
        return 0.0
    if not isinstance(data, list):
        # len() fails on numbers/None; a dict or str yields only 0-valued items or stops.
        issues.append(f"answer_format: answer JSON is a {type(data).__name__}, not a list")
        return 0.0
    count = len(data)
    score = 0.0
    incomplete = 0
    for index, item in enumerate(data):
        if isinstance(item, dict):
            box, point = item.get("bbox_2d"), item.get("point_2d")
            box_ok = isinstance(box, list) and len(box) == 4
            point_ok = isinstance(point, list) and len(point) == 2
            incomplete += not (box_ok and point_ok)
            score += (float(box_ok) + float(point_ok)) / count
        elif isinstance(item, str | list) and "bbox_2d" not in item and "point_2d" not in item:
            # `"bbox_2d" in item` is a substring / membership test there; only when it
            # holds does indexing the item with a string raise and stop the loop.
            incomplete += 1
            score += 0.0 / count
        else:
            issues.append(f"answer_format: item {index} is not an object (scoring stopped)")
            return score
    if incomplete:
        issues.append(
            f"answer_format: {incomplete} item(s) lack a 4-list bbox_2d or a 2-list point_2d"
        )
    return score


# --- accuracy ------------------------------------------------------------------------


def _rows(
    values: list[Any], width: int, *, objects_fail: bool
) -> tuple[list[list[float]], bool] | None:
    """``values`` as float rows of ``width`` numbers and whether every number is a bool,
    or None when the released code's numpy arithmetic raises on them."""
    rows: list[list[float]] = []
    all_bool = True
    try:
        for row in values:
            if not isinstance(row, list) or len(row) != width:
                return None
            for v in row:
                if isinstance(v, bool):
                    continue
                all_bool = False
                if isinstance(v, int):
                    if objects_fail and not _INT64_MIN <= v < _UINT64_END:
                        return None
                elif not isinstance(v, float):
                    return None
            rows.append([float(v) for v in row])
    except OverflowError:  # an int beyond the float range: the released mean overflows
        return None
    return rows, all_bool


def _accuracy(data: Any, gt: GroundTruth, issues: list[str]) -> float:
    if data is _NOT_DECODED:
        issues.append("accuracy: no decodable answer JSON")
        return 0.0
    if not isinstance(data, list) or not data:
        issues.append("accuracy: the answer JSON is not a non-empty list")
        return 0.0
    if not all(isinstance(i, dict) and "bbox_2d" in i and "point_2d" in i for i in data):
        issues.append("accuracy: an answer item lacks bbox_2d or point_2d")
        return 0.0
    items = data[:MAX_OBJECTS]
    boxes = _rows([i["bbox_2d"] for i in items], 4, objects_fail=False)
    points = _rows([i["point_2d"] for i in items], 2, objects_fail=True)
    if boxes is None or points is None:
        issues.append("accuracy: answer coordinates are not 4/2 plain numbers per item")
        return 0.0
    pred_xyxy, boxes_all_bool = boxes
    if boxes_all_bool:  # numpy refuses to subtract boolean arrays
        issues.append("accuracy: every box coordinate is a boolean")
        return 0.0
    pred_points = points[0]
    gt_xyxy, gt_points = gt.rows_xyxy[:MAX_OBJECTS], gt.rows_points[:MAX_OBJECTS]
    matched = matched_hits(pred_xyxy, pred_points, gt_xyxy, gt_points, plus_one_iou=True)
    matches = min(len(pred_xyxy), len(gt_xyxy))
    # The released value: (3 * matches - matched cost) / max(M, N); cost = 3 - hits.
    total = matches * float(ACCURACY_TERMS) - float(matches * ACCURACY_TERMS - matched)
    score = total / max(len(pred_xyxy), len(gt_xyxy))
    if score < ACCURACY_TERMS:
        issues.append(f"accuracy: {matched} of {ACCURACY_TERMS * len(gt_xyxy)} hits")
    return score


# --- reference citation ------------------------------------------------------------


def _int_boxes(found: list[tuple[str, ...]]) -> set[tuple[int, ...]] | None:
    try:
        return {tuple(int(v) for v in box) for box in found}
    except ValueError:  # more digits than int() accepts (sys.get_int_max_str_digits)
        return None


def _ref_citation(think: re.Match[str] | None, problem: str | None, issues: list[str]) -> float:
    if think is None:
        issues.append("ref_citation: no <think> block")
        return 0.0
    if problem is None:  # the released code fails on None.lower() and keeps 0.0
        issues.append("ref_citation: no problem text")
        return 0.0
    think_lower = think.lower()
    problem_boxes = _REFERENCE_RE.findall(problem.lower())
    if not problem_boxes:
        return NO_REFERENCE_CITATION
    reward = 0.0
    if _contains_any(think_lower, BBOX_WORDS):
        reward += CITATION_LAMBDA
    else:
        issues.append("ref_citation: <think> never mentions a bbox")
    think_boxes = _THINK_BOX_RE.findall(think_lower)
    if not think_boxes:
        issues.append("ref_citation: no bbox[=][x1,y1,x2,y2] cited in <think>")
        return reward
    reference_set = _int_boxes(problem_boxes)
    cited_set = _int_boxes(think_boxes) if reference_set is not None else None
    if reference_set is None or cited_set is None:
        issues.append("ref_citation: a coordinate has too many digits")
        return reward
    consistent = cited_set & reference_set
    if consistent:
        reward += CITATION_MU * (len(consistent) / len(cited_set))
    if cited_set - reference_set:
        reward *= CITATION_ETA
        issues.append("ref_citation: <think> cites a box that is not a reference (x0.5)")
    return reward


# --- non-repeat ------------------------------------------------------------------------


def _non_repeat(text: str, issues: list[str]) -> float:
    seen: set[str] = set()
    repeats = 0
    for piece in text.split("."):
        sentence = piece.strip()
        if not sentence:
            continue
        if sentence in seen:
            repeats += 1
            if repeats >= OFFICIAL_MAX_REPEATS:
                issues.append("non_repeat: sentences repeat")
                return 0.0
        seen.add(sentence)
    return 1.0


# --- consistency -----------------------------------------------------------------------


def extract_keywords(text: str) -> list[str]:
    """The released keyword list: the first 10 lower-cased ``\\b\\w+\\b`` words with at
    least 3 characters that are not stop words (duplicates kept, order kept).

    >>> extract_keywords("The cat and the other cat sat")
    ['cat', 'other', 'cat', 'sat']
    """
    words = _WORD_RE.findall(text.lower())
    keywords = [w for w in words if len(w) >= OFFICIAL_KEYWORD_MIN_CHARS and w not in STOP_WORDS]
    return keywords[:OFFICIAL_KEYWORD_LIMIT]


def _substring_share(content: str, think_lower: str) -> float:
    keywords = extract_keywords(content)
    found = sum(1 for k in keywords if k in think_lower)
    return min(found / max(len(keywords), 1), 1.0)


def _consistency(
    scene: str | None,
    focus: str | None,
    think: str | None,
    answer: str | None,
    problem: str | None,
    issues: list[str],
) -> float:
    if not problem:
        issues.append("consistency: no problem text (the released code then skips it)")
        return 0.0
    if scene is None or answer is None or think is None:
        issues.append("consistency: needs <scene>, <think> and <answer> blocks")
        return 0.0
    think_lower = think.lower()
    scene_share = _substring_share(scene, think_lower)
    focus_share = _substring_share(focus, think_lower) if focus and focus.strip() else 1.0
    logic = 0.0
    for terms, weight in _LOGIC_CATEGORIES:
        if _contains_any(think_lower, terms):
            logic += weight
    return (
        scene_share * CONSISTENCY_W_SCENE
        + focus_share * CONSISTENCY_W_FOCUS
        + logic * CONSISTENCY_W_LOGIC
    )


# --- profile ---------------------------------------------------------------------------


class OfficialProfile:
    """The released reward, value for value (see the module docstring)."""

    name = "official"
    normalisations = (DEFAULT_NORMALISATION,)  # the released sum is unnormalised

    def score(
        self,
        completion: str,
        *,
        problem: str | None,
        ground_truth: GroundTruth,
        alpha: float = 1.0,
        beta: float = 1.0,
        normalisation: str = DEFAULT_NORMALISATION,
    ) -> RewardBreakdown:
        """Score one completion; ``alpha``/``beta`` scale ref_citation/consistency in the
        total (the released code has neither: keep 1 to reproduce it). The released sum
        is unnormalised: ``normalisation`` must be ``"components"`` (checked by the API)."""
        issues: list[str] = []
        scene = tag_content(completion, "scene")
        focus = tag_content(completion, "focus")
        think = tag_content(completion, "think")
        answer = tag_content(completion, "answer")
        has_reference = bool(problem) and _REFERENCE_RE.search(problem.lower()) is not None
        tag_format = _scene_score(scene, issues) + _focus_score(
            focus, problem, has_reference, issues
        )
        tag_format = tag_format + _think_score(think, issues)
        tag_format = tag_format + _answer_tag_score(answer, issues)
        data = _decode_answer(answer)
        answer_format = _answer_format(data, issues)
        ref_citation = _ref_citation(think, problem, issues)
        accuracy = _accuracy(data, ground_truth, issues)
        non_repeat = _non_repeat(completion, issues)
        consistency = _consistency(scene, focus, think, answer, problem, issues)
        return RewardBreakdown.weighted(
            tag_format=tag_format,
            answer_format=answer_format,
            ref_citation=ref_citation,
            accuracy=accuracy,
            non_repeat=non_repeat,
            consistency=consistency,
            alpha=alpha,
            beta=beta,
            issues=tuple(issues),
            normalisation=normalisation,
        )


OFFICIAL_PROFILE = OfficialProfile()
"""The registered ``official`` profile instance."""
