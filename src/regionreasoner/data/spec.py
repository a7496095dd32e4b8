"""The fixed vocabulary of the RegionDial format: its version, the reference placeholder,
the relation names, and the rule for numbers.

The record types (:mod:`regionreasoner.data.schema`) and the rule checks
(:mod:`regionreasoner.data.dialogue_checks`) both read these, so neither has to import the
other for them: :meth:`~regionreasoner.data.schema.Dialogue.from_dict` runs the rule
checks, and the checks need only this module. See ``docs/data_format.md``.
"""

from __future__ import annotations

import math
from typing import Any

SCHEMA_VERSION = 1
"""Current version of the RegionDial format."""

SUPPORTED_SCHEMA_VERSIONS = frozenset({1})

REF_PLACEHOLDER = "{ref}"
"""Where a question cites the region of an earlier turn."""

PAPER_RELATIONS = (
    "next_to",
    "above",
    "below",
    "left_of",
    "right_of",
    "inside",
    "overlapping",
    "touching",
)
"""The eight relation templates of the paper (Table 5)."""

EXTRA_RELATIONS = ("farthest_from", "closest_to", "contains")
"""Relations the builders add beyond the paper's eight (rules in ``docs/benchmark.md``)."""

KNOWN_RELATIONS = PAPER_RELATIONS + EXTRA_RELATIONS


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is an int/float (not bool) and finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
