"""Dialogue-level GRPO on TRL (``rollout: dialogue``): what reaches the loss, and how.

The trainer tests run one generation-and-scoring step of ``DialogueGRPOTrainer`` with the
BUNDLED micro model (a real policy that writes boxes, so later questions cite real
predictions) on the shared synthetic benchmark, then one loss forward pass with a hook on
the model, and compare what the model received with what its own processor makes of each
turn's messages (built as the ``hf`` evaluation backend builds them).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from regionreasoner.errors import ConfigError, DataFormatError, ImageError
from regionreasoner.integrations.train_config import TrainConfig, load_config
from regionreasoner.rewards import score_completion

pytest.importorskip("trl")

REPO = Path(__file__).resolve().parents[2]
GENERATIONS = 2
ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.S)


def _config(tmp_path: Path, model: Path | str, train: Path | str, **dialogue: Any) -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "rollout": "dialogue",
            "model": {"path": str(model)},
            "data": {"train": str(train)},
            "output_dir": str(tmp_path / "run"),
            "seed": 0,
            "dialogue": {"reference_curriculum": {"start": 0.0, "end": 0.0}, **dialogue},
            "trainer": {
                "max_steps": 1,
                "per_device_train_batch_size": 2 * GENERATIONS,
                "learning_rate": 1e-5,
                "use_cpu": True,
                "report_to": "none",
            },
            "grpo": {"num_generations": GENERATIONS, "max_completion_length": 128, "beta": 0.0},
        }
    )


class _Recorder:
    """An extra reward (weight 0) that records what TRL hands the reward functions."""

    __name__ = "recorder"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, prompts=None, completions=None, completion_ids=None, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append({"completions": completions, "completion_ids": completion_ids, **kwargs})
        return [0.0] * len(completions)


@pytest.fixture(scope="module")
def scored(synth_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One scoring step and one loss forward pass, with everything the checks need."""
    from regionreasoner.assets import bundled_model_path
    from regionreasoner.integrations.train import build_trl_args, load_processor
    from regionreasoner.integrations.trl_dialogue import (
        DialogueGRPOTrainer,
        DialogueRollout,
        load_dialogue_set,
        make_dialogue_reward_setup,
    )

    model = bundled_model_path()
    if model is None:
        pytest.skip("no bundled micro model in this installation")
    config = _config(tmp_path_factory.mktemp("dialogue-trl"), model, synth_bench)

    class Spy(DialogueGRPOTrainer):
        def turn_rows(self, trajectories, num_generations):  # type: ignore[no-untyped-def]
            rows, stash = super().turn_rows(trajectories, num_generations)
            self.seen = SimpleNamespace(trajectories=trajectories, rows=rows, stash=stash)
            return rows, stash

    processor = load_processor(str(model), config.model)
    dataset = load_dialogue_set(config)
    rollout = DialogueRollout.from_config(config)
    funcs, weights = make_dialogue_reward_setup(rollout)
    recorder = _Recorder()
    trainer = Spy(
        model=str(model),
        reward_funcs=[*funcs, recorder],
        args=build_trl_args(config, reward_weights=[*weights, 0.0]),
        train_dataset=dataset,
        processing_class=processor,
        dialogue=rollout,
    )
    trainer.model.train()
    # TRL's RepeatSampler order: each dialogue row GENERATIONS times in a row
    batch = [dataset[i] for i in (0, 1) for _ in range(GENERATIONS)]
    output = trainer._generate_and_score_completions(batch)
    forward: dict[str, Any] = {}

    def hook(module, args, kwargs):  # type: ignore[no-untyped-def]
        forward.update({k: v for k, v in kwargs.items() if hasattr(v, "shape")})

    handle = trainer.model.register_forward_pre_hook(hook, with_kwargs=True)
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop otherwise
    try:
        loss = trainer.compute_loss(trainer.model, output)
    finally:
        handle.remove()
    return SimpleNamespace(
        trainer=trainer,
        processor=processor,
        output=output,
        forward=forward,
        loss=loss,
        recorder=recorder,
        **vars(trainer.seen),
    )


