"""A tiny random-weight Qwen2.5-VL or Qwen3-VL built fully offline, for tests and CPU demos.

Nothing is downloaded: the tokenizer is a byte-level BPE trained here with the
``tokenizers`` library on generated text (the RegionReasoner prompts, answer JSON, digits,
scene words), wrapped with Qwen's special tokens and a Qwen-style chat template; the
image processor uses a small pixel budget so an image becomes 16 visual tokens; the model
is ``Qwen2_5_VLForConditionalGeneration`` (family ``qwen2.5-vl``, the default) or
``Qwen3VLForConditionalGeneration`` (family ``qwen3-vl``: 16 px patches, interleaved
M-RoPE, DeepStack) built from a small config with seeded random weights. Both share the
tokenizer (a 1k vocabulary keeps the embedding, most of a real Qwen3-VL's small-model
parameters, tiny). The saved folder loads like any Hugging Face checkpoint::

    from transformers import AutoModelForImageTextToText, AutoProcessor
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)

so it serves as the ``hf:`` model of ``regionreasoner eval`` and as the policy of
``regionreasoner train``. A random model never emits ``<|im_end|>``: completions run to
the length limit. The same seed always gives byte-identical files.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from regionreasoner.geometry.frames import OFFICIAL_MODEL_SIZE
from regionreasoner.micro.qwen import (
    CHAT_TEMPLATE,
    SYSTEM_PROMPT_DEFAULT,
    QwenVLDims,
    new_qwen_vl_model,
    output_folder,
    qwen3_vl_config,
    qwen3_vl_processor,
    qwen_vl_config,
    qwen_vl_processor,
    save_pretrained_atomic,
    train_qwen_style_bpe,
    wrap_qwen_tokenizer,
)
from regionreasoner.registry import Registry

logger = logging.getLogger(__name__)

TINY_VOCAB_SIZE = 1024
"""Target size of the BPE vocabulary (special tokens included)."""

TINY_MIN_PIXELS = 56 * 56
"""Smallest image area the tiny processor resizes to (pixels)."""

TINY_MAX_PIXELS = 112 * 112
"""Largest image area: a square image becomes 112x112 = 8x8 patches = 16 visual tokens."""

TINY_QWEN3_MIN_PIXELS = 64 * 64
TINY_QWEN3_MAX_PIXELS = 128 * 128
"""Pixel budget of the tiny Qwen3-VL: a square image becomes 128x128 = 8x8 patches of
16 px = 16 visual tokens after the 2x2 merge, as many as the tiny Qwen2.5-VL."""

TINY_DIMS = QwenVLDims(
    text_hidden=64,
    text_intermediate=128,
    text_layers=2,
    text_heads=4,
    text_kv_heads=2,
    mrope_section=(2, 3, 3),  # head_dim / 2 = 8 rotary pairs split into (t, h, w)
    max_positions=8192,
    vision_depth=2,
    vision_hidden=64,
    vision_intermediate=128,
    vision_heads=4,
)
"""Sizes of the tiny model (about 0.4 M parameters)."""

TINY_CORPUS_LINES = 4000
"""Generated lines the tokenizer is trained on."""

_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black", "gray")
_SHAPES = ("circle", "square", "triangle", "shape", "object", "box", "ring", "star")
_NOUNS = (
    "person", "man", "woman", "child", "dog", "cat", "car", "bus", "chair", "table", "cup",
    "bottle", "plate", "pizza", "umbrella", "horse", "bench", "motorcycle", "bicycle", "tree",
    "sign", "background", "foreground", "image", "picture", "photo", "scene", "region", "area",
)  # fmt: skip
_RELATIONS = (
    "next to", "above", "below", "to the left of", "to the right of", "inside",
    "overlapping with", "touching", "near", "behind", "in front of",
)  # fmt: skip
_SIZES = ("small", "large", "big", "tiny", "tall", "short", "left", "right", "top", "bottom")
_THINK_WORDS = (
    "the reference", "the target", "is located", "compare", "candidates", "closest match",
    "based on", "according to", "region", "corner", "center", "coordinates", "select",
    "identify", "position", "visible", "contains", "shows", "appears", "there is", "there are",
)  # fmt: skip
_TAGS = ("scene", "focus", "think", "answer")
_CORPUS_PROMPTS = ("regionreasoner-train", "regionreasoner", "visionreasoner", "plain")
"""Prompts whose wording the tokenizer is trained on (a fixed list keeps seeds stable)."""


def _box(rng: random.Random, side: int = OFFICIAL_MODEL_SIZE) -> list[int]:
    x1, y1 = rng.randrange(0, side - 20), rng.randrange(0, side - 20)
    return [x1, y1, rng.randrange(x1 + 10, side + 1), rng.randrange(y1 + 10, side + 1)]


def _phrase(rng: random.Random) -> str:
    return f"the {rng.choice(_SIZES)} {rng.choice(_COLOURS)} {rng.choice(_SHAPES + _NOUNS)}"


def _question(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return _phrase(rng)
    box = ",".join(map(str, _box(rng)))
    return f"{_phrase(rng)} {rng.choice(_RELATIONS)} bbox=[{box}]"


def _answer(rng: random.Random) -> str:
    items = []
    for _ in range(rng.randint(1, 3)):
        x1, y1, x2, y2 = _box(rng)
        items.append({"bbox_2d": [x1, y1, x2, y2], "point_2d": [(x1 + x2) // 2, (y1 + y2) // 2]})
    return json.dumps(items)


def _completion(rng: random.Random) -> str:
    scene = f"the image shows {_phrase(rng)} and {_phrase(rng)} on a plain background"
    focus = f"the reference bbox contains {_phrase(rng)}"
    think = (
        f"{rng.choice(_THINK_WORDS)} {_phrase(rng)} is {rng.choice(_RELATIONS)} "
        f"bbox=[{','.join(map(str, _box(rng)))}], so {rng.choice(_THINK_WORDS)} the target"
    )
    return (
        f"<scene>{scene}</scene>\n<focus>{focus}</focus>\n<think>{think}</think>\n"
        f"<answer>{_answer(rng)}</answer>"
    )


def _corpus(seed: int, n_lines: int = TINY_CORPUS_LINES) -> Iterator[str]:
    """Generated training text for the tokenizer: prompts, completions, digits, words."""
    from regionreasoner.dialogue.prompts import PROMPTS

    rng = random.Random(seed)
    templates = [PROMPTS.get(name) for name in _CORPUS_PROMPTS if name in PROMPTS]
    yield " ".join(str(d) for d in range(10))
    yield " ".join(f"<{tag}> </{tag}>" for tag in _TAGS)
    yield SYSTEM_PROMPT_DEFAULT
    for i in range(n_lines):
        kind = i % 4
        if kind == 0:
            yield templates[i // 4 % len(templates)].render_user(_question(rng))
        elif kind == 1:
            yield _completion(rng)
        elif kind == 2:
            yield _answer(rng)
        else:
            yield " ".join(rng.choice(_NOUNS + _COLOURS + _SHAPES) for _ in range(12))


def build_tiny_tokenizer(seed: int = 0, vocab_size: int = TINY_VOCAB_SIZE) -> object:
    """The tiny model's ``PreTrainedTokenizerFast`` (left padding, Qwen special tokens)."""
    return wrap_qwen_tokenizer(
        train_qwen_style_bpe(list(_corpus(seed)), vocab_size),
        model_max_length=TINY_DIMS.max_positions,
    )


