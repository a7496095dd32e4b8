"""Exception tree of the library.

Every error the library raises on purpose derives from :class:`RegionReasonerError`, and
also from the matching builtin so existing ``except ValueError`` handlers keep working.
The CLI maps :class:`UserInputError` subclasses to exit code 2.
"""

from __future__ import annotations


class RegionReasonerError(Exception):
    """Root of the library's exceptions."""


class UserInputError(RegionReasonerError):
    """Bad input from the caller (file, flag, config): the CLI exits with code 2."""


class ConfigError(UserInputError, ValueError):
    """An invalid configuration value or file."""


class DataFormatError(UserInputError, ValueError):
    """A data file breaks its format.

    Args:
        message: what is wrong, including what was expected.
        path: the file, when known.
        record: the dialogue id, or ``"line N"`` when the id is unreadable.
        field: the field path inside the record, e.g. ``turns[1].targets[0].bbox``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        record: str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.record = record
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = [part for part in (self.path, self.record, self.field) if part]
        return f"{': '.join(where)}: {self.message}" if where else self.message


class UnknownComponentError(UserInputError, KeyError):
    """A registry lookup for a name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(RegionReasonerError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class BackendError(RegionReasonerError, RuntimeError):
    """A model backend failed (after its retries, for remote backends)."""


class SegmenterError(RegionReasonerError, RuntimeError):
    """A segmenter failed or was misused."""
