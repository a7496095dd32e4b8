"""Scoring a run: read, merge and score the rows of one run directory (or of the shard
directories of one run) into the ``metrics.json`` dict (DESIGN 3.4).

:func:`score_run` reads the rows (:mod:`regionreasoner.evaluation.predictions`), the
settings (:mod:`regionreasoner.evaluation.run_dir`) and, when it can be found, the data
file, and scores every turn (:func:`~regionreasoner.evaluation.accumulators.score_row`).
:func:`compute_metrics` turns a :class:`ScoredRun` into ``metrics.json``: the DESIGN 3.4
schema (``overall``, ``rounds``, ``protocol``, ``reference_policy``) plus extra keys
(``acc@0.5_top1``, ``pass@0.3``..., ``relations``, ``sizes``, ``failed_turns``,
``backend``, ``model``, ``prompt``, ``segmenter``, ``benchmark``..., ``text_lost`` and
``unavailable``: the metrics reported as null because the server dropped part of the
completions, each with its reason).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regionreasoner.data.io import read_dialogues
from regionreasoner.data.schema import Dialogue, Turn
from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.evaluation.accumulators import (
    TEXT_METRIC_KEYS,
    MetricsAccumulator,
    RoundAccumulator,
    TurnScore,
    TurnTruth,
    score_row,
)
from regionreasoner.evaluation.predictions import read_prediction_rows
from regionreasoner.evaluation.published import detect_benchmark
from regionreasoner.evaluation.run_dir import (
    CONFIG_FILE,
    PREDICTIONS_FILE,
    RunSettings,
    load_run_settings,
    merge_settings,
    predictions_paths,
)

logger = logging.getLogger(__name__)

NO_RELATION = "no reference"
"""``metrics.json`` ``relations`` key of the turns that cite no earlier region."""

UNNAMED_RELATION = "unnamed"
"""``relations`` key of turns that cite a region but whose data names no relation."""

SMALL_AREA = 32**2
"""COCO's upper bound (pixels, exclusive) of a ``small`` object; here the target box's area."""

MEDIUM_AREA = 96**2
"""COCO's upper bound (pixels, exclusive) of a ``medium`` object."""

SIZE_CLASSES = ("small", "medium", "large")
"""``metrics.json`` ``sizes`` keys, smallest first."""


def _resolve_data_path(
    data_path: str | os.PathLike[str] | None, settings: RunSettings, run_dirs: Sequence[Path]
) -> Path | None:
    if data_path is not None:
        path = Path(data_path)
        if not path.is_file():
            raise UserInputError(f"{path}: data file not found")
        return path
    if not settings.data:
        return None
    candidates = [Path(settings.data), *(d / settings.data for d in run_dirs)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    logger.warning(
        "the data file %s named in %s was not found; pass --data to score rows "
        "without stored ground truth and to draw the gallery",
        settings.data,
        CONFIG_FILE,
    )
    return None


@dataclass(frozen=True, slots=True)
class ScoredRun:
    """Rows, their scores and the context the reports need."""

    rows: tuple[dict[str, Any], ...]
    scores: tuple[TurnScore, ...]
    dialogues: Mapping[str, Dialogue] | None
    data_path: Path | None
    settings: RunSettings
    run_dirs: tuple[Path, ...]
    shards: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)


def data_turn(row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None) -> Turn | None:
    """The data file's turn of a row, or ``None`` (no data file, or no such turn in it)."""
    if dialogues is None:
        return None
    dialogue = dialogues.get(str(row["dialogue_id"]))
    if dialogue is None or row["turn_index"] >= len(dialogue.turns):
        return None
    return dialogue.turns[row["turn_index"]]


def _truth(row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None) -> TurnTruth | None:
    turn = data_turn(row, dialogues)
    return None if turn is None else TurnTruth.from_turn(turn)


