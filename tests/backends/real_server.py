"""A real ``transformers serve`` process on 127.0.0.1, for protocol tests.

``transformers serve --host 127.0.0.1 --port P MODEL_DIR`` runs in its own process group
(so its workers go with it); :func:`served_model` waits for ``GET /v1/models`` and, on
exit, sends SIGTERM to the whole group, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 180.0
"""Seconds the server may take to answer ``GET /v1/models`` (about 10 s on 2 cores)."""

STOP_TIMEOUT_S = 15.0
"""Seconds between SIGTERM and SIGKILL of the server's process group."""

LOG_TAIL_CHARS = 3000

PASS_THROUGH_RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "content": {"close_pattern": r"\s*(?:<\|im_end\|>|<\|endoftext\|>)", "content": "text"}
    },
}
"""The response template of docs/evaluation.md that keeps Qwen completions whole."""


@dataclass(frozen=True)
class ServedModel:
    """A running server: its ``/v1`` URL, the served model name and its log file."""

    base_url: str
    model: str
    log: Path

    @property
    def spec(self) -> str:
        """The ``--model`` spec of ``regionreasoner eval``."""
        return f"openai:{self.base_url}#{self.model}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-LOG_TAIL_CHARS:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def served_model(model_dir: Path, log: Path) -> Iterator[ServedModel]:
    """Run ``transformers serve`` on ``model_dir`` until the block ends."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1"}
    command = [
        sys.executable,
        "-c",
        "from transformers.cli.transformers import main; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        str(model_dir),
    ]
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    served = ServedModel(f"http://127.0.0.1:{port}/v1", str(model_dir), log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"transformers serve exited:\n{served.log_tail()}")
            try:
                with urllib.request.urlopen(f"{served.base_url}/models", timeout=5) as reply:
                    listed = [m["id"] for m in json.load(reply)["data"]]
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"transformers serve not ready after {READY_TIMEOUT_S:g} s:\n"
                        f"{served.log_tail()}"
                    ) from None
                time.sleep(0.5)
        assert listed == [served.model], listed
        yield served
    finally:
        _stop(process)
