"""The backend contract: batched text generation over (image, user text) requests.

A backend answers a list of :class:`GenerationRequest` with one :class:`Generation` per
request, in order. The image of a request is ALREADY in the frame the model must answer
in (the evaluation protocol resized it), so backends never rescale coordinates. A
backend never raises because one request failed: the failure is returned as
``Generation(error=...)`` and the engine records the turn as failed. It raises only for
caller errors (bad spec, bad options) and for internal errors.

Backends are looked up by the prefix of the ``--model`` spec in
:data:`regionreasoner.backends.BACKENDS`; each class builds itself with
``from_spec(argument, options)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from regionreasoner.errors import ConfigError

if TYPE_CHECKING:
    from PIL.Image import Image

    from regionreasoner.data.schema import Turn
    from regionreasoner.geometry.frames import Frame

DEFAULT_MAX_NEW_TOKENS = 2048
"""Generation budget of the released evaluation (``max_new_tokens=2048``)."""

DEFAULT_CONCURRENCY = 8
"""Concurrent HTTP requests of the OpenAI-compatible backend."""

DEFAULT_REQUEST_TIMEOUT_S = 300.0
"""Seconds one HTTP request may take before it counts as timed out (then retried)."""

DEFAULT_MAX_RETRIES = 3
"""Retries after the first attempt on HTTP 5xx/429, timeouts and connection errors."""

DEFAULT_RETRY_BACKOFF_S = 1.0
"""First retry delay in seconds; it doubles on every further retry."""

MAX_RETRY_BACKOFF_S = 60.0
"""Upper bound of one retry delay (and of an honoured ``Retry-After``), in seconds."""

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""Largest response body the ``openai`` backend reads (8 MiB). A chat completion of the
2048-token budget is a few tens of KB of JSON; a body past this is a misbehaving server
or proxy, and reading it whole could exhaust memory."""

META_DIALOGUE_ID = "dialogue_id"
"""Request metadata key: the dialogue id (``str``)."""

META_TURN_INDEX = "turn_index"
"""Request metadata key: the 0-based turn index (``int``)."""

META_TURN = "turn"
"""Request metadata key: the :class:`~regionreasoner.data.schema.Turn` (ground truth)."""

META_FRAME = "frame"
"""Request metadata key: the :class:`~regionreasoner.geometry.frames.Frame` of the image."""

META_REFERENCE_XYXY = "reference_xyxy"
"""Request metadata key: the reference box exactly as written in the prompt (its numbers,
in the frame of the prompt text), or ``None`` when the turn cites nothing."""


def turn_metadata(
    dialogue_id: str,
    turn_index: int,
    frame: Frame,
    reference_xyxy: Any,
    turn: Turn | None = None,
) -> dict[str, Any]:
    """The request metadata of one turn (the ``META_*`` keys), as the engine, the web
    page and the frame probe send it; ``turn`` (the ground truth) only when given."""
    metadata: dict[str, Any] = {
        META_DIALOGUE_ID: dialogue_id,
        META_TURN_INDEX: turn_index,
        META_FRAME: frame,
        META_REFERENCE_XYXY: reference_xyxy,
    }
    if turn is not None:
        metadata[META_TURN] = turn
    return metadata


@dataclass(frozen=True, slots=True, eq=False)
class GenerationRequest:
    """One prompt for a vision-language model.

    Attributes:
        image: the image, already resized to the model frame; ``None`` only for backends
            whose ``needs_image`` is False (test doubles), which never look at pixels.
        user_text: the user message text (the rendered prompt).
        system: an explicit system message, or ``None`` for the chat template's default.
        max_new_tokens: generation budget.
        metadata: engine context (keys ``META_*`` of this module). Model backends ignore
            it; the ``oracle`` and ``replay`` test doubles read it.
    """

    image: Image | None
    user_text: str
    system: str | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    metadata: Mapping[str, Any] | None = None

    def meta(self, key: str) -> Any:
        """``metadata[key]``.

        Raises:
            ConfigError: the request carries no such metadata (a test-double backend was
                called outside the evaluation engine).
        """
        if not self.metadata or key not in self.metadata:
            raise ConfigError(
                f"this backend needs request metadata {key!r}; run it through "
                "the evaluation engine (regionreasoner eval)"
            )
        return self.metadata[key]


