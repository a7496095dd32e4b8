"""Export a RegionDial benchmark as an RL training set (TRL, veRL or EasyR1 layout).

The training set follows the paper's construction (App. B): ONE SAMPLE PER TURN, each
an independent single-image prompt. A turn that cites an earlier turn gets that turn's
GROUND-TRUTH box (first target) substituted for ``{ref}``, written ``bbox=[x1,y1,x2,y2]``
in the model frame (integers). The model frame is the released code's square resize:
:meth:`Frame.square(image_wh, size=frame) <regionreasoner.geometry.frames.Frame.square>`
(840 x 840 by default), and every image is resized ONCE (bilinear) into that frame.

``frame`` may also name a registered frame (``--frame rel1000``, every format): each
image is then stored as that frame shows it (the original image for ``image``,
``rel1000`` and ``rel1``), references and solutions are written in its coordinates
(``rel1``: three decimals), and every row names the frame and the original image size,
from which the rewards convert it into their 840x840 reward frame
(:mod:`regionreasoner.rewards.frames`): the ``trl`` dataset gains the columns ``frame``
and ``image_wh``, the ``verl`` rows carry them in ``extra_info``, the ``easyr1`` rows
pack them into the ground truth (and carry them as columns). ``square840`` is the
default square, written exactly as before.

Per sample:

* ``problem``: the raw question with the reference rendered
  (``"the cup to the left of bbox=[120,300,410,602]"``);
* ``solution``: the targets as JSON, ``[{"bbox_2d": [x1,y1,x2,y2], "point_2d": [x,y]}]``
  in the model frame; the point is the mask pixel farthest from the mask border
  (:func:`mask_anchor_point`) or the box centre when there is no mask;
* the training prompt text: ``get_prompt("regionreasoner-train").render_user(problem)``.

Formats (:data:`EXPORT_FORMATS`):

* ``trl``: a ``datasets`` dataset saved with ``save_to_disk`` at PATH (a folder), columns
  ``prompt`` (``[{"role": "user", "content": text}]``), ``image`` (an ``Image`` feature,
  bytes embedded), ``problem``, ``solution``, ``dialogue_id``, ``turn_index``,
  ``captions_json``. ``GRPOTrainer`` inserts the image into the conversational prompt.
* ``verl``: one parquet file at PATH with veRL's RLHF columns ``data_source``,
  ``prompt`` (chat messages whose content starts with ``<image>``), ``images``
  (``[{"bytes": ...}]``), ``ability``, ``reward_model``
  (``{"style": "rule", "ground_truth": solution}``) and ``extra_info`` (``problem``,
  ``dialogue_id``, ``turn_index``, ``split``, ``index``).
* ``easyr1``: JSON lines (PATH ending ``.jsonl``) or ``{"samples": [...]}`` (``.json``)
  with images in ``<PATH stem>_images/`` beside it. Stock EasyR1 hands the reward only
  the response and the ground truth, so the reference travels inside the ground truth:
  ``solution`` is the JSON string ``{"solution": [...], "problem": "..."}``. Rows also
  hold ``prompt`` (``<image>`` + the training prompt), ``images`` (list of relative
  paths), ``image``, ``problem``, ``dialogue_id`` and ``turn_index``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from regionreasoner.data.builders import Progress, no_progress
from regionreasoner.data.images import DEFAULT_MAX_IMAGE_PIXELS, load_image, read_image_header
from regionreasoner.data.io import read_dialogues, resolve_image_path
from regionreasoner.data.schema import Dialogue, Target
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.fileio import atomic_write, dump_json_line
from regionreasoner.geometry.frames import DEFAULT_FRAME, FRAMES, OFFICIAL_MODEL_SIZE, Frame
from regionreasoner.geometry.rle import decode_rle
from regionreasoner.integrations.trl_rewards import FRAME_COLUMN, IMAGE_WH_COLUMN
from regionreasoner.parsing.references import format_reference
from regionreasoner.registry import Registry
from regionreasoner.rewards.ground_truth import pack_solution

logger = logging.getLogger(__name__)

TRAIN_PROMPT = "regionreasoner-train"
"""Prompt whose ``render_user`` gives the training prompt text (paper Table 7)."""

IMAGE_TOKEN = "<image>"
"""Where veRL and EasyR1 insert the image in a prompt's text."""

JPEG_QUALITY = 95
"""Quality of exported JPEG images (PNG sources stay PNG, lossless)."""

MIN_FRAME = 28
"""Smallest model frame side (one Qwen2.5-VL merged patch)."""

