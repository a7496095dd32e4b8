"""Paper-profile keyword extractor K(.) and logic prior l(.) (Eqs. 5-6).

K(text), the exact rule:

1. lower-case the text and take maximal runs of letters (``[^\\W\\d_]+``: Unicode
   letters, no digits or underscores);
2. drop tokens shorter than :data:`MIN_TOKEN_CHARS` and tokens in :data:`STOP_WORDS`,
   :data:`SPATIAL_WORDS` or :data:`META_WORDS`;
3. keep a token only if ``lemminflect.getAllLemmas(token, upos="NOUN")`` knows a noun
   lemma for it (offline dictionary lookup; out-of-vocabulary tokens are dropped);
4. the keyword is the first noun lemma (``"umbrellas" -> "umbrella"``), dropped again if
   the lemma itself is in one of the lists; K(text) is the SET of keywords.

l(think): ``min(1, 0.5*[spatial term] + 0.3*[comparison term] + 0.2*[localisation
term])``, terms matched as whole tokens (:data:`LOGIC_CATEGORIES`).
"""

from __future__ import annotations

import functools
import importlib
import re
from types import ModuleType

from regionreasoner.rewards.thresholds import (
    LOGIC_W_COMPARISON,
    LOGIC_W_LOCALISATION,
    LOGIC_W_SPATIAL,
)

MIN_TOKEN_CHARS = 2
"""Tokens shorter than this are never keywords."""

_LEMMA_CACHE_SIZE = 1 << 16
"""Distinct tokens kept lemmatised (a lookup costs ~4 us uncached)."""

STOP_WORDS = frozenset({
    # determiners, pronouns, auxiliaries, conjunctions, prepositions
    "a", "an", "the", "this", "that", "these", "those", "some", "any", "each", "every",
    "all", "both", "either", "neither", "no", "not", "none", "other", "another", "such",
    "same", "own", "only", "also", "just", "very", "too", "more", "most", "less", "least",
    "much", "many", "few", "several", "one", "ones", "two", "three", "four", "five", "first",
    "second", "third", "last", "i", "me", "my", "mine", "we", "us", "our", "you", "your",
    "he", "him", "his", "she", "her", "hers", "it", "its", "they", "them", "their", "what",
    "which", "who", "whom", "whose", "where", "when", "why", "how", "there", "here", "is",
    "are", "was", "were", "be", "been", "being", "am", "have", "has", "had", "having", "do",
    "does", "did", "doing", "will", "would", "shall", "should", "can", "could", "may",
    "might", "must", "and", "or", "but", "nor", "so", "yet", "if", "then", "than", "because",
    "while", "as", "of", "at", "by", "for", "with", "about", "against", "into", "through",
    "during", "before", "after", "to", "from", "in", "out", "on", "off", "up", "down",
    "again", "further", "once", "via", "per", "like", "within", "without", "toward",
    "towards", "upon", "onto", "among", "around", "across", "along", "s", "t",
    # reasoning verbs and fillers that lemminflect also lists as nouns
    "find", "finds", "look", "looks", "looking", "see", "sees", "seen", "show", "shows",
    "showing", "need", "needs", "want", "way", "kind", "sort", "lot", "lots", "bit", "part",
    "side", "step", "steps", "case", "fact", "point", "sure", "thing", "things", "something",
    "anything", "nothing", "everything", "someone", "anyone", "nobody", "everyone", "yes",
    "ok", "okay", "well", "now", "still", "even", "however", "therefore", "thus", "hence",
    "likely", "clearly", "probably", "maybe", "perhaps", "appear", "appears", "seem",
    "seems", "make", "makes", "take", "takes", "use", "uses", "set", "sets", "let", "lets",
})  # fmt: skip
"""General English stop words plus reasoning verbs/fillers."""

SPATIAL_WORDS = frozenset({
    "left", "right", "above", "below", "top", "bottom", "front", "back", "behind", "beside",
    "besides", "near", "nearby", "next", "between", "inside", "outside", "under",
    "underneath", "beneath", "over", "middle", "center", "centre", "corner", "corners",
    "edge", "edges", "far", "close", "closer", "closest", "upper", "lower", "overlap",
    "overlaps", "overlapping", "touch", "touches", "touching", "adjacent", "background",
    "foreground", "distance", "direction", "horizontal", "vertical",
})  # fmt: skip
"""Spatial/relational words: relations, not objects (they feed the logic prior)."""

META_WORDS = frozenset({
    "image", "images", "picture", "pictures", "photo", "photos", "photograph", "scene",
    "view", "frame", "bbox", "bboxes", "coordinate", "coordinates", "reference",
    "references", "region", "regions", "area", "areas", "object", "objects", "target",
    "targets", "answer", "question", "item", "items", "position", "positions", "location",
    "pixel", "pixels", "guidance", "description", "focus", "think", "reasoning",
})  # fmt: skip
"""Words about the task or the image itself rather than its content."""

