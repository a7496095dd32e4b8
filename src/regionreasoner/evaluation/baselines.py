"""Reference baselines that need no model, for judging a model's per-round numbers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from regionreasoner.data.schema import Dialogue
from regionreasoner.evaluation.accumulators import round_of
from regionreasoner.evaluation.metrics import IOU_HIT_THRESHOLD
from regionreasoner.geometry.boxes import box_iou_batch


def image_objects_xyxy(dialogue: Dialogue) -> np.ndarray:
    """Every distinct object box of the dialogue's image, ``(K, 4)`` original pixels.

    Uses ``meta["objects"][*]["bbox"]`` when the builder recorded all objects of the
    image (synthetic data), otherwise the distinct target boxes of the dialogue's turns.
    """
    objects = dialogue.meta.get("objects") if isinstance(dialogue.meta, dict) else None
    if isinstance(objects, list) and objects:
        boxes = [o["bbox"] for o in objects if isinstance(o, dict) and "bbox" in o]
    else:
        boxes = [list(t.bbox) for turn in dialogue.turns for t in turn.targets]
    unique = {tuple(float(v) for v in b) for b in boxes}
    return np.array(sorted(unique), dtype=np.float64).reshape(-1, 4)


def random_object_accuracy(dialogues: Iterable[Dialogue]) -> dict[str, Any]:
    """Expected acc@0.5 of answering each turn with one of the image's objects at random.

    A perfect detector without any language understanding: per turn, the expected hit
    rate is the fraction of the image's objects whose box has IoU > 0.5 with the turn's
    first ground-truth box. Computed exactly (no sampling, so no seed is needed).

    Returns:
        ``{"overall": {"acc@0.5", "turns"}, "rounds": {"1": {...}, ...}}`` like
        ``metrics.json``.
    """
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for dialogue in dialogues:
        objects = image_objects_xyxy(dialogue)
        for turn in dialogue.turns:
            gt = np.asarray(turn.targets[0].bbox, dtype=np.float64)
            expected = (
                float((box_iou_batch(objects, gt)[:, 0] > IOU_HIT_THRESHOLD).mean())
                if len(objects)
                else 0.0
            )
            key = round_of(turn.turn_index)
            sums[key] = sums.get(key, 0.0) + expected
            counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    return {
        "overall": {
            "acc@0.5": sum(sums.values()) / total if total else None,
            "turns": total,
        },
        "rounds": {
            str(k): {"acc@0.5": sums[k] / counts[k], "turns": counts[k]} for k in sorted(counts)
        },
    }
