"""The tables and notes of a run's reports, built from its ``metrics.json`` dict.

Each builder returns a :class:`Table` (header, rows of text cells, rows to emphasise);
``report.md`` writes them with :meth:`Table.to_markdown`, ``report.html`` with the
``table`` macro of its template. Shaped like the paper's Tables 1-2: rounds as columns,
percent with one decimal, the published numbers beside the measured ones when the data
is RegionDial-Bench. A measured acc@0.5, gIoU or cIoU is written ``value [low, high]``
when ``metrics.json`` carries its bootstrap interval (``<metric>_ci``). The card
(``card.json``) is shown at the top of the report by :func:`card_tables`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from regionreasoner.evaluation.bootstrap import INTERVAL_METRICS, interval_key
from regionreasoner.evaluation.card import PROMPT_FROM_TEMPLATE
from regionreasoner.evaluation.metrics import IOU_HIT_THRESHOLD, PASS_THRESHOLDS, pass_rate_key
from regionreasoner.evaluation.propagation import (
    ERRORS_WITH_WRONG_REFERENCE,
    FIRST_PROPAGATED_ROUND,
    GIVEN_HIT,
    GIVEN_MISS,
)
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
from regionreasoner.provenance import PACKAGE_NAME


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


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def format_interval(interval: Sequence[float] | None) -> str:
    """``[low, high]`` in percent with one decimal, ``""`` without an interval.

    >>> format_interval([0.8012, 0.8391])
    '[80.1, 83.9]'
    """
    if not interval:
        return ""
    low, high = interval
    return f"[{100 * low:.1f}, {100 * high:.1f}]"


def measured_cell(entry: Mapping[str, Any], key: str) -> str:
    """A measured value in percent, followed by its interval when ``entry`` has one.

    >>> measured_cell({"acc@0.5": 0.81, "acc@0.5_ci": [0.8012, 0.8391]}, "acc@0.5")
    '81.0 [80.1, 83.9]'
    >>> measured_cell({"acc@0.5": None, "acc@0.5_ci": None}, "acc@0.5")
    'n/a'
    """
    value = _pct(entry.get(key))
    if key not in INTERVAL_METRICS or entry.get(key) is None:
        return value
    interval = format_interval(entry.get(interval_key(key)))
    return f"{value} {interval}" if interval else value


def _round_numbers(metrics: Mapping[str, Any]) -> list[int]:
    return sorted(int(r) for r in metrics["rounds"])


def _measured_row(metrics: Mapping[str, Any], label: str, key: str) -> tuple[str, ...]:
    rounds = _round_numbers(metrics)
    values = [measured_cell(metrics["rounds"][str(r)], key) for r in rounds]
    return (label, *values, measured_cell(metrics["overall"], key))


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
            measured_cell(entries[name], "acc@0.5"),
            measured_cell(entries[name], "gIoU"),
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


def propagation_table(metrics: Mapping[str, Any]) -> Table | None:
    """Rounds >= 2 split by whether the given reference was right: acc@0.5, gIoU and
    turns of each group, and the share of errors whose reference was already wrong.

    ``None`` when ``metrics.json`` has no split (a single-round run, or rows scored
    without knowing which turn each one cites).
    """
    rounds = [
        r
        for r in _round_numbers(metrics)
        if r >= FIRST_PROPAGATED_ROUND and GIVEN_HIT in metrics["rounds"][str(r)]
    ]
    if not rounds:
        return None
    entries = [metrics["rounds"][str(r)] for r in rounds]
    rows = []
    for group, label in ((GIVEN_HIT, "reference right"), (GIVEN_MISS, "reference wrong")):
        rows += [
            (f"{label}: acc@{IOU_HIT_THRESHOLD:g}", *(_pct(e[group]["acc@0.5"]) for e in entries)),
            (f"{label}: gIoU", *(_pct(e[group]["gIoU"]) for e in entries)),
            (f"{label}: turns", *(str(e[group]["turns"]) for e in entries)),
        ]
    rows.append(
        (
            "errors with a wrong reference",
            *(_pct(e.get(ERRORS_WITH_WRONG_REFERENCE)) for e in entries),
        )
    )
    header = ("given reference (%)", *(f"R{r}" for r in rounds))
    return Table(header, tuple(rows))


def card_tables(card: Mapping[str, Any]) -> list[Table]:
    """The reproducibility card (``card.json``) as tables: what produced the numbers,
    then, for a benchmark with published numbers, each published figure beside ours
    (with our interval) and the gap, in percent."""
    software, model, prompt, data = card["software"], card["model"], card["prompt"], card["data"]
    decoding = card["decoding"]
    revision = software.get("git_revision") or "not a git checkout"
    if software.get("git_dirty"):
        revision += " (uncommitted changes)"
    prompt_text = f"{prompt.get('name')} (sha256 {str(prompt.get('sha256') or 'n/a')[:12]})"
    if prompt.get("text_source") == PROMPT_FROM_TEMPLATE:
        prompt_text += "; hashed from the current template (the run recorded no prompt text)"
    rows = [
        ("regionreasoner", f"{software.get(PACKAGE_NAME)} ({revision})"),
        ("model", str(model.get("spec"))),
        ("checkpoint config sha256", str(model.get("checkpoint_config_sha256") or "n/a")),
        ("prompt", prompt_text),
        (
            "protocol / reference / frame",
            f"{card.get('protocol')} / {card.get('reference_policy')} / {card.get('frame')}",
        ),
        (
            "decoding",
            f"temperature {decoding.get('temperature')}, "
            f"max_new_tokens {decoding.get('max_new_tokens')}, seed {card.get('seed')}",
        ),
        ("data", f"{data.get('path')} (sha256 {str(data.get('sha256') or 'n/a')[:12]})"),
    ]
    counts = data.get("counts")
    if counts:
        rows.append(
            (
                "counts",
                f"{counts['dialogues']} dialogues, {counts['turns']} turns, "
                f"{counts['instances']} instances, {counts['images']} images; one record "
                f"counts one {data.get('counting_unit')}",
            )
        )
    tables = [Table(("card", "value"), tuple(rows), numeric=False)]
    published = card.get("published")
    if published:
        figures = [
            (
                f"{f['method']} ({f['table']})",
                f["metric"],
                _pct(f["published"]),
                measured_cell(
                    {f["metric"]: f["ours"], interval_key(f["metric"]): f.get("ours_ci")},
                    f["metric"],
                ),
                _signed(f["gap"]),
            )
            for f in published["figures"]
        ]
        header = ("published (paper)", "metric", "published", "this run", "gap")
        tables.append(Table(header, tuple(figures)))
    return tables


def card_notes(card: Mapping[str, Any]) -> list[str]:
    """The caveats of the card's published figures (each once)."""
    published = card.get("published") or {}
    return sorted({f["note"] for f in published.get("figures", ()) if f.get("note")})


