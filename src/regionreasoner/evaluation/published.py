"""The paper's published numbers (multi-round and single-round), for comparison in reports.

Source: Sun et al., "RegionReasoner: Region-Grounded Multi-Round Visual Reasoning"
(ICLR 2026, arXiv 2602.03733):

- Table 1: multi-round detection, "AP" per round (our ``acc@0.5``, any-hit at IoU > 0.5)
  for R1..R7 and the turn-pooled "Avg", on RefCOCO+ and RefCOCOg multi-turn.
- Table 2: multi-round segmentation, gIoU per round and "Avg" on the same data.
- Table 6: the number of turns per round of RegionDial-Bench.
- Table 10 (appendix G): the standard SINGLE-round tasks, detection ("AP", our
  ``acc@0.5``) and segmentation (gIoU) on "the RefCOCO+ and RefCOCOg test sets", for
  Qwen2-VL-7B, Qwen2.5-VL-7B, VisionReasoner-7B and RegionReasoner-7B. The paper does
  not name the split (RefCOCO+ has testA and testB; RefCOCOg umd has test), so a figure
  is shown beside every test split of its dataset, with that caveat. They count
  referring expressions (one sample per sentence), as the single-round records of
  ``build refcoco --single-round`` do.

Values are copied as printed, in percent with one decimal (reports also render
percent). The paper never reports cIoU. "Avg" pools all turns, i.e. it is the mean
weighted by the Table 6 counts; for a few rows the printed Avg does not match that
weighted mean by more than 0.1 (RegionReasoner-7B detection RefCOCO+: 80.57 recomputed
vs 80.7 printed; Qwen2-VL-7B segmentation RefCOCO+ 8.94 vs 9.4 and RefCOCOg 9.55 vs 9.3;
SegLLM-7B segmentation 64.87 vs 60.7 and 57.69 vs 56.7). They are kept as printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from regionreasoner.data.tasks import is_single_round_name, parse_single_round_source

REFCOCO_PLUS = "refcoco+"
"""Benchmark key of RegionDial-Bench's RefCOCO+ multi-turn part."""

REFCOCOG = "refcocog"
"""Benchmark key of RegionDial-Bench's RefCOCOg multi-turn part."""

BENCHMARK_TITLES: Mapping[str, str] = {
    REFCOCO_PLUS: "RefCOCO+ multi-turn",
    REFCOCOG: "RefCOCOg multi-turn",
}

PUBLISHED_ROUNDS = 7
"""Rounds R1..R7 of the published tables."""


@dataclass(frozen=True, slots=True)
class PublishedRow:
    """One method's row of a published per-round table.

    Attributes:
        method: the model name as printed in the paper.
        rounds: R1..R7 in percent.
        avg: the printed turn-pooled average, in percent.
    """

    method: str
    rounds: tuple[float, float, float, float, float, float, float]
    avg: float

    def round_value(self, round_number: int) -> float | None:
        """The value of a 1-based round, ``None`` beyond R7."""
        if 1 <= round_number <= len(self.rounds):
            return self.rounds[round_number - 1]
        return None


@dataclass(frozen=True, slots=True)
class PublishedTable:
    """A published per-round table for one benchmark part.

    Attributes:
        source: where the numbers come from, e.g. ``"Table 1"``.
        metric: our metric key the numbers correspond to (``acc@0.5`` or ``gIoU``).
        rows: one row per method, in the paper's order.
    """

    source: str
    metric: str
    rows: tuple[PublishedRow, ...]


def _row(method: str, *values: float) -> PublishedRow:
    *rounds, avg = values
    if len(rounds) != PUBLISHED_ROUNDS:
        raise ValueError(f"{method}: expected {PUBLISHED_ROUNDS} rounds, got {len(rounds)}")
    return PublishedRow(method, tuple(rounds), avg)  # type: ignore[arg-type]


