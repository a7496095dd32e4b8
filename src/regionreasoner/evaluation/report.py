"""Scoring a run directory and writing its reports (DESIGN 3.3, 3.4).

:func:`write_reports` reads ``predictions.jsonl`` of one run directory, or of several
shard directories of one run (merged; their ``config.json`` must agree on protocol,
reference policy, model, data, prompt and segmenter), scores every turn and writes:

- ``metrics.json``: the DESIGN 3.4 schema (``overall``, ``rounds``, ``protocol``,
  ``reference_policy``) plus extra keys (``acc@0.5_top1``, ``pass@0.3``...,
  ``failed_turns``, ``backend``, ``model``, ``prompt``, ``segmenter``, ``benchmark``...,
  ``text_lost`` and ``unavailable``: the metrics reported as null because the server
  dropped part of the completions, each with its reason).
- ``report.md``: the per-round tables shaped like the paper's Tables 1-2 (percent, one
  decimal), a header with the settings, the paper's published numbers beside the
  measured ones when the data is RegionDial-Bench, and notes.
- ``rounds.png``: acc@0.5 and gIoU per round with turn counts.
- ``report.html``: the same tables, the plot, and a gallery of sampled dialogues.

Everything is written through :func:`regionreasoner.fileio.atomic_write`.
"""

from __future__ import annotations

import base64
import html
import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regionreasoner.data.io import read_dialogues, resolve_image_path
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
from regionreasoner.evaluation.gallery import GalleryTurn, render_dialogue, sample_dialogue_ids
from regionreasoner.evaluation.metrics import IOU_HIT_THRESHOLD, PASS_THRESHOLDS, pass_rate_key
from regionreasoner.evaluation.predictions import read_prediction_rows
from regionreasoner.evaluation.published import (
    BENCHMARK_TITLES,
    DETECTION,
    PUBLISHED_ROUNDS,
    SEGMENTATION,
    TURN_COUNTS,
    PublishedTable,
    detect_benchmark,
)
from regionreasoner.evaluation.run_dir import (
    CONFIG_FILE,
    METRICS_FILE,
    NO_SEGMENTER,
    PREDICTIONS_FILE,
    REPORT_HTML_FILE,
    REPORT_MD_FILE,
    ROUNDS_PNG_FILE,
    RunSettings,
    load_run_settings,
    merge_settings,
    predictions_paths,
    write_json,
)
from regionreasoner.fileio import atomic_write

logger = logging.getLogger(__name__)

DEFAULT_GALLERY_DIALOGUES = 8
"""Dialogues drawn in the ``report.html`` gallery."""

DEFAULT_GALLERY_SEED = 0
"""Seed of the gallery's dialogue sample."""

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


def _data_turn(row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None) -> Turn | None:
    """The data file's turn of a row, or ``None`` (no data file, or no such turn in it)."""
    if dialogues is None:
        return None
    dialogue = dialogues.get(str(row["dialogue_id"]))
    if dialogue is None or row["turn_index"] >= len(dialogue.turns):
        return None
    return dialogue.turns[row["turn_index"]]


def _truth(row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None) -> TurnTruth | None:
    turn = _data_turn(row, dialogues)
    return None if turn is None else TurnTruth.from_turn(turn)