def _eval_inputs(processor: Any, row: dict[str, Any], image_path: str) -> Any:
    """The processor's own encoding of a turn: the messages ``eval``'s hf backend sends,
    with the dialogue's image file resized into the 840x840 frame (bilinear)."""
    from PIL import Image

    from regionreasoner.backends.base import GenerationRequest
    from regionreasoner.backends.hf import TransformersBackend

    with Image.open(image_path) as image:
        frame_image = image.convert("RGB").resize((840, 840), Image.Resampling.BILINEAR)
    user = row["prompt"][-1]["content"][-1]["text"]
    system = row["prompt"][0]["content"][0]["text"] if len(row["prompt"]) > 1 else None
    request = GenerationRequest(image=frame_image, user_text=user, system=system)
    messages = TransformersBackend._messages(None, request)  # type: ignore[arg-type]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return processor(text=[text], images=[frame_image], return_tensors="pt")


@pytest.mark.slow
def test_rows_are_turns_grouped_by_turn_index(scored: SimpleNamespace) -> None:
    rows = scored.rows
    assert len(rows) == sum(len(t.steps) for t in scored.trajectories)
    assert len(rows) == GENERATIONS * sum(len(t.dialogue.turns) for t in scored.trajectories[::2])
    for start in range(0, len(rows), GENERATIONS):
        group = rows[start : start + GENERATIONS]
        assert len({(r["dialogue_id"], r["turn_index"]) for r in group}) == 1
        assert len({r["trajectory_id"] for r in group}) == GENERATIONS


@pytest.mark.slow
def test_each_turn_reward_is_normalised_at_its_turn_index(scored: SimpleNamespace) -> None:
    totals = np.array(
        [
            score_completion(
                r["completion_text"], problem=r["problem"], solution=r["solution"]
            ).total
            for r in scored.rows
        ]
    )
    advantages = scored.output["advantages"].numpy()
    for start in range(0, len(totals), GENERATIONS):
        group = totals[start : start + GENERATIONS]
        expected = (group - group.mean()) / (group.std(ddof=1) + 1e-4)
        np.testing.assert_allclose(advantages[start : start + GENERATIONS], expected, atol=1e-4)


@pytest.mark.slow
def test_turn_two_prompt_carries_the_box_the_policy_produced(scored: SimpleNamespace) -> None:
    tokenizer = scored.processor.tokenizer
    checked = 0
    for t, trajectory in enumerate(scored.trajectories):
        first = trajectory.steps[0].text
        match = ANSWER_RE.search(first)
        try:
            box = json.loads(match.group(1))[0]["bbox_2d"] if match else None
        except (json.JSONDecodeError, IndexError, KeyError, TypeError):
            box = None
        if not box or not all(isinstance(v, int) for v in box):
            continue
        expected = "bbox=[" + ",".join(str(v) for v in box) + "]"
        index = next(
            i for i, r in enumerate(scored.rows) if r["trajectory_id"] == t and r["turn_index"] == 1
        )
        assert scored.rows[index]["reference_source"] == "predicted"
        mask = scored.output["prompt_mask"][index].bool()
        sent = tokenizer.decode(scored.output["prompt_ids"][index][mask])
        assert expected in sent  # in the ids the loss forward pass sees
        checked += 1
    assert checked >= 1  # the micro model answers turn 1 with a box


@pytest.mark.slow
def test_loss_forward_sees_each_turns_prompt_and_image_intact(scored: SimpleNamespace) -> None:
    import torch

    forward, output = scored.forward, scored.output
    prompt_len = output["prompt_ids"].shape[1]
    grids = forward["image_grid_thw"]
    offsets = np.cumsum([0, *[int(g.prod()) for g in grids]])
    assert len(grids) == len(scored.rows)  # one image per turn sample
    dataset = scored.trainer.train_dataset
    paths = dict(zip(dataset["dialogue_id"], dataset["image_path"], strict=True))
    for i, row in enumerate(scored.rows):
        own = _eval_inputs(scored.processor, row, paths[row["dialogue_id"]])
        mask = forward["attention_mask"][i, :prompt_len].bool()
        assert torch.equal(forward["input_ids"][i, :prompt_len][mask], own["input_ids"][0])
        assert torch.equal(grids[i], own["image_grid_thw"][0])
        pixels = forward["pixel_values"][offsets[i] : offsets[i + 1]]
        assert torch.allclose(pixels, own["pixel_values"], atol=1e-6)


