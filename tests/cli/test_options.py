"""``cli/options.py``: the flags read back into settings objects."""

from __future__ import annotations

from regionreasoner.backends.base import BackendOptions
from regionreasoner.cli.main import build_parser
from regionreasoner.cli.options import backend_options, engine_settings_kwargs


def test_backend_options_of_evals_flags_keeps_the_engine_only_ones_out() -> None:
    """``--max-image-pixels`` and ``--max-new-tokens`` are engine settings, not backend
    options: reading eval's whole namespace back as ``BackendOptions`` must not pass
    them on, while every backend flag given arrives."""
    args = build_parser().parse_args(
        [
            "eval",
            "--data",
            "d.jsonl",
            "--model",
            "oracle",
            "--out",
            "run",
            "--max-image-pixels",
            "5000",
            "--max-new-tokens",
            "7",
            "--device",
            "cpu",
            "--attn-implementation",
            "eager",
            "--max-response-bytes",
            "4096",
        ]
    )
    options = backend_options(args, seed=3)
    assert isinstance(options, BackendOptions)
    assert (options.device, options.attn_implementation) == ("cpu", "eager")
    assert (options.max_response_bytes, options.seed) == (4096, 3)
    engine = engine_settings_kwargs(args)
    assert (engine["max_image_pixels"], engine["max_new_tokens"]) == (5000, 7)
