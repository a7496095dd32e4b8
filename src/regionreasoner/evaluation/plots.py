"""``rounds.png``: acc@0.5 and gIoU per round, with turn counts (matplotlib, Agg)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from regionreasoner.evaluation.published import DETECTION, OURS, SEGMENTATION

FIGURE_SIZE_IN = (6.4, 4.6)
FIGURE_DPI = 110


def _percent(value: float | None) -> float:
    return float("nan") if value is None else 100.0 * value


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
    acc = [_percent(e.get("acc@0.5")) for e in entries]
    giou = [_percent(e.get("gIoU")) for e in entries]

    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(rounds, acc, marker="o", color="tab:blue", label="acc@0.5 (this run)")
    if any(e.get("gIoU") is not None for e in entries):
        axes.plot(rounds, giou, marker="s", color="tab:orange", label="gIoU (this run)")
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


__all__ = ["render_rounds_png"]
