"""Dialogue rollouts for training: curriculum, scheduled references, rollout, returns."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from eval_bench import make_bench

from regionreasoner.backends.base import META_DIALOGUE_ID, META_TURN_INDEX, Generation
from regionreasoner.backends.hf import TransformersBackend
from regionreasoner.data.io import read_dialogues, resolve_image_path
from regionreasoner.dialogue.policy import SOURCE_GROUND_TRUTH, SOURCE_PREDICTED
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import get_protocol
from regionreasoner.dialogue.rollout import (
    DialogueTrajectory,
    GeneratedTurn,
    ReferenceCurriculum,
    ScheduledReferencePolicy,
    TurnRequest,
    open_model_image,
    roll_out_dialogues,
    trajectory_rng,
    turn_messages,
    turn_returns,
)
from regionreasoner.dialogue.runner import DialogueRunner
from regionreasoner.errors import BackendError, ConfigError, DataFormatError, UserInputError
from regionreasoner.segmenters.base import NoSegmenter

PROTOCOL = get_protocol("paper")
PROMPT = get_prompt("regionreasoner-train")


def _answer(turn_index: int) -> str:
    """A well-formed answer whose box (840 frame) depends on the turn only."""
    x = 100 + 20 * turn_index
    return (
        "<scene> shapes </scene><think> found it </think>"
        f'<answer>[{{"bbox_2d": [{x}, 70, {x + 110}, 140], "point_2d": [{x + 50}, 100]}}]</answer>'
    )


class _Script:
    """A generator answering `_answer(turn)` and recording each call's requests."""

    def __init__(self) -> None:
        self.calls: list[list[TurnRequest]] = []

    def __call__(self, requests: Sequence[TurnRequest]) -> list[GeneratedTurn]:
        self.calls.append(list(requests))
        return [
            GeneratedTurn(_answer(r.turn.turn_index), payload=i) for i, r in enumerate(requests)
        ]


def _trajectories(bench: Path, p_ground_truth: float, *, per_dialogue: int = 1, seed: int = 0):
    out = []
    for slot, dialogue in enumerate(read_dialogues(bench)):
        image, frame = open_model_image(resolve_image_path(dialogue, bench), dialogue, PROTOCOL)
        for g in range(per_dialogue):
            rng = trajectory_rng(seed, 0, dialogue.dialogue_id, slot, g)
            policy = ScheduledReferencePolicy(p_ground_truth, rng)
            out.append(DialogueTrajectory(dialogue, image, frame, policy))
    return out


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    return make_bench(tmp_path / "bench")


# --------------------------------------------------------------------------- curriculum


@pytest.mark.parametrize(
    ("curriculum", "step", "expected"),
    [
        (ReferenceCurriculum(1.0, 0.0), 0, 1.0),  # starts at `start`
        (ReferenceCurriculum(1.0, 0.0), 50, 0.5),  # linear: half-way
        (ReferenceCurriculum(1.0, 0.0), 100, 0.0),  # ends at `end`
        (ReferenceCurriculum(1.0, 0.0), 130, 0.0),  # past the end: stays
        (ReferenceCurriculum(0.2, 0.6), 25, 0.3),  # can rise as well
        (ReferenceCurriculum(1.0, 0.0, ramp_fraction=0.5), 25, 0.5),  # ramp over half
        (ReferenceCurriculum(1.0, 0.0, ramp_fraction=0.5), 70, 0.0),  # then flat
        (ReferenceCurriculum(1.0, 0.0, "cosine"), 50, 0.5),  # cosine: symmetric mid-point
        (ReferenceCurriculum(1.0, 0.0, "cosine"), 25, 0.5 + 0.5 * 2**-0.5),  # slow start
        (ReferenceCurriculum(0.7, 0.0, "constant"), 80, 0.7),  # constant: stays at start
    ],
)
def test_curriculum_schedule(curriculum: ReferenceCurriculum, step: int, expected: float) -> None:
    assert curriculum.p_ground_truth(step, total_steps=100) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": 1.2}, "start must be in"),
        ({"end": -0.1}, "end must be in"),
        ({"ramp_fraction": 0.0}, "ramp_fraction"),
        ({"schedule": "linaer"}, "linear"),  # did-you-mean from the registry
    ],
)
def test_curriculum_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        ReferenceCurriculum(**kwargs)


# --------------------------------------------------------------------------- returns


