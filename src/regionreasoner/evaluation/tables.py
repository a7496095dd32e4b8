"""The tables and notes of a run's reports, built from its ``metrics.json`` dict.

Each builder returns a :class:`Table` (header, rows of text cells, rows to emphasise);
``report.md`` writes them with :meth:`Table.to_markdown`, ``report.html`` with the
``table`` macro of its template. Shaped like the paper's Tables 1-2: rounds as columns,
percent with one decimal, the published numbers beside the measured ones when the data
is RegionDial-Bench.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from regionreasoner.evaluation.metrics import IOU_HIT_THRESHOLD, PASS_THRESHOLDS, pass_rate_key
from regionreasoner.evaluation.published import (
    BENCHMARK_TITLES,
    DETECTION,
    PUBLISHED_ROUNDS,
    SEGMENTATION,
    TURN_COUNTS,
    PublishedTable,
)
from regionreasoner.evaluation.run_dir import NO_SEGMENTER
from regionreasoner.evaluation.scoring import MEDIUM_AREA, NO_RELATION, SIZE_CLASSES, SMALL_AREA


@dataclass(frozen=True, slots=True)
class Table:
    """One table of a report.

    Attributes:
        header: the column titles.
        rows: the cells, as text.
        emphasized: indices of the rows that are this run's measurements (bold).
        numeric: the columns after the first hold numbers (right-aligned).
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    emphasized: frozenset[int] = frozenset()
    numeric: bool = True

    def to_markdown(self) -> str:
        """A Markdown table (emphasised rows in bold)."""
        align = "---:" if self.numeric else "---"
        lines = [
            "| " + " | ".join(self.header) + " |",
            "|" + "|".join("---" if i == 0 else align for i in range(len(self.header))) + "|",
        ]
        for index, row in enumerate(self.rows):
            cells = [f"**{c}**" if index in self.emphasized and c else c for c in row]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


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


def round_table(metrics: Mapping[str, Any]) -> Table:
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
    return Table(_header(metrics, "metric (%)"), tuple(rows))


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


def detection_table(metrics: Mapping[str, Any], benchmark: str | None) -> Table:
    """acc@0.5 per round, measured and (for RegionDial-Bench) published."""
    rows = [
        _measured_row(metrics, "this run: acc@0.5 (any hit)", "acc@0.5"),
        _measured_row(metrics, "this run: acc@0.5 (top-1)", "acc@0.5_top1"),
    ]
    if benchmark is not None:
        rows += _published_rows(metrics, DETECTION[benchmark])
    rows += _turn_count_rows(metrics, benchmark)
    return Table(_header(metrics, "method"), tuple(rows), frozenset({0, 1}))


def segmentation_table(metrics: Mapping[str, Any], benchmark: str | None) -> Table:
    """gIoU and cIoU per round, measured and (for RegionDial-Bench) published gIoU."""
    rows = [
        _measured_row(metrics, "this run: gIoU", "gIoU"),
        _measured_row(metrics, "this run: cIoU", "cIoU"),
    ]
    if benchmark is not None:
        rows += _published_rows(metrics, SEGMENTATION[benchmark])
    rows.append(_count_row(metrics, "turns with masks (this run)", "segmentation_turns"))
    return Table(_header(metrics, "method"), tuple(rows), frozenset({0, 1}))


def pass_rate_table(metrics: Mapping[str, Any]) -> Table:
    """Mask-IoU pass rates per round."""
    rows = [_measured_row(metrics, f"mask IoU > {t:g}", pass_rate_key(t)) for t in PASS_THRESHOLDS]
    return Table(_header(metrics, "pass rate (%)"), tuple(rows))


def behaviour_table(metrics: Mapping[str, Any]) -> Table:
    """Format validity, reference citation and failures per round."""
    rows = [
        _measured_row(metrics, "format ok", "format_ok"),
        _measured_row(metrics, "reference cited in think", "citation_rate"),
        _measured_row(metrics, "hallucinated citation", "hallucinated_citation_rate"),
        _count_row(metrics, "turns with a reference", "reference_turns"),
        _count_row(metrics, "failed turns", "failed_turns"),
    ]
    return Table(_header(metrics, "rate (%)"), tuple(rows))


def _breakdown_table(
    entries: Mapping[str, Mapping[str, Any]], first: str, order: Sequence[str]
) -> Table:
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
    return Table(header, tuple(rows))


def relation_table(metrics: Mapping[str, Any]) -> Table | None:
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


def size_table(metrics: Mapping[str, Any]) -> Table | None:
    """acc@0.5, gIoU and citation rate per COCO size class; ``None`` without sizes."""
    sizes: Mapping[str, Mapping[str, Any]] = metrics.get("sizes") or {}
    if not sizes:
        return None
    order = [name for name in SIZE_CLASSES if name in sizes]
    return _breakdown_table(sizes, "target box size", order)


def settings_table(metrics: Mapping[str, Any]) -> Table:
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
    return Table(("setting", "value"), tuple(rows), numeric=False)


def segmentation_unavailable(metrics: Mapping[str, Any]) -> str | None:
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


def breakdown_tables(metrics: Mapping[str, Any]) -> list[tuple[str, Table]]:
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


__all__ = [
    "Table",
    "behaviour_table",
    "breakdown_tables",
    "detection_table",
    "format_round_table",
    "pass_rate_table",
    "relation_table",
    "report_notes",
    "round_table",
    "segmentation_table",
    "segmentation_unavailable",
    "settings_table",
    "size_table",
]