def render_card_markdown(card: Mapping[str, Any]) -> str:
    """The card as a short Markdown section (the top of ``report.md``)."""
    parts = [table.to_markdown() for table in card_tables(card)]
    parts += [f"Note: {note}." for note in card_notes(card)]
    return "\n\n".join(parts) + "\n"


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
    bootstrap = metrics.get("bootstrap")
    if bootstrap:
        notes.append(
            f"[low, high] beside acc@{IOU_HIT_THRESHOLD:g}, gIoU and cIoU: the "
            f"{100 * bootstrap['confidence']:g} % percentile interval of a bootstrap over "
            f"{bootstrap['unit']}s ({bootstrap['resamples']} resamples, seed "
            f"{bootstrap['seed']}): the {bootstrap['unit']}s are drawn with replacement and "
            "the metric recomputed on each draw, because the turns of one dialogue are not "
            "independent."
        )
    if propagation_table(metrics) is not None:
        notes.append(
            "Given reference: the first box the model predicted for the turn a question "
            f"cites; right when its IoU with that turn's first ground-truth box is > "
            f"{IOU_HIT_THRESHOLD:g}. Errors with a wrong reference: of the round's misses "
            "among the turns that cite an earlier turn, the share whose reference was "
            "already wrong."
        )
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
    "card_notes",
    "card_tables",
    "detection_table",
    "format_interval",
    "format_round_table",
    "measured_cell",
    "pass_rate_table",
    "propagation_table",
    "relation_table",
    "render_card_markdown",
    "report_notes",
    "round_table",
    "segmentation_table",
    "segmentation_unavailable",
    "settings_table",
    "size_table",
]