@pytest.mark.parametrize(
    ("mode", "gamma", "expected"),
    [
        ("per_turn", 1.0, [1.0, 0.0, 2.0]),
        ("mean", 1.0, [1.0, 1.0, 1.0]),
        ("discounted", 1.0, [3.0, 2.0, 2.0]),  # reward-to-go
        ("discounted", 0.5, [1.0 + 0.5 * 0.0 + 0.25 * 2.0, 0.0 + 0.5 * 2.0, 2.0]),
        ("discounted", 0.0, [1.0, 0.0, 2.0]),  # gamma 0: the turn's own reward
    ],
)
def test_turn_returns(mode: str, gamma: float, expected: list[float]) -> None:
    assert turn_returns([1.0, 0.0, 2.0], mode, gamma) == pytest.approx(expected)


def test_turn_returns_rejects_bad_mode_and_gamma() -> None:
    with pytest.raises(ConfigError, match="gamma"):
        turn_returns([1.0], "discounted", 1.5)
    with pytest.raises(UserInputError, match="advantage mode"):
        turn_returns([1.0], "sum")


# --------------------------------------------------------------------------- rollout


def test_later_turns_cite_the_box_the_policy_produced(bench: Path) -> None:
    trajectories = _trajectories(bench, p_ground_truth=0.0)
    roll_out_dialogues(trajectories, _Script(), protocol=PROTOCOL, prompt=PROMPT)
    for trajectory in trajectories:
        first, second = trajectory.steps[0], trajectory.steps[1]
        assert first.asked.reference.source == "none"  # turn 1 cites nothing
        # turn 1 answered bbox_2d [100, 70, 210, 140] in the 840 frame; turn 2 cites it
        # in that frame, whatever the image size
        assert second.asked.reference.source == SOURCE_PREDICTED
        assert "bbox=[100,70,210,140]" in second.asked.question
        assert "bbox=[100,70,210,140]" in second.asked.user_text
        width, height = trajectory.frame.image_wh
        assert second.asked.reference.image_xyxy == pytest.approx(
            (100 * width / 840, 70 * height / 840, 210 * width / 840, 140 * height / 840)
        )
        if len(trajectory.steps) > 2:  # turn 3 cites turn 2's own answer
            assert "bbox=[120,70,230,140]" in trajectory.steps[2].asked.question


def test_ground_truth_reference_when_the_curriculum_draws_it(bench: Path) -> None:
    trajectories = _trajectories(bench, p_ground_truth=1.0)
    roll_out_dialogues(trajectories, _Script(), protocol=PROTOCOL, prompt=PROMPT)
    for trajectory in trajectories:
        step = trajectory.steps[1]
        x1, y1, x2, y2 = trajectory.dialogue.turns[0].targets[0].bbox
        width, height = trajectory.frame.image_wh
        fx, fy = 840 / width, 840 / height
        expected = [int(v + 0.5) for v in (x1 * fx, y1 * fy, x2 * fx, y2 * fy)]
        assert step.asked.reference.source == SOURCE_GROUND_TRUTH
        assert f"bbox=[{','.join(map(str, expected))}]" in step.asked.question


def test_curriculum_draws_are_seeded(bench: Path) -> None:
    def sources(seed: int) -> list[str]:
        trajectories = _trajectories(bench, 0.5, per_dialogue=4, seed=seed)
        roll_out_dialogues(trajectories, _Script(), protocol=PROTOCOL, prompt=PROMPT)
        return [s.asked.reference.source for t in trajectories for s in t.steps[1:]]

    first = sources(0)
    assert first == sources(0)  # same seed, same draws
    assert first != sources(1)
    assert {SOURCE_GROUND_TRUTH, SOURCE_PREDICTED} <= set(first)
    # one draw per citing turn, in turn order, from the trajectory's generator
    trajectories = _trajectories(bench, 0.5, per_dialogue=1, seed=3)
    roll_out_dialogues(trajectories, _Script(), protocol=PROTOCOL, prompt=PROMPT)
    for slot, trajectory in enumerate(trajectories):
        rng = random.Random(f"3:0:{trajectory.dialogue.dialogue_id}:{slot}:0")
        expected = [
            SOURCE_GROUND_TRUTH if rng.random() < 0.5 else SOURCE_PREDICTED
            for _ in trajectory.steps[1:]
        ]
        assert [s.asked.reference.source for s in trajectory.steps[1:]] == expected


def test_rounds_are_generated_together(bench: Path) -> None:
    script = _Script()
    trajectories = _trajectories(bench, 0.0, per_dialogue=2)
    roll_out_dialogues(trajectories, script, protocol=PROTOCOL, prompt=PROMPT)
    turns = [len(t.dialogue.turns) for t in trajectories]
    assert len(script.calls) == max(turns)  # one generation call per round
    for k, call in enumerate(script.calls):
        assert {r.turn.turn_index for r in call} == {k}
        assert len(call) == sum(n > k for n in turns)
    assert all(len(t.steps) == len(t.dialogue.turns) for t in trajectories)


