"""The model's completion, rebuilt from an OpenAI-compatible chat completion message.

Servers do not always return a completion as the model wrote it. A server with a
reasoning parser moves the ``<think>`` block into a field of its own and drops its tags:
``transformers serve`` for every Qwen-family model type (``reasoning_content``), vLLM
with ``--reasoning-parser`` (``reasoning``; ``reasoning_content`` in older releases) and
SGLang with ``--reasoning-parser`` (``reasoning_content``). ``content`` then holds only
what followed ``</think>``: a chat message has no field for text written BEFORE the
reasoning, and these parsers drop it (for RegionReasoner: ``<scene>`` and ``<focus>``).

:func:`rebuild_completion` puts the pieces back in the order the model writes them and
says when text cannot have survived (:data:`TEXT_LOST_BEFORE_REASONING`):

=============================================  ==========================================
message                                        rebuilt completion
=============================================  ==========================================
``content`` only (a string or ``null``)        ``content`` (``""`` for ``null``)
``content`` parts                              the parts in order; a ``reasoning`` or
                                               ``thinking`` part becomes ``<think>..</think>``
``content`` + ``reasoning_content``            ``<think>R</think>`` + ``content``; the text
or ``reasoning``                               before ``<think>`` is lost
same, the think block unclosed (generation     ``content`` + ``<think>R`` (``transformers
stopped at the length limit, ``content`` has   serve`` keeps the text before ``<think>`` in
no ``<answer>``)                               ``content`` then; lost when it is empty)
=============================================  ==========================================

A reasoning field whose text ``content`` already contains inside ``<think>`` (a server
that sends both) adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Message fields that carry a split-out ``<think>`` block (SGLang/transformers, vLLM)."""

TEXT_PART_TYPES = ("text", "output_text")
"""``content`` part types whose ``text`` is completion text."""

REASONING_PART_TYPES = ("reasoning", "thinking")
"""``content`` part types that carry reasoning text (kept in place, as a think block)."""

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ANSWER_OPEN = "<answer>"

FINISH_LENGTH = "length"
"""``finish_reason`` of a generation stopped by ``max_tokens``."""

TEXT_LOST_BEFORE_REASONING = "before_reasoning"
"""``text_lost`` value: the server split the reasoning out of the completion and what the
model wrote before ``<think>`` is not in the response."""


TEXT_LOST_ADVICE = {
    TEXT_LOST_BEFORE_REASONING: (
        "the server split the <think> block out of the completion (into reasoning_content "
        "or reasoning) and dropped the text the model wrote before it (RegionReasoner's "
        "<scene> and <focus>). Serve the model without a reasoning parser: vLLM and "
        "SGLang: leave out --reasoning-parser; transformers serve has no flag for it (it "
        "splits the output of every Qwen-family model): give the model folder a "
        "pass-through response_template (docs/evaluation.md, 'Serving a model for a "
        "faithful evaluation')"
    ),
}
"""Cause and remedy of each ``text_lost`` value, for warnings."""


@dataclass(frozen=True, slots=True)
class RebuiltCompletion:
    """A completion put back together from a chat message.

    Attributes:
        text: the completion in the model's order (tags the server removed restored).
        reasoning_field: the message field the think block came from, or ``None``.
        text_lost: why part of the completion is missing (a ``TEXT_LOST_*`` value), or
            ``None`` when the response holds all of it.
    """

    text: str
    reasoning_field: str | None = None
    text_lost: str | None = None


def _part_text(value: Any) -> str:
    """Text of a part's payload: a string, or a list of text parts (Mistral's thinking)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_part_text(item.get("text")) for item in value if isinstance(item, dict))
    return ""


def content_text(content: Any) -> str:
    """The text of a message's ``content``: a string, ``null`` or a list of parts.

    >>> content_text([{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "a"}])
    '<think>t</think>a'
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return str(content)
    pieces = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type", "text")
        if kind in TEXT_PART_TYPES:
            pieces.append(_part_text(part.get("text")))
        elif kind in REASONING_PART_TYPES:
            reasoning = _part_text(part.get(kind, part.get("text")))
            pieces.append(f"{THINK_OPEN}{reasoning}{THINK_CLOSE}")
    return "".join(pieces)


def _reasoning(message: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(text, field)`` of the split-out reasoning; both fields joined when they differ."""
    found = [
        (name, value) for name in REASONING_FIELDS if isinstance(value := message.get(name), str)
    ]
    if not found:
        return None, None
    texts: list[str] = []
    for _, value in found:
        if value not in texts:  # vLLM may send the same text under both names
            texts.append(value)
    return "".join(texts), found[0][0]


def rebuild_completion(
    message: Mapping[str, Any], finish_reason: str | None = None
) -> RebuiltCompletion:
    """The completion of a chat message, in the model's order (see the module table).

    Args:
        message: ``choices[0].message`` of a chat completion response.
        finish_reason: ``choices[0].finish_reason`` (``"length"`` tells an unclosed
            think block).

    >>> done = rebuild_completion({"content": "<answer>[]</answer>", "reasoning_content": "r"})
    >>> done.text, done.text_lost
    ('<think>r</think><answer>[]</answer>', 'before_reasoning')
    """
    content = content_text(message.get("content"))
    reasoning, field = _reasoning(message)
    if reasoning is None or (THINK_OPEN in content and reasoning.strip() in content):
        return RebuiltCompletion(content)
    if finish_reason == FINISH_LENGTH and ANSWER_OPEN not in content:
        # Stopped inside the think block: transformers serve returns the text before
        # <think> as content; vLLM and SGLang return none.
        lost = None if content.strip() else TEXT_LOST_BEFORE_REASONING
        return RebuiltCompletion(f"{content}{THINK_OPEN}{reasoning}", field, lost)
    return RebuiltCompletion(
        f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{content}", field, TEXT_LOST_BEFORE_REASONING
    )


__all__ = [
    "REASONING_FIELDS",
    "TEXT_LOST_ADVICE",
    "TEXT_LOST_BEFORE_REASONING",
    "RebuiltCompletion",
    "content_text",
    "rebuild_completion",
]
