"""The progress bar the CLI draws for a long library call (:func:`regionreasoner.evaluate`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


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
