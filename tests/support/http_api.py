"""A real HTTP server on 127.0.0.1 that serves feedback the way the HTTP source expects.

It implements the source's contract (paged JSON, inclusive `since`) so it behaves like a real
feedback API, and can be told to fail the next N requests to exercise retries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FeedbackApi:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.fail_next = 0
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def page(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(query)
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
            status, body = api.page(query)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

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
