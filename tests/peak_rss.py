"""Peak resident memory of one ``regionreasoner`` command, measured inside its own process.

The command runs in a fresh interpreter that reads its own ``VmHWM`` (the high-water mark
of its resident set, ``/proc/self/status``) when the command returns. ``getrusage`` would
not do: on Linux the ``ru_maxrss`` of a child survives ``exec``, so a child started from
a large parent reports at least the parent's size (``docs/benchmarks.md``, section
``images``). Linux only. Used by the tests and by ``benchmarks/``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC_STATUS = Path("/proc/self/status")

CHILD = """
import re, sys, traceback
from regionreasoner.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:  # argparse
    code = e.code if isinstance(e.code, int) else 1
except Exception:  # a crash (exit code 1, as the console script): still report the peak
    traceback.print_exc()
    code = 1
with open("/proc/self/status") as status:
    kib = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
print(f"PEAK_RSS_KIB {kib} EXIT {code}")
"""

_RESULT = re.compile(r"PEAK_RSS_KIB (\d+) EXIT (\d+)")


@dataclass(frozen=True)
class CommandPeak:
    """What one command did: its exit code, its peak RSS and its output."""

    exit_code: int
    peak_kib: int
    stdout: str
    stderr: str

    @property
    def peak_mb(self) -> float:
        """Peak RSS in MB (10^6 bytes)."""
        return self.peak_kib * 1024 / 1e6


def available() -> bool:
    """Whether ``VmHWM`` can be read here."""
    return PROC_STATUS.is_file()


def command_peak_rss(
    args: Sequence[str], *, timeout_s: float = 600, env: Mapping[str, str] | None = None
) -> CommandPeak:
    """Run ``regionreasoner ARGS`` in a fresh interpreter; its exit code and peak RSS.

    Raises:
        AssertionError: the child died before reporting (a crash, not an exit code).
    """
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", CHILD, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env=None if env is None else dict(env),
    )
    match = _RESULT.search(done.stdout)
    assert match, f"no peak reported (exit {done.returncode}): {done.stderr[-2000:]}"
    return CommandPeak(int(match.group(2)), int(match.group(1)), done.stdout, done.stderr)
