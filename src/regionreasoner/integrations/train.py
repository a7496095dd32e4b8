"""``regionreasoner train``: GRPO (and an SFT warm start) on TRL for Qwen2.5-VL models.

The launcher turns a validated :class:`~regionreasoner.integrations.train_config.TrainConfig`
into a TRL run:

1. the policy: a checkpoint folder, a Hub id, or ``tiny://DIR`` (the offline tiny
   Qwen2.5-VL or Qwen3-VL of :mod:`regionreasoner.micro.tiny`, ``model.tiny_family``,
   built when missing);
2. the data: a ``datasets`` folder with the columns ``prompt`` (conversational; the user
   message is the four-tag training prompt), ``image``, ``problem`` and ``solution`` (the
   ground truth in the training frame, ``data.frame``: the 840 square by default, or a
   named frame whose rows carry ``frame`` and ``image_wh`` for the rewards), taken from
   ``export-train --format trl``,
   exported on the fly from a RegionDial JSONL (or a ``synth://`` benchmark) into a cache
   folder inside ``output_dir``, or converted from the released training JSON
   (:mod:`regionreasoner.integrations.train_data`);
3. GRPO: TRL's ``GRPOTrainer`` with one reward callable per component (each logged as
   ``rewards/<component>/mean``) weighted so the optimised sum is the profile total;
   SFT: TRL's ``SFTTrainer`` on four-tag targets rendered from the ground truth
   (:mod:`regionreasoner.integrations.sft`);
4. checkpoints every ``trainer.save_steps`` in ``output_dir/checkpoint-N``; ``resume``
   continues from the latest one; the final model and processor are saved in
   ``output_dir`` (loadable as ``--model hf:OUTPUT_DIR`` by ``regionreasoner eval``), with
   ``train_summary.json`` (steps, runtime, log history) beside them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionreasoner._imports import is_available, require
from regionreasoner.errors import ConfigError, MissingDependencyError
from regionreasoner.fileio import atomic_write
from regionreasoner.integrations.train_config import (
    ModelSection,
    TrainConfig,
    config_to_dict,
)
from regionreasoner.integrations.train_data import load_training_set, to_sft_dataset
from regionreasoner.provenance import software_versions

logger = logging.getLogger(__name__)

TINY_SCHEME = "tiny://"
"""Model spec prefix: ``tiny://DIR`` builds the offline tiny model of ``model.tiny_family``
in ``DIR`` if absent."""

SUMMARY_FILE = "train_summary.json"
MERGED_DIR = "merged"
"""Sub-folder of ``output_dir`` with LoRA adapters merged into the base weights."""
RESOLVED_CONFIG_FILE = "train_config.json"
VERSIONS_RECORDED = ("torch", "transformers", "trl", "peft", "datasets")
"""Packages whose versions ``train_config.json`` records (``versions``), beside Python's
and this package's own."""
_CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)")
"""Checkpoint folders written by the trainer (``transformers``' naming)."""


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a finished run reports.

    Attributes:
        output_dir: the run folder (final model, checkpoints, summary).
        stage: ``grpo`` or ``sft``.
        global_step: optimizer steps done in total (including resumed ones).
        resumed_from: the checkpoint the run continued from, if any.
        train_runtime_s: wall time of ``trainer.train`` in this process.
        log_history: the trainer's log entries (one dict per logging step).
    """

    output_dir: Path
    stage: str
    global_step: int
    resumed_from: Path | None
    train_runtime_s: float
    log_history: tuple[dict[str, Any], ...]

    def last_log(self) -> dict[str, Any]:
        """The last log entry with per-step metrics (not the end-of-training summary)."""
        for entry in reversed(self.log_history):
            if "train_runtime" not in entry:
                return dict(entry)
        return {}


# --------------------------------------------------------------------------- model


def resolve_model(section: ModelSection) -> str:
    """The ``from_pretrained`` path of the policy; builds a ``tiny://`` model of
    ``model.tiny_family`` if missing.

    Raises:
        ConfigError: an empty ``tiny://`` folder name, or a folder holding a model of
            another family.
    """
    spec = section.path
    if not spec.startswith(TINY_SCHEME):
        return spec
    if not spec[len(TINY_SCHEME) :].strip():
        raise ConfigError(
            f"model.path {spec!r}: tiny:// needs a folder, e.g. tiny://artifacts/tiny"
        )
    from regionreasoner.micro.tiny import TINY_FAMILIES, build_tiny_model

    family = TINY_FAMILIES.get(section.tiny_family)
    folder = Path(spec[len(TINY_SCHEME) :])
    config_file = folder / "config.json"
    if not config_file.is_file():
        logger.info("building the tiny %s in %s (seed %d)", family.title, folder, section.tiny_seed)
        build_tiny_model(folder, seed=section.tiny_seed, family=family.name)
        return str(folder)
    try:
        architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise ConfigError(f"model.path {spec!r}: unreadable {config_file} ({e})") from e
    if architectures != [family.model_class]:
        raise ConfigError(
            f"model.path {spec!r}: {folder} holds a {architectures} model, not the tiny "
            f"{family.title} that model.tiny_family={family.name} asks for; choose another "
            "folder or remove it"
        )
    return str(folder)


def load_processor(model_path: str, section: ModelSection) -> Any:
    """The model's processor with left padding and the configured pixel budget."""
    transformers = require("transformers", extra="hf")
    processor = transformers.AutoProcessor.from_pretrained(model_path, padding_side="left")
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None and (section.min_pixels or section.max_pixels):
        size = dict(getattr(image_processor, "size", None) or {})
        if section.min_pixels:
            size["shortest_edge"] = section.min_pixels
        if section.max_pixels:
            size["longest_edge"] = section.max_pixels
        image_processor.size = size
    return processor


