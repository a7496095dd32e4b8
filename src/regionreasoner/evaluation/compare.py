"""Compare evaluation runs across seeds: per-round mean and spread of a metric.

An ablation (e.g. GRPO with different reward sets, each trained with several seeds)
produces one ``eval`` run directory per model; this module reads their
``metrics.json`` files, groups them by variant and writes the table the paper's
ablations report (per-round acc@0.5 and gIoU), with the mean and the sample standard
deviation over seeds::

    regionreasoner compare "SFT only=runs/sft/eval" "GRPO base=runs/base-s*/eval" \\
        --out table.md

"Rounds 2+" is the turn-weighted mean over every round after the first (the rounds
where questions cite an earlier answer).

Two runs on the same data can say more than two spreads. When variants have one run
each and their data files have the same SHA-256 (``card.json``), :func:`pair_runs`
rescores them and :func:`render_pairs` prints, against the first such variant:

- the paired bootstrap interval of the difference ``other - first`` per round, R2+ and
  all turns (:func:`~regionreasoner.evaluation.bootstrap.paired_difference`: the same
  dialogues drawn for both runs), and whether it excludes zero;
- for a ``--reference predicted`` run and a ``--reference oracle`` run, the
  predicted-minus-oracle gap instead (:func:`~regionreasoner.evaluation.bootstrap.
  reference_gap`): what the model loses to its own earlier mistakes.

When every run's card names the same benchmark with published numbers
(:func:`~regionreasoner.evaluation.published.identify_published`, the table the card
uses), the metric tables end with the paper's rows.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from regionreasoner.errors import UserInputError
from regionreasoner.evaluation.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    INTERVAL_METRICS,
    DialogueTable,
    PairedDifference,
    format_gap_markdown,
    reference_gap,
)
from regionreasoner.evaluation.card import sha256_file
from regionreasoner.evaluation.published import PublishedData, identify_published
from regionreasoner.evaluation.run_dir import (
    CONFIG_FILE,
    PREDICTIONS_FILE,
    read_card,
    read_metrics,
)
from regionreasoner.evaluation.scoring import run_table, score_run

DEFAULT_METRICS = ("acc@0.5", "gIoU")
LATER_ROUNDS = "2+"
"""Column label of the turn-weighted mean over rounds 2 and later."""

PREDICTED_POLICY = "predicted"
ORACLE_POLICY = "oracle"
"""The reference policies whose pair :func:`render_pairs` reports as the gap."""


@dataclass(frozen=True, slots=True)
class Spread:
    """Mean and sample standard deviation (``None`` for one value) over ``n`` runs."""

    mean: float
    std: float | None
    n: int

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """``"81.2 ± 1.3"`` (percent by default), or the mean alone when n == 1."""
        text = f"{self.mean * scale:.{digits}f}"
        return text if self.std is None else f"{text} ± {self.std * scale:.{digits}f}"


def spread(values: Sequence[float]) -> Spread:
    """Mean and sample standard deviation (ddof 1) of ``values``.

    >>> spread([0.5, 0.7]).format()
    '60.0 ± 14.1'
    """
    if not values:
        raise ValueError("spread of no values")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return Spread(mean, None, 1)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return Spread(mean, math.sqrt(var), len(values))


def round_values(metrics: Mapping, metric: str) -> dict[str, float]:
    """``{round: value}`` of one metric, plus ``"2+"`` (turn-weighted rounds >= 2).

    Rounds where the metric is ``null`` (e.g. gIoU without masks) are left out.
    """
    out: dict[str, float] = {}
    later_sum = later_turns = 0.0
    for key, row in sorted(metrics["rounds"].items(), key=lambda kv: int(kv[0])):
        value = row.get(metric)
        if value is None:
            continue
        out[key] = float(value)
        if int(key) >= 2:
            turns = float(row.get("turns") or 0)
            later_sum += float(value) * turns
            later_turns += turns
    if later_turns:
        out[LATER_ROUNDS] = later_sum / later_turns
    return out


@dataclass(frozen=True, slots=True)
class VariantSummary:
    """One table row: a variant's per-round spread of each metric over its runs."""

    label: str
    runs: tuple[Path, ...]
    cells: dict[str, dict[str, Spread]]  # metric -> round -> spread


