"""``synth://DIR?dialogues=N&seed=S``: a training data spec that builds a synthetic benchmark.

Used by single-turn training (exported on the fly) and by dialogue-level rollouts (read
as dialogues); the benchmark is built once in ``DIR`` and reused while it exists.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from regionreasoner.errors import ConfigError

logger = logging.getLogger(__name__)

SYNTH_SCHEME = "synth://"
"""Data spec prefix: ``synth://DIR?dialogues=N&seed=S`` builds a synthetic benchmark in ``DIR``."""

SYNTH_PARAMS = {"dialogues": int, "seed": int, "max_turns": int, "image_size": str}
"""Query parameters a ``synth://`` spec accepts (``build_synth``'s defaults for the rest)."""

_SYNTH_ARGUMENTS = {"dialogues": "n_dialogues"}
"""``synth://`` parameter -> ``build_synth`` argument, where the names differ."""


def _parse_synth_spec(spec: str) -> tuple[Path, dict[str, Any]]:
    body = spec[len(SYNTH_SCHEME) :]
    folder, _, query = body.partition("?")
    if not folder:
        raise ConfigError(f"data.train {spec!r}: synth:// needs a folder")
    params: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in SYNTH_PARAMS:
            raise ConfigError(
                f"data.train {spec!r}: unknown synth parameter {key!r} "
                f"(accepted: {', '.join(SYNTH_PARAMS)})"
            )
        try:
            params[key] = SYNTH_PARAMS[key](value)
        except ValueError as e:
            raise ConfigError(f"data.train {spec!r}: {key}={value!r} is not valid") from e
    return Path(folder), params


def build_synth_bench(spec: str) -> Path:
    """The RegionDial JSONL of a ``synth://DIR?dialogues=N&seed=S`` spec, built when missing.

    Raises:
        ConfigError: a malformed spec or an unknown parameter.
    """
    folder, params = _parse_synth_spec(spec)
    bench = folder / "synth.jsonl"
    if bench.is_file():
        logger.info("reusing the synthetic benchmark %s (delete it to rebuild)", bench)
        return bench
    from regionreasoner.data.builders.synth import build_synth

    kwargs = {_SYNTH_ARGUMENTS.get(k, k): v for k, v in params.items()}
    logger.info("building a synthetic benchmark in %s (%s)", folder, params or "defaults")
    return build_synth(folder, **kwargs)
