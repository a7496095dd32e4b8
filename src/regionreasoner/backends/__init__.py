"""Model backends, looked up by the prefix of a ``--model`` spec.

=======================================  ====================================================
spec                                     backend
=======================================  ====================================================
``hf:<path-or-id>``                      transformers (Qwen2.5-VL, Qwen2-VL, any chat VLM)
``openai:<base_url>#<model>``            any OpenAI-compatible server (vLLM, SGLang, ...)
``replay:<predictions.jsonl>``           re-score recorded outputs
``oracle[:delay=S,noise=PX,seed=N]``     the ground truth in perfect format (tests)
=======================================  ====================================================

Entries are lazy: ``import regionreasoner.backends`` imports no torch and no httpx.
"""

from __future__ import annotations

from regionreasoner.backends.base import (
    Backend,
    BackendOptions,
    Generation,
    GenerationRequest,
)
from regionreasoner.errors import ConfigError
from regionreasoner.registry import Registry

BACKENDS: Registry[type] = Registry("backend")
BACKENDS.register_lazy("hf", "regionreasoner.backends.hf:TransformersBackend")
BACKENDS.register_lazy(
    "openai", "regionreasoner.backends.openai_compatible:OpenAICompatibleBackend"
)
BACKENDS.register_lazy("replay", "regionreasoner.backends.replay:ReplayBackend")
BACKENDS.register_lazy("oracle", "regionreasoner.backends.oracle:OracleBackend")


def split_model_spec(spec: str) -> tuple[str, str]:
    """``"hf:Qwen/Qwen2.5-VL-7B-Instruct"`` -> ``("hf", "Qwen/Qwen2.5-VL-7B-Instruct")``.

    Raises:
        ConfigError: an empty spec.

    >>> split_model_spec("openai:http://localhost:8000/v1#qwen")
    ('openai', 'http://localhost:8000/v1#qwen')
    >>> split_model_spec("oracle")
    ('oracle', '')
    """
    name, _, argument = spec.strip().partition(":")
    if not name:
        raise ConfigError(f"empty model spec {spec!r}; expected e.g. hf:PATH or oracle")
    return name, argument


def load_backend(spec: str, options: BackendOptions | None = None) -> Backend:
    """Build the backend a ``--model`` spec names.

    Raises:
        UnknownComponentError: the prefix names no backend (lists the known ones).
        ConfigError: the rest of the spec or an option is invalid.
        MissingDependencyError: the backend's extra is not installed.
    """
    name, argument = split_model_spec(spec)
    cls = BACKENDS.get(name)
    return cls.from_spec(argument, options or BackendOptions())


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendOptions",
    "Generation",
    "GenerationRequest",
    "load_backend",
    "split_model_spec",
]