DETECTION: Mapping[str, PublishedTable] = {
    REFCOCO_PLUS: PublishedTable(
        "Table 1",
        "acc@0.5",
        (
            _row("Qwen2-VL-7B", 6.2, 8.5, 6.5, 5.4, 7.5, 3.6, 3.5, 6.7),
            _row("Qwen2.5-VL-7B", 65.5, 49.0, 48.1, 36.5, 30.0, 38.2, 25.9, 49.9),
            _row("Seg-Zero-7B", 90.5, 71.2, 73.6, 59.6, 48.8, 58.2, 48.2, 73.1),
            _row("VisionReasoner-7B", 88.3, 74.7, 75.8, 64.2, 56.3, 57.3, 47.0, 74.8),
            _row("RegionReasoner-7B", 89.3, 83.2, 81.6, 69.6, 61.9, 69.1, 64.7, 80.7),
        ),
    ),
    REFCOCOG: PublishedTable(
        "Table 1",
        "acc@0.5",
        (
            _row("Qwen2-VL-7B", 7.8, 6.2, 3.5, 3.5, 5.6, 4.0, 5.0, 6.1),
            _row("Qwen2.5-VL-7B", 63.9, 43.7, 39.0, 37.9, 42.2, 43.2, 33.8, 49.7),
            _row("Seg-Zero-7B", 85.3, 61.8, 61.6, 64.8, 70.0, 69.6, 68.8, 71.1),
            _row("VisionReasoner-7B", 85.0, 65.8, 66.8, 69.3, 68.3, 75.2, 72.5, 73.6),
            _row("RegionReasoner-7B", 87.1, 73.7, 71.8, 68.6, 75.0, 78.4, 75.0, 78.2),
        ),
    ),
}
"""Table 1: multi-round detection accuracy ("AP" in the paper) per round, percent."""

SEGMENTATION: Mapping[str, PublishedTable] = {
    REFCOCO_PLUS: PublishedTable(
        "Table 2",
        "gIoU",
        (
            _row("Qwen2-VL-7B", 12.2, 9.0, 6.5, 5.3, 6.3, 6.3, 9.5, 9.4),
            _row("Qwen2.5-VL-7B", 56.5, 43.3, 41.4, 34.5, 23.4, 33.6, 24.9, 43.6),
            _row("Seg-Zero-7B", 78.6, 62.8, 64.0, 51.6, 42.4, 50.8, 46.7, 64.0),
            _row("SegLLM-7B", 71.1, 71.7, 70.4, 58.7, 41.9, 39.2, 30.3, 60.7),
            _row("VisionReasoner-7B", 75.6, 65.0, 65.9, 54.9, 46.6, 48.9, 40.8, 64.3),
            _row("RegionReasoner-7B", 76.4, 73.1, 72.0, 58.8, 51.3, 59.4, 54.6, 69.6),
        ),
    ),
    REFCOCOG: PublishedTable(
        "Table 2",
        "gIoU",
        (
            _row("Qwen2-VL-7B", 8.5, 11.6, 8.8, 10.0, 7.0, 6.4, 4.4, 9.3),
            _row("Qwen2.5-VL-7B", 53.8, 36.3, 35.5, 31.6, 37.3, 36.8, 28.6, 42.1),
            _row("Seg-Zero-7B", 72.3, 52.3, 53.5, 55.4, 59.4, 59.5, 58.3, 60.5),
            _row("SegLLM-7B", 68.9, 55.3, 50.5, 47.7, 47.3, 37.8, 25.4, 56.7),
            _row("VisionReasoner-7B", 69.5, 52.7, 55.4, 56.0, 57.8, 64.1, 57.6, 59.9),
            _row("RegionReasoner-7B", 73.9, 62.9, 60.7, 58.9, 64.4, 66.8, 63.3, 66.5),
        ),
    ),
}
"""Table 2: multi-round segmentation gIoU per round, percent."""

TURN_COUNTS: Mapping[str, tuple[int, int, int, int, int, int, int]] = {
    REFCOCO_PLUS: (715, 715, 310, 260, 160, 110, 85),
    REFCOCOG: (1580, 1580, 570, 290, 180, 125, 80),
}
"""Table 6: turns per round R1..R7 (totals 2,355 and 4,405; one dialogue per image)."""

OURS = "RegionReasoner-7B"
"""The paper's own model, highlighted in plots."""

_BENCHMARK_PATTERNS = (
    (REFCOCOG, re.compile(r"refcocog")),
    (REFCOCO_PLUS, re.compile(r"refcoco(\+|plus|_plus|-plus)")),
)


