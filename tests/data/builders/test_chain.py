"""The dialogue planner: shortest unambiguous phrase, reference turns, budgets, determinism."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from regionreasoner.data.builders.chain import (
    NounPhrase,
    SceneObject,
    plan_dialogue,
    relation_options,
)


def obj(
    key: int,
    box: tuple[float, float, float, float],
    category: str,
    keys_of_cat: set[int],
    questions: tuple[str, ...] = ("q",),
) -> SceneObject:
    return SceneObject(
        key,
        box,
        category,
        (
            NounPhrase(category, frozenset(keys_of_cat), is_category=True),
            NounPhrase(f"expression {key}", frozenset({key}), appositive=True),
        ),
        questions,
    )


def row_scene(extra_person: bool) -> list[SceneObject]:
    """Boxes in one row, 20 px apart: person 1, person 2, car 3 (and person 4)."""
    people = {1, 2, 4} if extra_person else {1, 2}
    scene = [
        obj(1, (0, 0, 10, 10), "person", people),
        obj(2, (30, 0, 40, 10), "person", people),
        obj(3, (60, 0, 70, 10), "car", {3}),
    ]
    if extra_person:
        scene.append(obj(4, (90, 0, 100, 10), "person", people))
    return scene


def _phrases(options, target: int, relation: str) -> list[str]:
    return [p.text for o, r, p in options if o.key == target and r.name == relation]


def test_relation_options_category_noun_when_it_is_unambiguous():
    scene = row_scene(extra_person=False)
    options = relation_options(scene, scene[0], scene[1:])
    assert _phrases(options, 2, "right_of") == ["person"]
    assert _phrases(options, 3, "right_of") == ["car"]
    assert _phrases(options, 2, "left_of") == []  # not true
    # closest/farthest need a distractor of the same category: none for the car
    assert _phrases(options, 3, "farthest_from") == []


def test_relation_options_falls_back_to_the_expression_when_the_noun_is_ambiguous():
    scene = row_scene(extra_person=True)
    options = relation_options(scene, scene[0], scene[1:])
    # persons 2 and 4 are both right of person 1: "the person to the right of" is ambiguous
    assert _phrases(options, 2, "right_of") == ["expression 2"]
    # ... but person 2 is clearly the closest person and person 4 the farthest one
    assert _phrases(options, 2, "closest_to") == ["person"]
    assert _phrases(options, 4, "farthest_from") == ["person"]
    assert _phrases(options, 4, "closest_to") == []


def test_relation_options_never_counts_the_reference_as_a_candidate():
    # two overlapping boxes: the reference overlaps itself, which must not block the target
    a = obj(1, (0, 0, 10, 10), "dog", {1, 2})
    b = obj(2, (5, 5, 15, 15), "dog", {1, 2})
    assert _phrases(relation_options([a, b], a, [b]), 2, "overlapping") == ["dog"]


@pytest.mark.parametrize("seed", range(20))
def test_plan_dialogue_structure(seed):
    rng = random.Random(seed)
    scene = [*row_scene(extra_person=True), obj(5, (0, 40, 10, 50), "cup", {5}, questions=())]
    counts: Counter[str] = Counter()
    plan = plan_dialogue(scene, n_turns=7, rng=rng, relation_counts=counts)
    assert len(plan) == 4  # capped by the 4 referable objects; the cup is only a distractor
    assert len({t.target for t in plan}) == 4 and 5 not in {t.target for t in plan}
    assert plan[0].refers_to is None and plan[0].question == "q"
    later = plan[1:]
    assert sum(t.refers_to is None for t in later) <= len(later) // 2
    for i, turn in enumerate(plan):
        assert (turn.refers_to is None) == (turn.relation is None) == ("{ref}" not in turn.question)
        if turn.refers_to is not None:
            assert 0 <= turn.refers_to < i
    assert sum(counts.values()) == sum(t.refers_to is not None for t in plan)


def test_plan_dialogue_is_a_function_of_the_rng():
    scene = row_scene(extra_person=True)
    first = plan_dialogue(scene, n_turns=4, rng=random.Random(3), relation_counts=Counter())
    again = plan_dialogue(scene, n_turns=4, rng=random.Random(3), relation_counts=Counter())
    assert first == again


def test_plan_dialogue_balances_relations_over_a_build():
    scene = row_scene(extra_person=True)
    counts: Counter[str] = Counter()
    for seed in range(60):
        plan_dialogue(scene, n_turns=4, rng=random.Random(seed), relation_counts=counts)
    # every relation available in this row of boxes gets used, none dominates
    assert {"left_of", "right_of", "closest_to", "farthest_from"} <= set(counts)
    assert max(counts.values()) < 3 * min(counts.values())


def test_plan_dialogue_no_referable_object_gives_no_turn():
    scene = [obj(1, (0, 0, 10, 10), "cup", {1}, questions=())]
    assert plan_dialogue(scene, n_turns=3, rng=random.Random(0), relation_counts=Counter()) == []
