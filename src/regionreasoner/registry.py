"""A small typed name -> component registry with lazy ``"module:attr"`` entries.

Backends, segmenters, reward profiles, prompts, dataset builders and CLI commands are
looked up by name here instead of through ``if``/``elif`` chains. Lazy entries keep
``import regionreasoner`` free of heavy dependencies::

    BACKENDS: Registry[type] = Registry("backend")
    BACKENDS.register_lazy("hf", "regionreasoner.backends.hf:TransformersBackend")
    cls = BACKENDS.get("hf")  # imports the module on first use
"""

from __future__ import annotations

import difflib
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from regionreasoner.errors import UnknownComponentError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to components, resolving ``"module:attr"`` strings on first use.

    Args:
        kind: what the registry holds, used in error messages (e.g. ``"backend"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._lock = threading.Lock()

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def _add(value: T) -> T:
            with self._lock:
                if name in self._entries and self._entries[name] is not value:
                    raise ValueError(f"{self.kind} {name!r} is already registered")
                self._entries[name] = value
            return value

        return _add if obj is None else _add(obj)

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"package.module:attr"`` under ``name``, imported on first ``get``."""
        if ":" not in target:
            raise ValueError(f"lazy target must look like 'module:attr', got {target!r}")
        with self._lock:
            self._entries[name] = target

    def get(self, name: str) -> T:
        """Return the component registered as ``name``.

        Raises:
            UnknownComponentError: ``name`` is not registered; the message lists the
                registered names and the closest matches.
        """
        try:
            entry = self._entries[name]
        except KeyError:
            raise UnknownComponentError(self._unknown_message(name)) from None
        if isinstance(entry, str):
            module_name, attr = entry.split(":", 1)
            value = getattr(importlib.import_module(module_name), attr)
            with self._lock:
                self._entries[name] = value
            return value
        return entry

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._entries), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(self.names())}"

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
