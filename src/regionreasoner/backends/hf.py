"""``hf:<path-or-id>``: batched generation with transformers.

Loads any chat vision-language model of ``AutoModelForImageTextToText`` (Qwen2.5-VL,
Qwen3-VL, Qwen2-VL, ...) with its ``AutoProcessor``. A list of requests is generated as
ONE batch with left padding (prompts of different lengths end at the same position),
greedy by default. Each request is one user message holding the image and the text,
preceded by the request's system message when it has one (otherwise the chat template's
default).

The image of a request is already in the model frame; the processor may still resize it
to its own pixel budget, which changes nothing for the coordinates as long as the model
answers in the frame of the image it was given: Qwen2.5-VL answers in absolute pixels of
its input (the protocols' 840x840 frame is a multiple of 28, so it keeps it as is);
Qwen3-VL answers on a relative 0-1000 grid, the same whatever size the processor
resizes to (``--frame rel1000``). :meth:`TransformersBackend.describe` records the
processor's resize rule (patch and merge sizes, pixel budget) in ``config.json``.

When a batch runs out of accelerator memory it is split in halves and retried; a single
request that still does not fit comes back as a failed generation.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from regionreasoner._imports import require
from regionreasoner.backends.base import BackendOptions, Generation, GenerationRequest
from regionreasoner.errors import ConfigError

logger = logging.getLogger(__name__)

DTYPES = ("auto", "bfloat16", "float16", "float32")
"""Accepted ``--dtype`` values."""


def _torch_dtype(torch: Any, name: str) -> Any:
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; expected one of {', '.join(DTYPES)}")
    return "auto" if name == "auto" else getattr(torch, name)


def processor_resize_settings(processor: Any) -> dict[str, Any] | None:
    """The resize rule of a Qwen-style image processor (``patch_size``, ``merge_size``,
    ``min_pixels``, ``max_pixels``), or ``None`` for a processor without one.

    These are the inputs of :func:`regionreasoner.geometry.frames.qwen_native_wh`
    (``factor = patch_size * merge_size``); the values of the released families are
    :data:`regionreasoner.geometry.frames.RESIZE_RULES`.
    """
    image_processor = getattr(processor, "image_processor", None)
    patch_size = getattr(image_processor, "patch_size", None)
    merge_size = getattr(image_processor, "merge_size", None)
    if not isinstance(patch_size, int) or not isinstance(merge_size, int):
        return None
    size = dict(getattr(image_processor, "size", None) or {})
    return {
        "patch_size": patch_size,
        "merge_size": merge_size,
        "min_pixels": size.get("shortest_edge"),
        "max_pixels": size.get("longest_edge"),
    }


class TransformersBackend:
    """A transformers chat VLM generating batches with left padding.

    Args:
        model_path: a local folder or a Hugging Face id.
        dtype: ``auto`` (the checkpoint's dtype), ``bfloat16``, ``float16`` or ``float32``.
        device: where to put the model (default ``cuda`` when available, else ``cpu``);
            ignored when ``device_map`` is given.
        device_map: e.g. ``auto`` to shard the model over all visible GPUs.
        attn_implementation: e.g. ``sdpa`` or ``flash_attention_2`` (default: the
            library's choice).
        temperature: 0 for greedy decoding, > 0 to sample.
        seed: torch seed set before each sampled batch.
    """

    name: ClassVar[str] = "hf"
    needs_image: ClassVar[bool] = True

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "auto",
        device: str | None = None,
        device_map: str | None = None,
        attn_implementation: str | None = None,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        torch = require("torch", extra="hf")
        transformers = require("transformers", extra="hf")
        self._torch = torch
        self._oom_error = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
        self.model_path = model_path
        self.temperature = temperature
        self.seed = seed
        self.dtype = dtype
        kwargs: dict[str, Any] = {"dtype": _torch_dtype(torch, dtype)}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        if device_map:
            kwargs["device_map"] = device_map
        try:
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                model_path, **kwargs
            )
            self.processor = transformers.AutoProcessor.from_pretrained(model_path)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot load the model hf:{model_path}: {e}") from e
        if not device_map:
            self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
            self.model.to(self.device)
        else:
            self.device = str(self.model.device)
        self.device_map = device_map
        self.attn_implementation = attn_implementation
        self.model.eval()
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._pad_token_id = tokenizer.pad_token_id

    @classmethod
    def from_spec(cls, argument: str, options: BackendOptions) -> TransformersBackend:
        """Build from the model path after ``hf:`` and the command-line options."""
        if not argument:
            raise ConfigError("model spec hf: expected hf:<path-or-hub-id>")
        return cls(
            argument,
            dtype=options.dtype,
            device=options.device,
            device_map=options.device_map,
            attn_implementation=options.attn_implementation,
            temperature=options.temperature,
            seed=options.seed,
        )

    def describe(self) -> dict[str, Any]:
        """Settings for ``config.json``."""
        return {
            "model_path": self.model_path,
            "model_class": type(self.model).__name__,
            "model_type": getattr(self.model.config, "model_type", None),
            "image_resize": processor_resize_settings(self.processor),
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "device": self.device,
            "device_map": self.device_map,
            "attn_implementation": self.attn_implementation,
            "temperature": self.temperature,
            "padding_side": "left",
        }

    def close(self) -> None:
        """Free the model (and accelerator memory)."""
        self.model = None
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()

    def _messages(self, request: GenerationRequest) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if request.system is not None:
            messages.append(
                {"role": "system", "content": [{"type": "text", "text": request.system}]}
            )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "image"}, {"type": "text", "text": request.user_text}],
            }
        )
        return messages

    def _generation_config(self, max_new_tokens: int) -> Any:
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = max_new_tokens
        config.pad_token_id = self._pad_token_id
        if self.temperature > 0:
            config.do_sample = True
            config.temperature = self.temperature
        else:
            config.do_sample = False
            config.temperature = None
            config.top_p = None
            config.top_k = None
        return config

    def _run_batch(self, requests: Sequence[GenerationRequest]) -> list[str]:
        torch = self._torch
        texts = [
            self.processor.apply_chat_template(
                self._messages(r), tokenize=False, add_generation_prompt=True
            )
            for r in requests
        ]
        images = [r.image for r in requests]
        if any(image is None for image in images):
            raise ConfigError("the hf backend needs the image of every request")
        inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        inputs = inputs.to(self.model.device)
        config = self._generation_config(max(r.max_new_tokens for r in requests))
        if self.temperature > 0:
            torch.manual_seed(self.seed)
        with torch.inference_mode():
            output = self.model.generate(**inputs, generation_config=config)
        # Left padding: every prompt ends at the same column.
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(
            new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )

    def _generate_splitting(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        start = time.perf_counter()
        try:
            texts = self._run_batch(requests)
        except self._oom_error as e:
            if self._torch.cuda.is_available():
                self._torch.cuda.empty_cache()
            if len(requests) == 1:
                return [Generation("", time.perf_counter() - start, f"out of memory: {e}")]
            half = len(requests) // 2
            logger.warning("out of memory on a batch of %d; retrying in halves", len(requests))
            return self._generate_splitting(requests[:half]) + self._generate_splitting(
                requests[half:]
            )
        latency = time.perf_counter() - start
        return [Generation(text, latency) for text in texts]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate all requests as one left-padded batch (per ``max_new_tokens`` group)."""
        if self.model is None:
            raise ConfigError("the hf backend was closed")
        out: list[Generation | None] = [None] * len(requests)
        groups: dict[int, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(request.max_new_tokens, []).append(index)
        for indices in groups.values():
            results = self._generate_splitting([requests[i] for i in indices])
            for index, generation in zip(indices, results, strict=True):
                out[index] = generation
        return [g for g in out if g is not None]
