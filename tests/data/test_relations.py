"""Relation rules: hand-computed cases, exclusivity of the contact relations, the registry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regionreasoner.data.relations import (
    RELATION_ORDER,
    RELATIONS,
    contact_class,
    get_relation,
    pair_geometry,
    true_relations,
)
from regionreasoner.data.schema import KNOWN_RELATIONS
from regionreasoner.errors import UnknownComponentError

REF = (0.0, 0.0, 10.0, 10.0)


@pytest.mark.parametrize(
    ("target", "reference", "expected"),
    [
        # 10 px apart horizontally, same row: farther than 0.75 * mean width (7.5) -> no next_to
        ((0, 0, 10, 10), (20, 0, 30, 10), {"left_of"}),
        ((20, 0, 30, 10), (0, 0, 10, 10), {"right_of"}),
        # 4 px apart in one row -> next_to as well
        ((0, 0, 10, 10), (14, 0, 24, 10), {"left_of", "next_to"}),
        # shared vertical edge (gap 0), 6 px of shared edge >= 0.25 * 6 -> touching
        ((0, 0, 10, 10), (10, 2, 20, 8), {"left_of", "touching"}),
        # 1 px overlap is still contact, not overlap
        ((0, 0, 11, 10), (10, 0, 20, 10), {"left_of", "touching"}),
        # 5 x 5 px overlap -> overlapping only (no side dominates within tolerance)
        ((0, 0, 10, 10), (5, 5, 15, 15), {"overlapping"}),
        ((2, 2, 4, 4), (0, 0, 10, 10), {"inside"}),
        ((0, 0, 10, 10), (2, 2, 4, 4), {"contains"}),
        # sticks out by 1 px (tolerance 2) and covers 30 % of the container -> inside
        ((-1, 0, 5, 5), (0, 0, 10, 10), {"inside"}),
        # nearly the same box: area ratio 0.95 > 0.8 -> overlapping, not inside
        ((0, 0, 10, 10), (0, 0, 10, 9.5), {"overlapping"}),
        # corners meet: no shared edge -> no touching; both axes separate equally
        ((0, 0, 10, 10), (10, 10, 20, 20), {"left_of", "above"}),
        ((0, 0, 10, 10), (0, 30, 10, 40), {"above"}),
        ((0, 30, 10, 40), (0, 0, 10, 10), {"below"}),
        # mostly above (30 px) and a little left (5 px): the vertical axis dominates
        ((0, 0, 10, 10), (15, 40, 25, 50), {"above"}),
    ],
)
def test_true_relations_pairwise_cases_match_hand_computation(target, reference, expected):
    assert set(true_relations(target, reference)) == expected


@pytest.mark.parametrize(
    ("target", "distractors", "closest", "farthest"),
    [
        # target centre 20 px from the reference, distractor 60 px: closest (60 >= 1.25 * 20)
        ((20, 0, 30, 10), [(60, 0, 70, 10)], True, False),
        # target 60 px, distractor 20 px: farthest
        ((60, 0, 70, 10), [(20, 0, 30, 10)], False, True),
        # distractor 24 px < 1.25 * 20 px: no clear winner
        ((20, 0, 30, 10), [(24, 0, 34, 10)], False, False),
        # no distractor: a superlative needs a comparison set
        ((20, 0, 30, 10), [], False, False),
    ],
)
def test_superlatives_use_centre_distance_with_margin(target, distractors, closest, farthest):
    assert get_relation("closest_to").holds(target, REF, distractors) is closest
    assert get_relation("farthest_from").holds(target, REF, distractors) is farthest


def test_pair_geometry_gaps_are_signed_distances():
    g = pair_geometry((0, 0, 10, 10), (14, 5, 24, 30))
    assert (g.gap_x, g.gap_y) == (4, -5)
    assert g.target_wh == (10, 10) and g.reference_wh == (10, 25)
    nested = pair_geometry((5, 0, 8, 10), (0, 0, 15, 10))
    assert nested.gap_x == -3  # overlap of a nested interval is its own width


def test_registry_holds_exactly_the_schema_relations():
    assert set(RELATIONS.names()) == set(KNOWN_RELATIONS)
    assert RELATION_ORDER == KNOWN_RELATIONS
    for name in RELATION_ORDER:
        relation = get_relation(name)
        assert relation.name == name and relation.phrase
        assert all("{obj}" in t and "{ref}" in t for t in relation.templates)


def test_get_relation_unknown_name_suggests_close_names():
    with pytest.raises(UnknownComponentError, match="left_of"):
        get_relation("left-of")


boxes = st.tuples(
    st.integers(0, 60), st.integers(0, 60), st.integers(1, 40), st.integers(1, 40)
).map(lambda t: (float(t[0]), float(t[1]), float(t[0] + t[2]), float(t[1] + t[3])))


@settings(max_examples=300)
@given(boxes, boxes)
def test_contact_relations_are_mutually_exclusive(a, b):
    exclusive = {"inside", "contains", "overlapping", "touching", "next_to"}
    assert len(exclusive & set(true_relations(a, b))) <= 1


@settings(max_examples=300)
@given(boxes, boxes)
def test_every_pair_of_boxes_has_a_relation_and_inverse_pairs_agree(a, b):
    rels = set(true_relations(a, b))
    assert rels, (a, b)
    inverse = {
        "left_of": "right_of",
        "right_of": "left_of",
        "above": "below",
        "below": "above",
        "inside": "contains",
        "contains": "inside",
    }
    back = set(true_relations(b, a))
    for name, other in inverse.items():
        assert (name in rels) == (other in back)
    for symmetric in ("overlapping", "touching", "next_to"):
        assert (symmetric in rels) == (symmetric in back)
    assert contact_class(a, b) in {"inside", "contains", "overlapping", "touching", "apart"}
