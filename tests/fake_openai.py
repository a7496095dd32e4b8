"""A scripted OpenAI-compatible chat server on 127.0.0.1 (stdlib ``http.server``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FILLER_CHUNK = 64 * 1024


@dataclass
class Reply:
    """What the server answers: a status, a JSON body (or raw text), headers, a delay.

    ``message`` replaces the whole assistant message (e.g. with ``reasoning_content``);
    otherwise the message holds ``content`` only.
    """

    status: int = 200
    content: str | None = "ok"
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    message: dict[str, Any] | None = None
    finish_reason: str = "stop"
    filler_bytes: int = 0
    """Bytes of spaces appended to the JSON body (valid JSON whitespace), written in
    chunks: an oversized answer."""
    declare_length: bool = True
    """Send ``Content-Length`` (False: the body ends when the connection closes)."""


def chat_body(content: Any, message: dict[str, Any] | None = None, finish: str = "stop") -> dict:
    message = message if message is not None else {"role": "assistant", "content": content}
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


class FakeOpenAIServer:
    """Answers ``POST /v1/chat/completions`` through ``script(n, body) -> Reply``."""

    def __init__(self, script: Callable[[int, dict[str, Any]], Reply]) -> None:
        self.script = script
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.live = 0
        self.max_live = 0
        self.bytes_written = 0  # body bytes the handlers managed to write
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _write(self, data: bytes) -> int:
                self.wfile.write(data)
                self.wfile.flush()
                with server._lock:
                    server.bytes_written += len(data)
                return len(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    n = len(server.bodies)
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    server.live += 1
                    server.max_live = max(server.max_live, server.live)
                try:
                    reply = server.script(n, body)
                    if self.path != "/v1/chat/completions":
                        reply = Reply(404, raw="not found")
                    time.sleep(reply.delay_s)
                    payload = (
                        reply.raw
                        if reply.raw is not None
                        else json.dumps(
                            chat_body(reply.content, reply.message, reply.finish_reason)
                        )
                    ).encode()
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    if reply.declare_length:
                        length = len(payload) + reply.filler_bytes
                        self.send_header("Content-Length", str(length))
                    else:
                        self.close_connection = True
                    self.end_headers()
                    self._write(payload)
                    left = reply.filler_bytes
                    while left > 0:
                        left -= self._write(b" " * min(FILLER_CHUNK, left))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout, or a body over its limit)
                finally:
                    with server._lock:
                        server.live -= 1

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
