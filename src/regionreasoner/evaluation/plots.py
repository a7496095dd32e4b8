"""``rounds.png``: acc@0.5 and gIoU per round, with turn counts (matplotlib, Agg).

When ``metrics.json`` carries them, the curves get their 95 % bootstrap intervals as
error bars (``acc@0.5_ci``, ``gIoU_ci``) and two dotted acc@0.5 curves split the rounds
>= 2 by whether the given reference was right or wrong (``given_reference_hit`` /
``given_reference_miss``, see :mod:`regionreasoner.evaluation.propagation`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regionreasoner.evaluation.bootstrap import interval_key
from regionreasoner.evaluation.propagation import GIVEN_HIT, GIVEN_MISS
from regionreasoner.evaluation.published import DETECTION, OURS, SEGMENTATION

FIGURE_SIZE_IN = (6.4, 4.6)
FIGURE_DPI = 110


def _percent(value: float | None) -> float:
    return float("nan") if value is None else 100.0 * value


@dataclass(frozen=True, slots=True)
class RoundSeries:
    """One measured curve of the plot, in percent (NaN where a round has no value).

    Attributes:
        key: ``acc@0.5``, ``gIoU``, ``given_reference_hit`` or ``given_reference_miss``.
        label: the legend entry.
        rounds: 1-based rounds (x).
        values: percent per round.
        low, high: the interval's bounds in percent per round (NaN where none), or
            ``None`` when no round has an interval.
        style: ``"measured"`` (solid, with markers) or ``"split"`` (dotted).
    """

    key: str
    label: str
    rounds: tuple[int, ...]
    values: tuple[float, ...]
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None
    style: str = "measured"


def _bounds(entries: list[Mapping[str, Any]], key: str) -> tuple[tuple[float, ...], ...] | None:
    intervals = [e.get(interval_key(key)) for e in entries]
    if all(i is None for i in intervals):
        return None
    low = tuple(math.nan if i is None else 100.0 * i[0] for i in intervals)
    high = tuple(math.nan if i is None else 100.0 * i[1] for i in intervals)
    return low, high


def round_series(metrics: Mapping[str, Any]) -> list[RoundSeries]:
    """The measured curves of ``rounds.png``: acc@0.5 and gIoU (with their intervals when
    ``metrics.json`` has them), and acc@0.5 after a right and after a wrong reference."""
    rounds = tuple(sorted(int(r) for r in metrics["rounds"]))
    entries = [metrics["rounds"][str(r)] for r in rounds]
    series = []
    for key in ("acc@0.5", "gIoU"):
        if key == "gIoU" and all(e.get(key) is None for e in entries):
            continue
        bounds = _bounds(entries, key)
        series.append(
            RoundSeries(
                key,
                f"{key} (this run)",
                rounds,
                tuple(_percent(e.get(key)) for e in entries),
                None if bounds is None else bounds[0],
                None if bounds is None else bounds[1],
            )
        )
    for group, label in ((GIVEN_HIT, "reference right"), (GIVEN_MISS, "reference wrong")):
        split = [(r, e[group]) for r, e in zip(rounds, entries, strict=True) if group in e]
        if split:
            series.append(
                RoundSeries(
                    group,
                    f"acc@0.5, {label}",
                    tuple(r for r, _ in split),
                    tuple(_percent(g.get("acc@0.5")) for _, g in split),
                    style="split",
                )
            )
    return series


_STYLES: Mapping[str, tuple[str, str]] = {
    "acc@0.5": ("tab:blue", "o"),
    "gIoU": ("tab:orange", "s"),
    GIVEN_HIT: ("tab:green", "."),
    GIVEN_MISS: ("tab:red", "."),
}
"""Colour and marker of each curve."""


def _error_bars(
    values: tuple[float, ...], low: tuple[float, ...], high: tuple[float, ...]
) -> list[list[float]]:
    """``[below, above]`` offsets of the interval (0 where a round has none)."""
    below = [v - lo for v, lo in zip(values, low, strict=True)]
    above = [hi - v for v, hi in zip(values, high, strict=True)]
    return [[0.0 if math.isnan(d) else d for d in side] for side in (below, above)]


def render_rounds_png(metrics: Mapping[str, Any], benchmark: str | None = None) -> bytes:
    """PNG bytes of the per-round curves.

    Args:
        metrics: the ``metrics.json`` dict (``rounds`` entries with ``acc@0.5``,
            ``gIoU``, ``turns``).
        benchmark: a key of :mod:`~regionreasoner.evaluation.published`; when given,
            the paper's RegionReasoner-7B curves are drawn dashed for comparison.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rounds = sorted(int(r) for r in metrics["rounds"])
    entries = [metrics["rounds"][str(r)] for r in rounds]

    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for one in round_series(metrics):
        color, marker = _STYLES[one.key]
        if one.style == "split":
            axes.plot(
                one.rounds, one.values, linestyle=":", marker=marker, color=color, label=one.label
            )
        elif one.low is not None and one.high is not None:
            axes.errorbar(
                one.rounds,
                one.values,
                yerr=_error_bars(one.values, one.low, one.high),
                marker=marker,
                color=color,
                capsize=3,
                label=f"{one.label}, 95 % CI",
            )
        else:
            axes.plot(one.rounds, one.values, marker=marker, color=color, label=one.label)
    if benchmark is not None:
        for table, color, name in (
            (DETECTION, "tab:blue", "acc@0.5"),
            (SEGMENTATION, "tab:orange", "gIoU"),
        ):
            if benchmark not in table:
                continue
            row = next(r for r in table[benchmark].rows if r.method == OURS)
            values = [row.round_value(r) for r in rounds]
            axes.plot(
                rounds,
                [float("nan") if v is None else v for v in values],
                linestyle="--",
                color=color,
                alpha=0.6,
                label=f"{name} {OURS} ({table[benchmark].source})",
            )
    axes.set_xticks(rounds)
    axes.set_xticklabels([f"R{r}\nn={e['turns']}" for r, e in zip(rounds, entries, strict=True)])
    axes.set_ylim(0, 100)
    axes.set_ylabel("%")
    axes.set_title("Per-round accuracy")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


__all__ = ["RoundSeries", "render_rounds_png", "round_series"]