_EXCLUDED = STOP_WORDS | SPATIAL_WORDS | META_WORDS
_TOKEN_RE = re.compile(r"[^\W\d_]+")

SPATIAL_TERMS = frozenset({
    "above", "below", "left", "right", "inside", "overlap", "overlaps", "overlapping",
    "near", "touch", "touches", "touching", "beside", "behind", "under", "between",
})  # fmt: skip
COMPARISON_TERMS = frozenset({
    "compare", "compares", "compared", "comparing", "comparison", "similar", "different",
    "difference", "match", "matches", "matched", "matching", "closest", "nearest", "best",
    "choose", "chooses", "choosing", "chose", "select", "selects", "selected", "selecting",
})  # fmt: skip
LOCALISATION_TERMS = frozenset({
    "locate", "locates", "located", "locating", "location", "identify", "identifies",
    "identified", "identifying", "position", "positions", "positioned", "area", "region",
    "corner", "center", "centre", "coordinate", "coordinates",
})  # fmt: skip
"""Logic-prior terms, matched as whole letter-run tokens. ``find`` (part of every
prompt) is not a comparison term; "reference" is not a category (the paper lists three)."""

_SPATIAL_PHRASE_RE = re.compile(r"\bnext\s+to\b|\bin\s+front\s+of\b")
"""Multi-word spatial terms."""

LOGIC_CATEGORIES: tuple[tuple[frozenset[str], float], ...] = (
    (SPATIAL_TERMS, LOGIC_W_SPATIAL),
    (COMPARISON_TERMS, LOGIC_W_COMPARISON),
    (LOCALISATION_TERMS, LOGIC_W_LOCALISATION),
)


def tokens(text: str | None) -> list[str]:
    """Lower-cased letter runs of ``text`` (the tokenisation of K and l).

    >>> tokens("Bbox=[1,2] left-hand cup's")
    ['bbox', 'left', 'hand', 'cup', 's']
    """
    return _TOKEN_RE.findall(text.lower()) if text else []


@functools.cache
def _lemminflect() -> ModuleType:
    # Imported on first use: loading its dictionaries takes ~0.3 s, and only the paper
    # profile needs it. It is a core dependency of the package.
    return importlib.import_module("lemminflect")


@functools.lru_cache(maxsize=_LEMMA_CACHE_SIZE)
def noun_lemma(token: str) -> str | None:
    """The keyword for a lower-cased token, or None (rules 2-4 of the module docstring).

    >>> noun_lemma("umbrellas"), noun_lemma("the"), noun_lemma("left")
    ('umbrella', None, None)
    """
    if len(token) < MIN_TOKEN_CHARS or token in _EXCLUDED:
        return None
    lemmas = _lemminflect().getAllLemmas(token, upos="NOUN").get("NOUN")
    if not lemmas:
        return None
    lemma = lemmas[0]
    return None if lemma in _EXCLUDED else lemma


def keywords(text: str | None, *, text_tokens: list[str] | None = None) -> frozenset[str]:
    """K(text): the set of lemmatised nouns (empty for None).

    Args:
        text: the block's text.
        text_tokens: ``tokens(text)`` when already computed.

    >>> sorted(keywords("Two zebras near a giraffe in the image."))
    ['giraffe', 'zebra']
    """
    found = set()
    for token in tokens(text) if text_tokens is None else text_tokens:
        lemma = noun_lemma(token)
        if lemma is not None:
            found.add(lemma)
    return frozenset(found)


def overlap(x: frozenset[str], y: frozenset[str]) -> float:
    """Ov(X, Y) = |K(X) & K(Y)| / max(|K(X)|, 1), normalised by the FIRST argument.

    >>> overlap(frozenset({"cup", "table"}), frozenset({"cup"}))
    0.5
    """
    return len(x & y) / max(len(x), 1)


def logic_prior(text: str | None, *, text_tokens: list[str] | None = None) -> float:
    """l(think) in [0, 1]: 0.5 * [spatial term] + 0.3 * [comparison term] + 0.2 *
    [localisation term], capped at 1.

    >>> logic_prior("I select the cup to the right of the plate")
    0.8
    """
    if not text:
        return 0.0
    words = frozenset(tokens(text) if text_tokens is None else text_tokens)
    score = 0.0
    for terms, weight in LOGIC_CATEGORIES:
        if not words.isdisjoint(terms) or (
            terms is SPATIAL_TERMS and _SPATIAL_PHRASE_RE.search(text.lower())
        ):
            score += weight
    return min(score, 1.0)