def _reference_missing(row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None) -> bool:
    if "reference_missing" in row:
        return bool(row["reference_missing"])
    turn = data_turn(row, dialogues)
    return turn is not None and turn.has_reference and row.get("reference_bbox") is None


def score_run(
    run_dirs: Sequence[str | os.PathLike[str]], data_path: str | os.PathLike[str] | None = None
) -> ScoredRun:
    """Read, merge and score the predictions of one run (one or several shard dirs).

    Raises:
        UserInputError: a directory is not a run directory, shards disagree, or the
            data file is missing.
        DataFormatError: a bad row, named by file, dialogue and turn.
    """
    if not run_dirs:
        raise UserInputError("no run directory given")
    dirs = tuple(Path(d) for d in run_dirs)
    all_settings = [load_run_settings(d) for d in dirs]
    settings = merge_settings(all_settings, dirs)
    read = read_prediction_rows(predictions_paths(dirs))
    resolved_data = _resolve_data_path(data_path, settings, dirs)
    dialogues = None
    if resolved_data is not None:
        dialogues = {d.dialogue_id: d for d in read_dialogues(resolved_data)}

    where = ", ".join(str(d / PREDICTIONS_FILE) for d in dirs)
    scores = []
    for row in read.rows:
        truth = _truth(row, dialogues)
        if row.get("gt_bboxes") is None and truth is None and dialogues is not None:
            raise DataFormatError(
                f"no stored ground truth and no such turn in the data file {resolved_data}",
                path=where,
                record=f"dialogue {row['dialogue_id']} turn {row['turn_index']}",
                field="gt_bboxes",
            )
        try:
            scores.append(score_row(row, truth, segmentation=settings.segmentation))
        except DataFormatError as e:
            raise DataFormatError(e.message, path=where, record=e.record, field=e.field) from e

    counts = {
        "duplicate_rows": read.duplicates,
        "incomplete_rows": read.incomplete,
        "torn_lines": read.torn_lines,
        "missing_references": sum(_reference_missing(r, dialogues) for r in read.rows),
    }
    shards = tuple(s.shard for s in all_settings if s.shard)
    return ScoredRun(
        read.rows, tuple(scores), dialogues, resolved_data, settings, dirs, shards, counts
    )


def _detect_run_benchmark(run: ScoredRun) -> str | None:
    if run.dialogues is not None:
        ids = {str(r["dialogue_id"]) for r in run.rows}
        found = {detect_benchmark(run.dialogues[i].source) for i in ids if i in run.dialogues}
        return found.pop() if len(found) == 1 else None
    for name in (run.settings.data_source, run.settings.data):
        benchmark = detect_benchmark(name)
        if benchmark is not None:
            return benchmark
    return None


def _relation_of(row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None) -> str | None:
    """The relation a turn's question asks about, or ``None`` when it is not known."""
    if "relation" in row:
        relation, refers_to = row["relation"], row.get("refers_to")
    else:  # rows written before the relation was stored: look the turn up in the data
        turn = data_turn(row, dialogues)
        if turn is None:
            return None
        relation, refers_to = turn.relation, turn.refers_to
    if relation:
        return str(relation)
    return NO_RELATION if refers_to is None else UNNAMED_RELATION


def _target_area(row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None) -> float | None:
    """Area in original pixels of the turn's first ground-truth box, ``None`` if unknown."""
    boxes = row.get("gt_bboxes")
    if not boxes:
        truth = _truth(row, dialogues)
        boxes = truth.gt_xyxy if truth is not None else None
    if not boxes:
        return None
    x1, y1, x2, y2 = (float(v) for v in boxes[0])
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def size_of(area: float) -> str:
    """COCO's size class of an area in pixels: ``small``, ``medium`` or ``large``."""
    if area < SMALL_AREA:
        return "small"
    return "medium" if area < MEDIUM_AREA else "large"


def _size_key(row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None) -> str | None:
    area = _target_area(row, dialogues)
    return None if area is None else size_of(area)


