"""The progress bars of the commands, on stderr: a ``progress(iterable, total)`` wrapper,
the turns of a long library call (:func:`regionreasoner.evaluate`) and the bytes of a file."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def tqdm_progress(desc: str, unit: str) -> Callable[[Iterable[Any], int], Iterable[Any]]:
    """A ``progress(iterable, total)`` wrapper drawing a tqdm bar on stderr (hidden when
    stderr is not a terminal; removed when done)."""
    from tqdm import tqdm

    def progress(iterable: Iterable[Any], total: int) -> Iterable[Any]:
        return tqdm(
            iterable,
            total=total,
            desc=desc,
            unit=unit,
            file=sys.stderr,
            disable=None,
            leave=False,
        )

    return progress


class TurnProgressBar:
    """A ``tqdm`` bar over the turns of an evaluation (an ``EvalProgress``), on stderr.

    Args:
        desc: the bar's label (the command's name).
    """

    def __init__(self, desc: str = "eval") -> None:
        self.desc = desc
        self._bar: Any = None

    def start(self, *, todo: int, done: int, predictions: Path) -> None:
        """Say what a resumed run found, then open the bar (nothing to draw for 0 turns)."""
        from tqdm import tqdm

        if done:
            print(
                f"resuming: {done} turns already in {predictions}, {todo} to go",
                file=sys.stderr,
            )
        self._bar = tqdm(
            total=todo,
            unit="turn",
            desc=self.desc,
            file=sys.stderr,
            dynamic_ncols=True,
            disable=todo == 0,
        )

    def update(self, turns: int) -> None:
        """Advance by ``turns``."""
        if self._bar is not None:
            self._bar.update(turns)

    def close(self) -> None:
        """Close the bar (idempotent)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class FileProgressBar:
    """A ``tqdm`` bar over the bytes of a file being read, on stderr, with the problems
    found printed above it (``convert`` and ``validate``). Use as a context manager.

    Args:
        desc: the bar's label (the command's name).
        total: the file's size in bytes (``None``: unknown).
        severity: the label of a problem that has no ``severity`` of its own.
    """

    def __init__(self, desc: str, total: int | None, *, severity: str) -> None:
        self.desc = desc
        self.total = total
        self.severity = severity
        self._bar: Any = None

    def __enter__(self) -> FileProgressBar:
        from tqdm import tqdm

        self._bar = tqdm(
            total=self.total,
            unit="B",
            unit_scale=True,
            desc=self.desc,
            file=sys.stderr,
            disable=None,
            leave=False,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def show(self, problem: object) -> None:
        """Print ``severity: problem`` above the bar."""
        line = f"{getattr(problem, 'severity', self.severity)}: {problem}"
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def update(self, done: int) -> None:
        """``done`` bytes of the file have been read."""
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