# --------------------------------------------------------------------------- trainer args


def _checkpointing_key() -> str:
    # transformers 5.x renamed ``gradient_checkpointing`` to ``activation_checkpointing``
    # and warns on the old name; TRL still reads the old one, which mirrors the new.
    transformers = require("transformers", extra="hf")
    fields = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in fields
        else "gradient_checkpointing"
    )


def _common_args(config: TrainConfig) -> dict[str, Any]:
    t = config.trainer
    model_init: dict[str, Any] = {"dtype": config.model.dtype}
    if config.model.attn_implementation:
        model_init["attn_implementation"] = config.model.attn_implementation
    return {
        "output_dir": config.output_dir,
        "seed": config.seed,
        "learning_rate": t.learning_rate,
        "weight_decay": t.weight_decay,
        "adam_beta1": t.adam_beta1,
        "adam_beta2": t.adam_beta2,
        "num_train_epochs": t.num_train_epochs,
        "max_steps": t.max_steps,
        "per_device_train_batch_size": t.per_device_train_batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "lr_scheduler_type": t.lr_scheduler_type,
        "warmup_steps": t.warmup_steps,
        "max_grad_norm": t.max_grad_norm,
        "bf16": t.bf16,
        _checkpointing_key(): t.gradient_checkpointing,
        "use_cpu": t.use_cpu,
        "logging_steps": t.logging_steps,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "save_total_limit": t.save_total_limit,
        "report_to": t.report_to,
        "run_name": t.run_name,
        "dataloader_num_workers": t.dataloader_num_workers,
        "model_init_kwargs": model_init,
    }


def _grpo_args(config: TrainConfig, reward_weights: list[float]) -> dict[str, Any]:
    g = config.grpo
    args = {
        "num_generations": g.num_generations,
        "generation_batch_size": g.generation_batch_size,
        "max_completion_length": g.max_completion_length,
        "temperature": g.temperature,
        "top_p": g.top_p,
        "beta": g.beta,
        "epsilon": g.epsilon,
        "entropy_coef": g.entropy_coef,
        "loss_type": g.loss_type,
        "scale_rewards": g.scale_rewards,
        "num_iterations": g.num_iterations,
        "mask_truncated_completions": g.mask_truncated_completions,
        "use_vllm": g.use_vllm,
        "vllm_mode": g.vllm_mode,
        "vllm_gpu_memory_utilization": g.vllm_gpu_memory_utilization,
        "vllm_tensor_parallel_size": g.vllm_tensor_parallel_size,
        "log_completions": g.log_completions,
        "reward_weights": reward_weights,
    }
    if config.data.max_prompt_tokens is not None:
        args["vllm_max_model_length"] = config.data.max_prompt_tokens + g.max_completion_length
    return args


