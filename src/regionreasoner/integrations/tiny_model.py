"""A tiny random-weight Qwen2.5-VL built fully offline, for tests and CPU demos.

Nothing is downloaded: the tokenizer is a byte-level BPE trained here with the
``tokenizers`` library on generated text (the RegionReasoner prompts, answer JSON, digits,
scene words), wrapped with Qwen's special tokens and a Qwen-style chat template; the
image processor uses a small pixel budget so an image becomes 16 visual tokens; the model
is ``Qwen2_5_VLForConditionalGeneration`` built from a small config with seeded random
weights. The saved folder loads like any Hugging Face checkpoint::

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
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from regionreasoner._imports import require
from regionreasoner.errors import UserInputError

logger = logging.getLogger(__name__)

TINY_VOCAB_SIZE = 1024
"""Target size of the BPE vocabulary (special tokens included)."""

TINY_MIN_PIXELS = 56 * 56
"""Smallest image area the tiny processor resizes to (pixels)."""

TINY_MAX_PIXELS = 112 * 112
"""Largest image area: a square image becomes 112x112 = 8x8 patches = 16 visual tokens."""

TINY_TEXT_HIDDEN = 64
TINY_TEXT_LAYERS = 2
TINY_TEXT_HEADS = 4
TINY_TEXT_KV_HEADS = 2
TINY_TEXT_INTERMEDIATE = 128
TINY_MROPE_SECTION = (2, 3, 3)
"""Multimodal RoPE split of ``head_dim / 2 = 8`` rotary pairs into (t, h, w)."""

TINY_MAX_POSITIONS = 8192
TINY_VISION_DEPTH = 2
TINY_VISION_HIDDEN = 64
TINY_VISION_HEADS = 4
TINY_VISION_INTERMEDIATE = 128
TINY_CORPUS_LINES = 4000
"""Generated lines the tokenizer is trained on."""

SYSTEM_PROMPT_DEFAULT = "You are a helpful assistant."

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
"""Qwen2.5-VL's special tokens, registered with the same spelling."""

# A Qwen-style chat template. Image parts are detected with ``content['type'] == 'image'``
# because Arrow fills the keys missing from a struct with None (``'image' in content`` would
# be true for text parts read back from a dataset). No whitespace-trimming markers: every
# newline is literal text, so the rendering does not depend on Jinja's trim settings.
_MEDIA_PARTS = (
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
)
_TEXT_PART = "{% if content['type'] == 'text' %}{{ content['text'] }}{% endif %}"


def qwen_chat_template(*, text_first: bool = False) -> str:
    """The Qwen-style chat template; ``text_first`` writes a message's text parts before
    its images and videos (the micro model's order) instead of in the given order."""
    each = "{% for content in message['content'] %}"
    if text_first:
        parts = each + _TEXT_PART + "{% endfor %}" + each + _MEDIA_PARTS + "{% endif %}{% endfor %}"
    else:
        media_or_text = _MEDIA_PARTS + "{% elif content['type'] == 'text' %}{{ content['text'] }}"
        parts = each + media_or_text + "{% endif %}{% endfor %}"
    return (
        "{% for message in messages %}"
        "{% if loop.first and message['role'] != 'system' %}"
        "<|im_start|>system\n" + SYSTEM_PROMPT_DEFAULT + "<|im_end|>\n"
        "{% endif %}"
        "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}"
        "{{ message['content'] }}"
        "{% else %}" + parts + "{% endif %}"
        "<|im_end|>\n"
        "{% endfor %}"
        "{% if add_generation_prompt %}"
        "<|im_start|>assistant\n"
        "{% endif %}"
    )


CHAT_TEMPLATE = qwen_chat_template()

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


def _box(rng: random.Random, side: int = 840) -> list[int]:
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


def train_qwen_style_bpe(corpus: list[str], vocab_size: int) -> object:
    """A byte-level BPE ``tokenizers.Tokenizer`` with single-digit number tokens and Qwen's
    special tokens, trained on ``corpus`` (shared by the tiny and the micro models)."""
    tokenizers = require("tokenizers", extra="hf")
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    # Digits are split one by one (coordinates become 1-4 single-digit tokens), then the
    # usual byte-level split maps every byte to a visible symbol.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return tok


