"""Dialogue-level GRPO on TRL: ``regionreasoner train`` with ``rollout: dialogue``.

Each training row is a whole dialogue. For a group of ``G = grpo.num_generations``
copies of a row, :class:`DialogueGRPOTrainer` plays ``G`` trajectories turn by turn
(:func:`regionreasoner.dialogue.rollout.roll_out_dialogues`): turn ``t`` is asked
exactly as ``regionreasoner eval`` asks it (the image in the model frame and that turn's
question, whose ``{ref}`` holds the box the same trajectory produced for the referenced
turn, or the ground-truth box when the reference curriculum draws it), with no chat
history. Every turn then becomes ONE TRL sample (its own prompt, its own image, its own
completion), so the loss of a turn covers that turn's completion tokens only, and the
forward pass sees the very prompt the completion was sampled from.

How it plugs into TRL 1.16's ``GRPOTrainer`` (``trl/trainer/grpo_trainer.py``):

* ``_generate_and_score_completions`` is overridden, and only to expand the batch:
  the rollout generates with the trainer's own ``_tokenize_prompts`` and
  ``_generate_single_turn`` (so sampling settings, vLLM and the transformers path are
  TRL's), then the parent method runs on the expanded per-turn rows. A
  ``rollout_func`` (TRL's public extension point, :func:`replay_turns`) hands the parent
  the token ids already generated; the parent keeps each row's image (it restores the
  dataset images after a ``rollout_func``), rebuilds the forward-pass inputs from each
  row's prompt and image, scores the rewards and computes the advantages. The
  extension points alone cannot do this: a ``rollout_func`` must return one sample per
  input row, and a dialogue of ``T`` turns is ``T`` samples per row.
* Rows are ordered (dialogue, turn index, generation), so TRL's group normalisation
  (``scale_rewards: group``) normalises each turn's reward across the ``G``
  trajectories AT THE SAME TURN INDEX. ``dialogue.advantage: mean | discounted``
  replaces the optimised reward by :func:`~regionreasoner.dialogue.rollout.turn_returns`
  (:class:`DialogueReturnReward`), normalised the same way.
* Per-round logging: ``rewards/round<r>/<component>/mean`` for every reward component
  and the total, ``dialogue/round<r>/acc@0.5``, pooled ``dialogue/acc@0.5``, the
  curriculum's ``dialogue/p_ground_truth``, the share of later turns that cited the
  ground truth (``dialogue/round<r>/ground_truth_reference``), and the tokens generated
  (``dialogue/generated_tokens``). Per-round values are per-turn, so the logged mean is
  turn-weighted over the logging window.

Limits: one process (no data parallelism yet: processes would hold different numbers of
turn samples and TRL gathers equal-sized tensors), and one optimizer step per generation
batch (``steps_per_generation`` 1: TRL splits a generation batch into equal chunks and
would drop the remainder of a variable-sized one).

The module (about 600 lines) keeps the rollout mode's settings, data, return reward and
trainer together: they share the column names and the turn-sample layout that the
trainer subclass depends on, and only the trainer needs ``trl`` at import.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionreasoner._imports import require
from regionreasoner.data.images import DEFAULT_MAX_IMAGE_PIXELS
from regionreasoner.data.io import read_dialogues, resolve_image_path
from regionreasoner.data.schema import Dialogue, Turn
from regionreasoner.dialogue.policy import SOURCE_GROUND_TRUTH
from regionreasoner.dialogue.prompts import PromptTemplate, get_prompt
from regionreasoner.dialogue.protocols import EvalProtocol, get_protocol
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
from regionreasoner.dialogue.runner import check_images
from regionreasoner.errors import ConfigError, DataFormatError
from regionreasoner.geometry.frames import Frame
from regionreasoner.integrations.export import target_solution_item
from regionreasoner.integrations.synth_spec import SYNTH_SCHEME, build_synth_bench
from regionreasoner.integrations.train_config import TrainConfig
from regionreasoner.integrations.trl_rewards import (
    FRAME_COLUMN,
    IMAGE_WH_COLUMN,
    PROBLEM_COLUMN,
    RAW_COMPLETION_COLUMN,
    SOLUTION_COLUMN,
    RegionReasonerReward,
    make_trl_reward_setup,
    row_frames,
    score_text,
)
from regionreasoner.rewards import (
    DEFAULT_NORMALISATION,
    DEFAULT_PROFILE,
    REWARD_KEYS,
    check_normalisation,
    check_weights,
)

logger = logging.getLogger(__name__)

trl = require("trl", extra="trl")
torch = require("torch", extra="hf")

DIALOGUE_COLUMN = "dialogue_json"
"""Training-set column: the RegionDial record of the row, as JSON."""
IMAGE_PATH_COLUMN = "image_path"
"""Training-set column: the image file of the row's dialogue."""
TRAJECTORY_COLUMN = "trajectory_id"
"""Per-turn column: which trajectory of the generation batch a turn sample belongs to."""
TURN_INDEX_COLUMN = "turn_index"
REFERENCE_SOURCE_COLUMN = "reference_source"

RETURN_REWARD_NAME = "dialogue_return"
"""Name (and log key ``rewards/dialogue_return/mean``) of the optimised return."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class DialogueRollout:
    """What the dialogue trainer needs besides TRL's own arguments.

    Attributes:
        protocol: writes references and reads answers (the ``eval`` protocol).
        prompt: the prompt template of every turn.
        curriculum: ground-truth-reference probability over training.
        advantage: ``per_turn``, ``mean`` or ``discounted`` (see ``turn_returns``).
        gamma: discount of ``discounted``.
        max_turns: play at most this many turns per dialogue (``None``: all).
        profile: reward profile (for the per-round logs).
        alpha: weight of the reference-citation reward.
        beta: weight of the consistency reward.
        normalisation: the Eq. 7 reading of the ``paper`` profile.
        seed: seeds every curriculum draw (with the step and the dialogue).
        max_image_pixels: largest image accepted (``data.max_image_pixels``).
        data_path: the benchmark file, named in image errors (``None``: not named).
    """

    protocol: EvalProtocol
    prompt: PromptTemplate
    curriculum: ReferenceCurriculum
    advantage: str = "per_turn"
    gamma: float = 1.0
    max_turns: int | None = None
    profile: str = DEFAULT_PROFILE
    alpha: float = 1.0
    beta: float = 1.0
    normalisation: str = DEFAULT_NORMALISATION
    seed: int = 0
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    data_path: str | None = None

    @classmethod
    def from_config(cls, config: TrainConfig, *, data_path: str | None = None) -> DialogueRollout:
        """The settings of ``config.dialogue`` (registry names resolved now) and the image
        limit of ``config.data``; ``data_path`` is the benchmark file named in image errors
        (:func:`dialogue_benchmark_path`)."""
        d = config.dialogue
        c = d.reference_curriculum
        return cls(
            protocol=get_protocol(d.protocol, frame=d.frame),
            prompt=get_prompt(d.prompt),
            curriculum=ReferenceCurriculum(c.start, c.end, c.schedule, c.ramp_fraction),
            advantage=d.advantage,
            gamma=d.gamma,
            max_turns=d.max_turns,
            profile=config.rewards.profile,
            alpha=config.rewards.alpha,
            beta=config.rewards.beta,
            normalisation=config.rewards.normalisation,
            seed=config.seed,
            max_image_pixels=config.data.max_image_pixels,
            data_path=data_path,
        )


# --------------------------------------------------------------------------- data


def dialogue_benchmark_path(config: TrainConfig) -> Path:
    """The RegionDial JSONL a dialogue run trains on (a ``synth://`` spec is built first).

    Raises:
        ConfigError: a data spec without dialogue structure (an ``export-train`` folder
            or the released single-turn JSON).
    """
    spec = config.data.train
    if spec.startswith(SYNTH_SCHEME):
        return build_synth_bench(spec)
    path = Path(spec)
    if path.suffix != ".jsonl" or not path.is_file():
        raise ConfigError(
            f"data.train {spec!r}: rollout: dialogue needs whole dialogues, i.e. a RegionDial "
            ".jsonl file or synth://DIR (export-train folders and the released training "
            "JSON hold single turns)"
        )
    return path


def load_dialogue_set(config: TrainConfig) -> Any:
    """The training ``datasets.Dataset`` of a dialogue run: one row per dialogue.

    Columns: ``prompt`` (turn 1's question as a user message, for display),
    ``dialogue_json`` (the record), ``image_path`` (its image) and ``dialogue_id``.
    ``data.max_samples`` keeps that many dialogues after a seeded shuffle.

    Raises:
        ConfigError: unusable data spec or settings.
        DataFormatError: unreadable records, missing images, an empty set.
    """
    datasets = require("datasets", extra="trl")
    if config.data.max_prompt_tokens is not None:
        raise ConfigError(
            "data.max_prompt_tokens filters single-turn samples; it is not supported with "
            "rollout: dialogue (bound the dialogue with dialogue.max_turns instead)"
        )
    bench = dialogue_benchmark_path(config)
    dialogues = read_dialogues(bench)
    check_images(
        dialogues,
        data_path=bench,
        images_root=config.data.images_root,
        max_pixels=config.data.max_image_pixels,
    )
    rows: dict[str, list[Any]] = {
        "prompt": [],
        DIALOGUE_COLUMN: [],
        IMAGE_PATH_COLUMN: [],
        "dialogue_id": [],
    }
    for dialogue in dialogues:
        first = dialogue.turns[0].render_question(None)
        rows["prompt"].append([{"role": "user", "content": first}])
        rows[DIALOGUE_COLUMN].append(json.dumps(dialogue.to_dict(), ensure_ascii=False))
        path = resolve_image_path(dialogue, bench, config.data.images_root)
        rows[IMAGE_PATH_COLUMN].append(str(path.resolve()))
        rows["dialogue_id"].append(dialogue.dialogue_id)
    dataset = datasets.Dataset.from_dict(rows)
    if config.data.max_samples is not None and config.data.max_samples < len(dataset):
        dataset = dataset.shuffle(seed=config.seed).select(range(config.data.max_samples))
    if len(dataset) == 0:
        raise DataFormatError("the training set is empty", path=str(bench))
    turns = sum(len(json.loads(d)["turns"]) for d in dataset[DIALOGUE_COLUMN])
    logger.info(
        "dialogue training set: %d dialogues (%d turns) from %s", len(dataset), turns, bench
    )
    return dataset


def solution_json(turn: Turn, frame: Frame) -> str:
    """The turn's ground truth in the model frame, as the reward's ``solution`` JSON
    (the targets of ``export-train``: box and anchor point, integers)."""
    return json.dumps([target_solution_item(t, frame) for t in turn.targets])


# --------------------------------------------------------------------------- rewards


class DialogueReturnReward:
    """The optimised reward of ``advantage: mean | discounted``: each turn's return.

    Reads every turn sample of the batch (TRL calls a reward once per batch), groups
    them by ``trajectory_id``, orders them by ``turn_index``, scores each turn's total
    (the profile's weighted sum, through the cache the component callables share) and
    returns :func:`~regionreasoner.dialogue.rollout.turn_returns` per sample. A plain
    class, so it pickles.

    Args:
        mode: ``mean`` or ``discounted``.
        gamma: discount of ``discounted``.
        profile: reward profile.
        alpha: weight of ref_citation.
        beta: weight of consistency.
        normalisation: the Eq. 7 reading of the ``paper`` profile.
    """

    __name__ = RETURN_REWARD_NAME

    def __init__(
        self,
        mode: str,
        gamma: float = 1.0,
        *,
        profile: str = DEFAULT_PROFILE,
        alpha: float = 1.0,
        beta: float = 1.0,
        normalisation: str = DEFAULT_NORMALISATION,
    ) -> None:
        turn_returns([0.0], mode, gamma)  # validates the mode and gamma now
        check_normalisation(profile, normalisation)
        self.mode = mode
        self.gamma = gamma
        self.profile = profile
        self.alpha, self.beta = check_weights(alpha, beta)
        self.normalisation = normalisation

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        """One return per turn sample.

        Raises:
            DataFormatError: a column the return needs is missing or misaligned.
        """
        n = len(completions or [])
        columns = {}
        for name in (
            RAW_COMPLETION_COLUMN,
            PROBLEM_COLUMN,
            SOLUTION_COLUMN,
            TRAJECTORY_COLUMN,
            TURN_INDEX_COLUMN,
        ):
            column = kwargs.get(name)
            if column is None or len(column) != n:
                raise DataFormatError(
                    f"the dialogue return needs a column {name!r} with one value per turn sample",
                    field=name,
                )
            columns[name] = column
        frames = row_frames(kwargs, n)
        totals = [
            score_text(
                columns[RAW_COMPLETION_COLUMN][i],
                columns[PROBLEM_COLUMN][i],
                columns[SOLUTION_COLUMN][i],
                profile=self.profile,
                alpha=self.alpha,
                beta=self.beta,
                normalisation=self.normalisation,
                frame=frames[i],
            ).total
            for i in range(n)
        ]
        by_trajectory: dict[Any, list[int]] = defaultdict(list)
        for i in range(n):
            by_trajectory[columns[TRAJECTORY_COLUMN][i]].append(i)
        out = [0.0] * n
        for rows in by_trajectory.values():
            rows.sort(key=lambda i: columns[TURN_INDEX_COLUMN][i])
            values = turn_returns([totals[i] for i in rows], self.mode, self.gamma)
            for i, value in zip(rows, values, strict=True):
                out[i] = value
        return out


def make_dialogue_reward_setup(
    rollout: DialogueRollout,
) -> tuple[list[RegionReasonerReward | DialogueReturnReward], list[float]]:
    """Reward callables and weights of a dialogue run.

    Every component and the per-turn total are logged (``rewards/<name>/mean``, pooled
    over turns). ``per_turn`` optimises the total (weight 1); ``mean`` and
    ``discounted`` optimise :class:`DialogueReturnReward` (weight 1, the total 0).
    """
    funcs, weights = make_trl_reward_setup(
        rollout.profile, rollout.alpha, rollout.beta, normalisation=rollout.normalisation
    )
    out: list[RegionReasonerReward | DialogueReturnReward] = list(funcs)
    if rollout.advantage == "per_turn":
        return out, list(weights)
    out.append(
        DialogueReturnReward(
            rollout.advantage,
            rollout.gamma,
            profile=rollout.profile,
            alpha=rollout.alpha,
            beta=rollout.beta,
            normalisation=rollout.normalisation,
        )
    )
    return out, [0.0] * (len(out) - 1) + [1.0]


# --------------------------------------------------------------------------- trainer


@dataclass(frozen=True)
class _TurnTokens:
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float] | None
    user_text: str


def _user_text(prompt: Sequence[Mapping[str, Any]]) -> str:
    user = [m for m in prompt if m.get("role") == "user"][-1]
    content = user["content"]
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or "" for p in content if p.get("type") == "text")


def replay_turns(prompts: list[Any], trainer: DialogueGRPOTrainer) -> dict[str, Any]:
    """TRL ``rollout_func`` handing the parent trainer the turns already generated.

    Checks that the prompts arrive in the order the turns were stored.

    Raises:
        RuntimeError: called outside :class:`DialogueGRPOTrainer`'s scoring step, or
            with prompts that are not the stored turns.
    """
    stash: list[_TurnTokens] | None = getattr(trainer, "_turn_stash", None)
    if stash is None or len(stash) != len(prompts):
        raise RuntimeError(
            "replay_turns serves DialogueGRPOTrainer's own turn samples; got "
            f"{len(prompts)} prompts for {0 if stash is None else len(stash)} stored turns"
        )
    for i, (prompt, tokens) in enumerate(zip(prompts, stash, strict=True)):
        if _user_text(prompt) != tokens.user_text:
            raise RuntimeError(f"turn sample {i}: the prompt is not the one generated from")
    logprobs = [t.logprobs for t in stash]
    return {
        "prompt_ids": [t.prompt_ids for t in stash],
        "completion_ids": [t.completion_ids for t in stash],
        "logprobs": None if any(lp is None for lp in logprobs) else logprobs,
    }


class DialogueGRPOTrainer(trl.GRPOTrainer):  # type: ignore[misc,name-defined]
    """``GRPOTrainer`` whose samples are the turns of dialogue trajectories.

    Args:
        *args: ``GRPOTrainer``'s arguments.
        dialogue: the rollout settings.
        **kwargs: ``GRPOTrainer``'s keyword arguments (no ``rollout_func``: the
            trainer sets its own).

    Raises:
        ConfigError: several processes, or several optimizer steps per generation batch.
    """

    def __init__(self, *args: Any, dialogue: DialogueRollout, **kwargs: Any) -> None:
        if kwargs.get("rollout_func") is not None or kwargs.get("environment_factory"):
            raise ConfigError("the dialogue trainer brings its own rollout")
        super().__init__(*args, rollout_func=replay_turns, **kwargs)
        if self.accelerator.num_processes != 1:
            raise ConfigError(
                "rollout: dialogue runs in one process for now (each process would hold a "
                "different number of turn samples); launch it without accelerate's data "
                "parallelism"
            )
        if self.args.steps_per_generation != 1:
            raise ConfigError(
                "rollout: dialogue needs one optimizer step per generation batch: set "
                "trainer.gradient_accumulation_steps to 1 and leave grpo.generation_batch_size "
                f"unset (steps_per_generation is {self.args.steps_per_generation})"
            )
        self.dialogue = dialogue
        self._turn_stash: list[_TurnTokens] | None = None
        self._solutions: dict[tuple[str, int, tuple[int, int]], str] = {}
        self._p_ground_truth = dialogue.curriculum.start

    # ---------------------------------------------------------------- generation

    def _generate_turns(self, requests: Sequence[TurnRequest]) -> list[GeneratedTurn]:
        """One round: TRL's own tokenisation and generation (transformers or vLLM)."""
        from trl.data_utils import prepare_multimodal_messages

        prompts = [prepare_multimodal_messages(r.messages, images=[r.image]) for r in requests]
        prompt_ids, images, multimodal_fields = self._tokenize_prompts(prompts)
        completion_ids, logprobs = self._generate_single_turn(
            prompt_ids, images, multimodal_fields, 1
        )
        texts = self.processing_class.batch_decode(completion_ids, skip_special_tokens=True)
        out = []
        for i, request in enumerate(requests):
            tokens = _TurnTokens(
                prompt_ids=list(prompt_ids[i]),
                completion_ids=list(completion_ids[i]),
                logprobs=None if logprobs is None else list(logprobs[i]),
                user_text=request.asked.user_text,
            )
            out.append(GeneratedTurn(texts[i], tokens))
        return out

    def _solution(self, dialogue: Dialogue, turn: Turn, frame: Frame) -> str:
        key = (dialogue.dialogue_id, turn.turn_index, frame.model_wh)
        if key not in self._solutions:
            self._solutions[key] = solution_json(turn, frame)
        return self._solutions[key]

    def roll_out(
        self, inputs: Sequence[Mapping[str, Any]], num_generations: int
    ) -> list[DialogueTrajectory]:
        """Play ``num_generations`` trajectories per group of identical dialogue rows.

        Raises:
            DataFormatError: a group whose rows are not one dialogue.
        """
        if len(inputs) % num_generations:
            raise DataFormatError(
                f"{len(inputs)} rows do not split into groups of {num_generations}"
            )
        step = int(self.state.global_step)
        total = max(int(self.state.max_steps), 1)
        p_gt = self.dialogue.curriculum.p_ground_truth(step, total)
        trajectories: list[DialogueTrajectory] = []
        for slot, start in enumerate(range(0, len(inputs), num_generations)):
            group = inputs[start : start + num_generations]
            if len({row[DIALOGUE_COLUMN] for row in group}) != 1:
                raise DataFormatError(
                    f"generation group {slot} mixes dialogues; the dialogue trainer expects "
                    "TRL's RepeatSampler order"
                )
            dialogue = Dialogue.from_dict(json.loads(group[0][DIALOGUE_COLUMN]))
            image, frame = open_model_image(
                Path(group[0][IMAGE_PATH_COLUMN]),
                dialogue,
                self.dialogue.protocol,
                max_pixels=self.dialogue.max_image_pixels,
                data_path=self.dialogue.data_path,
            )
            for g in range(num_generations):
                rng = trajectory_rng(self.dialogue.seed, step, dialogue.dialogue_id, slot, g)
                trajectories.append(
                    DialogueTrajectory(
                        dialogue,
                        image,
                        frame,
                        ScheduledReferencePolicy(p_gt, rng),
                        self.dialogue.max_turns,
                    )
                )
        roll_out_dialogues(
            trajectories,
            self._generate_turns,
            protocol=self.dialogue.protocol,
            prompt=self.dialogue.prompt,
        )
        self._p_ground_truth = p_gt
        return trajectories

    def turn_rows(
        self, trajectories: Sequence[DialogueTrajectory], num_generations: int
    ) -> tuple[list[dict[str, Any]], list[_TurnTokens]]:
        """The per-turn TRL rows, ordered (dialogue, turn index, generation), and their
        token ids in the same order."""
        rows: list[dict[str, Any]] = []
        stash: list[_TurnTokens] = []
        for start in range(0, len(trajectories), num_generations):
            group = trajectories[start : start + num_generations]
            for k in range(len(group[0].steps)):
                for g, trajectory in enumerate(group):
                    step = trajectory.steps[k]
                    rows.append(
                        {
                            "prompt": turn_messages(step.asked),
                            "image": trajectory.image,
                            PROBLEM_COLUMN: step.asked.question,
                            SOLUTION_COLUMN: self._solution(
                                trajectory.dialogue, step.turn, trajectory.frame
                            ),
                            RAW_COMPLETION_COLUMN: step.text,
                            "dialogue_id": trajectory.dialogue.dialogue_id,
                            TURN_INDEX_COLUMN: step.turn.turn_index,
                            TRAJECTORY_COLUMN: start + g,
                            REFERENCE_SOURCE_COLUMN: step.asked.reference.source,
                            FRAME_COLUMN: self.dialogue.protocol.frame_name,
                            IMAGE_WH_COLUMN: list(trajectory.frame.image_wh),
                        }
                    )
                    stash.append(step.payload)
        return rows, stash

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        mode = "train" if self.model.training else "eval"
        num_generations = self.num_generations if mode == "train" else self.num_generations_eval
        trajectories = self.roll_out(inputs, num_generations)
        rows, stash = self.turn_rows(trajectories, num_generations)
        self._turn_stash = stash
        try:
            output = super()._generate_and_score_completions(rows)
        finally:
            self._turn_stash = None
        self._log_rounds(trajectories, mode)
        return output

    # ---------------------------------------------------------------- logging

    def _log_rounds(self, trajectories: Sequence[DialogueTrajectory], mode: str) -> None:
        metrics = self._metrics[mode]
        tokens = 0
        for trajectory in trajectories:
            for step in trajectory.steps:
                tokens += len(step.payload.completion_ids)
                solution = self._solution(trajectory.dialogue, step.turn, trajectory.frame)
                breakdown = score_text(
                    step.text,
                    step.asked.question,
                    solution,
                    profile=self.dialogue.profile,
                    alpha=self.dialogue.alpha,
                    beta=self.dialogue.beta,
                    normalisation=self.dialogue.normalisation,
                    frame=trajectory.frame,
                )
                r = step.round
                for key in REWARD_KEYS:
                    metrics[f"rewards/round{r}/{key}/mean"].append(float(getattr(breakdown, key)))
                hit = float(step.hit)
                metrics[f"dialogue/round{r}/acc@0.5"].append(hit)
                metrics["dialogue/acc@0.5"].append(hit)
                if step.turn.has_reference:
                    from_gt = float(step.asked.reference.source == SOURCE_GROUND_TRUTH)
                    metrics[f"dialogue/round{r}/ground_truth_reference"].append(from_gt)
        metrics["dialogue/p_ground_truth"].append(self._p_ground_truth)
        metrics["dialogue/generated_tokens"].append(float(tokens))
        metrics["dialogue/turn_samples"].append(float(sum(len(t.steps) for t in trajectories)))


__all__ = [
    "DIALOGUE_COLUMN",
    "IMAGE_PATH_COLUMN",
    "RETURN_REWARD_NAME",
    "TRAJECTORY_COLUMN",
    "DialogueGRPOTrainer",
    "DialogueReturnReward",
    "DialogueRollout",
    "dialogue_benchmark_path",
    "load_dialogue_set",
    "make_dialogue_reward_setup",
    "replay_turns",
    "solution_json",
]