def detect_benchmark(name: str | None) -> str | None:
    """The RegionDial-Bench part a data source or file name belongs to, if any.

    Recognises dialogue ``source`` values and file names such as ``"refcocog/test"``,
    ``"refcoco+/testA"``, ``"official:refcocoplus_multi_turn.json"``. A single-round
    source or file name (containing ``single-round``) is not the multi-round benchmark:
    see :func:`detect_single_round`.

    >>> detect_benchmark("official/refcocoplus_multi_turn.json")
    'refcoco+'
    >>> detect_benchmark("synth") is None
    True
    >>> detect_benchmark("refcoco+/testA/single-round") is None
    True
    """
    if not name or is_single_round_name(name):
        return None
    lowered = name.lower()
    for key, pattern in _BENCHMARK_PATTERNS:
        if pattern.search(lowered):
            return key
    return None


SINGLE_ROUND_SOURCE = "Table 10"
"""Where the published single-round numbers come from (paper appendix G)."""

SINGLE_ROUND_TEST_SPLITS = ("test", "testA", "testB")
"""Splits a published single-round figure is shown beside (the paper's "test sets")."""

SINGLE_ROUND_SPLIT_CAVEAT = (
    'the paper reports "the RefCOCO+ and RefCOCOg test sets" without naming the split '
    "(testA, testB or both for RefCOCO+)"
)
"""Shown with every published single-round figure."""


@dataclass(frozen=True, slots=True)
class SingleRoundFigure:
    """One published single-round number.

    Attributes:
        method: the model name as printed in the paper.
        dataset: ``refcoco+`` or ``refcocog``.
        metric: our metric key (``acc@0.5`` for REC "AP", ``gIoU`` for RES).
        value: percent, as printed.
        source: the paper table.
    """

    method: str
    dataset: str
    metric: str
    value: float
    source: str = SINGLE_ROUND_SOURCE


def _single_round(
    method: str, seg_plus: float, seg_g: float, det_plus: float, det_g: float
) -> tuple[SingleRoundFigure, ...]:
    return (
        SingleRoundFigure(method, REFCOCO_PLUS, "gIoU", seg_plus),
        SingleRoundFigure(method, REFCOCOG, "gIoU", seg_g),
        SingleRoundFigure(method, REFCOCO_PLUS, "acc@0.5", det_plus),
        SingleRoundFigure(method, REFCOCOG, "acc@0.5", det_g),
    )


SINGLE_ROUND: tuple[SingleRoundFigure, ...] = (
    *_single_round("Qwen2-VL-7B", 65.7, 63.5, 76.5, 78.2),
    *_single_round("Qwen2.5-VL-7B", 76.8, 72.8, 88.2, 85.7),
    *_single_round("VisionReasoner-7B", 74.9, 71.3, 87.9, 87.5),
    *_single_round("RegionReasoner-7B", 76.9, 74.4, 88.6, 88.4),
)
"""Table 10: single-round REC (acc@0.5) and RES (gIoU), percent. The RegionReasoner row
equals the "+Ref-cite only" row of the Table 3/4 ablations, not their full model."""

_DATASET_PATTERNS = (
    (REFCOCOG, re.compile(r"^refcocog")),
    (REFCOCO_PLUS, re.compile(r"^refcoco(\+|plus|_plus|-plus)$")),
)


def detect_single_round(name: str | None) -> tuple[str, str] | None:
    """``(dataset, split)`` of a single-round source with published numbers, else ``None``.

    ``dataset`` is normalised to :data:`REFCOCO_PLUS` or :data:`REFCOCOG`; RefCOCO
    itself has no published single-round figure in the paper.

    >>> detect_single_round("refcoco+/testB/single-round")
    ('refcoco+', 'testB')
    >>> detect_single_round("refcoco/val/single-round") is None
    True
    """
    parsed = parse_single_round_source(name)
    if parsed is None:
        return None
    dataset, split = parsed
    for key, pattern in _DATASET_PATTERNS:
        if pattern.search(dataset.lower()):
            return key, split
    return None


def single_round_figures(dataset: str, split: str) -> tuple[SingleRoundFigure, ...]:
    """The published figures comparable with a single-round split (test splits only).

    >>> [f.method for f in single_round_figures("refcocog", "test") if f.metric == "gIoU"]
    ['Qwen2-VL-7B', 'Qwen2.5-VL-7B', 'VisionReasoner-7B', 'RegionReasoner-7B']
    >>> single_round_figures("refcocog", "val")
    ()
    """
    if split not in SINGLE_ROUND_TEST_SPLITS:
        return ()
    return tuple(f for f in SINGLE_ROUND if f.dataset == dataset)


TASK_MULTI_ROUND = "multi-round"
"""Task of RegionDial-Bench (Tables 1, 2 and 6)."""