def _sft_args(config: TrainConfig) -> dict[str, Any]:
    return {
        "max_length": config.sft.max_length,
        "completion_only_loss": config.sft.completion_only_loss,
    }


def build_trl_args(
    config: TrainConfig, *, reward_weights: list[float] | None = None, source: str = "config"
) -> Any:
    """The ``GRPOConfig`` or ``SFTConfig`` for ``config``.

    Args:
        config: the validated training config.
        reward_weights: one weight per reward callable (GRPO only).
        source: the config file name, for error messages.

    Raises:
        ConfigError: an ``extra_args`` key TRL does not know, or one that duplicates a
            typed key, or a combination TRL rejects.
    """
    trl = require("trl", extra="trl")
    cls = trl.GRPOConfig if config.stage == "grpo" else trl.SFTConfig
    kwargs = _common_args(config)
    if config.stage == "grpo":
        kwargs.update(_grpo_args(config, reward_weights or []))
    else:
        kwargs.update(_sft_args(config))
    known = {f.name for f in dataclasses.fields(cls)}
    for key, value in config.trainer.extra_args.items():
        if key not in known:
            raise ConfigError(
                f"{source}: trainer.extra_args.{key}: not an argument of trl.{cls.__name__}"
            )
        if key in kwargs:
            raise ConfigError(
                f"{source}: trainer.extra_args.{key}: this key has a typed setting "
                "(trainer.*, grpo.* or sft.*); set it there"
            )
        kwargs[key] = value
    for key in config.trainer.report_to:
        if key != "none" and not is_available(key):
            raise MissingDependencyError(
                f"trainer.report_to includes {key!r} but the package is not installed. "
                f"Install it with: pip install {key}"
            )
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{source}: TRL rejected the settings: {e}") from e


