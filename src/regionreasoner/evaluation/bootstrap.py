"""Bootstrap confidence intervals over dialogues, and paired differences between runs.

The turns of one dialogue share an image and, under ``--reference predicted``, each
other's mistakes, so they are not independent: the DIALOGUE is the unit that is
resampled. A metric of a group of turns (a round, a relation, a size class, all turns)
is a ratio of sums over the dialogues, e.g. ``acc@0.5 = sum(hits) / sum(turns)``, so
each dialogue is reduced once to its *sufficient statistics* per group
(:class:`DialogueTable`: turns, hits, turns with masks, sum of per-turn IoU,
intersection and union pixels) and a resample is a vector of dialogue multiplicities
``w`` (how often each dialogue was drawn): its sums are ``w @ table``. All resamples
of all groups are one matrix product, so 10,000 resamples of 2,000 dialogues take a
fraction of a second (``benchmarks/bootstrap.py``, figures in ``docs/benchmarks.md``).

- ``acc@0.5``: resampled ``sum(hits) / sum(turns)``.
- ``gIoU``: resampled ``sum(per-turn I/U) / sum(turns with masks)``.
- ``cIoU``: resampled ``sum(I) / sum(U)`` (the ratio is recomputed, never averaged).

Intervals are percentile intervals (the 2.5 % and 97.5 % quantiles of the resampled
values for 95 %). A resample that happens to contain no turn of a small group gives no
value for it and is left out of that group's quantiles. Draws come from
``numpy.random.default_rng(seed)`` over the dialogues sorted by id, so an interval is a
pure function of the turns and the seed (row order, shards and resumes do not matter).

:func:`paired_difference` resamples the dialogues two runs on the same data share
(matched by ``dialogue_id``) with the SAME multiplicities for both runs, which is what
makes the interval of a difference narrower than the two separate intervals: per
dialogue difficulty cancels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from regionreasoner.evaluation.accumulators import TurnScore
from regionreasoner.evaluation.metrics import turn_iou

GroupKey = tuple[str, str]
"""``(section, name)`` of a group of turns: ``("overall", "")``, ``("rounds", "2")``,
``("relations", "above")``, ``("sizes", "small")``, ``("rounds", "2+")``."""

DEFAULT_RESAMPLES = 1000
"""Bootstrap resamples of a run's intervals."""

DEFAULT_CONFIDENCE = 0.95
"""Coverage of the reported intervals."""

DEFAULT_SEED = 0
"""Seed of the resampling."""

RESAMPLE_CHUNK = 1000
"""Resamples drawn per matrix product (bounds memory: ``chunk x dialogues`` counts)."""

INTERVAL_METRICS = ("acc@0.5", "gIoU", "cIoU")
"""The metrics that get an interval, each under ``"<metric>_ci"``."""

OVERALL: GroupKey = ("overall", "")
"""The group of all turns (``metrics.json``'s ``overall``)."""

LATER_ROUNDS_FROM = 2
"""The first round whose questions cite an earlier answer."""

LATER_ROUNDS: GroupKey = ("rounds", f"{LATER_ROUNDS_FROM}+")
"""The group of every turn of round 2 or later (``compare``'s ``R2+`` column)."""

_TURNS, _HITS, _SEG_TURNS, _IOU_SUM, _INTERSECTION, _UNION = range(6)
_COLUMNS = 6


def interval_key(metric: str) -> str:
    """``metrics.json`` key of a metric's interval: ``"acc@0.5"`` -> ``"acc@0.5_ci"``."""
    return f"{metric}_ci"


def turn_groups(
    score: TurnScore, *, relation: str | None = None, size: str | None = None
) -> tuple[GroupKey, ...]:
    """The groups one turn belongs to: all turns, its round, rounds 2+, relation, size.

    >>> from regionreasoner.evaluation.accumulators import TurnScore
    >>> s = TurnScore(2, True, True, None, None, True, None, None, False)
    >>> turn_groups(s, relation="above")
    (('overall', ''), ('rounds', '2'), ('rounds', '2+'), ('relations', 'above'))
    """
    groups: list[GroupKey] = [OVERALL, ("rounds", str(score.round))]
    if score.round >= LATER_ROUNDS_FROM:
        groups.append(LATER_ROUNDS)
    if relation is not None:
        groups.append(("relations", relation))
    if size is not None:
        groups.append(("sizes", size))
    return tuple(groups)


