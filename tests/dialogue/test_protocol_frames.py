"""The paper protocol in every frame: references written in the frame (integers, or three
decimals for rel1), citations matched within one step of the frame, answers read back."""

from __future__ import annotations

import numpy as np
import pytest

from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.dialogue.policy import get_reference_policy
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import (
    CITATION_TOLERANCE_PX,
    FRAMES,
    citation_flags,
    get_protocol,
)
from regionreasoner.errors import ConfigError
from regionreasoner.parsing import parse_response

IMAGE_WH = (640, 480)
PREDICTED = {0: np.array([[64.0, 48.0, 320.0, 360.0]])}


def _dialogue() -> Dialogue:
    return Dialogue(
        dialogue_id="x",
        image="x.jpg",
        image_wh=IMAGE_WH,
        turns=(
            Turn(0, "the dog", (Target((64.0, 48.0, 320.0, 360.0)),)),
            Turn(1, "the cat next to {ref}", (Target((10.5, 20.0, 30.0, 40.0)),), refers_to=0),
        ),
    )


def _reference(frame: str):
    protocol = get_protocol("paper", frame=frame)
    d = _dialogue()
    policy = get_reference_policy("predicted")
    return protocol.reference(d, d.turns[1], policy, PREDICTED, protocol.frame(IMAGE_WH))


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        ("square840", "bbox=[84,84,420,630]"),
        ("image", "bbox=[64,48,320,360]"),
        ("rel1000", "bbox=[100,100,500,750]"),
        ("rel1", "bbox=[0.100,0.100,0.500,0.750]"),
    ],
)
def test_the_reference_is_written_in_the_frame(frame, text):
    reference = _reference(frame)
    assert reference.text == text
    assert reference.image_xyxy == (64.0, 48.0, 320.0, 360.0)
    question = _dialogue().turns[1].render_question(reference.text)
    assert text in get_prompt("regionreasoner").render_user(question)


@pytest.mark.parametrize(
    ("frame", "tolerance"),
    [("square840", 1.0), ("rel1000", 1.0), ("image", 1.0), ("rel1", 0.001)],
)
def test_citation_tolerance_is_one_step_of_the_frame(frame, tolerance):
    reference = _reference(frame)
    assert reference.tolerance == pytest.approx(CITATION_TOLERANCE_PX * tolerance)


def test_a_rel1_citation_must_match_to_the_written_step():
    reference = _reference("rel1")

    def flags(cited: str) -> tuple[bool | None, bool | None]:
        text = f"<scene>s</scene><think>next to {cited}</think><answer>[]</answer>"
        return citation_flags(parse_response(text), reference)

    assert flags("bbox=[0.100,0.100,0.500,0.750]") == (True, False)
    assert flags("bbox=[0.1,0.1,0.5,0.75]") == (True, False)
    assert flags("bbox=[0.101,0.100,0.500,0.750]") == (True, False)  # one step off
    # within one pixel's tolerance, but 0.4 of the image away: not the reference
    assert flags("bbox=[0.5,0.5,0.9,0.9]") == (False, True)


@pytest.mark.parametrize(
    ("frame", "answer", "expected"),
    [
        ("rel1000", "[100, 100, 500, 750]", [64, 48, 320, 360]),
        ("rel1", "[0.1, 0.1, 0.5, 0.75]", [64, 48, 320, 360]),
        ("image", "[64, 48, 320, 360]", [64, 48, 320, 360]),
        ("square840", "[84, 84, 420, 630]", [64, 48, 320, 360]),
    ],
)
def test_answers_are_read_back_into_image_pixels(frame, answer, expected):
    protocol = get_protocol("paper", frame=frame)
    text = f'<scene>s</scene><think>t</think><answer>[{{"bbox_2d": {answer}}}]</answer>'
    read = protocol.read_answer(text, get_prompt("regionreasoner"), protocol.frame(IMAGE_WH))
    np.testing.assert_allclose(read.pred_xyxy, [expected])


def test_qwen3_grounding_answers_read_in_rel1000():
    prompt = get_prompt("qwen3-grounding")
    assert prompt.frame == "rel1000" and prompt.frame in FRAMES
    assert prompt.render_user("the red cup") == (
        'Locate every object that matches the description "the red cup" in the image. '
        "Report bbox coordinates in JSON format."
    )
    text = '```json\n[\n  {"bbox_2d": [100, 100, 500, 750], "label": "the red cup"}\n]\n```'
    protocol = get_protocol("paper", frame=prompt.frame)
    read = protocol.read_answer(text, prompt, protocol.frame(IMAGE_WH))
    np.testing.assert_allclose(read.pred_xyxy, [[64, 48, 320, 360]])
    # the family's answers carry no point_2d: recorded, as for qwen-grounding
    assert [i.code for i in read.issues] == ["missing_point"]


def test_describe_records_both_sides_of_the_frame():
    described = get_protocol("paper", frame="rel1000").describe()
    assert described["frame"] == "rel1000"
    assert described["frame_spec"]["shown"] == "the original image"
    assert described["frame_spec"]["extent"] == 1000


@pytest.mark.parametrize("frame", ["image", "rel1000", "rel1"])
def test_the_official_protocol_keeps_its_840_square(frame):
    with pytest.raises(ConfigError, match="square840"):
        get_protocol("official", frame=frame)
