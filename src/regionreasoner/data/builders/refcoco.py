"""RegionDial dialogues from the ``refer`` toolkit's RefCOCO / RefCOCO+ / RefCOCOg files.

Inputs are the public files of the toolkit: ``refs(unc).p`` / ``refs(umd).p`` /
``refs(google).p`` (a pickle, read with :func:`~regionreasoner.data.safe_pickle.
load_plain_pickle`) and the matching COCO ``instances.json``. The build:

1. selects the refs of ``split`` with the toolkit's ``getRefIds`` rule
   (:func:`select_split`);
2. groups the referred objects by image; every image with at least two distinct
   referred objects becomes ONE dialogue (``dialogue_id = str(image_id)``) with
   ``min(#objects, max_turns)`` turns, one referred object per turn;
3. plans the turns with :func:`~regionreasoner.data.builders.chain.plan_dialogue`:
   turn 1 is a human expression; later turns cite an earlier turn through a relation
   that holds between the two ground-truth boxes. Every annotation of the image (not
   only the referred ones) counts when checking that a question is unambiguous;
4. stores each target with its COCO annotation id, xyxy box and RLE mask (polygons and
   crowd RLEs converted through pycocotools).

Randomness: one ``random.Random(f"refcoco:{seed}:{image_id}")`` per image plus a
relation counter shared in image-id order, so the output is a pure function of the
inputs and the seed.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regionreasoner.data.builders import BuildResult, Progress, no_progress
from regionreasoner.data.builders.chain import NounPhrase, SceneObject, plan_dialogue
from regionreasoner.data.builders.stats import compute_stats
from regionreasoner.data.io import write_dialogues
from regionreasoner.data.safe_pickle import load_plain_pickle
from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.geometry.boxes import is_valid_xyxy, xywh_to_xyxy
from regionreasoner.geometry.rle import decode_rle, encode_rle, polygons_to_rle

logger = logging.getLogger(__name__)

DEFAULT_MAX_TURNS = 7
"""Longest dialogue of RegionDial-Bench (paper Table 6)."""

MIN_DIALOGUE_OBJECTS = 2
"""Images with fewer referred objects are skipped (every dialogue has >= 2 turns)."""

MIN_POLYGON_COORDS = 6
"""A COCO polygon needs at least three (x, y) points."""

SPLITS = ("train", "val", "test", "testA", "testB", "testC", "testAB", "testBC", "testAC")
"""Values accepted by ``--split`` (the refer toolkit's ``getRefIds``)."""


def select_split(refs: Sequence[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """The refs of ``split``, exactly as the refer toolkit's ``getRefIds(split=...)``.

    ``test`` keeps every split containing "test" (test, testA, testB, ...);
    ``testA``/``testB``/``testC`` keep splits containing that letter (the toolkit also
    counts combined splits such as testAB); ``testAB``/``testBC``/``testAC``,
    ``train`` and ``val`` match exactly.

    Raises:
        UserInputError: unknown split name.

    >>> refs = [{"split": s} for s in ("train", "testA", "testB", "test", "val")]
    >>> [r["split"] for r in select_split(refs, "test")]
    ['testA', 'testB', 'test']
    >>> [r["split"] for r in select_split(refs, "testB")]
    ['testB']
    """
    if split in ("testA", "testB", "testC"):
        return [r for r in refs if split[-1] in r["split"]]
    if split == "test":
        return [r for r in refs if "test" in r["split"]]
    if split in ("train", "val", "testAB", "testBC", "testAC"):
        return [r for r in refs if r["split"] == split]
    raise UserInputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


@dataclass(frozen=True, slots=True)
class ReferredObject:
    """One referred object of the split (a ref of the toolkit)."""

    ref_id: int
    ann_id: int
    image_id: int
    sentences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CocoInstances:
    """The parts of ``instances.json`` the builder needs, indexed."""

    images: dict[int, dict[str, Any]]
    annotations: dict[int, dict[str, Any]]
    by_image: dict[int, list[dict[str, Any]]]
    categories: dict[int, str]


def _require(obj: Any, key: str, kind: type | tuple[type, ...], *, path: str, record: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataFormatError(f"missing field {key!r}", path=path, record=record, field=key)
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataFormatError(
            f"{key} has type {type(value).__name__}", path=path, record=record, field=key
        )
    return value


def load_refs(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a refer-toolkit refs pickle safely and check its structure.

    Raises:
        UnsafePickleError: the pickle references code (refused, nothing executed).
        DataFormatError: not a list of refs with ``ref_id``, ``ann_id``, ``image_id``,
            ``split``, ``sentences`` and ``category_id``.
    """
    name = str(path)
    refs = load_plain_pickle(path)
    if not isinstance(refs, list):
        raise DataFormatError(f"expected a list of refs, got {type(refs).__name__}", path=name)
    for i, ref in enumerate(refs):
        record = f"ref #{i}"
        for key in ("ref_id", "ann_id", "image_id", "category_id"):
            _require(ref, key, int, path=name, record=record)
        _require(ref, "split", str, path=name, record=record)
        _require(ref, "sentences", list, path=name, record=record)
    return refs


def load_instances(path: str | os.PathLike[str]) -> CocoInstances:
    """Read and index a COCO ``instances.json``.

    Raises:
        DataFormatError: unreadable JSON or missing ``images``/``annotations``/
            ``categories`` fields.
    """
    name = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as e:
        raise DataFormatError(f"cannot read instances: {e.strerror or e}", path=name) from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"invalid JSON ({e})", path=name) from e
    for key in ("images", "annotations", "categories"):
        _require(data, key, list, path=name, record="top level")
    images = {
        int(_require(im, "id", int, path=name, record="images[]")): im for im in data["images"]
    }
    annotations: dict[int, dict[str, Any]] = {}
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ann in data["annotations"]:
        ann_id = _require(ann, "id", int, path=name, record="annotations[]")
        _require(ann, "image_id", int, path=name, record=f"annotation {ann_id}")
        _require(ann, "category_id", int, path=name, record=f"annotation {ann_id}")
        _require(ann, "bbox", list, path=name, record=f"annotation {ann_id}")
        annotations[ann_id] = ann
        by_image[ann["image_id"]].append(ann)
    categories = {
        _require(c, "id", int, path=name, record="categories[]"): str(
            _require(c, "name", str, path=name, record="categories[]")
        )
        for c in data["categories"]
    }
    for anns in by_image.values():
        anns.sort(key=lambda a: a["id"])
    return CocoInstances(images, annotations, dict(by_image), categories)


def sentence_text(sentence: Any) -> str:
    """A toolkit sentence's text (``sent``, else ``raw``, else the tokens), whitespace
    folded; ``""`` when it has none."""
    if not isinstance(sentence, dict):
        return ""
    for key in ("sent", "raw"):
        value = sentence.get(key)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    tokens = sentence.get("tokens")
    if isinstance(tokens, list) and all(isinstance(t, str) for t in tokens):
        return " ".join(tokens).strip()
    return ""


def annotation_rle(
    ann: dict[str, Any], image_wh: tuple[int, int], *, path: str
) -> dict[str, Any] | None:
    """The annotation's mask as a JSON-safe COCO RLE, or ``None`` when it has none.

    Polygons go through ``pycocotools.frPyObjects`` and are merged; an uncompressed
    crowd RLE (list ``counts``) is compressed; a compressed RLE is kept as is.

    Raises:
        DataFormatError: the RLE size disagrees with the image size.
    """
    seg = ann.get("segmentation")
    width, height = image_wh
    if isinstance(seg, list):
        polygons = [
            p
            for p in seg
            if isinstance(p, list) and len(p) >= MIN_POLYGON_COORDS and len(p) % 2 == 0
        ]
        return polygons_to_rle(polygons, image_wh) if polygons else None
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        if list(seg["size"]) != [height, width]:
            raise DataFormatError(
                f"RLE size {seg['size']} (H, W) disagrees with the image ({height}, {width})",
                path=path,
                record=f"annotation {ann.get('id')}",
                field="segmentation.size",
            )
        if isinstance(seg["counts"], list):
            return encode_rle(decode_rle({"size": [height, width], "counts": seg["counts"]}))
        return {"size": [height, width], "counts": str(seg["counts"])}
    return None


def annotation_xyxy(ann: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """A COCO annotation's ``bbox`` (xywh) as xyxy, ``None`` when missing or empty."""
    bbox = ann.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        return None
    xyxy = tuple(float(v) for v in xywh_to_xyxy(bbox))
    return xyxy if is_valid_xyxy(xyxy) else None  # type: ignore[return-value]


def dataset_name(refs_path: str | os.PathLike[str]) -> str:
    """``refcoco+`` for ``.../refcoco+/refs(unc).p``: the folder when it names a dataset."""
    p = Path(refs_path)
    return p.parent.name if p.parent.name.lower().startswith("ref") else p.stem


def referred_annotation(
    instances: CocoInstances, ref: dict[str, Any], *, refs_path: str, instances_path: str
) -> dict[str, Any]:
    """The COCO annotation a ref names.

    Raises:
        DataFormatError: the annotation is not in the instances (located at the ref).
    """
    ann = instances.annotations.get(ref["ann_id"])
    if ann is None:
        raise DataFormatError(
            f"annotation {ref['ann_id']} is not in {instances_path} (wrong instances file?)",
            path=refs_path,
            record=f"ref_id {ref['ref_id']}",
            field="ann_id",
        )
    return ann


def referred_image(
    instances: CocoInstances, image_id: int, *, refs_path: str, instances_path: str, record: str
) -> dict[str, Any]:
    """The COCO image entry a ref names.

    Raises:
        DataFormatError: the image is not in the instances (located at ``record``).
    """
    image = instances.images.get(image_id)
    if image is None:
        raise DataFormatError(
            f"image {image_id} is not in {instances_path}",
            path=refs_path,
            record=record,
            field="image_id",
        )
    return image


def image_file_name(image: dict[str, Any], image_id: int, *, instances_path: str) -> str:
    """A COCO image entry's ``file_name``.

    Raises:
        DataFormatError: the entry has no (or an empty) ``file_name``.
    """
    file_name = image.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        raise DataFormatError(
            "image has no file_name",
            path=instances_path,
            record=f"image {image_id}",
            field="file_name",
        )
    return file_name


def coco_image_wh(image: dict[str, Any], images_root: Path | None, *, path: str) -> tuple[int, int]:
    """``(W, H)`` of a COCO image entry, read from the image under ``images_root`` when
    the entry lacks a size.

    Raises:
        DataFormatError: no size in the entry and no readable image.
    """
    width, height = image.get("width"), image.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    if images_root is not None:
        from regionreasoner.data.images import read_image_header

        # the stored size: COCO boxes refer to the stored pixels (EXIF not applied)
        file = images_root / str(image.get("file_name", ""))
        return read_image_header(file, data_path=path, record=f"image {image.get('id')}").stored_wh
    raise DataFormatError(
        "image has no width/height (pass --images-root to read them)",
        path=path,
        record=f"image {image.get('id')}",
        field="width",
    )


@dataclass
class _Context:
    refs_path: str
    instances_path: str
    instances: CocoInstances
    images_root: Path | None
    seed: int
    max_turns: int
    source: str
    skipped: Counter[str]
    relation_counts: Counter[str]


def iter_refcoco_dialogues(
    refs: Sequence[dict[str, Any]],
    instances: CocoInstances,
    *,
    split: str,
    seed: int = 0,
    max_turns: int = DEFAULT_MAX_TURNS,
    source: str = "refcoco",
    refs_path: str = "refs",
    instances_path: str = "instances.json",
    images_root: str | os.PathLike[str] | None = None,
    skipped: Counter[str] | None = None,
    progress: Progress = no_progress,
) -> Iterator[Dialogue]:
    """Yield one dialogue per image of ``split`` with at least two referred objects.

    Args:
        refs: the toolkit's refs (see :func:`load_refs`).
        instances: the indexed COCO instances (see :func:`load_instances`).
        split: split name (see :func:`select_split`).
        seed: seed of every random choice.
        max_turns: cap on the turns of a dialogue (>= 2).
        source: dataset name; dialogues get ``source = f"{source}/{split}"``.
        refs_path: file name used in error messages.
        instances_path: file name used in error messages.
        images_root: folder of the images, used only when ``instances`` lacks sizes.
        skipped: counter updated with the reasons objects/images were left out.
        progress: wraps the loop over images.
    """
    if max_turns < MIN_DIALOGUE_OBJECTS:
        raise UserInputError(
            f"--max-turns must be at least {MIN_DIALOGUE_OBJECTS}, got {max_turns}"
        )
    ctx = _Context(
        refs_path=refs_path,
        instances_path=instances_path,
        instances=instances,
        images_root=Path(images_root) if images_root is not None else None,
        seed=seed,
        max_turns=max_turns,
        source=f"{source}/{split}",
        skipped=skipped if skipped is not None else Counter(),
        relation_counts=Counter(),
    )
    by_image: dict[int, dict[int, ReferredObject]] = defaultdict(dict)
    for ref in sorted(select_split(refs, split), key=lambda r: r["ref_id"]):
        referred_annotation(instances, ref, refs_path=refs_path, instances_path=instances_path)
        if ref["ann_id"] in by_image[ref["image_id"]]:
            ctx.skipped["duplicate refs of one annotation"] += 1
            continue
        sentences = tuple(dict.fromkeys(s for s in map(sentence_text, ref["sentences"]) if s))
        if not sentences:
            ctx.skipped["refs without a sentence"] += 1
            continue
        by_image[ref["image_id"]][ref["ann_id"]] = ReferredObject(
            ref["ref_id"], ref["ann_id"], ref["image_id"], sentences
        )
    image_ids = sorted(by_image)
    for image_id in progress(image_ids, len(image_ids)):
        dialogue = _build_dialogue(ctx, image_id, list(by_image[image_id].values()))
        if dialogue is not None:
            yield dialogue


def _build_dialogue(
    ctx: _Context, image_id: int, referred: list[ReferredObject]
) -> Dialogue | None:
    inst = ctx.instances
    image = referred_image(
        inst,
        image_id,
        refs_path=ctx.refs_path,
        instances_path=ctx.instances_path,
        record=f"image_id {image_id}",
    )
    rng = random.Random(f"refcoco:{ctx.seed}:{image_id}")
    referred_by_ann = {r.ann_id: r for r in referred}
    boxes: dict[int, tuple[float, float, float, float]] = {}
    for ann in inst.by_image.get(image_id, []):
        xyxy = annotation_xyxy(ann)
        if xyxy is not None:
            boxes[ann["id"]] = xyxy
        elif ann["id"] in referred_by_ann:
            ctx.skipped["referred objects with an empty box"] += 1
    anns = [a for a in inst.by_image.get(image_id, []) if a["id"] in boxes]
    by_category: dict[int, set[int]] = defaultdict(set)
    for ann in anns:
        by_category[ann["category_id"]].add(ann["id"])
    objects = []
    for ann in anns:
        category = inst.categories.get(ann["category_id"], str(ann["category_id"]))
        phrases = [
            NounPhrase(category, frozenset(by_category[ann["category_id"]]), is_category=True)
        ]
        ref = referred_by_ann.get(ann["id"])
        questions: tuple[str, ...] = ()
        if ref is not None:
            questions = ref.sentences
            phrases.append(
                NounPhrase(rng.choice(ref.sentences), frozenset({ann["id"]}), appositive=True)
            )
        objects.append(
            SceneObject(ann["id"], boxes[ann["id"]], category, tuple(phrases), questions)
        )
    n_referable = sum(o.referable for o in objects)
    if n_referable < MIN_DIALOGUE_OBJECTS:
        ctx.skipped["images with fewer than 2 referred objects"] += 1
        return None
    plan = plan_dialogue(
        objects,
        n_turns=min(n_referable, ctx.max_turns),
        rng=rng,
        relation_counts=ctx.relation_counts,
    )
    image_wh = coco_image_wh(image, ctx.images_root, path=ctx.instances_path)
    turns = []
    for index, planned in enumerate(plan):
        ann = inst.annotations[planned.target]
        target = Target(
            bbox=boxes[planned.target],
            mask=annotation_rle(ann, image_wh, path=ctx.instances_path),
            ann_id=planned.target,
            category=inst.categories.get(ann["category_id"]),
        )
        turns.append(
            Turn(
                index,
                planned.question,
                (target,),
                refers_to=planned.refers_to,
                relation=planned.relation,
            )
        )
    return Dialogue(
        dialogue_id=str(image_id),
        image=image_file_name(image, image_id, instances_path=ctx.instances_path),
        turns=tuple(turns),
        image_wh=image_wh,
        source=ctx.source,
        meta={"image_id": image_id, "ref_ids": [referred_by_ann[p.target].ref_id for p in plan]},
    )


def build_refcoco(
    refs_path: str | os.PathLike[str],
    instances_path: str | os.PathLike[str],
    *,
    split: str,
    out_path: str | os.PathLike[str],
    seed: int = 0,
    max_turns: int = DEFAULT_MAX_TURNS,
    images_root: str | os.PathLike[str] | None = None,
    progress: Progress = no_progress,
) -> BuildResult:
    """Build a RegionDial JSONL from the refer toolkit's files.

    Args:
        refs_path: ``refs(unc).p`` / ``refs(umd).p`` / ``refs(google).p``.
        instances_path: the matching COCO ``instances.json``.
        split: split name (see :func:`select_split`).
        out_path: the JSONL to write (atomically).
        seed: seed of every random choice; same seed, same bytes.
        max_turns: cap on the turns of a dialogue (>= 2).
        images_root: folder the COCO ``file_name`` values are relative to; when given,
            missing images are reported (warning) and sizes missing from the
            instances are read from the images.
        progress: wraps the loop over images.

    Returns:
        The written path, the statistics and the skip counts.

    Raises:
        UnsafePickleError: the refs pickle references code (nothing was executed).
        DataFormatError: malformed inputs, located by file and record.
        UserInputError: bad arguments (unknown split, ``max_turns < 2``).
    """
    refs = load_refs(refs_path)
    instances = load_instances(instances_path)
    skipped: Counter[str] = Counter()
    dialogues = list(
        iter_refcoco_dialogues(
            refs,
            instances,
            split=split,
            seed=seed,
            max_turns=max_turns,
            source=dataset_name(refs_path),
            refs_path=str(refs_path),
            instances_path=str(instances_path),
            images_root=images_root,
            skipped=skipped,
            progress=progress,
        )
    )
    if not dialogues:
        raise UserInputError(
            f"split {split!r} of {refs_path} has no image with {MIN_DIALOGUE_OBJECTS} or more "
            "referred objects: nothing to write"
        )
    if images_root is not None:
        missing = [d.image for d in dialogues if not (Path(images_root) / d.image).is_file()]
        if missing:
            logger.warning(
                "%d of %d images are missing under %s (first: %s)",
                len(missing),
                len(dialogues),
                images_root,
                missing[0],
            )
    write_dialogues(out_path, dialogues)
    stats = compute_stats(dialogues)
    logger.debug("wrote %d dialogues (%d turns) to %s", stats.dialogues, stats.turns, out_path)
    return BuildResult(Path(out_path), stats, dict(skipped))


__all__ = [
    "DEFAULT_MAX_TURNS",
    "SPLITS",
    "CocoInstances",
    "annotation_rle",
    "annotation_xyxy",
    "build_refcoco",
    "coco_image_wh",
    "dataset_name",
    "iter_refcoco_dialogues",
    "load_instances",
    "load_refs",
    "select_split",
    "sentence_text",
]
