"""HTML panels: status boxes, highlighted citations, escaping."""

from __future__ import annotations

import pytest

from regionreasoner.dialogue.protocols import PaperProtocol, Reference
from regionreasoner.geometry.frames import FRAMES
from regionreasoner.parsing import parse_response
from regionreasoner.serve.render import (
    frame_words,
    highlight_citations,
    history_html,
    status_html,
)


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
    written = None if reference is None else Reference(None, reference, "t", "predicted")
    html = highlight_citations(parsed.think, parsed, written)
    for text in ref_marks:
        assert f'<mark class="rr-cite-ref" title="the cited reference">{text}</mark>' in html
    for text in other_marks:
        assert f">{text}</mark>" in html and 'class="rr-cite-other"' in html
    assert html.count("<mark") == len(ref_marks) + len(other_marks)
    assert "&lt;not&gt;" in html and html.endswith(" end")


def test_an_empty_history_says_so() -> None:
    assert "No questions yet" in history_html(None)


@pytest.mark.parametrize(
    ("cited", "is_ref"),
    [
        ("0.100,0.250,0.500,0.875", True),
        ("0.101,0.249,0.500,0.875", True),
        ("0.102,0.250,0.500,0.875", False),
    ],
)
def test_a_rel1_reference_is_highlighted_within_one_step_of_its_decimals(
    cited: str, is_ref: bool
) -> None:
    """The page's check is the one ``eval`` scores ``cited_reference`` with: one 0.001
    step in ``rel1``, not one pixel (which would accept every box on a 0-1 scale)."""
    protocol = PaperProtocol("rel1")
    frame = protocol.frame((640, 480))
    prompt_xyxy, text = protocol.write_reference((64, 120, 320, 420), frame)
    reference = Reference(
        (64, 120, 320, 420),
        prompt_xyxy,
        text,
        "predicted",
        tolerance=protocol.citation_tolerance(frame),
    )
    assert text == "bbox=[0.100,0.250,0.500,0.875]"
    think = f"near bbox=[{cited}] it is"
    parsed = parse_response(f"<scene>s</scene><think>{think}</think><answer>[]</answer>")
    html = highlight_citations(parsed.think, parsed, reference)
    assert ('class="rr-cite-ref"' in html) is is_ref
    assert ('class="rr-cite-other"' in html) is not is_ref


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        ("square840", "pixels of the 840x840 image the model is shown"),
        ("native", "pixels of the 644x476 image the model is shown"),
        ("image", "pixels of the original image"),
        ("rel1000", "a 0-1000 grid over the image"),
        ("rel1", "a 0-1 grid over the image"),
    ],
)
def test_the_substitution_says_what_the_numbers_of_the_frame_are(frame: str, words: str) -> None:
    assert frame_words(FRAMES.get(frame)((640, 480))) == words
