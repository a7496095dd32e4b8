"""Backend specs, options and the registry."""

from __future__ import annotations

import pytest

from regionreasoner.backends import BACKENDS, BackendOptions, load_backend, split_model_spec
from regionreasoner.backends.base import Generation, parse_options
from regionreasoner.backends.oracle import OracleBackend
from regionreasoner.errors import ConfigError, UnknownComponentError


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("hf:Qwen/Qwen2.5-VL-7B-Instruct", ("hf", "Qwen/Qwen2.5-VL-7B-Instruct")),
        ("openai:http://h:8000/v1#m", ("openai", "http://h:8000/v1#m")),  # only the 1st colon
        ("replay:runs/a/predictions.jsonl", ("replay", "runs/a/predictions.jsonl")),
        ("oracle", ("oracle", "")),
        (" oracle:delay=1 ", ("oracle", "delay=1")),
    ],
)
def test_split_model_spec(spec: str, expected: tuple[str, str]) -> None:
    assert split_model_spec(spec) == expected


def test_registry_lists_the_four_backends_and_suggests_names() -> None:
    assert BACKENDS.names() == ["hf", "openai", "oracle", "replay"]
    with pytest.raises(UnknownComponentError, match="'oracle'"):
        load_backend("oracel")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("delay", "key=value"),  # no '='
        ("speed=3", "unknown option 'speed'"),
        ("delay=1,delay=2", "given twice"),
    ],
)
def test_parse_options_rejects(text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_options(text, allowed=("delay", "noise"), what="oracle")


def test_load_oracle_with_options() -> None:
    backend = load_backend("oracle:delay=0.25,noise=3,seed=7")
    assert isinstance(backend, OracleBackend)
    assert (backend.delay_s, backend.noise_px, backend.seed) == (0.25, 3, 7)
    with pytest.raises(ConfigError, match="delay must be a number"):
        load_backend("oracle:delay=fast")
    with pytest.raises(ConfigError, match="noise must be >= 0"):
        load_backend("oracle:noise=-1")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"request_timeout_s": 0}, "timeout"),
        ({"max_retries": -1}, "retries"),
        ({"temperature": -0.1}, "temperature"),
        ({"image_format": "gif"}, "image format"),
    ],
)
def test_backend_options_validate(kwargs: dict, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        BackendOptions(**kwargs)


def test_generation_failed_flag() -> None:
    assert Generation("x", 0.1).failed is False
    assert Generation("", 0.1, error="boom").failed is True
