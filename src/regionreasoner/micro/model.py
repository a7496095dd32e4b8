"""The micro Qwen2.5-VL: a few-million-parameter model meant to be TRAINED on CPU.

It differs from :mod:`regionreasoner.micro.tiny` (a 0.4 M-parameter random
model for plumbing tests) in three ways that matter for learning grounding from scratch:

* **One token per coordinate.** Every integer ``0..MICRO_MAX_INT`` is one token (an added,
  non-special token, so ``"bbox=[12,30,40,58]"`` is ``bbox=[`` ``12`` ``,`` ``30`` ...).
  The paper's 840x840 frame needs 841 of them. Their embeddings start on a smooth
  ordinal code (nearby integers look alike), which the tied output head inherits.
* **The fixed prompt text is a token.** The RegionReasoner instructions (about 190
  words around the question) and the default system prompt are added tokens, so a
  prompt costs the question's tokens plus 3 instead of ~200 (training compute is
  dominated by sequence length); the text stays byte-exact.
* **The question comes before the image.** The micro chat template writes a message's
  text before its image (:data:`MICRO_CHAT_TEMPLATE`), so under causal attention every
  visual token can read the question and work out whether it shows the object asked
  for; with the image first only the answer tokens could, and a 4-layer model trained
  from scratch did not learn that lookup (``docs/micro_reproduction.md``).
* **More image tokens and width.** A 224x224 pixel budget (64 visual tokens after the 2x2
  merge), text hidden 256 x 4 layers, vision hidden 192 x 2 blocks.

The saved folder is a standard Hugging Face checkpoint (model, tokenizer, processor,
chat template) usable as ``hf:<path>``.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from regionreasoner._imports import require
from regionreasoner.assets import bundled_model_dir
from regionreasoner.errors import UserInputError
from regionreasoner.geometry.frames import OFFICIAL_MODEL_SIZE
from regionreasoner.micro.options import BUNDLE_WEIGHT_DTYPES
from regionreasoner.micro.qwen import (
    SYSTEM_PROMPT_DEFAULT,
    QwenVLDims,
    new_qwen_vl_model,
    qwen_chat_template,
    qwen_vl_config,
    qwen_vl_processor,
    save_pretrained_atomic,
    train_qwen_style_bpe,
    wrap_qwen_tokenizer,
)

logger = logging.getLogger(__name__)

MICRO_MAX_INT = OFFICIAL_MODEL_SIZE
"""Largest integer with its own token: the paper's 840x840 model frame."""

MICRO_IMAGE_SIDE = 224
"""Pixel budget side: an 840x840 frame image is resized to 224x224 = 64 visual tokens."""

MICRO_VOCAB_SIZE = 1024
"""Size of the BPE part of the vocabulary (special tokens included, integers excluded)."""

MICRO_DIMS = QwenVLDims(
    text_hidden=256,
    text_intermediate=768,
    text_layers=4,
    text_heads=8,
    text_kv_heads=4,
    mrope_section=(6, 5, 5),  # head_dim / 2 = 16 rotary pairs split into (t, h, w)
    max_positions=4096,
    vision_depth=2,
    vision_hidden=192,
    vision_intermediate=576,
    vision_heads=6,
)
"""Sizes of the micro model (text hidden 256 x 4 layers, vision hidden 192 x 2 blocks)."""

MICRO_INT_CODE_SCALE = 0.5
"""Norm scale of the ordinal code added to the integer-token embeddings at init."""

MICRO_CORPUS_REPEATS = 400
"""Lines of each kind in the tokenizer corpus."""

MICRO_CHAT_TEMPLATE = qwen_chat_template(text_first=True)
"""The project's Qwen-style chat template with one change: within a message, the text
parts come first and the images after them (same tokens, other order)."""

_PROMPT_NAMES = ("regionreasoner", "regionreasoner-train")
_WORDS = (
    "the", "a", "an", "of", "to", "and", "shape", "shapes", "image", "shows", "on", "at",
    "background", "reference", "target", "is", "which", "holds", "in", "scene", "it",
)  # fmt: skip


def integer_tokens(max_int: int = MICRO_MAX_INT) -> list[str]:
    """The integer tokens ``"0"..str(max_int)`` in id order."""
    return [str(i) for i in range(max_int + 1)]


def _vocabulary_words() -> list[str]:
    from regionreasoner.data.builders import templates
    from regionreasoner.data.relations import RELATIONS

    words: list[str] = list(_WORDS)
    for name in ("SYNTH_COLOURS", "SYNTH_SHAPES", "POSITION_WORDS", "SYNTH_BACKGROUNDS"):
        values = getattr(templates, name, ())
        words.extend(str(v) for v in values)
    for name in RELATIONS.names():
        relation = RELATIONS.get(name)
        words.append(relation.phrase)
        words.extend(
            t.replace("{obj}", "").replace("{ref}", "").strip() for t in relation.templates
        )
    words.extend(("striped", "dotted", "plain", "small", "large", "gradient", "grid"))
    return sorted(set(words))


