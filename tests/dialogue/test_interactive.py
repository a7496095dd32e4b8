"""Interactive turns: the same rows as the evaluation runner, timeouts, failures."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image

from regionreasoner.backends.base import META_TURN, META_TURN_INDEX, Generation, GenerationRequest
from regionreasoner.backends.oracle import OracleBackend
from regionreasoner.data.io import read_dialogues, resolve_image_path
from regionreasoner.data.schema import Target, Turn
from regionreasoner.dialogue.interactive import InteractiveEngine
from regionreasoner.dialogue.policy import SOURCE_GROUND_TRUTH, get_reference_policy
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import NO_REFERENCE, get_protocol
from regionreasoner.dialogue.runner import DialogueRunner
from regionreasoner.errors import BackendError, ConfigError
from regionreasoner.segmenters.base import NoSegmenter
from regionreasoner.segmenters.box_fill import BoxFillSegmenter


class Scripted:
    """A backend answering with ``reply(request)``; records what it was sent."""

    name: ClassVar[str] = "scripted"

    def __init__(self, reply: Any, *, needs_image: bool = True) -> None:
        self.reply = reply
        self.needs_image = needs_image
        self.requests: list[GenerationRequest] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.requests.extend(requests)
        return [self.reply(r) for r in requests]

    def describe(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


def _engine(backend: Any, protocol: str = "paper", **kwargs: Any) -> InteractiveEngine:
    return InteractiveEngine(
        backend,
        BoxFillSegmenter(),
        get_protocol(protocol),
        get_prompt("regionreasoner"),
        **kwargs,
    )


ANSWER = (
    '<scene>s</scene><think>t</think><answer>[{"bbox_2d": [84, 84, 168, 168], '
    '"point_2d": [126, 126]}]</answer>'
)


@pytest.mark.parametrize("protocol", ["paper", "official"])
def test_replaying_a_benchmark_gives_the_runners_rows(bench: Path, protocol: str) -> None:
    """Turn by turn, citing the first predicted box of the cited turn, the interactive
    engine writes exactly the rows of ``eval`` (latency aside)."""
    dialogues = read_dialogues(bench)
    make_oracle = lambda: OracleBackend(noise_px=6, seed=3)  # noqa: E731 -- predictions != GT
    runner = DialogueRunner(
        make_oracle(),
        BoxFillSegmenter(),
        get_protocol(protocol),
        get_reference_policy("predicted"),
        get_prompt("regionreasoner"),
        data_path=bench,
        batch_size=4,
    )
    expected: list[dict[str, Any]] = []
    runner.run(dialogues, emit=expected.append)
    expected_by_key = {(r["dialogue_id"], r["turn_index"]): r for r in expected}

    engine = _engine(make_oracle(), protocol)
    compared = 0
    for dialogue in dialogues:
        with Image.open(resolve_image_path(dialogue, bench)) as image:
            context = engine.open_image(image, dialogue_id=dialogue.dialogue_id)
        predicted: dict[int, np.ndarray] = {}
        for turn in dialogue.turns:
            reference = NO_REFERENCE
            if turn.refers_to is not None:
                reference = engine.reference(context, predicted[turn.refers_to][0])
            result = engine.ask(context, turn, reference)
            predicted[turn.turn_index] = result.answer.pred_xyxy
            row = result.record.to_row()
            want = expected_by_key[(dialogue.dialogue_id, turn.turn_index)]
            for key in ("latency_s",):
                row.pop(key), want.pop(key)
            assert row == want
            compared += 1
        context.close()
    assert compared == len(expected) == sum(len(d.turns) for d in dialogues)
    engine.close()


@pytest.mark.parametrize(
    ("protocol", "image_wh", "box", "text", "prompt_xyxy"),
    [
        # paper: into the 840x840 frame, bbox=[...]: x * 840/420 = 2x, y * 840/210 = 4y
        ("paper", (420, 210), (10, 20, 30.4, 40), "bbox=[20,80,61,160]", (20, 80, 61, 160)),
        # paper rounds half up: 10.25 * 2 = 20.5 -> 21
        ("paper", (420, 210), (10.25, 0, 20, 10), "bbox=[21,0,40,40]", (21, 0, 40, 40)),
        # official: original pixels as Python's str(list)
        ("official", (420, 210), (10, 20, 30, 40), "[10, 20, 30, 40]", (10, 20, 30, 40)),
        ("official", (420, 210), (10.5, 20, 30, 40), "[10.5, 20, 30, 40]", (10.5, 20, 30, 40)),
    ],
)
def test_reference_is_written_as_the_protocol_does(
    protocol: str,
    image_wh: tuple[int, int],
    box: tuple[float, ...],
    text: str,
    prompt_xyxy: tuple[float, ...],
) -> None:
    engine = _engine(Scripted(lambda r: Generation(ANSWER, 0.0)), protocol)
    context = engine.open_image(Image.new("RGB", image_wh), dialogue_id="d")
    reference = engine.reference(context, box, source=SOURCE_GROUND_TRUTH)
    assert reference.text == text
    assert reference.prompt_xyxy == pytest.approx(prompt_xyxy)
    assert reference.image_xyxy == pytest.approx(box)
    assert reference.source == SOURCE_GROUND_TRUTH
    result = engine.ask(context, Turn(1, "the cup left of {ref}", (), refers_to=0), reference)
    assert result.record.question == f"the cup left of {text}"
    assert text in result.record.prompt
    assert result.record.reference_source == SOURCE_GROUND_TRUTH
    engine.close()


def test_a_rel1_reference_cites_within_one_step_of_its_decimals() -> None:
    """The page's references carry the frame's citation tolerance, as eval's do: 0.001
    in rel1 (one pixel would accept a citation anywhere on a 0-1 scale)."""
    protocol = get_protocol("paper", frame="rel1")
    engine = InteractiveEngine(
        OracleBackend(), NoSegmenter(), protocol, get_prompt("regionreasoner")
    )
    context = engine.open_image(Image.new("RGB", (640, 480)), dialogue_id="d")
    reference = engine.reference(context, (64, 120, 320, 420))
    assert reference.text == "bbox=[0.100,0.250,0.500,0.875]"
    assert reference.tolerance == protocol.citation_tolerance(context.frame) == pytest.approx(1e-3)
    near, far = "bbox=[0.101,0.250,0.500,0.875]", "bbox=[0.300,0.250,0.500,0.875]"
    for cited, expected in ((near, True), (far, False)):
        answer = f"<scene>s</scene><think>near {cited}</think><answer>[]</answer>"
        scripted = InteractiveEngine(
            Scripted(lambda r, a=answer: Generation(a, 0.0)), NoSegmenter(), protocol,
            get_prompt("regionreasoner"),
        )  # fmt: skip
        result = scripted.ask(
            scripted.open_image(Image.new("RGB", (640, 480)), dialogue_id="d"),
            Turn(1, "the cup left of {ref}", (), refers_to=0),
            reference,
        )
        assert result.record.cited_reference is expected
        scripted.close()
    engine.close()


def test_the_model_sees_the_protocol_frame_and_answers_map_back() -> None:
    backend = Scripted(lambda r: Generation(ANSWER, 0.0))
    engine = _engine(backend)
    context = engine.open_image(Image.new("RGB", (420, 210)), dialogue_id="d")
    result = engine.ask(context, Turn(0, "the cup", ()))
    assert backend.requests[0].image.size == (840, 840)
    assert META_TURN not in backend.requests[0].metadata  # no ground truth, none sent
    # [84, 84, 168, 168] in 840x840 -> x / 2, y / 4 in the 420x210 image
    assert result.record.pred_bboxes == [[42, 21, 84, 42]]
    assert result.record.gt_bboxes == []
    assert result.mask is not None and result.mask.shape == (210, 420)
    assert int(result.mask.sum()) == (84 - 42) * (42 - 21)
    engine.close()


def test_without_a_segmenter_there_is_no_mask() -> None:
    engine = InteractiveEngine(
        Scripted(lambda r: Generation(ANSWER, 0.0)),
        NoSegmenter(),
        get_protocol("paper"),
        get_prompt("regionreasoner"),
    )
    context = engine.open_image(Image.new("RGB", (420, 210)), dialogue_id="d")
    result = engine.ask(context, Turn(0, "the cup", ()))
    assert result.mask is None and result.record.mask is None
    engine.close()


def test_a_slow_backend_times_out_and_the_engine_carries_on() -> None:
    """The turn fails once the timeout is reached while the backend is still working; the
    stale answer is dropped and the next turn gets its own answer (no wall-time bound:
    the backend blocks until the test releases it)."""
    release, stale_done = threading.Event(), threading.Event()
    stale = ANSWER.replace("84, 84, 168, 168", "0, 0, 42, 42")

    def slow_first(request: GenerationRequest) -> Generation:
        if request.metadata[META_TURN_INDEX] == 0:
            release.wait(60)
            stale_done.set()
            return Generation(stale, 0.0)
        return Generation(ANSWER, 0.0)

    backend = Scripted(slow_first)
    engine = _engine(backend, timeout_s=0.2)
    context = engine.open_image(Image.new("RGB", (420, 210)), dialogue_id="d")
    result = engine.ask(context, Turn(0, "the cup", ()))
    assert not stale_done.is_set()  # ask returned while the backend was still working
    assert result.failed and result.answer is None
    assert result.record.latency_s >= 0.2  # it waited for the whole timeout
    assert "within 0.2 s" in (result.record.error or "")
    assert result.record.pred_bboxes == [] and result.record.format_ok is False
    engine.timeout_s = None  # the next answer may take what a loaded machine needs
    release.set()  # the stale request finishes; the next one is answered
    second = engine.ask(context, Turn(1, "the cup", ()))
    assert stale_done.is_set() and len(backend.requests) == 2
    assert not second.failed and second.record.text == ANSWER  # its own answer, not the stale
    assert second.record.pred_bboxes == [[42, 21, 84, 42]]  # 840x840 -> 420x210
    engine.close()


def test_a_library_error_of_the_backend_is_a_failed_turn() -> None:
    def broken(request: GenerationRequest) -> Generation:
        raise ConfigError("bad option")

    engine = _engine(Scripted(broken))
    context = engine.open_image(Image.new("RGB", (64, 64)), dialogue_id="d")
    result = engine.ask(context, Turn(0, "the cup", ()))
    assert result.failed
    assert result.record.error == "the scripted backend failed: bad option"
    engine.close()


def test_the_oracle_without_ground_truth_fails_the_turn_clearly() -> None:
    engine = _engine(OracleBackend())
    context = engine.open_image(Image.new("RGB", (64, 64)), dialogue_id="d")
    result = engine.ask(context, Turn(0, "the cup", ()))
    assert result.failed and "'turn'" in (result.record.error or "")
    known = engine.ask(context, Turn(1, "the cup", (Target((0, 0, 32, 32)),)))
    assert known.record.pred_bboxes == [[0, 0, 32, 32]]
    engine.close()


def test_other_exceptions_and_broken_contracts_propagate() -> None:
    def crash(request: GenerationRequest) -> Generation:
        raise RuntimeError("CUDA out of memory")

    engine = _engine(Scripted(crash))
    context = engine.open_image(Image.new("RGB", (64, 64)), dialogue_id="d")
    with pytest.raises(RuntimeError, match="out of memory"):
        engine.ask(context, Turn(0, "the cup", ()))
    engine.close()

    class TwoAnswers(Scripted):
        def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
            return [Generation(ANSWER, 0.0)] * 2

    engine = _engine(TwoAnswers(None))
    context = engine.open_image(Image.new("RGB", (64, 64)), dialogue_id="d")
    with pytest.raises(BackendError, match="2 answers for 1 request"):
        engine.ask(context, Turn(0, "the cup", ()))
    engine.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_new_tokens": 0}, "max_new_tokens"), ({"timeout_s": 0}, "timeout_s")],
)
def test_invalid_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _engine(Scripted(None), **kwargs)


def test_unknown_reference_source_is_refused() -> None:
    engine = _engine(Scripted(None))
    context = engine.open_image(Image.new("RGB", (64, 64)), dialogue_id="d")
    with pytest.raises(ValueError, match="reference source"):
        engine.reference(context, (0, 0, 1, 1), source="guess")
    engine.close()
