"""``openai:<base_url>#<model>``: any OpenAI-compatible chat server (vLLM, SGLang, ...).

Each request is one ``POST <base_url>/chat/completions`` with the image as a base64 data
URL (PNG by default, lossless; the image is already in the model frame, so the server
must not need to resize it) and the prompt text. Requests run concurrently in a thread
pool (``concurrency``). HTTP 5xx, 429, timeouts and connection errors are retried with
exponential backoff (``retry_backoff_s``, doubling, capped at
:data:`~regionreasoner.backends.base.MAX_RETRY_BACKOFF_S`; a ``Retry-After`` header is
honoured within that cap). Any other HTTP error, an unreadable response body, or a
request still failing after ``max_retries`` retries comes back as a failed generation:
the engine records the turn as failed and the run goes on. An answer that arrives is
returned as it is, even when it cannot be parsed: it is never retried.

The response body is streamed and read up to ``max_response_bytes``
(:data:`~regionreasoner.backends.base.DEFAULT_MAX_RESPONSE_BYTES`, 8 MiB; counted after
any ``Content-Encoding`` is undone, so a compressed bomb is stopped too). A body that
declares a larger ``Content-Length``, or grows past the limit, is not read further and
fails the turn with an error naming the limit. It is not retried: the same request to
the same server would get the same answer, and a misbehaving server or proxy should not
be sent it ``max_retries`` more times. Error responses (4xx/5xx) are read only as far as
the excerpt quoted in the message.

The completion is rebuilt from every message field real servers use (``content`` as a
string or parts, ``reasoning_content``, ``reasoning``), in the model's order, by
:func:`~regionreasoner.backends.chat_message.rebuild_completion`. When the server's
reasoning parser dropped part of it, the generation says so (``text_lost``) and the first
such answer logs a warning naming the server setting that avoids it.

The API key comes from ``OPENAI_API_KEY`` when set (vLLM and SGLang accept any key or
none).

Example (a vLLM server started with ``vllm serve lmsdss/RegionReasoner-7B``)::

    regionreasoner eval --data bench.jsonl --out runs/rr7b \
        --model "openai:http://localhost:8000/v1#lmsdss/RegionReasoner-7B" --concurrency 32
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

from regionreasoner._imports import require
from regionreasoner.backends.base import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_RETRY_BACKOFF_S,
    BackendOptions,
    Generation,
    GenerationRequest,
)
from regionreasoner.backends.chat_message import (
    TEXT_LOST_ADVICE,
    RebuiltCompletion,
    rebuild_completion,
)
from regionreasoner.errors import ConfigError

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)

API_KEY_ENV = "OPENAI_API_KEY"
"""Environment variable holding the API key (sent as a Bearer token when set)."""

RETRY_STATUS_MIN = 500
"""HTTP statuses from this value up are retried (server errors)."""

TOO_MANY_REQUESTS = 429
"""HTTP 429 is retried as well (rate limiting)."""

PNG_COMPRESS_LEVEL = 1
"""zlib level of PNG data URLs: lossless whatever the level; 1 is the fastest."""

JPEG_QUALITY = 95
"""Quality of JPEG data URLs."""

ERROR_BODY_CHARS = 200
"""Characters of an error response body quoted in the failure message."""

ERROR_BODY_READ_BYTES = 4 * ERROR_BODY_CHARS
"""Bytes read of an error response (enough for the quoted characters in UTF-8)."""

IDENTITY_ENCODINGS = ("", "identity")
"""``Content-Encoding`` values under which ``Content-Length`` is the decoded size."""


class _Retryable(Exception):
    """An attempt failed in a way worth retrying."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class _Fatal(Exception):
    """An attempt failed in a way that retrying cannot fix."""


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:  # an HTTP date: not worth parsing, use our own backoff
        return None
    return seconds if seconds >= 0 else None


