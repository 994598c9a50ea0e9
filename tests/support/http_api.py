"""A real HTTP server on 127.0.0.1 that serves feedback the way the HTTP source expects.

It implements the source's contract (paged JSON, inclusive `since`) so it behaves like a real
feedback API, and can be told to fail the next N requests to exercise retries, or to answer
with a script of raw responses first (a 500, a 429 with Retry-After, a body that is not JSON).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True)
class Reply:
    """A raw response the server gives instead of a page."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class FeedbackApi:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.fail_next = 0
        self.script: list[Reply] = []
        self.requests: list[dict[str, str]] = []
        self.times: list[float] = []  # time.monotonic() of each request
        self._lock = threading.Lock()

    def answer(self, query: dict[str, str]) -> Reply:
        with self._lock:
            if self.script:
                self.requests.append(query)
                self.times.append(time.monotonic())
                return self.script.pop(0)
        status, body = self.page(query)
        return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def page(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(query)
            self.times.append(time.monotonic())
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"error": "temporarily unavailable"}
        since = query.get("since")
        page = int(query.get("page", "1"))
        size = int(query.get("page_size", "100"))
        matching = sorted((i for i in self.items if since is None or i["updated_at"] >= since),
                          key=lambda i: (i["updated_at"], i["id"]))
        return 200, {"items": matching[(page - 1) * size: page * size]}


@contextmanager
def serve(api: FeedbackApi) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parsed = urlparse(self.path)
            if parsed.path != "/feedback":
                self.send_error(404)
                return
            query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
            reply = api.answer(query)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feedback"
    finally:
        server.shutdown()
        server.server_close()
