"""Tag extraction: first block, unclosed blocks, case and whitespace, order of appearance."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- linear extraction (issue 24, defect 4) -------------------------------------------
# The reference semantics: the single lazy regexes the extraction used to run. They are
# quadratic on repeated opening tags without a closing tag, which is why they were
# replaced; on short texts they define what the result must be.
_REFERENCE_BLOCK = {
    tag: re.compile(rf"<{tag}\s*>(.*?)</\s*{tag}\s*>", re.IGNORECASE | re.DOTALL) for tag in TAGS
}
_REFERENCE_UNCLOSED = {
    tag: re.compile(
        rf"<{tag}\s*>(.*?)(?=<(?:scene|focus|think|answer)\s*>|\Z)", re.IGNORECASE | re.DOTALL
    )
    for tag in TAGS
}


def reference_extract(text: str, tag: str) -> tuple[str | None, bool]:
    match = _REFERENCE_BLOCK[tag].search(text)
    if match:
        return match.group(1).strip(), True
    match = _REFERENCE_UNCLOSED[tag].search(text)
    if match:
        return match.group(1).strip(), False
    return None, False


TAG_SOUP = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "<think>", "</think>", "<THINK >", "</ think>", "<scene>", "</scene>",
                "<focus>", "</focus>", "<answer>", "</answer>", "< think>", "<think", " ",
                "\n", "abc", "<", ">", "/",
            ]
        ),
        st.text(max_size=4),
    ),
    max_size=30,
).map("".join)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(text=TAG_SOUP, tag=st.sampled_from(TAGS))
def test_extract_tag_matches_the_single_regex_semantics(text, tag):
    assert extract_tag(text, tag) == reference_extract(text, tag)


@pytest.mark.parametrize("count", [20_000, 60_000])
def test_repeated_unclosed_tags_extract_the_first_block(count):
    # 20,000 tags took 11 s with the regexes (60,000: 103 s); now one scan each. The
    # speed is measured by benchmarks/rewards.py --repeated-tags (docs/benchmarks.md).
    text = "<think>" * count
    assert extract_tag(text, "think") == ("", False)  # up to the next opening tag
    assert extract_tag(text + "</think>", "think") == ("<think>" * (count - 1), True)
    assert extract_tag("<think>x" * count, "answer") == (None, False)
    assert len(tags_in_order(text)) == count