TASK_SINGLE_ROUND = "single-round"
"""Task of the standard one-expression splits (Table 10)."""


@dataclass(frozen=True, slots=True)
class PublishedFigure:
    """One published number comparable with a run's ``overall`` (or a round of it).

    Attributes:
        method: the model name as printed in the paper.
        table: the paper table, e.g. ``"Table 1"``.
        metric: our metric key (``acc@0.5`` or ``gIoU``).
        value: percent, as printed.
        rounds: the per-round values in percent (R1..R7 of Tables 1-2; R1 alone for a
            single-round figure).
        note: a caveat to print with the figure, or ``None``.
    """

    method: str
    table: str
    metric: str
    value: float
    rounds: tuple[float, ...]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PublishedData:
    """What a data file is, among the benchmarks the paper reports numbers for.

    Attributes:
        benchmark: :data:`REFCOCO_PLUS` or :data:`REFCOCOG`.
        task: :data:`TASK_MULTI_ROUND` (RegionDial-Bench) or :data:`TASK_SINGLE_ROUND`.
        split: the single-round split (``testA``, ``testB``, ``test``), else ``None``.
    """

    benchmark: str
    task: str
    split: str | None = None

    def figures(self, metric: str | None = None) -> tuple[PublishedFigure, ...]:
        """The published figures comparable with this data (of one metric, or all).

        Multi-round: every row of Tables 1 (acc@0.5) and 2 (gIoU), the printed "Avg" as
        the value and R1..R7 as the rounds. Single-round: the Table 10 figures of the
        dataset, with :data:`SINGLE_ROUND_SPLIT_CAVEAT` (none for a non-test split).
        """
        if self.task == TASK_MULTI_ROUND:
            found = [
                PublishedFigure(row.method, table.source, table.metric, row.avg, row.rounds)
                for tables in (DETECTION, SEGMENTATION)
                for table in (tables[self.benchmark],)
                for row in table.rows
            ]
        else:
            found = [
                PublishedFigure(
                    f.method, f.source, f.metric, f.value, (f.value,), SINGLE_ROUND_SPLIT_CAVEAT
                )
                for f in single_round_figures(self.benchmark, self.split or "")
            ]
        return tuple(f for f in found if metric is None or f.metric == metric)


def identify_published(sources: Iterable[str | None]) -> PublishedData | None:
    """The benchmark with published numbers that a data file's ``source`` values name.

    Every source must name the same RegionDial-Bench part (multi-round), or the same
    single-round split that has published figures (a test split of RefCOCO+ or
    RefCOCOg); anything else (mixed or other data, a validation split) is ``None``.
    ``card.json`` (``published``) and ``compare`` both go through here.

    >>> identify_published(["refcocog/test"])
    PublishedData(benchmark='refcocog', task='multi-round', split=None)
    >>> identify_published(["refcoco+/testA/single-round"]).split
    'testA'
    >>> identify_published(["refcoco+/val/single-round", "refcoco+/testA/single-round"])
    """
    names = list(sources)
    if not names:
        return None
    multi = {detect_benchmark(s) for s in names}
    if len(multi) == 1 and None not in multi:
        return PublishedData(multi.pop(), TASK_MULTI_ROUND)  # type: ignore[arg-type]
    single = {detect_single_round(s) for s in names}
    if len(single) == 1 and None not in single:
        dataset, split = single.pop()  # type: ignore[misc]
        if single_round_figures(dataset, split):
            return PublishedData(dataset, TASK_SINGLE_ROUND, split)
    return None


__all__ = [
    "BENCHMARK_TITLES",
    "DETECTION",
    "OURS",
    "PUBLISHED_ROUNDS",
    "REFCOCOG",
    "REFCOCO_PLUS",
    "SEGMENTATION",
    "SINGLE_ROUND",
    "SINGLE_ROUND_SOURCE",
    "SINGLE_ROUND_SPLIT_CAVEAT",
    "SINGLE_ROUND_TEST_SPLITS",
    "TASK_MULTI_ROUND",
    "TASK_SINGLE_ROUND",
    "TURN_COUNTS",
    "PublishedData",
    "PublishedFigure",
    "PublishedRow",
    "PublishedTable",
    "SingleRoundFigure",
    "detect_benchmark",
    "detect_single_round",
    "identify_published",
    "single_round_figures",
]
