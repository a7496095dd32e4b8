"""Flags shared by the commands that run a model (``eval``, ``serve``, ``probe-frame``):
one declaration each.

* :func:`add_engine_arguments` declares the flags of
  :class:`~regionreasoner.dialogue.engine.EngineSettings` that ``eval`` and ``serve``
  offer (model, protocol, frame, prompt, segmenter, decoding, ``hf`` placement);
  :func:`engine_settings_kwargs` reads them back as that class's keyword arguments.
* :func:`add_hf_arguments` and :func:`add_openai_arguments` declare the backend flags
  (``hf`` placement; ``openai`` concurrency, timeouts, retries, image encoding);
  :func:`openai_settings_kwargs` and :func:`backend_options` read them back.

The ``--frame`` and ``--prompt`` help texts list the registered names
(:func:`frame_names`, :func:`prompt_help`), so a new frame or prompt shows up in every
command's help.
:func:`add_max_image_pixels_argument` declares ``--max-image-pixels`` (``eval``,
``serve`` and ``train``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from regionreasoner.cli.argtypes import int_at_least, non_negative_float, positive_int

if TYPE_CHECKING:
    from regionreasoner.backends.base import BackendOptions


def frame_names(*, default: str | None = None, auto: bool = True) -> str:
    """Every registered frame with the families that answer in it (``default`` marked),
    then ``auto`` (run the frame probe first) when ``auto``."""
    from regionreasoner.geometry.frames import AUTO_FRAME, FRAMES

    names = []
    for name in FRAMES.names():
        notes = (["default"] if name == default else []) + list(FRAMES.get(name).families)
        names.append(f"{name} ({'; '.join(notes)})" if notes else name)
    text = ", ".join(names)
    if auto:
        text += f", or {AUTO_FRAME} (run the frame probe first, as probe-frame does)"
    return text


def frame_help(default: str) -> str:
    """The ``--frame`` help of the commands that run a model."""
    return (
        "model frame of the paper protocol (the image shown, what answer numbers mean): "
        f"{frame_names(default=default)}; docs/evaluation.md section 1b"
    )


def prompt_help(default: str) -> str:
    """The ``--prompt`` help: every registered prompt template, ``default`` marked."""
    from regionreasoner.dialogue.prompts import PROMPTS

    names = [f"{n} (default)" if n == default else n for n in PROMPTS.names()]
    return "prompt template: " + ", ".join(names)


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
    frame = "square840"
    group.add_argument("--frame", default=frame, metavar="FRAME", help=frame_help(frame))
    prompt = "regionreasoner"
    group.add_argument("--prompt", default=prompt, metavar="NAME", help=prompt_help(prompt))
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
    add_hf_arguments(hf_group if hf_group is not None else group, sharding=hf_sharding)


def add_hf_arguments(group: argparse._ActionsContainer, *, sharding: bool = True) -> None:
    """The ``hf`` backend's placement flags (``sharding``: also ``--device-map`` and
    ``--attn-implementation``)."""
    group.add_argument("--dtype", default="auto", help="hf: auto, bfloat16, float16, float32")
    group.add_argument(
        "--device", default=None, help="model (and SAM2) device, e.g. cuda, cuda:1, cpu"
    )
    if sharding:
        group.add_argument(
            "--device-map",
            default=None,
            metavar="MAP",
            help="e.g. auto: shard the model over all GPUs",
        )
        group.add_argument(
            "--attn-implementation",
            default=None,
            metavar="IMPL",
            help="e.g. sdpa, flash_attention_2",
        )


def add_openai_arguments(group: argparse._ActionsContainer) -> None:
    """The ``openai`` backend's flags (read back by :func:`openai_settings_kwargs`)."""
    group.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="N",
        help="openai: parallel requests (default 8)",
    )
    group.add_argument(
        "--request-timeout",
        type=non_negative_float,
        default=None,
        metavar="SECONDS",
        help="openai: seconds per attempt (default 300)",
    )
    group.add_argument(
        "--max-retries",
        type=int_at_least(0),
        default=None,
        metavar="N",
        help="openai: retries on 5xx/429/timeouts/connection errors (default 3)",
    )
    group.add_argument(
        "--retry-backoff",
        type=non_negative_float,
        default=None,
        metavar="SECONDS",
        help="openai: first retry delay, doubling (default 1)",
    )
    group.add_argument(
        "--max-response-bytes",
        type=positive_int,
        default=None,
        metavar="N",
        help="openai: largest response body read; a longer one fails the turn, not "
        "retried (default 8388608, 8 MiB)",
    )
    group.add_argument(
        "--image-format",
        choices=("png", "jpeg"),
        default=None,
        help="openai: image encoding of the data URL (default png, lossless)",
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
_HF_PLACEMENT_FLAGS = ("device", "device_map", "attn_implementation")
"""The ``hf`` flags that are ``BackendOptions`` fields of the same name."""
_OPTIONAL_FLAGS = ("max_new_tokens", *_HF_PLACEMENT_FLAGS, "max_image_pixels")
_OPENAI_FIELDS = {
    "concurrency": "concurrency",
    "request_timeout": "request_timeout_s",
    "max_retries": "max_retries",
    "retry_backoff": "retry_backoff_s",
    "max_response_bytes": "max_response_bytes",
    "image_format": "image_format",
}
"""``BackendOptions`` field of each ``openai`` flag."""


def engine_settings_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``EngineSettings`` keyword arguments of the flags declared by
    :func:`add_engine_arguments` (a flag left unset keeps the settings' default)."""
    kwargs = {name: getattr(args, name) for name in _ENGINE_FLAGS}
    for name in _OPTIONAL_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            kwargs[name] = value
    return kwargs


def openai_settings_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``BackendOptions`` keyword arguments of the ``openai`` flags that were given
    (declared by :func:`add_openai_arguments`; unset flags keep the defaults)."""
    return {
        field: getattr(args, flag)
        for flag, field in _OPENAI_FIELDS.items()
        if getattr(args, flag, None) is not None
    }


def backend_options(args: argparse.Namespace, **overrides: Any) -> BackendOptions:
    """The :class:`~regionreasoner.backends.BackendOptions` of the ``hf`` and ``openai``
    flags (``overrides``: e.g. ``seed=``, ``temperature=``)."""
    from regionreasoner.backends.base import BackendOptions

    hf = {
        name: getattr(args, name)
        for name in ("dtype", *_HF_PLACEMENT_FLAGS)
        if getattr(args, name, None) is not None
    }
    return BackendOptions(**hf, **openai_settings_kwargs(args), **overrides)
