"""Supervised warm-start targets: the four-tag answer rendered from the ground truth.

A small model cannot discover the ``<scene>/<focus>/<think>/<answer>`` format by
sampling, so ``regionreasoner train --stage sft`` first teaches it from templated
targets built from each training sample:

* ``<scene>``: the sample's scene caption (synthetic data carries one), else a generic
  sentence;
* ``<focus>``: only when the question cites a reference box: the caption of the
  referenced region, else a generic description (the official reward pays for an absent
  ``<focus>`` when there is no reference);
* ``<think>``: a template that restates the scene in other words (a copied sentence
  counts as repetition), quotes the question, cites every reference box of the question
  as ``bbox=[x1,y1,x2,y2]`` (and no other box, which the citation reward would count as
  hallucinated) and names the spatial relation read off the question;
* ``<answer>``: the ground-truth JSON, written like the prompt's example.

Example:
    >>> print(render_sft_target(
    ...     "the circle to the right of bbox=[10,10,50,50]",
    ...     '[{"bbox_2d": [60, 5, 90, 40], "point_2d": [75, 22]}]',
    ...     {"scene": "The image shows two shapes.", "focus": "A red square."},
    ... ))
    <scene>The image shows two shapes.</scene>
    <focus>A red square.</focus>
    <think>Looking at the whole image, I see two shapes. The question asks for "the circle to the right of bbox=[10,10,50,50]". The reference bbox=[10,10,50,50] shows a red square. Applying the relation "to the right of", I keep only the candidates that lie to the right of that region and select the one matching the description.</think>
    <answer>[{"bbox_2d": [60,5,90,40], "point_2d": [75,22]}]</answer>
"""  # noqa: E501

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from regionreasoner.data.relations import RELATIONS
from regionreasoner.errors import DataFormatError
from regionreasoner.parsing.references import find_cited_boxes, format_reference

DEFAULT_SCENE = "The image shows a scene with several objects."
"""``<scene>`` text when the sample has no scene caption."""

DEFAULT_FOCUS = "The region inside the reference box."
"""``<focus>`` text when the sample has no focus caption."""

_REF_SLOT = "{ref}"


def _relation_phrases() -> list[tuple[str, str]]:
    """``(phrase, relation name)`` for every wording a question may put before ``{ref}``,
    longest first (so "to the left of" wins over "left of")."""
    found: set[tuple[str, str]] = set()
    for name in RELATIONS.names():
        relation = RELATIONS.get(name)
        found.add((relation.phrase, name))
        for template in relation.templates:
            head = template.split(_REF_SLOT, 1)[0].rstrip()
            words = head.split("{obj}", 1)[-1].strip()
            if words:
                found.add((words, name))
    return sorted(found, key=lambda item: (-len(item[0]), item[0]))


def relation_phrase(question: str, reference_start: int) -> str | None:
    """The relation wording right before the reference cited at ``reference_start``.

    >>> relation_phrase("the cup to the left of bbox=[1,2,3,4]", 23)
    'to the left of'
    >>> relation_phrase("the cup bbox=[1,2,3,4]", 8) is None
    True
    """
    before = question[:reference_start].rstrip().lower()
    for phrase, _name in _relation_phrases():
        if before.endswith(phrase) and (
            len(before) == len(phrase) or not before[-len(phrase) - 1].isalnum()
        ):
            return phrase
    return None