@dataclass(frozen=True, slots=True)
class TurnEntry:
    """One scored turn with its dialogue and groups (the input of :func:`dialogue_table`)."""

    dialogue_id: str
    score: TurnScore
    groups: Sequence[GroupKey]


@dataclass(frozen=True, slots=True)
class DialogueTable:
    """Per-dialogue sufficient statistics of groups of turns.

    Attributes:
        dialogue_ids: ``(D,)`` ids, sorted.
        groups: ``(G,)`` group keys, in first-seen order.
        values: ``(D, G, 6)`` float64: turns, hits (acc@0.5), turns with mask counts,
            sum of per-turn mask IoU, intersection pixels, union pixels.
    """

    dialogue_ids: tuple[str, ...]
    groups: tuple[GroupKey, ...]
    values: npt.NDArray[np.float64]

    def restrict(self, dialogue_ids: Sequence[str]) -> DialogueTable:
        """The rows of ``dialogue_ids`` (which must all be present), in that order."""
        index = {d: i for i, d in enumerate(self.dialogue_ids)}
        rows = [index[d] for d in dialogue_ids]
        return DialogueTable(tuple(dialogue_ids), self.groups, self.values[rows])

    def with_groups(self, groups: Sequence[GroupKey]) -> DialogueTable:
        """The table over ``groups`` (a group this table lacks has all-zero statistics)."""
        index = {g: i for i, g in enumerate(self.groups)}
        values = np.zeros((len(self.dialogue_ids), len(groups), _COLUMNS))
        for j, group in enumerate(groups):
            if group in index:
                values[:, j] = self.values[:, index[group]]
        return DialogueTable(self.dialogue_ids, tuple(groups), values)

    def estimates(self) -> dict[GroupKey, dict[str, float | None]]:
        """The point estimates of every group (the values ``metrics.json`` reports)."""
        values = group_metrics(self.values.sum(axis=0))
        return {
            group: {m: _finite(values[m][j]) for m in INTERVAL_METRICS}
            for j, group in enumerate(self.groups)
        }


def dialogue_table(entries: Iterable[TurnEntry]) -> DialogueTable:
    """Reduce scored turns to per-dialogue sufficient statistics of their groups.

    Turns are taken in ``(dialogue_id, round)`` order, so the table (down to the last
    bit of its float sums) does not depend on the order of the rows.
    """
    ordered = sorted(entries, key=lambda e: (str(e.dialogue_id), e.score.round))
    dialogue_index: dict[str, int] = {}
    group_index: dict[GroupKey, int] = {}
    cell_dialogue: list[int] = []
    cell_group: list[int] = []
    cell_values: list[tuple[float, float, float, float, float, float]] = []
    for entry in ordered:
        d = dialogue_index.setdefault(str(entry.dialogue_id), len(dialogue_index))
        score = entry.score
        if score.intersection is not None and score.union is not None:
            iou = turn_iou(score.intersection, score.union)
            stats = (1.0, float(score.hit_any), 1.0, iou, score.intersection, score.union)
        else:
            stats = (1.0, float(score.hit_any), 0.0, 0.0, 0.0, 0.0)
        for group in entry.groups:
            cell_dialogue.append(d)
            cell_group.append(group_index.setdefault(group, len(group_index)))
            cell_values.append(stats)
    ids = sorted(dialogue_index)
    row_of = np.empty(len(ids), dtype=np.int64)
    for row, dialogue_id in enumerate(ids):
        row_of[dialogue_index[dialogue_id]] = row
    values = np.zeros((len(ids), len(group_index), _COLUMNS))
    if cell_values:
        rows = row_of[np.asarray(cell_dialogue, dtype=np.int64)]
        np.add.at(values, (rows, np.asarray(cell_group)), np.asarray(cell_values))
    return DialogueTable(tuple(ids), tuple(group_index), values)