@dataclass(frozen=True, slots=True)
class TinyFamily:
    """How the tiny model of one architecture family is built.

    Attributes:
        name: the ``--family`` name.
        title: the architecture's name in messages.
        model_class: the transformers model class.
        config: ``(tokenizer, dims) -> config``.
        processor: ``(tokenizer, min_pixels=, max_pixels=, chat_template=) -> processor``.
        min_pixels, max_pixels: the processor's pixel budget.
    """

    name: str
    title: str
    model_class: str
    config: Callable[[object, QwenVLDims], object]
    processor: Callable[..., object]
    min_pixels: int
    max_pixels: int


TINY_FAMILIES: Registry[TinyFamily] = Registry("model family")
"""The architectures ``make-tiny-model --family`` builds."""
TINY_FAMILIES.register(
    "qwen2.5-vl",
    TinyFamily(
        "qwen2.5-vl",
        "Qwen2.5-VL",
        "Qwen2_5_VLForConditionalGeneration",
        qwen_vl_config,
        qwen_vl_processor,
        TINY_MIN_PIXELS,
        TINY_MAX_PIXELS,
    ),
)
TINY_FAMILIES.register(
    "qwen3-vl",
    TinyFamily(
        "qwen3-vl",
        "Qwen3-VL",
        "Qwen3VLForConditionalGeneration",
        qwen3_vl_config,
        qwen3_vl_processor,
        TINY_QWEN3_MIN_PIXELS,
        TINY_QWEN3_MAX_PIXELS,
    ),
)

DEFAULT_TINY_FAMILY = "qwen2.5-vl"


def build_tiny_model(
    out_dir: str | os.PathLike[str], seed: int = 0, *, family: str = DEFAULT_TINY_FAMILY
) -> Path:
    """Build and save a tiny offline model (model, tokenizer, processor, template).

    Args:
        out_dir: the folder to write; created if missing. Existing files with the same
            names are overwritten, others are left alone.
        seed: seeds the tokenizer corpus and the random weights; the same seed gives
            byte-identical files.
        family: ``qwen2.5-vl`` (default) or ``qwen3-vl`` (:data:`TINY_FAMILIES`).

    Returns:
        The output folder as a ``Path``.

    Raises:
        MissingDependencyError: torch, transformers or tokenizers is not installed.
        UserInputError: ``out_dir`` exists and is not a folder.
        UnknownComponentError: an unknown family.
    """
    spec = TINY_FAMILIES.get(family)
    output_folder(out_dir)  # fail before the build, not after it
    tokenizer = build_tiny_tokenizer(seed)
    model = new_qwen_vl_model(spec.config(tokenizer, TINY_DIMS), seed, model_class=spec.model_class)
    processor = spec.processor(
        tokenizer,
        min_pixels=spec.min_pixels,
        max_pixels=spec.max_pixels,
        chat_template=CHAT_TEMPLATE,
    )
    out = save_pretrained_atomic(model, processor, out_dir)
    n_params = sum(p.numel() for p in model.parameters())  # type: ignore[attr-defined]
    logger.info(
        "tiny %s (%d parameters, vocab %d) saved to %s",
        spec.title,
        n_params,
        len(tokenizer),  # type: ignore[arg-type]
        out,
    )
    return out
