"""Flags shared by the commands that run a model (``eval``, ``serve``): one declaration.

:func:`add_engine_arguments` declares the flags of
:class:`~regionreasoner.dialogue.engine.EngineSettings` that both commands offer (model,
protocol, frame, prompt, segmenter, decoding, ``hf`` placement);
:func:`engine_settings_kwargs` reads them back as that class's keyword arguments.
:func:`add_max_image_pixels_argument` declares ``--max-image-pixels`` (``eval``,
``serve`` and ``train``).
"""

from __future__ import annotations

import argparse
from typing import Any

from regionreasoner.cli.argtypes import non_negative_float, positive_int

PROMPT_NAMES_HELP = (
    "prompt template: regionreasoner (default), regionreasoner-train, visionreasoner, "
    "qwen-grounding, plain"
)


def add_engine_arguments(
    group: argparse._ActionsContainer,
    *,
    model_required: bool,
    model_help: str,
    segmenter_default: str,
    segmenter_help: str,
    hf_group: argparse._ActionsContainer | None = None,
    hf_sharding: bool = False,
) -> None:
    """Declare the model and decoding flags in ``group`` and the ``hf`` ones in
    ``hf_group`` (default: ``group``).

    Args:
        model_required: ``--model`` has no default (``eval``); otherwise it defaults to
            ``None`` (``serve``: the bundled model).
        model_help, segmenter_default, segmenter_help: what differs between commands.
        hf_sharding: also ``--device-map`` and ``--attn-implementation``.
    """
    group.add_argument(
        "--model",
        required=model_required,
        default=None,
        metavar="SPEC",
        help=model_help,
    )
    group.add_argument(
        "--protocol", default="paper", metavar="NAME", help="paper (default) or official"
    )
    group.add_argument(
        "--frame",
        default="square840",
        metavar="FRAME",
        help="model frame of the paper protocol: square840 (default) or "
        "native (Qwen2.5-VL processor size)",
    )
    group.add_argument("--prompt", default="regionreasoner", metavar="NAME", help=PROMPT_NAMES_HELP)
    group.add_argument(
        "--segmenter", default=segmenter_default, metavar="SPEC", help=segmenter_help
    )
    group.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=None,
        metavar="N",
        help="generation budget per turn (default 2048, as released)",
    )
    group.add_argument(
        "--temperature",
        type=non_negative_float,
        default=0.0,
        metavar="T",
        help="0 = greedy decoding (default)",
    )
    group.add_argument("--seed", type=int, default=0, help="seed for sampling and the oracle")

    hf = hf_group if hf_group is not None else group
    hf.add_argument("--dtype", default="auto", help="hf: auto, bfloat16, float16, float32")
    hf.add_argument(
        "--device", default=None, help="model (and SAM2) device, e.g. cuda, cuda:1, cpu"
    )
    if hf_sharding:
        hf.add_argument(
            "--device-map",
            default=None,
            metavar="MAP",
            help="e.g. auto: shard the model over all GPUs",
        )
        hf.add_argument(
            "--attn-implementation",
            default=None,
            metavar="IMPL",
            help="e.g. sdpa, flash_attention_2",
        )


def max_image_pixels(text: str) -> int:
    """A pixel limit: a positive integer up to Pillow's own hard limit
    (:func:`~regionreasoner.data.images.check_max_pixels`); ``_`` and ``,`` may group
    digits (``120_000_000``)."""
    from regionreasoner.data.images import check_max_pixels
    from regionreasoner.errors import ConfigError

    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    try:
        return check_max_pixels(value, what="the limit")
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_max_image_pixels_argument(group: argparse._ActionsContainer) -> None:
    """Declare ``--max-image-pixels N`` (default: the loader's limit, 120,000,000)."""
    group.add_argument(
        "--max-image-pixels",
        type=max_image_pixels,
        default=None,
        metavar="N",
        help="refuse an image with more pixels (width x height) than this, from its header, "
        "before decoding (default 120000000: every COCO image and 108 MP phone photos; "
        "at most 178956970, Pillow's own limit)",
    )


_ENGINE_FLAGS = ("protocol", "frame", "prompt", "segmenter", "temperature", "seed", "dtype")
_OPTIONAL_FLAGS = (
    "max_new_tokens",
    "device",
    "device_map",
    "attn_implementation",
    "max_image_pixels",
)


def engine_settings_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``EngineSettings`` keyword arguments of the flags declared by
    :func:`add_engine_arguments` (a flag left unset keeps the settings' default)."""
    kwargs = {name: getattr(args, name) for name in _ENGINE_FLAGS}
    for name in _OPTIONAL_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            kwargs[name] = value
    return kwargs