def prompt_chunks() -> list[str]:
    """The fixed text around ``{question}`` in the RegionReasoner prompts, plus the system
    prompt: each becomes ONE token, so the ~190-word instruction costs 2 tokens."""
    from regionreasoner.dialogue.prompts import ANSWER_EXAMPLE, PROMPTS

    chunks = [SYSTEM_PROMPT_DEFAULT]
    for name in _PROMPT_NAMES:
        if name not in PROMPTS:
            continue
        template = PROMPTS.get(name).template.replace("{answer}", ANSWER_EXAMPLE)
        head, tail = template.split("{question}")
        chunks.extend((head, tail))
    return sorted(set(chunks), key=lambda c: (-len(c), c))


FORMAT_CHUNKS = (
    "<scene>", "</scene>", "<focus>", "</focus>", "<think>", "</think>", "<answer>",
    "</answer>", '[{"bbox_2d": [', '], "point_2d": [', "]}]", "bbox=[",
)  # fmt: skip
"""Fixed pieces of the four-tag answer format, one token each."""


def _corpus(seed: int) -> Iterator[str]:
    """Tokenizer training text: the synthetic vocabulary and the four-tag skeleton."""
    rng = random.Random(seed)
    words = _vocabulary_words()
    for _ in range(MICRO_CORPUS_REPEATS):
        yield " ".join(rng.choice(words) for _ in range(8))
        yield " ".join(f"<{tag}> </{tag}>" for tag in ("scene", "focus", "think", "answer"))
        yield '[{"bbox_2d": [1,2,3,4], "point_2d": [5,6]}] bbox=[1,2,3,4]'


def _train_tokenizer(seed: int, vocab_size: int) -> object:
    tokenizers = require("tokenizers", extra="hf")
    # Added tokens (integers, prompt chunks) are matched first; in the remaining text
    # digits are split one by one (numbers above MICRO_MAX_INT) and words are kept apart
    # by the usual byte-level split, so a word has the same tokens wherever it appears.
    tok = train_qwen_style_bpe(list(_corpus(seed)), vocab_size)
    tok.add_tokens(
        [
            tokenizers.AddedToken(s, normalized=False, special=False)
            for s in integer_tokens() + prompt_chunks() + list(FORMAT_CHUNKS)
        ]
    )
    return tok


def build_micro_tokenizer(seed: int = 0, vocab_size: int = MICRO_VOCAB_SIZE) -> object:
    """The micro model's ``PreTrainedTokenizerFast`` (left padding, integer tokens,
    :data:`MICRO_CHAT_TEMPLATE`)."""
    tokenizer = wrap_qwen_tokenizer(
        _train_tokenizer(seed, vocab_size), model_max_length=MICRO_DIMS.max_positions
    )
    tokenizer.chat_template = MICRO_CHAT_TEMPLATE  # type: ignore[attr-defined]
    return tokenizer


def micro_config(tokenizer: object) -> object:
    """The ``Qwen2_5_VLConfig`` of the micro model for ``tokenizer``."""
    return qwen_vl_config(tokenizer, MICRO_DIMS)


def ordinal_code(values: object, dim: int) -> object:
    """A smooth ``(len(values), dim)`` code of integers: sines and cosines of many scales.

    Integers a few apart get nearly the same vector, far ones nearly orthogonal ones;
    the rows have unit RMS.
    """
    torch = require("torch", extra="hf")
    x = torch.as_tensor(values, dtype=torch.float32)[:, None]
    n_freq = dim // 2
    # Periods from 4 to ~4 * MICRO_MAX_INT, geometric.
    periods = 4.0 * (MICRO_MAX_INT ** (torch.arange(n_freq, dtype=torch.float32) / n_freq))
    angle = 2 * math.pi * x / periods[None, :]
    code = torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)
    return code[:, :dim]


def _init_integer_embeddings(model: object, tokenizer: object) -> None:
    torch = require("torch", extra="hf")
    embed = model.get_input_embeddings().weight  # type: ignore[attr-defined]
    ids = tokenizer.convert_tokens_to_ids(integer_tokens())  # type: ignore[attr-defined]
    std = float(embed.detach().std())
    code = ordinal_code(list(range(MICRO_MAX_INT + 1)), embed.shape[1])
    with torch.no_grad():
        embed[ids] = embed[ids] * 0.5 + code * std * MICRO_INT_CODE_SCALE / 0.7071


def build_micro_processor(tokenizer: object) -> object:
    """A ``Qwen2_5_VLProcessor`` with the micro pixel budget (64 visual tokens)."""
    pixels = MICRO_IMAGE_SIDE * MICRO_IMAGE_SIDE
    return qwen_vl_processor(
        tokenizer, min_pixels=pixels, max_pixels=pixels, chat_template=MICRO_CHAT_TEMPLATE
    )


def use_micro_chat_template(processor: object) -> None:
    """Switch a micro ``processor`` (and its tokenizer) to :data:`MICRO_CHAT_TEMPLATE`
    (checkpoints trained before the template existed have the image-first one)."""
    processor.chat_template = MICRO_CHAT_TEMPLATE  # type: ignore[attr-defined]
    processor.tokenizer.chat_template = MICRO_CHAT_TEMPLATE  # type: ignore[attr-defined]


