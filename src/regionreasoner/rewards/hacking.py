"""A reward-hacking audit: degenerate completions scored against a correct one.

Each case exploits one reward term. In the main variant the exploit REPLACES the work,
as a reward-hacking policy would emit it: the answer is a wrong box (or the exploit is
the answer itself: 100 boxes, the reference box). The ``with_correct_answer`` variant
keeps the exploit but answers correctly, to show what the exploit alone costs.

Beside the exploits: legitimate completions that the guards must NOT punish (terse and
enumerated reasoning: "must stay positive"), and two calibration rows that show how the
two readings of Eq. 7 rank a correct box against richer reasoning.

``python benchmarks/rewards.py --hacking`` prints the Markdown table of ``docs/rewards.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from regionreasoner.rewards.api import score_completion
from regionreasoner.rewards.types import DEFAULT_NORMALISATION, RewardBreakdown

PROBLEM = (
    "find the cup to the right of bbox=[100,100,200,200] and to the left of bbox=[400,90,520,210]"
)
"""The question of every case: two references, one target."""

SOLUTION = [{"bbox_2d": [220, 110, 300, 190], "point_2d": [260, 150]}]
"""The ground truth (model frame)."""

_CORRECT = json.dumps(SOLUTION)
_WRONG = json.dumps([{"bbox_2d": [600, 400, 700, 500], "point_2d": [650, 450]}])
_SCENE = "A wooden table with a white plate, a red cup and a small vase."
_FOCUS = "A white plate holding two slices of bread."
_THINK = (
    "The reference bbox=[100,100,200,200] contains the plate and bbox=[400,90,520,210] "
    "contains the vase. Between them, to the right of the plate and to the left of the "
    "vase, there is a red cup on the table. I select that cup."
)


def _completion(
    *, scene: str = _SCENE, focus: str = _FOCUS, think: str = _THINK, answer: str = _CORRECT
) -> str:
    return (
        f"<scene>{scene}</scene>\n<focus>{focus}</focus>\n<think>{think}</think>\n"
        f"<answer>{answer}</answer>"
    )


GOOD_COMPLETION = _completion()
"""Correct, well-formed, cites both references, consistent."""

_STUFFED_THINK = (
    "table plate cup vase bread slices wooden white red small scene image picture photo "
    "above below left right inside overlapping near touching next to compare similar "
    "different match closest best choose select locate identify position area region "
    "corner center coordinates reference bbox guidance based on according to "
    "bbox=[100,100,200,200] bbox=[400,90,520,210]"
)
_NUMBERS = [100, 100, 200, 200, 400, 90, 520, 210]
_EVERY_NUMBER_THINK = (
    " ".join(
        "bbox=[" + ",".join(str(n) for n in _NUMBERS[i : i + 4]) + "]"
        for i in range(len(_NUMBERS) - 3)
    )
    + " "
    + " ".join(f"bbox=[{n},{n},{n},{n}]" for n in dict.fromkeys(_NUMBERS))
)
_REPEATED_THINK = "The cup is to the right of bbox=[100,100,200,200]. " * 8
_HUNDRED_BOXES = json.dumps(
    SOLUTION
    + [
        {"bbox_2d": [x, y, x + 40, y + 40], "point_2d": [x + 20, y + 20]}
        for x in range(0, 800, 80)
        for y in range(300, 800, 50)
    ][:99]
)
_REFERENCE_ANSWER = json.dumps([{"bbox_2d": [100, 100, 200, 200], "point_2d": [150, 150]}])


_STUFFED_THINK_SENTENCES = (
    "Table. Plate. Cup. Vase. Bread. Slices. Wooden. Red. Left. Right. Between. Compare. "
    "Select. Locate. Region. Reference bbox=[100,100,200,200]. Reference bbox=[400,90,520,210]."
)
"""A keyword list punctuated as one-word sentences."""
_MINIMAL_LIST_THINK = (
    "cup plate vase table bread left select locate bbox=[100,100,200,200] bbox=[400,90,520,210]"
)
"""The shortest list that maxes the logic prior and covers the scene: one term per
logic category plus the scene and focus nouns."""
_RUN_ON_THINK = "the red cup is to the right of the plate and " * 8 + "bbox=[100,100,200,200]"
"""A loop without punctuation (no sentence repeats; its word 4-grams do)."""
_TERSE_THINK = (
    "Reference bbox=[100,100,200,200] holds plate. Reference bbox=[400,90,520,210] holds "
    "vase. Red cup located between. Select red cup."
)
_ENUMERATED_THINK = (
    "Candidate 1: red cup, right of bbox=[100,100,200,200], left of bbox=[400,90,520,210]. "
    "Candidate 2: blue mug, far right of the vase. Choose candidate 1."
)
_MINIMAL_THINK = "Right of bbox=[100,100,200,200] and left of bbox=[400,90,520,210]: the target."
"""Correct citations, no description: a low consistency reward."""


@dataclass(frozen=True, slots=True)
class HackCase:
    """One degenerate completion.

    Attributes:
        name: short identifier.
        description: what it exploits.
        completion: the exploit with a wrong answer (or the answer is the exploit).
        with_correct_answer: the same exploit answering correctly (None when the answer
            itself is the exploit).
        kind: ``keyword_list``, ``repetition``, ``citation``, ``format`` or ``answer``.
    """

    name: str
    description: str
    completion: str
    with_correct_answer: str | None
    kind: str


def _exploit(name: str, description: str, kind: str, **parts: str) -> HackCase:
    """A case whose exploit is in the tags ``parts``: once with the wrong box, once with
    the correct one."""
    return HackCase(
        name, description, _completion(**parts, answer=_WRONG), _completion(**parts), kind
    )


HACK_CASES: tuple[HackCase, ...] = (
    _exploit(
        "keyword_stuffing",
        "<think> is a list of every keyword, logic word and the references",
        "keyword_list",
        think=_STUFFED_THINK,
    ),
    _exploit(
        "keyword_sentences",
        "<think> is a keyword list written as one-word sentences",
        "keyword_list",
        think=_STUFFED_THINK_SENTENCES,
    ),
    _exploit(
        "minimal_keyword_list",
        "<think> is the scene nouns, one term per logic category and the references",
        "keyword_list",
        think=_MINIMAL_LIST_THINK,
    ),
    _exploit(
        "cite_every_number",
        "<think> cites every 4-number window and every number of the question",
        "citation",
        think=_EVERY_NUMBER_THINK,
    ),
    HackCase(
        "empty_think",
        "<think></think>",
        _completion(think="", answer=_WRONG),
        _completion(think=""),
        "format",
    ),
    _exploit("focus_copies_question", "<focus> is the question text", "format", focus=PROBLEM),
    _exploit(
        "repeated_sentence",
        "<think> repeats one sentence 8 times",
        "repetition",
        think=_REPEATED_THINK,
    ),
    _exploit(
        "run_on_loop",
        "<think> loops over one clause 8 times without punctuation",
        "repetition",
        think=_RUN_ON_THINK,
    ),
    HackCase(
        "hundred_boxes",
        "the answer lists 100 boxes, the correct one among them",
        _completion(answer=_HUNDRED_BOXES),
        None,
        "answer",
    ),
    HackCase(
        "reference_as_answer",
        "the answer is the first reference box",
        _completion(answer=_REFERENCE_ANSWER),
        None,
        "answer",
    ),
)
"""The audited exploits."""

GUARDED_KINDS = frozenset({"keyword_list", "repetition"})
"""Exploit kinds that must stay at most 0.8 of the correct answer under BOTH Eq. 7
readings, with a wrong and with a correct answer (``tests/rewards/test_hacking.py``)."""


@dataclass(frozen=True, slots=True)
class LegitimateCase:
    """A completion the guards must not punish, or a calibration row.

    Attributes:
        name: short identifier.
        description: what it shows.
        completion: the completion.
    """

    name: str
    description: str
    completion: str


MUST_STAY_POSITIVE: tuple[LegitimateCase, ...] = (
    LegitimateCase(
        "terse_reasoning",
        "correct box; <think> in short sentences with few function words",
        _completion(think=_TERSE_THINK),
    ),
    LegitimateCase(
        "enumerated_reasoning",
        "correct box; <think> compares numbered candidates",
        _completion(think=_ENUMERATED_THINK),
    ),
)
"""Legitimate compact reasoning: its consistency reward must stay positive."""

CALIBRATION: tuple[LegitimateCase, ...] = (
    LegitimateCase(
        "wrong_box_well_formed",
        "the good completion with a wrong box: an honest mistake",
        _completion(answer=_WRONG),
    ),
    LegitimateCase(
        "correct_box_minimal_reasoning",
        "correct box; <think> only cites the references (low consistency)",
        _completion(think=_MINIMAL_THINK),
    ),
)
"""Rows that show how each Eq. 7 reading weighs accuracy against reasoning."""

PROFILE_SETTINGS: tuple[tuple[str, str], ...] = (
    ("official", DEFAULT_NORMALISATION),
    ("paper", "components"),
    ("paper", "base"),
)
"""The (profile, normalisation) columns of the table."""


def score(
    completion: str, profile: str, normalisation: str = DEFAULT_NORMALISATION
) -> RewardBreakdown:
    """The breakdown of ``completion`` for the audit's question (alpha = beta = 1)."""
    return score_completion(
        completion,
        problem=PROBLEM,
        solution=SOLUTION,
        profile=profile,
        normalisation=normalisation,
    )


