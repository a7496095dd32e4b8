"""The prediction row of a turn: JSON helpers and the row's fields."""

from __future__ import annotations

import numpy as np

from regionreasoner.dialogue.records import TurnRecord, boxes_to_json, points_to_json


def test_json_helpers_keep_integers_and_null_points() -> None:
    assert boxes_to_json(np.array([[1.0, 2.5, 3.0, 4.0]])) == [[1, 2.5, 3, 4]]
    assert points_to_json(np.array([[1.0, 2.0], [np.nan, np.nan]])) == [[1, 2], None]


def test_to_row_has_every_field_in_declaration_order() -> None:
    names = list(TurnRecord.__dataclass_fields__)
    assert names[:3] == ["dialogue_id", "turn_index", "refers_to"]
    values = {name: index for index, name in enumerate(names)}
    row = TurnRecord(**values).to_row()  # type: ignore[arg-type]
    assert list(row) == names and list(row.values()) == list(range(len(names)))
