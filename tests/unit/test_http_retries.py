"""HTTP retries against a scripted transport: Retry-After is honoured, a body that is not JSON is
retried, and a source that stays broken is a SourceError naming the page (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from mining.sources import HttpSource, SourceError
from mining.sources.config import HttpSourceConfig
from mining.sources.http import get_with_retries, retry_after_seconds

ITEM = {"id": "r1", "body": "late again", "site": "Leeds", "created": "2026-01-01T10:00:00",
        "updated_at": "2026-01-02T00:00:00"}


def scripted(*answers: httpx.Response) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if queue else httpx.Response(200, json={"items": []})

    return httpx.Client(transport=httpx.MockTransport(handle)), seen


def test_500_then_429_with_retry_after_then_invalid_json_then_the_page() -> None:
    client, seen = scripted(
        httpx.Response(500, text="oops"),
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(200, text='{"items": [{"id": "r1", '),  # cut short
        httpx.Response(200, json={"items": [ITEM]}),
    )
    waits: list[float] = []
    response = get_with_retries(client, "http://api/feedback", {}, retries=3,
                                sleep=waits.append, items_field="items")
    assert response.json() == {"items": [ITEM]}
    assert len(seen) == 4
    assert waits == [0.5, 3.0, 2.0]  # backoff, then the server's 3 s, then backoff again


def test_a_retry_after_longer_than_allowed_fails_now() -> None:
    client, seen = scripted(httpx.Response(503, headers={"Retry-After": "7200"}))
    with pytest.raises(SourceError, match="Retry-After 7200 s, more than the 60 s allowed"):
        get_with_retries(client, "http://api/feedback", {}, retries=3, sleep=lambda s: None)
    assert len(seen) == 1


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Tue, 01 Dec 2026 12:00:05 GMT", now) == 5.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None) is None


def test_a_server_that_keeps_answering_garbage_fails_the_source_naming_the_page() -> None:
    client, _ = scripted(*[httpx.Response(200, text="<html>proxy error</html>")] * 3)
    source = HttpSource(HttpSourceConfig(
        name="api", kind="feedback", url="http://api/feedback", retries=2,
        mapping={"text": "body", "created_at": "created", "site": "site"}), client=client)
    with pytest.raises(SourceError, match="page 1: .* not JSON with a list under 'items'"):
        list(source.read({}))