@pytest.mark.slow
def test_image_token_types_line_up_with_the_image_tokens(scored: SimpleNamespace) -> None:
    """trl#5785: token types built with another padding side than the ids misplace the
    image markers of the shorter prompts of a batch (later turns' prompts differ in length)."""
    forward = scored.forward
    if "mm_token_type_ids" not in forward:
        pytest.skip("this processor returns no mm_token_type_ids")
    image_token = scored.trainer.model.config.image_token_id
    is_image = forward["input_ids"] == image_token
    assert torch_equal(forward["mm_token_type_ids"] == 1, is_image)
    lengths = scored.output["prompt_mask"].sum(dim=1)
    assert len(set(lengths.tolist())) > 1  # the check covered prompts of several lengths


def torch_equal(a: Any, b: Any) -> bool:
    import torch

    return bool(torch.equal(a, b))


@pytest.mark.slow
def test_loss_mask_covers_only_the_policys_own_tokens(scored: SimpleNamespace) -> None:
    output = scored.output
    for i, tokens in enumerate(scored.stash):
        mask = output["completion_mask"][i].bool()
        assert output["completion_ids"][i][mask].tolist() == tokens.completion_ids
        # the prompt (question, reference, image tokens) is never in the loss region
        assert (
            output["prompt_ids"][i][output["prompt_mask"][i].bool()].tolist() == tokens.prompt_ids
        )
    assert int(output["num_items_in_batch"]) == sum(len(t.completion_ids) for t in scored.stash)
    assert scored.loss.isfinite()


@pytest.mark.slow
def test_rewards_score_the_raw_text_the_boxes_were_read_from(scored: SimpleNamespace) -> None:
    (call,) = scored.recorder.calls
    tokenizer = scored.processor.tokenizer
    assert len(call["completion_text"]) == len(scored.rows)
    for text, ids, step_text in zip(
        call["completion_text"],
        call["completion_ids"],
        [r["completion_text"] for r in scored.rows],
        strict=True,
    ):
        assert text == tokenizer.decode(ids, skip_special_tokens=True) == step_text
    assert any("<scene>" in t and "<think>" in t for t in call["completion_text"])


@pytest.mark.slow
def test_per_round_reward_components_and_accuracy_are_logged(scored: SimpleNamespace) -> None:
    metrics = scored.trainer._metrics["train"]
    rounds = {r["turn_index"] + 1 for r in scored.rows}
    assert {1, 2} <= rounds
    for r in rounds:
        rows = [row for row in scored.rows if row["turn_index"] + 1 == r]
        expected = [
            score_completion(x["completion_text"], problem=x["problem"], solution=x["solution"])
            for x in rows
        ]
        for component in ("accuracy", "ref_citation", "consistency", "total"):
            logged = metrics[f"rewards/round{r}/{component}/mean"]
            assert sorted(logged) == pytest.approx(
                sorted(getattr(b, component) for b in expected)
            ), (r, component)
        assert len(metrics[f"dialogue/round{r}/acc@0.5"]) == len(rows)
    assert metrics["dialogue/p_ground_truth"] == [0.0]
    assert metrics["dialogue/generated_tokens"] == [
        float(sum(len(t.completion_ids) for t in scored.stash))
    ]
    assert "rewards/accuracy/mean" in metrics  # pooled over every turn, by TRL


@pytest.mark.slow
def test_curriculum_ground_truth_and_seeded_draws(scored: SimpleNamespace) -> None:
    from regionreasoner.dialogue.rollout import ReferenceCurriculum

    trainer = scored.trainer
    original = trainer.dialogue
    batch = [trainer.train_dataset[i] for i in (0, 1) for _ in range(GENERATIONS)]
    try:
        trainer.dialogue = dataclasses.replace(original, curriculum=ReferenceCurriculum(1.0, 1.0))
        for trajectory in trainer.roll_out(batch, GENERATIONS):
            step = trajectory.steps[1]
            gt = trajectory.frame.to_model_xyxy([trajectory.dialogue.turns[0].targets[0].bbox])[0]
            assert step.asked.reference.source == "ground_truth"
            assert "bbox=[" + ",".join(str(int(v)) for v in gt) + "]" in step.asked.question
        trainer.dialogue = dataclasses.replace(original, curriculum=ReferenceCurriculum(0.5, 0.5))

        def draws() -> list[bool]:
            # ground truth, or the own box (which may be missing: sampling differs per call)
            trajectories = trainer.roll_out(batch, GENERATIONS)
            return [
                s.asked.reference.source == "ground_truth"
                for t in trajectories
                for s in t.steps[1:]
            ]

        first = draws()
        assert first == draws()  # same seed and step: same draws
        assert True in first and False in first
    finally:
        trainer.dialogue = original


