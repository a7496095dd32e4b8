"""Streaming JSONL I/O of RegionDial dialogues."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from regionreasoner.data.schema import Dialogue
from regionreasoner.errors import DataFormatError
from regionreasoner.fileio import atomic_write, dump_json_line, iter_jsonl


def iter_dialogues(path: str | os.PathLike[str]) -> Iterator[Dialogue]:
    """Stream dialogues from a RegionDial JSONL file, one line at a time.

    Raises:
        DataFormatError: the first invalid line or record, located; also duplicate ids.
    """
    seen: set[str] = set()
    for line, obj in iter_jsonl(path):
        dialogue = Dialogue.from_dict(obj, path=str(path), line=line)
        if dialogue.dialogue_id in seen:
            raise DataFormatError(
                "duplicate dialogue_id",
                path=str(path),
                record=f"dialogue {dialogue.dialogue_id}",
                field="dialogue_id",
            )
        seen.add(dialogue.dialogue_id)
        yield dialogue


def read_dialogues(path: str | os.PathLike[str]) -> list[Dialogue]:
    """All dialogues of a RegionDial JSONL file."""
    return list(iter_dialogues(path))


def write_dialogues(path: str | os.PathLike[str], dialogues: Iterable[Dialogue]) -> int:
    """Write dialogues atomically (temp file + rename); returns the count written."""
    count = 0
    with atomic_write(path) as handle:
        for dialogue in dialogues:
            handle.write(dump_json_line(dialogue.to_dict()))
            count += 1
    return count


def resolve_image_path(
    dialogue: Dialogue,
    data_path: str | os.PathLike[str],
    images_root: str | os.PathLike[str] | None = None,
) -> Path:
    """Absolute path of a dialogue's image: under ``images_root`` or the data file's folder."""
    root = Path(images_root) if images_root is not None else Path(data_path).resolve().parent
    return root / dialogue.image


def to_hf_dataset(dialogues: Iterable[Dialogue]) -> Any:
    """A Hugging Face ``datasets.Dataset`` with one row per dialogue (needs the ``hf`` extra).

    Nested records are stored as JSON strings in ``turns_json`` so the schema stays
    stable whatever optional fields the targets carry.
    """
    from regionreasoner._imports import require

    datasets = require("datasets", extra="hf")
    import json

    rows: dict[str, list[Any]] = {
        "dialogue_id": [],
        "image": [],
        "image_wh": [],
        "source": [],
        "num_turns": [],
        "turns_json": [],
    }
    for d in dialogues:
        rows["dialogue_id"].append(d.dialogue_id)
        rows["image"].append(d.image)
        rows["image_wh"].append(list(d.image_wh) if d.image_wh else None)
        rows["source"].append(d.source)
        rows["num_turns"].append(len(d.turns))
        rows["turns_json"].append(json.dumps([t.to_dict() for t in d.turns]))
    return datasets.Dataset.from_dict(rows)