def summarise(
    groups: Mapping[str, Sequence[Path]], metrics: Sequence[str] = DEFAULT_METRICS
) -> list[VariantSummary]:
    """Spread over the runs of every group, in the order of ``groups``."""
    out = []
    for label, runs in groups.items():
        if not runs:
            raise UserInputError(f"variant {label!r}: no run directories")
        loaded = [read_metrics(r) for r in runs]
        cells: dict[str, dict[str, Spread]] = {}
        for metric in metrics:
            per_run = [round_values(m, metric) for m in loaded]
            keys = sorted({k for r in per_run for k in r}, key=_round_order)
            cells[metric] = {k: spread([r[k] for r in per_run if k in r]) for k in keys}
        out.append(VariantSummary(label, tuple(Path(r) for r in runs), cells))
    return out


def _round_order(key: str) -> tuple[int, int]:
    return (1, 0) if key == LATER_ROUNDS else (0, int(key))


def format_markdown(
    summaries: Sequence[VariantSummary], metric: str, published: PublishedData | None = None
) -> str:
    """A markdown table of one metric: a row per variant, a column per round and "2+";
    then one row per published figure of ``metric`` (runs column ``paper``; R2+ is not
    printed in the paper, so it is ``-``)."""
    keys = sorted({k for s in summaries for k in s.cells.get(metric, {})}, key=_round_order)
    header = ["variant", "runs", *(f"R{k}" if k != LATER_ROUNDS else "R2+" for k in keys)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        row = s.cells.get(metric, {})
        values = [row[k].format() if k in row else "-" for k in keys]
        lines.append("| " + " | ".join([s.label, str(len(s.runs)), *values]) + " |")
    for figure in published.figures(metric) if published is not None else ():
        values = [
            f"{figure.rounds[int(k) - 1]:.1f}"
            if k != LATER_ROUNDS and int(k) <= len(figure.rounds)
            else "-"
            for k in keys
        ]
        label = f"{figure.method} ({figure.table})"
        lines.append("| " + " | ".join([label, "paper", *values]) + " |")
    return "\n".join(lines)


def parse_group(spec: str) -> tuple[str, list[Path]]:
    """``"LABEL=GLOB[,GLOB...]"`` -> label and the matching run directories (sorted)."""
    label, sep, patterns = spec.partition("=")
    if not sep or not label or not patterns:
        raise UserInputError(f"{spec!r}: expected LABEL=GLOB[,GLOB...]")
    runs = sorted({Path(p) for pattern in patterns.split(",") for p in glob.glob(pattern)})
    if not runs:
        raise UserInputError(f"{spec!r}: no directory matches")
    return label, runs


def common_published(summaries: Sequence[VariantSummary]) -> PublishedData | None:
    """The benchmark with published numbers that every compared run's ``card.json``
    names (the data ``sources`` it records), else ``None`` (also for a run without a
    card: one scored before cards were written)."""
    found = set()
    for summary in summaries:
        for run in summary.runs:
            card = read_card(run)
            sources = ((card or {}).get("data") or {}).get("sources")
            if not sources:
                return None
            found.add(identify_published(sources))
    return found.pop() if len(found) == 1 else None


def render_tables(summaries: Sequence[VariantSummary], metrics: Sequence[str]) -> str:
    """One markdown table per metric, each under a bold title (with the published rows
    when the runs are on a benchmark with published numbers)."""
    published = common_published(summaries)
    return "\n\n".join(
        f"**{m}** (percent, mean ± sample std over runs)\n\n"
        + format_markdown(summaries, m, published)
        for m in metrics
    )


@dataclass(frozen=True, slots=True)
class PairedRun:
    """One run of a variant, rescored for a paired comparison.

    Attributes:
        label: the variant.
        path: the run directory.
        table: the per-dialogue statistics of its groups of turns.
        reference_policy: ``predicted``, ``oracle`` or ``None`` (not recorded).
        data_sha256: SHA-256 of its data file (``card.json``, else the file itself), or
            ``None`` when neither is available.
    """

    label: str
    path: Path
    table: DialogueTable
    reference_policy: str | None
    data_sha256: str | None


def load_paired_run(label: str, run_dir: Path) -> PairedRun:
    """Rescore one run directory for :func:`pair_runs`.

    Raises:
        UserInputError, DataFormatError: as :func:`~regionreasoner.evaluation.scoring.
            score_run`.
    """
    run = score_run([run_dir])
    card = read_card(run_dir) or {}
    sha = (card.get("data") or {}).get("sha256")
    if sha is None and run.data_path is not None:
        sha = sha256_file(run.data_path)
    return PairedRun(label, Path(run_dir), run_table(run), run.settings.reference_policy, sha)


def _is_run_dir(path: Path) -> bool:
    return (path / PREDICTIONS_FILE).is_file() and (path / CONFIG_FILE).is_file()


@dataclass(frozen=True, slots=True)
class Pair:
    """Two single-run variants compared dialogue by dialogue: ``minuend - subtrahend``.

    Attributes:
        minuend, subtrahend: the runs (for a predicted/oracle pair, the predicted run
            minus the oracle run; otherwise a later variant minus the first).
        gap: whether this is a ``--reference predicted`` / ``--reference oracle`` pair.
    """

    minuend: PairedRun
    subtrahend: PairedRun
    gap: bool

    @property
    def label(self) -> str:
        """``"minuend - subtrahend"`` (the variants' labels)."""
        return f"{self.minuend.label} - {self.subtrahend.label}"


def pair_runs(groups: Mapping[str, Sequence[Path]]) -> tuple[list[Pair], list[str]]:
    """The pairs to compare: each single-run variant against the first one, when their
    data files have the same SHA-256.

    Returns:
        The pairs, and a note for every variant that could not be paired (another data
        file, no data hash, not a run directory with ``predictions.jsonl``, or rows that
        cannot be rescored): the spread tables do not need the rows, so an unpairable
        run is never an error.
    """
    singles = [(label, runs[0]) for label, runs in groups.items() if len(runs) == 1]
    if len(singles) < 2:
        return [], []
    notes: list[str] = []
    loaded: list[PairedRun] = []
    for label, run in singles:
        if _is_run_dir(run):
            try:
                loaded.append(load_paired_run(label, run))
            except UserInputError as e:  # e.g. rows without ground truth, data moved
                notes.append(f"{label}: not paired ({run} could not be rescored: {e})")
        else:
            notes.append(
                f"{label}: not paired ({run} has no {PREDICTIONS_FILE} and {CONFIG_FILE} to "
                "rescore dialogue by dialogue)"
            )
    if len(loaded) < 2:
        return [], notes
    first, pairs = loaded[0], []
    for other in loaded[1:]:
        if first.data_sha256 is None or other.data_sha256 != first.data_sha256:
            notes.append(
                f"{other.label}: not paired with {first.label} (not the same data file: "
                f"sha256 {str(other.data_sha256)[:12]} vs {str(first.data_sha256)[:12]})"
            )
            continue
        if not set(first.table.dialogue_ids) & set(other.table.dialogue_ids):
            notes.append(
                f"{other.label}: not paired with {first.label} (the runs share no "
                "dialogue_id: other shards or --limit)"
            )
            continue
        policies = {first.reference_policy, other.reference_policy}
        if policies == {PREDICTED_POLICY, ORACLE_POLICY}:
            predicted = first if first.reference_policy == PREDICTED_POLICY else other
            oracle = other if predicted is first else first
            pairs.append(Pair(predicted, oracle, gap=True))
        else:
            pairs.append(Pair(other, first, gap=False))
    return pairs, notes


def _verdict(label: str, difference: PairedDifference) -> str:
    where = f"{label}, {difference.metric} over all turns"
    if difference.interval is None:
        return f"{where}: no interval (the metric is undefined for a run)."
    excludes = "excludes zero" if difference.excludes_zero else "includes zero"
    return f"{where}: {difference.format()} points; the interval {excludes}."


def render_pairs(
    pairs: Sequence[Pair],
    metrics: Sequence[str],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> str:
    """The paired sections: for each pair and each of ``metrics`` that has intervals
    (acc@0.5, gIoU, cIoU), the difference per round, for R2+ and for all turns with its
    paired interval (``*``: excludes zero), and a sentence on all turns."""
    sections = []
    for pair in pairs:
        blocks, dialogues = [], 0
        for metric in (m for m in metrics if m in INTERVAL_METRICS):
            gap = reference_gap(
                pair.minuend.table,
                pair.subtrahend.table,
                metric=metric,
                resamples=resamples,
                seed=seed,
                confidence=confidence,
            )
            if gap["overall"].estimate is None:  # e.g. gIoU of detection-only runs
                continue
            dialogues = gap["overall"].dialogues
            blocks += [format_gap_markdown(gap, pair.label), _verdict(pair.label, gap["overall"])]
        if not blocks:
            continue
        if pair.gap:
            title = (
                f"**Predicted - oracle gap** ({pair.minuend.label}: --reference predicted, "
                f"{pair.subtrahend.label}: --reference oracle): what the model loses to its "
                "own earlier answers"
            )
        else:
            title = f"**Paired difference** {pair.label}"
        header = (
            f"{title}; percentage points on the {dialogues} dialogues both runs scored, "
            f"{100 * confidence:g} % paired bootstrap interval over dialogues "
            f"({resamples} resamples, seed {seed}); * the interval excludes zero."
        )
        sections.append("\n\n".join([header, *blocks]))
    return "\n\n".join(sections)