VERL_DATA_SOURCE = "regiondial"
VERL_ABILITY = "grounding"
VERL_SPLIT = "train"
PARQUET_BATCH_ROWS = 256
"""Rows per parquet write: bounds memory to a batch of embedded images."""


@dataclass(frozen=True, slots=True)
class TrainSample:
    """One training sample (one turn of one dialogue).

    Attributes:
        dialogue_id: the dialogue.
        turn_index: the turn (0-based).
        problem: raw question, reference rendered as ``bbox=[...]`` (model frame).
        solution: JSON string of ``[{"bbox_2d", "point_2d"}]`` (model frame).
        prompt_text: the training prompt text for ``problem``.
        image_file: the resized image, relative to the export's image folder.
        captions_json: JSON of the turn's captions (``{}`` when none).
        frame: the registered frame the sample is written in, or ``None`` for the
            square frame of ``frame_size`` (the default export).
        image_wh: the original image size (with ``frame``).
    """

    dialogue_id: str
    turn_index: int
    problem: str
    solution: str
    prompt_text: str
    image_file: str
    captions_json: str
    frame: str | None = None
    image_wh: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What :func:`export_train` wrote: the path, sample and image counts."""

    path: Path
    format: str
    samples: int
    images: int


def mask_anchor_point(mask: npt.NDArray[np.bool_]) -> tuple[float, float] | None:
    """The centre ``(x + 0.5, y + 0.5)`` of the mask pixel farthest from the mask border.

    Distances come from ``scipy.ndimage.distance_transform_edt`` on the mask padded
    with background, so the image edge counts as border. Among equally deep pixels
    (a ridge, e.g. the middle row of a rectangle) the one nearest to the ridge's mean
    position wins, then the first in row-major order. Returns ``None`` for an empty mask.

    >>> m = np.zeros((5, 7), dtype=bool); m[1:4, 1:6] = True
    >>> mask_anchor_point(m)
    (3.5, 2.5)
    """
    if not mask.any():
        return None
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    rows, cols = np.nonzero(dist >= dist.max())
    best = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
    return float(cols[best]) + 0.5, float(rows[best]) + 0.5


def written_coordinates(values: Sequence[float], decimals: int) -> list[int] | list[float]:
    """Coordinates as a solution writes them: integers, or rounded to ``decimals`` digits."""
    if decimals == 0:
        return [int(v) for v in values]
    return [round(float(v), decimals) for v in values]


def target_solution_item(target: Target, frame: Frame) -> dict[str, list[Any]]:
    """``{"bbox_2d", "point_2d"}`` of one target in the model frame (integers, or the
    frame's decimals).

    The point is clipped into the box so that ``point_2d`` always lies inside
    ``bbox_2d`` after rounding.
    """
    point = None
    if target.mask is not None:
        point = mask_anchor_point(decode_rle(target.mask))
    if point is None:
        x1, y1, x2, y2 = target.bbox
        point = ((x1 + x2) / 2, (y1 + y2) / 2)
    box = frame.to_model_xyxy([target.bbox])[0]
    px, py = frame.to_model_points([point])[0]
    px, py = min(max(px, box[0]), box[2]), min(max(py, box[1]), box[3])
    return {
        "bbox_2d": written_coordinates(box, frame.decimals),
        "point_2d": written_coordinates((px, py), frame.decimals),
    }


def turn_samples(
    dialogue: Dialogue, frame: Frame, image_file: str, *, frame_name: str | None = None
) -> Iterator[TrainSample]:
    """The training samples of every turn of ``dialogue`` (GT references).

    Args:
        frame_name: the registered name of ``frame``, recorded in each sample (``None``
            for the default square export).
    """
    prompt = get_prompt(TRAIN_PROMPT)
    image_wh = None if frame_name is None else tuple(frame.image_wh)
    for turn in dialogue.turns:
        reference = None
        if turn.refers_to is not None:
            ref_box = dialogue.turns[turn.refers_to].targets[0].bbox
            reference = format_reference(frame.to_model_xyxy([ref_box])[0], decimals=frame.decimals)
        problem = turn.render_question(reference)
        solution = [target_solution_item(t, frame) for t in turn.targets]
        yield TrainSample(
            dialogue_id=dialogue.dialogue_id,
            turn_index=turn.turn_index,
            problem=problem,
            solution=json.dumps(solution),
            prompt_text=prompt.render_user(problem),
            image_file=image_file,
            captions_json=json.dumps(turn.captions or {}, ensure_ascii=False, sort_keys=True),
            frame=frame_name,
            image_wh=image_wh,  # type: ignore[arg-type]
        )


def _resize_into(
    src: Path,
    dest_dir: Path,
    stem: str,
    shown_wh: Callable[[tuple[int, int]], tuple[int, int]],
    dialogue: Dialogue,
    bench: str,
    max_pixels: int,
) -> tuple[str, tuple[int, int]]:
    """Resize ``src`` into the frame the model is shown, under ``dest_dir``; returns
    ``(file name, image_wh)``."""
    from PIL import Image

    where = {"data_path": bench, "record": f"dialogue {dialogue.dialogue_id}"}
    header = read_image_header(src, max_pixels=max_pixels, expected_wh=dialogue.image_wh, **where)
    model_wh = shown_wh(header.image_wh())
    loaded = load_image(src, max_pixels=max_pixels, min_wh=model_wh, **where)
    resized = loaded.pixels
    if resized.size != tuple(model_wh):
        resized = resized.resize(model_wh, Image.Resampling.BILINEAR)
    if src.suffix.lower() == ".png":
        name = f"{stem}.png"
        resized.save(dest_dir / name, format="PNG")
    else:
        name = f"{stem}.jpg"
        resized.save(dest_dir / name, format="JPEG", quality=JPEG_QUALITY)
    return name, loaded.image_wh


def collect_samples(
    bench_path: str | os.PathLike[str],
    images_dir: Path,
    *,
    frame_size: int = OFFICIAL_MODEL_SIZE,
    images_root: str | os.PathLike[str] | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    progress: Progress = no_progress,
    frame_name: str | None = None,
) -> tuple[list[TrainSample], int]:
    """Resize every image once into ``images_dir`` and build the samples of every turn.

    Args:
        frame_size: side of the square frame (when ``frame_name`` is ``None``).
        frame_name: a registered frame to write the samples in instead.

    Images are read by :func:`~regionreasoner.data.images.load_image` as stored (EXIF
    orientation not applied: the boxes refer to the stored pixels), refused over
    ``max_pixels``, and decoded reduced when much larger than the frame.

    Returns:
        The samples and the number of images written.

    Raises:
        DataFormatError: unreadable benchmark or image (an ``ImageError``, located), or
            an image whose size disagrees with the record's ``image_wh``.
    """
    spec = None if frame_name is None else FRAMES.get(frame_name)

    def frame_of(image_wh: tuple[int, int]) -> Frame:
        return Frame.square(image_wh, size=frame_size) if spec is None else spec(image_wh)

    def shown_wh(image_wh: tuple[int, int]) -> tuple[int, int]:
        return frame_of(image_wh).model_wh

    dialogues = read_dialogues(bench_path)
    images_dir.mkdir(parents=True, exist_ok=True)
    done: dict[Path, tuple[str, tuple[int, int]]] = {}
    samples: list[TrainSample] = []
    for dialogue in progress(dialogues, len(dialogues)):
        src = resolve_image_path(dialogue, bench_path, images_root).resolve()
        if src not in done:
            done[src] = _resize_into(
                src,
                images_dir,
                f"{len(done):06d}",
                shown_wh,
                dialogue,
                str(bench_path),
                max_pixels,
            )
        image_file, image_wh = done[src]
        samples.extend(
            turn_samples(dialogue, frame_of(image_wh), image_file, frame_name=frame_name)
        )
    return samples, len(done)


# ----------------------------------------------------------------------------------------
# Writers
# ----------------------------------------------------------------------------------------

Writer = Callable[[Sequence[TrainSample], Path, Path], None]
"""``writer(samples, images_dir, out_path)``; images_dir holds the resized images."""


def _replace_dir(tmp: Path, out: Path) -> None:
    if out.exists():
        if out.is_dir() and (not any(out.iterdir()) or (out / "state.json").is_file()):
            shutil.rmtree(out)
        else:
            raise UserInputError(
                f"{out} exists and is not a dataset folder written by export-train"
            )
    os.replace(tmp, out)


def write_trl(samples: Sequence[TrainSample], images_dir: Path, out: Path) -> None:
    """A ``datasets`` dataset (``save_to_disk``) with TRL's conversational columns."""
    from regionreasoner._imports import require

    datasets = require("datasets", extra="trl")
    list_type = getattr(datasets, "List", None)
    message = {"role": datasets.Value("string"), "content": datasets.Value("string")}
    columns = {
        "prompt": list_type(message) if list_type is not None else [message],
        "image": datasets.Image(),
        "problem": datasets.Value("string"),
        "solution": datasets.Value("string"),
        "dialogue_id": datasets.Value("string"),
        "turn_index": datasets.Value("int32"),
        "captions_json": datasets.Value("string"),
    }
    framed = any(s.frame is not None for s in samples)
    if framed:  # the reward converts these rows into its frame (trl_rewards)
        int_list = datasets.Value("int32")
        columns[FRAME_COLUMN] = datasets.Value("string")
        columns[IMAGE_WH_COLUMN] = list_type(int_list) if list_type is not None else [int_list]
    features = datasets.Features(columns)
    rows = {
        "prompt": [[{"role": "user", "content": s.prompt_text}] for s in samples],
        "image": [str(images_dir / s.image_file) for s in samples],
        "problem": [s.problem for s in samples],
        "solution": [s.solution for s in samples],
        "dialogue_id": [s.dialogue_id for s in samples],
        "turn_index": [s.turn_index for s in samples],
        "captions_json": [s.captions_json for s in samples],
    }
    if framed:
        rows[FRAME_COLUMN] = [s.frame for s in samples]
        rows[IMAGE_WH_COLUMN] = [list(s.image_wh or ()) for s in samples]
    dataset = datasets.Dataset.from_dict(rows, features=features)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        dataset.save_to_disk(str(tmp))  # embeds the image bytes into the arrow files
        _replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_verl(samples: Sequence[TrainSample], images_dir: Path, out: Path) -> None:
    """One parquet file with veRL's RLHF dataset columns (``extra_info`` also holds
    ``frame`` and ``image_wh`` when the samples are in a named frame)."""
    from regionreasoner._imports import require

    pa = require("pyarrow", extra="trl")
    pq = require("pyarrow.parquet", extra="trl", package="pyarrow")
    extra_fields = [
        ("problem", pa.string()),
        ("dialogue_id", pa.string()),
        ("turn_index", pa.int32()),
        ("split", pa.string()),
        ("index", pa.int64()),
    ]
    framed = any(s.frame is not None for s in samples)
    if framed:  # the reward converts these rows into its frame (rewards.frames)
        extra_fields += [(FRAME_COLUMN, pa.string()), (IMAGE_WH_COLUMN, pa.list_(pa.int32()))]
    schema = pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("images", pa.list_(pa.struct([("bytes", pa.binary())]))),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", pa.struct(extra_fields)),
        ]
    )
    if out.is_dir():
        raise UserInputError(f"{out} is a folder; --format verl writes one parquet FILE")
    with atomic_write(out, "wb") as handle:
        writer = pq.ParquetWriter(handle, schema)
        for start in range(0, len(samples), PARQUET_BATCH_ROWS):
            rows = [
                {
                    "data_source": VERL_DATA_SOURCE,
                    "prompt": [{"role": "user", "content": IMAGE_TOKEN + s.prompt_text}],
                    "images": [{"bytes": (images_dir / s.image_file).read_bytes()}],
                    "ability": VERL_ABILITY,
                    "reward_model": {"style": "rule", "ground_truth": s.solution},
                    "extra_info": {
                        "problem": s.problem,
                        "dialogue_id": s.dialogue_id,
                        "turn_index": s.turn_index,
                        "split": VERL_SPLIT,
                        "index": start + offset,
                        **_frame_fields(s),
                    },
                }
                for offset, s in enumerate(samples[start : start + PARQUET_BATCH_ROWS])
            ]
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
        writer.close()