def _ratio(num: npt.NDArray[np.float64], den: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def group_metrics(sums: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float64]]:
    """The metrics of summed statistics ``(..., G, 6)``: ``{metric: (..., G)}``.

    A group without turns (or without mask counts, for gIoU/cIoU) is NaN. cIoU is 0 when
    the turns have mask counts but a zero total union, as :func:`~regionreasoner.
    evaluation.metrics.cumulative_iou` defines it.
    """
    seg = sums[..., _SEG_TURNS]
    ciou = _ratio(sums[..., _INTERSECTION], sums[..., _UNION])
    ciou = np.where((seg > 0) & ~(sums[..., _UNION] > 0), 0.0, ciou)
    return {
        "acc@0.5": _ratio(sums[..., _HITS], sums[..., _TURNS]),
        "gIoU": _ratio(sums[..., _IOU_SUM], seg),
        "cIoU": ciou,
    }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _check(resamples: int, confidence: float) -> None:
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def resampled_sums(
    values: npt.NDArray[np.float64], resamples: int, seed: int
) -> npt.NDArray[np.float64]:
    """``(resamples, *values.shape[1:])`` sums over dialogues drawn with replacement.

    Each resample draws ``D`` dialogues uniformly with replacement; its sums are the
    multiplicity vector times ``values`` (``(D, ...)``).
    """
    count = values.shape[0]
    flat = values.reshape(count, -1)
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, flat.shape[1]))
    for start in range(0, resamples, RESAMPLE_CHUNK):
        size = min(RESAMPLE_CHUNK, resamples - start)
        drawn = rng.integers(0, count, size=(size, count))
        drawn += np.arange(size)[:, None] * count
        weights = np.bincount(drawn.ravel(), minlength=size * count).reshape(size, count)
        out[start : start + size] = weights.astype(np.float64) @ flat  # BLAS, not int64
    return out.reshape(resamples, *values.shape[1:])


