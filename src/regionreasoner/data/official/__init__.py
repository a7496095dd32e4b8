"""The official RegionDial-Bench release format: a streaming reader and conversion.

The release (HF ``lmsdss/regionreasoner_test_data``, ``raw/*_multi_turn.json``) is ONE
JSON list of ``{image_id, image_path, conversational_turns: [{question, bboxes,
context_from_turn?, ann_ids?, masks?}]}`` whose ``masks`` are dense ``H x W`` 0/1 arrays,
pretty-printed one number per line: 13 GB and 26 GB. The question-only files
(``*_multi_question.json``) have the same shape without ``ann_ids``/``masks``.

:class:`OfficialJSONReader` streams such a file in bounded memory: a small incremental
JSON parser walks the list item by item, and each mask grid is located by bracket depth
and decoded with numpy instead of building 300k Python ints (falling back to ``json``
for anything that is not a plain 0/1 grid, so the problem can be reported exactly).
:func:`convert_official_item` checks one item against the format's rules and maps it to a
:class:`~regionreasoner.data.schema.Dialogue`; :func:`convert_official` converts a whole
file to RegionDial JSONL. Field-by-field mapping: ``docs/data_format.md``.

The package is split by job: :mod:`.reader` (the streaming JSON reader), :mod:`.masks`
(decoding and encoding the dense masks), :mod:`.rules` (the format's rules, one item to
one dialogue) and :mod:`.convert` (a whole file to JSONL); the names below are its API.
"""

from __future__ import annotations

from regionreasoner.data.official.convert import ConvertSummary, convert_official, first_error
from regionreasoner.data.official.masks import (
    EncodedMask,
    as_mask_array,
    binary_grid_from_json,
    encode_mask,
)
from regionreasoner.data.official.reader import (
    OfficialJSONReader,
    RawItem,
    detect_format,
    iter_official_items,
)
from regionreasoner.data.official.rules import (
    OFFICIAL_PLACEHOLDER,
    OFFICIAL_SOURCE,
    REPAIR,
    SKIPPED,
    ConvertedItem,
    convert_official_item,
    official_item_problems,
    official_record_label,
    remove_placeholder,
)

__all__ = [
    "OFFICIAL_PLACEHOLDER",
    "OFFICIAL_SOURCE",
    "REPAIR",
    "SKIPPED",
    "ConvertSummary",
    "ConvertedItem",
    "EncodedMask",
    "OfficialJSONReader",
    "RawItem",
    "as_mask_array",
    "binary_grid_from_json",
    "convert_official",
    "convert_official_item",
    "detect_format",
    "encode_mask",
    "first_error",
    "iter_official_items",
    "official_item_problems",
    "official_record_label",
    "remove_placeholder",
]
