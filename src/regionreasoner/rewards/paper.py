"""The ``paper`` reward profile (default): the paper's equations, Sec. 4.3, Eqs. 4-7.

Every component lies in ``[0, 2]``. Eq. 7, ``R = R_base + alpha * R_ref + beta *
R_cons`` with "each component normalized to [0, 2]", has two readings, selected by
``normalisation``:

* ``"components"`` (default): R_base = tag_format + answer_format + accuracy +
  non_repeat, each in ``[0, 2]``, so ``0 <= total <= 8 + 2 * alpha + 2 * beta``;
* ``"base"``: R_base = the mean of those four, itself in ``[0, 2]``, so
  ``0 <= total <= 2 + 2 * alpha + 2 * beta``.

``docs/rewards.md`` argues the default: with ``"base"`` accuracy spans 0.5 of the 6
points (against 2 of 12), so a richer ``<think>`` outranks a correct box (its hacking
table shows both readings).

* ref_citation (Eq. 4): 1 without a reference; otherwise
  ``lambda * kw(h) + mu * |S(h) & B_ref| / max(|S(h)|, 1)``, times eta when ``S(h)``
  holds a box that is not a reference.
* consistency (Eqs. 5-6): ``w_s * Ov(s, h) + w_f * 1[B_ref] * Ov(f, h) + w_l * l(h)``
  over lemmatised noun SETS (:mod:`regionreasoner.rewards.keywords`).
* tag_format, answer_format, accuracy, non_repeat: the paper gives no formulas (it cites
  VisionReasoner); the definitions chosen here are in ``docs/rewards.md`` and in each
  helper's docstring. They were chosen so that the degenerate completions of the
  reward-hacking suite score well below a correct, well-formed answer.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from regionreasoner.geometry.boxes import box_iou_batch
from regionreasoner.geometry.pairs import box_iou_pair
from regionreasoner.parsing import ParsedResponse, find_cited_boxes, parse_response
from regionreasoner.rewards.accuracy import PAIRWISE_LIMIT, matched_hits
from regionreasoner.rewards.ground_truth import GroundTruth
from regionreasoner.rewards.keywords import (
    META_WORDS,
    STOP_WORDS,
    keywords,
    logic_prior,
    overlap,
    tokens,
)
from regionreasoner.rewards.thresholds import (
    ACCURACY_TERMS,
    CITATION_ETA,
    CITATION_LAMBDA,
    CITATION_MU,
    COMPONENT_MAX,
    CONSISTENCY_W_FOCUS,
    CONSISTENCY_W_LOGIC,
    CONSISTENCY_W_SCENE,
    FOCUS_COPY_RATIO,
    KEYWORD_LIST_FRAGMENT_SHARE,
    KEYWORD_LIST_RUN_WORDS,
    LENIENT_SCHEMA_FACTOR,
    MAX_OBJECTS,
    MIN_SENTENCE_WORDS,
    NGRAM_REPEAT_ALLOWANCE,
    NGRAM_SIZE,
    NO_REFERENCE_CITATION,
    PLAUSIBLE_ANSWER_ITEMS,
    REFERENCE_COPY_IOU,
    TAG_PRESENCE_WEIGHT,
    TAG_STRUCTURE_WEIGHT,
    THINK_DUMP_MIN_WORDS,
    THINK_MIN_FUNCTION_WORD_RATIO,
)
from regionreasoner.rewards.types import DEFAULT_NORMALISATION, EQ7_TOTALS, RewardBreakdown

EXPECTED_TAGS_WITH_REFERENCE = ("scene", "focus", "think", "answer")
EXPECTED_TAGS_WITHOUT_REFERENCE = ("scene", "think", "answer")
"""The exact tag sequence a well-formed turn has (``<focus>`` only with a reference)."""

LENIENT_ANSWER_CODES = frozenset({"trailing_text", "truncated_json", "single_object", "bare_box"})
"""Parser issue codes meaning the answer needed lenient parsing (schema factor applies)."""

_CACHE_SIZE = 4096
_WORD_RE = re.compile(r"\w+")
_SENTENCE_SPLIT_RE = re.compile(r"[.!?;\n]+")
_CLAUSE_SPLIT_RE = re.compile(r"(?:[!?;\n]|\.(?!\d))+")
"""Sentence boundaries for the keyword-list check (a decimal point is not one)."""
_BBOX_TOKEN_RE = re.compile(r"\bbbox|\bbounding[\s_\-\u2010-\u2013]*box(?:es)?\b|\bcoordinates?\b")
"""kw(h): a bbox-related token (whole word; ``bbox=``, ``bboxes``, ``bounding box``,
``bounding-box``, ``bounding_box`` and ``boundingbox`` included)."""


def _clip(value: float) -> float:
    return 0.0 if value < 0.0 else (COMPONENT_MAX if value > COMPONENT_MAX else value)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def reference_boxes(problem: str | None) -> tuple[tuple[float, float, float, float], ...]:
    """B_ref: the distinct boxes written in the question, any citation style
    (``bbox=[..]``, ``bbox [..]`` or a bare ``[x1,y1,x2,y2]``), in order.

    >>> reference_boxes("the cup right of bbox=[1,2,3,4] and [1, 2, 3, 4]")
    ((1.0, 2.0, 3.0, 4.0),)
    """
    if not problem:
        return ()
    return tuple(dict.fromkeys(box.xyxy for box in find_cited_boxes(problem)))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _question_terms(problem: str | None) -> tuple[frozenset[str], frozenset[str]]:
    """The question's content words (letter tokens that are neither stop nor meta
    words: ``find``, ``the``, ``of``, ``bbox`` are not) and its keywords K(question)."""
    words = tokens(problem)
    content = frozenset(w for w in words if w not in STOP_WORDS and w not in META_WORDS)
    return content, keywords(problem, text_tokens=words)


def _sentences(lower: str) -> list[str]:
    """Normalised sentences (whitespace collapsed) of at least :data:`MIN_SENTENCE_WORDS`
    words of a lower-cased text; fragments such as the pieces of "12.5" are skipped."""
    out = []
    for fragment in _SENTENCE_SPLIT_RE.split(lower):
        words = fragment.split()
        if len(words) >= MIN_SENTENCE_WORDS:
            out.append(" ".join(words))
    return out


class _Block:
    """One tagged block's text features, each computed once per completion."""

    __slots__ = ("_keywords", "_run_on", "_sentences", "_tokens", "content", "lower")

    def __init__(self, content: str | None) -> None:
        self.content = content
        self.lower = content.lower() if content else ""
        self._tokens: list[str] | None = None
        self._sentences: list[str] | None = None
        self._keywords: frozenset[str] | None = None
        self._run_on: float | None = None

    @property
    def tokens(self) -> list[str]:
        if self._tokens is None:
            self._tokens = tokens(self.lower)
        return self._tokens

    @property
    def sentences(self) -> list[str]:
        if self._sentences is None:
            self._sentences = _sentences(self.lower)
        return self._sentences

    @property
    def keywords(self) -> frozenset[str]:
        if self._keywords is None:
            self._keywords = keywords(self.lower, text_tokens=self.tokens)
        return self._keywords

    def run_on_excess(self) -> float:
        """Repeated-n-gram share beyond :data:`NGRAM_REPEAT_ALLOWANCE`, in [0, 1]."""
        if self._run_on is None:
            words = _WORD_RE.findall(self.lower)  # numbers included: citations differ
            count = len(words) - NGRAM_SIZE + 1
            if count < 2:
                self._run_on = 0.0
            else:
                grams = set(zip(*[words[i:] for i in range(NGRAM_SIZE)], strict=False))
                repeated = 1.0 - len(grams) / count
                excess = (repeated - NGRAM_REPEAT_ALLOWANCE) / (1.0 - NGRAM_REPEAT_ALLOWANCE)
                self._run_on = max(0.0, excess)
        return self._run_on


