"""The RegionDial format: records, validation, JSONL I/O, converters and builders."""

from regionreasoner.data.io import iter_dialogues, read_dialogues, to_hf_dataset, write_dialogues
from regionreasoner.data.schema import (
    KNOWN_RELATIONS,
    PAPER_RELATIONS,
    REF_PLACEHOLDER,
    SCHEMA_VERSION,
    Dialogue,
    Target,
    Turn,
)
