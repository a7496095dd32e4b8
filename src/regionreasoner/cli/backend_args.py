"""Backend flags shared by the commands that load a ``--model`` (``probe-frame``; ``eval``
and ``serve`` declare the same flags inline until they adopt these helpers).

The flags map one to one onto :class:`~regionreasoner.backends.BackendOptions`.
"""

from __future__ import annotations

import argparse
from typing import Any

from regionreasoner.cli.argtypes import int_at_least, non_negative_float, positive_int


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``hf`` and ``openai`` backend flags (two argument groups)."""
    hf = parser.add_argument_group("hf backend")
    hf.add_argument("--dtype", default="auto", help="auto, bfloat16, float16, float32")
    hf.add_argument("--device", default=None, help="model device, e.g. cuda, cuda:1, cpu")
    hf.add_argument(
        "--device-map", default=None, metavar="MAP", help="e.g. auto: shard over all GPUs"
    )
    hf.add_argument(
        "--attn-implementation",
        default=None,
        metavar="IMPL",
        help="e.g. sdpa, flash_attention_2",
    )
    remote = parser.add_argument_group("openai backend")
    remote.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="N",
        help="parallel requests (default 8)",
    )
    remote.add_argument(
        "--request-timeout",
        type=non_negative_float,
        default=None,
        metavar="SECONDS",
        help="seconds per attempt (default 300)",
    )
    remote.add_argument(
        "--max-retries",
        type=int_at_least(0),
        default=None,
        metavar="N",
        help="retries on 5xx/429/timeouts/connection errors (default 3)",
    )


def backend_options(args: argparse.Namespace, **overrides: Any) -> Any:
    """The :class:`~regionreasoner.backends.BackendOptions` of the parsed flags
    (``overrides``: e.g. ``seed=``, ``temperature=``)."""
    from regionreasoner.backends.base import (
        DEFAULT_CONCURRENCY,
        DEFAULT_MAX_RETRIES,
        DEFAULT_REQUEST_TIMEOUT_S,
        BackendOptions,
    )

    return BackendOptions(
        dtype=args.dtype,
        device=args.device,
        device_map=args.device_map,
        attn_implementation=args.attn_implementation,
        concurrency=args.concurrency or DEFAULT_CONCURRENCY,
        request_timeout_s=(
            DEFAULT_REQUEST_TIMEOUT_S if args.request_timeout is None else args.request_timeout
        ),
        max_retries=DEFAULT_MAX_RETRIES if args.max_retries is None else args.max_retries,
        **overrides,
    )
