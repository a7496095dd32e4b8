"""The standard single-round tasks: RefCOCO / RefCOCO+ / RefCOCOg REC and RES.

``build refcoco --single-round`` reads the same refer-toolkit files as ``build refcoco``
and writes one ONE-TURN RegionDial record per referring EXPRESSION (a sentence of a ref)
of a split: the unit the published RefCOCO/+/g numbers count. Each record's turn asks
the sentence, without any reference, and its target is the referred object with its
COCO annotation id, xyxy box and RLE mask, exactly as in the multi-round build.

- ``dialogue_id``: ``"<ref_id>_<k>"``, ``k`` the sentence's position in its ref (stable
  when an earlier sentence is skipped).
- ``source``: ``"<dataset>/<split>/single-round"`` (:mod:`regionreasoner.data.tasks`).
- ``meta``: ``task: "single-round"``, ``counting_unit: "expression"``, ``image_id``,
  ``ref_id``, ``ann_id`` and ``sent_id``.

Nothing is chosen at random, so there is no seed: the output is a pure function of the
input files. Every sentence of every ref of the split is kept, including sentences
whose text repeats another one of the same ref, as the standard evaluation counts them;
a sentence without text and a ref whose object has no box are skipped (counted).

Splits (:func:`standard_splits`): RefCOCO and RefCOCO+ (``refs(unc).p``) are evaluated on
val, testA and testB; RefCOCOg (``refs(umd).p``) on val and test. The standard splits of
a refs file are the ones it holds among those.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from regionreasoner.data.builders import BuildResult, Progress, no_progress
from regionreasoner.data.builders.refcoco import (
    CocoInstances,
    annotation_rle,
    annotation_xyxy,
    coco_image_wh,
    dataset_name,
    image_file_name,
    load_instances,
    load_refs,
    referred_annotation,
    referred_image,
    select_split,
    sentence_text,
)
from regionreasoner.data.builders.stats import compute_stats
from regionreasoner.data.io import write_dialogues
from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.data.tasks import (
    COUNT_EXPRESSION,
    META_COUNTING_UNIT,
    META_TASK,
    SINGLE_ROUND_TASK,
    single_round_source,
)
from regionreasoner.errors import DataFormatError, UserInputError

UNC_SPLITS = ("val", "testA", "testB")
"""Evaluation splits of RefCOCO and RefCOCO+ (the UNC partition)."""

UMD_SPLITS = ("val", "test")
"""Evaluation splits of RefCOCOg (the UMD partition)."""

OUTPUT_SUFFIX = f"_{SINGLE_ROUND_TASK}.jsonl"
"""File name ending of each split written into an output folder."""


def standard_splits(refs: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The standard evaluation splits a refs file holds, in the usual order.

    A file with testA/testB refs is a UNC partition (:data:`UNC_SPLITS`), otherwise the
    UMD one (:data:`UMD_SPLITS`); only splits with at least one ref are returned.

    >>> standard_splits([{"split": s} for s in ("train", "val", "testA", "testB")])
    ('val', 'testA', 'testB')
    >>> standard_splits([{"split": s} for s in ("train", "val", "test")])
    ('val', 'test')
    """
    present = {str(r["split"]) for r in refs}
    scheme = UNC_SPLITS if present & {"testA", "testB"} else UMD_SPLITS
    return tuple(split for split in scheme if split in present)


def split_file_name(dataset: str, split: str) -> str:
    """``refcoco+_testA_single-round.jsonl``: a split's file in an output folder."""
    return f"{dataset}_{split}{OUTPUT_SUFFIX}"


