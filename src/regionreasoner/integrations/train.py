"""``regionreasoner train``: GRPO (and an SFT warm start) on TRL for Qwen2.5-VL models.

The launcher turns a validated :class:`~regionreasoner.integrations.train_config.TrainConfig`
into a TRL run:

1. the policy: a checkpoint folder, a Hub id, or ``tiny://DIR`` (the offline tiny
   Qwen2.5-VL of :mod:`regionreasoner.micro.tiny`, built when missing);
2. the data: a ``datasets`` folder with the columns ``prompt`` (conversational; the user
   message is the four-tag training prompt), ``image``, ``problem`` and ``solution`` (the
   ground truth in the square training frame), taken from ``export-train --format trl``,
   exported on the fly from a RegionDial JSONL (or a ``synth://`` benchmark) into a cache
   folder inside ``output_dir``, or converted from the released training JSON;
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
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionreasoner._imports import is_available, require
from regionreasoner.errors import ConfigError, DataFormatError, MissingDependencyError
from regionreasoner.fileio import atomic_write
from regionreasoner.integrations.synth_spec import SYNTH_SCHEME, build_synth_bench
from regionreasoner.integrations.train_config import (
    DataSection,
    ModelSection,
    TrainConfig,
    config_to_dict,
)
from regionreasoner.provenance import software_versions

logger = logging.getLogger(__name__)

TINY_SCHEME = "tiny://"
"""Model spec prefix: ``tiny://DIR`` builds the offline tiny Qwen2.5-VL in ``DIR`` if absent."""

DATA_CACHE_DIR = "data-cache"
"""Folder inside ``output_dir`` holding datasets exported on the fly."""

SUMMARY_FILE = "train_summary.json"
MERGED_DIR = "merged"
"""Sub-folder of ``output_dir`` with LoRA adapters merged into the base weights."""
RESOLVED_CONFIG_FILE = "train_config.json"
VERSIONS_RECORDED = ("torch", "transformers", "trl", "peft", "datasets")
"""Packages whose versions ``train_config.json`` records (``versions``), beside Python's
and this package's own."""
TRAINING_PROMPT = "regionreasoner-train"
"""Prompt whose user message the policy is trained on (paper Table 7 wording)."""

REQUIRED_COLUMNS = ("prompt", "image", "problem", "solution")
RESIZE_FILTER = "BILINEAR"
"""PIL filter of the square resize (the released inference code uses bilinear)."""

_CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)")
"""Checkpoint folders written by the trainer (``transformers``' naming)."""

_DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


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
    """The ``from_pretrained`` path of the policy; builds a ``tiny://`` model if missing.

    Raises:
        ConfigError: an empty ``tiny://`` folder name.
    """
    spec = section.path
    if not spec.startswith(TINY_SCHEME):
        return spec
    if not spec[len(TINY_SCHEME) :].strip():
        raise ConfigError(
            f"model.path {spec!r}: tiny:// needs a folder, e.g. tiny://artifacts/tiny"
        )
    folder = Path(spec[len(TINY_SCHEME) :])
    if not (folder / "config.json").is_file():
        from regionreasoner.micro.tiny import build_tiny_model

        logger.info("building the tiny Qwen2.5-VL in %s (seed %d)", folder, section.tiny_seed)
        build_tiny_model(folder, seed=section.tiny_seed)
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


# --------------------------------------------------------------------------- data


def _cache_key(path: Path, **settings: Any) -> str:
    stat = path.stat()
    blob = json.dumps(
        {"path": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns, **settings},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _build_into(target: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp)`` into a fresh folder beside ``target`` and rename it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp / "dataset")
        try:
            os.replace(tmp / "dataset", target)
        except OSError:
            # Another process finished the same build first: keep its copy.
            if not (target / "dataset_info.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _export_jsonl(bench: Path, section: DataSection, cache_root: Path) -> Path:
    """Export a RegionDial JSONL with ``export_train(format="trl")`` into the run's cache."""
    key = _cache_key(bench, frame=section.frame, images_root=section.images_root)
    target = cache_root / f"{bench.stem}-{key}"
    if (target / "dataset_info.json").is_file():
        logger.info("reusing the exported training set %s", target)
        return target
    from regionreasoner.integrations.export import export_train

    logger.info("exporting %s to a TRL dataset in %s (frame %d)", bench, target, section.frame)
    return _build_into(
        target,
        lambda out: export_train(
            bench, out, "trl", frame=section.frame, images_root=section.images_root
        ),
    )


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _rescale_problem(problem: str, frame: Any) -> str:
    """Rewrite the ``bbox=[...]`` references of ``problem`` from image pixels to ``frame``."""
    from regionreasoner.parsing.references import find_cited_boxes, format_reference

    out, last = [], 0
    for cited in find_cited_boxes(problem):
        if cited.style == "bare":
            continue
        start, end = cited.span
        model_xyxy = frame.to_model_xyxy([cited.xyxy])[0]
        out.extend([problem[last:start], format_reference(model_xyxy)])
        last = end
    out.append(problem[last:])
    return "".join(out)


def _released_rows(path: Path, section: DataSection, images_dir: Path) -> Iterator[dict[str, Any]]:
    """Rows of the released training JSON, resized to the square frame where needed.

    Ground truth and references are taken to be in the pixels of the image file; an
    image that is not already ``frame x frame`` is resized (bilinear, aspect ratio not
    kept, as at inference) into ``images_dir``, and its boxes, points and references
    are scaled with it. Images already in the frame are referenced where they are.
    """
    from PIL import Image

    from regionreasoner.dialogue.prompts import get_prompt
    from regionreasoner.geometry.frames import Frame
    from regionreasoner.integrations.sft import parse_solution, render_answer

    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except json.JSONDecodeError as e:
        raise DataFormatError(f"invalid JSON: {e.msg} (line {e.lineno})", path=str(path)) from e
    samples = payload.get("samples") if isinstance(payload, dict) else None
    if not isinstance(samples, list):
        raise DataFormatError('expected {"samples": [...]}', path=str(path), field="samples")
    root = Path(section.images_root) if section.images_root else path.resolve().parent
    prompt = get_prompt(TRAINING_PROMPT)
    side = section.frame
    images_dir.mkdir(parents=True, exist_ok=True)
    for i, sample in enumerate(samples):
        record = f"samples[{i}]"
        if not isinstance(sample, dict):
            raise DataFormatError("expected an object", path=str(path), record=record)
        problem, image = sample.get("problem"), sample.get("image")
        if not isinstance(problem, str) or not problem.strip():
            raise DataFormatError("missing text", path=str(path), record=record, field="problem")
        if not isinstance(image, str):
            raise DataFormatError(
                "expected an image path", path=str(path), record=record, field="image"
            )
        image_path = root / image
        if not _inside(image_path, root):
            raise DataFormatError(
                f"image path escapes {root}", path=str(path), record=record, field="image"
            )
        try:
            items = parse_solution(sample.get("solution"))
        except DataFormatError as e:
            raise DataFormatError(e.message, path=str(path), record=record, field=e.field) from e
        stored = str(image_path.resolve())
        try:
            with Image.open(image_path) as img:
                image_wh = img.size
                if image_wh != (side, side):
                    stored = str(images_dir / f"{i:07d}.png")
                    resample = getattr(Image.Resampling, RESIZE_FILTER)
                    img.convert("RGB").resize((side, side), resample).save(stored, format="PNG")
        except OSError as e:
            raise DataFormatError(
                f"cannot read image {image_path}: {e}", path=str(path), record=record
            ) from e
        if image_wh != (side, side):
            frame = Frame.square(image_wh, side)
            for item in items:
                item["bbox_2d"] = [int(v) for v in frame.to_model_xyxy([item["bbox_2d"]])[0]]
                if "point_2d" in item:
                    point = frame.to_model_points([item["point_2d"]])[0]
                    item["point_2d"] = [int(v) for v in point]
            problem = _rescale_problem(problem, frame)
        yield {
            "prompt": [{"role": "user", "content": prompt.render_user(problem)}],
            "image": stored,
            "problem": problem,
            "solution": render_answer(items),
            "dialogue_id": str(sample.get("id", i)),
            "turn_index": 0,
            "captions_json": None,
        }


def _convert_released_json(path: Path, section: DataSection, cache_root: Path) -> Path:
    datasets = require("datasets", extra="trl")
    key = _cache_key(path, frame=section.frame, images_root=section.images_root)
    target = cache_root / f"{path.stem}-{key}"
    if (target / "dataset_info.json").is_file():
        logger.info("reusing the converted training set %s", target)
        return target
    features = datasets.Features(
        {
            "prompt": [{"role": datasets.Value("string"), "content": datasets.Value("string")}],
            "image": datasets.Image(),
            "problem": datasets.Value("string"),
            "solution": datasets.Value("string"),
            "dialogue_id": datasets.Value("string"),
            "turn_index": datasets.Value("int64"),
            "captions_json": datasets.Value("string"),
        }
    )

    def build(out: Path) -> None:
        # Resized images go to files beside the dataset, never into memory all at once;
        # save_to_disk embeds their bytes, and the build folder is removed afterwards.
        columns: dict[str, list[Any]] = {name: [] for name in features}
        for row in _released_rows(path, section, out.parent / "resized"):
            for name, value in row.items():
                columns[name].append(value)
        logger.info("converted %d released training samples from %s", len(columns["image"]), path)
        datasets.Dataset.from_dict(columns, features=features).save_to_disk(str(out))

    return _build_into(target, build)


def _is_dataset_dir(path: Path) -> bool:
    return path.is_dir() and any((path / marker).is_file() for marker in _DATASET_MARKERS)


def resolve_dataset_dir(section: DataSection, output_dir: Path) -> Path:
    """The ``save_to_disk`` folder of the training set, exporting or building it if needed.

    Raises:
        ConfigError: a spec that names nothing usable.
        DataFormatError: malformed released JSON.
    """
    spec = section.train
    cache_root = output_dir / DATA_CACHE_DIR
    if spec.startswith(SYNTH_SCHEME):
        return _export_jsonl(build_synth_bench(spec), section, cache_root)
    path = Path(spec)
    if _is_dataset_dir(path):
        return path
    if path.is_dir():
        raise ConfigError(
            f"data.train {spec!r}: a folder must be a dataset saved by "
            "`regionreasoner export-train --format trl` (no dataset_info.json found)"
        )
    if not path.is_file():
        raise ConfigError(f"data.train {spec!r}: no such file or folder")
    if path.suffix == ".jsonl":
        return _export_jsonl(path, section, cache_root)
    if path.suffix == ".json":
        return _convert_released_json(path, section, cache_root)
    raise ConfigError(
        f"data.train {spec!r}: expected a RegionDial .jsonl, a released training .json, "
        "an export-train folder or synth://DIR"
    )


def _image_tokens(processor: Any, frame: int) -> int:
    """Visual tokens of a ``frame x frame`` image for a Qwen2-VL-style image processor."""
    from regionreasoner.geometry.frames import qwen_native_wh

    image_processor = processor.image_processor
    factor = image_processor.patch_size * image_processor.merge_size
    size = image_processor.size
    w, h = qwen_native_wh(
        (frame, frame),
        factor=factor,
        min_pixels=size["shortest_edge"],
        max_pixels=size["longest_edge"],
    )
    return (w // factor) * (h // factor)


def load_training_set(config: TrainConfig, processor: Any) -> Any:
    """The training ``datasets.Dataset`` for ``config`` (checked, shuffled, filtered).

    Raises:
        DataFormatError: a dataset without the required columns.
    """
    datasets = require("datasets", extra="trl")
    output_dir = Path(config.output_dir)
    folder = resolve_dataset_dir(config.data, output_dir)
    dataset = datasets.load_from_disk(str(folder))
    if isinstance(dataset, datasets.DatasetDict):
        if "train" not in dataset:
            raise DataFormatError(
                f"dataset dict without a 'train' split (has {list(dataset)})", path=str(folder)
            )
        dataset = dataset["train"]
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise DataFormatError(
            f"training set lacks column(s) {missing} (has {dataset.column_names}); "
            "create it with `regionreasoner export-train --format trl`",
            path=str(folder),
        )
    if config.data.max_samples is not None and config.data.max_samples < len(dataset):
        dataset = dataset.shuffle(seed=config.seed).select(range(config.data.max_samples))
    if config.data.max_prompt_tokens is not None:
        dataset = _filter_long_prompts(dataset, processor, config.data)
    if len(dataset) == 0:
        raise DataFormatError("the training set is empty", path=str(folder))
    logger.info("training set: %d samples from %s", len(dataset), folder)
    return dataset


def _filter_long_prompts(dataset: Any, processor: Any, section: DataSection) -> Any:
    limit = section.max_prompt_tokens
    try:
        image_tokens = _image_tokens(processor, section.frame)
    except (AttributeError, KeyError, TypeError) as e:
        logger.warning("cannot count image tokens for this processor (%s); not filtering", e)
        return dataset
    tokenizer = getattr(processor, "tokenizer", processor)
    prompts = dataset.select_columns(["prompt"])

    def _fits(batch: Mapping[str, list[Any]]) -> list[bool]:
        texts = [
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in batch["prompt"]
        ]
        lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        return [n + image_tokens <= limit for n in lengths]

    keep = prompts.map(lambda b: {"keep": _fits(b)}, batched=True)["keep"]
    kept = dataset.select([i for i, ok in enumerate(keep) if ok])
    if len(kept) < len(dataset):
        logger.warning(
            "dropped %d of %d samples longer than %d prompt tokens (%d of them image tokens)",
            len(dataset) - len(kept),
            len(dataset),
            limit,
            image_tokens,
        )
    return kept


def to_sft_dataset(dataset: Any) -> Any:
    """Add the four-tag ``completion`` column and keep ``prompt``, ``completion``, ``image``."""
    from regionreasoner.integrations.sft import sft_completion

    with_targets = dataset.map(sft_completion, desc="rendering SFT targets")
    return with_targets.select_columns(["prompt", "completion", "image"])


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
            rollout = trl_dialogue.DialogueRollout.from_config(config)
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
