"""Named constants of the reward profiles (units in each docstring).

The ``OFFICIAL_*`` values reproduce the released reward code
(``train/verl/utils/reward_score/region_reasoner.py``); the ``PAPER_*`` values are the
paper's coefficients (Sec. 4.3, Eqs. 4-7) and the choices this project made where the
paper is silent (see ``docs/rewards.md``). Shared accuracy thresholds are used by both.
"""

from __future__ import annotations

from regionreasoner.geometry.boxes import IOU_HIT as IOU_HIT  # re-exported

# --- accuracy (both profiles) ---------------------------------------------------------

# IOU_HIT (imported above): a predicted box "hits" a GT box when IoU > this (strict); one
# value with the evaluation's acc@0.5.

BOX_L1_HIT_PX = 10.0
"""A predicted box "hits" when the mean absolute coordinate difference is < this (px)."""

POINT_HIT_PX = 30.0
"""A predicted point "hits" when its Euclidean distance to the GT point is < this (px) and
it lies inside its OWN predicted box (borders included)."""

MAX_OBJECTS = 120
"""At most this many predicted and GT objects enter the matching (the released cap)."""

ACCURACY_TERMS = 3
"""Binary terms per matched pair: box IoU, box L1, point distance."""

# --- reference citation (Eq. 4; both profiles) --------------------------------------

CITATION_LAMBDA = 1.0
"""lambda: weight of kw(h), "the think mentions a box"."""

CITATION_MU = 1.0
"""mu: weight of the fraction of cited boxes that are references."""

CITATION_ETA = 0.5
"""eta: multiplier applied when the think cites a box that is not a reference."""

NO_REFERENCE_CITATION = 1.0
"""R_ref when the question has no reference box."""

# --- consistency (Eqs. 5-6; both profiles) -------------------------------------------

CONSISTENCY_W_SCENE = 1.0
"""w_s: weight of Ov(scene, think)."""

CONSISTENCY_W_FOCUS = 0.6
"""w_f: weight of Ov(focus, think)."""

CONSISTENCY_W_LOGIC = 0.4
"""w_l: weight of the logic prior l(think)."""

LOGIC_W_SPATIAL = 0.5
"""Logic-prior contribution of a spatial-relation term."""

LOGIC_W_COMPARISON = 0.3
"""Logic-prior contribution of a comparison term."""

LOGIC_W_LOCALISATION = 0.2
"""Logic-prior contribution of a localisation term."""

OFFICIAL_LOGIC_W_REFERENCE = 0.2
"""Released code only: a fourth "reference" category (the prior then reaches 1.2)."""

# --- official profile: per-tag format heuristics -------------------------------------

OFFICIAL_SCENE_MIN_CHARS = 10
"""``<scene>`` content shorter than this (characters) scores :data:`OFFICIAL_SCENE_SHORT`."""

OFFICIAL_SCENE_SHORT = 0.2
OFFICIAL_SCENE_PLAIN = 0.3
OFFICIAL_SCENE_KEYWORD = 0.5
"""Scene scores: too short / long enough / long enough and containing a scene word."""

OFFICIAL_FOCUS_MIN_WORDS = 5
"""``<focus>`` with fewer whitespace-separated words scores :data:`OFFICIAL_FOCUS_SHORT`."""

OFFICIAL_FOCUS_SHORT = 0.2
OFFICIAL_FOCUS_FULL = 0.8
"""Focus scores with a reference: short / at least :data:`OFFICIAL_FOCUS_MIN_WORDS` words."""

OFFICIAL_FOCUS_COPY_RATIO = 0.6
"""Focus scores 0 when more than this fraction of the question's whitespace tokens occur in it."""

OFFICIAL_FOCUS_COPY_EPS = 1e-6
"""Added to the question's token count in the copy ratio's denominator (released code)."""

OFFICIAL_FOCUS_ABSENT_NO_REF = 0.5
"""Focus score when the question has no reference and there is no ``<focus>`` block."""

OFFICIAL_THINK_MIN_CHARS = 10
OFFICIAL_THINK_SHORT = 0.2
OFFICIAL_THINK_FULL = 0.5
"""Think scores: shorter than the minimum (characters) / long enough."""

OFFICIAL_ANSWER_MIN_CHARS = 3
OFFICIAL_ANSWER_SHORT = 0.1
OFFICIAL_ANSWER_FULL = 0.5
"""Answer-tag scores: shorter than the minimum (characters) / long enough."""

OFFICIAL_MAX_REPEATS = 2
"""Non-repeat drops to 0 once this many sentences repeat an earlier one."""

OFFICIAL_KEYWORD_LIMIT = 10
"""Only the first this-many keywords (duplicates kept) of a block are used."""

OFFICIAL_KEYWORD_MIN_CHARS = 3
"""Keywords have at least this many characters."""

# --- paper profile --------------------------------------------------------------------

COMPONENT_MAX = 2.0
"""Every paper-profile component is clipped to ``[0, COMPONENT_MAX]`` (paper, Eq. 7)."""

TAG_PRESENCE_WEIGHT = 1.0
"""tag_format share for the expected tags being present with valid content."""

TAG_STRUCTURE_WEIGHT = 1.0
"""tag_format share for exactly the expected tags, once each, closed, in order, all valid."""

FOCUS_COPY_RATIO = 0.6
"""A ``<focus>`` is a copy of the question when it contains more than this fraction of
the question's content words and names no object (keyword) the question does not."""

THINK_DUMP_MIN_WORDS = 8
"""A think of at least this many words is checked for being a keyword list."""

THINK_MIN_FUNCTION_WORD_RATIO = 0.15
"""...when fewer than this fraction of its words are function words (terse reasoning is
like that too, so the next two rules decide)."""

KEYWORD_LIST_RUN_WORDS = 8
"""A keyword list: this many content words in a row inside one sentence (commas and
colons do not break the run)."""

KEYWORD_LIST_FRAGMENT_SHARE = 0.5
"""A keyword list: more than this fraction of the words are one-word sentences."""

REFERENCE_COPY_IOU = 0.9
"""An answer box with continuous IoU >= this with a reference box restates the reference."""

PLAUSIBLE_ANSWER_ITEMS = 10
"""answer_format is scaled by ``min(1, PLAUSIBLE_ANSWER_ITEMS / items)``."""

LENIENT_SCHEMA_FACTOR = 0.5
"""answer_format multiplier when the answer needed lenient parsing (code fence, single
object, bare box, trailing text, truncated JSON)."""

NGRAM_SIZE = 4
"""Word n-gram size of the run-on repetition check."""

NGRAM_REPEAT_ALLOWANCE = 0.2
"""Fraction of repeated n-grams inside one block tolerated before non_repeat drops."""

MIN_SENTENCE_WORDS = 2
"""Sentence fragments with fewer words (e.g. pieces of "12.5") are ignored."""