@dataclass(frozen=True, slots=True)
class _Blocks:
    """The prose blocks and their validity, shared by the components.

    ``*_usable``/``think_valid``: the block passed the ``tag_format`` check (present,
    non-empty, closed, and for focus/think not a copy/keyword list/repetition)."""

    scene: _Block
    focus: _Block
    think: _Block
    scene_usable: bool
    focus_usable: bool
    think_valid: bool


def _keyword_list(think: _Block) -> str | None:
    """Why ``<think>`` reads as a keyword list, or None when it reads as sentences.

    Only a think of at least :data:`THINK_DUMP_MIN_WORDS` words with fewer than
    :data:`THINK_MIN_FUNCTION_WORD_RATIO` function words is examined (terse reasoning
    is like that too). It is a list when, inside one sentence, at least
    :data:`KEYWORD_LIST_RUN_WORDS` content words follow each other without a function
    word (commas and colons do not stop the run: "cup, plate, vase, ..."), or when more
    than :data:`KEYWORD_LIST_FRAGMENT_SHARE` of its words are one-word sentences
    ("Cup. Plate. Vase."). Terse sentences ("Standing dog located right. Select
    standing dog.") and enumerations ("Candidate 1: red cup, left of the plate.") pass.
    """
    words = think.tokens
    if len(words) < THINK_DUMP_MIN_WORDS:
        return None
    function_share = sum(map(STOP_WORDS.__contains__, words)) / len(words)
    if function_share >= THINK_MIN_FUNCTION_WORD_RATIO:
        return None
    longest = fragments = 0
    for clause in _CLAUSE_SPLIT_RE.split(think.lower):
        clause_words = tokens(clause)
        if len(clause_words) == 1:
            fragments += 1
        run = 0
        for word in clause_words:
            run = 0 if word in STOP_WORDS else run + 1
            longest = max(longest, run)
    if longest >= KEYWORD_LIST_RUN_WORDS:
        return f"is a keyword list, not reasoning ({longest} content words in a row)"
    if fragments / len(words) > KEYWORD_LIST_FRAGMENT_SHARE:
        return f"is a keyword list, not reasoning ({fragments} one-word sentences)"
    return None


