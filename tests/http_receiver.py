"""A real HTTP server on 127.0.0.1 that records what alert channels send it (webhook, ntfy).

It answers 200 by default; ``fail(500)`` makes it answer with an error and ``hang()`` makes it
hold every request without an answer (until ``answer()`` or ``stop()``), like a dead endpoint.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.services import free_port


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        receiver = self.server.receiver
        request = ReceivedRequest(self.command, self.path, dict(self.headers.items()), body)
        with receiver.lock:
            receiver.requests.append(request)
            status = receiver.status
        if receiver.hanging.is_set():
            receiver.released.wait(receiver.hang_for)
        payload = b'{"id": "1", "event": "message"}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up waiting (a hanging endpoint): nothing to answer

    do_POST = do_PUT = do_GET = _handle

    def log_message(self, format: str, *args) -> None:
        pass  # quiet: the tests read self.server.receiver.requests


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: HTTPReceiver


class HTTPReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[ReceivedRequest] = []
        self.status = 200
        self.lock = threading.Lock()
        self.hanging = threading.Event()
        self.released = threading.Event()
        self.hang_for = 60.0
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> HTTPReceiver:
        self.server = _Server(("127.0.0.1", self.port), _Handler)
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def received(self, path_prefix: str = "") -> list[ReceivedRequest]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def fail(self, status: int = 500) -> None:
        with self.lock:
            self.status = status

    def hang(self, seconds: float = 60.0) -> None:
        """Hold every request (no answer) for ``seconds`` or until ``answer()``."""
        self.hang_for = seconds
        self.released.clear()
        self.hanging.set()

    def answer(self) -> None:
        """Back to answering at once with 200."""
        self.hanging.clear()
        self.released.set()
        with self.lock:
            self.status = 200
