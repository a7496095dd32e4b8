"""Question, expression and caption templates of the benchmark builders.

Relation questions come in two frames (the relation's own wording lives in
:mod:`regionreasoner.data.relations`):

* noun frame, for a short noun phrase (a category, "red circle"): one of the
  relation's templates, e.g. ``"the {obj} to the left of {ref}"``;
* appositive frame, for a full human expression that already identifies the target:
  ``"{expression}, {phrase} {ref}"``, as in the paper's example "find the standing dog,
  next to bbox=[...]".

The synthetic vocabulary (colours, shapes, textures, size and position words,
backgrounds) and its caption sentences are defined here too, so the words a model
should learn are in one place.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from regionreasoner.data.relations import Relation
from regionreasoner.data.schema import REF_PLACEHOLDER

APPOSITIVE_TEMPLATE = "{expression}, {phrase} {ref}"
"""Frame for relation questions that keep the target's full (human) expression."""


def render_relation_question(
    relation: Relation, noun_phrase: str, *, appositive: bool, rng: random.Random
) -> str:
    """A question about ``noun_phrase`` in ``relation`` to the region ``{ref}``.

    Args:
        relation: the relation (its phrase and templates).
        noun_phrase: a noun phrase WITHOUT article ("red circle") in the noun frame, or a
            full expression in the appositive frame.
        appositive: use :data:`APPOSITIVE_TEMPLATE` instead of the relation's templates.
        rng: picks one of the relation's templates.

    >>> from regionreasoner.data.relations import get_relation
    >>> render_relation_question(get_relation("above"), "man in red", appositive=True,
    ...                          rng=random.Random(0))
    'man in red, above {ref}'
    """
    if appositive:
        return APPOSITIVE_TEMPLATE.format(
            expression=noun_phrase.strip().rstrip(".,"), phrase=relation.phrase, ref=REF_PLACEHOLDER
        )
    return rng.choice(relation.templates).format(obj=noun_phrase, ref=REF_PLACEHOLDER)


# ----------------------------------------------------------------------------------------
# Synthetic vocabulary
# ----------------------------------------------------------------------------------------

SYNTH_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 200),
    "yellow": (240, 200, 20),
    "purple": (140, 60, 180),
    "orange": (250, 127, 14),
    "black": (30, 30, 30),
}
"""Object colours: saturated and far apart, all distinct from the pale backgrounds."""

SYNTH_ACCENTS: dict[str, tuple[int, int, int]] = {
    "red": (250, 170, 170),
    "green": (170, 230, 170),
    "blue": (160, 190, 250),
    "yellow": (150, 110, 0),
    "purple": (215, 180, 240),
    "orange": (140, 60, 0),
    "black": (150, 150, 150),
}
"""Second colour of the striped and dotted textures of each colour."""

SYNTH_SHAPES = ("circle", "square", "triangle", "diamond", "hexagon", "star")
"""Shape names (the category of a synthetic object)."""

SYNTH_TEXTURES = ("plain", "striped", "dotted")
"""Textures; ``plain`` is named only when needed to tell objects apart."""

SYNTH_BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "light grey": (226, 226, 226),
    "beige": (238, 228, 205),
    "pale blue": (214, 228, 242),
    "pale green": (219, 236, 217),
    "cream": (247, 242, 226),
    "lavender": (232, 226, 243),
}
"""Background tones (pale, low saturation)."""

SYNTH_BACKGROUND_PATTERNS = ("plain", "gradient", "noisy", "grid")
"""Background patterns, named in the scene caption."""

SIZE_WORDS = {"small": "small", "large": "large"}
"""Size words used when two objects of the same colour and shape differ in size."""

POSITION_WORDS = {
    "left": ("on the left", "leftmost"),
    "right": ("on the right", "rightmost"),
    "top": ("at the top", "topmost"),
    "bottom": ("at the bottom", "bottommost"),
}
"""Position words: suffix form for a pair, superlative prefix for three or more."""

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def with_article(noun_phrase: str) -> str:
    """``"a"``/``"an"`` + noun phrase."""
    article = "an" if noun_phrase[:1].lower() in "aeiou" else "a"
    return f"{article} {noun_phrase}"


def number_word(n: int) -> str:
    """Small numbers as words ("three"), larger ones as digits."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def describe_object(
    colour: str, shape: str, *, texture: str = "plain", size: str | None = None
) -> str:
    """A full description without article: ``"small striped red triangle"``."""
    words = [w for w in (size, None if texture == "plain" else texture, colour, shape) if w]
    return " ".join(words)


def join_phrases(items: Sequence[str]) -> str:
    """``"a, b and c"``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def scene_caption(object_descriptions: Sequence[str], background: str, pattern: str) -> str:
    """Global caption of a synthetic image.

    >>> scene_caption(["red circle", "small blue square"], "beige", "plain")
    'The image shows two shapes on a plain beige background: a red circle and a small blue square.'
    """
    n = len(object_descriptions)
    noun = "shape" if n == 1 else "shapes"
    listed = join_phrases([with_article(d) for d in object_descriptions])
    return (
        f"The image shows {number_word(n)} {noun} on a {pattern} {background} background: {listed}."
    )


def focus_caption(reference_description: str, inner_descriptions: Sequence[str]) -> str:
    """What is visible inside a reference region: the object and what lies inside it.

    >>> focus_caption("large blue square", ["small yellow circle"])
    'A large blue square, with a small yellow circle inside it.'
    """
    text = with_article(reference_description)
    if inner_descriptions:
        text += (
            ", with " + join_phrases([with_article(d) for d in inner_descriptions]) + " inside it"
        )
    return text[0].upper() + text[1:] + "."


__all__ = [
    "APPOSITIVE_TEMPLATE",
    "POSITION_WORDS",
    "SIZE_WORDS",
    "SYNTH_ACCENTS",
    "SYNTH_BACKGROUNDS",
    "SYNTH_BACKGROUND_PATTERNS",
    "SYNTH_COLOURS",
    "SYNTH_SHAPES",
    "SYNTH_TEXTURES",
    "describe_object",
    "focus_caption",
    "join_phrases",
    "number_word",
    "render_relation_question",
    "scene_caption",
    "with_article",
]