def wrap_qwen_tokenizer(tokenizer_object: object, *, model_max_length: int) -> object:
    """``PreTrainedTokenizerFast`` around a trained tokenizer: left padding, eos
    ``<|im_end|>``, pad ``<|endoftext|>`` and the Qwen-style chat template."""
    transformers = require("transformers", extra="hf")
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_object,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        padding_side="left",
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_tokenizer(seed: int = 0, vocab_size: int = TINY_VOCAB_SIZE) -> object:
    """The tiny model's ``PreTrainedTokenizerFast`` (left padding, Qwen special tokens)."""
    return wrap_qwen_tokenizer(
        train_qwen_style_bpe(list(_corpus(seed)), vocab_size),
        model_max_length=TINY_MAX_POSITIONS,
    )


@dataclass(frozen=True, slots=True)
class QwenVLDims:
    """Sizes of a small from-config ``Qwen2_5_VLForConditionalGeneration``."""

    text_hidden: int
    text_intermediate: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    mrope_section: tuple[int, ...]
    max_positions: int
    vision_depth: int
    vision_hidden: int
    vision_intermediate: int
    vision_heads: int


def qwen_vl_config(tokenizer: object, dims: QwenVLDims) -> object:
    """A ``Qwen2_5_VLConfig`` of size ``dims`` whose token ids come from ``tokenizer``
    (patch 14, merge 2, window 112, full attention in the last vision block, tied
    embeddings); shared by the tiny and the micro models."""
    transformers = require("transformers", extra="hf")
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}  # type: ignore[attr-defined]
    head_dim = dims.text_hidden // dims.text_heads
    if 2 * sum(dims.mrope_section) != head_dim:
        raise AssertionError("mrope_section must sum to head_dim / 2")
    text_config = {
        "vocab_size": len(tokenizer),  # type: ignore[arg-type]
        "hidden_size": dims.text_hidden,
        "intermediate_size": dims.text_intermediate,
        "num_hidden_layers": dims.text_layers,
        "num_attention_heads": dims.text_heads,
        "num_key_value_heads": dims.text_kv_heads,
        "max_position_embeddings": dims.max_positions,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1e4,
            "mrope_section": list(dims.mrope_section),
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": True,
    }
    vision_config = {
        "depth": dims.vision_depth,
        "hidden_size": dims.vision_hidden,
        "out_hidden_size": dims.text_hidden,
        "intermediate_size": dims.vision_intermediate,
        "num_heads": dims.vision_heads,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [dims.vision_depth - 1],
    }
    return transformers.Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


TINY_DIMS = QwenVLDims(
    text_hidden=TINY_TEXT_HIDDEN,
    text_intermediate=TINY_TEXT_INTERMEDIATE,
    text_layers=TINY_TEXT_LAYERS,
    text_heads=TINY_TEXT_HEADS,
    text_kv_heads=TINY_TEXT_KV_HEADS,
    mrope_section=tuple(TINY_MROPE_SECTION),
    max_positions=TINY_MAX_POSITIONS,
    vision_depth=TINY_VISION_DEPTH,
    vision_hidden=TINY_VISION_HIDDEN,
    vision_intermediate=TINY_VISION_INTERMEDIATE,
    vision_heads=TINY_VISION_HEADS,
)


def _model_config(tokenizer: object) -> object:
    return qwen_vl_config(tokenizer, TINY_DIMS)


def build_tiny_model(out_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """Build and save the tiny offline Qwen2.5-VL (model, tokenizer, processor, template).

    Args:
        out_dir: the folder to write; created if missing. Existing files with the same
            names are overwritten, others are left alone.
        seed: seeds the tokenizer corpus and the random weights; the same seed gives
            byte-identical files.

    Returns:
        The output folder as a ``Path``.

    Raises:
        MissingDependencyError: torch, transformers or tokenizers is not installed.
        UserInputError: ``out_dir`` exists and is not a folder.
    """
    torch = require("torch", extra="hf")
    transformers = require("transformers", extra="hf")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tiny_tokenizer(seed)
    config = _model_config(tokenizer)
    # Weights come from the global torch RNG; fork_rng restores the caller's RNG state
    # afterwards, so building a tiny model does not disturb the caller's seeding.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config = transformers.GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=config.text_config.eos_token_id,
        pad_token_id=config.text_config.pad_token_id,
        do_sample=False,
    )
    image_processor = transformers.Qwen2VLImageProcessor(
        min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS
    )
    video_processor = transformers.Qwen2VLVideoProcessor(
        min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS
    )
    processor = transformers.Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )
    # Save into a private folder beside ``out`` and move the files in only when all of
    # them are written: a crash (or a concurrent builder) never leaves a half model.
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        for path in sorted(Path(tmp).iterdir()):
            os.replace(path, out / path.name)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(
        "tiny Qwen2.5-VL (%d parameters, vocab %d) saved to %s", n_params, len(tokenizer), out
    )
    return out