def _read_at_most(response: Any, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` decoded bytes of a streamed body, and whether that was all of it.

    Reading stops at the first chunk that crosses the limit; the connection is then
    closed by the caller's ``with`` block without reading the rest.
    """
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if size + len(chunk) > limit:
            chunks.append(chunk[: limit - size])
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), True


def _excerpt(content: bytes) -> str:
    """The start of a body, as text, for a failure message."""
    return content.decode("utf-8", errors="replace")[:ERROR_BODY_CHARS]


def encode_data_url(image: Image, image_format: str = "png") -> str:
    """The image as a ``data:image/...;base64,`` URL (PNG lossless or JPEG)."""
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
        mime = "image/jpeg"
    else:
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def parse_openai_spec(argument: str) -> tuple[str, str]:
    """``"http://host:8000/v1#model-name"`` -> ``(base_url, model)``.

    Raises:
        ConfigError: no ``#model`` part or no ``http(s)://`` base URL.

    >>> parse_openai_spec("http://localhost:8000/v1/#Qwen/Qwen2.5-VL-7B-Instruct")
    ('http://localhost:8000/v1', 'Qwen/Qwen2.5-VL-7B-Instruct')
    """
    base_url, sep, model = argument.rpartition("#")
    if not sep or not base_url or not model:
        raise ConfigError(
            f"model spec openai:{argument}: expected openai:<base_url>#<model>, e.g. "
            "openai:http://localhost:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct"
        )
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"model spec openai:{argument}: the base URL must start with http:// or https://"
        )
    return base_url.rstrip("/"), model


class OpenAICompatibleBackend:
    """Chat completions over HTTP with concurrency and retries.

    Args:
        base_url: e.g. ``http://localhost:8000/v1`` (``/chat/completions`` is appended).
        model: the served model name.
        api_key: Bearer token; default ``$OPENAI_API_KEY`` when set.
        concurrency: parallel requests.
        request_timeout_s: seconds per attempt.
        max_retries: retries after the first attempt.
        retry_backoff_s: delay before the first retry; doubles each retry.
        image_format: ``png`` or ``jpeg``.
        max_response_bytes: largest response body read (see the module docstring).
        temperature: 0 for greedy decoding.
        seed: the request's ``seed`` field (reproducible sampling where supported).
    """

    name: ClassVar[str] = "openai"
    needs_image: ClassVar[bool] = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        request_timeout_s: float = 300.0,
        max_retries: int = 3,
        retry_backoff_s: float = 1.0,
        image_format: str = "png",
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if max_response_bytes < 1:
            raise ConfigError(f"max_response_bytes must be >= 1, got {max_response_bytes}")
        httpx = require("httpx", extra="openai")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.request_timeout_s = request_timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.image_format = image_format
        self.max_response_bytes = max_response_bytes
        self.temperature = temperature
        self.seed = seed
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._httpx = httpx
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(request_timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="openai")
        self._closed = threading.Event()  # set by close(): stops retry loops at once
        # id(image) -> (weak reference, data URL); PIL images are unhashable.
        self._url_cache: dict[int, tuple[weakref.ref[Any], str]] = {}
        self._cache_lock = threading.Lock()
        self._warned_lost: set[str] = set()  # text_lost causes already logged

    @classmethod
    def from_spec(cls, argument: str, options: BackendOptions) -> OpenAICompatibleBackend:
        """Build from ``<base_url>#<model>`` and the command-line options."""
        base_url, model = parse_openai_spec(argument)
        return cls(
            base_url,
            model,
            concurrency=options.concurrency,
            request_timeout_s=options.request_timeout_s,
            max_retries=options.max_retries,
            retry_backoff_s=options.retry_backoff_s,
            image_format=options.image_format,
            max_response_bytes=options.max_response_bytes,
            temperature=options.temperature,
            seed=None if options.greedy else options.seed,
        )

    @property
    def preferred_batch_size(self) -> int:
        """Requests per engine batch that keep every concurrent slot busy."""
        return self.concurrency

    @property
    def endpoint(self) -> str:
        """The chat completions URL."""
        return f"{self.base_url}/chat/completions"

    def describe(self) -> dict[str, Any]:
        """Settings for ``config.json`` (never the API key)."""
        return {
            "base_url": self.base_url,
            "model": self.model,
            "concurrency": self.concurrency,
            "request_timeout_s": self.request_timeout_s,
            "max_retries": self.max_retries,
            "retry_backoff_s": self.retry_backoff_s,
            "image_format": self.image_format,
            "max_response_bytes": self.max_response_bytes,
            "temperature": self.temperature,
        }

    def close(self) -> None:
        """Stop the worker threads (pending requests are cancelled) and the client."""
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _forget(self, key: int) -> None:
        with self._cache_lock:
            self._url_cache.pop(key, None)

    def _cached_url(self, image: Image) -> str | None:
        with self._cache_lock:
            cached = self._url_cache.get(id(image))
        return cached[1] if cached is not None and cached[0]() is image else None

    def _encode_images(self, requests: Sequence[GenerationRequest]) -> None:
        # Every turn of a dialogue sends the same image object: encode each image once
        # (in parallel), and drop its entry when the engine releases the image.
        todo = {
            id(r.image): r.image
            for r in requests
            if r.image is not None and self._cached_url(r.image) is None
        }
        images = list(todo.values())
        urls = self._pool.map(lambda im: encode_data_url(im, self.image_format), images)
        for image, url in zip(images, urls, strict=True):
            key = id(image)
            ref = weakref.ref(image, lambda _ref, key=key: self._forget(key))
            with self._cache_lock:
                self._url_cache[key] = (ref, url)

    def _data_url(self, image: Image) -> str:
        url = self._cached_url(image)
        return url if url is not None else encode_data_url(image, self.image_format)

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body of one chat completion request."""
        if request.image is None:
            raise ConfigError("the openai backend needs the image of every request")
        messages: list[dict[str, Any]] = []
        if request.system is not None:
            messages.append({"role": "system", "content": request.system})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": self._data_url(request.image)}},
                    {"type": "text", "text": request.user_text},
                ],
            }
        )
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_new_tokens,
            "temperature": self.temperature,
        }
        if self.seed is not None:
            body["seed"] = self.seed
        return body

    def _attempt(self, body: dict[str, Any]) -> RebuiltCompletion:
        httpx = self._httpx
        try:
            with self._client.stream("POST", self.endpoint, json=body) as response:
                status = response.status_code
                if status >= 400:
                    excerpt = _excerpt(_read_at_most(response, ERROR_BODY_READ_BYTES)[0])
                    if status >= RETRY_STATUS_MIN or status == TOO_MANY_REQUESTS:
                        raise _Retryable(
                            f"HTTP {status}: {excerpt}",
                            _retry_after(response.headers.get("retry-after")),
                        )
                    raise _Fatal(f"HTTP {status}: {excerpt}")
                content = self._read_body(response)
        except httpx.TimeoutException as e:
            raise _Retryable(f"timed out after {self.request_timeout_s:g} s ({e!r})") from e
        except httpx.TransportError as e:  # connection refused/reset, DNS, protocol errors
            raise _Retryable(f"connection error: {e!r}") from e
        try:
            choice = json.loads(content)["choices"][0]
            message = choice["message"]
            if not isinstance(message, dict):
                raise TypeError(f"message is a {type(message).__name__}")
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise _Fatal(f"unexpected response body ({e!r}): {_excerpt(content)}") from e
        return rebuild_completion(message, choice.get("finish_reason"))

    def _read_body(self, response: Any) -> bytes:
        """The whole body of a success response, or ``_Fatal`` past the size limit."""
        limit = self.max_response_bytes
        declared = response.headers.get("content-length", "")
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding in IDENTITY_ENCODINGS and declared.isdigit() and int(declared) > limit:
            raise _Fatal(
                f"response body of {int(declared):,} bytes (Content-Length) is over the "
                f"limit of {limit:,} bytes (--max-response-bytes); not read"
            )
        content, complete = _read_at_most(response, limit)
        if not complete:
            raise _Fatal(
                f"response body is over the limit of {limit:,} bytes (--max-response-bytes); "
                f"stopped reading after {len(content):,} bytes"
            )
        return content

    def _warn_lost(self, completion: RebuiltCompletion) -> None:
        cause = completion.text_lost
        if cause is None or cause in self._warned_lost:
            return
        self._warned_lost.add(cause)  # a set add is atomic: at worst two threads warn
        logger.warning(
            "%s: %s; the affected turns are marked text_lost and their format and "
            "citation metrics will be reported as unavailable (null)",
            self.endpoint,
            TEXT_LOST_ADVICE[cause],
        )

    def _one(self, request: GenerationRequest) -> Generation:
        start = time.perf_counter()
        body = self.payload(request)
        attempts = 0
        while True:
            attempts += 1
            try:
                completion = self._attempt(body)
                self._warn_lost(completion)
                return Generation(
                    completion.text,
                    time.perf_counter() - start,
                    attempts=attempts,
                    text_lost=completion.text_lost,
                )
            except _Fatal as e:
                return Generation("", time.perf_counter() - start, str(e), attempts)
            except _Retryable as e:
                if attempts > self.max_retries:
                    message = f"failed after {attempts} attempt(s): {e}"
                    logger.warning("%s: %s", self.endpoint, message)
                    return Generation("", time.perf_counter() - start, message, attempts)
                delay = min(MAX_RETRY_BACKOFF_S, self.retry_backoff_s * 2 ** (attempts - 1))
                if e.retry_after_s is not None:
                    delay = min(MAX_RETRY_BACKOFF_S, max(delay, e.retry_after_s))
                logger.debug("attempt %d failed (%s); retrying in %.2f s", attempts, e, delay)
                if self._closed.wait(delay):  # an interruptible sleep
                    return Generation("", time.perf_counter() - start, "cancelled", attempts)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Send all requests concurrently; results come back in request order."""
        self._encode_images(requests)
        futures = [self._pool.submit(self._one, r) for r in requests]
        try:
            return [f.result() for f in futures]
        except BaseException:  # Ctrl-C: drop the queued requests, keep nothing half-done
            for f in futures:
                f.cancel()
            raise
