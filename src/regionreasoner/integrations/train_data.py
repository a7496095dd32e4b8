"""The training data of ``regionreasoner train``: resolve, export or convert, then load.

:func:`load_training_set` returns the ``datasets`` table TRL trains on, with the columns
``prompt`` (conversational; the user message is the four-tag training prompt),
``image``, ``problem`` and ``solution`` (the ground truth in the training frame,
``data.frame``; in a named frame other than the square one, also ``frame`` and
``image_wh``, from which the rewards convert each row).
:func:`resolve_dataset_dir` finds or makes it: a ``datasets`` folder from
``export-train --format trl`` as it is; a RegionDial JSONL (or a ``synth://``
benchmark) exported on the fly; the released training JSON (``{"samples": [...]}``)
converted. Exports and conversions go to a cache folder inside ``output_dir``
(:data:`DATA_CACHE_DIR`), keyed by the source file and the settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from regionreasoner._imports import require
from regionreasoner.errors import ConfigError, DataFormatError
from regionreasoner.geometry.frames import OFFICIAL_MODEL_SIZE
from regionreasoner.integrations.synth_spec import SYNTH_SCHEME, build_synth_bench
from regionreasoner.integrations.train_config import DataSection, TrainConfig
from regionreasoner.integrations.trl_rewards import FRAME_COLUMN, IMAGE_WH_COLUMN

logger = logging.getLogger(__name__)

DATA_CACHE_DIR = "data-cache"
"""Folder inside ``output_dir`` holding datasets exported on the fly."""

TRAINING_PROMPT = "regionreasoner-train"
"""Prompt whose user message the policy is trained on (paper Table 7 wording)."""

REQUIRED_COLUMNS = ("prompt", "image", "problem", "solution")
RESIZE_FILTER = "BILINEAR"
"""PIL filter of the square resize (the released inference code uses bilinear)."""

_DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


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

    logger.info("exporting %s to a TRL dataset in %s (frame %s)", bench, target, section.frame)
    return _build_into(
        target,
        lambda out: export_train(
            bench,
            out,
            "trl",
            frame=section.frame,
            images_root=section.images_root,
            max_pixels=section.max_image_pixels,
        ),
    )


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _rescale_problem(problem: str, frame: Any) -> str:
    """Rewrite the ``bbox=[...]`` references of ``problem`` from image pixels to ``frame``
    (integers, or the frame's decimals)."""
    from regionreasoner.parsing.references import find_cited_boxes, format_reference

    out, last = [], 0
    for cited in find_cited_boxes(problem):
        if cited.style == "bare":
            continue
        start, end = cited.span
        model_xyxy = frame.to_model_xyxy([cited.xyxy])[0]
        out.extend([problem[last:start], format_reference(model_xyxy, decimals=frame.decimals)])
        last = end
    out.append(problem[last:])
    return "".join(out)


def frame_spec_of(section: DataSection) -> tuple[str | None, Callable[[tuple[int, int]], Any]]:
    """``(name, image_wh -> Frame)`` of ``data.frame``: the name is ``None`` for a square
    side and for ``square840`` (rows then carry no frame columns: they are in the reward
    frame's square, as the default export writes them)."""
    from regionreasoner.geometry.frames import DEFAULT_FRAME, FRAMES, Frame

    value = section.frame
    if isinstance(value, int):
        return None, lambda image_wh: Frame.square(image_wh, value)
    spec = FRAMES.get(value)
    return (None if value == DEFAULT_FRAME else value), spec


def _released_rows(path: Path, section: DataSection, images_dir: Path) -> Iterator[dict[str, Any]]:
    """Rows of the released training JSON, written in ``data.frame``.

    Ground truth and references are taken to be in the pixels of the image file as
    stored (no EXIF rotation); an image that is not already the size the frame shows
    (``frame x frame`` for a square side) is read through the guarded loader (refused
    over ``data.max_image_pixels`` from its header, decoded once, reduced while it stays
    at least twice that size), resized (bilinear, aspect ratio not kept, as at inference)
    into ``images_dir``, and its boxes, points and references are converted into the
    frame's coordinates (a 0-1000 grid for ``rel1000``...). Images already the frame's
    size are referenced where they are (their header is still checked). In a named frame
    other than the square one, rows carry ``frame`` and ``image_wh``.
    """
    from PIL import Image

    from regionreasoner.data.images import load_image, read_image_header
    from regionreasoner.dialogue.prompts import get_prompt
    from regionreasoner.integrations.export import written_coordinates
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
    frame_name, frame_of = frame_spec_of(section)
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
        where = {"max_pixels": section.max_image_pixels, "data_path": str(path), "record": record}
        image_wh = read_image_header(image_path, **where).stored_wh
        frame = frame_of(image_wh)
        model_wh = tuple(frame.model_wh)
        if image_wh != model_wh:
            stored = str(images_dir / f"{i:07d}.png")
            loaded = load_image(image_path, min_wh=model_wh, **where)
            resample = getattr(Image.Resampling, RESIZE_FILTER)
            loaded.pixels.resize(model_wh, resample).save(stored, format="PNG")
        if tuple(frame.coord_wh) != tuple(image_wh):
            for item in items:
                box = frame.to_model_xyxy([item["bbox_2d"]])[0]
                item["bbox_2d"] = written_coordinates(box, frame.decimals)
                if "point_2d" in item:
                    point = frame.to_model_points([item["point_2d"]])[0]
                    item["point_2d"] = written_coordinates(point, frame.decimals)
            problem = _rescale_problem(problem, frame)
        row = {
            "prompt": [{"role": "user", "content": prompt.render_user(problem)}],
            "image": stored,
            "problem": problem,
            "solution": render_answer(items),
            "dialogue_id": str(sample.get("id", i)),
            "turn_index": 0,
            "captions_json": None,
        }
        if frame_name is not None:
            row |= {FRAME_COLUMN: frame_name, IMAGE_WH_COLUMN: list(image_wh)}
        yield row


def _convert_released_json(path: Path, section: DataSection, cache_root: Path) -> Path:
    datasets = require("datasets", extra="trl")
    key = _cache_key(path, frame=section.frame, images_root=section.images_root)
    target = cache_root / f"{path.stem}-{key}"
    if (target / "dataset_info.json").is_file():
        logger.info("reusing the converted training set %s", target)
        return target
    columns = {
        "prompt": [{"role": datasets.Value("string"), "content": datasets.Value("string")}],
        "image": datasets.Image(),
        "problem": datasets.Value("string"),
        "solution": datasets.Value("string"),
        "dialogue_id": datasets.Value("string"),
        "turn_index": datasets.Value("int64"),
        "captions_json": datasets.Value("string"),
    }
    if frame_spec_of(section)[0] is not None:  # the rewards convert these rows
        columns |= {
            FRAME_COLUMN: datasets.Value("string"),
            IMAGE_WH_COLUMN: [datasets.Value("int32")],
        }
    features = datasets.Features(columns)

    def build(out: Path) -> None:
        # Resized images go to files beside the dataset, never into memory all at once;
        # save_to_disk embeds their bytes, and the build folder is removed afterwards.
        values: dict[str, list[Any]] = {name: [] for name in features}
        for row in _released_rows(path, section, out.parent / "resized"):
            for name, value in row.items():
                values[name].append(value)
        logger.info("converted %d released training samples from %s", len(values["image"]), path)
        datasets.Dataset.from_dict(values, features=features).save_to_disk(str(out))

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


def image_token_counter(processor: Any) -> Callable[[tuple[int, int]], int]:
    """``shown_wh -> visual tokens`` of a Qwen-VL-style image processor (patch and merge
    sizes, pixel budget as configured): :class:`~regionreasoner.geometry.frames.ResizeRule`
    built from the processor itself, so Qwen2.5-VL (14/2) and Qwen3-VL (16/2) count right.

    Raises:
        AttributeError, KeyError, TypeError: not such a processor.
    """
    from regionreasoner.geometry.frames import ResizeRule

    image_processor = processor.image_processor
    size = image_processor.size
    rule = ResizeRule(
        type(image_processor).__name__,
        int(image_processor.patch_size),
        int(image_processor.merge_size),
        int(size["shortest_edge"]),
        int(size["longest_edge"]),
    )
    return rule.visual_tokens


def shown_sizes(dataset: Any, section: DataSection) -> list[tuple[int, int]]:
    """The size of the image each row shows the policy: from the row's ``frame`` and
    ``image_wh`` when the dataset has those columns (a named frame: the original image
    for ``rel1000``, non-square), else the square of ``data.frame``."""
    from regionreasoner.geometry.frames import FRAMES

    if FRAME_COLUMN in dataset.column_names and IMAGE_WH_COLUMN in dataset.column_names:
        columns = dataset.select_columns([FRAME_COLUMN, IMAGE_WH_COLUMN])
        return [
            tuple(FRAMES.get(name)(tuple(wh)).model_wh)  # type: ignore[misc]
            for name, wh in zip(columns[FRAME_COLUMN], columns[IMAGE_WH_COLUMN], strict=True)
        ]
    side = section.frame if isinstance(section.frame, int) else OFFICIAL_MODEL_SIZE
    return [(side, side)] * len(dataset)


def check_dataset_frame(dataset: Any, section: DataSection, folder: Path) -> None:
    """Refuse a dataset written in another frame than a named ``data.frame``.

    Raises:
        DataFormatError: ``data.frame`` names a frame other than the square one and some
            rows are not in it (a dataset exported in the square frame has no ``frame``
            column; the rewards would read its rows as 840x840 pixels).
    """
    name = frame_spec_of(section)[0]
    if name is None:
        return
    frames = set(dataset[FRAME_COLUMN]) if FRAME_COLUMN in dataset.column_names else {None}
    if frames != {name}:
        found = ", ".join(sorted(str(f or "the 840x840 square") for f in frames))
        raise DataFormatError(
            f"data.frame is {name!r} but the training set's rows are in {found}; export it "
            f"with `regionreasoner export-train ... --format trl --frame {name}` or set "
            "data.frame to the frame it was written in",
            path=str(folder),
            field="frame",
        )


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
    check_dataset_frame(dataset, config.data, folder)
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
        count = image_token_counter(processor)
        image_tokens = [count(wh) for wh in shown_sizes(dataset, section)]
    except (AttributeError, KeyError, TypeError) as e:
        logger.warning("cannot count image tokens for this processor (%s); not filtering", e)
        return dataset
    tokenizer = getattr(processor, "tokenizer", processor)
    prompts = dataset.select_columns(["prompt"])

    def _lengths(batch: Mapping[str, list[Any]]) -> list[int]:
        texts = [
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in batch["prompt"]
        ]
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    lengths = prompts.map(lambda b: {"n": _lengths(b)}, batched=True)["n"]
    keep = [i for i, (n, v) in enumerate(zip(lengths, image_tokens, strict=True)) if n + v <= limit]
    kept = dataset.select(keep)
    if len(kept) < len(dataset):
        logger.warning(
            "dropped %d of %d samples longer than %d prompt tokens (%d to %d of them image tokens)",
            len(dataset) - len(kept),
            len(dataset),
            limit,
            min(image_tokens),
            max(image_tokens),
        )
    return kept


def to_sft_dataset(dataset: Any) -> Any:
    """Add the four-tag ``completion`` column and keep ``prompt``, ``completion``, ``image``."""
    from regionreasoner.integrations.sft import sft_completion

    with_targets = dataset.map(sft_completion, desc="rendering SFT targets")
    return with_targets.select_columns(["prompt", "completion", "image"])


__all__ = [
    "DATA_CACHE_DIR",
    "REQUIRED_COLUMNS",
    "TRAINING_PROMPT",
    "load_training_set",
    "resolve_dataset_dir",
    "to_sft_dataset",
]
