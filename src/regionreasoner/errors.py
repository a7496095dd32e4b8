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


class ImageError(DataFormatError):
    """An image that cannot be used: missing, not an image, damaged, over the pixel
    limit, or in a pixel mode that cannot be turned into RGB.

    The message always names the image file; ``path``/``record``/``field`` locate the
    record that refers to it (the data file, ``"dialogue ID"``, ``"image"``) when known.

    Args:
        message: what is wrong, naming the image file (and the limit, when over it).
        image_path: the image file.
        problem: one of :data:`IMAGE_PROBLEMS`.
        max_pixels: the pixel limit in force, when the problem is ``too_large``.
        path, record, field: as for :class:`DataFormatError`.
    """

    def __init__(
        self,
        message: str,
        *,
        image_path: str,
        problem: str,
        max_pixels: int | None = None,
        path: str | None = None,
        record: str | None = None,
        field: str | None = None,
    ) -> None:
        if problem not in IMAGE_PROBLEMS:
            raise ValueError(f"unknown image problem {problem!r}; expected one of {IMAGE_PROBLEMS}")
        self.image_path = image_path
        self.problem = problem
        self.max_pixels = max_pixels
        super().__init__(message, path=path, record=record, field=field)


IMAGE_PROBLEMS = ("missing", "not_an_image", "undecodable", "too_large", "unsupported_mode")
"""What :class:`ImageError` reports: no file; a file no decoder recognises; a recognised
but damaged (e.g. truncated) file; more pixels than the limit; a pixel mode with no RGB
conversion."""


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