def _number(value: Any, *, field: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataFormatError(f"expected a finite number, got {value!r}", field=field)
    return int(value) if float(value).is_integer() else float(value)


def parse_solution(solution: str | Sequence[Mapping[str, Any]]) -> list[dict[str, list[Any]]]:
    """The ground truth as ``[{"bbox_2d": [x1,y1,x2,y2], "point_2d": [x,y]}, ...]``.

    Args:
        solution: a JSON string or the decoded list (the ``solution`` column).

    Raises:
        DataFormatError: not JSON, not a non-empty list, or an item without a 4-number
            ``bbox_2d`` (``point_2d``, when present, must have 2 numbers).
    """
    items: Any = solution
    if isinstance(solution, str):
        try:
            items = json.loads(solution)
        except json.JSONDecodeError as e:
            raise DataFormatError(f"solution is not JSON: {e.msg}", field="solution") from e
    if not isinstance(items, list) or not items:
        raise DataFormatError("solution must be a non-empty JSON list", field="solution")
    out = []
    for i, item in enumerate(items):
        where = f"solution[{i}]"
        if not isinstance(item, Mapping):
            raise DataFormatError("expected an object", field=where)
        box = item.get("bbox_2d")
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise DataFormatError("bbox_2d must hold 4 numbers", field=f"{where}.bbox_2d")
        entry = {"bbox_2d": [_number(v, field=f"{where}.bbox_2d") for v in box]}
        point = item.get("point_2d")
        if point is not None:
            if not isinstance(point, (list, tuple)) or len(point) != 2:
                raise DataFormatError("point_2d must hold 2 numbers", field=f"{where}.point_2d")
            entry["point_2d"] = [_number(v, field=f"{where}.point_2d") for v in point]
        out.append(entry)
    return out


def render_answer(items: Sequence[Mapping[str, Sequence[int | float]]]) -> str:
    """Answer JSON in the style of the prompt's example (no spaces inside coordinates).

    >>> render_answer([{"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3]}])
    '[{"bbox_2d": [1,2,3,4], "point_2d": [2,3]}]'
    """
    rendered = []
    for item in items:
        fields = [
            f'"{key}": [' + ",".join(json.dumps(v) for v in item[key]) + "]"
            for key in ("bbox_2d", "point_2d")
            if key in item
        ]
        rendered.append("{" + ", ".join(fields) + "}")
    return "[" + ", ".join(rendered) + "]"


def _captions(captions: str | Mapping[str, Any] | None) -> dict[str, str]:
    if captions is None or captions == "":
        return {}
    value: Any = captions
    if isinstance(captions, str):
        try:
            value = json.loads(captions)
        except json.JSONDecodeError as e:
            raise DataFormatError(f"captions_json is not JSON: {e.msg}", field="captions") from e
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DataFormatError("captions must be an object", field="captions")
    return {str(k): str(v).strip() for k, v in value.items() if isinstance(v, str) and v.strip()}


_SCENE_OPENINGS = (
    "the image shows ",
    "the image contains ",
    "this image shows ",
    "the picture shows ",
)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _scene_in_think(scene: str) -> str:
    """The scene restated in other words, so ``<think>`` repeats its keywords but not
    its sentence (a copied sentence counts as repetition)."""
    body = scene.rstrip(".")
    for opening in _SCENE_OPENINGS:
        if body.lower().startswith(opening):
            body = body[len(opening) :]
            break
    else:
        body = _lower_first(body)
    return f"Looking at the whole image, I see {body}."


def render_sft_target(
    problem: str,
    solution: str | Sequence[Mapping[str, Any]],
    captions: str | Mapping[str, Any] | None = None,
) -> str:
    """The four-tag target for one sample.

    Args:
        problem: the raw question; references written ``bbox=[x1,y1,x2,y2]`` (frame of
            the training image).
        solution: the ground truth (JSON string or list of ``bbox_2d``/``point_2d``).
        captions: ``{"scene": ..., "focus": ...}`` (or its JSON string, or ``None``).

    Returns:
        ``<scene>..</scene>\\n[<focus>..</focus>\\n]<think>..</think>\\n<answer>..</answer>``.

    Raises:
        DataFormatError: a malformed solution or captions.
    """
    answer = render_answer(parse_solution(solution))
    texts = _captions(captions)
    scene = _sentence(texts.get("scene") or DEFAULT_SCENE)
    question = " ".join(problem.split()).rstrip(".")
    references = [c for c in find_cited_boxes(question) if c.style != "bare"]
    think = [_scene_in_think(scene), f'The question asks for "{question}".']
    blocks = [f"<scene>{scene}</scene>"]
    if references:
        focus = _sentence(texts.get("focus") or DEFAULT_FOCUS)
        blocks.append(f"<focus>{focus}</focus>")
        first = references[0]
        think.append(f"The reference {format_reference(first.xyxy)} shows {_lower_first(focus)}")
        for other in references[1:]:
            think.append(f"It also refers to {format_reference(other.xyxy)}.")
        phrase = relation_phrase(question, first.span[0])
        if phrase is not None:
            think.append(
                f'Applying the relation "{phrase}", I keep only the candidates that lie '
                f"{phrase} that region and select the one matching the description."
            )
        else:
            think.append(
                "I search around that region, compare the candidates and select the one "
                "matching the description."
            )
    else:
        think.append(
            "No reference box is given, so I compare the objects of the scene with the "
            "description and select the closest match."
        )
    blocks.append("<think>" + " ".join(think) + "</think>")
    blocks.append(f"<answer>{answer}</answer>")
    return "\n".join(blocks)


def sft_completion(example: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
    """``datasets.map`` helper: the ``completion`` column (one assistant message).

    Reads the ``problem``, ``solution`` and optional ``captions_json`` columns.
    """
    target = render_sft_target(
        example["problem"], example["solution"], example.get("captions_json")
    )
    return {"completion": [{"role": "assistant", "content": target}]}
