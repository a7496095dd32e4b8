"""Which task a RegionDial record belongs to, and what one record counts.

Multi-round RegionDial-Bench records (``build refcoco``, ``convert``, ``build synth``)
are dialogues whose turns are the scored unit. The standard single-round tasks
(``build refcoco --single-round``) are one-turn records, one per referring EXPRESSION
(a sentence of the refer toolkit), which is the unit the published RefCOCO/+/g numbers
count; several expressions usually describe the same object (INSTANCE).

A single-round record says so twice: its ``source`` is ``"<dataset>/<split>/single-round"``
(e.g. ``"refcoco+/testA/single-round"``), so that a report never mistakes it for the
multi-round benchmark of the same dataset, and its ``meta`` holds
``{"task": "single-round", "counting_unit": "expression"}``.
"""

from __future__ import annotations

SINGLE_ROUND_TASK = "single-round"
"""``meta["task"]`` and the last part of ``source`` of a single-round record."""

META_TASK = "task"
"""``meta`` key naming the task of a record."""

META_COUNTING_UNIT = "counting_unit"
"""``meta`` key naming what one record counts."""

COUNT_EXPRESSION = "expression"
"""Counting unit of the single-round tasks: one referring expression per record."""

COUNT_TURN = "turn"
"""Counting unit of multi-round records: every turn is one scored question."""


def single_round_source(dataset: str, split: str) -> str:
    """The ``source`` of a single-round record.

    >>> single_round_source("refcoco+", "testA")
    'refcoco+/testA/single-round'
    """
    return f"{dataset}/{split}/{SINGLE_ROUND_TASK}"


def parse_single_round_source(source: str | None) -> tuple[str, str] | None:
    """``(dataset, split)`` of a single-round ``source``, ``None`` for any other source.

    >>> parse_single_round_source("refcocog/test/single-round")
    ('refcocog', 'test')
    >>> parse_single_round_source("refcocog/test") is None
    True
    """
    if not source:
        return None
    parts = source.split("/")
    if len(parts) != 3 or parts[2] != SINGLE_ROUND_TASK or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def is_single_round_name(name: str | None) -> bool:
    """Whether a source or file name marks a single-round task (contains ``single-round``)."""
    return bool(name) and SINGLE_ROUND_TASK in str(name).lower()


__all__ = [
    "COUNT_EXPRESSION",
    "COUNT_TURN",
    "META_COUNTING_UNIT",
    "META_TASK",
    "SINGLE_ROUND_TASK",
    "is_single_round_name",
    "parse_single_round_source",
    "single_round_source",
]