def _frame_fields(sample: TrainSample) -> dict[str, Any]:
    """``{"frame", "image_wh"}`` of a sample in a named frame (empty otherwise)."""
    if sample.frame is None:
        return {}
    return {FRAME_COLUMN: sample.frame, IMAGE_WH_COLUMN: list(sample.image_wh or ())}


def easyr1_images_dir(out: Path) -> Path:
    """Where the ``easyr1`` format puts its images: ``<stem>_images/`` beside the file."""
    return out.parent / f"{out.stem}_images"


def easyr1_row(sample: TrainSample, image_rel: str) -> dict[str, Any]:
    """One EasyR1 row; ``solution`` packs the targets AND the problem (and the frame with
    the image size, for a sample in a named frame:
    :func:`regionreasoner.rewards.ground_truth.pack_solution`, see the module doc)."""
    frame = _frame_fields(sample)
    return {
        "prompt": IMAGE_TOKEN + sample.prompt_text,
        "problem": sample.problem,
        "solution": pack_solution(sample.solution, sample.problem, **frame),
        "images": [image_rel],
        "image": image_rel,
        "dialogue_id": sample.dialogue_id,
        "turn_index": sample.turn_index,
        **frame,
    }


def write_easyr1(samples: Sequence[TrainSample], images_dir: Path, out: Path) -> None:
    """JSON lines (``.jsonl``) or ``{"samples": [...]}`` (``.json``), images beside it."""
    rel_dir = images_dir.relative_to(out.parent).as_posix()
    rows = [easyr1_row(s, f"{rel_dir}/{s.image_file}") for s in samples]
    with atomic_write(out) as handle:
        if out.suffix == ".jsonl":
            handle.writelines(dump_json_line(r) for r in rows)
        else:
            json.dump({"samples": rows}, handle, ensure_ascii=False)
            handle.write("\n")


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """A registered export format: its writer and whether it keeps the image folder.

    Attributes:
        writer: writes the samples.
        keeps_images: the resized images stay on disk beside the output (``easyr1``);
            otherwise they are embedded and the temporary folder is removed.
        suffixes: accepted output suffixes (empty: a folder).
    """

    writer: Writer
    keeps_images: bool
    suffixes: tuple[str, ...]


