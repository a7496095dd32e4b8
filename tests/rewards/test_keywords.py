"""Paper-profile keyword extractor K(.) and logic prior l(.)."""

from __future__ import annotations

import pytest

from regionreasoner.rewards.keywords import keywords, logic_prior, noun_lemma, overlap, tokens


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("umbrellas", "umbrella"),  # plural -> lemma
        ("men", "man"),  # irregular plural
        ("giraffe", "giraffe"),
        ("the", None),  # stop word
        ("left", None),  # spatial word
        ("image", None),  # meta word
        ("bbox", None),  # meta word (and unknown to lemminflect)
        ("located", None),  # no noun reading
        ("xyzzy", None),  # out of vocabulary
        ("a", None),  # too short
    ],
)
def test_noun_lemma_rule(token, expected):
    assert noun_lemma(token) == expected


def test_keywords_is_a_set_of_lemmas():
    assert keywords("Two zebras near a giraffe and another giraffe in the image.") == {
        "zebra",
        "giraffe",
    }
    assert keywords(None) == frozenset()
    assert keywords("") == frozenset()


def test_tokens_are_letter_runs():
    assert tokens("BBOX=[1,2] left-hand cup_2") == ["bbox", "left", "hand", "cup"]


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ({"cup", "table"}, {"cup"}, 0.5),  # normalised by the first argument
        ({"cup"}, {"cup", "table"}, 1.0),  # asymmetric
        (set(), {"cup"}, 0.0),  # empty X: 0 / max(0, 1)
    ],
)
def test_overlap(x, y, expected):
    assert overlap(frozenset(x), frozenset(y)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0.0),
        ("the cup is next to the plate", 0.5),  # phrase
        ("the cup is in front of the plate", 0.5),
        ("I select the cup to the right and locate the corner", 1.0),  # 0.5 + 0.3 + 0.2
        ("I find the cup", 0.0),  # "find" is not a comparison term here
        ("the leftover cup", 0.0),  # whole words only (the release matches substrings)
        ("the reference bbox", 0.0),  # no "reference" category
        ("compare the centre region", 0.5),  # comparison 0.3 + localisation 0.2
    ],
)
def test_logic_prior(text, expected):
    assert logic_prior(text) == pytest.approx(expected)
