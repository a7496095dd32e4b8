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
"""

from __future__ import annotations

import glob
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from regionreasoner.errors import UserInputError
from regionreasoner.evaluation.run_dir import read_metrics

DEFAULT_METRICS = ("acc@0.5", "gIoU")
LATER_ROUNDS = "2+"
"""Column label of the turn-weighted mean over rounds 2 and later."""


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


def format_markdown(summaries: Sequence[VariantSummary], metric: str) -> str:
    """A markdown table of one metric: a row per variant, a column per round and "2+"."""
    keys = sorted({k for s in summaries for k in s.cells.get(metric, {})}, key=_round_order)
    header = ["variant", "runs", *(f"R{k}" if k != LATER_ROUNDS else "R2+" for k in keys)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        row = s.cells.get(metric, {})
        values = [row[k].format() if k in row else "-" for k in keys]
        lines.append("| " + " | ".join([s.label, str(len(s.runs)), *values]) + " |")
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


def render_tables(summaries: Sequence[VariantSummary], metrics: Sequence[str]) -> str:
    """One markdown table per metric, each under a bold title."""
    return "\n\n".join(
        f"**{m}** (percent, mean ± sample std over runs)\n\n" + format_markdown(summaries, m)
        for m in metrics
    )
