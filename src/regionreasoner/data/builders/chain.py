"""Planning a multi-round dialogue over the objects of one image (shared by all builders).

A builder describes the image as :class:`SceneObject` records (box, category, the noun
phrases that may name it, and stand-alone questions for it) and asks
:func:`plan_dialogue` for the turns:

1. Turn 1 asks a stand-alone question (a human expression for RefCOCO, the unique
   synthetic expression for ``synth``) about a random referable object.
2. Each later turn picks a new target and an earlier turn to refer to (the previous
   turn with probability :data:`CHAIN_PREVIOUS_PROB`, otherwise another earlier turn),
   and a relation that is TRUE between their ground-truth boxes. The question names the
   target with the SHORTEST noun phrase that makes it the only object in that relation
   to the reference (the reference object itself is never a candidate); when no short
   phrase does, the target's full expression is kept. Superlatives (``closest_to``,
   ``farthest_from``) use the category noun, and their distractors are the other
   objects of that category.
3. A later turn is asked without reference with probability :data:`PLAIN_TURN_PROB`,
   but never more than half of the later turns of a dialogue, so at least half of them
   cite an earlier turn.

Relations are drawn with weights ``(1 + uses so far) ** -BALANCE_POWER`` from a
counter shared over the whole build, which evens out the relation histogram. All
choices come from the ``rng`` passed in, so a build is a pure function of its seed.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from regionreasoner.data.builders.templates import render_relation_question
from regionreasoner.data.relations import RELATION_ORDER, RELATIONS, Box, Relation

PLAIN_TURN_PROB = 0.15
"""Chance that a later turn is asked without a reference (capped at half the later turns)."""

CHAIN_PREVIOUS_PROB = 0.6
"""Chance that a later turn refers to the turn just before it (a chain)."""

BALANCE_POWER = 2.0
"""Relations are drawn with weight ``(1 + uses so far) ** -BALANCE_POWER``: rare
relations (inside, touching) are preferred whenever a scene offers them."""


@dataclass(frozen=True, slots=True)
class NounPhrase:
    """A way to name an object in a relation question.

    Attributes:
        text: the noun phrase without article ("red circle") or a full expression.
        matches: keys of every object of the image the phrase can denote.
        appositive: render with the appositive frame (full human expressions).
        is_category: the category noun; the only phrase allowed for superlatives.
    """

    text: str
    matches: frozenset[int]
    appositive: bool = False
    is_category: bool = False


@dataclass(frozen=True, slots=True)
class SceneObject:
    """One object of the image as the planner sees it.

    Attributes:
        key: unique id within the image (the COCO annotation id for RefCOCO).
        xyxy: ground-truth box in original-image pixels.
        category: category name (defines superlative distractors).
        phrases: noun phrases, shortest first.
        questions: stand-alone questions that identify the object (turns without a
            reference); empty for objects that are only distractors.
    """

    key: int
    xyxy: Box
    category: str
    phrases: tuple[NounPhrase, ...]
    questions: tuple[str, ...] = ()

    @property
    def referable(self) -> bool:
        """Whether the object can be the target of a turn."""
        return bool(self.questions)


@dataclass(frozen=True, slots=True)
class PlannedTurn:
    """One planned turn: target key, question, the cited turn and the relation."""

    target: int
    question: str
    refers_to: int | None = None
    relation: str | None = None


def relation_options(
    objects: Sequence[SceneObject], reference: SceneObject, candidates: Sequence[SceneObject]
) -> list[tuple[SceneObject, Relation, NounPhrase]]:
    """Every ``(target, relation, phrase)`` that makes a true and unambiguous question.

    Args:
        objects: all objects of the image (targets and distractors).
        reference: the object of the cited turn.
        candidates: possible targets (referable, not used yet).

    Returns:
        For each candidate and relation, the shortest valid phrase, in candidate order
        then :data:`RELATION_ORDER`.
    """
    by_key = {o.key: o for o in objects}
    satisfied: dict[str, set[int]] = {}
    for name in RELATION_ORDER:
        relation = RELATIONS.get(name)
        if relation.superlative:
            continue
        satisfied[name] = {
            o.key
            for o in objects
            if o.key != reference.key and relation.holds(o.xyxy, reference.xyxy)
        }
    out = []
    for target in candidates:
        for name in RELATION_ORDER:
            relation = RELATIONS.get(name)
            for phrase in target.phrases:
                if _phrase_works(relation, phrase, target, reference, by_key, satisfied):
                    out.append((target, relation, phrase))
                    break
    return out


def _phrase_works(
    relation: Relation,
    phrase: NounPhrase,
    target: SceneObject,
    reference: SceneObject,
    by_key: dict[int, SceneObject],
    satisfied: dict[str, set[int]],
) -> bool:
    if target.key not in phrase.matches:
        return False
    if relation.superlative:
        if not phrase.is_category:
            return False
        distractors = [by_key[k].xyxy for k in sorted(phrase.matches - {target.key, reference.key})]
        return relation.holds(target.xyxy, reference.xyxy, distractors)
    return (phrase.matches - {reference.key}) & satisfied[relation.name] == {target.key}


def plan_dialogue(
    objects: Sequence[SceneObject],
    *,
    n_turns: int,
    rng: random.Random,
    relation_counts: Counter[str],
) -> list[PlannedTurn]:
    """Plan up to ``n_turns`` turns, one distinct referable object per turn.

    Args:
        objects: every object of the image; the referable ones become targets.
        n_turns: wanted number of turns (capped by the number of referable objects).
        rng: the only source of randomness.
        relation_counts: relations used so far in the build (updated in place).

    Returns:
        The turns; ``PlannedTurn.refers_to`` indexes into the returned list.
    """
    pool = [o for o in objects if o.referable]
    n_turns = min(n_turns, len(pool))
    if n_turns <= 0:
        return []
    first = rng.choice(pool)
    turns = [PlannedTurn(first.key, rng.choice(first.questions))]
    used = {first.key}
    plain_budget = (n_turns - 1) // 2
    by_key = {o.key: o for o in objects}
    while len(turns) < n_turns:
        unused = [o for o in pool if o.key not in used]
        want_plain = plain_budget > 0 and rng.random() < PLAIN_TURN_PROB
        planned = (
            None
            if want_plain
            else _plan_reference_turn(objects, by_key, turns, unused, rng, relation_counts)
        )
        if planned is None:
            target = rng.choice(unused)
            planned = PlannedTurn(target.key, rng.choice(target.questions))
            plain_budget -= 1
        turns.append(planned)
        used.add(planned.target)
    return turns


def _plan_reference_turn(
    objects: Sequence[SceneObject],
    by_key: dict[int, SceneObject],
    turns: list[PlannedTurn],
    unused: list[SceneObject],
    rng: random.Random,
    relation_counts: Counter[str],
) -> PlannedTurn | None:
    earlier = list(range(len(turns)))
    rng.shuffle(earlier)
    if rng.random() < CHAIN_PREVIOUS_PROB:
        earlier.remove(len(turns) - 1)
        earlier.insert(0, len(turns) - 1)
    for j in earlier:
        reference = by_key[turns[j].target]
        options = relation_options(objects, reference, unused)
        if not options:
            continue
        names = sorted({rel.name for _, rel, _ in options}, key=RELATION_ORDER.index)
        weights = [(1.0 + relation_counts[n]) ** -BALANCE_POWER for n in names]
        chosen = rng.choices(names, weights=weights, k=1)[0]
        target, relation, phrase = rng.choice([o for o in options if o[1].name == chosen])
        relation_counts[chosen] += 1
        question = render_relation_question(
            relation, phrase.text, appositive=phrase.appositive, rng=rng
        )
        return PlannedTurn(target.key, question, refers_to=j, relation=chosen)
    return None


__all__ = [
    "CHAIN_PREVIOUS_PROB",
    "PLAIN_TURN_PROB",
    "NounPhrase",
    "PlannedTurn",
    "SceneObject",
    "plan_dialogue",
    "relation_options",
]