def _think_defect(think: _Block) -> str | None:
    listing = _keyword_list(think)
    if listing is not None:
        return listing
    sentences = think.sentences
    if len(set(sentences)) < len(sentences):
        return "repeats a sentence"
    run_on = think.run_on_excess()
    if run_on > 0.0:
        return f"repeats itself ({run_on:.0%} excess repeated word 4-grams)"
    return None


def _focus_copy(focus: _Block, problem: str | None) -> str | None:
    """Why ``<focus>`` is a copy of the question, or None.

    A copy contains more than :data:`FOCUS_COPY_RATIO` of the question's content words
    (function words are not compared) AND names no object of its own: every keyword of
    the focus is a question keyword, ``K(focus) <= K(question)``. So "The plate to the
    right of the cup." for "find the cup to the right of bbox=[..]" is not a copy (it
    names the plate), nor is "Part of a white car with its front door open" for "find
    the white car behind bbox=[..]" (the door); the question itself, or its words
    shuffled, is.
    """
    content, question_keywords = _question_terms(problem)
    if not content:
        return None
    coverage = len(content.intersection(focus.tokens)) / len(content)
    if coverage <= FOCUS_COPY_RATIO or not focus.keywords <= question_keywords:
        return None
    return f"copies the question ({coverage:.0%} of its content words, no object of its own)"


def _block_defect(
    tag: str, block: _Block | None, content: str | None, parsed: ParsedResponse, problem: str | None
) -> str | None:
    if content is None:
        return "is missing"
    if not content:
        return "is empty"
    if tag in parsed.unclosed_tags:
        return "is not closed"
    if tag == "focus" and block is not None:
        return _focus_copy(block, problem)
    if tag == "think" and block is not None:
        return _think_defect(block)
    return None


def _tag_format(
    parsed: ParsedResponse, problem: str | None, has_reference: bool, issues: list[str]
) -> tuple[float, _Blocks]:
    """``1 * share of expected blocks that are valid + 1 * [exact tag sequence and all
    valid]``. Valid: present, non-empty, closed; ``<focus>`` not a copy of the question;
    ``<think>`` neither a keyword list nor repeating itself (a sentence, or 4-grams)."""
    expected = EXPECTED_TAGS_WITH_REFERENCE if has_reference else EXPECTED_TAGS_WITHOUT_REFERENCE
    blocks = {tag: _Block(getattr(parsed, tag)) for tag in ("scene", "focus", "think")}
    valid: dict[str, bool] = {}
    for tag in expected:
        defect = _block_defect(tag, blocks.get(tag), getattr(parsed, tag), parsed, problem)
        valid[tag] = defect is None
        if defect is not None:
            issues.append(f"tag_format: <{tag}> {defect}")
    if parsed.tags_present != expected:
        found = " ".join(parsed.tags_present) or "none"
        issues.append(f"tag_format: tags are [{found}], expected [{' '.join(expected)}]")
    all_valid = all(valid.values())
    presence = TAG_PRESENCE_WEIGHT * sum(valid.values()) / len(expected)
    structure = TAG_STRUCTURE_WEIGHT if all_valid and parsed.tags_present == expected else 0.0
    shared = _Blocks(
        blocks["scene"],
        blocks["focus"],
        blocks["think"],
        scene_usable=valid["scene"],
        focus_usable=valid.get("focus", False),
        think_valid=valid["think"],
    )
    return _clip(presence + structure), shared


