"""Optional-dependency helpers: availability checks and imports that name the extra."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from regionreasoner.errors import MissingDependencyError


def is_available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, *, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise an error that names the ``pip install`` to run.

    Args:
        module: importable module name, e.g. ``"transformers"``.
        extra: the ``regionreasoner`` extra that installs it, e.g. ``"hf"``.
        package: the distribution name when it differs from the module name.

    Raises:
        MissingDependencyError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"{package or module!r} is required for this feature but is not installed. "
            f"Install it with: pip install 'regionreasoner[{extra}]'"
        ) from e
