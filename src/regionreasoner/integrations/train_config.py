"""Configuration of ``regionreasoner train``: pydantic v2 models that reject unknown keys.

A config is a YAML file with these sections (every key is documented on its field)::

    stage: grpo                      # or sft (the CLI's --stage overrides it)
    model: tiny://artifacts/tiny-qwen   # or {path: ..., dtype: ..., ...}
    data: synth://artifacts/synth-train?dialogues=40&seed=0   # or {train: ..., frame: ...}
    output_dir: runs/grpo-tiny-cpu
    seed: 0
    rewards: {profile: paper, alpha: 1.0, beta: 1.0, normalisation: components}
    lora: {enabled: false}
    trainer: {learning_rate: 1.0e-6, ...}    # shared by both stages
    grpo: {num_generations: 8, ...}          # GRPO only
    sft: {max_length: null, ...}             # SFT only
    rollout: single                  # or dialogue (GRPO on whole dialogues)
    dialogue: {advantage: per_turn, reference_curriculum: {start: 1.0, end: 0.0}, ...}

Relative paths (model folders, data, ``output_dir``) are relative to the directory the
command runs in, as with TRL's and accelerate's own scripts. ``key=value`` overrides on
the command line use dotted paths (``trainer.learning_rate=1e-5``); the value is read
with ``yaml.safe_load`` so ``1e-5``, ``true``, ``null`` and ``[a, b]`` keep their types.

Errors (unknown key, wrong type, bad override) raise :class:`ConfigError` with the file
and the dotted key in the message; the CLI turns that into exit code 2.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from regionreasoner.data.images import DEFAULT_MAX_IMAGE_PIXELS, check_max_pixels
from regionreasoner.errors import ConfigError
from regionreasoner.geometry.frames import OFFICIAL_MODEL_SIZE
from regionreasoner.micro.tiny import DEFAULT_TINY_FAMILY

DEFAULT_FRAME = OFFICIAL_MODEL_SIZE
"""Side of the square training frame (pixels); the released models answer in 840x840."""

LANGUAGE_MODEL_LINEAR_LAYERS = (
    r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
)
"""Default LoRA targets: the linear layers of the language model, not the vision tower
(Qwen2.5-VL's vision MLP reuses the names ``gate_proj``/``up_proj``/``down_proj``)."""

REPORT_TARGETS = ("none", "tensorboard", "wandb")
"""Logging integrations accepted in ``trainer.report_to`` (besides the console)."""

STAGES = ("grpo", "sft")

_SHORTHAND_KEYS = {"model": "path", "data": "train"}
"""Sections that may be written as a single string: ``model: X`` means ``model: {path: X}``."""


_EXPONENT_NUMBER_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
"""Numbers like ``1e-6`` that YAML 1.1 (PyYAML) reads as strings."""


def _as_number(value: Any) -> Any:
    if isinstance(value, str) and _EXPONENT_NUMBER_RE.fullmatch(value.strip()):
        return float(value)
    return value


def check_frame(value: int | str, *, sides: bool) -> int | str:
    """A training frame: a registered frame name, or (``sides``) a square side >= 28.

    Raises:
        ValueError: anything else (``auto`` included: the frame probe belongs to
            evaluation; name the frame the policy answers in).
    """
    from regionreasoner.geometry.frames import AUTO_FRAME, FRAMES
    from regionreasoner.integrations.export import MIN_FRAME

    if isinstance(value, int) and not isinstance(value, bool) and sides:
        if value < MIN_FRAME:
            raise ValueError(f"a square frame side must be at least {MIN_FRAME}")
        return value
    if isinstance(value, str) and value in FRAMES:
        return value
    names = ", ".join(FRAMES.names())
    hint = " (the frame probe is for evaluation; name the frame)" if value == AUTO_FRAME else ""
    expected = f"a square side in pixels or one of {names}" if sides else f"one of {names}"
    raise ValueError(f"expected {expected}{hint}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Section):
    """The policy to train.

    Attributes:
        path: ``tiny://DIR`` (the offline tiny model of ``tiny_family``, built in
            ``DIR`` when missing), a local checkpoint folder, or a Hugging Face Hub id.
        dtype: weight dtype when loading (``auto`` keeps the checkpoint's).
        attn_implementation: e.g. ``flash_attention_2`` or ``sdpa``; ``None`` lets
            transformers pick.
        min_pixels: override of the image processor's smallest image area (pixels).
        max_pixels: override of the image processor's largest image area (pixels).
        tiny_seed: seed used when a ``tiny://`` model has to be built.
        tiny_family: the architecture of a ``tiny://`` model (a ``make-tiny-model
            --family``: ``qwen2.5-vl``, the default, or ``qwen3-vl``).
    """

    path: str
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    attn_implementation: str | None = None
    min_pixels: int | None = Field(default=None, gt=0)
    max_pixels: int | None = Field(default=None, gt=0)
    tiny_seed: int = 0
    tiny_family: str = DEFAULT_TINY_FAMILY

    @field_validator("tiny_family")
    @classmethod
    def _known_family(cls, value: str) -> str:
        from regionreasoner.micro.tiny import TINY_FAMILIES

        if value not in TINY_FAMILIES:
            raise ValueError(f"unknown family; choose from {', '.join(TINY_FAMILIES.names())}")
        return value


class DataSection(_Section):
    """The training data.

    Attributes:
        train: one of ``synth://DIR?dialogues=N&seed=S`` (a synthetic RegionDial
            benchmark, built in ``DIR`` when missing), a RegionDial ``.jsonl`` file
            (exported to a cache inside ``output_dir``), a folder written by
            ``regionreasoner export-train --format trl``, or the released training JSON
            ``{"samples": [{"problem", "solution", "image"}]}``.
        frame: the frame the policy is shown images and answers in: the side of a
            square resize (``840``, the released models' frame), or a registered frame
            name (``rel1000`` for Qwen3-VL, ``native``, ``image``, ``rel1``;
            ``square840`` is the 840 square). Ground truth and references are written
            in it; in a named frame other than the square one, every row also carries
            ``frame`` and ``image_wh`` and the rewards convert it into their 840x840
            frame.
        images_root: folder that image paths are relative to (default: the data file's
            folder).
        max_samples: keep only the first N samples (after the seeded shuffle).
        max_prompt_tokens: drop samples whose prompt (text plus image tokens) is longer.
        max_image_pixels: refuse an image with more stored pixels (W x H), from its
            header, before decoding (``train --max-image-pixels``; default 120,000,000,
            at most Pillow's own limit; ``docs/data_format.md``, section 5).
    """

    train: str
    frame: int | str = DEFAULT_FRAME
    images_root: str | None = None
    max_samples: int | None = Field(default=None, gt=0)
    max_prompt_tokens: int | None = Field(default=None, gt=0)
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    @field_validator("max_image_pixels")
    @classmethod
    def _pixel_limit(cls, value: int) -> int:
        return check_max_pixels(value, what="data.max_image_pixels")

    @field_validator("frame")
    @classmethod
    def _frame_side_or_name(cls, value: int | str) -> int | str:
        return check_frame(value, sides=True)


class RewardsSection(_Section):
    """Reward profile and weights (see ``docs/rewards.md``).

    Attributes:
        profile: ``paper`` (the paper's equations) or ``official`` (the released code).
        alpha: weight of the reference-citation reward in the total.
        beta: weight of the global-local consistency reward in the total.
        normalisation: the reading of the paper's Eq. 7: ``components`` (each base
            component in [0, 2], R_base their sum) or ``base`` (R_base their mean, in
            [0, 2]; ``paper`` profile only).
    """

    profile: str = "paper"
    alpha: float = 1.0
    beta: float = 1.0
    normalisation: Literal["components", "base"] = "components"

    @model_validator(mode="after")
    def _normalisation_fits_profile(self) -> RewardsSection:
        from regionreasoner.rewards import REWARD_PROFILES, check_normalisation

        if self.profile in REWARD_PROFILES:  # an unknown name fails when the trainer is built
            check_normalisation(self.profile, self.normalisation)  # a ValueError
        return self


class LoraSection(_Section):
    """Optional LoRA adapters (peft); off by default (full fine-tuning).

    Attributes:
        enabled: train LoRA adapters instead of all weights.
        r: adapter rank.
        lora_alpha: adapter scaling numerator.
        lora_dropout: dropout on the adapter input.
        target_modules: a regex over module names, or a list of module-name suffixes.
    """

    enabled: bool = False
    r: int = Field(default=64, gt=0)
    lora_alpha: int = Field(default=128, gt=0)
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = LANGUAGE_MODEL_LINEAR_LAYERS


class TrainerSection(_Section):
    """Arguments shared by both stages (names and meanings of ``transformers``' trainer).

    One optimizer step consumes ``per_device_train_batch_size * gradient_accumulation_steps
    * number of processes`` completions; for GRPO that is that number divided by
    ``grpo.num_generations`` prompts.

    Attributes:
        extra_args: any other ``GRPOConfig`` / ``SFTConfig`` argument, passed through
            verbatim (checked against TRL's fields when the trainer is built).
    """

    learning_rate: float = Field(default=1e-6, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    num_train_epochs: float = Field(default=1.0, gt=0)
    max_steps: int = -1
    per_device_train_batch_size: int = Field(default=8, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    lr_scheduler_type: str = "constant"
    warmup_steps: int = Field(default=0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    bf16: bool = False
    gradient_checkpointing: bool = False
    use_cpu: bool = False
    logging_steps: int = Field(default=1, gt=0)
    save_steps: int = Field(default=500, gt=0)
    save_total_limit: int | None = Field(default=None, gt=0)
    report_to: list[str] = Field(default_factory=lambda: ["none"])
    run_name: str | None = None
    dataloader_num_workers: int = Field(default=0, ge=0)
    extra_args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("extra_args")
    @classmethod
    def _numeric_strings(cls, value: dict[str, Any]) -> dict[str, Any]:
        # YAML 1.1 reads ``1e-6`` (no dot) as a string. Typed fields are coerced by
        # pydantic; pass-through values are not, so convert plain numeric strings here.
        return {k: _as_number(v) for k, v in value.items()}

    @field_validator("report_to", mode="before")
    @classmethod
    def _report_to_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("report_to")
    @classmethod
    def _report_to_known(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in REPORT_TARGETS]
        if unknown:
            raise ValueError(f"unknown target(s) {unknown}; choose from {list(REPORT_TARGETS)}")
        if "none" in value and len(value) > 1:
            raise ValueError("'none' cannot be combined with other targets")
        return value


class GRPOSection(_Section):
    """GRPO-only arguments (TRL ``GRPOConfig`` names; defaults: the paper's recipe).

    Attributes:
        num_generations: completions sampled per prompt (the group size).
        generation_batch_size: completions generated per generation round; ``None``:
            one optimizer step's worth.
        max_completion_length: completion token limit.
        temperature: sampling temperature.
        top_p: nucleus sampling threshold.
        beta: KL coefficient against the reference model (0 drops the reference model).
        epsilon: PPO clip range.
        entropy_coef: entropy bonus coefficient.
        loss_type: TRL loss aggregation (``dapo`` = token mean over the batch, as veRL's
            ``token-mean``).
        scale_rewards: ``group`` (GRPO's per-group std normalisation), ``batch`` or ``none``.
        num_iterations: policy updates per generated batch (PPO epochs).
        mask_truncated_completions: leave completions cut at the length limit out of the loss.
        use_vllm: generate with vLLM (GPU only).
        vllm_mode: ``colocate`` (vLLM inside the training processes) or ``server``.
        vllm_gpu_memory_utilization: GPU memory share vLLM reserves in colocate mode.
        vllm_tensor_parallel_size: tensor parallelism of colocated vLLM.
        log_completions: print a sample of completions with their rewards at each log.
    """

    num_generations: int = Field(default=8, ge=2)
    generation_batch_size: int | None = Field(default=None, gt=0)
    max_completion_length: int = Field(default=2000, gt=0)
    temperature: float = Field(default=1.0, gt=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    beta: float = Field(default=0.01, ge=0)
    epsilon: float = Field(default=0.2, gt=0)
    entropy_coef: float = Field(default=0.0, ge=0)
    loss_type: str = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    num_iterations: int = Field(default=1, gt=0)
    mask_truncated_completions: bool = False
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = Field(default=0.3, gt=0, le=1)
    vllm_tensor_parallel_size: int = Field(default=1, gt=0)
    log_completions: bool = False


class SFTSection(_Section):
    """SFT-only arguments (TRL ``SFTConfig`` names).

    Attributes:
        max_length: truncate prompt + target to this many tokens (``None``: no limit;
            image tokens must never be cut, so keep it generous).
        completion_only_loss: compute the loss on the target tokens only.
    """

    max_length: int | None = Field(default=None, gt=0)
    completion_only_loss: bool = True


class CurriculumSection(_Section):
    """Reference curriculum of dialogue rollouts (scheduled sampling; ``docs/training.md``).

    The probability that a later turn cites the GROUND-TRUTH box instead of the box the
    policy itself produced earlier in the trajectory, moved from ``start`` to ``end``
    over the first ``ramp_fraction`` of the training steps.

    Attributes:
        start: probability at step 0 (1.0: the released single-turn recipe's references).
        end: probability at the end of the ramp (0.0: evaluation's ``--reference
            predicted``).
        schedule: ``linear``, ``cosine`` or ``constant`` (stays at ``start``).
        ramp_fraction: share of the training steps the ramp takes, in ``(0, 1]``.
    """

    start: float = Field(default=1.0, ge=0, le=1)
    end: float = Field(default=0.0, ge=0, le=1)
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    ramp_fraction: float = Field(default=1.0, gt=0, le=1)


class DialogueSection(_Section):
    """Dialogue-level GRPO (``rollout: dialogue``; ``docs/training.md``, "Dialogue-level GRPO").

    Each GRPO group is ``grpo.num_generations`` trajectories through one dialogue; every
    turn is asked as ``regionreasoner eval`` asks it (image + that turn's question, the
    reference written by ``protocol`` in ``frame``), and each turn is one training sample
    whose loss covers its own completion tokens only.

    Attributes:
        protocol: how references are written and answers read (an ``eval --protocol``).
        frame: the model frame (an ``eval --frame`` name).
        prompt: the prompt template (``regionreasoner-train``: the training wording).
        max_turns: play at most this many turns of each dialogue (``None``: all).
        reference_curriculum: the ground-truth-reference probability over training.
        advantage: ``per_turn`` (each turn's reward normalised across the group at the
            same turn index), ``mean`` (the dialogue's mean reward for every turn) or
            ``discounted`` (the discounted reward-to-go), each normalised per turn index.
        gamma: discount of ``advantage: discounted``.
    """

    protocol: str = "paper"
    frame: str = "square840"
    prompt: str = "regionreasoner-train"
    max_turns: int | None = Field(default=None, gt=0)

    @field_validator("frame")
    @classmethod
    def _frame_name(cls, value: str) -> str:
        return str(check_frame(value, sides=False))

    reference_curriculum: CurriculumSection = CurriculumSection()
    advantage: Literal["per_turn", "mean", "discounted"] = "per_turn"
    gamma: float = Field(default=1.0, ge=0, le=1)


ROLLOUTS = ("single", "dialogue")


class TrainConfig(_Section):
    """The whole ``regionreasoner train`` configuration.

    Attributes:
        stage: ``grpo`` (reinforcement learning) or ``sft`` (supervised warm start).
        model: the policy (see :class:`ModelSection`).
        data: the training data (see :class:`DataSection`).
        output_dir: checkpoints, logs, the final model and ``train_summary.json``.
        seed: seeds data shuffling, LoRA initialisation and sampling.
        rewards: reward profile and weights (GRPO).
        lora: optional LoRA adapters.
        trainer: shared trainer arguments.
        grpo: GRPO arguments.
        sft: SFT arguments.
        rollout: ``single`` (one sample per turn, ground-truth references: the released
            recipe) or ``dialogue`` (whole dialogues rolled out on the policy's own
            references; GRPO only).
        dialogue: settings of ``rollout: dialogue``.
    """

    stage: Literal["grpo", "sft"] = "grpo"
    model: ModelSection
    data: DataSection
    output_dir: str
    seed: int = 0
    rewards: RewardsSection = RewardsSection()
    lora: LoraSection = LoraSection()
    trainer: TrainerSection = TrainerSection()
    grpo: GRPOSection = GRPOSection()
    sft: SFTSection = SFTSection()
    rollout: Literal["single", "dialogue"] = "single"
    dialogue: DialogueSection = DialogueSection()

    @model_validator(mode="after")
    def _dialogue_needs_grpo(self) -> TrainConfig:
        if self.rollout == "dialogue" and self.stage != "grpo":
            raise ValueError("rollout: dialogue applies to stage grpo only")
        return self

    @field_validator("model", "data", mode="before")
    @classmethod
    def _expand_shorthand(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            return {_SHORTHAND_KEYS[info.field_name]: value}
        return value


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Split ``"a.b.c=value"`` into the key path and the YAML-parsed value.

    >>> parse_override("trainer.learning_rate=0.5")
    (('trainer', 'learning_rate'), 0.5)
    >>> parse_override("trainer.report_to=[tensorboard]")
    (('trainer', 'report_to'), ['tensorboard'])

    Raises:
        ConfigError: no ``=``, an empty key or an empty path segment, or a value that is
            not valid YAML.
    """
    key, sep, raw = text.partition("=")
    parts = tuple(key.strip().split("."))
    if not sep or not key.strip() or any(not p for p in parts):
        raise ConfigError(f"override {text!r} must look like key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({e})") from e
    return parts, value


def _set_path(tree: dict[str, Any], path: Sequence[str], value: Any, *, origin: str) -> None:
    node = tree
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif isinstance(child, str) and depth == 0 and part in _SHORTHAND_KEYS:
            child = node[part] = {_SHORTHAND_KEYS[part]: child}
        elif not isinstance(child, dict):
            where = ".".join(path[: depth + 1])
            raise ConfigError(f"{origin}: {where!r} is not a section, cannot set {'.'.join(path)}")
        node = child
    node[path[-1]] = value


def _model_at(path: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model that owns the key at ``path`` (for "did you mean" hints)."""
    model: type[BaseModel] | None = TrainConfig
    for part in path[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return model


def _describe(error: Mapping[str, Any], overridden: set[tuple[str, ...]]) -> str:
    loc = tuple(str(p) for p in error["loc"])
    dotted = ".".join(loc)
    origin = " (set by a command-line override)" if loc in overridden else ""
    if error["type"] == "extra_forbidden":
        hint = ""
        owner = _model_at(loc)
        if owner is not None:
            close = difflib.get_close_matches(loc[-1], list(owner.model_fields), n=1)
            if close:
                hint = f" (did you mean {'.'.join((*loc[:-1], close[0]))!r}?)"
        return f"unknown key {dotted!r}{hint}{origin}"
    if error["type"] == "missing":
        return f"missing required key {dotted!r}"
    if not loc:  # a check across sections (model validator)
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{dotted}: {error['msg']} (got {error.get('input')!r}){origin}"


FRAME_KEYS = (("data", "frame"), ("dialogue", "frame"))
"""The keys ``train --frame`` sets: the frame of ``rollout: single`` and of ``rollout:
dialogue``."""


def load_config(
    path: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    *,
    stage: str | None = None,
    frame: str | None = None,
) -> TrainConfig:
    """Read, override and validate a training config.

    Args:
        path: the YAML file.
        overrides: ``key.path=value`` strings applied in order.
        stage: ``grpo`` or ``sft``; replaces the file's ``stage`` when given.
        frame: a frame name (``train --frame``); replaces ``data.frame`` and
            ``dialogue.frame`` when given, after the overrides.

    Returns:
        The validated :class:`TrainConfig`.

    Raises:
        ConfigError: unreadable file, not a mapping, unknown key, bad value or bad
            override; the message names the file and the key.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{name}: cannot read the config ({e.strerror})") from e
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{name}: not valid YAML ({e})") from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: the config must be a mapping, got {type(raw).__name__}")
    overridden: set[tuple[str, ...]] = set()
    for item in overrides:
        keys, value = parse_override(item)
        _set_path(raw, keys, value, origin=f"{name}: override {item!r}")
        overridden.add(keys)
    if stage is not None:
        raw["stage"] = stage
    if frame is not None:
        for keys in FRAME_KEYS:
            _set_path(raw, keys, frame, origin=f"{name}: --frame")
            overridden.add(keys)
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(_describe(err, overridden) for err in e.errors())
        raise ConfigError(f"{name}: {problems}") from e


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """A plain, YAML/JSON-serialisable dict of ``config`` (the resolved settings)."""
    return config.model_dump(mode="json")