def iter_single_round_dialogues(
    refs: Sequence[dict[str, Any]],
    instances: CocoInstances,
    *,
    split: str,
    dataset: str = "refcoco",
    refs_path: str = "refs",
    instances_path: str = "instances.json",
    images_root: str | os.PathLike[str] | None = None,
    skipped: Counter[str] | None = None,
    progress: Progress = no_progress,
) -> Iterator[Dialogue]:
    """Yield one one-turn dialogue per referring expression of ``split``, by ``ref_id``.

    Args:
        refs: the toolkit's refs (see :func:`~regionreasoner.data.builders.refcoco.load_refs`).
        instances: the indexed COCO instances.
        split: split name (the toolkit's ``getRefIds`` rule, see ``select_split``).
        dataset: dataset name used in ``source``.
        refs_path, instances_path: file names used in error messages.
        images_root: folder of the images, used only when ``instances`` lacks sizes.
        skipped: counter updated with the reasons expressions were left out.
        progress: wraps the loop over refs.

    Raises:
        DataFormatError: a ref names an annotation or image missing from the instances,
            or two refs share a ``ref_id``.
    """
    skipped = skipped if skipped is not None else Counter()
    root = Path(images_root) if images_root is not None else None
    source = single_round_source(dataset, split)
    selected = sorted(select_split(refs, split), key=lambda r: r["ref_id"])
    seen: set[int] = set()
    sizes: dict[int, tuple[int, int]] = {}
    for ref in progress(selected, len(selected)):
        record = f"ref_id {ref['ref_id']}"
        if ref["ref_id"] in seen:
            raise DataFormatError("duplicate ref_id", path=refs_path, record=record, field="ref_id")
        seen.add(ref["ref_id"])
        located = {"refs_path": refs_path, "instances_path": instances_path}
        ann = referred_annotation(instances, ref, **located)
        image = referred_image(instances, ref["image_id"], record=record, **located)
        xyxy = annotation_xyxy(ann)
        if xyxy is None:
            skipped["expressions whose object has an empty box"] += len(ref["sentences"])
            continue
        if ref["image_id"] not in sizes:
            sizes[ref["image_id"]] = coco_image_wh(image, root, path=instances_path)
        image_wh = sizes[ref["image_id"]]
        file_name = image_file_name(image, ref["image_id"], instances_path=instances_path)
        target = Target(
            bbox=xyxy,
            mask=annotation_rle(ann, image_wh, path=instances_path),
            ann_id=ref["ann_id"],
            category=instances.categories.get(ann["category_id"]),
        )
        for index, sentence in enumerate(ref["sentences"]):
            text = sentence_text(sentence)
            if not text:
                skipped["expressions without text"] += 1
                continue
            sent_id = sentence.get("sent_id") if isinstance(sentence, dict) else None
            yield Dialogue(
                dialogue_id=f"{ref['ref_id']}_{index}",
                image=file_name,
                turns=(Turn(0, text, (target,)),),
                image_wh=image_wh,
                source=source,
                meta={
                    META_TASK: SINGLE_ROUND_TASK,
                    META_COUNTING_UNIT: COUNT_EXPRESSION,
                    "image_id": ref["image_id"],
                    "ref_id": ref["ref_id"],
                    "ann_id": ref["ann_id"],
                    "sent_id": sent_id,
                },
            )


def build_refcoco_single_round(
    refs_path: str | os.PathLike[str],
    instances_path: str | os.PathLike[str],
    *,
    out_path: str | os.PathLike[str],
    split: str | None = None,
    images_root: str | os.PathLike[str] | None = None,
    progress: Progress = no_progress,
) -> list[BuildResult]:
    """Write the single-round task of one split, or of every standard split.

    Args:
        refs_path: ``refs(unc).p`` (RefCOCO, RefCOCO+) or ``refs(umd).p`` (RefCOCOg).
        instances_path: the matching COCO ``instances.json``.
        out_path: with ``split``, the JSONL file to write; without, a folder that
            receives ``<dataset>_<split>_single-round.jsonl`` per standard split.
        split: one split (any ``--split`` value), or ``None`` for
            :func:`standard_splits`.
        images_root: folder the COCO ``file_name`` values are relative to; used to read
            sizes missing from the instances.
        progress: wraps the loop over refs of each split.

    Returns:
        One result per written file, in split order. Every split is built before the
        first file is written (each atomically), so bad input leaves no file behind.

    Raises:
        UnsafePickleError: the refs pickle references code (nothing was executed).
        DataFormatError: malformed inputs, located by file and record.
        UserInputError: an unknown split, a split without expressions, or no standard
            split in the file.
    """
    refs = load_refs(refs_path)
    instances = load_instances(instances_path)
    dataset = dataset_name(refs_path)
    splits = (split,) if split is not None else standard_splits(refs)
    if not splits:
        raise UserInputError(
            f"{refs_path}: no ref of a standard split ({', '.join(UNC_SPLITS + UMD_SPLITS[1:])})"
        )
    built: list[tuple[str, list[Dialogue], Counter[str]]] = []
    for name in splits:
        skipped: Counter[str] = Counter()
        dialogues = list(
            iter_single_round_dialogues(
                refs,
                instances,
                split=name,
                dataset=dataset,
                refs_path=str(refs_path),
                instances_path=str(instances_path),
                images_root=images_root,
                skipped=skipped,
                progress=progress,
            )
        )
        if not dialogues:
            raise UserInputError(f"split {name!r} of {refs_path} has no referring expression")
        built.append((name, dialogues, skipped))
    results = []
    for name, dialogues, skipped in built:
        path = (
            Path(out_path) if split is not None else Path(out_path) / split_file_name(dataset, name)
        )
        write_dialogues(path, dialogues)
        results.append(BuildResult(path, compute_stats(dialogues), dict(skipped)))
    return results


__all__ = [
    "OUTPUT_SUFFIX",
    "UMD_SPLITS",
    "UNC_SPLITS",
    "build_refcoco_single_round",
    "iter_single_round_dialogues",
    "split_file_name",
    "standard_splits",
]