def _quantiles(
    samples: npt.NDArray[np.float64], confidence: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    alpha = (1 - confidence) / 2
    finite = np.isfinite(samples)
    complete = finite.all(axis=0)
    partial = finite.any(axis=0) & ~complete
    low = np.full(samples.shape[1:], np.nan)
    high = np.full(samples.shape[1:], np.nan)
    # np.quantile is vectorised; nanquantile loops in Python, so only where needed
    for columns, quantile in ((complete, np.quantile), (partial, np.nanquantile)):
        if columns.any():
            bounds = quantile(samples[:, columns], [alpha, 1 - alpha], axis=0)
            low[columns], high[columns] = bounds[0], bounds[1]
    return low, high


def _interval(low: float, high: float) -> list[float] | None:
    return [float(low), float(high)] if np.isfinite(low) and np.isfinite(high) else None


def bootstrap_intervals(
    table: DialogueTable,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[GroupKey, dict[str, list[float] | None]]:
    """Percentile intervals of acc@0.5, gIoU and cIoU of every group of ``table``.

    Returns:
        ``{group: {"acc@0.5_ci": [low, high], "gIoU_ci": ..., "cIoU_ci": ...}}``
        (fractions); ``None`` where the metric is undefined (e.g. no mask counts).

    Raises:
        ValueError: ``resamples < 1`` or ``confidence`` outside (0, 1).
    """
    _check(resamples, confidence)
    point = table.estimates()
    if not table.dialogue_ids:
        return {g: dict.fromkeys(map(interval_key, INTERVAL_METRICS)) for g in table.groups}
    metrics = group_metrics(resampled_sums(table.values, resamples, seed))
    bounds = {m: _quantiles(metrics[m], confidence) for m in INTERVAL_METRICS}
    out: dict[GroupKey, dict[str, list[float] | None]] = {}
    for j, group in enumerate(table.groups):
        out[group] = {
            interval_key(m): (
                None if point[group][m] is None else _interval(bounds[m][0][j], bounds[m][1][j])
            )
            for m in INTERVAL_METRICS
        }
    return out


_SECTIONS = ("rounds", "relations", "sizes")
"""``metrics.json`` sections whose entries get intervals (besides ``overall``)."""


def _with_intervals(entry: Mapping[str, Any], intervals: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key.endswith("_ci"):
            continue
        out[key] = value
        if key in INTERVAL_METRICS:
            out[interval_key(key)] = intervals.get(interval_key(key))
    return out


def attach_intervals(
    metrics: Mapping[str, Any], intervals: Mapping[GroupKey, Mapping[str, Any]]
) -> dict[str, Any]:
    """A copy of a ``metrics.json`` dict with ``<metric>_ci`` beside each metric.

    ``overall`` and every entry of ``rounds``, ``relations`` and ``sizes`` get
    ``acc@0.5_ci``, ``gIoU_ci`` and ``cIoU_ci`` right after the metric they belong to
    (``None`` for a group ``intervals`` lacks); every other key is kept as it is.
    """
    out = dict(metrics)
    out["overall"] = _with_intervals(metrics["overall"], intervals.get(OVERALL, {}))
    for section in _SECTIONS:
        entries = metrics.get(section)
        if isinstance(entries, Mapping):
            out[section] = {
                name: _with_intervals(entry, intervals.get((section, name), {}))
                for name, entry in entries.items()
            }
    return out


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """The difference ``a - b`` of one metric of one group between two runs.

    Attributes:
        metric: ``acc@0.5``, ``gIoU`` or ``cIoU``.
        estimate: the difference on the matched dialogues (fraction), ``None`` when
            the metric is undefined for either run.
        interval: the paired bootstrap interval ``(low, high)``, or ``None``.
        dialogues: matched dialogues (both runs have them).
        confidence: the interval's coverage.
    """

    metric: str
    estimate: float | None
    interval: tuple[float, float] | None
    dialogues: int
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def excludes_zero(self) -> bool | None:
        """Whether the interval lies entirely above or below 0 (``None``: no interval)."""
        if self.interval is None:
            return None
        low, high = self.interval
        return low > 0 or high < 0

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """``"-4.2 [-6.0, -2.5]"`` (percentage points by default), or ``"n/a"``."""
        if self.estimate is None:
            return "n/a"
        text = f"{self.estimate * scale:+.{digits}f}"
        if self.interval is None:
            return text
        low, high = (v * scale for v in self.interval)
        return f"{text} [{low:+.{digits}f}, {high:+.{digits}f}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``interval`` as ``[low, high]``)."""
        return {
            "metric": self.metric,
            "difference": self.estimate,
            "interval": None if self.interval is None else list(self.interval),
            "excludes_zero": self.excludes_zero,
            "dialogues": self.dialogues,
            "confidence": self.confidence,
        }


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """Paired differences ``a - b`` of every group, and what could not be matched.

    Attributes:
        differences: ``{group: {metric: PairedDifference}}``.
        dialogues: matched dialogues.
        only_a: dialogues of ``a`` without a counterpart in ``b`` (left out).
        only_b: dialogues of ``b`` without a counterpart in ``a`` (left out).
    """

    differences: dict[GroupKey, dict[str, PairedDifference]]
    dialogues: int
    only_a: int
    only_b: int


def paired_difference(
    a: DialogueTable,
    b: DialogueTable,
    *,
    groups: Sequence[GroupKey] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> PairedComparison:
    """Paired bootstrap of ``a - b`` over the dialogues both runs scored.

    Dialogues are matched by id; one multiplicity vector per resample is applied to
    both runs, and the quantiles are those of the resampled differences.

    Args:
        a, b: the runs' tables (e.g. ``--reference predicted`` and ``oracle``).
        groups: the groups to compare (default: those of ``a`` that ``b`` also has).
        resamples, seed, confidence: as in :func:`bootstrap_intervals`.

    Raises:
        ValueError: the runs share no dialogue, or bad ``resamples``/``confidence``.
    """
    _check(resamples, confidence)
    common = sorted(set(a.dialogue_ids) & set(b.dialogue_ids))
    if not common:
        raise ValueError("the two runs share no dialogue_id: nothing to pair")
    if groups is None:
        shared = set(b.groups)
        groups = [g for g in a.groups if g in shared]
    left = a.restrict(common).with_groups(groups)
    right = b.restrict(common).with_groups(groups)
    stacked = np.stack([left.values, right.values], axis=1)  # (D, 2, G, 6)
    resampled = group_metrics(resampled_sums(stacked, resamples, seed))  # (B, 2, G)
    point = group_metrics(stacked.sum(axis=0))  # (2, G)
    differences: dict[GroupKey, dict[str, PairedDifference]] = {}
    for metric in INTERVAL_METRICS:
        low, high = _quantiles(resampled[metric][:, 0] - resampled[metric][:, 1], confidence)
        estimate = point[metric][0] - point[metric][1]
        for j, group in enumerate(groups):
            value = _finite(estimate[j])
            interval = _interval(low[j], high[j]) if value is not None else None
            differences.setdefault(group, {})[metric] = PairedDifference(
                metric,
                value,
                None if interval is None else (interval[0], interval[1]),
                len(common),
                confidence,
            )
    return PairedComparison(
        differences,
        len(common),
        only_a=len(set(a.dialogue_ids) - set(common)),
        only_b=len(set(b.dialogue_ids) - set(common)),
    )


def reference_gap(
    predicted: DialogueTable,
    oracle: DialogueTable,
    *,
    metric: str = "acc@0.5",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, PairedDifference]:
    """Per-round predicted-minus-oracle gap of one metric, with paired intervals.

    The two tables are runs of the same model on the same data, one with
    ``--reference predicted`` (references are the model's own earlier answers) and one
    with ``--reference oracle`` (references are the ground truth): a negative gap in
    round r is what the model loses in that round to its own earlier mistakes.

    Returns:
        ``{"1": ..., "2": ..., "2+": ..., "overall": ...}``: rounds ascending, then the
        turn-pooled rounds 2 and later, then all turns.

    Raises:
        ValueError: unknown metric, or the runs share no dialogue.
    """
    if metric not in INTERVAL_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(INTERVAL_METRICS)}")
    rounds = sorted(
        {int(name) for section, name in predicted.groups if section == "rounds" and name.isdigit()}
        & {int(name) for section, name in oracle.groups if section == "rounds" and name.isdigit()}
    )
    groups: list[GroupKey] = [("rounds", str(r)) for r in rounds]
    if LATER_ROUNDS in predicted.groups and LATER_ROUNDS in oracle.groups:
        groups.append(LATER_ROUNDS)
    groups.append(OVERALL)
    comparison = paired_difference(
        predicted, oracle, groups=groups, resamples=resamples, seed=seed, confidence=confidence
    )
    return {
        (name or "overall"): comparison.differences[(section, name)][metric]
        for section, name in groups
    }


def format_gap_markdown(
    gap: Mapping[str, PairedDifference], label: str = "predicted - oracle"
) -> str:
    """A one-row Markdown table of :func:`reference_gap`: percentage points per round,
    with the paired interval; ``*`` marks an interval that excludes zero.

    >>> d = PairedDifference("acc@0.5", -0.05, (-0.08, -0.02), 100)
    >>> print(format_gap_markdown({"2": d, "overall": d}))
    | acc@0.5 (points) | R2 | all |
    |---|---:|---:|
    | predicted - oracle | -5.0 [-8.0, -2.0]* | -5.0 [-8.0, -2.0]* |
    """
    metric = next(iter(gap.values())).metric if gap else "acc@0.5"
    names = {"overall": "all", LATER_ROUNDS[1]: "R2+"}
    header = [f"{metric} (points)", *(names.get(k, f"R{k}") for k in gap)]
    cells = [d.format() + ("*" if d.excludes_zero else "") for d in gap.values()]
    return "\n".join(
        [
            "| " + " | ".join(header) + " |",
            "|---|" + "---:|" * len(gap),
            "| " + " | ".join([label, *cells]) + " |",
        ]
    )


__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "INTERVAL_METRICS",
    "LATER_ROUNDS",
    "OVERALL",
    "DialogueTable",
    "GroupKey",
    "PairedComparison",
    "PairedDifference",
    "TurnEntry",
    "attach_intervals",
    "bootstrap_intervals",
    "dialogue_table",
    "format_gap_markdown",
    "group_metrics",
    "interval_key",
    "paired_difference",
    "reference_gap",
    "resampled_sums",
    "turn_groups",
]