@dataclass(frozen=True, slots=True)
class _Answer:
    """The answer regions as plain lists (the hot paths run in pure Python)."""

    xyxy: list[list[float]]
    points: list[list[float]]
    items_total: int

    @classmethod
    def of(cls, parsed: ParsedResponse) -> _Answer:
        regions = parsed.regions
        return cls(regions.xyxy.tolist(), regions.points.tolist(), parsed.answer_items_total)

    def with_point(self) -> list[list[float]]:
        """Boxes whose item also has a valid point (points are NaN when absent)."""
        return [
            box for box, point in zip(self.xyxy, self.points, strict=True) if point[0] == point[0]
        ]


def _reference_copies(
    pred_xyxy: list[list[float]], references: tuple[tuple[float, ...], ...]
) -> int:
    """How many predicted boxes have IoU >= :data:`REFERENCE_COPY_IOU` with a reference."""
    if len(pred_xyxy) * len(references) > PAIRWISE_LIMIT:
        iou = box_iou_batch(np.array(pred_xyxy), np.array(references, dtype=np.float64))
        return int((iou.max(axis=1) >= REFERENCE_COPY_IOU).sum())
    return sum(
        any(box_iou_pair(box, ref) >= REFERENCE_COPY_IOU for ref in references) for box in pred_xyxy
    )


def _answer_format(
    parsed: ParsedResponse,
    answer: _Answer,
    references: tuple[tuple[float, ...], ...],
    issues: list[str],
) -> float:
    """``2 * (items with a valid box and point that do not restate a reference) / items
    * schema factor * min(1, 10 / items)``."""
    parse_issues = [i for i in parsed.issues if i.code not in ("missing_tag", "unclosed_tag")]
    for issue in parse_issues:
        if issue.code not in ("empty", "repeated_tag", "tag_order"):
            issues.append(f"answer_format: {issue.code}: {issue.message}")
    if not parsed.answer:
        issues.append("answer_format: no answer")
        return 0.0
    total = answer.items_total
    if total == 0:
        issues.append("answer_format: the answer holds no item")
        return 0.0
    complete = answer.with_point()
    copies = _reference_copies(complete, references) if complete and references else 0
    if copies:
        issues.append(f"answer_format: {copies} item(s) restate a reference box")
    lenient = "```" in parsed.answer or any(i.code in LENIENT_ANSWER_CODES for i in parse_issues)
    schema = LENIENT_SCHEMA_FACTOR if lenient else 1.0
    count = min(1.0, PLAUSIBLE_ANSWER_ITEMS / total)
    if count < 1.0:
        issues.append(f"answer_format: {total} items (more than {PLAUSIBLE_ANSWER_ITEMS})")
    return _clip(COMPONENT_MAX * (len(complete) - copies) / total * schema * count)


def _accuracy(answer: _Answer, ground_truth: GroundTruth, issues: list[str]) -> float:
    """``2 * (best one-to-one total of hits) / (3 * max(M, N))`` with continuous IoU;
    M counts every answer item, valid or not."""
    if not answer.xyxy:
        issues.append("accuracy: no valid predicted box")
        return 0.0
    predicted = max(answer.items_total, len(answer.xyxy))
    matched = matched_hits(
        answer.xyxy[:MAX_OBJECTS],
        answer.points[:MAX_OBJECTS],
        ground_truth.rows_xyxy[:MAX_OBJECTS],
        ground_truth.rows_points[:MAX_OBJECTS],
        plus_one_iou=False,
    )
    possible = ACCURACY_TERMS * max(predicted, len(ground_truth))
    if matched < possible:
        issues.append(f"accuracy: {matched} of {possible} possible hits")
    return _clip(COMPONENT_MAX * matched / possible)


