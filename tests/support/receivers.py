"""Local receivers that behave like the real ones: an HTTP webhook endpoint and an SMTP server.

The HTTP receiver keeps the Idempotency-Key of every post, as a well-behaved webhook consumer
does, and can be switched down (503) to test retries.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Post:
    path: str
    key: str | None
    body: dict[str, Any]


@dataclass
class WebhookReceiver:
    posts: list[Post] = field(default_factory=list)
    down: bool = False

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.posts.append(Post(self.path, self.headers.get("Idempotency-Key"), body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def on(self, path: str) -> list[Post]:
        return [p for p in self.posts if p.path == path]

    def unique_deliveries(self, path: str) -> Counter[str | None]:
        """What a consumer that drops repeated keys would act on."""
        return Counter({p.key: 1 for p in self.on(path)})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class SmtpReceiver:
    def __init__(self) -> None:
        self.inbox = _Inbox()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    def close(self) -> None:
        self.controller.stop()
