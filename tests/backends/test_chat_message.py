"""Rebuilding the model's completion from every chat message shape real servers send.

The messages below are shaped as the servers send them: ``transformers serve`` 5.24
(measured: ``reasoning_content``, the think text stripped of its tags and surrounding
spaces, ``content`` from ``<answer>`` on), vLLM >= 0.11 (``reasoning``; older releases and
a compatibility mode also ``reasoning_content``) and content-part lists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from regionreasoner.backends.chat_message import (
    TEXT_LOST_BEFORE_REASONING,
    content_text,
    rebuild_completion,
)
from regionreasoner.parsing import parse_response

SCENE = "<scene> the image shows 7 shapes. </scene>\n"
THINK = "the plain orange circle is at [255,557,398,706]."
ANSWER = '<answer>[{"bbox_2d": [255,578,398,758], "point_2d": [326,671]}]</answer>'


@pytest.mark.parametrize(
    ("message", "finish", "text", "field", "lost"),
    [
        pytest.param(
            {"role": "assistant", "content": f"{SCENE}<think> {THINK} </think>\n{ANSWER}"},
            "stop",
            f"{SCENE}<think> {THINK} </think>\n{ANSWER}",
            None,
            None,
            id="content only",
        ),
        pytest.param({"content": None}, "stop", "", None, None, id="null content"),
        pytest.param(
            {"role": "assistant", "content": ANSWER, "reasoning_content": THINK},
            "stop",
            f"<think>{THINK}</think>{ANSWER}",
            "reasoning_content",
            TEXT_LOST_BEFORE_REASONING,
            id="content + reasoning_content (transformers serve, SGLang)",
        ),
        pytest.param(
            {"role": "assistant", "content": ANSWER, "reasoning": THINK},
            "stop",
            f"<think>{THINK}</think>{ANSWER}",
            "reasoning",
            TEXT_LOST_BEFORE_REASONING,
            id="content + reasoning (vLLM)",
        ),
        pytest.param(
            {"content": ANSWER, "reasoning": THINK, "reasoning_content": THINK},
            "stop",
            f"<think>{THINK}</think>{ANSWER}",
            "reasoning_content",
            TEXT_LOST_BEFORE_REASONING,
            id="both reasoning names with one text: used once",
        ),
        pytest.param(
            {"content": [{"type": "text", "text": SCENE}, {"type": "text", "text": ANSWER}]},
            "stop",
            SCENE + ANSWER,
            None,
            None,
            id="content parts",
        ),
        pytest.param(
            {
                "content": [
                    {"type": "text", "text": SCENE},
                    {"type": "thinking", "thinking": [{"type": "text", "text": THINK}]},
                    {"type": "image_url", "image_url": {"url": "data:,"}},
                    {"type": "text", "text": ANSWER},
                ]
            },
            "stop",
            f"{SCENE}<think>{THINK}</think>{ANSWER}",
            None,
            None,
            id="content parts with a thinking part: order kept, nothing lost",
        ),
        pytest.param(
            {"content": None, "reasoning": f"{THINK} and then the model ran out"},
            "length",
            f"<think>{THINK} and then the model ran out",
            "reasoning",
            TEXT_LOST_BEFORE_REASONING,
            id="empty content with reasoning, truncated (vLLM): think left open",
        ),
        pytest.param(
            {"content": "", "reasoning_content": THINK},
            "stop",
            f"<think>{THINK}</think>",
            "reasoning_content",
            TEXT_LOST_BEFORE_REASONING,
            id="empty content with reasoning, stopped after </think>",
        ),
        pytest.param(
            {"content": SCENE.strip(), "reasoning_content": f"{THINK} unfinished"},
            "length",
            f"{SCENE.strip()}<think>{THINK} unfinished",
            "reasoning_content",
            None,
            id="truncated think (transformers serve keeps the text before it)",
        ),
        pytest.param(
            {"content": f"{SCENE}<think>{THINK}</think>{ANSWER}", "reasoning_content": THINK},
            "stop",
            f"{SCENE}<think>{THINK}</think>{ANSWER}",
            None,
            None,
            id="reasoning already inside content: not added twice",
        ),
        pytest.param(
            {"content": ANSWER, "reasoning_content": ""},
            "stop",
            f"<think></think>{ANSWER}",
            "reasoning_content",
            TEXT_LOST_BEFORE_REASONING,
            id="an empty think block split out",
        ),
    ],
)
def test_every_response_shape_is_rebuilt_in_the_models_order(
    message: dict[str, Any], finish: str, text: str, field: str | None, lost: str | None
) -> None:
    rebuilt = rebuild_completion(message, finish)
    assert (rebuilt.text, rebuilt.reasoning_field, rebuilt.text_lost) == (text, field, lost)


def test_the_rebuilt_completion_parses_as_the_model_wrote_it() -> None:
    split = rebuild_completion({"content": ANSWER, "reasoning": f"bbox=[1,2,3,4] {THINK}"})
    parsed = parse_response(split.text)
    assert parsed.think == f"bbox=[1,2,3,4] {THINK}"
    assert [c.xyxy for c in parsed.cited] == [(1.0, 2.0, 3.0, 4.0), (255.0, 557.0, 398.0, 706.0)]
    assert parsed.regions.xyxy.tolist() == [[255.0, 578.0, 398.0, 758.0]]
    assert parsed.scene is None  # the server dropped it: nothing is invented


def test_content_text_ignores_what_is_not_text() -> None:
    assert content_text([{"type": "image_url"}, "stray", {"type": "text"}]) == ""
    assert content_text(42) == "42"


def test_the_documented_pass_through_template_is_the_tested_one() -> None:
    from real_server import PASS_THROUGH_RESPONSE_TEMPLATE

    docs = (Path(__file__).parents[2] / "docs" / "evaluation.md").read_text(encoding="utf-8")
    block = re.search(r'```json\n"response_template": (\{.*?\n\})\n```', docs, re.DOTALL)
    assert block is not None
    assert json.loads(block.group(1)) == PASS_THROUGH_RESPONSE_TEMPLATE