def test_max_turns_truncates_each_dialogue(bench: Path) -> None:
    trajectories = _trajectories(bench, 0.0)
    for trajectory in trajectories:
        trajectory.max_turns = 2
    roll_out_dialogues(trajectories, _Script(), protocol=PROTOCOL, prompt=PROMPT)
    assert {len(t.steps) for t in trajectories} == {2}


def test_a_missing_own_box_leaves_the_reference_missing(bench: Path) -> None:
    def nothing_in_turn_one(requests: Sequence[TurnRequest]) -> list[GeneratedTurn]:
        return [GeneratedTurn("no box" if r.turn.turn_index == 0 else _answer(1)) for r in requests]

    trajectories = _trajectories(bench, 0.0)
    roll_out_dialogues(trajectories, nothing_in_turn_one, protocol=PROTOCOL, prompt=PROMPT)
    for trajectory in trajectories:
        reference = trajectory.steps[1].asked.reference
        assert reference.missing and reference.text is None  # no ground-truth leak
        assert not trajectory.steps[0].hit


def test_generator_returning_the_wrong_count_is_a_backend_error(bench: Path) -> None:
    with pytest.raises(BackendError, match="2 completions for"):
        roll_out_dialogues(
            _trajectories(bench, 0.0),
            lambda requests: [GeneratedTurn("")] * 2,
            protocol=PROTOCOL,
            prompt=PROMPT,
        )


def test_hit_is_acc_at_half_iou(bench: Path) -> None:
    dialogue = read_dialogues(bench)[0]
    image, frame = open_model_image(resolve_image_path(dialogue, bench), dialogue, PROTOCOL)
    x1, y1, x2, y2 = dialogue.turns[0].targets[0].bbox
    gt_model = frame.to_model_xyxy([[x1, y1, x2, y2]])[0]

    def exact(requests: Sequence[TurnRequest]) -> list[GeneratedTurn]:
        box = ",".join(str(int(v)) for v in gt_model)
        return [GeneratedTurn(f'<answer>[{{"bbox_2d": [{box}]}}]</answer>') for _ in requests]

    trajectory = DialogueTrajectory(
        dialogue, image, frame, ScheduledReferencePolicy(1.0, random.Random(0))
    )
    roll_out_dialogues([trajectory], exact, protocol=PROTOCOL, prompt=PROMPT)
    assert trajectory.steps[0].hit  # the ground truth's own box
    assert trajectory.steps[0].round == 1


# --------------------------------------------------------------------------- vs evaluation


def test_prompts_are_the_ones_eval_asks_with_predicted_references(bench: Path) -> None:
    """With p = 0 each turn's prompt is byte-identical to what `eval --reference predicted`
    sends for the same answers."""
    trajectories = _trajectories(bench, p_ground_truth=0.0)
    roll_out_dialogues(trajectories, _Script(), protocol=PROTOCOL, prompt=PROMPT)
    rollout = {
        (t.dialogue.dialogue_id, s.turn.turn_index): s.asked for t in trajectories for s in t.steps
    }

    sent = {}

    class Backend:
        name = "scripted"
        needs_image = True

        def generate(self, requests):  # type: ignore[no-untyped-def]
            for r in requests:
                key = (r.meta(META_DIALOGUE_ID), r.meta(META_TURN_INDEX))
                sent[key] = r
            return [Generation(_answer(r.meta(META_TURN_INDEX)), 0.0) for r in requests]

        def describe(self):  # type: ignore[no-untyped-def]
            return {}

        def close(self) -> None:
            pass

    from regionreasoner.dialogue.policy import get_reference_policy

    runner = DialogueRunner(
        Backend(),
        NoSegmenter(),
        PROTOCOL,
        get_reference_policy("predicted"),
        PROMPT,
        data_path=bench,
    )
    runner.run(read_dialogues(bench), emit=lambda row: None)
    assert sent.keys() == rollout.keys()
    by_id = {t.dialogue.dialogue_id: t for t in trajectories}
    for key, request in sent.items():
        asked = rollout[key]
        assert request.user_text == asked.user_text
        assert request.system == asked.system
        image = by_id[key[0]].image
        assert (request.image.size, request.image.tobytes()) == (image.size, image.tobytes())
        # the chat messages are the hf backend's own
        assert TransformersBackend._messages(None, request) == turn_messages(asked)  # type: ignore[arg-type]


def test_image_size_mismatch_is_a_data_error(bench: Path) -> None:
    dialogue = read_dialogues(bench)[0]
    wrong = type(dialogue)(dialogue.dialogue_id, dialogue.image, dialogue.turns, image_wh=(10, 10))
    with pytest.raises(DataFormatError, match="image_wh"):
        open_model_image(resolve_image_path(dialogue, bench), wrong, PROTOCOL)
