"""The frame probe: discriminative objects, the verdict rule, the oracle in every frame and
the bundled micro model (square840)."""

from __future__ import annotations

import numpy as np
import pytest

from regionreasoner.backends import BackendOptions, load_backend
from regionreasoner.dialogue.probe import (
    MAX_CONFUSION_IOU,
    MIN_MARGIN,
    MIN_WINNER_ACC,
    PROBE_IMAGE_WHS,
    FrameScore,
    decide,
    discriminative,
    format_probe_table,
    probe_items,
    run_probe,
)
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.errors import ConfigError, UnknownComponentError
from regionreasoner.geometry.boxes import box_iou_batch
from regionreasoner.geometry.frames import FRAMES

ALL_FRAMES = FRAMES.names()


def _frames(image_wh: tuple[int, int]) -> dict:
    return {name: FRAMES.get(name)(image_wh) for name in ALL_FRAMES}


def test_probe_scenes_are_non_square_and_objects_tell_every_pair_of_frames_apart():
    items = probe_items(ALL_FRAMES, n_images=4, seed=0)
    assert len(items) >= 6
    assert {item.image_wh for item in items} == set(PROBE_IMAGE_WHS)
    assert all(w != h for w, h in PROBE_IMAGE_WHS)
    for item in items:
        frames = _frames(item.image_wh)
        gt = np.array([item.gt_xyxy])
        for true_name, true_frame in frames.items():
            written = true_frame.to_model_xyxy(gt)
            np.testing.assert_allclose(true_frame.to_image_xyxy(written), gt, atol=1.5)
            for read_name, read_frame in frames.items():
                if read_name != true_name:
                    iou = box_iou_batch(read_frame.to_image_xyxy(written), gt)[0, 0]
                    assert iou <= MAX_CONFUSION_IOU, (item.item_id, true_name, read_name)
    assert all(item.question.startswith("the ") for item in items)


def test_probe_items_are_a_function_of_the_seed():
    first = probe_items(ALL_FRAMES, n_images=4, seed=3)
    again = probe_items(ALL_FRAMES, n_images=4, seed=3)
    other = probe_items(ALL_FRAMES, n_images=4, seed=4)
    key = [(i.item_id, i.question, i.gt_xyxy) for i in first]
    assert key == [(i.item_id, i.question, i.gt_xyxy) for i in again]
    assert key != [(i.item_id, i.question, i.gt_xyxy) for i in other]
    assert np.array_equal(np.asarray(first[0].image), np.asarray(again[0].image))


def test_a_box_at_the_origin_is_not_discriminative():
    # the 840 square and the 0-1000 grid both put a box hugging the origin at the origin
    assert not discriminative((0, 0, 700, 525), _frames((1400, 1050)))
    assert discriminative((1100, 800, 1200, 900), _frames((1400, 1050)))


def _score(frame: str, acc: float, iou: float | None = None) -> FrameScore:
    return FrameScore(frame, acc, acc if iou is None else iou, 1.0, 20)


@pytest.mark.parametrize(
    ("accs", "verdict", "tied"),
    [
        ({"rel1000": 0.9, "square840": 0.1, "image": 0.0}, "rel1000", ("rel1000",)),
        ({"rel1000": MIN_WINNER_ACC, "square840": MIN_WINNER_ACC - MIN_MARGIN}, "rel1000", None),
        ({"rel1000": 0.9, "square840": 0.9 - MIN_MARGIN + 0.05}, None, ("rel1000", "square840")),
        ({"rel1000": MIN_WINNER_ACC - 0.05, "square840": 0.0}, None, ("rel1000",)),
        ({"square840": 1.0, "native": 1.0, "image": 1.0, "rel1": 0.0}, None, None),
    ],
)
def test_verdict_rule(accs, verdict, tied):
    scores = sorted((_score(f, a) for f, a in accs.items()), key=lambda s: (-s.acc, s.frame))
    got, margin, got_tied, reason = decide(scores)
    assert got == verdict
    assert margin == pytest.approx(scores[0].acc - scores[1].acc)
    if tied is not None:
        assert got_tied == tied
    assert reason and (verdict is None or verdict in reason)


@pytest.mark.parametrize("frame", ALL_FRAMES)
def test_the_oracle_answering_in_a_frame_is_named_that_frame(frame):
    backend = load_backend(f"oracle:frame={frame}")
    result = run_probe(backend, get_prompt("regionreasoner"), n_images=4)
    assert result.verdict == frame
    assert result.scores[0].frame == frame and result.scores[0].acc == 1.0
    assert result.margin == 1.0  # every other frame misses every object
    table = format_probe_table(result)
    assert table.splitlines()[1].startswith(frame) and f"verdict: {frame}" in table
    payload = result.to_dict()
    assert payload["verdict"] == frame and len(payload["table"]) == len(ALL_FRAMES)
    assert len(payload["answers"]) == payload["settings"]["items"] * len(ALL_FRAMES)


def test_an_oracle_right_in_every_frame_has_no_clear_winner():
    """The plain oracle answers in the frame it is asked in: every frame scores 1."""
    result = run_probe(load_backend("oracle"), get_prompt("regionreasoner"), n_images=4)
    assert result.verdict is None and not result.clear
    assert set(result.tied) == set(ALL_FRAMES)
    assert "no clear winner" in format_probe_table(result)


def test_probe_arguments_are_checked():
    backend = load_backend("oracle")
    prompt = get_prompt("regionreasoner")
    with pytest.raises(ConfigError, match="two frames"):
        run_probe(backend, prompt, frames=["rel1000"])
    with pytest.raises(UnknownComponentError):
        run_probe(backend, prompt, frames=["rel1000", "rel100"])
    with pytest.raises(ConfigError, match="batch size"):
        run_probe(backend, prompt, batch_size=0)
    # at 644x476 the Qwen2.5-VL processor keeps the image: native and image are one frame
    with pytest.raises(ConfigError, match="probe objects"):
        probe_items(["native", "image"], n_images=2, image_whs=[(644, 476)])


@pytest.mark.slow  # the micro model on CPU: about 15 s on 2 cores
def test_the_bundled_micro_model_is_named_square840():
    pytest.importorskip("transformers")
    from regionreasoner.assets import bundled_model_dir

    backend = load_backend(
        f"hf:{bundled_model_dir()}", BackendOptions(device="cpu", dtype="float32")
    )
    try:
        result = run_probe(backend, get_prompt("regionreasoner"), batch_size=16, max_new_tokens=256)
    finally:
        backend.close()
    assert result.verdict == "square840", format_probe_table(result)
    assert result.margin is not None and result.margin >= MIN_MARGIN