# --------------------------------------------------------------------------- no trainer


def test_dialogue_return_reward_mean_and_discounted() -> None:
    from regionreasoner.integrations.trl_dialogue import DialogueReturnReward

    solution = '[{"bbox_2d": [0, 0, 10, 10], "point_2d": [5, 5]}]'
    texts = [
        '<answer>[{"bbox_2d": [0, 0, 10, 10], "point_2d": [5, 5]}]</answer>',  # right
        "nothing",  # scores 0
        '<scene> s </scene><think> t </think><answer>[{"bbox_2d": [0,0,10,10]}]</answer>',
    ]
    totals = [score_completion(t, problem="the box", solution=solution).total for t in texts]
    assert totals[1] == 0.0 and totals[0] > 0
    # two trajectories: 7 = turns (0, 1), 3 = turn (0) only, rows out of order
    columns = {
        "completion_text": [texts[1], texts[0], texts[2]],
        "problem": ["the box"] * 3,
        "solution": [solution] * 3,
        "trajectory_id": [7, 7, 3],
        "turn_index": [1, 0, 0],
    }
    mean = DialogueReturnReward("mean")(completions=[None] * 3, **columns)
    assert mean == pytest.approx([totals[0] / 2, totals[0] / 2, totals[2]])
    discounted = DialogueReturnReward("discounted", 0.5)(completions=[None] * 3, **columns)
    assert discounted == pytest.approx([0.0, totals[0] + 0.5 * 0.0, totals[2]])
    with pytest.raises(DataFormatError, match="trajectory_id"):
        DialogueReturnReward("mean")(completions=[None] * 3, **{**columns, "trajectory_id": [1]})


def test_reward_setup_optimises_the_total_or_the_return() -> None:
    from regionreasoner.dialogue.prompts import get_prompt
    from regionreasoner.dialogue.protocols import get_protocol
    from regionreasoner.dialogue.rollout import ReferenceCurriculum
    from regionreasoner.integrations.trl_dialogue import DialogueRollout, make_dialogue_reward_setup

    rollout = DialogueRollout(
        get_protocol("paper"), get_prompt("regionreasoner-train"), ReferenceCurriculum()
    )
    funcs, weights = make_dialogue_reward_setup(rollout)
    assert dict(zip([f.__name__ for f in funcs], weights, strict=True))["total"] == 1.0
    assert sum(weights) == 1.0
    funcs, weights = make_dialogue_reward_setup(
        dataclasses.replace(rollout, advantage="discounted")
    )
    named = dict(zip([f.__name__ for f in funcs], weights, strict=True))
    assert named["dialogue_return"] == 1.0 and named["total"] == 0.0


def test_eq7_normalisation_reaches_every_dialogue_reward(tmp_path: Path) -> None:
    from regionreasoner.integrations.trl_dialogue import DialogueRollout, make_dialogue_reward_setup

    path = tmp_path / "c.yaml"
    path.write_text(
        "stage: grpo\nmodel: m\ndata: synth://d\noutput_dir: o\nrollout: dialogue\n"
        "dialogue: {advantage: mean}\nrewards: {normalisation: base}\n",
        encoding="utf-8",
    )
    rollout = DialogueRollout.from_config(load_config(path))
    assert rollout.normalisation == "base"
    funcs, _ = make_dialogue_reward_setup(rollout)
    assert {f.normalisation for f in funcs} == {"base"}  # components, total and the return
    text = (
        '<scene> a box </scene><think> the box </think><answer>[{"bbox_2d": [0,0,10,10]}]</answer>'
    )
    solution = '[{"bbox_2d": [0, 0, 10, 10], "point_2d": [5, 5]}]'
    expected = {
        n: score_completion(text, problem="the box", solution=solution, normalisation=n).total
        for n in ("base", "components")
    }
    assert expected["base"] != expected["components"]
    got = funcs[-1](
        completions=[None],
        completion_text=[text],
        problem=["the box"],
        solution=[solution],
        trajectory_id=[0],
        turn_index=[0],
    )
    assert got == pytest.approx([expected["base"]])


