"""The four tagged blocks of a RegionReasoner turn: ``<scene> <focus> <think> <answer>``.

Extraction is linear in the text length: one forward scan for the opening tag, one for
the closing tag after it. (A single lazy regex ``<tag>(.*?)</tag>`` retries from every
opening tag when no closing tag follows, which is quadratic: a policy that degenerates
into 20,000 repeated ``<think>`` tags made it take seconds.)
"""

from __future__ import annotations

import re

TAGS = ("scene", "focus", "think", "answer")
"""Tag names in the order the model must emit them."""

_OPEN_RE = re.compile(r"<(scene|focus|think|answer)\s*>", re.IGNORECASE)
_OPEN_TAG_RES = {tag: re.compile(rf"<{tag}\s*>", re.IGNORECASE) for tag in TAGS}
_CLOSE_TAG_RES = {tag: re.compile(rf"</\s*{tag}\s*>", re.IGNORECASE) for tag in TAGS}


def extract_tag(text: str, tag: str) -> tuple[str | None, bool]:
    """Content of the first ``<tag>...</tag>`` block, stripped.

    The block opens at the first ``<tag>`` and ends at the first ``</tag>`` after it
    (the leftmost match of ``<tag>(.*?)</tag>``). An opening tag without any closing tag
    after it (a truncated answer) yields the text up to the next opening tag of any of
    the four tags, or to the end of the text.

    Returns:
        ``(content or None, closed)``: ``closed`` is False when the block was unclosed.

    >>> extract_tag("<think>a</think><think>b</think>", "think")
    ('a', True)
    >>> extract_tag("<think>cut <answer>[1]", "think")
    ('cut', False)
    """
    opening = _OPEN_TAG_RES[tag].search(text)
    if opening is None:
        return None, False
    start = opening.end()
    closing = _CLOSE_TAG_RES[tag].search(text, start)
    if closing is not None:
        return text[start : closing.start()].strip(), True
    following = _OPEN_RE.search(text, start)
    end = len(text) if following is None else following.start()
    return text[start:end].strip(), False


def tags_in_order(text: str) -> tuple[str, ...]:
    """Opening tags in order of appearance (repeats included), lower-cased."""
    return tuple(m.group(1).lower() for m in _OPEN_RE.finditer(text))