EXPORT_FORMATS: Registry[ExportFormat] = Registry("export format")
EXPORT_FORMATS.register("trl", ExportFormat(write_trl, keeps_images=False, suffixes=()))
EXPORT_FORMATS.register(
    "verl", ExportFormat(write_verl, keeps_images=False, suffixes=(".parquet",))
)
EXPORT_FORMATS.register(
    "easyr1", ExportFormat(write_easyr1, keeps_images=True, suffixes=(".jsonl", ".json"))
)


def export_train(
    bench_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    fmt: str,
    *,
    frame: int | str = OFFICIAL_MODEL_SIZE,
    images_root: str | os.PathLike[str] | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    progress: Progress = no_progress,
) -> ExportResult:
    """Export ``bench_path`` as an RL training set (one sample per turn).

    Args:
        bench_path: a RegionDial JSONL.
        out_path: the dataset folder (``trl``), parquet file (``verl``) or
            ``.jsonl``/``.json`` file (``easyr1``).
        fmt: ``trl``, ``verl`` or ``easyr1``.
        frame: side of the square model frame (840 as the released code), or a
            registered frame name (``square840`` is the default square).
        images_root: folder the records' ``image`` paths are relative to (default: the
            benchmark's folder).
        max_pixels: largest image accepted (stored pixels; see
            :data:`~regionreasoner.data.images.DEFAULT_MAX_IMAGE_PIXELS`).
        progress: wraps the loop over dialogues.

    Raises:
        UnknownComponentError: unknown format.
        UserInputError: bad frame size or output path.
        DataFormatError: unreadable benchmark or images.
    """
    spec = EXPORT_FORMATS.get(fmt)
    if not Path(bench_path).is_file():
        raise DataFormatError("benchmark file not found", path=str(bench_path))
    frame_name: str | None = None
    if isinstance(frame, str):
        FRAMES.get(frame)  # unknown names fail here, listing the known ones
        if frame == DEFAULT_FRAME:
            frame = OFFICIAL_MODEL_SIZE
        else:
            frame_name, frame = frame, OFFICIAL_MODEL_SIZE
    if frame < MIN_FRAME:
        raise UserInputError(f"--frame must be at least {MIN_FRAME}, got {frame}")
    out = Path(out_path)
    if spec.suffixes and out.suffix not in spec.suffixes:
        raise UserInputError(f"--format {fmt} writes a {'/'.join(spec.suffixes)} file, got {out}")
    if spec.keeps_images:
        images_dir = easyr1_images_dir(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{images_dir.name}.", dir=out.parent))
        try:
            samples, n_images = collect_samples(
                bench_path,
                tmp,
                frame_size=frame,
                images_root=images_root,
                max_pixels=max_pixels,
                progress=progress,
                frame_name=frame_name,
            )
            if images_dir.exists():
                shutil.rmtree(images_dir)
            os.replace(tmp, images_dir)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        spec.writer(samples, images_dir, out)
    else:
        with tempfile.TemporaryDirectory(prefix="regionreasoner-export-") as tmp:
            samples, n_images = collect_samples(
                bench_path,
                Path(tmp),
                frame_size=frame,
                images_root=images_root,
                max_pixels=max_pixels,
                progress=progress,
                frame_name=frame_name,
            )
            spec.writer(samples, Path(tmp), out)
    logger.debug("exported %d samples (%d images) as %s to %s", len(samples), n_images, fmt, out)
    return ExportResult(out, fmt, len(samples), n_images)


__all__ = [
    "EXPORT_FORMATS",
    "ExportFormat",
    "ExportResult",
    "TrainSample",
    "collect_samples",
    "easyr1_row",
    "export_train",
    "mask_anchor_point",
    "target_solution_item",
    "turn_samples",
    "written_coordinates",
]