_BREAKDOWN_KEYS: Mapping[
    str, Callable[[Mapping[str, Any], Mapping[str, Dialogue] | None], str | None]
] = {"relations": _relation_of, "sizes": _size_key}
"""``metrics.json`` entries that split the turns by a property of the turn."""


def breakdown_metrics(run: ScoredRun, name: str) -> dict[str, dict[str, Any]]:
    """The metrics of each group of turns of one breakdown (``relations`` or ``sizes``).

    ``relations``: keyed by the data's relation name (``above``, ``closest_to``, ...), plus
    :data:`NO_RELATION` for turns that cite no earlier region and
    :data:`UNNAMED_RELATION` for turns that cite one without naming the relation.
    ``sizes``: keyed by the COCO size class of the first ground-truth box (``small``
    below :data:`SMALL_AREA` pixels, ``medium`` below :data:`MEDIUM_AREA`, ``large``).
    Empty when some turn's group is unknown (old rows scored without the data file).
    """
    key_of = _BREAKDOWN_KEYS[name]
    accumulators: dict[str, RoundAccumulator] = {}
    for row, score in zip(run.rows, run.scores, strict=True):
        key = key_of(row, run.dialogues)
        if key is None:
            return {}
        accumulators.setdefault(key, RoundAccumulator()).update(score)
    return {key: accumulators[key].compute() for key in sorted(accumulators)}


def unavailable_text_metrics(
    overall: Mapping[str, Any], text_lost: Mapping[str, int]
) -> dict[str, str]:
    """``{metric: reason}`` for the text metrics a run cannot report (``{}`` if none).

    Args:
        overall: the ``overall`` metrics (``turns``, ``text_lost_turns``).
        text_lost: turns per ``text_lost`` cause.
    """
    lost = overall.get("text_lost_turns") or 0
    if not lost:
        return {}
    causes = ", ".join(sorted(text_lost))
    reason = (
        f"{lost} of {overall['turns']} turns lack part of their completion: the server "
        f"dropped it (text_lost: {causes} in {PREDICTIONS_FILE}); this metric needs the "
        "whole text, so it is null, not 0"
    )
    return dict.fromkeys(TEXT_METRIC_KEYS, reason)


def compute_metrics(run: ScoredRun) -> dict[str, Any]:
    """The ``metrics.json`` dict of a scored run."""
    metrics = MetricsAccumulator().update_all(run.scores).compute()
    settings = run.settings
    sources = Counter(str(r.get("reference_source") or "none") for r in run.rows)
    lost = Counter(str(r["text_lost"]) for r in run.rows if r.get("text_lost"))
    text_lost = dict(sorted(lost.items()))
    data = str(run.data_path) if run.data_path is not None else settings.data
    return {
        "overall": metrics["overall"],
        "rounds": metrics["rounds"],
        **{name: breakdown_metrics(run, name) for name in _BREAKDOWN_KEYS},
        "protocol": settings.protocol,
        "reference_policy": settings.reference_policy,
        "backend": settings.backend,
        "model": settings.model,
        "prompt": settings.prompt,
        "segmenter": settings.segmenter,
        "data": data,
        "benchmark": _detect_run_benchmark(run),
        "dialogues": len({str(r["dialogue_id"]) for r in run.rows}),
        "failed_turns": metrics["overall"]["failed_turns"],
        "reference_sources": dict(sorted(sources.items())),
        "text_lost": text_lost,
        "unavailable": unavailable_text_metrics(metrics["overall"], text_lost),
        **run.counts,
        "run_dirs": [str(d) for d in run.run_dirs],
        "shards": list(run.shards) or None,
    }


__all__ = [
    "MEDIUM_AREA",
    "NO_RELATION",
    "SIZE_CLASSES",
    "SMALL_AREA",
    "UNNAMED_RELATION",
    "ScoredRun",
    "breakdown_metrics",
    "compute_metrics",
    "data_turn",
    "score_run",
    "size_of",
    "unavailable_text_metrics",
]
