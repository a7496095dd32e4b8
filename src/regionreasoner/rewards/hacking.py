"""A reward-hacking audit: degenerate completions scored against a correct one.

Each case exploits one reward term. In the main variant the exploit REPLACES the work,
as a reward-hacking policy would emit it: the answer is a wrong box (or the exploit is
the answer itself: 100 boxes, the reference box). The ``with_correct_answer`` variant
keeps the exploit but answers correctly, to show what the exploit alone costs.

``python benchmarks/rewards.py --hacking`` prints the Markdown table of ``docs/rewards.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from regionreasoner.rewards.api import score_completion

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


@dataclass(frozen=True, slots=True)
class HackCase:
    """One degenerate completion.

    Attributes:
        name: short identifier.
        description: what it exploits.
        completion: the exploit with a wrong answer (or the answer is the exploit).
        with_correct_answer: the same exploit answering correctly (None when the answer
            itself is the exploit).
    """

    name: str
    description: str
    completion: str
    with_correct_answer: str | None


HACK_CASES: tuple[HackCase, ...] = (
    HackCase(
        "keyword_stuffing",
        "<think> is a list of every keyword, logic word and the references",
        _completion(think=_STUFFED_THINK, answer=_WRONG),
        _completion(think=_STUFFED_THINK),
    ),
    HackCase(
        "cite_every_number",
        "<think> cites every 4-number window and every number of the question",
        _completion(think=_EVERY_NUMBER_THINK, answer=_WRONG),
        _completion(think=_EVERY_NUMBER_THINK),
    ),
    HackCase(
        "empty_think",
        "<think></think>",
        _completion(think="", answer=_WRONG),
        _completion(think=""),
    ),
    HackCase(
        "focus_copies_question",
        "<focus> is the question text",
        _completion(focus=PROBLEM, answer=_WRONG),
        _completion(focus=PROBLEM),
    ),
    HackCase(
        "repeated_sentence",
        "<think> repeats one sentence 8 times",
        _completion(think=_REPEATED_THINK, answer=_WRONG),
        _completion(think=_REPEATED_THINK),
    ),
    HackCase(
        "hundred_boxes",
        "the answer lists 100 boxes, the correct one among them",
        _completion(answer=_HUNDRED_BOXES),
        None,
    ),
    HackCase(
        "reference_as_answer",
        "the answer is the first reference box",
        _completion(answer=_REFERENCE_ANSWER),
        None,
    ),
)
"""The audited exploits."""


def score_total(completion: str, profile: str) -> float:
    """Total reward of ``completion`` for the audit's question (alpha = beta = 1)."""
    return score_completion(completion, problem=PROBLEM, solution=SOLUTION, profile=profile).total


def render_markdown(profiles: tuple[str, ...] = ("official", "paper")) -> str:
    """The audit as Markdown: totals and their ratio to the correct completion."""
    good = {p: score_total(GOOD_COMPLETION, p) for p in profiles}
    head = "| case | " + " | ".join(f"{p} total | {p} / good" for p in profiles) + " |"
    rule = "|---|" + "---:|---:|" * len(profiles)
    lines = [head, rule]
    lines.append(
        "| correct, well-formed | " + " | ".join(f"{good[p]:.2f} | 1.00" for p in profiles) + " |"
    )
    for variant in ("completion", "with_correct_answer"):
        for case in HACK_CASES:
            text = getattr(case, variant)
            if text is None:
                continue
            label = case.name if variant == "completion" else f"{case.name} + correct box"
            cells = []
            for p in profiles:
                total = score_total(text, p)
                cells.append(f"{total:.2f} | {total / good[p]:.2f}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
