"""Ctrl-C and SIGTERM as one interruption, whatever disposition the process inherited.

A process started as a background job of a non-interactive shell inherits SIGINT
ignored, and Python then leaves it ignored: such a run would not stop on Ctrl-C (or on
``kill -INT``). A batch scheduler stops jobs with SIGTERM, whose default kills the
process on the spot. :func:`interrupt_on_signals` installs one handler for both, so a
long command stops the same way on either: by raising :class:`Interrupted` (a
``KeyboardInterrupt``) in the main thread, where the command's cleanup runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that interrupt a long command."""

_PYTHON_DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


class Interrupted(KeyboardInterrupt):
    """A command was interrupted by ``signum``.

    Attributes:
        signum: the signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell convention ``128 + signum``: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum

    @property
    def name(self) -> str:
        """``SIGINT`` or ``SIGTERM``."""
        return signal.Signals(self.signum).name


def exit_code_of(interrupt: KeyboardInterrupt) -> int:
    """130 for a plain ``KeyboardInterrupt``, ``128 + signum`` for :class:`Interrupted`."""
    return interrupt.exit_code if isinstance(interrupt, Interrupted) else 128 + signal.SIGINT


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread.

    The first signal restores Python's defaults, so a second one during the cleanup
    stops the process as usual; the dispositions found on entry (possibly "ignored")
    come back on exit. Outside the main thread (where handlers cannot be installed) the
    block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        for number, handler in _PYTHON_DEFAULTS.items():
            signal.signal(number, handler)
        raise Interrupted(signum)

    previous = {number: signal.getsignal(number) for number in INTERRUPT_SIGNALS}
    for number in INTERRUPT_SIGNALS:
        signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
