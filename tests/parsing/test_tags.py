"""Tag extraction: first block, unclosed blocks, case and whitespace, order of appearance."""

from __future__ import annotations

import pytest

from regionreasoner.parsing.tags import TAGS, extract_tag, tags_in_order


def test_tag_order_constant():
    assert TAGS == ("scene", "focus", "think", "answer")


@pytest.mark.parametrize(
    ("text", "tag", "expected"),
    [
        ("<think>abc</think>", "think", ("abc", True)),
        ("<think>\n  abc \n</think>", "think", ("abc", True)),  # stripped
        ("<think >abc</ think >", "think", ("abc", True)),  # whitespace inside the tag
        ("<THINK>abc</Think>", "think", ("abc", True)),  # case-insensitive
        ("<think>a\nb\nc</think>", "think", ("a\nb\nc", True)),  # multi-line
        ("<think>first</think><think>second</think>", "think", ("first", True)),
        ("<think></think>", "think", ("", True)),
        ("no tags here", "think", (None, False)),
        ("<scene>s</scene>", "think", (None, False)),
        # unclosed: up to the next opening tag
        ("<think>cut here <answer>[1]</answer>", "think", ("cut here", False)),
        # unclosed: up to the end of the text (a truncated response)
        ('<answer>[{"bbox_2d": [1, 2', "answer", ('[{"bbox_2d": [1, 2', False)),
        # an unclosed first block followed by a closed one: the closed block wins
        ("<focus>x <focus>y</focus>", "focus", ("x <focus>y", True)),
        ("< think>abc</think>", "think", (None, False)),  # not a tag
    ],
)
def test_extract_tag(text, tag, expected):
    assert extract_tag(text, tag) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<scene>a</scene><focus>b</focus><think>c</think><answer>d</answer>", TAGS),
        ("<answer>d</answer><scene>a</scene>", ("answer", "scene")),
        ("<think>a</think><think>b</think>", ("think", "think")),
        ("<SCENE>a</SCENE>", ("scene",)),
        ("</think> closing tags only </answer>", ()),
        ("<other>x</other>", ()),
        ("", ()),
    ],
)
def test_tags_in_order(text, expected):
    assert tags_in_order(text) == expected