def _peft_config(config: TrainConfig) -> Any:
    if not config.lora.enabled:
        return None
    peft = require("peft", extra="trl")
    lora = config.lora
    return peft.LoraConfig(
        r=lora.r,
        lora_alpha=lora.lora_alpha,
        lora_dropout=lora.lora_dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


# --------------------------------------------------------------------------- run


def find_resume_checkpoint(output_dir: Path, *, resume: bool) -> Path | None:
    """The checkpoint to resume from; refuses to silently restart over old checkpoints.

    Raises:
        ConfigError: ``output_dir`` holds checkpoints and ``resume`` is false.
    """
    if not output_dir.is_dir():
        return None
    steps = {
        int(m.group(1)): path
        for path in output_dir.iterdir()
        if path.is_dir() and (m := _CHECKPOINT_RE.fullmatch(path.name))
    }
    last = steps[max(steps)] if steps else None
    if last is None:
        if resume:
            logger.warning("--resume: no checkpoint in %s, starting from scratch", output_dir)
        return None
    if not resume:
        raise ConfigError(
            f"{output_dir} already holds checkpoints (latest: {last.name}); pass --resume "
            "to continue that run, or choose another output_dir"
        )
    return last


def _write_json(path: Path, payload: Any) -> None:
    with atomic_write(path) as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def _finite(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in entry.items()
    }


def _save_merged(trainer: Any, processor: Any, merged_dir: Path) -> None:
    """Save base + LoRA merged into full weights (for ``eval --model hf:...``)."""
    if trainer.is_deepspeed_enabled or trainer.accelerator.num_processes > 1:
        # Sharded or replicated weights: merge offline from the saved adapter instead.
        logger.warning(
            "LoRA weights not merged in a distributed run; merge the adapter in %s with "
            "peft's merge_and_unload() on one process",
            merged_dir.parent,
        )
        return
    trainer.model.merge_and_unload().save_pretrained(str(merged_dir))
    processor.save_pretrained(str(merged_dir))
    logger.info("merged LoRA weights saved to %s (use --model hf:%s)", merged_dir, merged_dir)


def reward_setup(config: TrainConfig) -> tuple[list[Any], list[float]]:
    """The GRPO reward callables and ``reward_weights`` of ``config.rewards`` (profile,
    alpha, beta, Eq. 7 normalisation); see :func:`make_trl_reward_setup`."""
    from regionreasoner.integrations.trl_rewards import make_trl_reward_setup

    rewards = config.rewards
    funcs, weights = make_trl_reward_setup(
        rewards.profile, rewards.alpha, rewards.beta, normalisation=rewards.normalisation
    )
    return list(funcs), list(weights)


def run_training(
    config: TrainConfig, *, resume: bool = False, config_source: str = "config"
) -> TrainResult:
    """Train according to ``config``; returns when the run has finished and been saved.

    Args:
        config: the validated config (stage, model, data, trainer settings).
        resume: continue from the latest ``checkpoint-N`` in ``output_dir``.
        config_source: the config's file name, for error messages.

    Raises:
        ConfigError: invalid settings, or existing checkpoints without ``resume``.
        DataFormatError: unusable training data.
        MissingDependencyError: torch, transformers, trl, datasets or peft missing.
    """
    trl = require("trl", extra="trl")
    output_dir = Path(config.output_dir)
    resume_from = find_resume_checkpoint(output_dir, resume=resume)
    state = require("accelerate", extra="hf").PartialState()
    # Under `accelerate launch` every process runs this function: the main process builds
    # the tiny model and the data caches first, the others then find them ready.
    with state.main_process_first():
        if state.is_main_process:
            output_dir.mkdir(parents=True, exist_ok=True)
            _write_json(
                output_dir / RESOLVED_CONFIG_FILE,
                {
                    "config": config_to_dict(config),
                    "source": config_source,
                    "versions": software_versions(VERSIONS_RECORDED),
                },
            )
        model_path = resolve_model(config.model)
        processor = load_processor(model_path, config.model)
        if config.rollout == "dialogue":
            from regionreasoner.integrations import trl_dialogue

            dataset = trl_dialogue.load_dialogue_set(config)
        else:
            dataset = load_training_set(config, processor)
    peft_config = _peft_config(config)

    if config.stage == "grpo":
        trainer_cls, extra = trl.GRPOTrainer, {}
        if config.rollout == "dialogue":
            bench = trl_dialogue.dialogue_benchmark_path(config)  # built above: found now
            rollout = trl_dialogue.DialogueRollout.from_config(config, data_path=str(bench))
            reward_funcs, reward_weights = trl_dialogue.make_dialogue_reward_setup(rollout)
            trainer_cls, extra = trl_dialogue.DialogueGRPOTrainer, {"dialogue": rollout}
        else:
            reward_funcs, reward_weights = reward_setup(config)
        args = build_trl_args(config, reward_weights=list(reward_weights), source=config_source)
        trainer = trainer_cls(
            model=model_path,
            reward_funcs=list(reward_funcs),
            args=args,
            train_dataset=dataset,
            processing_class=processor,
            peft_config=peft_config,
            **extra,
        )
    else:
        args = build_trl_args(config, source=config_source)
        trainer = trl.SFTTrainer(
            model=model_path,
            args=args,
            train_dataset=to_sft_dataset(dataset),
            processing_class=processor,
            peft_config=peft_config,
        )

    logger.info(
        "%s%s on %d %s, model %s, output %s%s",
        config.stage.upper(),
        " (dialogue rollouts)" if config.rollout == "dialogue" else "",
        len(dataset),
        "dialogues" if config.rollout == "dialogue" else "samples",
        model_path,
        output_dir,
        f", resuming from {resume_from.name}" if resume_from else "",
    )
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    runtime = time.perf_counter() - start
    trainer.save_model(str(output_dir))
    if peft_config is not None:
        _save_merged(trainer, processor, output_dir / MERGED_DIR)

    history = tuple(_finite(e) for e in trainer.state.log_history)
    result = TrainResult(
        output_dir=output_dir,
        stage=config.stage,
        global_step=int(trainer.state.global_step),
        resumed_from=resume_from,
        train_runtime_s=runtime,
        log_history=history,
    )
    if not trainer.is_world_process_zero():
        return result
    _write_json(
        output_dir / SUMMARY_FILE,
        {
            "stage": result.stage,
            "global_step": result.global_step,
            "resumed_from": str(resume_from) if resume_from else None,
            "train_runtime_s": round(runtime, 3),
            "metrics": _finite(dict(output.metrics)),
            "last_log": result.last_log(),
            "log_history": list(history),
        },
    )
    return result