def _non_repeat(blocks: _Blocks, issues: list[str]) -> float:
    """``2 * (1 - max(share of sentences repeating an earlier one, run-on n-gram
    excess))`` over ``<scene>``, ``<focus>`` and ``<think>``; 0 without any such text."""
    present = [b for b in (blocks.scene, blocks.focus, blocks.think) if b.content]
    if not present:
        issues.append("non_repeat: no <scene>/<focus>/<think> text to judge")
        return 0.0
    sentences = [s for block in present for s in block.sentences]
    repeated = 1.0 - len(set(sentences)) / len(sentences) if sentences else 0.0
    run_on = max(block.run_on_excess() for block in present)
    share = max(repeated, run_on)
    if share > 0:
        issues.append(f"non_repeat: {share:.0%} repetition")
    return _clip(COMPONENT_MAX * (1.0 - share))


def _ref_citation(
    parsed: ParsedResponse, references: tuple[tuple[float, ...], ...], issues: list[str]
) -> float:
    """Eq. 4 with S(h) = every box written in ``<think>`` (any citation style, numbers
    too large for a float included: they are never a reference). A completion without
    a closed ``<think>`` block scores 0, even without a reference."""
    think = parsed.think
    if think is None:
        issues.append("ref_citation: no <think> block")
        return 0.0
    if "think" in parsed.unclosed_tags:
        issues.append("ref_citation: <think> is not closed; it counts as absent")
        return 0.0
    if not references:
        return NO_REFERENCE_CITATION
    if not think:
        issues.append("ref_citation: empty <think>")
        return 0.0
    kw = 1.0 if _BBOX_TOKEN_RE.search(think.lower()) else 0.0
    cited = {box.xyxy for box in parsed.cited}
    cited.update(box.xyxy for box in parsed.cited_non_finite)
    reference_set = set(references)
    score = CITATION_LAMBDA * kw + CITATION_MU * len(cited & reference_set) / max(len(cited), 1)
    if not cited & reference_set:
        issues.append("ref_citation: <think> does not cite the reference box")
    if cited - reference_set:
        score *= CITATION_ETA
        issues.append("ref_citation: <think> cites a box that is not a reference (x0.5)")
    return _clip(score)


def _consistency(blocks: _Blocks, issues: list[str]) -> float:
    """Eqs. 5-6 over the blocks that passed the tag_format check: a ``<think>`` that
    failed it (keyword list, repetition, unclosed) is not reasoning and the reward is 0;
    an unclosed ``<scene>`` counts as empty; the focus term needs a reference and a
    valid (closed, non-copied) ``<focus>``."""
    think = blocks.think
    if not blocks.think_valid:
        if think.content:
            issues.append("consistency: <think> is not reasoning; it counts as empty")
        issues.append("consistency: no usable <think>")
        return 0.0
    scene_keywords = blocks.scene.keywords if blocks.scene_usable else frozenset()
    scene_overlap = overlap(scene_keywords, think.keywords)
    focus_overlap = overlap(blocks.focus.keywords, think.keywords) if blocks.focus_usable else 0.0
    logic = logic_prior(think.lower, text_tokens=think.tokens)
    score = (
        CONSISTENCY_W_SCENE * scene_overlap
        + CONSISTENCY_W_FOCUS * focus_overlap
        + CONSISTENCY_W_LOGIC * logic
    )
    if scene_overlap < 1.0:
        issues.append(f"consistency: <think> covers {scene_overlap:.0%} of the scene keywords")
    return _clip(score)


class PaperProfile:
    """The paper's reward (see the module docstring and ``docs/rewards.md``)."""

    name = "paper"
    normalisations = tuple(EQ7_TOTALS)

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
        """Score one completion (never raises on its content); ``normalisation`` is the
        Eq. 7 reading, ``"components"`` or ``"base"`` (see the module docstring)."""
        issues: list[str] = []
        parsed = parse_response(completion)
        references = reference_boxes(problem)
        tag_format, blocks = _tag_format(parsed, problem, bool(references), issues)
        answer = _Answer.of(parsed)
        answer_format = _answer_format(parsed, answer, references, issues)
        ref_citation = _ref_citation(parsed, references, issues)
        accuracy = _accuracy(answer, ground_truth, issues)
        non_repeat = _non_repeat(blocks, issues)
        consistency = _consistency(blocks, issues)
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


PAPER_PROFILE = PaperProfile()
"""The registered ``paper`` profile instance."""
