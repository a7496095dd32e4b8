"""Warnings the CLI prints on stderr about a scored run (shared by ``eval`` and ``score``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from regionreasoner.backends.chat_message import TEXT_LOST_ADVICE


def warn_unavailable_metrics(metrics: Mapping[str, Any], command: str) -> None:
    """Name the metrics reported as null because a server dropped text, the cause of each
    ``text_lost`` value and the server setting that avoids it (nothing when none)."""
    unavailable = metrics.get("unavailable") or {}
    if not unavailable:
        return
    overall = metrics["overall"]
    print(
        f"regionreasoner {command}: warning: {', '.join(unavailable)} are reported as null "
        f"(unavailable), not 0: {overall['text_lost_turns']} of {overall['turns']} turns lack "
        "part of their completion (text_lost in predictions.jsonl)",
        file=sys.stderr,
    )
    for cause, turns in (metrics.get("text_lost") or {}).items():
        advice = TEXT_LOST_ADVICE.get(cause, "an unknown cause recorded by another version")
        print(f"  text_lost={cause} ({turns} turns): {advice}", file=sys.stderr)