@pytest.mark.parametrize(
    ("train", "message"),
    [
        (lambda root: root / "released.json", "needs whole dialogues"),
        (lambda root: root, "needs whole dialogues"),  # an export-train folder
    ],
)
def test_dialogue_rollout_needs_dialogue_data(tmp_path: Path, train, message: str) -> None:
    from regionreasoner.integrations.trl_dialogue import load_dialogue_set

    path = train(tmp_path)
    if path.suffix == ".json":
        path.write_text('{"samples": []}')
    with pytest.raises(ConfigError, match=message):
        load_dialogue_set(_config(tmp_path, "m", path))


def test_dialogue_set_has_one_row_per_dialogue(synth_bench: Path, tmp_path: Path) -> None:
    from regionreasoner.data.io import read_dialogues
    from regionreasoner.integrations.trl_dialogue import load_dialogue_set

    dialogues = read_dialogues(synth_bench)
    dataset = load_dialogue_set(_config(tmp_path, "m", synth_bench))
    assert dataset["dialogue_id"] == [d.dialogue_id for d in dialogues]
    assert all(Path(p).is_file() for p in dataset["image_path"])
    config = _config(tmp_path, "m", synth_bench).model_copy(
        update={
            "data": _config(tmp_path, "m", synth_bench).data.model_copy(update={"max_samples": 3})
        }
    )
    assert len(load_dialogue_set(config)) == 3
    bad = _config(tmp_path, "m", synth_bench).model_copy(
        update={
            "data": _config(tmp_path, "m", synth_bench).data.model_copy(
                update={"max_prompt_tokens": 100}
            )
        }
    )
    with pytest.raises(ConfigError, match="max_prompt_tokens"):
        load_dialogue_set(bad)


def test_dialogue_rollout_is_grpo_only(tmp_path: Path) -> None:
    path = REPO / "configs" / "grpo-dialogue-tiny-cpu.yaml"
    with pytest.raises(ConfigError, match="rollout: dialogue applies to stage grpo only"):
        load_config(path, stage="sft")
    with pytest.raises(ConfigError, match=r"dialogue\.advantage"):
        load_config(path, ["dialogue.advantage=sum"])
    with pytest.raises(ConfigError, match=r"did you mean .dialogue\.max_turns."):
        load_config(path, ["dialogue.max_turn=3"])


def test_the_image_limit_of_the_config_reaches_the_dialogue_set_and_the_rollouts(
    synth_bench: Path, tmp_path: Path
) -> None:
    from regionreasoner.integrations.trl_dialogue import (
        DialogueGRPOTrainer,
        DialogueRollout,
        load_dialogue_set,
    )

    config = _config(tmp_path, "m", synth_bench)
    dataset = load_dialogue_set(config)
    limited = config.model_copy(
        update={"data": config.data.model_copy(update={"max_image_pixels": 10_000})}
    )
    # every synthetic image is 160x120 (19,200 pixels): refused from its header
    with pytest.raises(ImageError) as info:
        load_dialogue_set(limited)
    first = dataset["dialogue_id"][0]
    assert str(info.value).startswith(f"{synth_bench}: dialogue {first}: image: ")
    assert "(19,200 pixels), over the limit of 10,000 pixels" in str(info.value)

    rollout = DialogueRollout.from_config(limited, data_path=str(synth_bench))
    assert (rollout.max_image_pixels, rollout.data_path) == (10_000, str(synth_bench))
    trainer = SimpleNamespace(state=SimpleNamespace(global_step=0, max_steps=1), dialogue=rollout)
    row = dataset[0]
    with pytest.raises(ImageError) as info:
        DialogueGRPOTrainer.roll_out(trainer, [row] * GENERATIONS, GENERATIONS)
    assert str(info.value).startswith(f"{synth_bench}: dialogue {first}: image: ")