def _reference_missing(row: Mapping[str, Any], dialogues: Mapping[str, Dialogue] | None) -> bool:
    if "reference_missing" in row:
        return bool(row["reference_missing"])
    turn = _data_turn(row, dialogues)
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
        turn = _data_turn(row, dialogues)
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


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class _Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    emphasized: frozenset[int] = frozenset()
    numeric: bool = True

    def to_markdown(self) -> str:
        align = "---:" if self.numeric else "---"
        lines = [
            "| " + " | ".join(self.header) + " |",
            "|" + "|".join("---" if i == 0 else align for i in range(len(self.header))) + "|",
        ]
        for index, row in enumerate(self.rows):
            cells = [f"**{c}**" if index in self.emphasized and c else c for c in row]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.header)
        body = "".join(
            f'<tr class="{"measured" if i in self.emphasized else ""}">'
            + "".join(f"<td>{html.escape(c)}</td>" for c in row)
            + "</tr>"
            for i, row in enumerate(self.rows)
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _round_numbers(metrics: Mapping[str, Any]) -> list[int]:
    return sorted(int(r) for r in metrics["rounds"])


def _measured_row(metrics: Mapping[str, Any], label: str, key: str) -> tuple[str, ...]:
    rounds = _round_numbers(metrics)
    values = [_pct(metrics["rounds"][str(r)].get(key)) for r in rounds]
    return (label, *values, _pct(metrics["overall"].get(key)))


def _count_row(metrics: Mapping[str, Any], label: str, key: str) -> tuple[str, ...]:
    rounds = _round_numbers(metrics)
    values = [str(metrics["rounds"][str(r)][key]) for r in rounds]
    return (label, *values, str(metrics["overall"][key]))


def _published_rows(metrics: Mapping[str, Any], table: PublishedTable) -> list[tuple[str, ...]]:
    rounds = _round_numbers(metrics)
    rows = []
    for row in table.rows:
        values = [row.round_value(r) for r in rounds]
        rows.append(
            (
                f"{row.method} (paper, {table.source})",
                *("—" if v is None else f"{v:.1f}" for v in values),
                f"{row.avg:.1f}",
            )
        )
    return rows


def _header(metrics: Mapping[str, Any], first: str) -> tuple[str, ...]:
    return (first, *(f"R{r}" for r in _round_numbers(metrics)), "Avg")


def round_table(metrics: Mapping[str, Any]) -> _Table:
    """The measured per-round table (rounds as columns, percent), printed by ``score``."""
    rows = [
        _measured_row(metrics, f"acc@{IOU_HIT_THRESHOLD:g} (any hit)", "acc@0.5"),
        _measured_row(metrics, f"acc@{IOU_HIT_THRESHOLD:g} (top-1)", "acc@0.5_top1"),
        _measured_row(metrics, "gIoU", "gIoU"),
        _measured_row(metrics, "cIoU", "cIoU"),
        _measured_row(metrics, "format ok", "format_ok"),
        _measured_row(metrics, "reference cited", "citation_rate"),
        _measured_row(metrics, "hallucinated citation", "hallucinated_citation_rate"),
        _count_row(metrics, "turns", "turns"),
        _count_row(metrics, "failed turns", "failed_turns"),
    ]
    return _Table(_header(metrics, "metric (%)"), tuple(rows))


def format_round_table(metrics: Mapping[str, Any]) -> str:
    """:func:`round_table` as Markdown (what ``regionreasoner score`` prints)."""
    return round_table(metrics).to_markdown()


def _turn_count_rows(metrics: Mapping[str, Any], benchmark: str | None) -> list[tuple[str, ...]]:
    rows = [_count_row(metrics, "turns (this run)", "turns")]
    if benchmark is not None:
        counts = TURN_COUNTS[benchmark]
        rounds = _round_numbers(metrics)
        rows.append(
            (
                "turns (paper, Table 6)",
                *(str(counts[r - 1]) if r <= len(counts) else "—" for r in rounds),
                str(sum(counts)),
            )
        )
    return rows


def detection_table(metrics: Mapping[str, Any], benchmark: str | None) -> _Table:
    """acc@0.5 per round, measured and (for RegionDial-Bench) published."""
    rows = [
        _measured_row(metrics, "this run: acc@0.5 (any hit)", "acc@0.5"),
        _measured_row(metrics, "this run: acc@0.5 (top-1)", "acc@0.5_top1"),
    ]
    if benchmark is not None:
        rows += _published_rows(metrics, DETECTION[benchmark])
    rows += _turn_count_rows(metrics, benchmark)
    return _Table(_header(metrics, "method"), tuple(rows), frozenset({0, 1}))


def segmentation_table(metrics: Mapping[str, Any], benchmark: str | None) -> _Table:
    """gIoU and cIoU per round, measured and (for RegionDial-Bench) published gIoU."""
    rows = [
        _measured_row(metrics, "this run: gIoU", "gIoU"),
        _measured_row(metrics, "this run: cIoU", "cIoU"),
    ]
    if benchmark is not None:
        rows += _published_rows(metrics, SEGMENTATION[benchmark])
    rows.append(_count_row(metrics, "turns with masks (this run)", "segmentation_turns"))
    return _Table(_header(metrics, "method"), tuple(rows), frozenset({0, 1}))


def pass_rate_table(metrics: Mapping[str, Any]) -> _Table:
    """Mask-IoU pass rates per round."""
    rows = [_measured_row(metrics, f"mask IoU > {t:g}", pass_rate_key(t)) for t in PASS_THRESHOLDS]
    return _Table(_header(metrics, "pass rate (%)"), tuple(rows))


def behaviour_table(metrics: Mapping[str, Any]) -> _Table:
    """Format validity, reference citation and failures per round."""
    rows = [
        _measured_row(metrics, "format ok", "format_ok"),
        _measured_row(metrics, "reference cited in think", "citation_rate"),
        _measured_row(metrics, "hallucinated citation", "hallucinated_citation_rate"),
        _count_row(metrics, "turns with a reference", "reference_turns"),
        _count_row(metrics, "failed turns", "failed_turns"),
    ]
    return _Table(_header(metrics, "rate (%)"), tuple(rows))


def _breakdown_table(
    entries: Mapping[str, Mapping[str, Any]], first: str, order: Sequence[str]
) -> _Table:
    rows = [
        (
            name,
            str(entries[name]["turns"]),
            _pct(entries[name].get("acc@0.5")),
            _pct(entries[name].get("gIoU")),
            _pct(entries[name].get("citation_rate")),
        )
        for name in order
    ]
    header = (first, "turns", f"acc@{IOU_HIT_THRESHOLD:g}", "gIoU", "reference cited")
    return _Table(header, tuple(rows))


def relation_table(metrics: Mapping[str, Any]) -> _Table | None:
    """acc@0.5, gIoU and citation rate per relation, most frequent first.

    ``None`` when the run has no per-relation metrics or only turns without a reference.
    """
    relations: Mapping[str, Mapping[str, Any]] = metrics.get("relations") or {}
    if not set(relations) - {NO_RELATION}:
        return None
    order = sorted(
        relations, key=lambda name: (name == NO_RELATION, -relations[name]["turns"], name)
    )
    return _breakdown_table(relations, "relation", order)


def size_table(metrics: Mapping[str, Any]) -> _Table | None:
    """acc@0.5, gIoU and citation rate per COCO size class; ``None`` without sizes."""
    sizes: Mapping[str, Mapping[str, Any]] = metrics.get("sizes") or {}
    if not sizes:
        return None
    order = [name for name in SIZE_CLASSES if name in sizes]
    return _breakdown_table(sizes, "target box size", order)


def settings_table(metrics: Mapping[str, Any]) -> _Table:
    """The run's settings, one per row."""
    benchmark = metrics.get("benchmark")
    data = str(metrics.get("data") or "unknown")
    if benchmark:
        data += f" (RegionDial-Bench, {BENCHMARK_TITLES[benchmark]})"
    rows = [
        ("protocol", str(metrics.get("protocol") or "unknown")),
        ("reference policy", str(metrics.get("reference_policy") or "unknown")),
        (
            "backend / model",
            f"{metrics.get('backend') or 'unknown'} / {metrics.get('model') or 'unknown'}",
        ),
        ("prompt", str(metrics.get("prompt") or "unknown")),
        ("segmenter", str(metrics.get("segmenter") or "unknown")),
        ("data", data),
        (
            "scored",
            f"{metrics['overall']['turns']} turns in {metrics['dialogues']} dialogues "
            f"from {len(metrics['run_dirs'])} run director"
            f"{'y' if len(metrics['run_dirs']) == 1 else 'ies'}",
        ),
    ]
    return _Table(("setting", "value"), tuple(rows), numeric=False)


def _segmentation_unavailable(metrics: Mapping[str, Any]) -> str | None:
    if metrics["overall"]["segmentation_turns"] > 0:
        return None
    if metrics.get("segmenter") == NO_SEGMENTER:
        return "Segmentation metrics are not available: the run used `--segmenter none`."
    return (
        "Segmentation metrics are not available: no turn has mask counts (detection-only "
        "data without GT masks, or no predicted masks); gIoU and cIoU are null, not 0."
    )


def report_notes(metrics: Mapping[str, Any]) -> list[str]:
    """Plain-text notes under the tables (definitions, failures, references, caveats)."""
    overall = metrics["overall"]
    notes = [
        f'acc@{IOU_HIT_THRESHOLD:g} (the paper\'s "AP"): a turn scores 1 when ANY predicted box '
        f"has IoU > {IOU_HIT_THRESHOLD:g} (strictly) with the turn's FIRST ground-truth box "
        "(continuous IoU); the top-1 variant uses only the first predicted box.",
        "gIoU = mean over turns of mask I/U (0 when U = 0); cIoU = sum I / sum U; both use "
        "the FIRST ground-truth mask of a turn, as the released evaluation code does. Pass "
        "rates count turns whose mask IoU is strictly above the threshold.",
        "Rounds come from the stored turn_index (R1 = turn_index 0); Avg pools all turns "
        "(the paper's Avg is the same turn-weighted mean).",
    ]
    failed = metrics["failed_turns"]
    notes.append(
        f"Failed turns (backend failure after retries): {failed} of {overall['turns']}, "
        "scored as misses (acc 0, I = 0, U = |GT|)."
        if failed
        else "No failed turns."
    )
    unavailable = metrics.get("unavailable") or {}
    if unavailable:
        names = ", ".join(unavailable)
        notes.append(
            f"Unavailable (n/a): {names}. {next(iter(unavailable.values()))}. See "
            "docs/evaluation.md, 'Serving a model for a faithful evaluation'."
        )
    sources = metrics.get("reference_sources") or {}
    if sources:
        listed = ", ".join(f"{k}: {v}" for k, v in sources.items())
        notes.append(f"Reference sources of the scored turns: {listed}.")
    if sources.get("fallback_gt"):
        notes.append(
            f"{sources['fallback_gt']} turn(s) received the ground-truth reference "
            "because the referenced turn predicted nothing (the official protocol's "
            "fallback): these turns leak ground truth."
        )
    missing = metrics.get("missing_references") or 0
    if missing:
        notes.append(
            f"{missing} turn(s) were asked with their reference marked missing (the "
            "referenced turn predicted nothing); they are scored normally."
        )
    for key, text in (
        (
            "duplicate_rows",
            "duplicate prediction rows were replaced by a later row of the same turn",
        ),
        ("incomplete_rows", "incomplete prediction rows were skipped"),
        ("torn_lines", "torn last lines (interrupted writes) were ignored"),
    ):
        if metrics.get(key):
            notes.append(f"{metrics[key]} {text}.")
    if metrics.get("benchmark"):
        notes.append(
            "Published numbers are copied from the paper (Tables 1, 2 and 6); the paper "
            "never reports cIoU. The released evaluation code injects references in "
            "original-image pixels with a ground-truth fallback (this project's `official` "
            "protocol); whether the published numbers were produced exactly that way is "
            "not documented."
        )
        if [int(r) for r in metrics["rounds"]] != list(range(1, PUBLISHED_ROUNDS + 1)):
            notes.append(
                "This run does not cover exactly R1..R7, so its Avg pools other rounds than "
                "the published Avg (which pools all turns of R1..R7)."
            )
    return notes


def _breakdown_tables(metrics: Mapping[str, Any]) -> list[tuple[str, _Table]]:
    """The report's per-relation and per-size tables that the run has data for."""
    tables = [
        ("By relation (%, all rounds)", relation_table(metrics)),
        (
            f"By target box size (%, all rounds; COCO: small < {SMALL_AREA}, "
            f"medium < {MEDIUM_AREA} pixels)",
            size_table(metrics),
        ),
    ]
    return [(title, table) for title, table in tables if table is not None]


def render_markdown(metrics: Mapping[str, Any]) -> str:
    """The ``report.md`` text."""
    benchmark = metrics.get("benchmark")
    parts = [
        f"# Evaluation report: {metrics.get('model') or 'unknown model'}",
        "",
        settings_table(metrics).to_markdown(),
        "",
    ]
    if not metrics["rounds"]:
        parts += ["No turns were scored.", ""]
    else:
        parts += [
            "## Detection: acc@0.5 per round (%)",
            "",
            detection_table(metrics, benchmark).to_markdown(),
            "",
            "## Segmentation: gIoU and cIoU per round (%)",
            "",
        ]
        unavailable = _segmentation_unavailable(metrics)
        if unavailable:
            parts += [unavailable, ""]
        else:
            parts += [
                segmentation_table(metrics, benchmark).to_markdown(),
                "",
                "## Mask IoU pass rates per round (%)",
                "",
                pass_rate_table(metrics).to_markdown(),
                "",
            ]
        for title, table in _breakdown_tables(metrics):
            parts += [f"## {title}", "", table.to_markdown(), ""]
        parts += [
            "## Output format and reference citations per round (%)",
            "",
            behaviour_table(metrics).to_markdown(),
            "",
            f"![per-round curves]({ROUNDS_PNG_FILE})",
            "",
        ]
    parts += ["## Notes", "", *(f"- {n}" for n in report_notes(metrics)), ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------- html

_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.measured td { font-weight: bold; background: #eef5ff; }
.turns { display: flex; flex-wrap: wrap; gap: 12px; }
figure.turn { width: 330px; margin: 0; border: 1px solid #ddd; padding: 6px; }
figure.hit { border-top: 4px solid #14be3c; } figure.miss { border-top: 4px solid #e61e1e; }
.noimg { height: 120px; background: #f4f4f4; color: #888; display: flex;
         align-items: center; justify-content: center; font-size: 0.85em; }
.facts { font-size: 0.8em; color: #555; margin: 4px 0; } .question { font-weight: bold; }
dt { font-size: 0.75em; color: #777; text-transform: uppercase; margin-top: 4px; }
dd { margin: 0; font-size: 0.8em; white-space: pre-wrap; }
.legend span { margin-right: 1em; }
"""


def _gallery_html(run: ScoredRun, count: int, seed: int) -> str:
    if count <= 0 or not run.rows:
        return ""
    by_dialogue: dict[str, list[GalleryTurn]] = {}
    for row, score in zip(run.rows, run.scores, strict=True):
        dialogue = (run.dialogues or {}).get(str(row["dialogue_id"]))
        turn = (
            dialogue.turns[row["turn_index"]]
            if (dialogue is not None and row["turn_index"] < len(dialogue.turns))
            else None
        )
        gt_boxes = row.get("gt_bboxes") or ([list(t.bbox) for t in turn.targets] if turn else [])
        if isinstance(row.get("question"), str):
            question = row["question"]
        elif turn is not None:
            question = turn.render_question("[ref]" if row.get("reference_bbox") else None)
        else:
            question = str(row.get("prompt") or "")
        by_dialogue.setdefault(str(row["dialogue_id"]), []).append(
            GalleryTurn(row, score, question, gt_boxes[0] if gt_boxes else None)
        )
    sections = []
    for dialogue_id in sample_dialogue_ids(list(by_dialogue), count, seed):
        turns = sorted(by_dialogue[dialogue_id], key=lambda t: t.row["turn_index"])
        sections.append(render_dialogue(dialogue_id, turns, _image_path(run, dialogue_id)))
    legend = (
        '<p class="legend"><span style="color:#c9a800">&#9632; reference (dashed, '
        '"ref")</span><span style="color:#e61e1e">&#9632; prediction (boxes, mask)</span>'
        '<span style="color:#14be3c">&#9632; ground truth (first box)</span></p>'
    )
    return (
        f"<h2>Gallery ({len(sections)} of {len(by_dialogue)} dialogues, seed {seed})</h2>"
        + legend
        + "".join(sections)
    )


def _image_path(run: ScoredRun, dialogue_id: str) -> Path | None:
    if run.dialogues is None or run.data_path is None or dialogue_id not in run.dialogues:
        return None
    images_root = run.settings.images_root
    root = Path(images_root) if images_root else run.data_path.resolve().parent
    path = resolve_image_path(run.dialogues[dialogue_id], run.data_path, images_root)
    if not path.resolve().is_relative_to(root.resolve()):
        logger.warning("dialogue %s: image path %s escapes %s; not drawn", dialogue_id, path, root)
        return None
    return path


def render_html(metrics: Mapping[str, Any], png: bytes, gallery: str) -> str:
    """The self-contained ``report.html`` text."""
    benchmark = metrics.get("benchmark")
    title = f"Evaluation report: {metrics.get('model') or 'unknown model'}"
    body = [f"<h1>{html.escape(title)}</h1>", settings_table(metrics).to_html()]
    if metrics["rounds"]:
        body += [
            "<h2>Detection: acc@0.5 per round (%)</h2>",
            detection_table(metrics, benchmark).to_html(),
            "<h2>Segmentation: gIoU and cIoU per round (%)</h2>",
        ]
        unavailable = _segmentation_unavailable(metrics)
        if unavailable:
            body.append(f"<p>{html.escape(unavailable.replace('`', ''))}</p>")
        else:
            body += [
                segmentation_table(metrics, benchmark).to_html(),
                "<h2>Mask IoU pass rates per round (%)</h2>",
                pass_rate_table(metrics).to_html(),
            ]
        for title, table in _breakdown_tables(metrics):
            body += [f"<h2>{html.escape(title)}</h2>", table.to_html()]
        body += [
            "<h2>Output format and reference citations per round (%)</h2>",
            behaviour_table(metrics).to_html(),
            f'<img alt="per-round curves" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode("ascii")}">',
        ]
    else:
        body.append("<p>No turns were scored.</p>")
    body.append(
        "<h2>Notes</h2><ul>"
        + "".join(f"<li>{html.escape(n)}</li>" for n in report_notes(metrics))
        + "</ul>"
    )
    body.append(gallery)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_HTML_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


# --------------------------------------------------------------------------- entry


def write_reports(
    run_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str] | None = None,
    data_path: str | os.PathLike[str] | None = None,
    *,
    gallery_dialogues: int = DEFAULT_GALLERY_DIALOGUES,
    seed: int = DEFAULT_GALLERY_SEED,
) -> dict[str, Any]:
    """Score one run (one or several shard directories) and write its reports.

    Args:
        run_dirs: run directories of ``regionreasoner eval`` (shards of one run).
        out_dir: where to write; default the first run directory (in place).
        data_path: the benchmark JSONL; default the ``data`` of ``config.json``. Used
            for rows without stored ground truth, the gallery images and questions,
            and to recognise RegionDial-Bench data.
        gallery_dialogues: dialogues drawn in ``report.html`` (0: no gallery).
        seed: seed of the gallery sample.

    Returns:
        The ``metrics.json`` dict.

    Raises:
        UserInputError: bad directories, disagreeing shards, or a bad data file.
        DataFormatError: a bad prediction row.
    """
    run = score_run(run_dirs, data_path)
    metrics = compute_metrics(run)
    target = Path(out_dir) if out_dir is not None else run.run_dirs[0]
    target.mkdir(parents=True, exist_ok=True)

    from regionreasoner.evaluation.plots import render_rounds_png

    png = render_rounds_png(metrics, metrics.get("benchmark"))
    write_json(target / METRICS_FILE, metrics)
    with atomic_write(target / REPORT_MD_FILE) as handle:
        handle.write(render_markdown(metrics))
    with atomic_write(target / ROUNDS_PNG_FILE, "wb") as handle:
        handle.write(png)
    gallery = _gallery_html(run, gallery_dialogues, seed)
    with atomic_write(target / REPORT_HTML_FILE) as handle:
        handle.write(render_html(metrics, png, gallery))
    logger.debug(
        "wrote %s, %s, %s and %s to %s",
        METRICS_FILE,
        REPORT_MD_FILE,
        ROUNDS_PNG_FILE,
        REPORT_HTML_FILE,
        target,
    )
    return metrics


__all__ = [
    "CONFIG_FILE",
    "DEFAULT_GALLERY_DIALOGUES",
    "METRICS_FILE",
    "PREDICTIONS_FILE",
    "REPORT_HTML_FILE",
    "REPORT_MD_FILE",
    "ROUNDS_PNG_FILE",
    "RunSettings",
    "ScoredRun",
    "compute_metrics",
    "format_round_table",
    "load_run_settings",
    "merge_settings",
    "render_html",
    "render_markdown",
    "score_run",
    "unavailable_text_metrics",
    "write_reports",
]
