"""Question frames and synthetic captions."""

from __future__ import annotations

import random

import pytest

from regionreasoner.data.builders.templates import (
    SYNTH_BACKGROUNDS,
    SYNTH_COLOURS,
    describe_object,
    focus_caption,
    number_word,
    render_relation_question,
    scene_caption,
    with_article,
)
from regionreasoner.data.relations import RELATION_ORDER, get_relation


@pytest.mark.parametrize("name", RELATION_ORDER)
def test_render_relation_question_noun_frame_keeps_the_placeholder(name):
    relation = get_relation(name)
    seen = {
        render_relation_question(relation, "red circle", appositive=False, rng=random.Random(seed))
        for seed in range(20)
    }
    assert seen == {t.replace("{obj}", "red circle") for t in relation.templates}
    assert all(q.startswith("the red circle ") and q.endswith("{ref}") for q in seen)


def test_render_relation_question_appositive_frame():
    question = render_relation_question(
        get_relation("left_of"), "man in red shirt.", appositive=True, rng=random.Random(0)
    )
    assert question == "man in red shirt, to the left of {ref}"


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("orange circle", "an orange circle"),
        ("red star", "a red star"),
        ("uniform", "an uniform"),
    ],  # the rule is letter-based, documented as such
)
def test_with_article(phrase, expected):
    assert with_article(phrase) == expected


def test_describe_object_skips_plain_texture_and_orders_words():
    assert describe_object("red", "triangle") == "red triangle"
    assert describe_object("red", "triangle", texture="striped", size="small") == (
        "small striped red triangle"
    )


def test_scene_and_focus_captions():
    assert scene_caption(["red circle"], "beige", "grid") == (
        "The image shows one shape on a grid beige background: a red circle."
    )
    text = scene_caption(["a", "b", "c"], "cream", "plain")
    assert (
        text.startswith("The image shows three shapes") and "background: an a, a b and a c." in text
    )
    assert focus_caption("blue square", []) == "A blue square."
    assert focus_caption("large blue square", ["yellow circle", "red star"]) == (
        "A large blue square, with a yellow circle and a red star inside it."
    )
    assert number_word(12) == "12"


def test_synth_palette_objects_are_far_from_backgrounds():
    # every object colour differs from every background tone by > 60 on some channel
    for colour in SYNTH_COLOURS.values():
        for tone in SYNTH_BACKGROUNDS.values():
            assert max(abs(a - b) for a, b in zip(colour, tone, strict=True)) > 60
