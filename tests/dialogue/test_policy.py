"""Reference policies choose the box substituted into a later turn."""

from __future__ import annotations

import numpy as np
import pytest

from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.dialogue.policy import REFERENCE_POLICIES, get_reference_policy
from regionreasoner.errors import UnknownComponentError

DIALOGUE = Dialogue(
    dialogue_id="x",
    image="x.jpg",
    turns=(
        Turn(0, "a", (Target((1.0, 2.0, 3.0, 4.0)), Target((5.0, 6.0, 7.0, 8.0)))),
        Turn(1, "b", (Target((9.0, 9.0, 19.0, 19.0)),)),
        Turn(2, "c near {ref}", (Target((0.0, 0.0, 5.0, 5.0)),), refers_to=0),
    ),
)


@pytest.mark.parametrize(
    ("policy", "predictions", "expected"),
    [
        (
            "predicted",
            {0: np.array([[10.0, 11, 12, 13], [0, 0, 1, 1]])},
            ((10.0, 11.0, 12.0, 13.0), "predicted"),
        ),  # the FIRST predicted box
        ("predicted", {0: np.zeros((0, 4))}, (None, "none")),  # predicted nothing
        ("predicted", {}, (None, "none")),  # not answered
        (
            "oracle",
            {0: np.array([[10.0, 11, 12, 13]])},
            ((1.0, 2.0, 3.0, 4.0), "ground_truth"),
        ),  # FIRST GT box of turn refers_to
    ],
)
def test_policy_choose(policy: str, predictions: dict, expected: tuple) -> None:
    assert get_reference_policy(policy).choose(DIALOGUE, DIALOGUE.turns[2], predictions) == expected


def test_policies_registry_names_and_unknown() -> None:
    assert REFERENCE_POLICIES.names() == ["oracle", "predicted"]
    with pytest.raises(UnknownComponentError, match="predicted"):
        get_reference_policy("predict")
