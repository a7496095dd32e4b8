"""HTML of the page's panels: status, answer (tags and highlighted citation), history.

Everything that comes from a user or a model is escaped here.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from regionreasoner.dialogue.protocols import Reference, is_reference
from regionreasoner.serve.drawing import USER_BOX_RGB, colour
from regionreasoner.serve.state import DialogueItem, DialogueState, format_box

if TYPE_CHECKING:
    from regionreasoner.geometry.frames import Frame
    from regionreasoner.parsing.response import ParsedResponse
    from regionreasoner.serve.examples import Example

STATUS_KINDS = ("info", "ok", "error")

CSS = """
.rr-status {padding: 8px 12px; border-radius: 6px; border: 1px solid; font-size: 0.95em;}
.rr-status-info {background: #eef4fb; border-color: #9bbbe0; color: #1d3b5c;}
.rr-status-ok {background: #edf8ee; border-color: #8fcf95; color: #1e4d23;}
.rr-status-error {background: #fdecec; border-color: #e08e8e; color: #7a1212; font-weight: 600;}
.rr-answer, .rr-history, .rr-hints {font-size: 0.93em; line-height: 1.45;}
.rr-block {margin: 6px 0; padding: 6px 8px; border-left: 4px solid #c9d3de; background: #f7f9fb;}
.rr-tag {display: inline-block; min-width: 48px; font-family: monospace; font-weight: 700;
         color: #44546a;}
.rr-cite-ref {background: #ffe45c; padding: 0 2px; border-radius: 3px; font-weight: 700;}
.rr-cite-other {background: #ffc7a8; padding: 0 2px; border-radius: 3px;}
.rr-chip {display: inline-block; padding: 0 6px; border-radius: 4px; color: #fff;
          font-weight: 700; font-family: monospace; margin-right: 3px;}
.rr-sub {margin: 4px 0; padding: 6px 8px; background: #fff8d6; border: 1px solid #e8d27a;
         border-radius: 4px;}
.rr-history ol {padding-left: 22px; margin: 0;}
.rr-history li {margin: 3px 0;}
.rr-failed {color: #7a1212;}
.rr-muted {color: #6b7785;}
.rr-answer pre {white-space: pre-wrap; font-size: 0.85em;}
"""
"""Styles of the HTML panels (passed to the page)."""


def status_html(message: str, kind: str = "info") -> str:
    """A status box (``kind``: info, ok or error); errors carry ``role="alert"``."""
    if kind not in STATUS_KINDS:
        raise ValueError(f"status kind must be one of {STATUS_KINDS}, got {kind!r}")
    role = ' role="alert"' if kind == "error" else ""
    return (
        f'<div class="rr-status rr-status-{kind}" data-kind="{kind}"{role}>'
        f"{html.escape(message)}</div>"
    )


def _chip(label: str, state: DialogueState) -> str:
    region = state.regions.get(label)
    if region is None:
        rgb = (120, 120, 120)
    elif region.is_user_box:
        rgb = USER_BOX_RGB
    else:
        rgb = colour(region.item_index)
    return f'<span class="rr-chip" style="background: rgb{rgb}">{html.escape(label)}</span>'


def highlight_citations(think: str, parsed: ParsedResponse, reference: Reference | None) -> str:
    """``think`` as HTML with every cited box marked: the reference (as written in the
    prompt, within the protocol's citation tolerance in the run's frame: the test
    ``eval`` scores ``cited_reference`` with) in yellow, any other box in orange.
    """
    out = []
    last = 0
    for cited in sorted(parsed.cited, key=lambda c: c.span[0]):
        start, end = cited.span
        if start < last or end > len(think):
            continue
        is_ref = reference is not None and is_reference(cited.xyxy, reference)
        css = "rr-cite-ref" if is_ref else "rr-cite-other"
        title = "the cited reference" if is_ref else "a box that is not the reference"
        out.append(html.escape(think[last:start]))
        out.append(f'<mark class="{css}" title="{title}">{html.escape(think[start:end])}</mark>')
        last = end
    out.append(html.escape(think[last:]))
    return "".join(out)


def frame_words(frame: Frame) -> str:
    """What the numbers of a frame are, in words (``pixels of the 840x840 image shown``,
    ``a 0-1000 grid over the image``)."""
    if frame.coord_wh != frame.model_wh:
        coord_w, coord_h = frame.coord_wh  # type: ignore[misc]
        grid = f"{coord_w:g}" if coord_w == coord_h else f"{coord_w:g}x{coord_h:g}"
        return f"a 0-{grid} grid over the image"
    if tuple(frame.model_wh) == tuple(frame.image_wh):
        return "pixels of the original image"
    return f"pixels of the {frame.model_wh[0]}x{frame.model_wh[1]} image the model is shown"


def substitution_html(item: DialogueItem, state: DialogueState, protocol_name: str) -> str:
    """What replaced the region label of a question (empty when it cites nothing)."""
    if item.cited_label is None or item.result is None:
        return ""
    reference = item.result.reference
    if protocol_name == "paper":
        how = (
            f"its box {format_box(reference.image_xyxy or ())} (image pixels) written in "
            f"the model frame: {frame_words(state.context.frame)}"
        )
    else:
        how = f"its box in image pixels, written as the {protocol_name} protocol does"
    return (
        f'<div class="rr-sub">Substituted {_chip(item.cited_label, state)} &rarr; '
        f'<code class="rr-cite-ref">{html.escape(reference.text or "")}</code> '
        f"({html.escape(how)}; reference source: {html.escape(reference.source)})</div>"
    )


def answer_html(state: DialogueState | None, protocol_name: str) -> str:
    """The latest asked question: substitution, tags, regions found, issues, raw text."""
    if state is None:
        return '<div class="rr-answer rr-muted">Pick an example image or upload one.</div>'
    asked = [item for item in state.items if item.kind == "asked"]
    if not asked:
        return (
            '<div class="rr-answer rr-muted">Ask a question about the image; write R1, '
            "R2, ... (or U1, ...) to cite a region found earlier.</div>"
        )
    item = asked[-1]
    result = item.result
    parts = [
        f'<div class="rr-answer"><div><b>Question {item.index + 1}:</b> '
        f"{html.escape(item.question)}</div>"
    ]
    parts.append(substitution_html(item, state, protocol_name))
    if result is None:
        parts.append("</div>")
        return "".join(parts)
    parts.append(
        f'<div class="rr-muted">Asked as: <code>{html.escape(result.record.question)}</code></div>'
    )
    if result.failed:
        parts.append(
            f'<div class="rr-block rr-failed">No answer: '
            f"{html.escape(result.record.error or 'the backend failed')}</div></div>"
        )
        return "".join(parts)
    parsed = result.answer.parsed if result.answer is not None else None
    if parsed is not None:
        for tag in ("scene", "focus", "think"):
            content = getattr(parsed, tag)
            if content is None:
                continue
            body = (
                highlight_citations(content, parsed, result.reference)
                if tag == "think"
                else html.escape(content)
            )
            parts.append(
                f'<div class="rr-block rr-{tag}"><span class="rr-tag">{tag}</span> {body}</div>'
            )
    if item.labels:
        found = []
        for label in item.labels:
            region = state.regions[label]
            point = "" if region.point_xy is None else f", point {format_box(region.point_xy)}"
            found.append(
                f"{_chip(label, state)} box {format_box(region.predicted_xyxy or ())}{point}"
            )
        parts.append(
            '<div class="rr-block"><span class="rr-tag">answer</span> '
            + "; ".join(found)
            + ' <span class="rr-muted">(image pixels)</span></div>'
        )
    else:
        parts.append('<div class="rr-block rr-failed">The answer holds no region.</div>')
    if result.record.cited_reference is not None:
        verdict = (
            "cites the reference"
            if result.record.cited_reference
            else "does not cite the reference"
        )
        parts.append(f'<div class="rr-muted">&lt;think&gt; {verdict}.</div>')
    if result.record.parse_issues:
        issues = "; ".join(html.escape(i["message"]) for i in result.record.parse_issues)
        parts.append(f'<div class="rr-muted">Format issues: {issues}</div>')
    parts.append(
        "<details><summary>Raw model output and prompt</summary>"
        f"<pre>{html.escape(result.record.text)}</pre>"
        f"<pre>{html.escape(result.record.prompt)}</pre></details></div>"
    )
    return "".join(parts)


def history_html(state: DialogueState | None) -> str:
    """Every item of the dialogue, oldest first."""
    if state is None or not state.items:
        return '<div class="rr-history rr-muted">No questions yet.</div>'
    rows = []
    for item in state.items:
        found = " ".join(_chip(label, state) for label in item.labels)
        if item.kind == "user_box":
            region = state.regions[item.labels[0]]
            rows.append(
                f"<li>{found} drawn by you: &ldquo;{html.escape(item.question)}"
                f"&rdquo; {format_box(region.xyxy)}</li>"
            )
            continue
        cite = ""
        if item.cited_label is not None and item.result is not None:
            cite = (
                f' <span class="rr-muted">({_chip(item.cited_label, state)}= '
                f"{html.escape(item.result.reference.text or '')})</span>"
            )
        if item.failed:
            outcome = f'<span class="rr-failed">failed: {html.escape(item.error or "")}</span>'
        elif not item.labels:
            outcome = '<span class="rr-failed">nothing found</span>'
        else:
            outcome = found
        rows.append(f"<li>{html.escape(item.question)}{cite} &rarr; {outcome}</li>")
    return f'<div class="rr-history"><ol>{"".join(rows)}</ol></div>'


def hints_html(example: Example | None, *, oracle: bool) -> str:
    """The questions of an example image (the ``oracle`` answers only these)."""
    if example is None:
        return ""
    lead = (
        "The oracle backend knows the answers to these questions of the example; write "
        "R1, R2, ... for the cited region:"
        if oracle
        else "Questions of this example:"
    )
    items = "".join(f"<li>{html.escape(q)}</li>" for q in example.question_hints())
    return f'<div class="rr-hints"><span class="rr-muted">{lead}</span><ol>{items}</ol></div>'


__all__ = [
    "CSS",
    "answer_html",
    "frame_words",
    "highlight_citations",
    "hints_html",
    "history_html",
    "status_html",
]
