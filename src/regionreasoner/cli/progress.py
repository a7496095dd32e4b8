"""The progress bar of the commands: a ``progress(iterable, total)`` callable on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
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
