"""Test doubles shared by the ``serve`` tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from regionreasoner.backends.base import Generation, GenerationRequest


class ScriptedBackend:
    """A model-like backend (``needs_image``) answering with ``reply(request)``."""

    name: ClassVar[str] = "scripted"
    needs_image: ClassVar[bool] = True

    def __init__(self, reply: Callable[[GenerationRequest], Generation]) -> None:
        self.reply = reply
        self.requests: list[GenerationRequest] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.requests.extend(requests)
        return [self.reply(r) for r in requests]

    def describe(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass
