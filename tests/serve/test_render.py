"""HTML panels: status boxes, highlighted citations, escaping."""

from __future__ import annotations

import pytest

from regionreasoner.parsing import parse_response
from regionreasoner.serve.render import highlight_citations, history_html, status_html


@pytest.mark.parametrize("kind", ["info", "ok", "error"])
def test_status_boxes_escape_their_message(kind: str) -> None:
    html = status_html("<b>R1</b> & co", kind)
    assert f'class="rr-status rr-status-{kind}"' in html
    assert "&lt;b&gt;R1&lt;/b&gt; &amp; co" in html
    assert ('role="alert"' in html) == (kind == "error")


def test_unknown_status_kind_is_a_bug() -> None:
    with pytest.raises(ValueError, match="status kind"):
        status_html("x", "warning")


@pytest.mark.parametrize(
    ("reference", "ref_marks", "other_marks"),
    [
        ((10, 20, 30, 40), ["bbox=[10,20,30,40]"], ["[1, 2, 3, 4]"]),
        ((11, 21, 31, 41), ["bbox=[10,20,30,40]"], ["[1, 2, 3, 4]"]),  # within 1 px
        ((12, 20, 30, 40), [], ["bbox=[10,20,30,40]", "[1, 2, 3, 4]"]),  # 2 px off
        (None, [], ["bbox=[10,20,30,40]", "[1, 2, 3, 4]"]),  # nothing was cited
    ],
)
def test_the_cited_reference_is_highlighted(
    reference: tuple[int, ...] | None, ref_marks: list[str], other_marks: list[str]
) -> None:
    think = "near bbox=[10,20,30,40] <not> [1, 2, 3, 4] end"
    parsed = parse_response(f"<scene>s</scene><think>{think}</think><answer>[]</answer>")
    html = highlight_citations(parsed.think, parsed, reference)
    for text in ref_marks:
        assert f'<mark class="rr-cite-ref" title="the cited reference">{text}</mark>' in html
    for text in other_marks:
        assert f">{text}</mark>" in html and 'class="rr-cite-other"' in html
    assert html.count("<mark") == len(ref_marks) + len(other_marks)
    assert "&lt;not&gt;" in html and html.endswith(" end")


def test_an_empty_history_says_so() -> None:
    assert "No questions yet" in history_html(None)
