"""The oracle backend: ground truth in perfect format, delay per request, seeded noise."""

from __future__ import annotations

import time

import numpy as np
import pytest

from regionreasoner.backends.base import (
    META_DIALOGUE_ID,
    META_FRAME,
    META_REFERENCE_XYXY,
    META_TURN,
    META_TURN_INDEX,
    GenerationRequest,
)
from regionreasoner.backends.oracle import OracleBackend
from regionreasoner.data.schema import Target, Turn
from regionreasoner.errors import ConfigError
from regionreasoner.geometry.frames import Frame
from regionreasoner.geometry.rle import encode_rle
from regionreasoner.parsing import parse_response


def _mask_l_shape() -> dict:
    mask = np.zeros((480, 640), dtype=bool)
    mask[100:200, 100:120] = True  # vertical bar
    mask[180:200, 100:300] = True  # horizontal bar: the centroid lies outside the mask
    return encode_rle(mask)


TURN = Turn(
    1,
    "the cup next to {ref}",
    (Target((64.0, 48.0, 320.0, 240.0)), Target((100.0, 100.0, 300.0, 200.0), _mask_l_shape())),
    refers_to=0,
    relation="next_to",
)
FRAME = Frame.square((640, 480))


def _request(
    reference: tuple | None = (84.0, 84.0, 420.0, 420.0), dialogue: str = "d"
) -> GenerationRequest:
    return GenerationRequest(
        None,
        "q",
        metadata={
            META_DIALOGUE_ID: dialogue,
            META_TURN_INDEX: 1,
            META_TURN: TURN,
            META_FRAME: FRAME,
            META_REFERENCE_XYXY: reference,
        },
    )


def test_oracle_answer_is_perfect_and_in_model_frame() -> None:
    text = OracleBackend().generate([_request()])[0].text
    parsed = parse_response(text)
    assert parsed.format_ok and not parsed.issues
    # 64*840/640 = 84, 48*840/480 = 84, 320 -> 420, 240 -> 420
    assert parsed.regions.xyxy[0].tolist() == [84, 84, 420, 420]
    assert [c.xyxy for c in parsed.cited] == [(84.0, 84.0, 420.0, 420.0)]
    assert parsed.cited[0].style == "bbox="
    image_points = FRAME.to_image_points(parsed.regions.points)
    # the second target's point lies inside its (L-shaped) mask
    x, y = image_points[1]
    assert 100 <= x < 300 and 100 <= y < 200
    assert (100 <= x < 120) or (180 <= y < 200)


def test_oracle_without_reference_cites_nothing() -> None:
    parsed = parse_response(OracleBackend().generate([_request(None)])[0].text)
    assert parsed.cited == () and parsed.focus is None and parsed.format_ok


def test_oracle_noise_is_bounded_seeded_and_per_turn() -> None:
    exact = parse_response(OracleBackend().generate([_request()])[0].text).regions.xyxy
    noisy = [
        parse_response(
            OracleBackend(noise_px=5, seed=s).generate([_request()])[0].text
        ).regions.xyxy
        for s in (1, 1, 2)
    ]
    assert np.array_equal(noisy[0], noisy[1])
    assert not np.array_equal(noisy[0], noisy[2])
    assert np.abs(noisy[0] - exact).max() <= 5 and not np.array_equal(noisy[0], exact)
    # batching does not change the draws: each turn has its own generator
    batch = OracleBackend(noise_px=5, seed=1).generate([_request(dialogue="e"), _request()])
    assert np.array_equal(parse_response(batch[1].text).regions.xyxy, noisy[0])


def test_oracle_delay_is_per_request() -> None:
    backend = OracleBackend(delay_s=0.05)
    start = time.perf_counter()
    out = backend.generate([_request(), _request(), _request()])
    assert time.perf_counter() - start >= 0.15
    assert all(g.latency_s >= 0.05 for g in out)


def test_oracle_needs_engine_metadata() -> None:
    with pytest.raises(ConfigError, match="metadata"):
        OracleBackend().generate([GenerationRequest(None, "q")])
