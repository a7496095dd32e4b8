"""The micro model's supervised samples: four-tag targets, images, batches.

Every turn of a ``build synth`` benchmark becomes a :class:`MicroSample` (ground-truth
references, everything in the 840 model frame): the rendered prompt, the target
completion and the dense targets of the visual tokens (:mod:`.probes`).
:class:`ImageCache` keeps the images as the model sees them and :func:`collate` makes a
right-padded batch with labels on the completion only.

Target styles (``--style``): ``direct`` (the recipe's current choice: ``<scene>`` counts
the shapes, ``<think>`` names the target and gives its box, see ``recipes/micro``),
``caption`` (the builder's scene caption) and ``enumerate``, shown here.

Style ``enumerate`` ("enumerate, then copy"): the ``<scene>`` caption LISTS every object of
the synthetic image with its box in the model frame, top to bottom, so perception is
plain enumeration and choosing the target is copying a listed box by matching words
(first turns) or by matching the reference box and applying the relation (later turns)::

    <scene> the image shows 3 shapes: green diamond [82,86,311,315]; yellow circle
    [94,476,248,630]; striped yellow star [270,454,349,525]. </scene>
    <focus> the reference holds the yellow circle </focus>            (reference turns)
    <think> the target is to the right of the reference bbox=[94,476,248,630]; the
    striped yellow star at [270,454,349,525] fits. </think>
    <answer>[{"bbox_2d": [270,454,349,525], "point_2d": [310,490]}]</answer>
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from regionreasoner._imports import require
from regionreasoner.data.images import load_image
from regionreasoner.data.io import read_dialogues, resolve_image_path
from regionreasoner.data.relations import RELATIONS
from regionreasoner.data.schema import Dialogue, Turn
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.errors import DataFormatError, UserInputError
from regionreasoner.geometry.frames import OFFICIAL_MODEL_SIZE, Frame
from regionreasoner.geometry.pairs import box_iou_pair
from regionreasoner.micro.model import MICRO_IMAGE_SIDE
from regionreasoner.micro.options import PROMPT_NAME, TARGET_STYLES
from regionreasoner.micro.probes import CellTarget, cell_targets
from regionreasoner.parsing.references import format_reference

MERGED_PATCH = 28
"""Pixels of the processed image per visual token (patch 14 x spatial merge 2)."""


@dataclass(frozen=True, slots=True)
class MicroSample:
    """One supervised turn: image, prompt text, target completion and ground truth.

    Attributes:
        image_path: the synthetic image.
        user_text: the rendered prompt (question with the reference in the model frame).
        completion: the four-tag target text (without ``<|im_end|>``).
        gt_xyxy: target box in the model frame.
        object_xyxy: every object's box in the model frame (random-object baseline).
        kind: ``first`` (no reference) or ``relation``.
        ref_xyxy: the reference box in the model frame, or ``None``.
        cells: dense targets of the visual tokens (:mod:`.probes`), raster order.
    """

    image_path: Path
    user_text: str
    completion: str
    gt_xyxy: tuple[int, int, int, int]
    object_xyxy: tuple[tuple[int, int, int, int], ...]
    kind: str
    ref_xyxy: tuple[int, int, int, int] | None
    cells: tuple[CellTarget, ...] = ()


def _box_text(xyxy: Sequence[int]) -> str:
    return "[" + ",".join(str(int(v)) for v in xyxy) + "]"


def _model_box(frame: Frame, image_xyxy: Sequence[float]) -> tuple[int, int, int, int]:
    box = frame.to_model_xyxy([list(image_xyxy)])[0]
    return tuple(round(float(v)) for v in box)  # type: ignore[return-value]


def _raster_key(xyxy: Sequence[int]) -> tuple[float, float]:
    return ((xyxy[1] + xyxy[3]) / 2, (xyxy[0] + xyxy[2]) / 2)


def scene_objects(dialogue: Dialogue, frame: Frame) -> list[tuple[str, tuple[int, ...]]]:
    """``(expression, model_xyxy)`` of every object, top to bottom (centre y, then x)."""
    objects = (dialogue.meta or {}).get("objects")
    if not objects:
        raise DataFormatError(
            "synthetic dialogue without meta.objects", record=dialogue.dialogue_id
        )
    listed = [(str(o["expression"]), _model_box(frame, o["bbox"])) for o in objects]
    return sorted(listed, key=lambda item: _raster_key(item[1]))


def dialogue_cells(dialogue: Dialogue, frame: Frame) -> tuple[CellTarget, ...]:
    """Dense targets of the micro model's visual tokens for a synthetic image."""
    objects = [
        (str(o["colour"]), str(o["category"]), str(o["texture"]), _model_box(frame, o["bbox"]))
        for o in (dialogue.meta or {}).get("objects") or []
    ]
    return cell_targets(objects, grid=MICRO_IMAGE_SIDE // MERGED_PATCH, side=OFFICIAL_MODEL_SIZE)


def render_completion(
    listed: Sequence[tuple[str, Sequence[int]]],
    target_xyxy: Sequence[int],
    *,
    ref_xyxy: Sequence[int] | None,
    relation_phrase: str | None,
    style: str = "enumerate",
    scene_caption: str | None = None,
) -> str:
    """The four-tag target text for one turn (see the module docstring).

    ``style="enumerate"`` lists every object with its box in ``<scene>``;
    ``style="caption"`` (the control) writes ``scene_caption`` there instead, the
    builder's plain caption that names the objects without boxes; ``style="direct"``
    only counts the shapes there, so the target names and boxes the answer at once.
    """
    if style not in TARGET_STYLES:
        raise UserInputError(f"unknown target style {style!r}; expected {TARGET_STYLES}")

    def _name(box: Sequence[int]) -> str:
        best = max(listed, key=lambda item: box_iou_pair(item[1], box))
        return best[0]

    entries = "; ".join(f"{name} {_box_text(box)}" for name, box in listed)
    scene = f"<scene> the image shows {len(listed)} shapes: {entries}. </scene>"
    if style == "caption":
        scene = f"<scene> {scene_caption or ''} </scene>"
    elif style == "direct":
        scene = f"<scene> the image shows {len(listed)} shapes. </scene>"
    target = _box_text(target_xyxy)
    if ref_xyxy is None:
        parts = [scene, f"<think> the {_name(target_xyxy)} is at {target}. </think>"]
    else:
        ref = format_reference(ref_xyxy)
        parts = [
            scene,
            f"<focus> the reference holds the {_name(ref_xyxy)} </focus>",
            f"<think> the target is {relation_phrase or 'related to'} the reference {ref}; "
            f"the {_name(target_xyxy)} at {target} fits. </think>",
        ]
    x1, y1, x2, y2 = (int(v) for v in target_xyxy)
    answer = (
        f'[{{"bbox_2d": [{x1},{y1},{x2},{y2}], "point_2d": [{(x1 + x2) // 2},{(y1 + y2) // 2}]}}]'
    )
    parts.append(f"<answer>{answer}</answer>")
    return "\n".join(parts)


def _relation_phrase(turn: Turn) -> str | None:
    if turn.relation and turn.relation in RELATIONS:
        return RELATIONS.get(turn.relation).phrase
    return None


def samples_from_bench(
    bench_dir: Path, *, prompt_names: Sequence[str] = (PROMPT_NAME,), style: str = "enumerate"
) -> list[MicroSample]:
    """Every turn of ``bench_dir/synth.jsonl`` as a sample, with ground-truth references.

    With several ``prompt_names`` the turns cycle through them (the evaluation prompt and
    the training prompt of ``regionreasoner train`` differ in their fixed text).
    """
    prompts = [get_prompt(name) for name in prompt_names]
    path = bench_dir / "synth.jsonl"
    if not path.is_file():
        raise UserInputError(f"{path}: not found (run 'regionreasoner build synth' first)")
    out: list[MicroSample] = []
    for dialogue in read_dialogues(path):
        frame = Frame.square(tuple(dialogue.image_wh))  # type: ignore[arg-type]
        listed = scene_objects(dialogue, frame)
        image_path = resolve_image_path(dialogue, path)
        cells = dialogue_cells(dialogue, frame)
        for turn in dialogue.turns:
            if len(turn.targets) != 1:
                continue
            gt = _model_box(frame, turn.targets[0].bbox)
            ref = None
            if turn.has_reference and turn.refers_to is not None:
                ref_turn = dialogue.turns[turn.refers_to]
                ref = _model_box(frame, ref_turn.targets[0].bbox)
            question = turn.render_question(format_reference(ref) if ref else None)
            out.append(
                MicroSample(
                    image_path=Path(image_path),
                    user_text=prompts[len(out) % len(prompts)].render_user(question),
                    completion=render_completion(
                        listed,
                        gt,
                        ref_xyxy=ref,
                        relation_phrase=_relation_phrase(turn),
                        style=style,
                        scene_caption=(turn.captions or {}).get("scene"),
                    ),
                    gt_xyxy=gt,
                    object_xyxy=tuple(box for _, box in listed),  # type: ignore[misc]
                    kind="first" if ref is None else "relation",
                    ref_xyxy=ref,
                    cells=cells,
                )
            )
    return out


class ImageCache:
    """Images as the micro model sees them, kept in memory.

    The evaluation resizes an image to the 840x840 frame (BILINEAR) and the processor
    resizes that to its 224x224 budget (BICUBIC); both resizes are done once here, so
    the processor's own resize is a no-op and a batch only costs the normalisation.
    """

    def __init__(self, side: int | None = None) -> None:
        self.side = side or MICRO_IMAGE_SIDE
        self._images: dict[Path, Image.Image] = {}

    def get(self, path: Path) -> Image.Image:
        """The image at ``path``, resized as in evaluation."""
        if path not in self._images:
            model_wh = (OFFICIAL_MODEL_SIZE, OFFICIAL_MODEL_SIZE)
            pixels = load_image(path, min_wh=model_wh).pixels  # as stored, like eval
            frame = pixels.resize(model_wh, Image.Resampling.BILINEAR)
            self._images[path] = frame.resize((self.side, self.side), Image.Resampling.BICUBIC)
        return self._images[path]


def render_prompt(processor: Any, sample: MicroSample) -> str:
    """The chat-templated prompt of ``sample`` (one image, its text) up to the assistant's
    turn: what the model reads before its completion."""
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": sample.user_text}]}
    ]
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def collate(processor: Any, images: ImageCache, batch: Sequence[MicroSample]) -> dict[str, Any]:
    """Right-padded model inputs with ``labels`` on the completion tokens only."""
    torch = require("torch", extra="hf")
    tokenizer = processor.tokenizer
    prompts = [render_prompt(processor, s) for s in batch]
    texts = [p + s.completion + "<|im_end|>\n" for p, s in zip(prompts, batch, strict=True)]
    pil = [images.get(s.image_path) for s in batch]
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        full = processor(text=texts, images=pil, padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = side
    # The completion starts with an added token right after "assistant\n", so its tokens
    # are the same alone as inside the full text: the last n of each (unpadded) row.
    n_completion = torch.tensor(
        [len(tokenizer(s.completion + "<|im_end|>\n")["input_ids"]) for s in batch]
    )
    length = full["attention_mask"].sum(dim=1)
    labels = full["input_ids"].clone()
    positions = torch.arange(labels.shape[1])[None, :]
    labels[positions < (length - n_completion)[:, None]] = -100
    labels[full["attention_mask"] == 0] = -100
    full["labels"] = labels
    return dict(full)