@dataclass(frozen=True, slots=True)
class Generation:
    """The answer to one request.

    Attributes:
        text: the model's completion ("" when the request failed).
        latency_s: wall-clock seconds the request waited for its answer (for a batched
            backend: the duration of the batch it was part of; retries included).
        error: why the request failed after all retries, or ``None`` on success.
        attempts: how many attempts were made (1 without retries).
        text_lost: why part of the completion is missing from ``text`` (the server
            dropped it: see :mod:`regionreasoner.backends.chat_message`), or ``None``.
    """

    text: str
    latency_s: float
    error: str | None = None
    attempts: int = 1
    text_lost: str | None = None

    @property
    def failed(self) -> bool:
        """Whether no answer arrived."""
        return self.error is not None


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """Backend settings from the command line; each backend reads the ones it uses.

    Attributes:
        dtype: ``hf``: torch dtype name (``auto``, ``bfloat16``, ``float16``, ``float32``).
        device: ``hf``: device to place the model on (default: cuda when available).
        device_map: ``hf``: a ``device_map`` such as ``auto`` (multi-GPU sharding).
        attn_implementation: ``hf``: e.g. ``sdpa``, ``flash_attention_2``, ``eager``.
        concurrency: ``openai``: parallel HTTP requests.
        request_timeout_s: ``openai``: seconds per HTTP attempt.
        max_retries: ``openai``: retries after the first attempt.
        retry_backoff_s: ``openai``: first retry delay (doubles each retry).
        image_format: ``openai``: ``png`` (lossless) or ``jpeg`` for the data URL.
        max_response_bytes: ``openai``: largest response body read; a longer one fails
            the turn (not retried).
        temperature: 0 is greedy decoding (the default); > 0 samples.
        seed: seed for sampling (``hf``: torch seed; ``openai``: the ``seed`` field).
    """

    dtype: str = "auto"
    device: str | None = None
    device_map: str | None = None
    attn_implementation: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_backoff_s: float = DEFAULT_RETRY_BACKOFF_S
    image_format: str = "png"
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    temperature: float = 0.0
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.request_timeout_s <= 0:
            raise ConfigError(f"request timeout must be > 0 s, got {self.request_timeout_s}")
        if self.max_retries < 0:
            raise ConfigError(f"max retries must be >= 0, got {self.max_retries}")
        if self.retry_backoff_s < 0:
            raise ConfigError(f"retry backoff must be >= 0 s, got {self.retry_backoff_s}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if self.max_response_bytes < 1:
            raise ConfigError(f"max response bytes must be >= 1, got {self.max_response_bytes}")
        if self.image_format not in ("png", "jpeg"):
            raise ConfigError(f"image format must be 'png' or 'jpeg', got {self.image_format!r}")

    @property
    def greedy(self) -> bool:
        """Whether decoding is greedy (temperature 0)."""
        return self.temperature == 0


@runtime_checkable
class Backend(Protocol):
    """What the engine needs from a model backend.

    Attributes:
        name: the registry name (``hf``, ``openai``, ``replay``, ``oracle``).
        needs_image: whether requests must carry pixels (False for test doubles: the
            engine then skips decoding and resizing images).

    A backend may also define ``preferred_batch_size`` (``int``), the engine batch size
    used when ``--batch-size`` is not given (``openai``: its concurrency).
    """

    name: ClassVar[str]
    needs_image: ClassVar[bool]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Answer every request, in order; per-request failures are returned, not raised."""
        ...

    def describe(self) -> dict[str, Any]:
        """Resolved settings for ``config.json`` (JSON-ready)."""
        ...

    def close(self) -> None:
        """Release resources (connections, GPU memory)."""
        ...


def parse_options(text: str, *, allowed: Sequence[str], what: str) -> dict[str, str]:
    """Parse ``key=value,key=value`` spec options.

    Args:
        text: the options text (may be empty).
        allowed: accepted keys.
        what: the spec being parsed, for error messages.

    Raises:
        ConfigError: a malformed item, an unknown or a repeated key.

    >>> parse_options("delay=0.5,seed=3", allowed=("delay", "noise", "seed"), what="oracle")
    {'delay': '0.5', 'seed': '3'}
    """
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{what}: expected key=value options, got {item!r}")
        if key not in allowed:
            raise ConfigError(f"{what}: unknown option {key!r} (accepted: {', '.join(allowed)})")
        if key in out:
            raise ConfigError(f"{what}: option {key!r} given twice")
        out[key] = value.strip()
    return out


def option_float(options: Mapping[str, str], key: str, default: float, *, what: str) -> float:
    """A non-negative float option.

    Raises:
        ConfigError: not a number or negative.
    """
    if key not in options:
        return default
    try:
        value = float(options[key])
    except ValueError:
        raise ConfigError(f"{what}: {key} must be a number, got {options[key]!r}") from None
    if not value >= 0:
        raise ConfigError(f"{what}: {key} must be >= 0, got {options[key]!r}")
    return value


def option_int(options: Mapping[str, str], key: str, default: int, *, what: str) -> int:
    """An integer option.

    Raises:
        ConfigError: not an integer.
    """
    if key not in options:
        return default
    try:
        return int(options[key])
    except ValueError:
        raise ConfigError(f"{what}: {key} must be an integer, got {options[key]!r}") from None
