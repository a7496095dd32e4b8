"""``oracle:frame=NAME``: the ground truth written in a given frame, whatever frame the
evaluation asks in; the citation still copies the prompt's numbers."""

from __future__ import annotations

import pytest

from regionreasoner.backends import BackendOptions, load_backend
from regionreasoner.backends.base import (
    META_DIALOGUE_ID,
    META_FRAME,
    META_REFERENCE_XYXY,
    META_TURN,
    META_TURN_INDEX,
    GenerationRequest,
)
from regionreasoner.data.schema import Target, Turn
from regionreasoner.errors import ConfigError, UnknownComponentError
from regionreasoner.geometry.frames import FRAMES
from regionreasoner.parsing import parse_response

IMAGE_WH = (640, 480)
TURN = Turn(1, "the cup next to {ref}", (Target((64.0, 48.0, 320.0, 240.0)),), refers_to=0)


def _answer(spec: str, asked_in: str, reference=(84.0, 84.0, 420.0, 420.0)):
    backend = load_backend(spec, BackendOptions())
    request = GenerationRequest(
        None,
        "q",
        metadata={
            META_DIALOGUE_ID: "d",
            META_TURN_INDEX: 1,
            META_TURN: TURN,
            META_FRAME: FRAMES.get(asked_in)(IMAGE_WH),
            META_REFERENCE_XYXY: reference,
        },
    )
    (generation,) = backend.generate([request])
    return backend, parse_response(generation.text)


@pytest.mark.parametrize(
    ("frame", "box", "point"),
    [
        # 64/640, 48/480, 320/640, 240/480 of the side; centre (192, 144)
        ("rel1000", [100, 100, 500, 500], [300, 300]),
        ("rel1", [0.1, 0.1, 0.5, 0.5], [0.3, 0.3]),
        ("image", [64, 48, 320, 240], [192, 144]),
        ("square840", [84, 84, 420, 420], [252, 252]),
        ("native", [64, 48, 322, 238], [193, 143]),  # 644x476: 320 * 644/640 = 322
    ],
)
def test_the_answer_is_written_in_the_oracle_frame(frame, box, point):
    backend, parsed = _answer(f"oracle:frame={frame}", asked_in="square840")
    assert parsed.format_ok
    assert parsed.regions.xyxy.tolist() == [box]
    assert parsed.regions.points.tolist() == [point]
    assert backend.describe()["frame"] == frame


def test_the_citation_copies_the_prompt_in_the_frame_it_was_asked_in():
    _, parsed = _answer("oracle:frame=rel1000", asked_in="rel1", reference=(0.1, 0.2, 0.5, 0.75))
    assert parsed.think is not None and "bbox=[0.100,0.200,0.500,0.750]" in parsed.think
    assert parsed.cited[0].xyxy == (0.1, 0.2, 0.5, 0.75)


def test_without_the_option_the_oracle_answers_in_the_frame_asked():
    backend, parsed = _answer("oracle", asked_in="rel1000")
    assert parsed.regions.xyxy.tolist() == [[100, 100, 500, 500]]
    assert backend.describe()["frame"] is None


def test_noise_moves_rel1_coordinates_by_steps_of_the_frame():
    _, parsed = _answer("oracle:frame=rel1,noise=2,seed=3", asked_in="square840")
    box = parsed.regions.xyxy[0]
    assert all(abs(v - e) <= 0.002 + 1e-9 for v, e in zip(box, (0.1, 0.1, 0.5, 0.5), strict=True))
    assert any(abs(v - e) > 1e-9 for v, e in zip(box, (0.1, 0.1, 0.5, 0.5), strict=True))


def test_an_unknown_frame_is_refused():
    with pytest.raises(UnknownComponentError, match="unknown frame"):
        load_backend("oracle:frame=rel100", BackendOptions())
    with pytest.raises(ConfigError, match="unknown option"):
        load_backend("oracle:grid=1000", BackendOptions())
