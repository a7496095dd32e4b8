"""``replay:<file>``: re-score recorded model outputs without running a model.

The file is JSONL with at least ``{"dialogue_id", "turn_index", "text"}`` per row, the
text in the MODEL frame of the run being replayed (a ``predictions.jsonl`` of an earlier
run qualifies), read with the rules of every ``predictions.jsonl`` reader
(:mod:`regionreasoner.evaluation.predictions`). When a turn has several rows the last
one wins; rows marked ``"failed": true`` carry no answer. A row's ``text_lost`` (part of
the completion was dropped by the server that produced it) is replayed with its text. A
turn with no usable row comes back as a failed generation, so it is recorded as failed
and scored as a miss. A torn last line (an interrupted write) is ignored with a warning;
any other invalid line is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from regionreasoner.backends.base import (
    META_DIALOGUE_ID,
    META_TURN_INDEX,
    BackendOptions,
    Generation,
    GenerationRequest,
)
from regionreasoner.errors import ConfigError, DataFormatError
from regionreasoner.evaluation.predictions import TurnKey, read_row_lines, row_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordedText:
    """One recorded completion: its text and the row's ``text_lost`` (or ``None``)."""

    text: str
    text_lost: str | None = None


def read_recorded_texts(path: str | Path) -> dict[TurnKey, RecordedText]:
    """Map ``(dialogue_id, turn_index)`` to the recorded completion of a replay file.

    Raises:
        ConfigError: the file does not exist.
        DataFormatError: an invalid line (other than a torn last line) or row.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"replay file not found: {file}")
    texts: dict[TurnKey, RecordedText] = {}
    for number, row in read_row_lines(file):
        key = row_key(row, path=str(file), line=number)
        if row.get("failed") is True:
            texts.pop(key, None)
            continue
        text = row.get("text")
        if not isinstance(text, str):
            raise DataFormatError(
                f"expected a string text, got {type(text).__name__}",
                path=str(file),
                record=f"line {number}",
                field="text",
            )
        text_lost = row.get("text_lost")
        if text_lost is not None and not isinstance(text_lost, str):
            raise DataFormatError(
                f"expected a string or null text_lost, got {text_lost!r}",
                path=str(file),
                record=f"line {number}",
                field="text_lost",
            )
        texts[key] = RecordedText(text, text_lost)
    return texts


class ReplayBackend:
    """Returns the recorded text of each turn.

    Args:
        path: the replay file.
    """

    name: ClassVar[str] = "replay"
    needs_image: ClassVar[bool] = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._texts = read_recorded_texts(self.path)
        logger.info("replay: %d recorded turns from %s", len(self._texts), self.path)

    @classmethod
    def from_spec(cls, argument: str, options: BackendOptions) -> ReplayBackend:
        """Build from the file path after ``replay:``."""
        if not argument:
            raise ConfigError("model spec replay: expected replay:<predictions.jsonl>")
        return cls(argument)

    def describe(self) -> dict[str, Any]:
        """Settings for ``config.json``."""
        return {"path": str(self.path), "recorded_turns": len(self._texts)}

    def close(self) -> None:
        """Nothing to release."""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Look up each request's turn; a missing row is a failed generation."""
        out = []
        for request in requests:
            key = (str(request.meta(META_DIALOGUE_ID)), int(request.meta(META_TURN_INDEX)))
            recorded = self._texts.get(key)
            if recorded is None:
                out.append(
                    Generation(
                        "",
                        0.0,
                        error=f"no recorded output for dialogue "
                        f"{key[0]} turn {key[1]} in {self.path}",
                    )
                )
            else:
                out.append(Generation(recorded.text, 0.0, text_lost=recorded.text_lost))
        return out
