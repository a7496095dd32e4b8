"""The session state: region labels in questions, box checks, the RegionDial export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from regionreasoner.backends import load_backend
from regionreasoner.data.dialogue_checks import dialogue_problems
from regionreasoner.data.schema import Target, Turn
from regionreasoner.dialogue.interactive import InteractiveEngine
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import NO_REFERENCE, get_protocol
from regionreasoner.errors import UserInputError
from regionreasoner.segmenters import load_segmenter
from regionreasoner.serve.state import (
    DialogueState,
    ImageSource,
    format_box,
    shown_box,
)

IMAGE_WH = (200, 100)


@pytest.fixture
def engine() -> Iterator[InteractiveEngine]:
    engine = InteractiveEngine(
        load_backend("oracle"),
        load_segmenter("none"),
        get_protocol("paper"),
        get_prompt("regionreasoner"),
    )
    yield engine
    engine.close()


@pytest.fixture
def state(engine: InteractiveEngine) -> DialogueState:
    """A dialogue whose first question found R1 = [10, 10, 50, 40]; U1 = [60, 10, 90, 50]."""
    context = engine.open_image(Image.new("RGB", IMAGE_WH), dialogue_id="d")
    state = DialogueState(ImageSource("upload", "x.png", "upload-x"), context)
    _ask(engine, state, "the red cup", ((10, 10, 50, 40),))
    state.add_user_box((60, 10, 90, 50), "the blue box")
    return state


def _ask(
    engine: InteractiveEngine,
    state: DialogueState,
    question: str,
    boxes: tuple[tuple[float, ...], ...],
) -> Any:
    resolved = state.resolve_question(question)
    turn = Turn(
        state.next_item_index(),
        resolved.template,
        tuple(Target(b) for b in boxes),  # type: ignore[arg-type]
        refers_to=resolved.region.item_index if resolved.region else None,
    )
    reference = (
        engine.reference(state.context, resolved.region.xyxy) if resolved.region else NO_REFERENCE
    )
    result = engine.ask(state.context, turn, reference)
    return state.add_asked(resolved, result)


@pytest.mark.parametrize(
    ("question", "template", "label"),
    [
        ("the red cup", "the red cup", None),
        ("  the cup next to R1  ", "the cup next to {ref}", "R1"),
        ("the cup next to r1", "the cup next to {ref}", "R1"),  # case is ignored
        ("U1's neighbour", "{ref}'s neighbour", "U1"),
        ("R1", "{ref}", "R1"),
        ("the R10 robot", None, None),  # R10 does not exist -> error (see below)
        ("RR1 and R1x are not labels", "RR1 and R1x are not labels", None),
    ],
)
def test_region_labels_become_the_ref_slot(
    state: DialogueState, question: str, template: str | None, label: str | None
) -> None:
    if template is None:
        with pytest.raises(UserInputError, match="no region R10"):
            state.resolve_question(question)
        return
    resolved = state.resolve_question(question)
    assert resolved.template == template
    assert (resolved.region.label if resolved.region else None) == label


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((10, 10, 20, 20), (10, 10, 20, 20)),
        (("10", "10.5", 20, 20), (10, 10.5, 20, 20)),  # table cells may be strings
        ((-5, -5, 20, 500), (0, 0, 20, 100)),  # clipped to the 200x100 image
        ((20, 10, 10, 20), "empty or outside"),  # inverted
        ((300, 10, 400, 20), "empty or outside"),  # entirely right of the image
        ((1, 2, 3), "4 numbers"),
        ((1, 2, 3, float("nan")), "not a finite number"),
        ((1, 2, 3, None), "y2 is not a number"),
    ],
)
def test_boxes_are_checked_and_clipped(
    state: DialogueState, box: tuple[Any, ...], expected: Any
) -> None:
    if isinstance(expected, str):
        with pytest.raises(UserInputError, match=expected):
            state.check_box(box, what="The box")
    else:
        assert state.check_box(box, what="The box") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("description", "needle"),
    [("", "Describe the box"), ("left of R1", "cannot cite"), ("y" * 201, "too long")],
)
def test_user_box_descriptions_are_checked(
    state: DialogueState, description: str, needle: str
) -> None:
    with pytest.raises(UserInputError, match=needle):
        state.add_user_box((0, 0, 5, 5), description)
    assert list(state.regions) == ["R1", "U1"]


def test_export_maps_items_to_turns(engine: InteractiveEngine, state: DialogueState) -> None:
    _ask(engine, state, "the shape right of U1", ((100, 10, 150, 60),))
    _ask(engine, state, "the thing under R2", ((100, 70, 150, 95),))
    dialogue, notes = state.to_dialogue("d-1", meta={"model": "oracle"})
    obj = dialogue.to_dict()
    assert dialogue_problems(obj) == [] and notes == []
    assert [t["question"] for t in obj["turns"]] == [
        "the red cup",
        "the blue box",
        "the shape right of {ref}",
        "the thing under {ref}",
    ]
    assert [t["refers_to"] for t in obj["turns"]] == [None, None, 1, 2]
    assert obj["turns"][1]["targets"] == [{"bbox": [60, 10, 90, 50]}]
    assert obj["meta"]["labels"] == {"0": ["R1"], "1": ["U1"], "2": ["R2"], "3": ["R3"]}
    assert obj["meta"]["model"] == "oracle" and obj["source"] == "serve/upload"
    assert obj["image"] == "images/d-1.png" and obj["image_wh"] == list(IMAGE_WH)


def test_export_rounds_coordinates_and_records_corrections(state: DialogueState) -> None:
    state.regions["R1"].xyxy = (10.123456, 10, 50, 40)
    dialogue, _ = state.to_dialogue("d")
    obj = dialogue.to_dict()
    assert obj["turns"][0]["targets"][0]["bbox"] == [10.12, 10, 50, 40]
    assert obj["meta"]["corrections"] == [
        {"turn_index": 0, "target": 0, "label": "R1", "predicted_bbox": [10, 10, 50, 40]}
    ]


def test_the_table_shows_rounded_boxes(state: DialogueState) -> None:
    state.regions["R1"].xyxy = (10.04, 10, 50.06, 40)
    assert state.table_rows()[0] == ["R1", "1. the red cup", 10, 10, 50.1, 40, "corrected"]
    assert state.table_rows()[1][-1] == "drawn"


@pytest.mark.parametrize(
    ("box", "shown", "text"),
    [
        ((1.0, 2.5, 3, 4.04), (1, 2.5, 3, 4), "[1, 2.5, 3, 4]"),
        (
            (99.04761904761904, 160, 140.19, 201.15),
            (99, 160, 140.2, 201.2),
            "[99, 160, 140.2, 201.2]",
        ),
    ],
)
def test_box_formatting(box: tuple[float, ...], shown: tuple[float, ...], text: str) -> None:
    assert shown_box(box) == shown
    assert format_box(box) == text
