"""Writing a run's reports (DESIGN 3.3, 3.4): ``metrics.json``, ``report.md``,
``rounds.png`` and ``report.html``.

:func:`write_reports` scores one run directory, or the shard directories of one run
(:mod:`regionreasoner.evaluation.scoring`), and writes:

- ``metrics.json``: :func:`~regionreasoner.evaluation.scoring.compute_metrics`;
- ``card.json``: the reproducibility card (:func:`~regionreasoner.evaluation.card.make_card`
  of the run's ``config.json``, the data file and the metrics);
- ``report.md``: the card, then the per-round tables
  (:mod:`regionreasoner.evaluation.tables`) under a header with the settings, the
  given-reference split of rounds >= 2, and the notes;
- ``rounds.png``: acc@0.5 and gIoU per round with turn counts
  (:mod:`regionreasoner.evaluation.plots`);
- ``report.html``: the same tables, the plot and a gallery of sampled dialogues
  (:mod:`regionreasoner.evaluation.gallery`), rendered from the Jinja2 templates in
  ``templates/`` (package data).

Everything is written through :func:`regionreasoner.fileio.atomic_write`.
"""

from __future__ import annotations

import base64
import functools
import html
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from regionreasoner.evaluation.card import PromptText, make_card
from regionreasoner.evaluation.gallery import GalleryView, gallery_view
from regionreasoner.evaluation.run_dir import (
    CARD_FILE,
    METRICS_FILE,
    REPORT_FILES,
    REPORT_HTML_FILE,
    REPORT_MD_FILE,
    ROUNDS_PNG_FILE,
    write_json,
)
from regionreasoner.evaluation.scoring import compute_metrics, score_run
from regionreasoner.evaluation.tables import (
    behaviour_table,
    breakdown_tables,
    card_notes,
    card_tables,
    detection_table,
    format_round_table,
    pass_rate_table,
    propagation_table,
    render_card_markdown,
    report_notes,
    segmentation_table,
    segmentation_unavailable,
    settings_table,
)
from regionreasoner.fileio import atomic_write

logger = logging.getLogger(__name__)

DEFAULT_GALLERY_DIALOGUES = 8
"""Dialogues drawn in the ``report.html`` gallery."""

DEFAULT_GALLERY_SEED = 0
"""Seed of the gallery's dialogue sample."""

TEMPLATES_PACKAGE = "regionreasoner.evaluation"
TEMPLATES_FOLDER = "templates"
HTML_TEMPLATE = "report.html.j2"
"""Package data: the page's template (with its macros and ``report.css``, inlined)."""


PROPAGATION_TITLE = "Error propagation: rounds >= 2 by the given reference"
CARD_TITLE = "Reproducibility card"


def render_markdown(metrics: Mapping[str, Any], card: Mapping[str, Any] | None = None) -> str:
    """The ``report.md`` text (the card first when there is one)."""
    benchmark = metrics.get("benchmark")
    parts = [f"# Evaluation report: {metrics.get('model') or 'unknown model'}", ""]
    if card is not None:
        parts += [f"## {CARD_TITLE}", "", render_card_markdown(card)]
    parts += [settings_table(metrics).to_markdown(), ""]
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
        unavailable = segmentation_unavailable(metrics)
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
        propagation = propagation_table(metrics)
        if propagation is not None:
            parts += [f"## {PROPAGATION_TITLE}", "", propagation.to_markdown(), ""]
        for title, table in breakdown_tables(metrics):
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


def _escape_value(value: Any) -> Any:
    """Every ``{{ value }}`` of the templates is HTML-escaped with :func:`html.escape`
    (markup the templates made themselves, such as a macro's output, is kept)."""
    from markupsafe import Markup

    return value if isinstance(value, Markup) else Markup(html.escape(str(value)))


@functools.cache
def _environment() -> Any:
    """The Jinja2 environment of the report templates (loaded once)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader(TEMPLATES_PACKAGE, TEMPLATES_FOLDER),
        autoescape=True,
        finalize=_escape_value,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )


def render_html(
    metrics: Mapping[str, Any],
    png: bytes,
    gallery: GalleryView | None,
    card: Mapping[str, Any] | None = None,
) -> str:
    """The self-contained ``report.html`` text (the card first when there is one)."""
    environment = _environment()
    benchmark = metrics.get("benchmark")
    sections: dict[str, Any] = {"rounds": bool(metrics["rounds"])}
    if metrics["rounds"]:
        unavailable = segmentation_unavailable(metrics)
        sections.update(
            detection=detection_table(metrics, benchmark),
            segmentation_unavailable=unavailable.replace("`", "") if unavailable else None,
            segmentation=None if unavailable else segmentation_table(metrics, benchmark),
            pass_rates=None if unavailable else pass_rate_table(metrics),
            propagation=propagation_table(metrics),
            propagation_title=PROPAGATION_TITLE,
            breakdowns=breakdown_tables(metrics),
            behaviour=behaviour_table(metrics),
        )
    return environment.get_template(HTML_TEMPLATE).render(
        title=f"Evaluation report: {metrics.get('model') or 'unknown model'}",
        settings_table=settings_table(metrics),
        card_title=CARD_TITLE,
        card_tables=card_tables(card) if card is not None else [],
        card_notes=card_notes(card) if card is not None else [],
        sections=sections,
        png_base64=base64.b64encode(png).decode("ascii"),
        notes=report_notes(metrics),
        gallery_view=gallery,
    )


def write_reports(
    run_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str] | None = None,
    data_path: str | os.PathLike[str] | None = None,
    *,
    gallery_dialogues: int = DEFAULT_GALLERY_DIALOGUES,
    seed: int = DEFAULT_GALLERY_SEED,
    prompt: PromptText | None = None,
) -> dict[str, Any]:
    """Score one run (one or several shard directories) and write its reports and card.

    Args:
        run_dirs: run directories of ``regionreasoner eval`` (shards of one run).
        out_dir: where to write; default the first run directory (in place).
        data_path: the benchmark JSONL; default the ``data`` of ``config.json``. Used
            for rows without stored ground truth, the gallery images and questions,
            and to recognise RegionDial-Bench data.
        gallery_dialogues: dialogues drawn in ``report.html`` (0: no gallery).
        seed: seed of the gallery sample.
        prompt: the prompt text the card hashes when ``config.json`` recorded none
            (a run from before ``prompt_text``; see
            :func:`~regionreasoner.evaluation.card.build_card`).

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
    card = make_card(
        run.config,
        data_path=run.data_path,
        prompt=prompt,
        metrics=metrics,
        dialogues=None if run.dialogues is None else run.dialogues.values(),
    )
    write_json(target / METRICS_FILE, metrics)
    write_json(target / CARD_FILE, card)
    with atomic_write(target / REPORT_MD_FILE) as handle:
        handle.write(render_markdown(metrics, card))
    with atomic_write(target / ROUNDS_PNG_FILE, "wb") as handle:
        handle.write(png)
    gallery = gallery_view(run, gallery_dialogues, seed)
    with atomic_write(target / REPORT_HTML_FILE) as handle:
        handle.write(render_html(metrics, png, gallery, card))
    logger.debug("wrote %s to %s", ", ".join(REPORT_FILES), target)
    return metrics


__all__ = [
    "DEFAULT_GALLERY_DIALOGUES",
    "DEFAULT_GALLERY_SEED",
    "format_round_table",
    "render_html",
    "render_markdown",
    "write_reports",
]