def new_micro_model(seed: int = 0) -> tuple[object, object]:
    """``(model, processor)`` of a fresh micro model with seeded random weights."""
    tokenizer = build_micro_tokenizer(seed)
    model = new_qwen_vl_model(micro_config(tokenizer), seed)
    _init_integer_embeddings(model, tokenizer)
    return model, build_micro_processor(tokenizer)


def build_micro_model(out_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """Build and save an untrained micro model (model, tokenizer, processor, template)."""
    model, processor = new_micro_model(seed)
    out = save_pretrained_atomic(model, processor, out_dir)
    n_params = sum(p.numel() for p in model.parameters())  # type: ignore[attr-defined]
    logger.info("micro Qwen2.5-VL (%d parameters) saved to %s", n_params, out)
    return out


BUNDLE_FILES = (
    "config.json",
    "generation_config.json",
    "chat_template.jinja",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
)
"""What a bundled model keeps besides its weights: config, tokenizer, processor, template."""

WEIGHTS_FILE = "model.safetensors"
BUNDLE_DIR_MODE = 0o755
BUNDLE_FILE_MODE = 0o644

MODEL_CARD_FILE = "README.md"
"""The model card every bundle carries: what the weights are and their licence."""
MODEL_LICENSE = "Apache-2.0"
"""SPDX licence of the bundled weights: the package's own (``pyproject.toml``, ``LICENSE``)."""
MODEL_CARD = f"""\
---
license: {MODEL_LICENSE.lower()}
library_name: transformers
pipeline_tag: image-text-to-text
tags:
- regionreasoner
- qwen2_5_vl
---

# Micro RegionReasoner (bundled with regionreasoner)

A micro model of the Qwen2.5-VL architecture that `regionreasoner demo` and
`regionreasoner serve` load by default (`hf:<this folder>`). It writes the RegionReasoner
four-tag answers (`<scene>`, `<focus>`, `<think>`, `<answer>`) and cites the region it
found in an earlier turn.

## Licence

{MODEL_LICENSE} (Apache License 2.0), the licence of the regionreasoner package (its
`LICENSE` file). The regionreasoner project trained these weights itself, and they
contain no third-party weights or data: the model started from random initialisation,
the tokenizer was trained by `regionreasoner.micro.model`, and the
training data were synthetic dialogues generated by `regionreasoner build synth`.

## How it was made

Staged supervised fine-tuning, then GRPO on the RegionReasoner rewards, on a 2-core CPU
with the project's own commands: the recipe is `recipes/micro/` in the regionreasoner
repository and the lab log, with every measured figure and how it was measured, is
`docs/micro_reproduction.md`. `regionreasoner micro bundle`
wrote this folder (weights stored in float16, loaded and run in float32).

It is a toy for demonstrations and tests, trained only on synthetic scenes of coloured
shapes; it is not a model for real photographs.
"""
"""Text of :data:`MODEL_CARD_FILE` (Hugging Face model-card format: YAML front matter)."""


def bundle_micro(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str] | None = None,
    weights_dtype: str = "float16",
) -> Path:
    """Copy the checkpoint ``src`` (a trained micro model) into ``dest`` (default: the
    package's bundled-model folder) as a loadable ``hf:<path>`` folder: the files of
    :data:`BUNDLE_FILES`, the weights stored as ``weights_dtype`` and the model card
    :data:`MODEL_CARD` (training state, optimizer and logs stay behind). ``dest`` is
    replaced only once complete."""
    torch = require("torch", extra="hf")
    safetensors_torch = require("safetensors.torch", extra="hf")
    if weights_dtype not in BUNDLE_WEIGHT_DTYPES:
        raise UserInputError(
            f"weights dtype {weights_dtype!r}: expected one of {', '.join(BUNDLE_WEIGHT_DTYPES)}"
        )
    source = Path(src)
    missing = [n for n in ("config.json", WEIGHTS_FILE) if not (source / n).is_file()]
    if missing:
        raise UserInputError(f"{source}: not a model checkpoint (missing {', '.join(missing)})")
    target = Path(dest) if dest is not None else bundled_model_dir()
    if target.exists() and not target.is_dir():
        raise UserInputError(f"{target}: exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    dtype = getattr(torch, weights_dtype)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name in BUNDLE_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, staging / name)
        (staging / MODEL_CARD_FILE).write_text(MODEL_CARD, encoding="utf-8")
        tensors = safetensors_torch.load_file(str(source / WEIGHTS_FILE))
        stored = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
        safetensors_torch.save_file(stored, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        staging.chmod(BUNDLE_DIR_MODE)  # mkdtemp makes it private; a package is world-readable
        for path in staging.iterdir():
            path.chmod(BUNDLE_FILE_MODE)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in target.iterdir())
    logger.info("bundled %s -> %s (%.1f MB, weights %s)", source, target, size / 1e6, weights_dtype)
    return target