def score_total(completion: str, profile: str, normalisation: str = DEFAULT_NORMALISATION) -> float:
    """Total reward of ``completion`` for the audit's question (alpha = beta = 1)."""
    return score(completion, profile, normalisation).total


def table_rows() -> list[tuple[str, str]]:
    """``(label, completion)`` of every row of the table, in order."""
    rows = [("correct, well-formed", GOOD_COMPLETION)]
    rows += [(case.name, case.completion) for case in CALIBRATION]
    rows += [(f"{case.name} (must stay positive)", case.completion) for case in MUST_STAY_POSITIVE]
    rows += [(case.name, case.completion) for case in HACK_CASES]
    rows += [
        (f"{case.name} + correct box", case.with_correct_answer)
        for case in HACK_CASES
        if case.with_correct_answer is not None
    ]
    return rows


def _label(profile: str, normalisation: str) -> str:
    return profile if profile == "official" else f"{profile} ({normalisation})"


def render_markdown(settings: tuple[tuple[str, str], ...] = PROFILE_SETTINGS) -> str:
    """The audit as Markdown: for each (profile, normalisation), the total and its ratio
    to the correct completion; last, the paper profile's consistency reward."""
    good = {s: score_total(GOOD_COMPLETION, *s) for s in settings}
    head = "| case | " + " | ".join(f"{_label(*s)} total | / good" for s in settings)
    lines = [head + " | paper R_cons |", "|---|" + "---:|---:|" * len(settings) + "---:|"]
    for label, text in table_rows():
        cells = []
        for setting in settings:
            total = score_total(text, *setting)
            cells.append(f"{total:.2f} | {total / good[setting]:.2f}")
        consistency = score(text, "paper").consistency
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {consistency:.2f} |")
    return "\n".join(lines)
