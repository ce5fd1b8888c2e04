"""A real local HTTP receiver for notification tests: records every request, and can be
told to fail (status code) or to answer slowly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    fail_with: int | None = None  # answer this status instead of `status`
    status: int = 200
    delay: float = 0.0

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.requests]


@contextmanager
def receiver(status: int = 200) -> Iterator[Receiver]:
    state = Receiver(url="", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if state.delay:
                time.sleep(state.delay)
            code = state.fail_with or state.status
            if not state.fail_with:
                headers = {k.lower(): v for k, v in self.headers.items()}
                state.requests.append(Received(self.path, headers, body))
            try:
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "success"}')
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender was killed mid-request: what the crash tests do

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
