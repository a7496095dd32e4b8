"""What the tiny and the micro Qwen-VL models share: built from a config, fully offline.

* the tokenizer: a byte-level BPE trained with the ``tokenizers`` library on generated
  text, single-digit number tokens, Qwen2.5-VL's special tokens with their real spelling
  (:func:`train_qwen_style_bpe`), wrapped as a left-padding ``PreTrainedTokenizerFast``
  with a Qwen-style chat template (:func:`wrap_qwen_tokenizer`);
* the config (:class:`QwenVLDims` -> :func:`qwen_vl_config`, or :func:`qwen3_vl_config`
  for the Qwen3-VL architecture), seeded random weights with a greedy generation config
  (:func:`new_qwen_vl_model`) and the processor with a fixed pixel budget
  (:func:`qwen_vl_processor`, :func:`qwen3_vl_processor`);
* the atomic save (:func:`save_pretrained_atomic`): the files are written into a private
  folder beside the target and moved in only once all of them exist.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from regionreasoner._imports import require
from regionreasoner.errors import UserInputError
from regionreasoner.geometry.frames import QWEN3_MERGE_SIZE, QWEN3_PATCH_SIZE

SYSTEM_PROMPT_DEFAULT = "You are a helpful assistant."

QWEN3_IMAGE_MEAN = (0.5, 0.5, 0.5)
QWEN3_IMAGE_STD = (0.5, 0.5, 0.5)
"""Pixel normalisation of Qwen3-VL's image processor (its checkpoints' configuration)."""

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


@dataclass(frozen=True, slots=True)
class QwenVLDims:
    """Sizes of a small from-config Qwen2.5-VL or Qwen3-VL model.

    ``vision_position_embeddings`` (a square number: a learned grid, interpolated to each
    image) and ``deepstack_indexes`` (vision blocks whose features are added to the first
    text layers) exist in Qwen3-VL only.
    """

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
    vision_position_embeddings: int = 256
    deepstack_indexes: tuple[int, ...] = (0,)


def _vl_config(
    config_class: str,
    tokenizer: object,
    dims: QwenVLDims,
    *,
    vision: dict[str, object],
    text: dict[str, object] | None = None,
    rope: dict[str, object] | None = None,
) -> object:
    """A transformers ``config_class`` of size ``dims`` whose token ids come from
    ``tokenizer`` (tied embeddings); ``text``, ``rope`` and ``vision`` add the
    architecture's own keys to the parts every Qwen-VL config shares."""
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
            **(rope or {}),
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": True,
        **(text or {}),
    }
    vision_config = {
        "depth": dims.vision_depth,
        "hidden_size": dims.vision_hidden,
        "out_hidden_size": dims.text_hidden,
        "intermediate_size": dims.vision_intermediate,
        "num_heads": dims.vision_heads,
        "temporal_patch_size": 2,
        **vision,
    }
    return getattr(transformers, config_class)(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def qwen_vl_config(tokenizer: object, dims: QwenVLDims) -> object:
    """A ``Qwen2_5_VLConfig`` of size ``dims`` whose token ids come from ``tokenizer``
    (patch 14, merge 2, window 112, full attention in the last vision block, tied
    embeddings); shared by the tiny and the micro models."""
    vision = {
        "patch_size": 14,
        "spatial_merge_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [dims.vision_depth - 1],
    }
    return _vl_config("Qwen2_5_VLConfig", tokenizer, dims, vision=vision)


def qwen3_vl_config(tokenizer: object, dims: QwenVLDims) -> object:
    """A ``Qwen3VLConfig`` of size ``dims`` whose token ids come from ``tokenizer``
    (patch 16, merge 2, interleaved M-RoPE, DeepStack from ``dims.deepstack_indexes``,
    tied embeddings): the tiny Qwen3-VL."""
    if any(not 0 <= i < dims.vision_depth for i in dims.deepstack_indexes):
        raise AssertionError("deepstack_indexes must index existing vision blocks")
    if math.isqrt(dims.vision_position_embeddings) ** 2 != dims.vision_position_embeddings:
        raise AssertionError("vision_position_embeddings must be a square number")
    vision = {
        "patch_size": QWEN3_PATCH_SIZE,
        "spatial_merge_size": QWEN3_MERGE_SIZE,
        "num_position_embeddings": dims.vision_position_embeddings,
        "deepstack_visual_indexes": list(dims.deepstack_indexes),
    }
    return _vl_config(
        "Qwen3VLConfig",
        tokenizer,
        dims,
        vision=vision,
        text={"head_dim": dims.text_hidden // dims.text_heads},
        rope={"mrope_interleaved": True},
    )


def new_qwen_vl_model(
    config: object, seed: int, *, model_class: str = "Qwen2_5_VLForConditionalGeneration"
) -> object:
    """A ``model_class`` (a transformers class name) of ``config`` with weights drawn from
    ``torch.manual_seed(seed)`` and a greedy generation config (eos ``<|im_end|>``).

    The weights come from the global torch RNG; ``fork_rng`` restores the caller's RNG
    state afterwards, so building a model does not disturb the caller's seeding.
    """
    torch = require("torch", extra="hf")
    transformers = require("transformers", extra="hf")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = getattr(transformers, model_class)(config)
    text_config = config.text_config  # type: ignore[attr-defined]
    model.generation_config = transformers.GenerationConfig(
        bos_token_id=text_config.bos_token_id,
        eos_token_id=text_config.eos_token_id,
        pad_token_id=text_config.pad_token_id,
        do_sample=False,
    )
    return model


def qwen_vl_processor(
    tokenizer: object, *, min_pixels: int, max_pixels: int, chat_template: str
) -> object:
    """A ``Qwen2_5_VLProcessor`` whose image (and video) processor resizes every image to
    an area between ``min_pixels`` and ``max_pixels``."""
    transformers = require("transformers", extra="hf")
    return transformers.Qwen2_5_VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(
            min_pixels=min_pixels, max_pixels=max_pixels
        ),
        tokenizer=tokenizer,
        video_processor=transformers.Qwen2VLVideoProcessor(
            min_pixels=min_pixels, max_pixels=max_pixels
        ),
        chat_template=chat_template,
    )


def qwen3_vl_processor(
    tokenizer: object, *, min_pixels: int, max_pixels: int, chat_template: str
) -> object:
    """A ``Qwen3VLProcessor`` as Qwen3-VL checkpoints configure it (a
    ``Qwen2VLImageProcessor`` with 16 px patches, merge 2, mean and std 0.5) with the pixel
    budget ``[min_pixels, max_pixels]``."""
    transformers = require("transformers", extra="hf")
    size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    return transformers.Qwen3VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(
            size=size,
            patch_size=QWEN3_PATCH_SIZE,
            merge_size=QWEN3_MERGE_SIZE,
            temporal_patch_size=2,
            image_mean=list(QWEN3_IMAGE_MEAN),
            image_std=list(QWEN3_IMAGE_STD),
        ),
        tokenizer=tokenizer,
        video_processor=transformers.Qwen3VLVideoProcessor(
            size=size, patch_size=QWEN3_PATCH_SIZE, merge_size=QWEN3_MERGE_SIZE
        ),
        chat_template=chat_template,
    )


def output_folder(out_dir: str | os.PathLike[str]) -> Path:
    """``out_dir`` as a ``Path``, created if missing.

    Raises:
        UserInputError: ``out_dir`` exists and is not a folder.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_pretrained_atomic(
    model: object, processor: object, out_dir: str | os.PathLike[str]
) -> Path:
    """Save ``model`` and ``processor`` into ``out_dir`` (created if missing).

    Everything is saved into a private folder beside ``out_dir`` first and the files
    are moved in only when all of them are written: a crash (or a concurrent builder)
    never leaves a half model. Files of ``out_dir`` with other names are left alone.

    Raises:
        UserInputError: ``out_dir`` exists and is not a folder.
    """
    out = output_folder(out_dir)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        model.save_pretrained(tmp)  # type: ignore[attr-defined]
        processor.save_pretrained(tmp)  # type: ignore[attr-defined]
        for path in sorted(Path(tmp).iterdir()):
            os.replace(path, out / path.name)
    return out
