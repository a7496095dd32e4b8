"""The four tagged blocks of a RegionReasoner turn: ``<scene> <focus> <think> <answer>``."""

from __future__ import annotations

import re

TAGS = ("scene", "focus", "think", "answer")
"""Tag names in the order the model must emit them."""

_OPEN_RE = re.compile(r"<(scene|focus|think|answer)\s*>", re.IGNORECASE)
_BLOCK_RES = {
    tag: re.compile(rf"<{tag}\s*>(.*?)</\s*{tag}\s*>", re.IGNORECASE | re.DOTALL) for tag in TAGS
}
_UNCLOSED_RES = {
    tag: re.compile(
        rf"<{tag}\s*>(.*?)(?=<(?:scene|focus|think|answer)\s*>|\Z)", re.IGNORECASE | re.DOTALL
    )
    for tag in TAGS
}


def extract_tag(text: str, tag: str) -> tuple[str | None, bool]:
    """Content of the first ``<tag>...</tag>`` block, stripped.

    An opening tag without its closing tag (a truncated answer) yields the text up to the
    next opening tag or the end of the text.

    Returns:
        ``(content or None, closed)``: ``closed`` is False when the block was unclosed.
    """
    match = _BLOCK_RES[tag].search(text)
    if match:
        return match.group(1).strip(), True
    match = _UNCLOSED_RES[tag].search(text)
    if match:
        return match.group(1).strip(), False
    return None, False


def tags_in_order(text: str) -> tuple[str, ...]:
    """Opening tags in order of appearance (repeats included), lower-cased."""
    return tuple(m.group(1).lower() for m in _OPEN_RE.finditer(text))
