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
completions, each with its reason), and the evaluation science of
:mod:`~regionreasoner.evaluation.bootstrap` and
:mod:`~regionreasoner.evaluation.propagation`:

- ``acc@0.5_ci``, ``gIoU_ci`` and ``cIoU_ci`` beside the metric in ``overall`` and in
  every entry of ``rounds``, ``relations`` and ``sizes`` (bootstrap over dialogues, the
  settings recorded under ``bootstrap``);
- ``given_reference_hit``, ``given_reference_miss`` and ``errors_with_wrong_reference``
  in every round >= 2.

The intervals and the split are functions of the merged rows, so ``score`` recomputes
them whenever it rescored a run (shards are merged first).
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
from regionreasoner.evaluation.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    DialogueTable,
    TurnEntry,
    attach_intervals,
    bootstrap_intervals,
    dialogue_table,
    turn_groups,
)
from regionreasoner.evaluation.predictions import read_prediction_rows
from regionreasoner.evaluation.propagation import attach_reference_split, reference_split
from regionreasoner.evaluation.published import detect_benchmark
from regionreasoner.evaluation.run_dir import (
    CONFIG_FILE,
    PREDICTIONS_FILE,
    RunSettings,
    merge_settings,
    predictions_paths,
    require_run_dir,
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

BOOTSTRAP_UNIT = "dialogue"
"""What the bootstrap of ``metrics.json`` resamples (recorded under ``bootstrap``)."""


@dataclass(frozen=True, slots=True)
class BootstrapSettings:
    """How the intervals of ``metrics.json`` are drawn (recorded there as ``bootstrap``).

    Attributes:
        resamples: bootstrap resamples.
        seed: seed of the resampling.
        confidence: coverage of the percentile intervals.
    """

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    confidence: float = DEFAULT_CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` ``bootstrap`` entry."""
        return {
            "resamples": self.resamples,
            "seed": self.seed,
            "confidence": self.confidence,
            "unit": BOOTSTRAP_UNIT,
        }


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
    config: Mapping[str, Any] = field(default_factory=dict)
    """The first run directory's ``config.json``, as written (the card reads it)."""


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
    configs = [require_run_dir(d) for d in dirs]
    all_settings = [RunSettings.from_config(c) for c in configs]
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
        read.rows,
        tuple(scores),
        dialogues,
        resolved_data,
        settings,
        dirs,
        shards,
        counts,
        configs[0],
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


def breakdown_keys(run: ScoredRun, name: str) -> list[str] | None:
    """Each row's group of one breakdown (``relations`` or ``sizes``), in row order.

    ``relations``: the data's relation name (``above``, ``closest_to``, ...), or
    :data:`NO_RELATION` for a turn that cites no earlier region and
    :data:`UNNAMED_RELATION` for one that cites a region without naming the relation.
    ``sizes``: the COCO size class of the first ground-truth box (``small`` below
    :data:`SMALL_AREA` pixels, ``medium`` below :data:`MEDIUM_AREA`, ``large``).
    ``None`` when some row's group is unknown (old rows scored without the data file).
    """
    key_of = _BREAKDOWN_KEYS[name]
    keys = []
    for row in run.rows:
        key = key_of(row, run.dialogues)
        if key is None:
            return None
        keys.append(key)
    return keys


def breakdown_metrics(run: ScoredRun, name: str) -> dict[str, dict[str, Any]]:
    """The metrics of each group of turns of one breakdown (``relations`` or ``sizes``),
    keyed as :func:`breakdown_keys` says; empty when some turn's group is unknown."""
    keys = breakdown_keys(run, name)
    return _breakdown_metrics(run, keys)


def _breakdown_metrics(run: ScoredRun, keys: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    if keys is None:
        return {}
    accumulators: dict[str, RoundAccumulator] = {}
    for key, score in zip(keys, run.scores, strict=True):
        accumulators.setdefault(key, RoundAccumulator()).update(score)
    return {key: accumulators[key].compute() for key in sorted(accumulators)}


def _table(run: ScoredRun, keys: Mapping[str, Sequence[str] | None]) -> DialogueTable:
    relations, sizes = keys["relations"], keys["sizes"]
    return dialogue_table(
        TurnEntry(
            str(row["dialogue_id"]),
            score,
            turn_groups(
                score,
                relation=None if relations is None else relations[i],
                size=None if sizes is None else sizes[i],
            ),
        )
        for i, (row, score) in enumerate(zip(run.rows, run.scores, strict=True))
    )


def run_table(run: ScoredRun) -> DialogueTable:
    """The per-dialogue statistics of every group of turns ``metrics.json`` reports (all
    turns, each round, rounds 2+, each relation and size class): what the intervals of
    :func:`compute_metrics` and the paired comparisons of ``compare`` resample."""
    return _table(run, {name: breakdown_keys(run, name) for name in _BREAKDOWN_KEYS})


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


def compute_metrics(run: ScoredRun, bootstrap: BootstrapSettings | None = None) -> dict[str, Any]:
    """The ``metrics.json`` dict of a scored run.

    Args:
        run: the scored rows.
        bootstrap: how the intervals are drawn (default :class:`BootstrapSettings`).
    """
    bootstrap = bootstrap or BootstrapSettings()
    metrics = MetricsAccumulator().update_all(run.scores).compute()
    settings = run.settings
    sources = Counter(str(r.get("reference_source") or "none") for r in run.rows)
    lost = Counter(str(r["text_lost"]) for r in run.rows if r.get("text_lost"))
    text_lost = dict(sorted(lost.items()))
    data = str(run.data_path) if run.data_path is not None else settings.data
    keys = {name: breakdown_keys(run, name) for name in _BREAKDOWN_KEYS}
    intervals = bootstrap_intervals(
        _table(run, keys),
        resamples=bootstrap.resamples,
        seed=bootstrap.seed,
        confidence=bootstrap.confidence,
    )
    measured = attach_intervals(
        {
            "overall": metrics["overall"],
            "rounds": metrics["rounds"],
            **{name: _breakdown_metrics(run, keys[name]) for name in _BREAKDOWN_KEYS},
        },
        intervals,
    )
    measured = attach_reference_split(
        measured, reference_split(run.rows, run.scores, run.dialogues)
    )
    return {
        **measured,
        "bootstrap": bootstrap.to_dict(),
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
    "BOOTSTRAP_UNIT",
    "MEDIUM_AREA",
    "NO_RELATION",
    "SIZE_CLASSES",
    "SMALL_AREA",
    "UNNAMED_RELATION",
    "BootstrapSettings",
    "ScoredRun",
    "breakdown_keys",
    "breakdown_metrics",
    "compute_metrics",
    "data_turn",
    "run_table",
    "score_run",
    "size_of",
    "unavailable_text_metrics",
]
